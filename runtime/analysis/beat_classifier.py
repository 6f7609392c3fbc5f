"""Beat classification: the shipped ECG beat model, batched, with a morphology fallback.

Every R peak the front end reports becomes a `Beat` labelled N (normal), V (ventricular) or Q
(other: not a QRS complex). The model (`models/artifacts/ecg_beat`, manifest and model card
there) reads lead II at 250 Hz: 384 samples with the R peak at sample 192 (the 500 Hz index
// 2), the mean of consecutive 500 Hz sample pairs (sample j = mean of samples 2j and 2j+1 of
the device grid), minus the window's median, clipped to ±5 mV. Its logits are for
normal / ventricular / other, in that order, which map onto N / V / Q.

Other source rates are brought onto that 500 Hz grid first, per beat window, with
`scipy.signal.resample_poly` (a polyphase FIR with a Kaiser-windowed anti-alias filter) at
the ratio 500 / fs (limited to terms <= 100; 250, 360 and 1000 Hz are exact), then paired as
above. The window is cut with a margin of the filter's half length on both sides, starting
at a source index whose 500 Hz position is an integer, so its samples land on the same grid
a 500 Hz device would give.

Every beat whose classification window is complete is classified in one batched inference
call per `feed`. Lead II is read only when the model can trust it for that beat: every
sample of the window present, every analysis window (1 s) that overlaps it and has ended by
its end reporting lead II usable, and a QRS of at least 0.15 mV on lead II (a lead whose
axis hides the beat is outside what the model was trained on). Otherwise the beat goes to
the morphology classifier (beat_morphology.py) on the usable lead with the largest QRS, and
its `decided_by` says so. When the model says "other" but a usable lead shows a narrow QRS
matching that lead's running normal template, lead II is noise over a real beat: the beat
is normal, decided by morphology. Without a model (`ModelSettings(enabled=False)`, a path
that does not load or verify, no backend), morphology labels every beat.

The model runs through a `FallbackBackend` over `ModelSettings.backends`: when its backend
fails (or times out) at run time the same batch is classified on the next one, `decided_by`
names the backend now serving, and an `inference_degraded` condition says so
(`take_conditions`). When every backend has failed, that condition says morphology decides,
and morphology labels every beat from then on (`decided_by` "morphology").

**Look-ahead**: a beat is reported once the samples of its window have arrived (384 samples
at 500 Hz after the R peak: 0.768 s; up to ~0.85 s at other rates, `lookahead_samples(fs)`)
and the front end has reported every analysis window ending within it. Relative to the
front end's `analysed_through`, the delay is at most `lookahead_samples(fs)`: every beat
with an index below `analysed_through - lookahead_samples(fs)` has been reported.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt, sosfilt_zi

from vigil.errors import VigilError
from vigil.runtime.analysis.beat_morphology import (
    MIN_QRS_MV,
    SHOWS_MV,
    MorphologyClassifier,
    Shapes,
)
from vigil.runtime.analysis.condition import Condition, condition
from vigil.runtime.analysis.events import Beat, EcgWindow, RPeak
from vigil.runtime.analysis.feed_contract import check_feed
from vigil.runtime.analysis.model_runtime import DegradedAlarm, open_backend
from vigil.runtime.analysis.settings import ModelSettings
from vigil.runtime.artifact_loader import shipped_artifact
from vigil.runtime.backends.select import NoBackend

log = logging.getLogger(__name__)

MODEL_NAME = "ecg_beat"
LEAD = "II"
LABELS = ("N", "V", "Q")  # the artifact's normal / ventricular / other, in that order
SOURCE_RATE_HZ = 500
MODEL_RATE_HZ = 250
WINDOW = 384
R_AT = 192
CLIP_MV = 5.0
MAX_RATIO_TERMS = 100  # 500 / fs is approximated by a fraction with terms at most this
KEEP_S = 4.0  # samples kept behind the newest one, for peaks the front end reports late
STALL_S = 3.0  # a beat waiting this long past its window for analysis windows is released
FILTER_BAND_HZ = (1.0, 40.0)  # morphology band: baseline and high-frequency noise removed
QRS_HALF_S = 0.06  # lead II's QRS amplitude is measured within this of R
TEMPLATE_EVERY = 4  # while the model decides, morphology templates learn from every 4th beat

MORPHOLOGY = "morphology"
FALLBACK = "morphology (lead II unusable)"
OVERRULED = "morphology (lead II noisy, QRS clean on another lead)"


class _WindowPlan:
    """Which source samples a beat's model window needs, and how to turn them into it."""

    def __init__(self, fs: Fraction) -> None:
        self.fs = Fraction(fs)
        ratio = (Fraction(SOURCE_RATE_HZ) / self.fs).limit_denominator(MAX_RATIO_TERMS)
        self.up, self.down = ratio.numerator, ratio.denominator
        self.identity = ratio == 1
        # resample_poly's default FIR has 2 * 10 * max(up, down) + 1 taps at the up rate
        self.margin = 0 if self.identity else math.ceil(10 * max(self.up, self.down) / self.up) + 2
        span500 = 2 * WINDOW
        if self.identity:
            self.n_in = span500
        else:
            self.n_in = math.ceil(span500 * self.down / self.up) + 2 * self.margin + self.down

    def start(self, index: int) -> tuple[int, int]:
        """(first source index, offset of the window's first 500 Hz sample in the resampled
        segment) for a beat at source `index`. Integer arithmetic: exact at any index."""
        r = index * MODEL_RATE_HZ * self.fs.denominator // self.fs.numerator  # R at 250 Hz
        a500 = 2 * (r - R_AT)
        if self.identity:
            return a500, 0
        up, down = self.up, self.down
        s0 = (a500 * down - self.margin * up) // (up * down) * down
        return s0, a500 - s0 * up // down

    def inputs(self, segments: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Model inputs (n, 1, 384) float32 from source segments (n, n_in)."""
        x = segments.astype(np.float64)
        if not self.identity:
            x = resample_poly(x, self.up, self.down, axis=1, padtype="line")
            idx = offsets[:, None] + np.arange(2 * WINDOW)
            x = np.take_along_axis(x, idx, axis=1)
        pairs = (x[:, 0::2] + x[:, 1::2]) * 0.5
        centred = pairs - np.median(pairs, axis=1, keepdims=True)
        return np.clip(centred, -CLIP_MV, CLIP_MV).astype(np.float32)[:, None, :]


@lru_cache(maxsize=16)
def lookahead_samples(fs: Fraction) -> int:
    """The most samples past a beat's R peak the classifier needs before reporting it
    (the window plan repeats with the rate ratio; 20,000 consecutive indices cover it for
    every ratio with terms <= 100, and any realistic one)."""
    plan = _WindowPlan(Fraction(fs))
    fs = Fraction(fs)
    i = np.arange(20_000, 40_000, dtype=np.int64)
    r = i * MODEL_RATE_HZ * fs.denominator // fs.numerator
    a500 = 2 * (r - R_AT)
    if plan.identity:
        s0 = a500
    else:
        up, down = plan.up, plan.down
        s0 = (a500 * down - plan.margin * up) // (up * down) * down
    return int((s0 + plan.n_in - i).max())


class LeadHistory:
    """The recent samples of every lead, and a band-passed copy computed only when asked.

    Filtering on demand (not per fed chunk) keeps a 40 ms chunk cheap; the filter is causal
    and its state carried, so the band-passed samples are the same however the stream was
    chunked or whenever they were asked for. A NaN sample (missing) is filtered as the last
    finite value of its lead (a NaN would poison the filter state for good); `raw` keeps the
    NaN, so callers see what is missing.
    """

    def __init__(self, n_leads: int, sos: np.ndarray) -> None:
        self.n_leads = n_leads
        self._sos = sos
        self.reset(0)

    def reset(self, index: int) -> None:
        self.start = self.end = self._filtered = index  # [start, end) kept
        self._raw = np.empty((self.n_leads, 4096), dtype=np.float32)
        self._filt = np.empty((self.n_leads, 4096), dtype=np.float64)
        self._zi: np.ndarray | None = None
        self._hold = np.zeros(self.n_leads)

    def append(self, x: np.ndarray) -> None:
        n = x.shape[1]
        if self.end - self.start + n > self._raw.shape[1]:
            cap = max(2 * self._raw.shape[1], self.end - self.start + n)
            raw = np.empty((self.n_leads, cap), dtype=np.float32)
            filt = np.empty((self.n_leads, cap), dtype=np.float64)
            raw[:, : self.end - self.start] = self._raw[:, : self.end - self.start]
            filt[:, : self._filtered - self.start] = self._filt[:, : self._filtered - self.start]
            self._raw, self._filt = raw, filt
        self._raw[:, self.end - self.start : self.end - self.start + n] = x
        self.end += n

    def trim(self, keep_from: int) -> None:
        """Forget samples before `keep_from` (filtering up to there first: state carries)."""
        keep_from = min(keep_from, self.end)
        if keep_from <= self.start:
            return
        self._filter_to(keep_from)
        cut = keep_from - self.start
        kept, done = self.end - keep_from, self._filtered - keep_from
        self._raw[:, :kept] = self._raw[:, cut : cut + kept]
        self._filt[:, :done] = self._filt[:, cut : cut + done]
        self.start = keep_from

    def raw(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) (rows = leads) as float64, NaN where nothing was kept or received."""
        return self._slice(self._raw, a, b, self.end)

    def filtered(self, a: int, b: int) -> np.ndarray:
        """The band-passed samples [a, b), NaN where nothing was kept."""
        self._filter_to(min(b, self.end))
        return self._slice(self._filt, a, b, self._filtered)

    def _slice(self, buf: np.ndarray, a: int, b: int, stop: int) -> np.ndarray:
        lo, hi = max(a, self.start), min(b, stop)
        if a >= self.start and b <= stop:
            return buf[:, a - self.start : b - self.start].astype(np.float64)
        out = np.full((self.n_leads, b - a), np.nan)
        if hi > lo:
            out[:, lo - a : hi - a] = buf[:, lo - self.start : hi - self.start]
        return out

    def _filter_to(self, index: int) -> None:
        if index <= self._filtered:
            return
        a, b = self._filtered - self.start, index - self.start
        held = self._raw[:, a:b].astype(np.float64)
        valid = np.isfinite(held)
        if not valid.all():
            last = np.where(valid, np.arange(b - a), -1)
            np.maximum.accumulate(last, axis=1, out=last)
            rows = np.arange(self.n_leads)[:, None]
            held = np.where(last >= 0, held[rows, np.maximum(last, 0)], self._hold[:, None])
        self._hold = held[:, -1].copy()
        if self._zi is None:  # start at rest on the first sample: no step transient
            zi = sosfilt_zi(self._sos)[:, None, :] * held[:, 0][None, :, None]
            self._zi = np.ascontiguousarray(zi)
        self._filt[:, a:b], self._zi = sosfilt(self._sos, held, axis=1, zi=self._zi)
        self._filtered = index


class BeatClassifier:
    """R peaks in, classified beats out (see the module docstring)."""

    LOOKAHEAD_S: float = 0.9  # bound at 250-1000 Hz; each instance holds its exact value

    def __init__(self, fs: Fraction, leads: Sequence[str], bed: str, models: ModelSettings) -> None:
        self.fs = Fraction(fs)
        self.leads = tuple(leads)
        self.bed = bed
        self._fsf = float(self.fs)
        self._plan = _WindowPlan(self.fs)
        self.lookahead = lookahead_samples(self.fs)
        self.LOOKAHEAD_S = self.lookahead / self._fsf
        self._window = round(self.fs)  # analysis windows: [k W, (k + 1) W)
        self._lead2 = self.leads.index(LEAD) if LEAD in self.leads else None
        self._morph = MorphologyClassifier(self._fsf, len(self.leads))
        self._qrs_half = max(1, round(QRS_HALF_S * self._fsf))
        sos = butter(2, FILTER_BAND_HZ, btype="bandpass", fs=self._fsf, output="sos")
        self._history = LeadHistory(len(self.leads), sos)
        self._next: int | None = None  # index the next feed must start at
        self._pending: list[tuple[RPeak, int, int]] = []  # peak, window start, window end
        self._usable: dict[int, frozenset[str]] = {}  # window start -> usable leads
        self._windows_through = -1
        self._last_index: int | None = None  # last reported beat (RR, duplicates)
        self._startup: list[Condition] = []
        self._raised: list[Condition] = []
        self._backend: Any = None
        self._degraded = DegradedAlarm(bed, MODEL_NAME, MORPHOLOGY)
        self.counters = {
            "beats": 0,
            "model": 0,
            "fallback": 0,
            "overruled": 0,
            "stalled": 0,
            "late_peaks": 0,
            "inference_errors": 0,
        }
        self.decided_by = MORPHOLOGY
        self._load(models)

    # -- model -----------------------------------------------------------------------------
    def _load(self, models: ModelSettings) -> None:
        if not models.enabled:
            return
        from vigil.artifacts import load_artifact

        path = (
            Path(models.ecg_beat) if models.ecg_beat is not None else shipped_artifact(MODEL_NAME)
        )
        try:
            artifact = load_artifact(path)
            _check_manifest(artifact.manifest, path)
            backend = open_backend(artifact, models)
        except (VigilError, OSError, ImportError) as exc:  # ImportError: no onnxruntime
            log.error("beat classifier: %s does not load (%s); morphology only", path, exc)
            self._startup.append(
                condition(
                    "model_unavailable",
                    self.bed,
                    0.0,
                    key=MODEL_NAME,
                    evidence={
                        "model": MODEL_NAME,
                        "path": str(path),
                        "error": str(exc),
                        "fallback": MORPHOLOGY,
                    },
                )
            )
            return
        manifest = artifact.manifest
        self._backend = backend
        self._model = f"model:{manifest.name} {manifest.version}"
        self._input = manifest.inputs[0].name
        self._output = manifest.outputs[0].name
        self.decided_by = f"{self._model} {backend.name}"

    def startup_conditions(self) -> list[Condition]:
        """A `model_unavailable` condition if the artifact did not load; [] otherwise."""
        return list(self._startup)

    def take_conditions(self) -> list[Condition]:
        """Technical conditions raised since the last call: `inference_degraded` when the
        model moved to another backend or, every backend having failed, to morphology;
        `model_unavailable` when the model refused a batch (morphology from then on)."""
        out, self._raised = self._raised, []
        return out

    # -- stream ----------------------------------------------------------------------------
    def feed(
        self,
        first_index: int,
        samples: np.ndarray,
        peaks: Sequence[RPeak],
        windows: Sequence[EcgWindow],
    ) -> list[Beat]:
        """Beats whose classification window is now complete, in index order."""
        samples = np.asarray(samples)
        check_feed("BeatClassifier", self._next, first_index, samples, rows=len(self.leads))
        if self._next is None:
            self._restart(first_index)
        self._history.append(samples)
        self._next = self._history.end
        for w in windows:
            self._usable[w.start] = frozenset(w.usable_leads)
            self._windows_through = max(self._windows_through, w.stop)
        if peaks:
            self._add_peaks(peaks)
        if not self._pending:
            self._trim()
            return []
        ready = self._ready(self._history.end)
        beats = self._classify(ready) if ready else []
        self._trim()
        return beats

    def beats_through(self, analysed_through: int) -> int:
        """Every beat with an index below this has been reported, given the front end's
        `analysed_through` (every R peak before it has reached the classifier): that index,
        unless a peak before it still waits for its window. Lets the arrhythmia detector
        decide a beatless span (asystole) without waiting out the look-ahead."""
        if self._pending:
            return min(analysed_through, self._pending[0][0].index)
        return analysed_through

    def gap(self, next_index: int) -> list[Beat]:
        """A discontinuity: report the waiting beats with what arrived, restart at
        `next_index` (filters, buffers and the RR chain)."""
        beats = self._classify([p for p, _, _ in self._pending]) if self._pending else []
        self._pending = []
        self._restart(next_index)
        self._last_index = None
        self._morph.reset_rhythm()
        return beats

    def _restart(self, index: int) -> None:
        self._next = index
        self._history.reset(index)

    def _add_peaks(self, peaks: Sequence[RPeak]) -> None:
        for p in peaks:
            last = self._pending[-1][0].index if self._pending else self._last_index
            if last is not None and p.index <= last:
                self.counters["late_peaks"] += 1
                continue
            s0, _ = self._plan.start(p.index)
            self._pending.append((p, s0, s0 + self._plan.n_in))

    def _ready(self, end: int) -> list[RPeak]:
        ready: list[RPeak] = []
        for p, _, need in self._pending:
            if end < need:
                break
            if self._windows_through < need // self._window * self._window:
                if end < need + STALL_S * self._fsf:
                    break
                self.counters["stalled"] += 1
            ready.append(p)
        del self._pending[: len(ready)]
        return ready

    def _trim(self) -> None:
        h = self._history
        keep_from = h.end - round(KEEP_S * self._fsf)
        if self._pending:
            p, s0, _ = self._pending[0]
            keep_from = min(keep_from, s0, p.index - self._morph.before)
        if keep_from - h.start >= self._window:  # in steps: trimming costs a copy
            h.trim(keep_from)
            stale = [s for s in self._usable if s + self._window < h.start]
            for s in stale:
                del self._usable[s]

    # -- classification --------------------------------------------------------------------
    def _lead_usable(self, a: int, b: int) -> set[str]:
        """Leads that no analysis window overlapping [a, b) and ending by `b` calls unusable
        (only those: whether a later window has been reported depends on chunking)."""
        usable = set(self.leads)
        first = a // self._window * self._window
        for start in range(first, b - self._window + 1, self._window):
            verdict = self._usable.get(start)
            if verdict is not None:
                usable &= verdict
        return usable

    def _classify(self, peaks: list[RPeak]) -> list[Beat]:
        """Label `peaks` (in order): one model call for the batch, then beat by beat."""
        m = self._morph
        n_leads = len(self.leads)
        model_rows: list[int] = []
        segments = []
        offsets = []
        usables = []
        for k, p in enumerate(peaks):
            s0, offset = self._plan.start(p.index)
            s1 = s0 + self._plan.n_in
            usable = self._lead_usable(s0, s1)
            usables.append(usable)
            if self._backend is None or self._lead2 is None or LEAD not in usable:
                continue
            lead2 = self._history.raw(s0, s1)[self._lead2]
            r = p.index - s0
            qrs = lead2[max(0, r - self._qrs_half) : r + self._qrs_half + 1]
            if np.isfinite(lead2).all() and qrs.max() - qrs.min() >= MIN_QRS_MV:
                model_rows.append(k)
                segments.append(lead2)
                offsets.append(offset)
        model_out: dict[int, tuple[str, float]] = {}
        if model_rows:
            t_s = peaks[model_rows[0]].t_s
            model_out = self._infer(model_rows, np.stack(segments), np.asarray(offsets), t_s)
        # Morphology where it decides (no model verdict; the model's "other", which another
        # lead may overrule) and, to keep the templates current for when it must, on every
        # TEMPLATE_EVERY-th beat the model labels: template-free measures of all those beats
        # on every usable lead in one pass, QRS widths only where morphology decides.
        count = self.counters["beats"]
        needed = [
            k not in model_out or model_out[k][0] == "Q" or (count + k) % TEMPLATE_EVERY == 0
            for k in range(len(peaks))
        ]
        filtered, timed, rows = [], [], np.full((len(peaks), n_leads), -1)
        if any(needed):
            last = max(p.index for p, need in zip(peaks, needed, strict=True) if need)
            self._history.filtered(last, last + m.after)  # filter once for the batch
        for k, p in enumerate(peaks):
            if not needed[k]:
                continue
            a, b = p.index - m.before, p.index + m.after
            seg = self._history.filtered(a, b)
            present = np.isfinite(self._history.raw(a, b)).all(axis=1)
            for j, lead in enumerate(self.leads):
                if present[j] and lead in usables[k]:
                    rows[k, j] = len(filtered)
                    filtered.append(seg[j])
                    timed.append(k not in model_out)
        segments_f = np.stack(filtered) if filtered else np.empty((0, m.length))
        shapes = m.shapes(segments_f, np.asarray(timed, dtype=bool))
        return [
            self._beat(p, shapes, segments_f, rows[k], model_out.get(k))
            for k, p in enumerate(peaks)
        ]

    def _infer(
        self, rows: list[int], segments: np.ndarray, offsets: np.ndarray, t_s: float
    ) -> dict[int, tuple[str, float]]:
        x = self._plan.inputs(segments, offsets)
        try:
            logits = self._backend.infer({self._input: x})[self._output]
        except VigilError as exc:  # no backend left, or the batch refused: morphology now
            log.error("beat classifier: inference failed (%s); morphology from now on", exc)
            self.counters["inference_errors"] += 1
            degraded = self._degraded.update(self._backend, t_s, self._analysed_s())
            self._raised += degraded
            self._backend = None
            self.decided_by = MORPHOLOGY
            if not isinstance(exc, NoBackend) or not degraded:
                evidence = {"model": MODEL_NAME, "error": str(exc), "fallback": MORPHOLOGY}
                self._raised.append(
                    condition("model_unavailable", self.bed, t_s, key=MODEL_NAME, evidence=evidence)
                )
            return {}
        if degraded := self._degraded.update(self._backend, t_s, self._analysed_s()):
            self._raised += degraded
            self.decided_by = f"{self._model} {self._backend.name}"
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        best = p.argmax(axis=1)
        return {
            row: (LABELS[int(c)], float(p[i, c]))
            for i, (row, c) in enumerate(zip(rows, best, strict=True))
        }

    def _beat(
        self,
        p: RPeak,
        shapes: Shapes,
        segments: np.ndarray,
        rows: np.ndarray,
        model: tuple[str, float] | None,
    ) -> Beat:
        m = self._morph
        if model is not None and model[0] == "Q":  # the overrule needs the other leads timed
            m.time_qrs(shapes, segments, rows[rows >= 0])
        ms = m.measures(shapes, rows)
        rr = math.nan if self._last_index is None else (p.index - self._last_index) / self._fsf
        showing = np.flatnonzero(ms.measured & (ms.amplitude_mv >= SHOWS_MV))
        if model is not None:
            label, confidence = model
            decided = self.decided_by
            width = math.nan  # not measured: the model decided
            self.counters["model"] += 1
            if label == "Q":  # lead II noise over a real beat another lead shows cleanly?
                for k in showing:
                    if k != self._lead2 and m.matches_normal(
                        ms.width_s[k], ms.correlation[k], ms.amplitude_mv[k]
                    ):
                        label, decided = "N", OVERRULED
                        confidence, width = float(ms.correlation[k]), float(ms.width_s[k])
                        self.counters["overruled"] += 1
                        break
        elif len(showing) == 0:
            label, confidence, decided, width = "Q", math.nan, self._fallback_name(), math.nan
        else:  # the lead with the largest QRS
            k = int(showing[np.argmax(ms.amplitude_mv[showing])])
            width, confidence = float(ms.width_s[k]), float(ms.correlation[k])
            label = m.classify(width, confidence, float(ms.amplitude_mv[k]), rr)
            decided = self._fallback_name()
            if self._backend is not None:
                self.counters["fallback"] += 1
        m.learn(ms, label, rr)
        m.observe_rhythm(label, rr)
        self._last_index = p.index
        self.counters["beats"] += 1
        return Beat(
            index=p.index,
            t_s=p.t_s,
            label=label,
            decided_by=decided,
            confidence=confidence,
            amplitude_mv=p.amplitude_mv,
            qrs_width_s=width,
            rr_s=rr,
        )

    def _analysed_s(self) -> float:
        """Device time (s) of the samples received so far: when a decision was made."""
        return self._history.end / self._fsf

    def _fallback_name(self) -> str:
        return FALLBACK if self._backend is not None else MORPHOLOGY


def _check_manifest(manifest: Any, path: Path) -> None:
    """Refuse an artifact whose input is not the one this classifier builds."""
    meta = manifest.meta
    want = {
        "labels": ["normal", "ventricular", "other"],
        "sample_rate_hz": MODEL_RATE_HZ,
        "source_rate_hz": SOURCE_RATE_HZ,
        "window_samples": WINDOW,
        "r_peak_index": R_AT,
        "lead": LEAD,
    }
    wrong = {k: meta.get(k) for k, v in want.items() if meta.get(k) != v}
    shape = tuple(manifest.inputs[0].shape) if manifest.inputs else ()
    if len(shape) != 3 or shape[1:] != (1, WINDOW):
        wrong["input shape"] = list(shape)
    if wrong:
        raise _ManifestMismatch(
            f"{path}: the beat classifier builds lead II windows of {WINDOW} samples at "
            f"{MODEL_RATE_HZ} Hz with labels normal/ventricular/other; this artifact's "
            f"manifest differs: {wrong}"
        )


class _ManifestMismatch(VigilError):
    """The artifact is valid but not a beat model this classifier can feed."""
