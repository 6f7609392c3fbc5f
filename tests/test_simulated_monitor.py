"""The simulated monitor's firmware logic, driven by device time (no ports, no sleeps)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vigil.firmware_bridge.codec import Decoder, Encoder
from vigil.firmware_bridge.messages import (
    Ack,
    AlarmMsg,
    AudioPause,
    Heartbeat,
    Hello,
    NumericsMsg,
    RequestHello,
    Status,
    Waveform,
)
from vigil.firmware_bridge.protocol import AlarmPriority, AlarmState
from vigil.firmware_bridge.simulator.channels import default_rates
from vigil.firmware_bridge.simulator.host_watchdog import WatchdogState
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.sources import SyntheticSource


@pytest.fixture
def monitor():
    return SimulatedMonitor(SyntheticSource("normal", 1, default_rates()), seed=1)


def _decode(wire: bytes):
    return Decoder().feed(wire)


def test_first_second_starts_with_hello_and_carries_every_channel_at_40_ms(monitor):
    msgs = _decode(monitor.frames_until(Fraction(1)))
    assert isinstance(msgs[0], Hello)
    waves = [m for m in msgs if isinstance(m, Waveform)]
    per_channel = {ch.id: [w for w in waves if w.channel == ch.id] for ch in msgs[0].channels}
    assert all(len(frames) == 25 for frames in per_channel.values())  # one per 40 ms slot
    resp = per_channel[4]
    assert sorted({len(w.samples) for w in resp}) == [2, 3]  # 62.5 Hz: 2 or 3 per slot
    assert sum(len(w.samples) for w in resp) == 63  # indices 0..62 fall before t = 1 s
    assert sum(isinstance(m, NumericsMsg) for m in msgs) == 1
    assert sum(isinstance(m, Status) for m in msgs) == 1
    assert sum(isinstance(m, Heartbeat) for m in msgs) == 1


def test_request_hello_is_answered_at_most_once_a_second(monitor):
    monitor.frames_until(Fraction(1))
    host = Encoder()
    monitor.receive(host.encode(RequestHello(0)), Fraction(1))
    after = _decode(monitor.frames_until(Fraction(3)))
    assert sum(isinstance(m, Hello) for m in after) == 1
    assert after[0].boot_id == monitor.boot_id


def test_alarm_messages_drive_the_device_and_end_clears_them(monitor):
    host = Encoder()
    alarm = AlarmMsg(0, 42, AlarmPriority.HIGH, AlarmState.ACTIVE, False, "VTach")
    monitor.receive(host.encode(alarm), Fraction(1))
    assert monitor.alarms[42].priority is AlarmPriority.HIGH
    ended = AlarmMsg(0, 42, AlarmPriority.HIGH, AlarmState.ENDED, False, "VTach")
    monitor.receive(host.encode(ended), Fraction(2))
    assert 42 not in monitor.alarms


def test_operator_keys_reach_the_host(monitor):
    monitor.press_ack(42)
    monitor.press_audio_pause(120)
    msgs = _decode(monitor.frames_until(Fraction(1, 25)))
    assert any(isinstance(m, Ack) and m.alarm_id == 42 for m in msgs)
    assert any(isinstance(m, AudioPause) and m.seconds == 120 for m in msgs)


def test_host_silence_sounds_the_alarm_system_failure_and_a_host_frame_clears_it(monitor):
    assert monitor.poll_watchdog(Fraction(4)) is WatchdogState.CONNECTED
    assert monitor.poll_watchdog(Fraction(5)) is WatchdogState.HOST_LOST  # 5 s default
    monitor.receive(Encoder().encode(Heartbeat(0, 0, from_host=True)), Fraction(6))
    assert monitor.poll_watchdog(Fraction(6)) is WatchdogState.CONNECTED


def test_the_same_seed_gives_the_same_bytes_whatever_the_pacing():
    a = SimulatedMonitor(SyntheticSource("pvc_rich", 9, default_rates()), seed=9)
    b = SimulatedMonitor(SyntheticSource("pvc_rich", 9, default_rates()), seed=9)
    whole = a.frames_until(Fraction(3))
    steps = b"".join(b.frames_until(Fraction(k, 7)) for k in range(1, 22))
    assert whole == steps


def test_host_silence_timeout_is_real_time_even_in_a_sped_up_replay():
    fast = SimulatedMonitor(
        SyntheticSource("normal", 1, default_rates()), seed=1, time_scale=Fraction(4)
    )
    assert fast.poll_watchdog(Fraction(16)) is WatchdogState.CONNECTED  # 4 s of real time
    assert fast.poll_watchdog(Fraction(20)) is WatchdogState.HOST_LOST  # 5 s of real time


def test_numerics_reach_the_wire_in_their_own_fields():
    import math

    from vigil.firmware_bridge.protocol import NUMERIC_FIELDS
    from vigil.models.synthetic import PatientSimulator

    monitor = SimulatedMonitor(SyntheticSource("normal", 4, default_rates()), seed=4)
    sent = [m for m in _decode(monitor.frames_until(Fraction(12))) if isinstance(m, NumericsMsg)]
    truth = PatientSimulator("normal", seed=4).render(Fraction(0), Fraction(12)).numerics
    assert len(sent) == len(truth) == 12
    for msg, sample in zip(sent, truth, strict=True):
        expected = {**sample.values(), "temp": sample.temp_c}
        for name, value in zip(NUMERIC_FIELDS, msg.values, strict=True):
            want = expected[name]
            assert (math.isnan(value) and math.isnan(want)) or value == np.float32(want), name
