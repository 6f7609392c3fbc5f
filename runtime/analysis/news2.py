"""NEWS2 (Royal College of Physicians, 2017) from the 1 Hz numerics, every `period_s`.

Scores are computed on a fixed grid of device time (multiples of `settings.news2.period_s`),
each from the samples of the period before it: the median of each parameter's valid samples
(one artefactual second does not change a chart entry), rounded to the chart's resolution
(whole units, temperature 0.1 °C) and scored with the CLINICAL.md table. Pulse is
`pulse_rate`, or `hr` when the pulse rate has no valid sample in the period. Air/oxygen,
the SpO2 scale and consciousness (alert 0, anything else 3) come from the bed's settings.

Missing parameters are never scored as normal silently. With at most `MAX_MISSING` (1) of the
five measured parameters missing the score is computed from the others and is a lower bound
of the true one (every missing parameter could add up to 3): it is reported with the missing
names, and conditions follow it, since a lower bound at or over a threshold is a true alarm.
With more missing the period is not scored (`total` None): too little is known to claim
anything, so an active NEWS2 condition ends with `ended_by: "not_scored"` and the missing
names (the technical conditions of the sources say why they are missing).

Conditions: `news2_medium` when the total is >= 5 or any single parameter scores 3,
`news2_high` when the total is >= 7; a high one replaces a medium one (the medium ends when the
high starts, and the other way round). Onsets and ends are grid times.
"""

from __future__ import annotations

import math
import numbers
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import median
from typing import Any

from vigil.runtime.analysis.condition import Condition, condition, ended
from vigil.runtime.analysis.settings import AnalysisSettings, News2Settings

CONSCIOUSNESS = ("alert", "confusion", "voice", "pain", "unresponsive")
MEASURED = ("resp_rate", "spo2", "nibp_sys", "pulse", "temp")
"""The five measured parameters, by the name they have in scores and evidence."""
MAX_MISSING = 1
MEDIUM_TOTAL = 5
HIGH_TOTAL = 7


def chart_int(value: float) -> int:
    """Round half up to a whole unit, as a chart entry."""
    return math.floor(value + 0.5)


def score_resp_rate(rate: float) -> int:
    r = chart_int(rate)
    if r <= 8:
        return 3
    if r <= 11:
        return 1
    if r <= 20:
        return 0
    if r <= 24:
        return 2
    return 3


def score_spo2(spo2: float, scale: int = 1, on_oxygen: bool = False) -> int:
    """Scale 1, or scale 2 (hypercapnic respiratory failure: 88-92 % scores 0, and above 92 %
    scores only on oxygen)."""
    s = chart_int(spo2)
    if scale == 1:
        if s <= 91:
            return 3
        if s <= 93:
            return 2
        if s <= 95:
            return 1
        return 0
    if s <= 83:
        return 3
    if s <= 85:
        return 2
    if s <= 87:
        return 1
    if s <= 92 or not on_oxygen:
        return 0
    if s <= 94:
        return 1
    if s <= 96:
        return 2
    return 3


def score_air_or_oxygen(on_oxygen: bool) -> int:
    return 2 if on_oxygen else 0


def score_systolic(sys_mmhg: float) -> int:
    s = chart_int(sys_mmhg)
    if s <= 90:
        return 3
    if s <= 100:
        return 2
    if s <= 110:
        return 1
    if s <= 219:
        return 0
    return 3


def score_pulse(pulse: float) -> int:
    p = chart_int(pulse)
    if p <= 40:
        return 3
    if p <= 50:
        return 1
    if p <= 90:
        return 0
    if p <= 110:
        return 1
    if p <= 130:
        return 2
    return 3


def score_consciousness(level: str) -> int:
    return 0 if level == "alert" else 3


def score_temperature(temp_c: float) -> int:
    tenths = math.floor(temp_c * 10 + 0.5 + 1e-9)  # 0.1 °C chart resolution, exact compares
    if tenths <= 350:
        return 3
    if tenths <= 360:
        return 1
    if tenths <= 380:
        return 0
    if tenths <= 390:
        return 1
    return 2


@dataclass(frozen=True, slots=True)
class News2Score:
    """One NEWS2 evaluation at grid time `t_s`.

    `sub_scores` holds every scored parameter (the five measured ones that were present, plus
    `air_or_oxygen` and `consciousness`); `values` the chart values used; `missing` the
    measured parameters without a valid sample in the period. `total` is None when the period
    was not scored (more than `MAX_MISSING` missing); with one missing it is a lower bound.
    """

    t_s: float
    total: int | None
    sub_scores: dict[str, int]
    values: dict[str, float]
    missing: tuple[str, ...]
    scale: int
    pulse_source: str = ""  # "pulse_rate" or "hr"

    @property
    def scored(self) -> bool:
        return self.total is not None

    @property
    def any_three(self) -> bool:
        return any(v == 3 for v in self.sub_scores.values())

    def to_evidence(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "sub_scores": dict(self.sub_scores),
            "values": dict(self.values),
            "missing": list(self.missing),
            "lower_bound": bool(self.missing) and self.total is not None,
            "scale": self.scale,
            "pulse_source": self.pulse_source,
        }


def news2_score(
    t_s: float, values: Mapping[str, float], cfg: News2Settings, pulse_source: str = ""
) -> News2Score:
    """Score one set of chart values (keys: resp_rate, spo2, nibp_sys, pulse, temp; absent or
    NaN = missing)."""
    scorers = {
        "resp_rate": score_resp_rate,
        "spo2": lambda v: score_spo2(v, cfg.scale, cfg.on_oxygen),
        "nibp_sys": score_systolic,
        "pulse": score_pulse,
        "temp": score_temperature,
    }
    sub: dict[str, int] = {}
    used: dict[str, float] = {}
    missing = []
    for name in MEASURED:
        v = values.get(name, math.nan)
        if not _valid(v):
            missing.append(name)
            continue
        used[name] = float(v)
        sub[name] = scorers[name](float(v))
    sub["air_or_oxygen"] = score_air_or_oxygen(cfg.on_oxygen)
    sub["consciousness"] = score_consciousness(cfg.consciousness)
    total = sum(sub.values()) if len(missing) <= MAX_MISSING else None
    return News2Score(t_s, total, sub, used, tuple(missing), cfg.scale, pulse_source)


class News2Scorer:
    """NEWS2 conditions of one bed; `update` once per numerics sample (protocol field names:
    resp_rate, spo2, nibp_sys, pulse_rate, hr, temp)."""

    FIELDS = ("resp_rate", "spo2", "nibp_sys", "pulse_rate", "hr", "temp")

    def __init__(self, bed: str, settings: AnalysisSettings) -> None:
        cfg = settings.news2
        if cfg.scale not in (1, 2):
            raise ValueError(f"NEWS2 SpO2 scale must be 1 or 2, got {cfg.scale}")
        if cfg.consciousness not in CONSCIOUSNESS:
            raise ValueError(
                f"NEWS2 consciousness {cfg.consciousness!r} is not one of "
                + ", ".join(CONSCIOUSNESS)
            )
        if not (math.isfinite(cfg.period_s) and cfg.period_s > 0):
            raise ValueError(f"NEWS2 period_s must be positive, got {cfg.period_s}")
        self.bed = bed
        self.cfg = cfg
        self.period = float(cfg.period_s)
        self._windows: dict[str, deque[tuple[float, float]]] = {n: deque() for n in self.FIELDS}
        self._next_grid: float | None = None
        self._last_t: float | None = None
        self._active: Condition | None = None
        self.last_score: News2Score | None = None

    def update(self, t_s: float, values: Mapping[str, float]) -> list[Condition]:
        if self._last_t is not None and not t_s > self._last_t:
            raise ValueError(f"News2Scorer.update: time {t_s} s does not follow {self._last_t} s")
        self._last_t = t_s
        if self._next_grid is None:
            self._next_grid = (math.floor(t_s / self.period) + 1) * self.period
        out: list[Condition] = []
        while self._next_grid <= t_s:  # every period before this sample is complete
            out.extend(self._score(self._next_grid, t_s))
            self._next_grid += self.period
        for name, window in self._windows.items():
            v = values.get(name, math.nan)
            if _valid(v):
                window.append((t_s, float(v)))
        return out

    def _chart_values(self, g: float) -> tuple[dict[str, float], str]:
        """Median of each field's valid samples in [g - period, g)."""
        med: dict[str, float] = {}
        for name, s in self._windows.items():
            while s and s[0][0] < g - self.period:
                s.popleft()
            inside = [v for t, v in s if t < g]
            med[name] = median(inside) if inside else math.nan
        pulse_source = "pulse_rate" if _valid(med["pulse_rate"]) else "hr"
        chart = {
            "resp_rate": med["resp_rate"],
            "spo2": med["spo2"],
            "nibp_sys": med["nibp_sys"],
            "pulse": med[pulse_source],
            "temp": med["temp"],
        }
        return chart, pulse_source if _valid(med[pulse_source]) else ""

    def _score(self, g: float, decided_at_s: float) -> list[Condition]:
        chart, source = self._chart_values(g)
        score = news2_score(g, chart, self.cfg, source)
        self.last_score = score
        if score.total is None:
            want = None
        elif score.total >= HIGH_TOTAL:
            want = "news2_high"
        elif score.total >= MEDIUM_TOTAL or score.any_three:
            want = "news2_medium"
        else:
            want = None
        out: list[Condition] = []
        now_ns = time.monotonic_ns()
        if self._active is not None and self._active.kind != want:
            why = {"ended_by": "not_scored" if score.total is None else "score"}
            why.update(score.to_evidence())
            out.append(
                ended(
                    self._active,
                    g,
                    evidence={"end": why},
                    decided_at_s=decided_at_s,
                    decided_ns=now_ns,
                )
            )
            self._active = None
        if want is not None and self._active is None:
            self._active = condition(
                want,
                self.bed,
                g,
                value=float(score.total or 0),
                evidence=score.to_evidence(),
                decided_at_s=decided_at_s,
                decided_ns=now_ns,
            )
            out.append(self._active)
        return out


def _valid(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
