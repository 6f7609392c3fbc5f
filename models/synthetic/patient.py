"""Per-patient constants (ECG axis, amplitudes, intervals, variability), drawn from explicit
ranges so training and evaluation can use different ranges as well as different seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True, slots=True)
class ParameterRanges:
    """Uniform (low, high) range for each `PatientParams` field."""

    r_amp_mv: tuple[float, float] = (0.9, 1.5)  # R-wave vector amplitude (≈ R in lead II)
    qrs_axis_deg: tuple[float, float] = (30.0, 75.0)  # frontal-plane QRS axis
    qrs_width_scale: tuple[float, float] = (0.85, 1.15)
    pr_s: tuple[float, float] = (0.13, 0.19)  # P peak to R peak
    p_amp_ratio: tuple[float, float] = (0.08, 0.14)
    t_amp_ratio: tuple[float, float] = (0.18, 0.32)
    rsa_depth: tuple[float, float] = (0.02, 0.05)  # RR modulation by breathing (fraction)
    rr_jitter: tuple[float, float] = (0.01, 0.025)  # random RR variation (SD, fraction)
    pvc_coupling: tuple[float, float] = (0.5, 0.68)  # PVC coupling interval / sinus RR
    pvc_axis_deg: tuple[float, float] = (-120.0, -70.0)
    pvc_amp_ratio: tuple[float, float] = (1.2, 1.7)
    vt_jitter: tuple[float, float] = (0.005, 0.02)
    ptt_s: tuple[float, float] = (0.16, 0.24)  # R peak to pleth pulse foot
    pleth_amp: tuple[float, float] = (0.55, 0.8)
    resp_amp_ohm: tuple[float, float] = (0.5, 0.9)
    resp_jitter: tuple[float, float] = (0.03, 0.08)
    axis_swing_deg: tuple[float, float] = (3.0, 8.0)  # heart-vector rotation with breathing
    vf_freq_hz: tuple[float, float] = (4.8, 6.2)

    def __post_init__(self) -> None:
        for f in fields(self):
            lo, hi = getattr(self, f.name)
            if not lo <= hi:
                raise ValueError(f"ParameterRanges.{f.name}: low {lo} > high {hi}")


DEFAULT_RANGES = ParameterRanges()


@dataclass(frozen=True, slots=True)
class PatientParams:
    """One patient's constants; see `ParameterRanges` for meanings."""

    r_amp_mv: float
    qrs_axis_deg: float
    qrs_width_scale: float
    pr_s: float
    p_amp_ratio: float
    t_amp_ratio: float
    rsa_depth: float
    rr_jitter: float
    pvc_coupling: float
    pvc_axis_deg: float
    pvc_amp_ratio: float
    vt_jitter: float
    ptt_s: float
    pleth_amp: float
    resp_amp_ohm: float
    resp_jitter: float
    axis_swing_deg: float
    vf_freq_hz: float


def draw_patient(
    rng: np.random.Generator, ranges: ParameterRanges = DEFAULT_RANGES
) -> PatientParams:
    """Draw every field uniformly from its range, in field order (stable across versions
    as long as fields are only appended)."""
    values = {}
    for f in fields(ranges):
        lo, hi = getattr(ranges, f.name)
        values[f.name] = float(rng.uniform(lo, hi))
    return PatientParams(**values)
