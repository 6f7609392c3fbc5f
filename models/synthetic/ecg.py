"""ECG morphology: each beat is a sum of Gaussian waves (P, Q, R, S, T) in the manner of
McSharry's ECGSYN, but each wave is a vector in the frontal plane (a dipole with its own
angle). The heart vector H(t) = Σ aₖ·uₖ·exp(-(t-cₖ)²/2σₖ²) is rotated a few degrees with
breathing and projected onto the limb leads (I at 0°, II at 60°, III at 120°), so the three
leads differ in morphology and III = II - I holds by construction (Einthoven).

Timing adapts to the cycle length: T-wave position and width scale with sqrt(RR)
(Bazett-like QT), PR shortens slightly at fast rates. Ventricular beats have no P wave, a
wide (>120 ms) notched QRS along a different axis, and a T wave opposite to the QRS
(discordant).
"""

from __future__ import annotations

import math

import numpy as np

from vigil.models.synthetic.patient import PatientParams
from vigil.models.synthetic.rhythm import ScheduledBeat

COS60 = 0.5
SIN60 = math.sqrt(3.0) / 2.0
SUPPORT_BEFORE_S = 0.45  # a beat's waves start at most this long before its R peak
SUPPORT_AFTER_S = 0.75  # ... and end at most this long after it


def beat_waves(beat: ScheduledBeat, p: PatientParams) -> np.ndarray:
    """Rows (centre s, sigma s, x mV, y mV) of the beat's waves, centres absolute."""
    s = math.sqrt(beat.cycle)
    w = p.qrs_width_scale
    r = p.r_amp_mv * beat.amp
    ax = math.radians(p.qrs_axis_deg)
    if beat.label in {"N", "P"}:
        pr = p.pr_s * (0.8 + 0.2 * min(s, 1.2))
        rows = [(-pr, 0.022, p.p_amp_ratio * r, math.radians(55.0))]
        if beat.label == "N":
            rows += [
                (-0.027 * w, 0.0085 * w, 0.12 * r, ax + math.radians(150.0)),
                (0.0, 0.0105 * w, r, ax),
                (0.027 * w, 0.0095 * w, 0.3 * r, ax + math.radians(170.0)),
                (0.075 + 0.2 * s, 0.01 + 0.045 * s, p.t_amp_ratio * r, ax - math.radians(20.0)),
            ]
    else:  # ventricular
        v = p.pvc_amp_ratio * r
        vx = math.radians(p.pvc_axis_deg)
        rows = [  # widths do not scale with the patient's narrow-QRS width
            (-0.04, 0.02, 0.25 * r, vx + math.pi),
            (0.0, 0.034, v, vx),
            (0.05, 0.024, 0.45 * v, vx + math.radians(40.0)),
            (0.12 + 0.2 * s, 0.015 + 0.06 * s, 0.45 * v, vx + math.pi),
        ]
    arr = np.array(rows, dtype=np.float64)
    out = np.empty_like(arr)
    out[:, 0] = arr[:, 0] + beat.t
    out[:, 1] = arr[:, 1]
    out[:, 2] = arr[:, 2] * np.cos(arr[:, 3])
    out[:, 3] = arr[:, 2] * np.sin(arr[:, 3])
    return out


def heart_vector(times: np.ndarray, waves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Hx, Hy) in mV at `times` from wave rows (see `beat_waves`)."""
    if waves.shape[0] == 0:
        z = np.zeros_like(times)
        return z, z.copy()
    d = (times[None, :] - waves[:, 0:1]) / waves[:, 1:2]
    g = np.exp(-0.5 * d * d)
    return waves[:, 2] @ g, waves[:, 3] @ g


def rotate(hx: np.ndarray, hy: np.ndarray, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(angle), np.sin(angle)
    return hx * c - hy * s, hx * s + hy * c


def limb_leads(hx: np.ndarray, hy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leads I and II (III is derived as II - I after rounding to float32)."""
    return hx, COS60 * hx + SIN60 * hy
