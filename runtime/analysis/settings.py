"""Per-bed analysis settings, with the defaults of CLINICAL.md.

Plain frozen dataclasses: the runtime's TOML configuration (next issue) builds them, tests
and `vigil analyze --config` too. Every number has a unit in its name or comment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Limit:
    """Low/high alarm limits of one numeric (None: no limit on that side).

    `hysteresis` is in the numeric's unit: a condition that started below `low` ends only when
    the value is back above `low + hysteresis` (above `high`: below `high - hysteresis`).
    `delay_s` is the condition delay: the value must be beyond the limit that long first.
    """

    low: float | None
    high: float | None
    hysteresis: float
    delay_s: float = 0.0


DEFAULT_LIMITS: dict[str, Limit] = {
    "hr": Limit(50.0, 120.0, 2.0),
    "pulse_rate": Limit(50.0, 120.0, 2.0),
    "spo2": Limit(90.0, None, 1.0, delay_s=15.0),
    "nibp_sys": Limit(90.0, 160.0, 2.0),
    "nibp_dia": Limit(50.0, 90.0, 2.0),
    "nibp_mean": Limit(60.0, 110.0, 2.0),
    "resp_rate": Limit(8.0, 30.0, 1.0),
    "temp": Limit(35.0, 39.0, 0.1),
}
"""Adult defaults (CLINICAL.md). Keys are the protocol's numeric field names."""

LIMIT_KINDS = {
    "hr": "hr",
    "pulse_rate": "pulse",
    "spo2": "spo2",
    "nibp_sys": "nibp_sys",
    "nibp_dia": "nibp_dia",
    "nibp_mean": "nibp_mean",
    "resp_rate": "resp",
    "temp": "temp",
}
"""Numeric field -> condition kind prefix: a low HR is `hr_low`, a high pulse `pulse_high`."""


@dataclass(frozen=True, slots=True)
class ArrhythmiaSettings:
    asystole_s: float = 4.0  # no QRS for this long (configurable 3-10 s)
    vf_s: float = 4.0  # fibrillatory waveform for this long
    vt_min_beats: int = 5
    vt_min_rate: float = 100.0  # /min
    pause_s: float = 2.5  # no beat for this long (1.5-3.0 s)
    pvc_per_min_limit: float = 10.0
    extreme_brady_below_low: float = 10.0  # /min below the HR low limit ...
    extreme_brady_floor: float = 30.0  # ... but never below this
    extreme_tachy_above_high: float = 20.0  # /min above the HR high limit ...
    extreme_tachy_cap: float = 180.0  # ... but never above this
    hr_average_beats: int = 8  # HR = 60 / mean of the last RR intervals
    unanalysable_s: float = 3.0  # ECG unanalysable this long -> technical condition


@dataclass(frozen=True, slots=True)
class RespirationSettings:
    apnea_s: float = 20.0


@dataclass(frozen=True, slots=True)
class News2Settings:
    scale: int = 1  # SpO2 scale 1, or 2 (hypercapnic respiratory failure, target 88-92 %)
    on_oxygen: bool = False
    consciousness: str = "alert"  # alert | confusion | voice | pain | unresponsive
    period_s: float = 60.0


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Where the reference models' artifacts live (None: the shipped ones) and how to run
    them. `enabled=False` runs the rule-based path only. A call that fails or outlasts
    `inference_timeout_s` moves the model to the next backend (`backends.fallback`)."""

    ecg_beat: Path | None = None
    vitals_ae: Path | None = None
    enabled: bool = True
    backends: tuple[str, ...] = ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu")
    precision: str = "fp32"
    intra_op_threads: int = 1
    inference_timeout_s: float | None = None  # a call slower than this fails over (None: no bound)


@dataclass(frozen=True, slots=True)
class CustomDetectorSettings:
    """A bring-your-own model turned into conditions by configuration alone.

    `source` is what feeds it: "ecg:LEAD" (a window of that lead centred on each beat, or
    every `stride_s` when no beats), or "numerics" (the last `window` 1 Hz samples of
    `fields`). The condition fires when `output`[`index`] compared by `compare` ("above" or
    "below") to `threshold` holds.
    """

    name: str
    artifact: Path
    source: str
    output: str
    threshold: float
    label: str
    priority: str = "low"
    index: int = 0
    compare: str = "above"
    fields: tuple[str, ...] = ()
    stride_s: float = 1.0


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Everything one bed's analysis needs to know besides its data."""

    bed: str = "bed"
    limits: dict[str, Limit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    arrhythmia: ArrhythmiaSettings = ArrhythmiaSettings()
    respiration: RespirationSettings = RespirationSettings()
    news2: News2Settings = News2Settings()
    models: ModelSettings = ModelSettings()
    custom_detectors: tuple[CustomDetectorSettings, ...] = ()
    desat_spo2: float = 80.0  # SpO2 at or below this is a high-priority desaturation
    fusion: bool = True  # cross-channel false-alarm rules (fusion.py)

    def limit(self, name: str) -> Limit:
        return self.limits.get(name, Limit(None, None, 0.0))


def finite(value: float) -> bool:
    return isinstance(value, float | int) and math.isfinite(value)
