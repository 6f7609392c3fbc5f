"""Simulator -> pty -> link end to end: the samples Vigil decodes are the ones generated.

The simulated monitor is deterministic by seed, so the test regenerates the same signals
from the shared synthesizer, quantises them with the channel table, and demands equality.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from fractions import Fraction

import numpy as np
import pytest

from vigil.firmware_bridge.link import SerialLink
from vigil.firmware_bridge.simulator.channels import DEFAULT_CHANNELS, default_rates
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.serve import serve
from vigil.firmware_bridge.simulator.sources import SyntheticSource
from vigil.firmware_bridge.simulator.transports import PtyTransport
from vigil.records import Numerics, WaveformChunk

pytestmark = pytest.mark.slow

SPEED = Fraction(4)
SECONDS = 8  # device time


class Rig:
    def __init__(self, tmp_path, scenario: str = "normal", seed: int = 5) -> None:
        self.source = SyntheticSource(scenario, seed, default_rates())
        self.monitor = SimulatedMonitor(self.source, seed=seed, time_scale=SPEED)
        self.transport = PtyTransport(tmp_path / "ttySIM")
        self.records: list = []
        self.link = SerialLink(str(tmp_path / "ttySIM"), self.records.append, backoff_s=(0.05, 0.2))
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=serve,
            args=(self.monitor, self.transport),
            kwargs={"stop": self.stop, "seconds": SECONDS, "speed": SPEED},
            daemon=True,
        )

    def run(self) -> None:
        self.link.start()
        assert self.link.wait_connected(5)
        self.thread.start()
        self.thread.join(SECONDS / float(SPEED) + 10)
        deadline = time.monotonic() + 5
        expected = sum(_expected_count(ch.rate, SECONDS) for ch in DEFAULT_CHANNELS.values())
        while self.link.stats().samples < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        self.link.stop()
        self.transport.close()


def _expected_count(rate: Fraction, seconds: int) -> int:
    return -(-seconds * rate // 1)  # indices i with i / rate < seconds


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = Rig(tmp_path_factory.mktemp("e2e"))
    rig.run()
    return rig


def test_decoded_samples_equal_the_seeded_synthesizer_sample_for_sample(rig):
    by_label = defaultdict(list)
    for r in rig.records:
        if isinstance(r, WaveformChunk):
            by_label[r.label].append(r)
    truth = SyntheticSource("normal", 5, default_rates()).render(Fraction(0), Fraction(SECONDS))
    for name, info in DEFAULT_CHANNELS.items():
        chunks = by_label[info.label]
        indices = np.concatenate([np.arange(c.first_index, c.end_index) for c in chunks])
        np.testing.assert_array_equal(indices, np.arange(_expected_count(info.rate, SECONDS)))
        got = np.concatenate([c.samples for c in chunks])
        first, physical = truth.waveforms[name]
        assert first == 0
        raw, _ = info.to_raw(physical)
        np.testing.assert_array_equal(got, info.to_physical(raw), err_msg=name)


def test_a_clean_run_reports_no_loss_and_counts_match_the_declared_rates(rig):
    stats = rig.link.stats()
    assert (stats.crc_errors, stats.corrupt_frames, stats.seq_gaps, stats.samples_missing) == (
        0,
        0,
        0,
        0,
    )
    assert stats.samples == sum(
        _expected_count(ch.rate, SECONDS) for ch in DEFAULT_CHANNELS.values()
    )
    numerics = [r for r in rig.records if isinstance(r, Numerics)]
    assert len(numerics) == SECONDS  # one per second of device time


def test_host_time_of_samples_tracks_arrival_within_a_loaded_machine_tolerance(rig):
    chunks = [r for r in rig.records if isinstance(r, WaveformChunk) and r.host_time_ns]
    lag_ms = np.array([(c.arrival_ns - c.host_time_ns) / 1e6 for c in chunks[len(chunks) // 2 :]])
    # A chunk's first sample precedes its arrival by its own span (<= 40 ms of device time,
    # 10 ms at 4x) plus transport delay; never by seconds, never negative beyond jitter.
    assert np.median(lag_ms) < 100
    assert lag_ms.min() > -20
    assert abs(rig.link.stats().clock_drift_ppm) < 2000  # a pty has no crystal: near zero


def test_pulling_the_simulators_cable_mid_stream_reports_the_exact_gap_and_invents_nothing(
    tmp_path,
):
    rig = Rig(tmp_path, scenario="pvc_rich", seed=11)
    rig.link.start()
    assert rig.link.wait_connected(5)
    rig.thread.start()
    ecg = DEFAULT_CHANNELS["ecg_ii"]

    def ecg_chunks():
        return [r for r in rig.records if isinstance(r, WaveformChunk) and r.label == ecg.label]

    deadline = time.monotonic() + 10
    while sum(len(c.samples) for c in ecg_chunks()) < 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    rig.transport.unplug()  # mid-stream: the simulator keeps sampling
    time.sleep(0.4)
    rig.transport.replug()
    rig.thread.join(SECONDS / float(SPEED) + 10)
    deadline = time.monotonic() + 5
    while (
        ecg_chunks()[-1].end_index < _expected_count(ecg.rate, SECONDS)
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    rig.link.stop()
    rig.transport.close()

    stats = rig.link.stats()
    assert stats.disconnects == 1
    assert stats.connects == 2
    chunks = ecg_chunks()
    indices = np.concatenate([np.arange(c.first_index, c.end_index) for c in chunks])
    assert np.all(np.diff(indices) > 0), "no sample delivered twice or out of order"
    missing = _expected_count(ecg.rate, SECONDS) - len(indices)
    assert missing > 0
    gaps = [
        r for r in rig.records if getattr(r, "kind", "") == "sample_gap" and r.channel == ecg.id
    ]
    assert sum(g.count for g in gaps) == missing  # every lost sample reported, exactly
    truth = SyntheticSource("pvc_rich", 11, default_rates()).render(Fraction(0), Fraction(SECONDS))
    raw, _ = ecg.to_raw(truth.waveforms["ecg_ii"][1])
    got = np.concatenate([c.samples for c in chunks])
    np.testing.assert_array_equal(got, ecg.to_physical(raw)[indices])  # nothing invented
