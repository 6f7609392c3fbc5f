"""Bring-your-own detector: any artifact from `vigil export --module`, turned into conditions by
configuration alone (`CustomDetectorSettings`).

The configured `name` becomes a condition kind (`condition.register_kind`, physiological, with
the configured priority, latching when high, described by `label`), so a typo cannot raise an
unknown alarm and a name that clashes with a built-in kind is refused. The model's `output`
(item `index` of each batch row, flattened) is compared with `threshold` ("above": value >
threshold; "below": value < threshold); the condition starts at the first window that
satisfies it and ends at the first that does not.

Sources:
- `numerics`: the last W 1 Hz samples of `fields` (W from the model's input: (batch, F) is one
  sample, (batch, W, F) with layout "NTC" or (batch, F, W) with "NCT"/"NCW"; without a layout,
  the axis of size len(fields) is the feature axis, NTC when both are), run every `stride_s` on
  a fixed grid of device time. NaN samples are filled from the nearest valid sample of the
  window (forward, then backward); a field with no valid sample skips the window (an active
  condition then ends with `ended_by: "input_invalid"`).
- `ecg:LEAD`: W samples of that lead centred on each R peak, and, where there was no peak in
  the previous `stride_s`, centred on the grid times k * `stride_s` (so asystole and VF are
  shown to the model too). Input (batch, 1, W), (batch, W) or (batch, W, 1); a
  `meta.sample_rate_hz` (or `fs`) must equal the ECG rate. A window holding NaN (leads off,
  gap) is skipped. All windows that became ready in one feed run in one batched call, in the
  order of their centres. Look-ahead: half a window after the peak or grid time, plus the R
  peak detector's own (the caller passes `peaks_through`, its analysed_through).

Configuration mistakes (unknown source, compare or priority) raise `ConfigError`; a model that
cannot be loaded or does not fit the configuration (missing output, wrong input shape, other
sample rate) gives a `model_unavailable` startup condition and a silent detector. At run time
the model falls back to the next backend when one fails (`inference_degraded`,
model_runtime.py); when none is left, or its output stops fitting, the detector goes silent.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import ConfigError, VigilError
from vigil.runtime.analysis.condition import (
    Category,
    Condition,
    ConditionKind,
    Priority,
    condition,
    ended,
    register_kind,
)
from vigil.runtime.analysis.events import RPeak
from vigil.runtime.analysis.feed_contract import check_feed
from vigil.runtime.analysis.model_runtime import (
    DegradedAlarm,
    LoadedModel,
    load_model,
    model_unavailable,
)
from vigil.runtime.analysis.settings import CustomDetectorSettings, ModelSettings

PRIORITIES = {"low": Priority.LOW, "medium": Priority.MEDIUM, "high": Priority.HIGH}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
ECG_KEEP_S = 5.0  # ECG kept beyond one window, for peaks reported late


class _ModelFailed(VigilError):
    """Inference raised; the detector stops and says so."""


@dataclass(frozen=True)
class _Input:
    """How windows become the model's single input."""

    name: str
    window: int  # samples per window
    layout: str  # "NF" (one sample), "NTC", "NCT" (numerics); "N1W", "NW", "NW1" (ECG)


def register_custom_kind(cfg: CustomDetectorSettings) -> ConditionKind:
    """The condition kind a configured detector raises (registered once, refused if it
    clashes with another definition)."""
    if not NAME.match(cfg.name):
        raise ConfigError(
            f"custom detector name {cfg.name!r}: use 1-48 lowercase letters, digits or _, "
            "starting with a letter (it becomes the condition kind)"
        )
    if cfg.priority not in PRIORITIES:
        raise ConfigError(
            f"custom detector {cfg.name}: priority {cfg.priority!r} is not one of "
            + ", ".join(PRIORITIES)
        )
    prio = PRIORITIES[cfg.priority]
    kind = ConditionKind(cfg.name, prio, Category.PHYSIOLOGICAL, prio == Priority.HIGH, cfg.label)
    try:
        return register_kind(kind)
    except ValueError as exc:
        raise ConfigError(f"custom detector {cfg.name}: {exc}") from None


class CustomDetector:
    """One configured bring-your-own detector of one bed."""

    def __init__(
        self,
        bed: str,
        settings: CustomDetectorSettings,
        models: ModelSettings | None = None,
        *,
        ecg_fs: Fraction | None = None,
    ) -> None:
        cfg = settings
        self.bed = bed
        self.cfg = cfg
        self.lead: str | None = None
        if cfg.source == "numerics":
            if not cfg.fields:
                raise ConfigError(f"custom detector {cfg.name}: a numerics source needs fields")
        elif cfg.source.startswith("ecg:") and cfg.source[4:]:
            self.lead = cfg.source[4:]
            if ecg_fs is None or Fraction(ecg_fs) <= 0:
                raise ConfigError(f"custom detector {cfg.name}: source {cfg.source} needs ecg_fs")
        else:
            raise ConfigError(
                f"custom detector {cfg.name}: source {cfg.source!r} is not 'numerics' or 'ecg:LEAD'"
            )
        if cfg.compare not in ("above", "below"):
            raise ConfigError(f"custom detector {cfg.name}: compare must be 'above' or 'below'")
        if not math.isfinite(cfg.threshold):
            raise ConfigError(f"custom detector {cfg.name}: threshold must be finite")
        if not (math.isfinite(cfg.stride_s) and cfg.stride_s > 0):
            raise ConfigError(f"custom detector {cfg.name}: stride_s must be positive")
        self.kind = register_custom_kind(cfg)
        self.ecg_fs = Fraction(ecg_fs) if ecg_fs is not None else None
        self.path = Path(cfg.artifact)
        self.model: LoadedModel | None = None
        self._input: _Input | None = None
        self._startup: list[Condition] = []
        self._degraded = DegradedAlarm(bed, cfg.name, f"none: detector {cfg.name} stopped")
        try:
            model = load_model(self.path, models or ModelSettings())
            try:
                self._input = self._fit(model)
            except VigilError:
                model.backend.deactivate()  # loaded but unusable: give its memory back
                raise
            self.model = model
        except VigilError as exc:
            self._startup.append(model_unavailable(bed, cfg.name, self.path, str(exc), 0.0))
        self._active: Condition | None = None
        # numerics
        self._samples: deque[list[float]] = deque(maxlen=self._input.window if self._input else 1)
        self._next_grid: float | None = None
        self._last_t: float | None = None
        # ecg
        self._ecg = np.empty(0, dtype=np.float32)
        self._ecg0 = 0
        self._expected: int | None = None
        self._beats: list[int] = []  # R peaks not yet run, sorted
        self._recent_beats: deque[int] = deque()
        self._grid_k: int | None = None

    # -- configuration ----------------------------------------------------------------------
    def _fit(self, model: LoadedModel) -> _Input:
        """Check the artifact against the configuration; how to shape its input."""
        m = model.artifact.manifest
        cfg = self.cfg
        where = f"{self.path}: custom detector {cfg.name}"
        outputs = {o.name: o for o in m.outputs}
        if cfg.output not in outputs:
            raise VigilError(f"{where}: no output {cfg.output!r} (outputs: {', '.join(outputs)})")
        fixed = [d for d in outputs[cfg.output].shape[1:] if isinstance(d, int)]
        size = math.prod(fixed) if len(fixed) == len(outputs[cfg.output].shape[1:]) else None
        if cfg.index < 0 or (size is not None and cfg.index >= size):
            raise VigilError(f"{where}: index {cfg.index} is outside output {cfg.output} ({size})")
        if len(m.inputs) != 1:
            raise VigilError(f"{where}: the model has {len(m.inputs)} inputs; one is supported")
        t = m.inputs[0]
        dims = t.shape[1:]
        if not all(isinstance(d, int) for d in dims):
            raise VigilError(f"{where}: input {t.name} needs fixed sizes after the batch axis")
        shape = tuple(int(d) for d in dims)
        if self.lead is None:
            return _Input(t.name, *_numerics_layout(shape, len(cfg.fields), t.layout, where))
        rate = m.meta.get("sample_rate_hz", m.meta.get("fs"))
        if rate is not None and _number(rate) != float(self.ecg_fs or 0):
            raise VigilError(f"{where}: the model expects {rate} Hz, the ECG is {self.ecg_fs} Hz")
        if len(shape) == 2 and shape[0] == 1:
            return _Input(t.name, shape[1], "N1W")
        if len(shape) == 2 and shape[1] == 1:
            return _Input(t.name, shape[0], "NW1")
        if len(shape) == 1:
            return _Input(t.name, shape[0], "NW")
        raise VigilError(
            f"{where}: input shape {t.shape} is not (batch, 1, W), (batch, W, 1) or (batch, W)"
        )

    def startup_conditions(self) -> list[Condition]:
        """`model_unavailable` when the model could not be used (onset 0.0: the bed dates
        it to its first data)."""
        return list(self._startup)

    @property
    def decided_by(self) -> str:
        return self.model.description if self.model else ""

    # -- numerics ---------------------------------------------------------------------------
    def update(self, t_s: float, values: Mapping[str, float]) -> list[Condition]:
        """One 1 Hz numerics sample (numerics source); runs on the stride grid."""
        if self.lead is not None:
            raise ValueError(
                f"custom detector {self.cfg.name} reads {self.cfg.source}, not numerics"
            )
        if self._last_t is not None and not t_s > self._last_t:
            raise ValueError(
                f"CustomDetector.update: time {t_s} s does not follow {self._last_t} s"
            )
        self._last_t = t_s
        inp = self._input
        if inp is None or self.model is None:
            return []
        self._samples.append([_number(values.get(f, math.nan)) for f in self.cfg.fields])
        stride = self.cfg.stride_s
        if self._next_grid is None:
            self._next_grid = math.floor(t_s / stride) * stride
        if t_s < self._next_grid:
            return []
        self._next_grid = (math.floor(t_s / stride) + 1) * stride
        if len(self._samples) < inp.window:
            return []
        window = _fill(np.asarray(self._samples, dtype=np.float64))
        if window is None:
            return self._end(t_s, t_s, {"ended_by": "input_invalid"})
        if inp.layout == "NF":
            x = window[-1][None, :]
        elif inp.layout == "NTC":
            x = window[None, :, :]
        else:
            x = window.T[None, :, :]
        try:
            value = self._infer(x.astype(np.float32))[0]
        except _ModelFailed as exc:
            return self._fail(t_s, t_s, str(exc))
        degraded = self._degraded.update(self.model.backend, t_s, t_s)
        return degraded + self._decide([(t_s, value, {})], t_s)

    # -- ECG --------------------------------------------------------------------------------
    def feed(
        self,
        first_index: int,
        samples: np.ndarray,
        peaks: Sequence[RPeak] = (),
        *,
        peaks_through: int | None = None,
    ) -> list[Condition]:
        """ECG samples of the configured lead (1-D, mV) continuing the previous call, the R
        peaks reported since the previous call, and how far peaks are known (`peaks_through`:
        every peak before it has been reported; default: the end of `samples`)."""
        if self.lead is None or self.ecg_fs is None:
            raise ValueError(f"custom detector {self.cfg.name} reads numerics, not an ECG lead")
        samples = np.asarray(samples, dtype=np.float32)
        check_feed("CustomDetector", self._expected, first_index, samples, rows=None)
        if self._expected is None:
            self._ecg0 = first_index
        self._expected = first_index + len(samples)
        inp = self._input
        if inp is None or self.model is None:
            return []
        self._ecg = np.concatenate([self._ecg, samples])
        for p in peaks:
            bisect.insort(self._beats, p.index)
        end = self._expected
        horizon = min(
            end if peaks_through is None else peaks_through,
            end - (inp.window - inp.window // 2) + 1,
        )
        centres = self._ready_centres(horizon)
        out: list[Condition] = []
        if centres:
            out = self._run_ecg(centres, inp)
        keep = inp.window + round(ECG_KEEP_S * float(self.ecg_fs))
        if len(self._ecg) > keep:
            cut = len(self._ecg) - keep
            self._ecg = self._ecg[cut:]
            self._ecg0 += cut
        return out

    def gap(self, next_index: int) -> list[Condition]:
        """A discontinuity in the ECG: drop buffered samples, continue at `next_index`."""
        self._ecg = np.empty(0, dtype=np.float32)
        self._ecg0 = next_index
        self._expected = next_index
        self._beats = [b for b in self._beats if b >= next_index]
        return []

    def _ready_centres(self, horizon: int) -> list[int]:
        """Window centres before `horizon`: R peaks, and grid points with no peak in the
        stride before them, in order."""
        assert self.ecg_fs is not None
        fs, stride = float(self.ecg_fs), self.cfg.stride_s
        cut = bisect.bisect_left(self._beats, horizon)
        beats, self._beats = self._beats[:cut], self._beats[cut:]
        if self._grid_k is None:
            self._grid_k = math.ceil(self._ecg0 / (stride * fs))
        grid = []
        while (g := round(self._grid_k * stride * fs)) < horizon:
            grid.append(g)
            self._grid_k += 1
        span = round(stride * fs)
        recent = self._recent_beats
        centres = []
        events = sorted([(b, 0) for b in beats] + [(g, 1) for g in grid])
        for idx, is_grid in events:
            if not is_grid:
                recent.append(idx)
                centres.append(idx)
                continue
            while recent and recent[0] < idx - span:
                recent.popleft()
            if not any(idx - span <= b < idx for b in recent):
                centres.append(idx)
        return centres

    def _run_ecg(self, centres: list[int], inp: _Input) -> list[Condition]:
        assert self.ecg_fs is not None
        w = inp.window
        rows, kept = [], []
        for c in centres:
            a = c - w // 2 - self._ecg0
            if a < 0 or a + w > len(self._ecg):
                continue  # no longer (or never) buffered
            seg = self._ecg[a : a + w]
            if not np.isfinite(seg).all():
                continue  # leads off or a gap: not a window to judge
            rows.append(seg)
            kept.append(c)
        if not rows:
            return []
        x = np.stack(rows)
        x = {"N1W": x[:, None, :], "NW1": x[:, :, None], "NW": x}[inp.layout]
        decided_at = float(self._expected / self.ecg_fs) if self._expected is not None else 0.0
        t0 = float(kept[0] / self.ecg_fs)
        try:
            outs = self._infer(x.astype(np.float32))
        except _ModelFailed as exc:
            return self._fail(t0, decided_at, str(exc))
        assert self.model is not None
        degraded = self._degraded.update(self.model.backend, t0, decided_at)
        items = [
            (float(c / self.ecg_fs), v, {"window_centre_index": c})
            for c, v in zip(kept, outs, strict=True)
        ]
        return degraded + self._decide(items, decided_at)

    # -- inference and decisions ------------------------------------------------------------
    def _infer(self, x: np.ndarray) -> list[float]:
        """The configured output item of each batch row."""
        inp, model = self._input, self.model
        assert inp is not None
        assert model is not None
        try:
            out = model.backend.infer({inp.name: x})
            flat = np.asarray(out[self.cfg.output]).reshape(len(x), -1)
            return [float(v) for v in flat[:, self.cfg.index]]
        except (VigilError, IndexError, KeyError, ValueError) as exc:
            raise _ModelFailed(str(exc)) from exc

    def _fail(self, t_s: float, decided_at_s: float, error: str) -> list[Condition]:
        """Inference failed: end what the model had raised, say so, stop running it. Every
        backend failing is `inference_degraded`; an output that does not fit, or a call the
        model refused, is `model_unavailable`."""
        assert self.model is not None
        out = self._end(t_s, decided_at_s, {"ended_by": "model_failed"})
        degraded = self._degraded.update(self.model.backend, t_s, decided_at_s)
        out += degraded
        if not degraded or degraded[-1].evidence["to"] is not None:  # not the backends' fault
            out.append(model_unavailable(self.bed, self.cfg.name, self.path, error, t_s))
        self.model = None
        return out

    def _decide(
        self, items: list[tuple[float, float, dict[str, Any]]], decided_at_s: float
    ) -> list[Condition]:
        cfg = self.cfg
        out: list[Condition] = []
        for t, value, extra in items:
            hit = value > cfg.threshold if cfg.compare == "above" else value < cfg.threshold
            if hit and self._active is None:
                evidence = {
                    "detector": cfg.name,
                    "label": cfg.label,
                    "model": self.decided_by,
                    "source": cfg.source,
                    "output": cfg.output,
                    "index": cfg.index,
                    "compare": cfg.compare,
                    "threshold": cfg.threshold,
                    **extra,
                }
                self._active = condition(
                    cfg.name,
                    self.bed,
                    t,
                    key=cfg.name,
                    value=value,
                    evidence=evidence,
                    decided_at_s=decided_at_s,
                    decided_ns=time.monotonic_ns(),
                )
                out.append(self._active)
            elif not hit and self._active is not None:
                out.extend(self._end(t, decided_at_s, {"ended_by": "value", "end_value": value}))
        return out

    def _end(self, t_s: float, decided_at_s: float, evidence: dict[str, Any]) -> list[Condition]:
        if self._active is None:
            return []
        done = ended(
            self._active,
            t_s,
            evidence=evidence,
            decided_at_s=decided_at_s,
            decided_ns=time.monotonic_ns(),
        )
        self._active = None
        return [done]


def _numerics_layout(
    shape: tuple[int, ...], n_fields: int, layout: str, where: str
) -> tuple[int, str]:
    """(window, layout) of a numerics input of `shape` (after the batch axis)."""
    if len(shape) == 1 and shape[0] == n_fields:
        return 1, "NF"
    if len(shape) == 2:
        lay = layout.upper()
        if lay == "NTC" and shape[1] == n_fields:
            return shape[0], "NTC"
        if lay in ("NCT", "NCW") and shape[0] == n_fields:
            return shape[1], "NCT"
        if not lay and shape[1] == n_fields:
            return shape[0], "NTC"
        if not lay and shape[0] == n_fields:
            return shape[1], "NCT"
    raise VigilError(
        f"{where}: input shape {shape} (layout {layout!r}) does not hold {n_fields} fields"
    )


def _fill(window: np.ndarray) -> np.ndarray | None:
    """Fill NaN from the nearest valid sample of each column (forward, then backward); None
    when a column has no valid sample."""
    x = window.copy()
    for f in range(x.shape[1]):
        col = x[:, f]
        valid = np.flatnonzero(np.isfinite(col))
        if len(valid) == 0:
            return None
        idx = np.maximum.accumulate(np.where(np.isfinite(col), np.arange(len(col)), -1))
        idx[idx < 0] = valid[0]
        x[:, f] = col[idx]
    return x


def _number(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) and not isinstance(value, bool) else math.nan
