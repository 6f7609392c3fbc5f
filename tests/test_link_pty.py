"""The serial link over a real pseudo-terminal: decode, cable pull, silence.

The test plays the device with the real encoder on a real pty, so it knows exactly which
samples were sent, which were lost while the "cable" was out, and what must be reported.
"""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest

from vigil.firmware_bridge.codec import Decoder, Encoder
from vigil.firmware_bridge.link import LinkState, SerialLink
from vigil.firmware_bridge.messages import ChannelInfo, Hello, RequestHello, Waveform
from vigil.firmware_bridge.protocol import ChannelKind
from vigil.firmware_bridge.simulator.transports import PtyTransport
from vigil.records import LinkEvent, WaveformChunk

pytestmark = pytest.mark.slow

ECG = ChannelInfo(1, ChannelKind.ECG_II, Fraction(500), 0.005, 0.0, "mV", "ECG II")


def _hello(t_us: int = 0) -> Hello:
    return Hello(t_us, 0xC0FFEE, "BED-7", "fw", (ECG,), heartbeat_ms=200)


def _wait(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


class Device:
    """The device side: real encoder and decoder on the pty master."""

    def __init__(self, transport: PtyTransport) -> None:
        self.transport = transport
        self.encoder = Encoder()
        self.decoder = Decoder(from_device=False)
        self.host_messages: list = []
        self.next_index = 0

    def poll(self) -> None:
        self.host_messages += self.decoder.feed(self.transport.read())

    def send(self, msg) -> None:
        self.transport.write(self.encoder.encode(msg))

    def samples(self, n_frames: int) -> None:
        for _ in range(n_frames):
            raw = (np.arange(self.next_index, self.next_index + 20) % 2000).astype("<i2")
            t_us = (self.next_index + 20) * 2000
            self.send(Waveform(t_us, ECG.id, self.next_index, raw))
            self.next_index += 20


@pytest.fixture
def rig(tmp_path):
    transport = PtyTransport(tmp_path / "ttyBED7")
    records: list = []
    link = SerialLink(str(tmp_path / "ttyBED7"), records.append, backoff_s=(0.05, 0.2)).start()
    device = Device(transport)
    yield device, link, records
    link.stop()
    transport.close()


def _events(records, kind):
    return [r for r in records if isinstance(r, LinkEvent) and r.kind == kind]


def _chunks(records):
    return [r for r in records if isinstance(r, WaveformChunk)]


def _answer_hello(device: Device) -> None:
    _wait(
        lambda: (device.poll(), any(isinstance(m, RequestHello) for m in device.host_messages))[1]
    )
    device.host_messages.clear()
    device.send(_hello())


def test_link_asks_for_hello_and_delivers_physical_samples(rig):
    device, link, records = rig
    assert link.wait_connected(5)
    _answer_hello(device)
    device.samples(10)
    _wait(lambda: sum(len(c.samples) for c in _chunks(records)) == 200)
    samples = np.concatenate([c.samples for c in _chunks(records)])
    np.testing.assert_array_equal(
        samples, (np.arange(200) % 2000).astype(np.float32) * np.float32(0.005)
    )
    stats = link.stats()
    assert stats.device_id == "BED-7"
    assert stats.state is LinkState.CONNECTED
    assert (stats.crc_errors, stats.seq_gaps, stats.samples_missing) == (0, 0, 0)


def test_cable_pull_reports_loss_and_gap_then_resumes_without_invented_samples(rig):
    device, link, records = rig
    assert link.wait_connected(5)
    _answer_hello(device)
    device.samples(5)
    _wait(lambda: len(_chunks(records)) == 5)

    device.transport.unplug()
    _wait(lambda: _events(records, "disconnected"))
    device.samples(7)  # the MCU keeps sampling; nobody receives these 140 samples
    device.transport.replug()
    _wait(lambda: link.stats().connects == 2)
    _answer_hello(device)  # same boot: the MCU did not reset
    device.samples(5)
    _wait(lambda: len(_chunks(records)) == 10)

    (gap,) = _events(records, "sample_gap")
    assert gap.count == 140
    indices = np.concatenate([np.arange(c.first_index, c.end_index) for c in _chunks(records)])
    expected = np.concatenate([np.arange(0, 100), np.arange(240, 340)])
    np.testing.assert_array_equal(indices, expected)  # nothing invented, nothing twice
    stats = link.stats()
    assert stats.disconnects == 1
    assert stats.samples_missing == 140
    assert stats.frames_lost >= 7  # the 7 lost waveform frames (+ the first HELLO request's)


def test_silence_is_reported_after_three_heartbeat_periods_and_resumption_too(rig):
    device, link, records = rig
    assert link.wait_connected(5)
    _answer_hello(device)
    device.samples(1)
    _wait(lambda: _events(records, "silent"), timeout_s=3)  # 3 x 200 ms
    assert link.stats().state is LinkState.SILENT
    device.samples(1)
    _wait(lambda: _events(records, "resumed"))
    assert link.stats().state is LinkState.CONNECTED


def test_host_heartbeats_reach_the_device(rig):
    device, link, _ = rig
    assert link.wait_connected(5)
    _wait(lambda: (device.poll(), link.stats().frames_sent >= 2)[1])
    device.poll()
    assert any(type(m).__name__ == "Heartbeat" and m.from_host for m in device.host_messages)


def test_a_port_that_does_not_exist_yet_is_retried_until_it_appears(tmp_path):
    records: list = []
    link = SerialLink(str(tmp_path / "later"), records.append, backoff_s=(0.05, 0.1)).start()
    try:
        time.sleep(0.3)
        assert link.stats().state is LinkState.CONNECTING
        transport = PtyTransport(tmp_path / "later")
        assert link.wait_connected(5)
        transport.close()
    finally:
        link.stop()
