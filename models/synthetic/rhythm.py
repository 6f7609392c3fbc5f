"""The beat scheduler: when each QRS complex (or lone P wave) happens, and what kind it is.

Model. A sinus node fires every cycle c = 60/rate · (1 + rsa·sin 2πφ + jitter·N(0,1)), where φ
is the breathing phase (respiratory sinus arrhythmia) and `rate` the scenario's ramped rate.
With probability pvc_per_min / rate per cycle a PVC follows a sinus beat after
`pvc_coupling`·c; the sinus beat due during the PVC's refractory period is not conducted,
so the next sinus beat comes two cycles after the last one (full compensatory pause).
VT fires ventricular beats at the scenario rate with a small jitter. VF and asystole fire no
QRS (asystole may keep P waves). R peaks are snapped to the ECG sample grid, so a beat's
time is exactly ecg_index / ecg_rate and belongs to exactly one block of any partition.

The scheduler only moves forward and keeps O(1) state; the caller keeps the few recent beats
it still needs for drawing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from vigil.models.synthetic.patient import PatientParams
from vigil.models.synthetic.timeline import Timeline

SINUS_FAMILY = frozenset({"sinus", "brady", "tachy"})
MIN_RR_S = 0.18  # absolute refractory floor; 300/min is 0.2 s
FILL_TAU_S = 0.25  # ventricular filling time constant for pulse amplitude


@dataclass(frozen=True, slots=True)
class ScheduledBeat:
    """One activation. label: 'N' conducted sinus beat, 'V' ventricular beat, 'P' atrial
    activation without QRS. `cycle` sets the beat's wave timing (QT adapts to it); `stroke`
    is the relative pulse volume it ejects (0: none)."""

    t: float
    index: int
    label: str
    rr: float
    cycle: float
    amp: float
    stroke: float


def _filling(rr: float) -> float:
    return 1.0 - math.exp(-max(rr - 0.15, 0.0) / FILL_TAU_S)


_FILL_REF = _filling(0.8)


def stroke_for(rr: float, label: str, after_pvc: bool) -> float:
    """Relative stroke volume: filling time limits it after short RR (premature beats, fast
    VT); ventricular activation is less effective; post-extrasystolic beats are stronger."""
    if label == "P":
        return 0.0
    fill = _filling(rr) / _FILL_REF if math.isfinite(rr) else 1.0
    fill = min(fill, 1.1)
    if label == "V":
        fill *= 0.7
    elif after_pvc:
        fill *= 1.1
    return fill


class BeatScheduler:
    """Generates beats in time order, on demand up to a horizon."""

    def __init__(
        self,
        timeline: Timeline,
        patient: PatientParams,
        rng: np.random.Generator,
        ecg_rate: Fraction,
        resp_phase: Callable[[float], float | None],
    ) -> None:
        self._tl = timeline
        self._p = patient
        self._rng = rng
        self._fs_num = ecg_rate.numerator
        self._fs_den = ecg_rate.denominator
        self._resp_phase = resp_phase
        self._last_qrs_t: float | None = None
        self._last_index = -1
        self._last_label = ""
        self._after_pvc_t = 0.0
        self._rhythm, self._seg_end = timeline.rhythm_segment(0.0)
        self._next_t: float | None = None
        self._next_label = "N"
        self._enter(0.0, initial=True)

    # -- cycle lengths -------------------------------------------------------------------
    def _sinus_cycle(self, t: float) -> float:
        base = 60.0 / float(self._tl.value("rate", t))
        phase = self._resp_phase(t)
        rsa = 0.0 if phase is None else self._p.rsa_depth * math.sin(2 * math.pi * phase)
        jitter = self._p.rr_jitter * float(np.clip(self._rng.standard_normal(), -3, 3))
        return max(base * (1.0 + rsa + jitter), MIN_RR_S)

    def _vt_cycle(self, t: float) -> float:
        base = 60.0 / float(self._tl.value("rate", t))
        jitter = self._p.vt_jitter * float(np.clip(self._rng.standard_normal(), -3, 3))
        return max(base * (1.0 + jitter), MIN_RR_S)

    # -- segment handling ------------------------------------------------------------------
    def _enter(self, t: float, initial: bool = False, previous: str = "") -> None:
        rhythm = self._rhythm
        last = self._last_qrs_t
        if rhythm in SINUS_FAMILY:
            self._next_label = "N"
            if initial or last is None:
                self._next_t = t + float(self._rng.uniform(0.15, 0.9)) * self._sinus_cycle(t)
            elif previous in SINUS_FAMILY:
                pass  # the sinus clock runs on; only the name of the rhythm changed
            else:
                self._next_t = max(t, last + self._sinus_cycle(t))
        elif rhythm == "vt":
            self._next_label = "V"
            self._next_t = t if last is None else max(t, last + MIN_RR_S)
        elif rhythm == "asystole" and self._tl.value("p_waves", t):
            self._next_label = "P"
            self._next_t = t + float(self._rng.uniform(0.3, 1.0)) * self._sinus_cycle(t)
        else:
            self._next_t = None

    def advance(self, until: float) -> list[ScheduledBeat]:
        """All beats with time < `until` not yet returned, in order."""
        out: list[ScheduledBeat] = []
        while True:
            seg_end = self._seg_end
            if self._next_t is None or (seg_end is not None and self._next_t >= seg_end):
                if seg_end is None or seg_end >= until:
                    return out
                previous = self._rhythm
                self._rhythm, self._seg_end = self._tl.rhythm_segment(seg_end)
                self._enter(seg_end, previous=previous)
                continue
            if self._next_t >= until:
                return out
            beat = self._commit()
            if beat is not None:
                out.append(beat)

    def _commit(self) -> ScheduledBeat | None:
        t_raw = self._next_t
        assert t_raw is not None
        label = self._next_label
        index = math.floor(t_raw * self._fs_num / self._fs_den + 0.5)
        self._schedule_next(t_raw, label)
        if index <= self._last_index:  # two activations on one sample: keep the first
            return None
        t = index * self._fs_den / self._fs_num
        self._last_index = index
        amp = float(np.clip(self._rng.normal(1.0, 0.03), 0.85, 1.15))
        if label == "P":
            return ScheduledBeat(
                t, index, "P", math.nan, 60.0 / self._tl.value("rate", t), amp, 0.0
            )
        rr = math.nan if self._last_qrs_t is None else t - self._last_qrs_t
        cycle = rr if math.isfinite(rr) else 60.0 / float(self._tl.value("rate", t))
        stroke = stroke_for(rr, label, self._last_label == "V")
        self._last_qrs_t = t
        self._last_label = label
        return ScheduledBeat(t, index, label, rr, min(max(cycle, 0.2), 2.0), amp, stroke)

    def _schedule_next(self, t: float, label: str) -> None:
        rhythm = self._rhythm
        if rhythm in SINUS_FAMILY:
            if label == "V":  # a PVC: resume with the sinus beat after the blocked one
                self._next_t, self._next_label = self._after_pvc_t, "N"
                return
            cycle = self._sinus_cycle(t)
            p_pvc = min(0.5, float(self._tl.value("pvc_per_min", t)) / self._tl.value("rate", t))
            if p_pvc > 0 and self._rng.random() < p_pvc:
                coupled = t + max(self._p.pvc_coupling * cycle, MIN_RR_S)
                self._after_pvc_t = t + cycle + self._sinus_cycle(t + cycle)
                self._next_t, self._next_label = coupled, "V"
            else:
                self._next_t, self._next_label = t + cycle, "N"
        elif rhythm == "vt":
            self._next_t, self._next_label = t + self._vt_cycle(t), "V"
        else:  # asystole with P waves
            self._next_t, self._next_label = t + self._sinus_cycle(t), "P"
