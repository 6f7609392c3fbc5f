"""Heart rate from classified beats: 60 / mean of the last RR intervals.

Only QRS complexes count: N and V beats. Q beats (the detector fired on something that is
not a QRS) are skipped, and the RR interval runs from the previous N or V beat across them.
Averaging `average_beats` intervals (CLINICAL.md, settings: 8) is what monitors do to keep
the displayed rate steady through respiratory sinus arrhythmia and single ectopic beats.
An interval longer than MAX_RR_S (a restart, or leads off with beats either side of it) is
not a heart period and restarts the average instead of dragging it towards zero.

No look-ahead of its own: a rate is reported with the beat that completes it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from vigil.runtime.analysis.events import Beat

MAX_RR_S = 6.0  # longer: not a heart period (10 /min); the average restarts
STALE_S = 6.0  # rate_at: no QRS for this long reads 0 /min ("none detected")


class HeartRateMeter:
    """Beats in, (t_s, /min) out: one rate per N or V beat that has an RR interval."""

    def __init__(self, average_beats: int = 8) -> None:
        if average_beats < 1:
            raise ValueError(f"average_beats must be at least 1, got {average_beats}")
        self.average_beats = average_beats
        self._rr: deque[float] = deque(maxlen=average_beats)
        self._last_t: float | None = None
        self._series: deque[tuple[float, float]] = deque(maxlen=64)
        self.rate = math.nan  # the latest rate (/min)

    @property
    def intervals(self) -> int:
        """RR intervals in the current average (up to `average_beats`)."""
        return len(self._rr)

    def update(self, beats: Sequence[Beat]) -> list[tuple[float, float]]:
        """Rates (t_s, /min) at each N or V beat of `beats` (in index order) with an RR."""
        out: list[tuple[float, float]] = []
        for beat in beats:
            if beat.label == "Q":
                continue
            rate = self.add(beat.t_s)
            if rate is not None:
                out.append((beat.t_s, rate))
        return out

    def add(self, t_s: float) -> float | None:
        """One QRS complex at `t_s`; the new rate, or None while there is no interval."""
        last, self._last_t = self._last_t, t_s
        if last is None:
            return None
        rr = t_s - last
        if not 0.0 < rr <= MAX_RR_S:
            self._rr.clear()
            return None
        self._rr.append(rr)
        self.rate = 60.0 * len(self._rr) / sum(self._rr)
        self._series.append((t_s, self.rate))
        return self.rate

    def rate_at(self, t_s: float) -> float:
        """The rate shown at device time `t_s`: the latest rate at or before it, 0 /min when
        no QRS for STALE_S, NaN before the first rate. Chunk independent for times up to
        which every beat has been fed (the classifier's look-ahead behind the front end)."""
        if self._last_t is not None and t_s - self._last_t >= STALE_S:
            return 0.0
        for t, rate in reversed(self._series):
            if t <= t_s:
                return rate
        return math.nan

    def reset(self) -> None:
        """A discontinuity (leads off, a gap): the next beat starts a new average."""
        self._rr.clear()
        self._last_t = None
