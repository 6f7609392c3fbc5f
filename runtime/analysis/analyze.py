"""Run a bed's analysis over a whole recording, as fast as the CPU allows.

The same `BedAnalyzer` the live runtime feeds record by record, fed here from a file's
records (recording_input.py makes them), collecting everything into an `AnalysisResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from vigil.records import Record
from vigil.runtime.analysis.bed_analyzer import BedAnalyzer
from vigil.runtime.analysis.result import AnalysisResult, AnalysisStep, spans_from
from vigil.runtime.analysis.settings import AnalysisSettings


def analyze_records(
    records: Iterable[Record],
    settings: AnalysisSettings,
    *,
    derive_numerics: bool = False,
    clock: Callable[[], int] = time.monotonic_ns,
) -> AnalysisResult:
    """Feed every record to one `BedAnalyzer` and collect what it found. A recording without
    the monitor's numerics (WFDB, CSV, NumPy) wants `derive_numerics=True` (bed_analyzer.py)."""
    analyzer = BedAnalyzer(settings, derive_numerics=derive_numerics, clock=clock)
    return analyze_with(analyzer, records)


def analyze_with(analyzer: BedAnalyzer, records: Iterable[Record]) -> AnalysisResult:
    """`analyze_records` on a bed the caller built and keeps, to read what the result does
    not carry (the arrhythmia detector's counters, the VF vetoes)."""
    total = AnalysisStep()
    for record in records:
        total.extend(analyzer.feed(record))
    total.extend(analyzer.finish())
    fs = analyzer.ecg_fs
    duration = analyzer.counters["ecg_samples"] / float(fs) if fs else 0.0
    return AnalysisResult(
        bed=analyzer.bed,
        duration_s=duration,
        beats=total.beats,
        spans=spans_from(total.conditions),
        heart_rate=total.heart_rate,
        ecg_windows=total.ecg_windows,
        decided_by=tuple(sorted({b.decided_by for b in total.beats})),
        suppressed=list(analyzer.suppressed),
        counters=dict(analyzer.counters),
        ecg_fs=float(fs) if fs else None,
    )
