"""A device session turns messages into physical records and reports every loss."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vigil.firmware_bridge.messages import ChannelInfo, Hello, Status, Waveform
from vigil.firmware_bridge.protocol import ChannelKind, StatusFlag
from vigil.firmware_bridge.session import DeviceSession
from vigil.records import DeviceStatus, LinkEvent, WaveformChunk

ECG = ChannelInfo(1, ChannelKind.ECG_II, Fraction(500), 0.005, 0.0, "mV", "ECG II")
RESP = ChannelInfo(4, ChannelKind.RESPIRATION, Fraction(125, 2), 0.001, 0.0, "Ohm", "Resp")


def _hello(boot_id: int = 7, t_us: int = 0) -> Hello:
    return Hello(t_us, boot_id, "BED-1", "fw", (ECG, RESP))


def _wave(first: int, n: int, channel: int = 1, t_us: int = 0) -> Waveform:
    return Waveform(t_us, channel, first, (np.arange(first, first + n) % 30000).astype("<i2"))


def _chunks(records):
    return [r for r in records if isinstance(r, WaveformChunk)]


def _events(records, kind):
    return [r for r in records if isinstance(r, LinkEvent) and r.kind == kind]


def test_samples_arrive_in_physical_units_with_device_time_from_their_index():
    s = DeviceSession("port")
    s.handle(_hello(), 1_000)
    (chunk,) = _chunks(s.handle(_wave(1000, 20), 2_000))
    assert chunk.samples.dtype == np.float32
    np.testing.assert_allclose(chunk.samples, np.arange(1000, 1020) * np.float32(0.005), rtol=1e-6)
    assert chunk.device_time_us == 2_000_000  # sample 1000 at 500 Hz
    assert (chunk.source, chunk.label, chunk.units) == ("BED-1", "ECG II", "mV")


def test_a_gap_in_sample_indices_is_reported_with_its_size():
    s = DeviceSession("port")
    s.handle(_hello(), 0)
    s.handle(_wave(0, 20), 0)
    records = s.handle(_wave(60, 20), 0)
    (gap,) = _events(records, "sample_gap")
    assert (gap.channel, gap.count) == (1, 40)
    assert s.counters.samples_missing == 40
    assert len(_chunks(records)) == 1


def test_overlapping_samples_are_never_delivered_twice():
    s = DeviceSession("port")
    s.handle(_hello(), 0)
    s.handle(_wave(0, 20), 0)
    records = s.handle(_wave(10, 20), 0)
    (chunk,) = _chunks(records)
    assert chunk.first_index == 20
    assert len(chunk.samples) == 10
    assert _events(records, "samples_overlapped")[0].count == 10
    assert _chunks(s.handle(_wave(5, 10), 0)) == []  # wholly old


def test_waveforms_before_hello_are_held_then_delivered_in_order():
    s = DeviceSession("port")
    assert s.handle(_wave(0, 20), 0) == []
    assert s.handle(_wave(20, 20), 0) == []
    records = s.handle(_hello(), 0)
    assert [c.first_index for c in _chunks(records)] == [0, 20]


def test_holding_before_hello_is_bounded_and_overflow_is_reported():
    s = DeviceSession("port", max_held=3)
    dropped = []
    for k in range(5):
        dropped += _events(s.handle(_wave(20 * k, 20), 0), "samples_dropped")
    assert [e.count for e in dropped] == [20, 20]
    assert s.counters.samples_dropped_no_hello == 40
    assert [c.first_index for c in _chunks(s.handle(_hello(), 0))] == [40, 60, 80]


def test_device_reset_restarts_continuity_instead_of_reporting_a_gap():
    s = DeviceSession("port")
    s.handle(_hello(boot_id=1), 0)
    s.handle(_wave(50_000, 20), 0)
    records = s.handle(_hello(boot_id=2), 0)
    assert _events(records, "device_reset")
    records = s.handle(_wave(0, 20), 0)
    assert not _events(records, "sample_gap")
    assert not _events(records, "samples_overlapped")


def test_unknown_channel_is_reported_not_guessed():
    s = DeviceSession("port")
    s.handle(_hello(), 0)
    records = s.handle(_wave(0, 20, channel=9), 0)
    assert _events(records, "unknown_channel")[0].channel == 9
    assert _chunks(records) == []


def test_status_names_the_leads_that_are_off():
    s = DeviceSession("port")
    s.handle(_hello(), 0)
    (status,) = s.handle(Status(0, StatusFlag.LEADS_OFF | StatusFlag.BATTERY_LOW, 0b1, 255, 0), 0)
    assert isinstance(status, DeviceStatus)
    assert status.leads_off == ("ECG II",)
    assert status.battery_low
    assert status.battery_pct is None


@pytest.mark.parametrize("rate", [Fraction(125, 2), Fraction(500)])
def test_non_integer_rates_map_index_to_time_exactly(rate):
    ch = ChannelInfo(1, ChannelKind.ECG_II, rate, 0.005, 0.0, "mV", "x")
    s = DeviceSession("port")
    s.handle(Hello(0, 1, "d", "f", (ch,)), 0)
    index = 125 * 3600 * 24  # a day of samples
    (chunk,) = _chunks(s.handle(_wave(index, 1), 0))
    assert chunk.device_time_us == pytest.approx(float(index / rate * 1_000_000), abs=0)
