"""`vigil analyze --json OUT`: a whole analysis as strict JSON, for reviewers and scripts.

Times are seconds from the record's start (a byte recording's device clock may start
anywhere; `record.device_start_s` says where). JSON has no NaN: a missing value is null, so
any parser reads the file (`json.dumps(allow_nan=False)` guards it). Keys:

- `record`: path, format, analysed channels, ignored signals, notes.
- `summary`: duration, analysis time (`input_s` of it producing records; `open_s` before it
  opening the file) and x real time,
  beats per class, heart-rate range, alarm counts per kind, classifier(s), the analyser's
  counters, fusion vetoes per kind.
- `beats`: `[{t_s, label, decided_by, confidence}]`.
- `alarms`: `[{kind, priority, category, onset_s, end_s, value, key, evidence}]` (`end_s`
  null: still active when the record ended; `evidence` as the detector wrote it, any times in
  it on the device clock).
- `suppressed`: conditions a fusion rule vetoed, with its evidence.
- `heart_rate`: `[[t_s, bpm], ...]`.
- `ec57`: the beat-by-beat score, when a reference was given.
"""

from __future__ import annotations

import enum
import json
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vigil._version import __version__
from vigil.errors import ConfigError
from vigil.runtime.analysis.condition import Condition
from vigil.runtime.analysis.ec57 import Ec57Score
from vigil.runtime.analysis.recording_input import RecordingInput
from vigil.runtime.analysis.result import AnalysisResult

TIME_DECIMALS = 6  # 1 µs: finer than any sample period, compact in the file


def analysis_report(
    result: AnalysisResult,
    source: RecordingInput | None = None,
    *,
    analysis_s: float | None = None,
    input_s: float | None = None,
    open_s: float | None = None,
    ec57: Ec57Score | None = None,
) -> dict[str, Any]:
    """The report as plain JSON-compatible values (see the module docstring). `analysis_s`
    is the wall time of the feeding loop, `input_s` the part of it spent producing records
    (slicing, decoding), `open_s` the time to open the file before it (WFDB, CSV and NumPy
    files are read whole then; the first WFDB read imports wfdb)."""
    t0 = source.start_s if source is not None else 0.0

    def rel(t: float | None) -> float | None:
        return None if t is None or not math.isfinite(t) else round(t - t0, TIME_DECIMALS)

    report: dict[str, Any] = {"vigil": __version__, "bed": result.bed}
    if source is not None:
        report["record"] = {
            "path": str(source.path),
            "format": source.format,
            "channels": [
                {"name": c.name, "kind": c.kind, "rate_hz": float(c.rate), "units": c.units}
                for c in source.channels
            ],
            "ignored": list(source.ignored),
            "notes": list(source.notes),
            "device_start_s": source.start_s,
            "counters": dict(source.counters),
        }
    report["summary"] = summary(result, analysis_s, input_s)
    report["summary"]["open_s"] = open_s
    report["beats"] = [
        {
            "t_s": rel(b.t_s),
            "label": b.label,
            "decided_by": b.decided_by,
            "confidence": _number(b.confidence),
        }
        for b in result.beats
    ]
    report["alarms"] = [
        {**_condition(span.start, rel), "end_s": rel(span.end_s)} for span in result.spans
    ]
    report["suppressed"] = [_condition(c, rel) for c in result.suppressed]
    report["heart_rate"] = [
        [rel(t), _number(bpm)] for t, bpm in result.heart_rate if math.isfinite(t)
    ]
    if ec57 is not None:
        report["ec57"] = ec57.as_dict()
    return json_safe(report)


def summary(
    result: AnalysisResult, analysis_s: float | None = None, input_s: float | None = None
) -> dict[str, Any]:
    rates = [bpm for _, bpm in result.heart_rate if math.isfinite(bpm)]
    speed = result.duration_s / analysis_s if analysis_s else None
    return {
        "duration_s": result.duration_s,
        "analysis_s": analysis_s,
        "input_s": input_s,
        "x_real_time": speed,
        "beats": len(result.beats),
        "beats_per_class": dict(sorted(Counter(b.label for b in result.beats).items())),
        "heart_rate_range": [min(rates), max(rates)] if rates else None,
        "alarm_counts": dict(sorted(Counter(s.kind for s in result.spans).items())),
        "classifier": list(result.decided_by),
        "counters": dict(result.counters),
        "suppressed_counts": dict(sorted(Counter(c.kind for c in result.suppressed).items())),
    }


def write_report(report: Mapping[str, Any], path: str | Path) -> None:
    """Write `report` as strict JSON (no NaN), naming the file when it cannot be written."""
    path = Path(path)
    text = json.dumps(report, indent=1, allow_nan=False)
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write --json {path}: {exc.strerror or exc}") from exc


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None, tuples as lists, numpy scalars and enums as
    plain values, and anything else unknown as its text."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, float | np.floating):
        return _number(float(value))
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [json_safe(v) for v in value]
    return str(value)


def _condition(c: Condition, rel: Any) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "priority": c.priority.name.lower(),
        "category": c.category.value,
        "onset_s": rel(c.onset_s),
        "value": _number(c.value),
        "key": c.key,
        "evidence": json_safe(c.evidence),
    }


def _number(x: float) -> float | None:
    return x if math.isfinite(x) else None
