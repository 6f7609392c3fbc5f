"""A scenario as functions of time: ramped trends, stepped settings, rhythm segments, and the
ground-truth episodes they imply.

Everything here is computed once from the (bounded) event list, so looking up the state at
any time costs a bisection and nothing grows while a simulation streams for days.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import fields
from typing import Any

import numpy as np

from vigil.models.synthetic.records import Episode
from vigil.models.synthetic.scenario import RAMPED, PhysioState, Scenario

DESATURATION_BELOW = 90.0  # SpO2 %, the usual adult low limit
HYPOTENSION_BELOW = 90.0  # systolic mmHg


class _Ramp:
    """Piecewise-linear trend: each event starts a ramp from the current value."""

    def __init__(self, initial: float) -> None:
        # (start, v0, end, v1): linear from (start, v0) to (end, v1), then v1
        self.segs: list[tuple[float, float, float, float]] = [
            (-math.inf, initial, -math.inf, initial)
        ]
        self.starts: list[float] = [-math.inf]

    def add(self, at: float, target: float, ramp_s: float) -> None:
        v0 = self.value(at)
        self.segs.append((at, v0, at + ramp_s, target))
        self.starts.append(at)

    def value(self, t: float) -> float:
        start, v0, end, v1 = self.segs[bisect.bisect_right(self.starts, t) - 1]
        if t >= end:
            return v1
        return v0 + (v1 - v0) * (t - start) / (end - start)

    def knots(self) -> list[tuple[float, float]]:
        """Breakpoints of the piecewise-linear function (from t=0)."""
        out: list[tuple[float, float]] = [(0.0, self.value(0.0))]
        segs = self.segs[1:]
        for i, (start, v0, end, v1) in enumerate(segs):
            nxt = segs[i + 1][0] if i + 1 < len(segs) else math.inf
            out.append((start, v0))
            if end < nxt:
                out.append((end, v1))
        return out

    def below(self, threshold: float) -> list[tuple[float, float | None]]:
        """Intervals where the trend is below `threshold`, crossings solved exactly."""
        intervals: list[tuple[float, float | None]] = []
        knots = self.knots()
        start: float | None = 0.0 if knots[0][1] < threshold else None
        for (ta, va), (tb, vb) in itertools.pairwise(knots):
            if (va < threshold) == (vb < threshold):
                continue
            cross = ta if tb <= ta else ta + (threshold - va) * (tb - ta) / (vb - va)
            if start is None:
                start = cross
            else:
                intervals.append((start, cross))
                start = None
        if start is not None:
            intervals.append((start, None))
        return intervals


class _Steps:
    """Stepped setting: value changes at event times."""

    def __init__(self, initial: Any) -> None:
        self.times: list[float] = [-math.inf]
        self.values: list[Any] = [initial]

    def add(self, at: float, value: Any) -> None:
        if self.times[-1] == at:
            self.values[-1] = value
        else:
            self.times.append(at)
            self.values.append(value)

    def value(self, t: float) -> Any:
        return self.values[bisect.bisect_right(self.times, t) - 1]

    def next_change(self, t: float) -> float | None:
        i = bisect.bisect_right(self.times, t)
        return self.times[i] if i < len(self.times) else None

    def intervals(self, pred: Any) -> list[tuple[float, float | None]]:
        out: list[tuple[float, float | None]] = []
        start: float | None = None
        for t, v in zip(self.times, self.values, strict=True):
            t0 = max(t, 0.0)
            on = bool(pred(v))
            if on and start is None:
                start = t0
            elif not on and start is not None:
                out.append((start, t0))
                start = None
        if start is not None:
            out.append((start, None))
        return [(a, b) for a, b in out if b is None or b > a]

    def sample(self, times: np.ndarray) -> np.ndarray:
        """Index of the value in force at each time (for per-sample masks)."""
        return np.searchsorted(np.asarray(self.times[1:]), times, side="right")


class Timeline:
    """A scenario evaluated at any time."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        init = scenario.initial
        self._ramps = {k: _Ramp(float(getattr(init, k))) for k in RAMPED}
        self._steps = {
            f.name: _Steps(getattr(init, f.name))
            for f in fields(PhysioState)
            if f.name not in RAMPED
        }
        for ev in scenario.events:
            for key, value in ev.changes:
                if key in RAMPED:
                    self._ramps[key].add(ev.at, float(value), ev.ramp_s)
                else:
                    self._steps[key].add(ev.at, value)
        self.episodes: tuple[Episode, ...] = self._episodes()
        self._episode_starts = [e.start_s for e in self.episodes]

    def value(self, key: str, t: float) -> Any:
        if key in self._ramps:
            return self._ramps[key].value(t)
        return self._steps[key].value(t)

    def state(self, t: float) -> PhysioState:
        return PhysioState(**{f.name: self.value(f.name, t) for f in fields(PhysioState)})

    def steps(self, key: str) -> _Steps:
        return self._steps[key]

    def rhythm_segment(self, t: float) -> tuple[str, float | None]:
        """The rhythm in force at `t` and when it next changes (None: never)."""
        steps = self._steps["rhythm"]
        rhythm = steps.value(t)
        nxt = steps.next_change(t)
        while nxt is not None and steps.value(nxt) == rhythm:
            nxt = steps.next_change(nxt)
        return rhythm, nxt

    def bool_mask(self, key: str, times: np.ndarray, component: int | None = None) -> np.ndarray:
        """Per-sample value of a boolean (or leads-off component) setting."""
        steps = self._steps[key]
        vals = steps.values if component is None else [v[component] for v in steps.values]
        if len(vals) == 1:
            return np.full(times.shape, bool(vals[0]))
        return np.asarray(vals, dtype=bool)[steps.sample(times)]

    def episodes_starting(self, t0: float, t1: float) -> list[Episode]:
        lo = bisect.bisect_left(self._episode_starts, t0)
        hi = bisect.bisect_left(self._episode_starts, t1)
        return list(self.episodes[lo:hi])

    def _episodes(self) -> tuple[Episode, ...]:
        eps: list[Episode] = []
        rhythm = self._steps["rhythm"]
        times = [max(t, 0.0) for t in rhythm.times]
        merged: list[tuple[float, str]] = []
        for t, v in zip(times, rhythm.values, strict=True):
            if merged and merged[-1][1] == v:
                continue
            if merged and merged[-1][0] == t:
                merged[-1] = (t, v)
            else:
                merged.append((t, v))
        for i, (t, v) in enumerate(merged):
            end = merged[i + 1][0] if i + 1 < len(merged) else None
            eps.append(Episode(v, t, end))
        conditions = [
            ("pvc", self._steps["pvc_per_min"].intervals(lambda v: v > 0)),
            ("apnea", self._steps["apnea"].intervals(bool)),
            ("leads_off", self._steps["leads_off"].intervals(any)),
            ("probe_off", self._steps["probe_off"].intervals(bool)),
            ("device_fault", self._steps["device_fault"].intervals(bool)),
            ("desaturation", self._ramps["spo2"].below(DESATURATION_BELOW)),
            ("hypotension", self._ramps["nibp_sys"].below(HYPOTENSION_BELOW)),
        ]
        for kind, intervals in conditions:
            eps.extend(Episode(kind, a, b) for a, b in intervals)
        eps.sort(key=lambda e: (e.start_s, e.kind))
        return tuple(eps)
