"""Beat-by-beat scoring as ANSI/AAMI EC57 (the statistics of PhysioNet's `bxb`).

A detected beat matches a reference beat when their times differ by at most 150 ms. Matching
is one-to-one, nearest pairs first (ties: earlier reference, then earlier detection), so two
detections near one reference beat give one true positive and one false positive.

- QRS detection: TP matched pairs, FN unmatched reference beats, FP unmatched detections;
  Se = TP / (TP + FN), +P = TP / (TP + FP).
- Ventricular beats (bxb's VEB rows): V TP a reference V detected as V; V FN a reference V
  detected as anything else or missed; V FP a detection labelled V that matches a reference
  N or S beat, or nothing (a V detection on a reference F or Q beat counts neither way).

Reference symbols map onto AAMI classes (`AAMI_CLASSES`); non-beat annotations ('+', '~',
'|', ...) are ignored, and reference beats inside a reference ventricular flutter or
fibrillation episode ('[' to ']') are excluded, as are detections there (bxb does the same).

What is scored: reference beats and unmatched detections in `[start_s, end_s)`. EC57 starts
scoring 5 minutes into a record (an algorithm's learning period); `vigil analyze` starts at
`--skip-s`, 0 by default, and says so. `end_s` lets a caller leave out the record's last
moments, which a causal analyser has not finished deciding when the record ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.runtime.analysis.recording_input import AnalysisInputError

MATCH_WINDOW_S = 0.15
EC57_SKIP_S = 300.0  # the standard's start-up exclusion
TIME_TOLERANCE_S = 1e-6  # float round-off in index / fs: "exactly 150 ms" still matches

AAMI_CLASSES: dict[str, str] = {
    **dict.fromkeys("NLRBej", "N"),  # normal, bundle branch blocks, junctional/atrial escape
    **dict.fromkeys("VEr", "V"),  # PVC, ventricular escape, R-on-T
    **dict.fromkeys("AaJSn", "S"),  # supraventricular premature and escape beats
    "F": "F",  # fusion of ventricular and normal
    **dict.fromkeys("Q/f?", "Q"),  # unclassifiable, paced, fusion of paced and normal
}
"""MIT/WFDB beat symbol -> AAMI class (EC57; bxb's `amap`). Anything else is not a beat."""

VF_ON, VF_OFF = "[", "]"


@dataclass(frozen=True, slots=True)
class Reference:
    """Reference beats (times in s, AAMI classes) and the reference's VF episodes."""

    times_s: np.ndarray
    classes: tuple[str, ...]
    vf_episodes: tuple[tuple[float, float], ...] = ()
    annotator: str = ""

    @classmethod
    def from_symbols(
        cls, times_s: Iterable[float], symbols: Iterable[str], annotator: str = ""
    ) -> Reference:
        """Keep the beat annotations (classes by `AAMI_CLASSES`), note VF episodes."""
        beats: list[tuple[float, str]] = []
        episodes: list[tuple[float, float]] = []
        vf_on: float | None = None
        for t, symbol in zip(times_s, symbols, strict=True):
            if symbol == VF_ON:
                vf_on = float(t) if vf_on is None else vf_on
            elif symbol == VF_OFF and vf_on is not None:
                episodes.append((vf_on, float(t)))
                vf_on = None
            elif symbol in AAMI_CLASSES:
                beats.append((float(t), AAMI_CLASSES[symbol]))
        if vf_on is not None:
            episodes.append((vf_on, math.inf))
        beats.sort(key=lambda b: b[0])
        times = np.array([t for t, _ in beats], dtype=np.float64)
        return cls(times, tuple(c for _, c in beats), tuple(episodes), annotator)


@dataclass(frozen=True, slots=True)
class Ec57Score:
    """Counts and rates of one comparison; a rate is None when undefined (0 / 0)."""

    tp: int
    fn: int
    fp: int
    v_tp: int
    v_fn: int
    v_fp: int
    start_s: float
    end_s: float
    window_s: float = MATCH_WINDOW_S
    annotator: str = ""

    @property
    def se(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def ppv(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def v_se(self) -> float | None:
        return _ratio(self.v_tp, self.v_tp + self.v_fn)

    @property
    def v_ppv(self) -> float | None:
        return _ratio(self.v_tp, self.v_tp + self.v_fp)

    def lines(self) -> list[str]:
        """Human summary, one line for QRS detection and one for ventricular beats."""
        span = f"scored from {self.start_s:g} s"
        if math.isfinite(self.end_s):
            span += f" to {self.end_s:.1f} s"
        if self.start_s < EC57_SKIP_S:
            span += f" (EC57 skips the first {EC57_SKIP_S:g} s: --skip-s {EC57_SKIP_S:g})"
        head = f"EC57 vs {self.annotator or 'reference'}, {self.window_s * 1000:g} ms window"
        return [
            f"{head}, {span}",
            f"  QRS Se {_pct(self.se)} ({self.tp}/{self.tp + self.fn}), "
            f"+P {_pct(self.ppv)} ({self.tp}/{self.tp + self.fp}); FN {self.fn}, FP {self.fp}",
            f"  V   Se {_pct(self.v_se)} ({self.v_tp}/{self.v_tp + self.v_fn}), "
            f"+P {_pct(self.v_ppv)} ({self.v_tp}/{self.v_tp + self.v_fp})",
        ]

    def as_dict(self) -> dict[str, object]:
        return {
            "annotator": self.annotator,
            "window_s": self.window_s,
            "start_s": self.start_s,
            "end_s": self.end_s if math.isfinite(self.end_s) else None,
            "tp": self.tp,
            "fn": self.fn,
            "fp": self.fp,
            "se": self.se,
            "ppv": self.ppv,
            "v_tp": self.v_tp,
            "v_fn": self.v_fn,
            "v_fp": self.v_fp,
            "v_se": self.v_se,
            "v_ppv": self.v_ppv,
        }


def match_beats(
    reference_s: np.ndarray, detected_s: np.ndarray, window_s: float = MATCH_WINDOW_S
) -> list[tuple[int, int]]:
    """One-to-one (reference index, detection index) pairs within `window_s`, nearest first.

    Candidates come from a sorted search, so the cost is that of sorting the few pairs
    within the window of each other (O(n log n)), not of comparing every pair.
    """
    ref = np.asarray(reference_s, dtype=np.float64)
    det = np.asarray(detected_s, dtype=np.float64)
    if not len(ref) or not len(det):
        return []
    order = np.argsort(det, kind="stable")
    det_sorted = det[order]
    reach = window_s + TIME_TOLERANCE_S
    lo = np.searchsorted(det_sorted, ref - reach, side="left")
    hi = np.searchsorted(det_sorted, ref + reach, side="right")
    counts = hi - lo
    ref_idx = np.repeat(np.arange(len(ref)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    det_idx = order[np.repeat(lo, counts) + offsets]
    distance = np.abs(ref[ref_idx] - det[det_idx])
    keep = distance <= reach
    ref_idx, det_idx, distance = ref_idx[keep], det_idx[keep], distance[keep]
    pairs: list[tuple[int, int]] = []
    used_ref: set[int] = set()
    used_det: set[int] = set()
    for k in np.lexsort((det_idx, ref_idx, distance)):
        r, d = int(ref_idx[k]), int(det_idx[k])
        if r not in used_ref and d not in used_det:
            used_ref.add(r)
            used_det.add(d)
            pairs.append((r, d))
    pairs.sort()
    return pairs


def score(
    reference: Reference,
    detected_s: Iterable[float],
    detected_labels: Iterable[str],
    *,
    start_s: float = 0.0,
    end_s: float = math.inf,
    window_s: float = MATCH_WINDOW_S,
) -> Ec57Score:
    """Compare detections (times in s, labels N/V/Q/...) with `reference` (module doc)."""
    det_t = np.asarray(list(detected_s), dtype=np.float64)
    det_label = list(detected_labels)
    if len(det_label) != len(det_t):
        raise ValueError(f"{len(det_t)} detection times but {len(det_label)} labels")
    ref_in_vf = _inside(reference.times_s, reference.vf_episodes)
    det_in_vf = _inside(det_t, reference.vf_episodes)
    ref_keep = np.flatnonzero(~ref_in_vf)
    ref_t = reference.times_s[ref_keep]
    ref_class = [reference.classes[i] for i in ref_keep]
    pairs = match_beats(ref_t, det_t, window_s)
    matched_det = {d for _, d in pairs}
    matched_ref = dict(pairs)

    def scored(t: float) -> bool:
        return start_s <= t < end_s

    tp = fn = fp = v_tp = v_fn = v_fp = 0
    for r, t in enumerate(ref_t):
        if not scored(t):
            continue
        d = matched_ref.get(r)
        label = None if d is None else det_label[d]
        tp += d is not None
        fn += d is None
        if ref_class[r] == "V":
            v_tp += label == "V"
            v_fn += label != "V"
        elif label == "V" and ref_class[r] in ("N", "S"):
            v_fp += 1
    for d, t in enumerate(det_t):
        if d in matched_det or det_in_vf[d] or not scored(t):
            continue
        fp += 1
        v_fp += det_label[d] == "V"
    return Ec57Score(
        tp, fn, fp, v_tp, v_fn, v_fp, start_s, end_s, window_s, annotator=reference.annotator
    )


def load_reference(record: str | Path, annotator: str) -> Reference:
    """Reference annotations `RECORD.ANNOTATOR` of a WFDB record, read with `wfdb.rdann`."""
    from vigil.firmware_bridge.replay.wfdb_reader import INSTALL_HINT, WFDB_ERRORS, record_base

    path = Path(record)
    base = record_base(path)
    ann_path = base.with_name(f"{base.name}.{annotator}")
    if not ann_path.is_file():
        raise AnalysisInputError(
            f"{ann_path}: reference annotations not found (--reference {annotator} reads "
            "RECORD.ANNOTATOR beside a WFDB record)"
        )
    try:
        import wfdb  # the optional [replay] extra, imported on first use
    except ImportError as exc:
        raise AnalysisInputError(f"--reference needs the 'wfdb' package: {INSTALL_HINT}") from exc
    try:
        ann = wfdb.rdann(str(base), annotator)
        fs = ann.fs or wfdb.rdheader(str(base)).fs
    except WFDB_ERRORS as exc:
        raise AnalysisInputError(f"{ann_path}: not a readable WFDB annotation file: {exc}") from exc
    if not fs:
        raise AnalysisInputError(f"{ann_path}: no sampling frequency in it or in the header")
    times = np.asarray(ann.sample, dtype=np.float64) / float(fs)
    return Reference.from_symbols(times, list(ann.symbol), annotator)


def _inside(times: np.ndarray, episodes: tuple[tuple[float, float], ...]) -> np.ndarray:
    mask = np.zeros(len(times), dtype=bool)
    for a, b in episodes:
        mask |= (times >= a) & (times <= b)
    return mask


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"
