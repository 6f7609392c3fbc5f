"""What an analysis run produced: beats, condition spans, the heart-rate series, counters.

The live runtime consumes the same values step by step (`AnalysisStep`, per fed record);
`vigil analyze` collects them over a whole recording (`AnalysisResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.runtime.analysis.condition import Condition
from vigil.runtime.analysis.events import Beat, EcgWindow


@dataclass(slots=True)
class AnalysisStep:
    """What one `BedAnalyzer.feed` call produced (often nothing)."""

    beats: list[Beat] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)  # starts and ends, in order
    heart_rate: list[tuple[float, float]] = field(default_factory=list)  # (t_s, /min)
    ecg_windows: list[EcgWindow] = field(default_factory=list)

    def extend(self, other: AnalysisStep) -> None:
        self.beats.extend(other.beats)
        self.conditions.extend(other.conditions)
        self.heart_rate.extend(other.heart_rate)
        self.ecg_windows.extend(other.ecg_windows)


@dataclass(frozen=True, slots=True)
class ConditionSpan:
    """A condition from onset to end (None: still active when the record ended)."""

    start: Condition
    end_s: float | None

    @property
    def kind(self) -> str:
        return self.start.kind

    @property
    def onset_s(self) -> float:
        return self.start.onset_s


@dataclass(slots=True)
class AnalysisResult:
    """A whole recording's analysis. `duration_s` is the analysed span; `decided_by` names the
    beat classifier(s) used; `suppressed` lists conditions that fusion rules vetoed (with the
    rule), so their effect can be counted; `counters` holds gaps, NaN samples and the like."""

    bed: str
    duration_s: float
    beats: list[Beat]
    spans: list[ConditionSpan]
    heart_rate: list[tuple[float, float]]
    ecg_windows: list[EcgWindow]
    decided_by: tuple[str, ...]
    suppressed: list[Condition]
    counters: dict[str, int]
    ecg_fs: float | None = None


def spans_from(conditions: list[Condition]) -> list[ConditionSpan]:
    """Pair each condition start with its end (same identity, in order)."""
    open_: dict[tuple[str, str, str], Condition] = {}
    spans: list[ConditionSpan] = []
    order: list[Condition] = []
    ends: dict[int, float] = {}
    for c in conditions:
        if c.end_s is None:
            if c.identity not in open_:
                open_[c.identity] = c
                order.append(c)
        else:
            start = open_.pop(c.identity, None)
            if start is not None:
                ends[id(start)] = c.end_s
    for start in order:
        spans.append(ConditionSpan(start, ends.get(id(start))))
    return spans
