"""Labelled beat windows cut from the shared synthesizer (numpy only: no torch here).

Every window comes from a `PatientSimulator` recording of lead II at the monitor's 500 Hz,
resampled to 250 Hz by averaging sample pairs (`resample`), and is labelled from the
recording's ground truth, never from a detector:

- `normal` / `ventricular`: centred on a ground-truth beat ('N' / 'V'), moved by a random
  offset because in use the centre comes from an R-peak detector: up to ±20 ms
  (`JITTER_SAMPLES`, the specified tolerance) in evaluation, up to ±40 ms in training
  (`TRAIN_JITTER_SAMPLES`; trained at ±20 ms only, the model called normal beats `other`
  from 32 ms on). Sinus recordings with isolated PVCs (premature, wide, with
  a compensatory pause), and sinus-then-VT recordings (runs of ventricular beats, which the
  VT alarm needs classified as ventricular), under moderate noise.
- `other`: where a detector would fire wrongly. Windows centred at least 150 ms (plus the
  jitter) from every QRS in recordings with heavy electrode-motion, muscle, mains or
  baseline noise, or in clean ones (T waves, the baseline between beats); anywhere in
  asystole under noise (P waves may be present); and on the flat 0 mV line of a lead II
  that came off (the ground-truth heart keeps beating there).

Training and evaluation use different `DataRanges` (patient morphology from different
`ParameterRanges`, different rate and noise ranges) and disjoint recording seeds, so the
held-out metric is measured on patients and noise the model never saw.

Normalisation (`normalise`): subtract each window's median, then clip to ±5 mV; no scaling.
A per-window amplitude scale would hide what makes a PVC a PVC (its size relative to the
sinus beats in the same window stays, but its absolute size in mV and the flat line of
leads-off would be lost), so values stay in mV. The clip only touches artefacts (lead II
QRS complexes here stay below 3.5 mV) and gives INT8 a symmetric input range: with heavy
motion artefacts the calibrated range was about −19 to +17 mV, which put the uint8 zero
point at 157 and made ONNX Runtime's u8×s8 convolution saturate on this CPU (every window
came out `other`); with the clip the zero point is 128 and the INT8 model matches FP32.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from vigil.models.ecg_beat.spec import (
    CLIP_MV,
    DECIMATION,
    JITTER_SAMPLES,
    LABELS,
    R_PEAK_INDEX,
    SAMPLE_RATE_HZ,
    TRAIN_JITTER_SAMPLES,
    WINDOW_SAMPLES,
)
from vigil.models.synthetic import (
    DEFAULT_RANGES,
    Event,
    ParameterRanges,
    PatientSimulator,
    PhysioState,
    Scenario,
)

NORMAL, VENTRICULAR, OTHER = range(len(LABELS))
BEAT_LABELS = {"N": NORMAL, "V": VENTRICULAR}
OFF_BEAT_MIN_S = 0.15  # an `other` window's centre is this far (plus any jitter) from a QRS
LEAD_ROW = 1  # row of lead II in `SignalBlock.ecg`

Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class DataRanges:
    """Everything drawn per recording: patient morphology (`patient`), rhythm, and noise.

    `baseline_mv` ... `mains_mv` are the moderate noise under which beats are labelled;
    `heavy_*` the levels of noise-only (`other`) recordings. The gap between the two keeps
    labels unambiguous: a beat buried in 3 mV of electrode motion is not labelled at all.
    `seed_base` offsets recording seeds so training and evaluation never share one.
    """

    name: str
    seed_base: int
    patient: ParameterRanges = DEFAULT_RANGES
    sinus_rate: Range = (45.0, 130.0)
    vt_rate: Range = (110.0, 200.0)
    pvc_per_min: Range = (4.0, 24.0)
    baseline_mv: Range = (0.02, 0.3)
    emg_mv: Range = (0.005, 0.06)
    motion_mv: Range = (0.0, 0.3)
    motion_per_min: Range = (0.0, 6.0)
    mains_mv: Range = (0.0, 0.08)
    heavy_baseline_mv: Range = (0.4, 1.2)
    heavy_emg_mv: Range = (0.15, 0.5)
    heavy_motion_mv: Range = (0.8, 3.0)
    heavy_motion_per_min: Range = (20.0, 50.0)
    heavy_mains_mv: Range = (0.3, 1.0)


TRAIN_RANGES = DataRanges(name="train", seed_base=0)
EVAL_RANGES = DataRanges(
    name="eval",
    seed_base=50_000_000,
    patient=ParameterRanges(
        r_amp_mv=(0.75, 1.7),
        qrs_axis_deg=(15.0, 85.0),
        qrs_width_scale=(0.8, 1.2),
        pr_s=(0.12, 0.21),
        p_amp_ratio=(0.06, 0.16),
        t_amp_ratio=(0.15, 0.36),
        rsa_depth=(0.01, 0.06),
        rr_jitter=(0.01, 0.035),
        pvc_coupling=(0.45, 0.72),
        pvc_axis_deg=(-135.0, -60.0),
        pvc_amp_ratio=(1.1, 1.9),
        vt_jitter=(0.005, 0.03),
    ),
    sinus_rate=(40.0, 150.0),
    vt_rate=(100.0, 220.0),
    pvc_per_min=(2.0, 30.0),
    baseline_mv=(0.05, 0.4),
    emg_mv=(0.01, 0.08),
    motion_mv=(0.0, 0.4),
    motion_per_min=(0.0, 8.0),
    mains_mv=(0.0, 0.12),
    heavy_baseline_mv=(0.5, 1.5),
    heavy_emg_mv=(0.12, 0.6),
    heavy_motion_mv=(0.6, 4.0),
    heavy_motion_per_min=(15.0, 60.0),
    heavy_mains_mv=(0.25, 1.5),
)


@dataclass(frozen=True, slots=True)
class SetSize:
    """How many recordings of each kind, and how long (s)."""

    sinus: int
    vt: int
    noisy: int
    asystole: int
    leads_off: int
    sinus_s: int = 60
    vt_s: int = 40
    noisy_s: int = 40
    asystole_s: int = 30
    leads_off_s: int = 20
    off_beat_every_s: float = 3.0  # clean off-beat `other` windows in sinus/VT recordings

    def scaled(self, factor: float) -> SetSize:
        """Fewer (or more) recordings of every kind, at least one each (for quick runs)."""

        def n(count: int) -> int:
            return max(1, round(count * factor))

        return SetSize(
            n(self.sinus),
            n(self.vt),
            n(self.noisy),
            n(self.asystole),
            n(self.leads_off),
            self.sinus_s,
            self.vt_s,
            self.noisy_s,
            self.asystole_s,
            self.leads_off_s,
            self.off_beat_every_s,
        )

    def kinds(self) -> Iterator[tuple[str, int]]:
        """(kind, duration_s) of every recording, in a fixed order."""
        for kind in ("sinus", "vt", "noisy", "asystole", "leads_off"):
            for _ in range(getattr(self, kind)):
                yield kind, getattr(self, f"{kind}_s")


TRAIN_SIZE = SetSize(sinus=160, vt=40, noisy=80, asystole=40, leads_off=8)
EVAL_SIZE = SetSize(
    sinus=32,
    vt=12,
    noisy=16,
    asystole=10,
    leads_off=3,
    sinus_s=40,
    vt_s=30,
    noisy_s=20,
    asystole_s=20,
)
SEED_STRIDE = 100_000  # recording seeds of one `seed` are seed_base + seed * stride + i


@dataclass(frozen=True, slots=True)
class Recording:
    """Lead II at 250 Hz (mV) with its ground-truth QRS positions and the windows cut from it
    (`centres` at 250 Hz before jitter, `labels` as indices into `LABELS`)."""

    kind: str
    seed: int
    signal: np.ndarray
    beat_index: np.ndarray
    beat_label: tuple[str, ...]
    centres: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True, slots=True)
class WindowSet:
    """Windows as centres into one concatenated signal, so jitter can be re-drawn each
    epoch without re-rendering; `cut` turns them into model inputs."""

    signal: np.ndarray
    centres: np.ndarray
    labels: np.ndarray
    seeds: tuple[int, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.labels == i)) for i, name in enumerate(LABELS)}


def resample(lead_500hz: np.ndarray) -> np.ndarray:
    """500 Hz -> 250 Hz by averaging sample pairs: a two-tap anti-alias filter that any
    runtime can reproduce exactly. Sample j covers source samples 2j and 2j+1."""
    n = len(lead_500hz) // DECIMATION * DECIMATION
    pairs = np.asarray(lead_500hz[:n], dtype=np.float32).reshape(-1, DECIMATION)
    return pairs.mean(axis=1, dtype=np.float32)


def normalise(windows: np.ndarray) -> np.ndarray:
    """Subtract each window's median (removes electrode offset and baseline wander at the
    window's scale, robust to the QRS itself), then clip to ±CLIP_MV; amplitudes stay mV."""
    windows = np.asarray(windows, dtype=np.float32)
    centred = windows - np.median(windows, axis=-1, keepdims=True).astype(np.float32)
    return np.clip(centred, -CLIP_MV, CLIP_MV)


def cut(
    signal: np.ndarray,
    centres: np.ndarray,
    offsets: np.ndarray | None = None,
    gain: np.ndarray | None = None,
) -> np.ndarray:
    """Model inputs (n, 1, WINDOW_SAMPLES) float32: windows whose sample `R_PEAK_INDEX` is
    `centres + offsets`, multiplied by `gain` (training augmentation), normalised."""
    centres = np.asarray(centres, dtype=np.int64)
    if offsets is not None:
        centres = centres + np.asarray(offsets, dtype=np.int64)
    index = centres[:, None] + np.arange(-R_PEAK_INDEX, WINDOW_SAMPLES - R_PEAK_INDEX)
    windows = signal[index]
    if gain is not None:
        windows = windows * np.asarray(gain, dtype=np.float32)[:, None]
    return normalise(windows)[:, None, :]


def draw_offsets(rng: np.random.Generator, n: int, limit: int = JITTER_SAMPLES) -> np.ndarray:
    """Uniform integer R-peak errors in [-limit, limit] samples."""
    return rng.integers(-limit, limit + 1, size=n)


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1]))


def _noise(rng: np.random.Generator, ranges: DataRanges, heavy: str = "") -> dict[str, float]:
    """Moderate noise of every kind; `heavy` names the kind pushed to its heavy range
    ("motion", "emg", "mains", "baseline", or "all")."""
    noise = {
        "baseline_mv": _u(rng, ranges.baseline_mv),
        "emg_mv": _u(rng, ranges.emg_mv),
        "motion_mv": _u(rng, ranges.motion_mv),
        "motion_per_min": _u(rng, ranges.motion_per_min),
        "mains_mv": _u(rng, ranges.mains_mv),
        "mains_hz": int(rng.choice([50, 60])),
    }
    if heavy in ("motion", "all"):
        noise["motion_mv"] = _u(rng, ranges.heavy_motion_mv)
        noise["motion_per_min"] = _u(rng, ranges.heavy_motion_per_min)
    if heavy in ("emg", "all"):
        noise["emg_mv"] = _u(rng, ranges.heavy_emg_mv)
    if heavy in ("mains", "all"):
        noise["mains_mv"] = _u(rng, ranges.heavy_mains_mv)
    if heavy in ("baseline", "all"):
        noise["baseline_mv"] = _u(rng, ranges.heavy_baseline_mv)
    return noise


HEAVY_KINDS = ("motion", "motion", "emg", "mains", "baseline", "all")
VT_ONSET_S = 8.0
LEADS_OFF_FRACTION = 0.5  # lead II comes off half way through a leads-off recording


def scenario_for(
    kind: str, rng: np.random.Generator, ranges: DataRanges, duration_s: float
) -> Scenario:
    """A one-off scenario of `kind` with its rate and noise drawn from `ranges`; a leads-off
    recording loses lead II half way through, so its windows also see the transition."""
    rate = _u(rng, ranges.sinus_rate)
    pvc = _u(rng, ranges.pvc_per_min)
    events: tuple[Event, ...] = ()
    if kind == "sinus":
        state = PhysioState(rate=rate, pvc_per_min=pvc, **_noise(rng, ranges))
    elif kind == "vt":
        state = PhysioState(rate=rate, pvc_per_min=pvc / 2, **_noise(rng, ranges))
        vt = (("rhythm", "vt"), ("rate", _u(rng, ranges.vt_rate)))
        events = (Event(at=VT_ONSET_S, changes=vt),)
    elif kind == "noisy":
        heavy = str(rng.choice(HEAVY_KINDS))
        state = PhysioState(rate=rate, pvc_per_min=pvc, **_noise(rng, ranges, heavy))
    elif kind == "asystole":
        heavy = str(rng.choice((*HEAVY_KINDS, "")))  # some asystole under moderate noise
        p_waves = bool(rng.random() < 0.5)
        state = PhysioState(rhythm="asystole", p_waves=p_waves, **_noise(rng, ranges, heavy))
    elif kind == "leads_off":
        state = PhysioState(rate=rate, pvc_per_min=pvc, **_noise(rng, ranges))
        off = (("leads_off", (False, True, False)),)
        events = (Event(at=duration_s * LEADS_OFF_FRACTION, changes=off),)
    else:
        raise ValueError(f"unknown recording kind {kind!r}")
    return Scenario(name=f"ecg_beat_{kind}", description="", initial=state, events=events)


def _off_beat_centres(
    rng: np.random.Generator, n_samples: int, beats: np.ndarray, count: int
) -> np.ndarray:
    """Up to `count` random positions at least OFF_BEAT_MIN_S + jitter from every QRS."""
    edge = R_PEAK_INDEX + TRAIN_JITTER_SAMPLES
    if n_samples <= 2 * edge or count <= 0:
        return np.empty(0, dtype=np.int64)
    candidates = rng.integers(edge, n_samples - edge, size=count * 3)
    if len(beats):
        gap = math.ceil(OFF_BEAT_MIN_S * SAMPLE_RATE_HZ) + TRAIN_JITTER_SAMPLES
        nearest = np.min(np.abs(candidates[:, None] - beats[None, :]), axis=1)
        candidates = candidates[nearest >= gap]
    return candidates[:count].astype(np.int64)


def render_recording(
    kind: str, seed: int, duration_s: int, ranges: DataRanges, off_beat_every_s: float = 3.0
) -> Recording:
    """Render one recording and choose its labelled windows (deterministic in `seed`)."""
    rng = np.random.default_rng(seed)
    scenario = scenario_for(kind, rng, ranges, duration_s)
    sim = PatientSimulator(scenario, seed, ranges=ranges.patient)
    block = sim.render(Fraction(0), Fraction(duration_s))
    signal = resample(block.ecg[LEAD_ROW])
    n = len(signal)
    beat_index = np.array([b.ecg_index // DECIMATION for b in block.beats], dtype=np.int64)
    beat_label = tuple(b.label for b in block.beats)
    edge = R_PEAK_INDEX + TRAIN_JITTER_SAMPLES
    inside = (beat_index >= edge) & (beat_index < n - edge)

    centres: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    if kind in ("sinus", "vt"):
        keep = np.flatnonzero(inside)
        centres.append(beat_index[keep])
        labels.append(np.array([BEAT_LABELS[beat_label[i]] for i in keep], dtype=np.int64))
        extra = _off_beat_centres(rng, n, beat_index, int(duration_s / off_beat_every_s))
        centres.append(extra)
        labels.append(np.full(len(extra), OTHER, dtype=np.int64))
    elif kind in ("noisy", "asystole"):
        off = _off_beat_centres(rng, n, beat_index, duration_s * 2)
        centres.append(off)
        labels.append(np.full(len(off), OTHER, dtype=np.int64))
    else:  # leads_off: centres on the flat line, from just after it begins
        flat_from = round(duration_s * LEADS_OFF_FRACTION * SAMPLE_RATE_HZ) + TRAIN_JITTER_SAMPLES
        flat = rng.integers(flat_from, n - edge, size=duration_s // 2)
        centres.append(flat.astype(np.int64))
        labels.append(np.full(len(flat), OTHER, dtype=np.int64))
    return Recording(
        kind,
        seed,
        signal,
        beat_index,
        beat_label,
        np.concatenate(centres),
        np.concatenate(labels),
    )


def recording_seeds(ranges: DataRanges, seed: int, size: SetSize) -> list[int]:
    """The simulator seed of every recording of a set, in `size.kinds()` order."""
    first = ranges.seed_base + seed * SEED_STRIDE
    return [first + i for i, _ in enumerate(size.kinds())]


def build_set(ranges: DataRanges, seed: int, size: SetSize) -> WindowSet:
    """Render every recording of `size` and join them into one `WindowSet`."""
    seeds = recording_seeds(ranges, seed, size)
    signals, centres, labels = [], [], []
    offset = 0
    for rec_seed, (kind, duration) in zip(seeds, size.kinds(), strict=True):
        rec = render_recording(kind, rec_seed, duration, ranges, size.off_beat_every_s)
        signals.append(rec.signal)
        centres.append(rec.centres + offset)
        labels.append(rec.labels)
        offset += len(rec.signal)
    return WindowSet(
        np.concatenate(signals),
        np.concatenate(centres),
        np.concatenate(labels),
        tuple(seeds),
    )


def training_set(seed: int, scale: float = 1.0) -> WindowSet:
    """The training windows (TRAIN_RANGES, seeds from 0)."""
    return build_set(TRAIN_RANGES, seed, TRAIN_SIZE.scaled(scale))


def heldout_set(seed: int) -> WindowSet:
    """The evaluation windows (EVAL_RANGES, seeds from 50,000,000)."""
    return build_set(EVAL_RANGES, seed, EVAL_SIZE)


def heldout_arrays(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out model inputs (n, 1, 384) and labels, with fixed jitter drawn from `seed`."""
    ws = heldout_set(seed)
    rng = np.random.default_rng([EVAL_RANGES.seed_base, seed])
    return cut(ws.signal, ws.centres, draw_offsets(rng, len(ws))), ws.labels
