"""Values that flow between analysis stages: beats, lead quality, pulses, breaths.

All positions are sample indices on the channel's own device-time grid (sample i was taken at
i / fs seconds), so events are exact and chunk independent; `t_s` is the same in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

BEAT_LABELS = ("N", "V", "Q")
"""Beat classes, AAMI letters: N normal (conducted), V ventricular, Q other / unclassifiable
(noise or artefact that reached the detector). The ECG classifier artifact's labels
normal / ventricular / other map onto these in that order."""


@dataclass(frozen=True, slots=True)
class RPeak:
    """A detected QRS complex, before classification.

    `index` is the R peak on the ECG grid; `amplitude_mv` its QRS peak-to-peak amplitude on the
    lead that showed it best (>= the 0.15 mV floor); `leads` the leads that saw it;
    `reported_at` the first sample index whose arrival allowed the detector to report it
    (index + look-ahead at most).
    """

    index: int
    t_s: float
    amplitude_mv: float
    leads: tuple[str, ...]
    reported_at: int


@dataclass(frozen=True, slots=True)
class Beat:
    """A classified beat. `decided_by` names the classifier ("model:ecg_beat 1.0.0
    onnxruntime-cpu" or "morphology"); `confidence` is its probability for `label` (the
    template correlation for the morphology fallback); `qrs_width_s` NaN when not measured."""

    index: int
    t_s: float
    label: str
    decided_by: str
    confidence: float
    amplitude_mv: float
    qrs_width_s: float = float("nan")
    rr_s: float = float("nan")  # from the previous detected beat; NaN for the first


@dataclass(frozen=True, slots=True)
class LeadQuality:
    """Signal quality of one ECG lead over one analysis window [start, stop) (indices).

    `usable` says whether the lead may be used to detect and classify beats there; `reason` is
    "" when usable, else one of: "leads_off" (device STATUS), "flat", "saturated", "noise"
    (high-frequency), "wander" (baseline), "missing" (no samples arrived).
    """

    lead: str
    start: int
    stop: int
    usable: bool
    reason: str
    noise_mv: float  # high-frequency RMS
    wander_mv: float  # low-frequency peak-to-peak


@dataclass(frozen=True, slots=True)
class EcgWindow:
    """The ECG as a whole over one analysis window: analysable when at least one lead is
    usable; `leads_off` when the device flags every lead that is unusable as off."""

    start: int
    stop: int
    t_s: float
    usable_leads: tuple[str, ...]
    analysable: bool
    leads_off: bool
    quality: tuple[LeadQuality, ...]


@dataclass(frozen=True, slots=True)
class QuietSpan:
    """Early news from the analysis window starting at `start`, sent before the window
    closes: from `start` to `through` the ECG is analysable (judged on that part of the
    window alone) and holds no R peak. Lets a beatless span (asystole) be decided up to
    `through` without waiting for the window to close; the window's own `EcgWindow` follows
    when it closes."""

    start: int
    through: int


@dataclass(frozen=True, slots=True)
class Pulse:
    """A pleth pulse: systolic peak index on the pleth grid, its foot-to-peak amplitude."""

    index: int
    t_s: float
    amplitude: float
    reported_at: int


@dataclass(frozen=True, slots=True)
class Breath:
    """A breath (inspiration onset) on the respiration grid, with its impedance swing."""

    index: int
    t_s: float
    amplitude_ohm: float
    reported_at: int


def seconds_at(index: int, fs: Fraction | int) -> float:
    """`t_s` of sample `index` at `fs` Hz: float(index / fs) without building a Fraction.
    Python's int division is correctly rounded, as Fraction's float() is, so this is the same
    float, a few times cheaper (it runs per chunk and per event on every bed)."""
    return index * fs.denominator / fs.numerator
