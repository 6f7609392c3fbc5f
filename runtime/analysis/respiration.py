"""Impedance respiration: breath onsets, their swing, and the respiration rate.

Method. The impedance trace is smoothed by a 0.4 s symmetric Hann FIR (breaths are slower than
1 Hz; the heart's small cardiogenic oscillation, ~0.04 ohm at the heart rate, and sensor noise
are mostly removed) and followed by the same `SwingTracker` as the pleth (pleth.py): a breath
onset is a trough confirmed by a rise of `delta` within `WINDOW_S`, where `delta` is 30 % of the
trace's range over the previous 16 s and never below `FLOOR` (0.1 ohm); the onset is the last
sample before the rise within `ONSET_TOLERANCE` x `delta` of the trough's minimum (where the
rise leaves the bottom: the minimum itself wanders in the flat stretch before a breath that
follows an apnea). Against the synthesizer's onsets (4-60 /min, noisy, apnea) the error is
+0.05 s on average, sd 0.19 s; the first breath after an apnea is within 1.5 s. The floor is
what keeps the cardiogenic oscillation of an apnoeic patient (scenario `apnea`) from counting
as breaths: smoothed, with the sensor noise, it rises at most 0.074 ohm within a window (48
simulated apnoeas of 110 s, heart rate 40-150 /min), while breaths swing 0.3-1.2 ohm.
A breath is reported when its peak is confirmed (its swing, peak minus onset trough, is then
known), or `SWING_WAIT_S` after its onset was confirmed if no peak came by then (swing so far).
NaN samples are a gap: pending breaths are reported, the tracker restarts after them.

Look-ahead: the onset is confirmed at most `WINDOW_S` after it, the breath reported at most
`SWING_WAIT_S` later, plus the FIR's half length: `BreathDetector.LOOKAHEAD_S` (10.2 s; ~3 s at
14 /min, the time to the end of inspiration plus a little). `analysed_through` is exact and much
tighter: the earliest index where an onset could still be found, or the onset of a breath still
waiting for its swing, so an apnea is never declared while the breath that ends it is pending.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from vigil.runtime.analysis.events import Breath, seconds_at
from vigil.runtime.analysis.feed_contract import check_feed
from vigil.runtime.analysis.pleth import (
    Extremum,
    SwingTracker,
    finite_runs,
    rate_per_min,
)


@dataclass(slots=True)
class RespOutput:
    """Breaths reported by one call; every onset before `analysed_through` has been reported."""

    breaths: list[Breath] = field(default_factory=list)
    analysed_through: int = 0


class BreathDetector:
    """Breaths of one impedance channel at `fs` (ohm; any baseline, it is never used)."""

    SMOOTH_S = 0.4
    WINDOW_S = 4.0  # an onset is confirmed by its rise within this (2.4 s at 4 /min)
    SWING_WAIT_S = 6.0  # report a breath this long after its onset at the latest
    RELATIVE = 0.3
    FLOOR = 0.1  # ohm: smallest swing counted as a breath
    ONSET_TOLERANCE = 0.05  # x delta: the onset is where the rise leaves the trough's level
    BLOCK_S = 1.0
    RANGE_S = 16.0  # covers a full breath at 4 /min
    RATE_WINDOW_S = 40.0  # as the monitor's numerics: the last 4 intervals in 40 s
    RATE_INTERVALS = 4
    STALE_S = 20.0
    MEMORY_S = 120.0  # breath times kept for `respiration_rate` queries into the recent past
    LOOKAHEAD_S = WINDOW_S + SWING_WAIT_S + SMOOTH_S / 2  # nominal; instances hold the exact

    def __init__(self, fs: Fraction) -> None:
        self.fs = Fraction(fs)
        if self.fs <= 0:
            raise ValueError(f"BreathDetector needs a positive sample rate, got {fs}")
        self._tracker = SwingTracker(
            float(self.fs),
            smooth_s=self.SMOOTH_S,
            window_s=self.WINDOW_S,
            floor=self.FLOOR,
            relative=self.RELATIVE,
            block_s=self.BLOCK_S,
            range_s=self.RANGE_S,
            keep_s=self.SWING_WAIT_S + self.WINDOW_S,
            trough_tolerance=self.ONSET_TOLERANCE,
        )
        self._wait = round(self.SWING_WAIT_S * float(self.fs))
        tr = self._tracker  # the exact bound at this rate (everything in whole samples)
        self.LOOKAHEAD_S = (tr.window + self._wait + tr.delay) / float(self.fs)
        self._expected: int | None = None
        self._pending: Extremum | None = None  # a confirmed onset whose swing is not known yet
        self._recent: deque[float] = deque()

    def feed(self, first_index: int, samples: np.ndarray) -> RespOutput:
        samples = np.asarray(samples)
        check_feed("BreathDetector", self._expected, first_index, samples, rows=None)
        if self._expected is None:
            self._tracker.reset(first_index)
        out = RespOutput()
        for a, b, finite in finite_runs(samples):
            if finite:
                for ext in self._tracker.feed(samples[a:b]):
                    self._expire(ext.confirmed_at, out)
                    self._take(ext, out)
                self._expire(self._tracker.end, out)
                self._tracker.trim()
            else:
                self._restart(first_index + a, first_index + b, out)
        self._expected = first_index + len(samples)
        out.analysed_through = self._analysed_through()
        return out

    def gap(self, next_index: int) -> RespOutput:
        """A discontinuity: report what is pending, forget the signal's state."""
        out = RespOutput()
        at = self._expected if self._expected is not None else next_index
        self._restart(at, next_index, out)
        self._expected = next_index
        out.analysed_through = next_index
        return out

    def _analysed_through(self) -> int:
        through = self._tracker.earliest_candidate()
        return min(through, self._pending.index) if self._pending else through

    def _restart(self, at: int, next_index: int, out: RespOutput) -> None:
        if self._pending is not None:
            self._report(self._pending, self._tracker.max_between(self._pending.index, at), at, out)
        self._tracker.reset(next_index)

    def _expire(self, now: int, out: RespOutput) -> None:
        """Report the pending breath if its peak did not come within `SWING_WAIT_S`."""
        p = self._pending
        if p is not None and now > p.confirmed_at + self._wait:
            at = p.confirmed_at + self._wait
            self._report(p, self._tracker.max_between(p.index, at + 1), at, out)

    def _take(self, ext: Extremum, out: RespOutput) -> None:
        if ext.kind == "trough":
            self._pending = ext
        elif self._pending is not None:
            self._report(self._pending, ext.value, ext.confirmed_at, out)

    def _report(self, onset: Extremum, peak: float, at: int, out: RespOutput) -> None:
        self._pending = None
        t_s = seconds_at(onset.index, self.fs)
        swing = peak - onset.value if math.isfinite(peak) else math.nan
        out.breaths.append(Breath(onset.index, t_s, swing, at + self._tracker.delay))
        self._recent.append(t_s)
        while self._recent and self._recent[0] < t_s - self.MEMORY_S:
            self._recent.popleft()

    def respiration_rate(self, t_s: float) -> float:
        """Respiration rate (/min) from the last `RATE_INTERVALS` breath intervals in the
        `RATE_WINDOW_S` before `t_s` (at most `MEMORY_S` before the newest breath, and analysed
        past: see `analysed_through`); NaN with fewer than two breaths there or none in the last
        `STALE_S` (apnea is the ApneaDetector's to call, not a rate of 0)."""
        times = list(self._recent)
        recent = [t for t in times if t < t_s]
        if not recent or t_s - recent[-1] > self.STALE_S:
            return math.nan
        return rate_per_min(times, t_s, self.RATE_WINDOW_S, self.RATE_INTERVALS)
