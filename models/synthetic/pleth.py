"""Photoplethysmogram: one pulse per mechanically effective beat.

Model. A beat with stroke s > 0 ejects a pulse whose foot arrives `ptt_s` after the R peak
(40 ms later for ventricular beats, whose activation is slower). The pulse is a systolic
Gaussian (peak 0.10 s after the foot, σ 45 ms) plus a diastolic Gaussian (0.30 s, σ 80 ms,
45 %), which leaves a dicrotic notch between them; both compress at fast rates. Amplitude is
`pleth_amp` · s, so premature beats (short filling) give small pulses and VF/asystole give
none. Output is 0.12 + pulses + 3 % respiratory baseline modulation + noise, about 0..1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from vigil.models.synthetic.patient import PatientParams
from vigil.models.synthetic.rhythm import ScheduledBeat

BASELINE = 0.12
RESP_MODULATION = 0.03
VENTRICULAR_EXTRA_DELAY_S = 0.04
SUPPORT_AFTER_R_S = 1.0  # a pulse is over this long after its R peak
MIN_PULSE_STROKE = 0.15  # smaller strokes are not counted as pulses by the monitor


def pulse_timing(beat: ScheduledBeat, p: PatientParams) -> tuple[float, float]:
    """(foot time, time scale) of the pulse a beat ejects."""
    foot = beat.t + p.ptt_s + (VENTRICULAR_EXTRA_DELAY_S if beat.label == "V" else 0.0)
    scale = min(max(math.sqrt(beat.cycle / 0.85), 0.55), 1.0)
    return foot, scale


def pulse_peak_time(beat: ScheduledBeat, p: PatientParams) -> float:
    foot, scale = pulse_timing(beat, p)
    return foot + 0.10 * scale


def pulse_wave(times: np.ndarray, beats: Iterable[ScheduledBeat], p: PatientParams) -> np.ndarray:
    """Sum of pulses (a.u., each peaking near pleth_amp · stroke) at `times`."""
    rows = []
    for b in beats:
        if b.stroke <= 0.0:
            continue
        foot, scale = pulse_timing(b, p)
        a = p.pleth_amp * b.stroke
        rows.append((foot + 0.10 * scale, 0.045 * scale, a))
        rows.append((foot + 0.30 * scale, 0.080 * scale, 0.45 * a))
    if not rows or len(times) == 0:
        return np.zeros_like(times)
    w = np.asarray(rows)
    d = (times[None, :] - w[:, 0:1]) / w[:, 1:2]
    return w[:, 2] @ np.exp(-0.5 * d * d)
