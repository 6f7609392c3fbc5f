"""What the live view keeps of a bed: the ECG it draws (lead II, as a monitor shows it, the
last seconds in order) and the bed's device clock."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from vigil.firmware_bridge.link import SerialLink
from vigil.records import WaveformChunk
from vigil.runtime.alarms.model import BedSignal
from vigil.runtime.link_alarms import LinkAlarms
from vigil.runtime.service.bed import VIEW_ECG_S, BedState

RATE = Fraction(250)


def _bed() -> BedState:
    link = SerialLink("/dev/null-not-opened", lambda r: None)  # never started: no port opened
    return BedState(0, "bed-1", link.port_name, link, None, LinkAlarms("bed-1"))


def _chunk(kind: str, label: str, first: int, samples: np.ndarray) -> WaveformChunk:
    return WaveformChunk("dev", 1, label, kind, "mV", RATE, first, samples.astype(np.float32))


def _view(bed: BedState):
    return bed.view([], BedSignal("bed-1", None, None, None), 0, "connected")


def test_the_view_draws_lead_ii_once_it_is_seen_even_if_lead_i_came_first():
    bed = _bed()
    bed.observe(_chunk("ECG_I", "ECG I", 0, np.full(10, 1.0)))
    assert _view(bed).ecg_label == "ECG I"
    bed.observe(_chunk("ECG_II", "ECG II", 0, np.full(10, 2.0)))
    bed.observe(_chunk("ECG_I", "ECG I", 10, np.full(10, 1.0)))  # ignored from now on
    view = _view(bed)
    assert view.ecg_label == "ECG II"
    assert np.nanmax(view.ecg) == 2.0
    assert np.count_nonzero(~np.isnan(view.ecg)) == 10


def test_the_ecg_ring_keeps_the_last_seconds_in_order_across_wraps():
    bed = _bed()
    n = int(VIEW_ECG_S * RATE)
    x = np.arange(3 * n + 17, dtype=np.float32)
    for first in range(0, len(x), 40):  # 160 ms chunks, wrapping the ring several times
        bed.observe(_chunk("ECG_II", "ECG II", first, x[first : first + 40]))
    view = _view(bed)
    np.testing.assert_array_equal(view.ecg, x[-n:])
    assert bed.device_s == len(x) / 250


def test_the_device_clock_is_the_latest_chunk_end_and_follows_a_new_rate():
    bed = _bed()
    pleth = WaveformChunk("dev", 4, "Pleth", "PLETH", "%", Fraction(125), 0, np.zeros(125))
    bed.observe(_chunk("ECG_II", "ECG II", 0, np.zeros(500)))  # 2 s at 250 Hz
    bed.observe(pleth)  # 1 s at 125 Hz: not later
    assert (bed.device_s, bed.first_device_s) == (2.0, 0.0)
    faster = WaveformChunk("dev", 1, "ECG II", "ECG_II", "mV", Fraction(500), 1500, np.zeros(500))
    bed.observe(faster)  # the device said HELLO again with 500 Hz: samples 1500-2000 end at 4 s
    assert bed.device_s == 4.0
