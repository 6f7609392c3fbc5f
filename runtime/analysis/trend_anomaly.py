"""Trend anomaly: the shipped `vitals_ae` autoencoder over 5 minutes of 1 Hz numerics.

The artifact's manifest says how to feed it (`meta.features`, `meta.preprocessing`,
`meta.score`, `meta.threshold`); this module reads those numbers from the manifest, never
from the training code, and refuses (as `model_unavailable`) a manifest whose rules it does
not implement. The rules, as models/vitals_ae/preprocess.py applies them in training: each 10 s
bin of each vital is the median of its valid (finite) samples; bins without one are filled
forward, then backward, within the window; a vital missing for the whole window takes its
normalisation mean; then (x - mean) / std, clipped. The score is the model's own `score`
output (the mean of the 24 best-reconstructed of 30 bins), compared with `meta.threshold`.

Scoring runs on a fixed grid of device time, every `bin_s` (10 s) at multiples of it, over the
`window_s` (300 s) before that time, once the whole window lies after the first sample (the
start is rounded up to a bin). A window is scored when the first sample at or after its end
arrives, so a score is reproducible from the data alone. A low-priority advisory
`trend_anomaly` starts when `PERSIST` consecutive scores are above the threshold (onset: the
grid time that satisfied it) and ends at the first score at or below it; its evidence holds
the score, the threshold and each vital's reconstruction error, which says what looked
unusual. The model calibrates a 1 % false-positive rate per window; windows 10 s apart overlap
by 97 %, so requiring 3 in a row removes transients, not correlated drifts.

When the model cannot be used (directory missing, a file failing its sha256, no backend, a
manifest this code cannot follow) `startup_conditions()` returns a technical
`model_unavailable` condition naming the path and the error, and the detector stays silent;
the rest of the bed's analysis runs on.

At run time the model runs through a `FallbackBackend` (model_runtime.py): when its backend
fails or times out, the same window is scored on the next one and an `inference_degraded`
condition says so; when none is left, `inference_degraded` says the detector has stopped, and
the rest of the analysis runs on.
"""

from __future__ import annotations

import math
import numbers
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.artifacts import Artifact
from vigil.errors import VigilError
from vigil.runtime.analysis.condition import Condition, condition, ended
from vigil.runtime.analysis.model_runtime import (
    DegradedAlarm,
    LoadedModel,
    load_model,
    model_unavailable,
)
from vigil.runtime.analysis.settings import ModelSettings
from vigil.runtime.artifact_loader import shipped_artifact

MODEL_NAME = "vitals_ae"
PERSIST = 3


@dataclass(frozen=True)
class TrendSpec:
    """What the manifest says about feeding and scoring the model."""

    features: tuple[str, ...]
    bin_s: int
    steps: int
    mean: np.ndarray
    std: np.ndarray
    clip: tuple[float, float]
    input_name: str
    score_output: str
    threshold: float

    @property
    def window_s(self) -> int:
        return self.bin_s * self.steps

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> TrendSpec:
        m = artifact.manifest
        meta = m.meta
        try:
            pre = meta["preprocessing"]
            features = tuple(str(f) for f in meta["features"])
            bin_s, steps = int(pre["bin_s"]), int(pre["steps"])
            mean = np.asarray(pre["normalisation"]["mean"], dtype=np.float64)
            std = np.asarray(pre["normalisation"]["std"], dtype=np.float64)
            clip = (float(pre["clip"][0]), float(pre["clip"][1]))
            score_output = str(meta["score"]["output"])
            threshold = float(meta["threshold"])
            rate = float(meta.get("sample_rate_hz", 1.0))
            window = int(meta.get("window_s", bin_s * steps))
            statistic, missing = str(pre["bin_statistic"]), str(pre["missing"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise VigilError(f"{artifact.directory}: manifest meta incomplete: {exc!r}") from exc
        problems = []
        if rate != 1.0:
            problems.append(f"sample_rate_hz {rate} (numerics arrive at 1 Hz)")
        if window != bin_s * steps or bin_s < 1 or steps < 1:
            problems.append(f"window_s {window} is not bin_s {bin_s} x steps {steps}")
        if len(mean) != len(features) or len(std) != len(features) or not np.all(std > 0):
            problems.append("normalisation does not match the features")
        if not statistic.startswith("median of the bin's valid"):
            problems.append(f"bin statistic {statistic!r} is not implemented")
        if "forward, then backward" not in missing or "its mean" not in missing:
            problems.append(f"missing-value rule {missing!r} is not implemented")
        if not math.isfinite(threshold):
            problems.append("threshold is not finite")
        if len(m.inputs) != 1 or tuple(m.inputs[0].shape[1:]) != (steps, len(features)):
            problems.append(f"input is not one (batch, {steps}, {len(features)}) tensor")
        if score_output not in {o.name for o in m.outputs}:
            problems.append(f"score output {score_output!r} is not an output of the model")
        if problems:
            raise VigilError(
                f"{artifact.directory}: cannot follow the manifest: " + "; ".join(problems)
            )
        return cls(
            features, bin_s, steps, mean, std, clip, m.inputs[0].name, score_output, threshold
        )


def valid_median(samples: np.ndarray) -> np.ndarray:
    """(n, F) -> (F,) median of each column's finite samples, NaN where there is none (what
    `numpy.nanmedian` computes, without its masked-array cost)."""
    x = np.sort(np.where(np.isfinite(samples), samples, np.nan), axis=0)  # NaN sort last
    count = np.isfinite(x).sum(axis=0)
    lo = np.take_along_axis(x, np.maximum(count - 1, 0)[None, :] // 2, axis=0)[0]
    hi = np.take_along_axis(x, (count // 2)[None, :], axis=0)[0] if len(x) else lo
    return np.where(count > 0, (lo + hi) / 2.0, np.nan)


def preprocess_bins(bins: np.ndarray, spec: TrendSpec) -> np.ndarray:
    """(steps, F) bin medians (NaN: no valid sample) -> (steps, F) float32 model input."""
    x = bins.astype(np.float64, copy=True)
    for f in range(x.shape[1]):
        col = x[:, f]
        valid = np.flatnonzero(~np.isnan(col))
        if len(valid) == 0:
            col[:] = spec.mean[f]
            continue
        idx = np.maximum.accumulate(np.where(np.isnan(col), -1, np.arange(len(col))))
        idx[idx < 0] = valid[0]  # before the first valid bin: backward fill
        x[:, f] = col[idx]
    return np.clip((x - spec.mean) / spec.std, *spec.clip).astype(np.float32)


class TrendAnomalyDetector:
    """`trend_anomaly` advisories of one bed from its 1 Hz numerics."""

    def __init__(self, bed: str, models: ModelSettings) -> None:
        self.bed = bed
        self.path = Path(models.vitals_ae) if models.vitals_ae else shipped_artifact(MODEL_NAME)
        self.enabled = models.enabled
        self.model: LoadedModel | None = None
        self.spec: TrendSpec | None = None
        self.error = ""
        self._startup: list[Condition] = []
        self._degraded = DegradedAlarm(bed, MODEL_NAME, "none: trend anomaly scoring stopped")
        if self.enabled:
            try:
                model = load_model(self.path, models)
                try:
                    self.spec = TrendSpec.from_artifact(model.artifact)
                except VigilError:
                    model.backend.deactivate()  # loaded but unusable: give its memory back
                    raise
                self.model = model
            except VigilError as exc:
                self.error = str(exc)
                self._startup.append(model_unavailable(bed, MODEL_NAME, self.path, str(exc), 0.0))
        self._bins: deque[tuple[int, np.ndarray]] = deque()
        self._bin_k: int | None = None  # the bin being filled
        self._bin_values: list[list[float]] = []
        self._first_k: int | None = None  # first bin wholly after the first sample
        self._last_t: float | None = None
        self._above = 0
        self._first_above: float | None = None
        self._active: Condition | None = None
        self.last_score: tuple[float, float] | None = None  # (grid time, score)

    @property
    def decided_by(self) -> str:
        return self.model.description if self.model else ""

    def startup_conditions(self) -> list[Condition]:
        """`model_unavailable` when the model could not be loaded (onset 0.0: the bed
        dates it to its first data)."""
        return list(self._startup)

    def update(self, t_s: float, values: Mapping[str, float]) -> list[Condition]:
        """One numerics sample at device time `t_s`; scores every window it completes."""
        spec = self.spec
        if spec is None or self.model is None:
            return []
        if self._last_t is not None and not t_s > self._last_t:
            raise ValueError(
                f"TrendAnomalyDetector.update: time {t_s} s does not follow {self._last_t} s"
            )
        if self._last_t is not None and t_s - self._last_t > spec.window_s:
            self._bin_k = None  # nothing known for a whole window: start afresh
            self._bins.clear()
        self._last_t = t_s
        k = math.floor(t_s / spec.bin_s)
        if self._bin_k is None:
            self._first_k = math.ceil(t_s / spec.bin_s)
            self._open_bin(k)
        out: list[Condition] = []
        while self._bin_k is not None and self._bin_k < k:
            self._close_bin()
            out.extend(self._score_if_due(self._bin_k + 1, t_s))
            self._open_bin(self._bin_k + 1)
        row = [values.get(f, math.nan) for f in spec.features]
        self._bin_values.append([float(v) if _valid(v) else math.nan for v in row])
        return out

    # -- bins -------------------------------------------------------------------------------
    def _open_bin(self, k: int) -> None:
        self._bin_k, self._bin_values = k, []

    def _close_bin(self) -> None:
        spec = self.spec
        assert spec is not None
        assert self._bin_k is not None
        if self._bin_values:
            med = valid_median(np.asarray(self._bin_values, dtype=np.float64))
        else:
            med = np.full(len(spec.features), np.nan)
        self._bins.append((self._bin_k, med))
        while len(self._bins) > spec.steps:
            self._bins.popleft()

    def _score_if_due(self, end_k: int, decided_at_s: float) -> list[Condition]:
        """Score the window of bins [end_k - steps, end_k) if it is all after the start."""
        spec, model = self.spec, self.model
        assert spec is not None
        assert model is not None
        assert self._first_k is not None
        if end_k - spec.steps < self._first_k:
            return []
        g = float(end_k * spec.bin_s)
        x = preprocess_bins(np.stack([b for _, b in self._bins]), spec)
        try:
            outputs = model.backend.infer({spec.input_name: x[None]})
            score = float(np.asarray(outputs[spec.score_output]).reshape(-1)[0])
        except VigilError as exc:
            return self._fail(g, decided_at_s, str(exc))
        self.last_score = (g, score)
        degraded = self._degraded.update(model.backend, g, decided_at_s)
        return degraded + self._decide(g, score, x, outputs, decided_at_s)

    def _decide(
        self, g: float, score: float, x: np.ndarray, outputs: dict[str, Any], decided_at_s: float
    ) -> list[Condition]:
        spec = self.spec
        assert spec is not None
        now_ns = time.monotonic_ns()
        if score > spec.threshold:
            self._above += 1
            if self._first_above is None:
                self._first_above = g
        else:
            self._above, self._first_above = 0, None
            if self._active is not None:
                done = ended(
                    self._active,
                    g,
                    evidence={"ended_by": "score", "end_score": score},
                    decided_at_s=decided_at_s,
                    decided_ns=now_ns,
                )
                self._active = None
                return [done]
            return []
        if self._active is not None or self._above < PERSIST:
            return []
        evidence = {
            "model": self.decided_by,
            "score": score,
            "threshold": spec.threshold,
            "window_s": [g - spec.window_s, g],
            "first_above_s": self._first_above,
            "consecutive": PERSIST,
            "feature_error": _feature_error(x, outputs, spec),
        }
        self._active = condition(
            "trend_anomaly",
            self.bed,
            g,
            key=MODEL_NAME,
            value=score,
            evidence=evidence,
            decided_at_s=decided_at_s,
            decided_ns=now_ns,
        )
        return [self._active]

    def _fail(self, g: float, decided_at_s: float, error: str) -> list[Condition]:
        """Inference failed: say so once, end what the model had raised, stop scoring.
        Every backend failing is `inference_degraded`; anything else (a call the model
        refused) is `model_unavailable`."""
        assert self.model is not None
        out = []
        if self._active is not None:
            out.append(ended(self._active, g, evidence={"ended_by": "model_failed"}))
            self._active = None
        degraded = self._degraded.update(self.model.backend, g, decided_at_s)
        out += degraded
        if not degraded or degraded[-1].evidence["to"] is not None:  # not the backends' fault
            out.append(model_unavailable(self.bed, MODEL_NAME, self.path, error, g))
        self.model = None
        self.error = error
        return out


def _feature_error(x: np.ndarray, outputs: Mapping[str, Any], spec: TrendSpec) -> dict[str, float]:
    """Mean squared reconstruction error per vital, when the model returns a reconstruction."""
    for value in outputs.values():
        rec = np.asarray(value)
        if rec.shape == (1, *x.shape):
            err = np.mean((rec[0].astype(np.float64) - x) ** 2, axis=0)
            return {f: round(float(e), 4) for f, e in zip(spec.features, err, strict=True)}
    return {}


def _valid(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
