"""Multi-lead QRS detection on the QRS-band envelope, with adaptive thresholds.

Feature. Each usable lead's envelope (`ecg_filters`: 5-15 Hz band, squared, smoothed,
square-rooted) is divided by that lead's QRS level, a running average of its envelope at
accepted complexes, so a typical complex scores about 1 on every lead whatever the lead's
gain. The leads are averaged with inverse-variance weights: each lead's noise floor (a low
percentile of its scaled envelope) is measured per quarter window, so the lead a noise burst
spoils counts for little while it lasts, and a lead that joins or drops out does not change
the scale the thresholds learned.

Candidates are the local maxima of the feature. One is a QRS when

1. it is at least `REFRACTORY_S` after the previous QRS;
2. its prominence clears the Pan-Tompkins-like threshold NPK + `THRESHOLD_FRACTION` (SPK -
   NPK), SPK and NPK being running levels of accepted and rejected candidates. Prominence,
   not height, so noise riding on a raised noise floor does not pass, nor does the notch of
   a wide complex. When no QRS came for `SEARCH_BACK_RR` mean RR intervals the threshold
   halves (Pan-Tompkins' search-back, applied forward so that nothing reported is revised)
   and the lead levels decay each window; the QRS found so resets them. Complexes that
   shrank (a moved electrode, a lower-voltage rhythm) are thus counted again within about
   three seconds instead of the detector locking out into a false asystole;
3. its peak-to-peak amplitude on the 0.5-40 Hz monitor signal, on the lead that shows it best,
   is at least `QRS_FLOOR_MV` (CLINICAL.md: a deflection under 0.15 mV is not a QRS), or
   `WIDE_QRS_FLOOR_MV` for a deflection as wide as a P wave (half-amplitude width over
   `NARROW_WIDTH_S`). The second floor keeps P waves of up to 0.25 mV from counting as QRS in
   P-wave asystole; ventricular complexes are wide but large (typically 1-3 mV), so the
   cost is that a wide complex under 0.4 mV is not counted.

Refractory period: `REFRACTORY_S` = 0.16 s. Detectors that hold 0.3 s between beats cannot
count faster than 200 /min (CLINICAL.md); VT and 1:1 flutter reach 300 /min, an RR of 0.2 s
that beat-to-beat variation shortens to about 0.18 s. The refractory must stay below that,
yet be as long as a wide QRS (up to ~0.16 s) so a notched complex yields one peak. T waves
come later and are rejected by the threshold: their QRS-band energy is a few percent of the
QRS's. The refractory is a module constant so a test can show that 0.3 s would fail.

The R peak is the dominant turning point of the monitor signal near where the envelope
maximum puts it (`ENERGY_DELAY_S` earlier: 72 ms for narrow complexes, ~100 ms for VT),
within +-`SEARCH_S`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import peak_prominences

from vigil.runtime.analysis.events import RPeak

REFRACTORY_S = 0.16
"""Shortest RR the detector accepts; must stay below ~0.18 s so that 300 /min is counted."""
THRESHOLD_FRACTION = 0.3
MIN_PROMINENCE = 0.1  # maxima below this are not even noise worth tracking
SEARCH_BACK_RR = 1.66  # no QRS for this many mean RR intervals: a beat was missed
SEARCH_BACK_FACTOR = 0.5  # ... so the threshold halves until the next QRS
RR_AVERAGE_BEATS = 8
LEVEL_GAIN = 0.125  # SPK / NPK running-average gain (Pan-Tompkins)
INITIAL_SPK = 0.8
INITIAL_NPK = 0.1

QRS_FLOOR_MV = 0.15
WIDE_QRS_FLOOR_MV = 0.4
NARROW_WIDTH_S = 0.04  # half-amplitude width: narrow R ~25 ms, P wave ~52 ms, VT ~80 ms
QRS_HALF_S = 0.06  # QRS amplitude measured over R +- this
ENERGY_DELAY_S = 0.085  # envelope maximum after the R peak (72 ms narrow, ~100 ms VT)
SEARCH_S = 0.05  # R peak searched within this of where the envelope puts it
BOUNDARY_S = 0.03  # windows weight leads differently, which can move a peak this far

SCALE_GAIN = 0.25  # per-lead QRS level running-average gain
SEARCH_BACK_SCALE_GAIN = 1.0  # ... for a QRS found by search-back: the scale has changed
SCALE_DECAY = 0.7  # per window while a beat is overdue
SPK_CAP = 2.0  # a complex scoring more (levels decayed) counts this much towards SPK
SCALE_FLOOR_MV = 0.03  # a lead's level never drops below this envelope amplitude
PEAK_HALF_S = 0.04  # a lead's envelope maximum at a QRS is taken within this of the peak
WEIGHT_BLOCKS = 4  # lead weights are set per quarter window
WEIGHT_PERCENTILE = 35  # noise floor: this percentile of the scaled envelope in a block
WEIGHT_FLOOR = 0.1  # scaled noise floor below which a lead counts as clean


class LeadScales:
    """Each lead's QRS level: a running average of its envelope (mV) at accepted complexes.

    Until a lead has shown a QRS, the largest envelope of its usable windows stands in.
    Levels learned from beats ignore artefacts (a motion burst not taken for a QRS leaves the
    level alone), so a clean lead's scaled noise floor stays low and its weight high, and a
    complex keeps scoring about 1 through noise. While a beat is overdue they decay.
    (Plain floats: with three leads, numpy would cost more than the arithmetic.)
    """

    def __init__(self, n_leads: int) -> None:
        self.levels: list[float | None] = [None] * n_leads
        self._provisional = [0.0] * n_leads

    def clear(self) -> None:
        self.levels = [None] * len(self.levels)
        self._provisional = [0.0] * len(self.levels)

    def window(self, window_max: list[float], usable: list[bool]) -> np.ndarray:
        """Take one window's envelope maxima; the level of each lead to use there."""
        for i, level in enumerate(self.levels):
            if level is None and usable[i]:
                self._provisional[i] = max(self._provisional[i], window_max[i])
        levels = [
            p if v is None else v for v, p in zip(self.levels, self._provisional, strict=True)
        ]
        return np.maximum(levels, SCALE_FLOOR_MV)

    def beat(self, peak: list[float], usable: list[bool], gain: float = SCALE_GAIN) -> None:
        """A QRS was accepted; `peak` is each lead's envelope maximum around it."""
        for i, level in enumerate(self.levels):
            if usable[i]:
                self.levels[i] = peak[i] if level is None else level + gain * (peak[i] - level)

    def decay(self) -> None:
        """No QRS for a while: lower the known levels, so complexes that became smaller (a
        moved electrode, a lower-voltage rhythm) are heard again instead of locking out."""
        self.levels = [None if v is None else v * SCALE_DECAY for v in self.levels]


def envelope_stats(envelope: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """For the windows of `length` samples that envelope (n_leads, k * length) covers: each
    lead's maximum (n_leads, k) and noise floor per quarter (n_leads, k, WEIGHT_BLOCKS), a low
    percentile (complexes are brief, so it lies below them)."""
    n, k = envelope.shape[0], envelope.shape[1] // length
    windows = envelope.reshape(n, k, length)
    q = length // WEIGHT_BLOCKS
    blocks = windows[:, :, : q * WEIGHT_BLOCKS].reshape(n, k, WEIGHT_BLOCKS, q)
    p = (q - 1) * WEIGHT_PERCENTILE // 100
    return windows.max(axis=2), np.partition(blocks, p, axis=3)[..., p]


@dataclass(frozen=True, slots=True)
class DetectionWindow:
    """What detection uses in one analysis window [start, start + length), fixed when the
    window closed: the usable leads (`rows`: their indices) and, per usable lead and quarter
    window, the coefficient that turns its envelope into its share of the feature (its
    weight over the weights' sum, divided by its level)."""

    start: int
    length: int
    usable: np.ndarray
    rows: np.ndarray
    coefficients: np.ndarray  # (len(rows), WEIGHT_BLOCKS)

    @classmethod
    def empty(cls, start: int, length: int, n_leads: int) -> DetectionWindow:
        none = np.zeros(n_leads, dtype=bool)
        return cls(start, length, none, np.flatnonzero(none), np.zeros((0, WEIGHT_BLOCKS)))

    def feature(self, envelope: np.ndarray, first: int) -> np.ndarray:
        """The weighted mean over the usable leads of envelope / level, for envelope
        (n_leads, n) from index `first`; samples outside the window take the coefficients of
        its nearest quarter."""
        n = envelope.shape[1]
        edges = [0]
        for b in range(1, WEIGHT_BLOCKS):
            edges.append(min(max(self.start + b * self.length // WEIGHT_BLOCKS - first, 0), n))
        edges.append(n)
        counts = [hi - lo for lo, hi in itertools.pairwise(edges)]
        c = np.repeat(self.coefficients, counts, axis=1)
        return np.einsum("ln,ln->n", c, envelope[self.rows])


class QrsDetector:
    """Decides candidates in index order; keeps only running levels, recent RR intervals and
    the last QRS."""

    def __init__(self, fs: float, leads: Sequence[str]) -> None:
        self.fs = fs
        self.leads = tuple(leads)
        self.refractory = max(1, round(REFRACTORY_S * fs))
        self.delay = round(ENERGY_DELAY_S * fs)
        self.search = round(SEARCH_S * fs)
        self.half = round(QRS_HALF_S * fs)
        self.peak_half = round(PEAK_HALF_S * fs)
        self.boundary = round(BOUNDARY_S * fs)
        self.narrow = NARROW_WIDTH_S * fs
        self.scales = LeadScales(len(self.leads))
        self.reset()

    def reset(self) -> None:
        self.scales.clear()
        self.spk = INITIAL_SPK
        self.npk = INITIAL_NPK
        self.last: int | None = None  # envelope index of the last QRS
        self.rr: deque[int] = deque(maxlen=RR_AVERAGE_BEATS)

    @property
    def reach(self) -> int:
        """How far before an envelope index the monitor signal is read (samples)."""
        return self.delay + self.search + self.half

    def new_window(
        self, start: int, length: int, usable: np.ndarray, maxima: np.ndarray, floors: np.ndarray
    ) -> DetectionWindow:
        """Fix the feature's coefficients for the window [start, start + length) that just
        closed, from its envelope statistics (see `envelope_stats`: maxima (n_leads,), noise
        floors (n_leads, WEIGHT_BLOCKS)) and the levels learned before it. The weights are
        inverse variances of each lead's scaled noise floor."""
        if self.last is not None and start - self.last > SEARCH_BACK_RR * self._rr():
            self.scales.decay()
        levels = self.scales.window(maxima.tolist(), usable.tolist())
        rows = np.flatnonzero(usable)
        scaled = floors[rows] / levels[rows, None]
        weights = 1.0 / np.maximum(scaled, WEIGHT_FLOOR) ** 2
        coefficients = weights / weights.sum(axis=0) / levels[rows, None]
        return DetectionWindow(start, length, usable, rows, coefficients)

    def decide(
        self,
        window: DetectionWindow,
        envelope: np.ndarray,
        first: int,
        *,
        start: int,
        stop: int,
        monitor: np.ndarray,
        monitor_first: int,
        monitor_delay: int,
        reported_min: int,
    ) -> list[RPeak]:
        """QRS complexes among the feature maxima with envelope index in [start, stop).

        `envelope` (n_leads, n) covers [first, ...) and should span
        [start - refractory - 1, stop + refractory + 1); a shorter one (a flush before a gap)
        is judged on what there is. `monitor` (n_leads, m) covers [monitor_first, ...) as far
        as `envelope`; `monitor_delay` is its lag in samples. A peak is reported at
        max(`reported_min`, its envelope index + refractory + 1)."""
        lo, hi = start - first, stop - first
        if hi <= lo or not len(window.rows):
            return []
        feature = window.feature(envelope, first)
        maxima = _local_maxima(feature)
        maxima = maxima[(maxima >= lo) & (maxima < hi)]
        if not len(maxima):
            return []
        wlen = 2 * self.refractory + 1
        prominence = peak_prominences(feature, maxima, wlen=wlen)[0]
        keep = prominence >= MIN_PROMINENCE
        maxima, prominence = maxima[keep], prominence[keep]
        if not len(maxima):
            return []
        js = maxima + first
        index, amplitude, seen, valid = self._measure(
            js, monitor, monitor_first, monitor_delay, window
        )
        peaks: list[RPeak] = []
        for n, (j, f) in enumerate(zip(js.tolist(), prominence.tolist(), strict=True)):
            overdue = self._judge(j, f)
            if overdue is None:
                continue
            if not valid[n]:
                continue  # under the amplitude floor: neither a QRS nor noise to learn from
            c = j - first
            around = envelope[:, max(c - self.peak_half, 0) : c + self.peak_half + 1]
            self._accept(j, f, around.max(axis=1), window.usable, overdue=overdue)
            peaks.append(
                RPeak(
                    index=index[n],
                    t_s=index[n] / self.fs,
                    amplitude_mv=amplitude[n],
                    leads=tuple(self.leads[i] for i in window.rows[seen[n]].tolist()),
                    reported_at=max(reported_min, j + self.refractory + 1),
                )
            )
        return peaks

    # -- one candidate ----------------------------------------------------------------------
    def _judge(self, j: int, prominence: float) -> bool | None:
        """None when the candidate at envelope index j is not a QRS; else whether it was found
        by search-back."""
        if prominence < MIN_PROMINENCE or (
            self.last is not None and j - self.last < self.refractory
        ):
            return None
        threshold = self.npk + THRESHOLD_FRACTION * (self.spk - self.npk)
        overdue = self.last is not None and j - self.last > SEARCH_BACK_RR * self._rr()
        if overdue:
            threshold *= SEARCH_BACK_FACTOR
        if prominence < threshold:
            self.npk += LEVEL_GAIN * (prominence - self.npk)
            return None
        return overdue

    def _accept(
        self,
        j: int,
        prominence: float,
        lead_peaks: np.ndarray,
        usable: np.ndarray,
        *,
        overdue: bool,
    ) -> None:
        spk_gain = 2 * LEVEL_GAIN if overdue else LEVEL_GAIN
        self.spk += spk_gain * (min(prominence, SPK_CAP) - self.spk)
        gain = SEARCH_BACK_SCALE_GAIN if overdue else SCALE_GAIN
        self.scales.beat(lead_peaks.tolist(), usable.tolist(), gain)
        if self.last is not None:
            self.rr.append(j - self.last)
        self.last = j

    def _rr(self) -> float:
        return sum(self.rr) / len(self.rr) if self.rr else self.fs

    def _measure(
        self,
        js: np.ndarray,
        monitor: np.ndarray,
        monitor_first: int,
        monitor_delay: int,
        window: DetectionWindow,
    ) -> tuple[list[int], list[float], np.ndarray, list[bool]]:
        """For candidates at envelope indices `js`, all at once: the R index, the QRS
        amplitude on the lead that shows it best, which usable leads show one (over
        `QRS_FLOOR_MV`; mask (len(js), len(rows))) and whether it clears the floor."""
        s, h = self.search, self.half
        # the monitor around each expected R: (candidates, usable leads, 2 (s + h) + 1)
        first = js - self.delay + monitor_delay - monitor_first - s - h
        idx = np.clip(first[:, None] + np.arange(2 * (s + h) + 1), 0, monitor.shape[1] - 1)
        wide = monitor[window.rows][:, idx].transpose(1, 0, 2)
        best = np.argmax(wide.max(axis=2) - wide.min(axis=2), axis=1)
        x = wide[np.arange(len(js)), best]
        r = h + _dominant_turns(x[:, h : h + 2 * s + 1])
        qrs = np.take_along_axis(wide, (r[:, None] + np.arange(-h, h + 1))[:, None, :], axis=2)
        amps = qrs.max(axis=2) - qrs.min(axis=2)
        amplitude = amps.max(axis=1).tolist()
        valid = []
        for n, a in enumerate(amplitude):
            ok = a >= QRS_FLOOR_MV
            if ok and a < WIDE_QRS_FLOOR_MV:  # as small as a P wave: it must be narrow too
                ok = _half_width(qrs[n, best[n]], h) <= self.narrow
            valid.append(ok)
        index = (first + r + monitor_first - monitor_delay).tolist()
        return index, amplitude, amps >= QRS_FLOOR_MV, valid


def _local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices with both neighbours in x, not below the left one and above the right one (a
    plateau counts once, at its last sample): an edge sample is never a maximum, so the
    answer at an index does not depend on how far x extends."""
    mid = x[1:-1]
    return np.flatnonzero((mid >= x[:-2]) & (mid > x[2:])) + 1


def _dominant_turns(x: np.ndarray) -> np.ndarray:
    """Per row of x, the index of the larger deviation, its maximum or its minimum, from the
    level at the row's ends; a true turning point wins over one at an end of the row (a wave
    still rising into the range belongs to a neighbour)."""
    last = x.shape[1] - 1
    i_max, i_min = x.argmax(axis=1), x.argmin(axis=1)
    rows = np.arange(len(x))
    base = 0.5 * (x[:, 0] + x[:, last])
    larger_max = x[rows, i_max] - base >= base - x[rows, i_min]
    inner_max = (i_max > 0) & (i_max < last)
    inner_min = (i_min > 0) & (i_min < last)
    pick_max = np.where(inner_max != inner_min, inner_max, larger_max)
    return np.where(pick_max, i_max, i_min)


def _half_width(seg: np.ndarray, k: int) -> int:
    """Width in samples of the deflection at seg[k] above half its height over the baseline
    (the mean of the segment's ends)."""
    dev = seg - 0.5 * (seg[0] + seg[-1])
    if dev[k] < 0:
        dev = -dev
    below = dev < 0.5 * dev[k]
    left = np.flatnonzero(below[:k])
    right = np.flatnonzero(below[k:])
    lo = left[-1] + 1 if len(left) else 0
    hi = k + right[0] if len(right) else len(seg)
    return int(hi - lo)
