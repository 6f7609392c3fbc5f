"""Breathing: when each breath starts, and the impedance-pneumography waveform it makes.

Model. Breath intervals are 60/resp_rate · (1 + jitter·N(0,1)). Each breath is a smooth
raised-cosine inspiration over the first 40 % of its interval and a raised-cosine expiration
over the rest, amplitude `resp_amp_ohm` ± 8 %, so the impedance trace is continuous and
returns to baseline between breaths. During apnea no breath starts (one already under way
completes); breathing resumes exactly when the apnea ends. The breathing phase also drives
respiratory sinus arrhythmia, the ECG axis swing and the pleth baseline.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from vigil.models.synthetic.patient import PatientParams
from vigil.models.synthetic.timeline import Timeline

INSPIRATION_FRACTION = 0.4


@dataclass(frozen=True, slots=True)
class Breath:
    onset: float
    duration: float
    amp: float


class BreathScheduler:
    """Generates breaths forward in time; keeps only those still needed for lookups."""

    def __init__(
        self, timeline: Timeline, patient: PatientParams, rng: np.random.Generator
    ) -> None:
        self._tl = timeline
        self._p = patient
        self._rng = rng
        self.recent: deque[Breath] = deque()
        self._next: float | None = (
            float(rng.uniform(0.0, 1.0)) * 60.0 / timeline.value("resp_rate", 0.0)
        )

    def advance(self, until: float) -> list[Breath]:
        """All breaths with onset < `until` not yet returned, in order."""
        out: list[Breath] = []
        apnea = self._tl.steps("apnea")
        while self._next is not None and self._next < until:
            t = self._next
            if apnea.value(t):
                nxt = apnea.next_change(t)
                while nxt is not None and apnea.value(nxt):
                    nxt = apnea.next_change(nxt)
                self._next = nxt
                continue
            jitter = self._p.resp_jitter * float(np.clip(self._rng.standard_normal(), -3, 3))
            duration = min(max(60.0 / self._tl.value("resp_rate", t) * (1.0 + jitter), 0.8), 20.0)
            amp = self._p.resp_amp_ohm * float(np.clip(self._rng.normal(1.0, 0.08), 0.7, 1.3))
            breath = Breath(t, duration, amp)
            self.recent.append(breath)
            out.append(breath)
            self._next = t + duration
        return out

    def phase_at(self, t: float) -> float | None:
        """Fraction of the current breath elapsed at t; None when not breathing."""
        for b in reversed(self.recent):
            if b.onset <= t:
                return (t - b.onset) / b.duration if t < b.onset + b.duration else None
        return None

    def prune(self, before: float) -> None:
        while self.recent and self.recent[0].onset + self.recent[0].duration < before:
            self.recent.popleft()


def breath_wave(
    times: np.ndarray, breaths: deque[Breath] | list[Breath], normalise: bool = False
) -> np.ndarray:
    """Impedance change (ohm) at `times`; with `normalise`, each breath peaks at 1."""
    out = np.zeros_like(times)
    if len(times) == 0:
        return out
    lo, hi = times[0], times[-1]
    for b in breaths:
        if b.onset > hi or b.onset + b.duration < lo:
            continue
        tau = times - b.onset
        ti = INSPIRATION_FRACTION * b.duration
        te = b.duration - ti
        amp = 1.0 if normalise else b.amp
        insp = (tau >= 0) & (tau < ti)
        exp_ = (tau >= ti) & (tau < b.duration)
        out[insp] += amp * 0.5 * (1.0 - np.cos(math.pi * tau[insp] / ti))
        out[exp_] += amp * 0.5 * (1.0 + np.cos(math.pi * (tau[exp_] - ti) / te))
    return out
