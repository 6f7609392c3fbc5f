"""1 Hz numerics trends (HR, SpO2, respiration rate, blood pressure) for long windows, fast.

`PatientSimulator` derives numerics from rendered waveforms, which is right for the live
monitor but far too slow for the thousands of 5-minute windows a trend model trains on. This
module draws the same vitals directly at 1 Hz, vectorised over a batch of records, in the
units and display conventions of `numerics` (/min, %, mmHg; integers as a monitor shows
them; NaN = no valid value).

A record is a sum of explicit parts, so every part can be checked and varied on its own:
- a patient baseline drawn from `TrendRanges` (diastolic = systolic - pulse pressure);
- slow physiological drift (an Ornstein-Uhlenbeck process, minutes to tens of minutes);
- a circadian-ish wander (a slow sinusoid with a random phase, hours);
- short-term physiological fluctuation (an AR(1) process, ~10 s) and measurement noise;
- benign arousals (movement, discomfort: HR, BP and RR up for a minute or two), which are
  normal physiology and keep the "normal" class honest;
- short artefacts: SpO2 dropout (NaN) or motion low reading, HR motion spike, talking
  (RR up), leads off (HR and RR NaN), arterial-line flush;
- blood pressure either continuous (arterial line, every second) or non-invasive cuff
  readings held between measurements, as `numerics` does;
- optionally one deterioration (`DETERIORATIONS`) that starts at `onset_s` and moves the
  vitals toward pattern-specific deltas over its ramp.

Time convention: sample k of a record is at k seconds; `onset_s` uses the same origin and may
be negative (the deterioration began before the window). Everything is deterministic by
seed: the same seed, arguments and ranges give bit-identical records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy.signal import lfilter

VITALS = ("hr", "spo2", "resp_rate", "nibp_sys", "nibp_dia")
"""Trend channels, named as the `NumericsSample` fields they stand for."""
UNITS = ("/min", "%", "/min", "mmHg", "mmHg")
HR, SPO2, RR, SYS, DIA = range(5)

BOUNDS = np.array([(20.0, 250.0), (50.0, 100.0), (4.0, 60.0), (40.0, 260.0), (20.0, 160.0)])
"""Hard physiological bounds per vital (those of scenario files); every value is clipped."""

_DRIFT_SD = np.array([4.0, 0.5, 1.2, 6.0, 4.0])  # stationary SD of the slow drift
_DRIFT_TAU_S = np.array([900.0, 1200.0, 900.0, 1200.0, 1200.0])
_WANDER_AMP = np.array([4.0, 0.3, 1.0, 6.0, 4.0])  # circadian-ish sinusoid amplitude
_FLUCT_SD = np.array([1.6, 0.35, 1.0, 2.0, 1.5])  # short-term fluctuation SD
_FLUCT_TAU_S = 8.0
_NOISE_SD = np.array([0.6, 0.3, 0.6, 1.5, 1.2])  # white measurement noise SD
_CUFF_SD = 2.0  # one NIBP reading's error (mmHg), as `numerics`
_AROUSAL = np.array([10.0, 0.0, 3.0, 8.0, 5.0])  # arousal peak deltas at scale 1


@dataclass(frozen=True, slots=True)
class TrendRanges:
    """Uniform (low, high) ranges for each record's parameters.

    Training and evaluation pass different instances (and seeds), so a model's metric is
    measured on patients it never saw. Scales multiply the module's base SDs and amplitudes.
    """

    hr: tuple[float, float] = (58.0, 92.0)  # /min, baseline
    spo2: tuple[float, float] = (95.5, 99.5)  # %
    resp_rate: tuple[float, float] = (12.0, 18.0)  # /min
    nibp_sys: tuple[float, float] = (105.0, 145.0)  # mmHg
    pulse_pressure: tuple[float, float] = (35.0, 55.0)  # mmHg, systolic - diastolic
    drift_scale: tuple[float, float] = (0.5, 1.3)
    wander_scale: tuple[float, float] = (0.3, 1.2)
    wander_period_s: tuple[float, float] = (3.0 * 3600, 8.0 * 3600)
    noise_scale: tuple[float, float] = (0.7, 1.3)
    artefacts_per_hour: tuple[float, float] = (2.0, 8.0)
    arousals_per_hour: tuple[float, float] = (0.0, 3.0)
    arousal_scale: tuple[float, float] = (0.5, 1.2)
    nibp_interval_s: tuple[float, float] = (60.0, 300.0)  # cuff cycle
    arterial_fraction: tuple[float, float] = (0.3, 0.3)  # P(continuous arterial BP)
    severity: tuple[float, float] = (0.6, 1.0)  # deterioration deltas scale
    onset_progress: tuple[float, float] = (0.5, 1.5)  # window end after onset, in ramps

    def __post_init__(self) -> None:
        for f in fields(self):
            lo, hi = getattr(self, f.name)
            if not lo <= hi:
                raise ValueError(f"TrendRanges.{f.name}: low {lo} > high {hi}")


DEFAULT_TREND_RANGES = TrendRanges()


@dataclass(frozen=True, slots=True)
class Deterioration:
    """A deterioration pattern: deltas per vital (order of `VITALS`) reached at full
    severity at the end of a ramp drawn from `ramp_s`, starting at the onset."""

    name: str
    description: str
    deltas: tuple[float, float, float, float, float]
    ramp_s: tuple[float, float]


DETERIORATIONS: dict[str, Deterioration] = {
    d.name: d
    for d in (
        Deterioration(
            "sepsis",
            "HR and RR up, BP down, SpO2 slightly down over tens of minutes",
            (35.0, -3.0, 10.0, -38.0, -22.0),
            (1200.0, 3600.0),
        ),
        Deterioration(
            "respiratory_failure",
            "SpO2 down, RR up, HR up, BP slightly up",
            (20.0, -12.0, 14.0, 10.0, 5.0),
            (900.0, 2400.0),
        ),
        Deterioration(
            "haemorrhage",
            "HR up, BP down with a narrowing pulse pressure, RR up",
            (40.0, -1.0, 6.0, -40.0, -18.0),
            (600.0, 1800.0),
        ),
        Deterioration(
            "opioid",
            "respiratory depression: RR and SpO2 down, HR and BP slightly down",
            (-10.0, -10.0, -8.0, -12.0, -6.0),
            (600.0, 1800.0),
        ),
        Deterioration(
            "bradycardia",
            "bradycardic decline: HR falls, BP follows",
            (-35.0, -1.0, -1.0, -25.0, -12.0),
            (600.0, 1800.0),
        ),
    )
}
PATTERNS = ("normal", *DETERIORATIONS)

ARTEFACTS = ("spo2_dropout", "spo2_motion", "hr_motion", "talking", "leads_off", "art_flush")


@dataclass(frozen=True, slots=True)
class TrendBatch:
    """Records and their ground truth.

    `values` (n, T, 5) in `UNITS`, NaN = no valid value; `pattern[i]` is "normal" or a key of
    `DETERIORATIONS`; `onset_s[i]` its onset (NaN for normal); `artefact` (n, T, 5) marks
    samples an artefact changed; `arterial[i]` says whether BP is continuous.
    """

    values: np.ndarray
    pattern: tuple[str, ...]
    onset_s: np.ndarray
    artefact: np.ndarray
    arterial: np.ndarray

    def __len__(self) -> int:
        return len(self.pattern)


def _uniform(rng: np.random.Generator, rng_range: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(rng_range[0], rng_range[1], size=n)


def _ar1(rng: np.random.Generator, sd: np.ndarray, tau_s: float, n: int, t: int) -> np.ndarray:
    """Stationary AR(1) rows (n, t) with per-row SD `sd`: started from its stationary law,
    so a record needs no burn-in."""
    phi = math.exp(-1.0 / tau_s)
    e = rng.standard_normal((n, t))
    x0 = rng.standard_normal(n)
    out = lfilter([math.sqrt(1.0 - phi * phi)], [1.0, -phi], e, axis=-1, zi=(phi * x0)[:, None])
    return out[0] * sd[:, None]


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _bump(t: np.ndarray, start: float, dur: float) -> np.ndarray:
    """A raised-cosine pulse in [start, start + dur): how an arousal comes and goes."""
    u = (t - start) / dur
    return np.where((u >= 0) & (u < 1), 0.5 - 0.5 * np.cos(2 * np.pi * np.clip(u, 0, 1)), 0.0)


def _patterns(pattern: str | Sequence[str] | None, n: int) -> tuple[str, ...]:
    if pattern is None:
        return ("normal",) * n
    names = (pattern,) * n if isinstance(pattern, str) else tuple(pattern)
    if len(names) != n:
        raise ValueError(f"{len(names)} patterns for {n} records")
    for name in names:
        if name not in PATTERNS:
            raise ValueError(f"unknown trend pattern {name!r}; known: {', '.join(PATTERNS)}")
    return names


def generate_trends(
    seed: int | np.random.Generator,
    n: int,
    duration_s: int,
    pattern: str | Sequence[str] | None = None,
    onset_s: float | Sequence[float] | np.ndarray | None = None,
    *,
    ranges: TrendRanges = DEFAULT_TREND_RANGES,
) -> TrendBatch:
    """`n` records of `duration_s` 1 Hz samples.

    `pattern`: None or "normal" for normal records, a `DETERIORATIONS` key, or one name per
    record. `onset_s`: when each deterioration starts (scalar or per record); None draws it
    so that the record ends `ranges.onset_progress` ramps after onset (0.5: half-way to the
    full deltas; what a window "after onset" means). Ignored for normal records.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    names = _patterns(pattern, n)
    lead = math.ceil(ranges.nibp_interval_s[1])  # a past, so sample 0 shows a held reading
    total = duration_s + lead
    t = np.arange(total, dtype=np.float64) - lead  # record seconds; sample 0 at index `lead`

    # -- per-record parameters, drawn in a fixed order (determinism) --
    sys0 = _uniform(rng, ranges.nibp_sys, n)
    base = np.stack(
        [
            _uniform(rng, ranges.hr, n),
            _uniform(rng, ranges.spo2, n),
            _uniform(rng, ranges.resp_rate, n),
            sys0,
            sys0 - _uniform(rng, ranges.pulse_pressure, n),
        ],
        axis=1,
    )
    drift_scale = _uniform(rng, ranges.drift_scale, n)
    wander_scale = _uniform(rng, ranges.wander_scale, n)
    period = _uniform(rng, ranges.wander_period_s, n)
    phase = rng.uniform(0.0, 2 * np.pi, size=n)
    noise_scale = _uniform(rng, ranges.noise_scale, n)
    artefact_rate = _uniform(rng, ranges.artefacts_per_hour, n)
    arousal_rate = _uniform(rng, ranges.arousals_per_hour, n)
    arousal_scale = _uniform(rng, ranges.arousal_scale, n)
    cuff_interval = _uniform(rng, ranges.nibp_interval_s, n)
    cuff_phase = rng.uniform(0.0, 1.0, size=n) * cuff_interval
    arterial = rng.uniform(size=n) < _uniform(rng, ranges.arterial_fraction, n)
    severity = _uniform(rng, ranges.severity, n)
    ramp_u = rng.uniform(size=n)
    progress = _uniform(rng, ranges.onset_progress, n)

    # -- latent physiology (n, 5, total) --
    wander = np.sin(2 * np.pi * t[None, :] / period[:, None] + phase[:, None])
    x = np.empty((n, 5, total))
    for v in range(5):
        drift = _ar1(rng, _DRIFT_SD[v] * drift_scale, _DRIFT_TAU_S[v], n, total)
        x[:, v] = base[:, v, None] + drift + _WANDER_AMP[v] * wander_scale[:, None] * wander
    # diastolic pressure follows systolic drift partly, so pulse pressure stays plausible
    x[:, DIA] += 0.4 * (x[:, SYS] - base[:, SYS, None])
    fluct = np.stack(
        [_ar1(rng, _FLUCT_SD[v] * noise_scale, _FLUCT_TAU_S, n, total) for v in range(5)], 1
    )
    x += fluct
    x[:, SPO2] -= 0.5 * np.abs(fluct[:, SPO2])  # desaturation noise is skewed downwards

    for i in range(n):
        for _ in range(rng.poisson(arousal_rate[i] * total / 3600.0)):
            start, dur = rng.uniform(t[0], t[-1]), rng.uniform(30.0, 180.0)
            x[i] += _AROUSAL[:, None] * arousal_scale[i] * _bump(t, start, dur)[None, :]

    onsets = np.full(n, np.nan)
    for i, name in enumerate(names):
        if name == "normal":
            continue
        det = DETERIORATIONS[name]
        ramp = det.ramp_s[0] + ramp_u[i] * (det.ramp_s[1] - det.ramp_s[0])
        if onset_s is None:
            onsets[i] = duration_s - progress[i] * ramp
        else:
            onsets[i] = float(np.broadcast_to(np.asarray(onset_s, dtype=float), (n,))[i])
        shape = _smoothstep((t - onsets[i]) / ramp)
        x[i] += np.asarray(det.deltas)[:, None] * severity[i] * shape[None, :]

    # -- measurement: cuff or arterial BP, noise, artefacts, quantisation --
    x += rng.standard_normal(x.shape) * (_NOISE_SD[None, :, None] * noise_scale[:, None, None])
    x = np.clip(x, BOUNDS[None, :, 0, None], BOUNDS[None, :, 1, None])
    cuff_err = rng.normal(0.0, _CUFF_SD, size=(n, 2, total)).astype(np.float32)
    for i in np.flatnonzero(~arterial):
        k = np.floor((t - cuff_phase[i]) / cuff_interval[i])  # last cuff cycle index
        at = np.clip((cuff_phase[i] + k * cuff_interval[i]).astype(int) + lead, 0, total - 1)
        x[i, SYS:] = x[i, SYS:][:, at] + cuff_err[i][:, at]  # held since the last reading
    mask = np.zeros(x.shape, dtype=bool)
    for i in range(n):
        for _ in range(rng.poisson(artefact_rate[i] * total / 3600.0)):
            _artefact(rng, x[i], mask[i], bool(arterial[i]), total)

    x = np.clip(x, BOUNDS[None, :, 0, None], BOUNDS[None, :, 1, None])
    x = np.round(x)  # monitors display integers for all five
    x[:, DIA] = np.minimum(x[:, DIA], x[:, SYS] - 5)
    values = np.ascontiguousarray(x[:, :, lead:].transpose(0, 2, 1))
    return TrendBatch(
        values=values,
        pattern=names,
        onset_s=onsets,
        artefact=np.ascontiguousarray(mask[:, :, lead:].transpose(0, 2, 1)),
        arterial=arterial,
    )


def _artefact(
    rng: np.random.Generator, x: np.ndarray, mask: np.ndarray, arterial: bool, total: int
) -> None:
    """Overwrite one short artefact into one record's (5, total) values, marking it."""
    kind = ARTEFACTS[rng.integers(len(ARTEFACTS) - (0 if arterial else 1))]
    start = int(rng.integers(total))
    if kind == "spo2_dropout":
        sl, vs = slice(start, start + int(rng.integers(5, 40))), [SPO2]
        x[SPO2, sl] = np.nan
    elif kind == "spo2_motion":
        sl, vs = slice(start, start + int(rng.integers(5, 20))), [SPO2, HR]
        x[SPO2, sl] -= rng.uniform(4.0, 15.0)
        x[HR, sl] += rng.normal(0.0, 8.0, size=x[HR, sl].shape)
    elif kind == "hr_motion":
        sl, vs = slice(start, start + int(rng.integers(3, 15))), [HR]
        x[HR, sl] += rng.uniform(20.0, 60.0)
    elif kind == "talking":
        sl, vs = slice(start, start + int(rng.integers(10, 40))), [RR]
        x[RR, sl] += rng.uniform(6.0, 18.0) + rng.normal(0.0, 3.0, size=x[RR, sl].shape)
    elif kind == "leads_off":
        sl, vs = slice(start, start + int(rng.integers(5, 60))), [HR, RR]
        x[HR, sl] = np.nan
        x[RR, sl] = np.nan
    else:  # art_flush: pressurised flush of an arterial line
        sl, vs = slice(start, start + int(rng.integers(3, 8))), [SYS, DIA]
        x[SYS, sl] = rng.uniform(220.0, 260.0)
        x[DIA, sl] = rng.uniform(180.0, 220.0)
    for v in vs:
        mask[v, sl] = True


def trend_record(
    seed: int,
    duration_s: int,
    pattern: str = "normal",
    onset_s: float | None = None,
    ranges: TrendRanges = DEFAULT_TREND_RANGES,
) -> TrendBatch:
    """One long record (a batch of one): for demos, plots and scenario-like tests."""
    if pattern != "normal" and onset_s is None:
        onset_s = duration_s / 3.0
    return generate_trends(seed, 1, duration_s, pattern, onset_s, ranges=ranges)
