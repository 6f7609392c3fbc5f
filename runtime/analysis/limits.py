"""Alarm limits on the 1 Hz numerics: low/high with a condition delay and hysteresis.

Per parameter and side (settings.limits, CLINICAL.md defaults):
- start: the value is beyond the limit (below `low`, above `high`) on every sample for
  `delay_s` (SpO2: 15 s by default); the onset is the sample time at which the delay was
  satisfied, and the evidence records the first crossing, the limit and the delay;
- end: the value is back at or above `low + hysteresis` (at or below `high - hysteresis`), at
  that sample's time;
- SpO2 at or below `settings.desat_spo2` (80 %) is also a high-priority `spo2_desat`, with no
  delay (ending when SpO2 is above `desat_spo2 + hysteresis`). It does not replace `spo2_low`:
  both describe the patient, the alarm manager shows the higher priority.

A NaN, infinite or absent value is never compared with a limit. An active condition on that
parameter ends at the first invalid sample with evidence `ended_by: "invalid"` (a condition
must not stay "on" while nothing supports it; a new one needs the full delay again once the
value is valid), and after `INVALID_S` seconds of invalid values a low-priority technical
`numeric_invalid` starts (key: the parameter), ending when the value is valid again. 5 s: the
device's own rate meters drop a value for a second or two around artefacts, not worth a
technical alarm, while a parameter that cannot be watched for longer is announced well within
the SpO2 delay. A parameter never valid since monitoring began (NIBP not measured yet, no
temperature probe) is not monitored, not invalid.

Samples are expected once per second; a gap of more than `MAX_STEP_S` between samples restarts
every delay (nothing is known about the missing seconds).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.runtime.analysis.condition import Condition, condition, ended
from vigil.runtime.analysis.settings import LIMIT_KINDS, AnalysisSettings, Limit

INVALID_S = 5.0
MAX_STEP_S = 2.5


@dataclass(slots=True)
class _Side:
    """One side of one limit: `beyond_since` is the first crossing of the current excursion."""

    kind: str
    beyond_since: float | None = None
    active: Condition | None = None


@dataclass(slots=True)
class _Param:
    name: str
    limit: Limit
    sides: dict[str, _Side] = field(default_factory=dict)  # "low", "high", "desat"
    ever_valid: bool = False
    invalid_since: float | None = None
    invalid_cond: Condition | None = None


class LimitDetector:
    """Limit conditions of one bed; `update` once per numerics sample."""

    def __init__(self, bed: str, settings: AnalysisSettings) -> None:
        self.bed = bed
        self.desat = float(settings.desat_spo2)
        self._params: dict[str, _Param] = {}
        for name, limit in settings.limits.items():
            if name not in LIMIT_KINDS:
                raise ValueError(
                    f"no alarm limit kind for numeric {name!r} (known: {', '.join(LIMIT_KINDS)})"
                )
            _check_limit(name, limit)
            p = _Param(name, limit)
            prefix = LIMIT_KINDS[name]
            if limit.low is not None:
                p.sides["low"] = _Side(f"{prefix}_low")
            if limit.high is not None:
                p.sides["high"] = _Side(f"{prefix}_high")
            if name == "spo2":
                p.sides["desat"] = _Side("spo2_desat")
            self._params[name] = p
        self._last_t: float | None = None

    def update(self, t_s: float, values: Mapping[str, float]) -> list[Condition]:
        if self._last_t is not None and not t_s > self._last_t:
            raise ValueError(f"LimitDetector.update: time {t_s} s does not follow {self._last_t} s")
        restart = self._last_t is not None and t_s - self._last_t > MAX_STEP_S
        self._last_t = t_s
        out: list[Condition] = []
        for p in self._params.values():
            value = values.get(p.name, math.nan)
            if not _valid(value):
                self._invalid(p, t_s, out)
                continue
            value = float(value)
            if p.invalid_cond is not None:
                out.append(_end(p.invalid_cond, t_s, {"ended_by": "valid", "value": value}))
            p.invalid_cond, p.invalid_since, p.ever_valid = None, None, True
            for name, side in p.sides.items():
                if restart:
                    side.beyond_since = None
                if (made := self._side(p, name, t_s, value)) is not None:
                    out.append(made)
        return out

    def _invalid(self, p: _Param, t_s: float, out: list[Condition]) -> None:
        for side in p.sides.values():
            side.beyond_since = None
            if side.active is not None:
                out.append(_end(side.active, t_s, {"ended_by": "invalid"}))
                side.active = None
        if not p.ever_valid:
            return
        if p.invalid_since is None:
            p.invalid_since = t_s
        if p.invalid_cond is None and t_s - p.invalid_since >= INVALID_S:
            p.invalid_cond = condition(
                "numeric_invalid",
                self.bed,
                t_s,
                key=p.name,
                evidence={"parameter": p.name, "invalid_since_s": p.invalid_since},
                decided_at_s=t_s,
                decided_ns=time.monotonic_ns(),
            )
            out.append(p.invalid_cond)

    def _test(self, lim: Limit, side: str, value: float) -> tuple[float, bool, bool, float]:
        """(limit, beyond it, clear of it by the hysteresis, delay) for one side."""
        if side == "low":
            assert lim.low is not None
            return lim.low, value < lim.low, value >= lim.low + lim.hysteresis, lim.delay_s
        if side == "high":
            assert lim.high is not None
            return lim.high, value > lim.high, value <= lim.high - lim.hysteresis, lim.delay_s
        d = self.desat
        return d, value <= d, value > d + lim.hysteresis, 0.0

    def _side(self, p: _Param, name: str, t_s: float, value: float) -> Condition | None:
        """The start or end this sample makes on one side (a clear value cannot be beyond)."""
        side = p.sides[name]
        bound, beyond, clear, delay = self._test(p.limit, name, value)
        if side.active is not None:
            if not clear:
                return None
            done = _end(side.active, t_s, {"ended_by": "value", "end_value": value})
            side.active = None
            return done
        if not beyond:
            side.beyond_since = None
            return None
        if side.beyond_since is None:
            side.beyond_since = t_s
        if t_s - side.beyond_since < delay:
            return None
        evidence: dict[str, Any] = {
            "parameter": p.name,
            "limit": bound,
            "side": name,
            "delay_s": delay,
            "first_crossing_s": side.beyond_since,
            "hysteresis": p.limit.hysteresis,
        }
        side.active = condition(
            side.kind,
            self.bed,
            t_s,
            key=p.name,
            value=value,
            evidence=evidence,
            decided_at_s=t_s,
            decided_ns=time.monotonic_ns(),
        )
        side.beyond_since = None
        return side.active


def _end(active: Condition, t_s: float, evidence: dict[str, Any]) -> Condition:
    return ended(active, t_s, evidence=evidence, decided_at_s=t_s, decided_ns=time.monotonic_ns())


def _valid(value: Any) -> bool:
    """A real number that is finite (numpy scalars included; never a bool or NaN)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_limit(name: str, limit: Limit) -> None:
    for side in ("low", "high"):
        v = getattr(limit, side)
        if v is not None and not math.isfinite(v):
            raise ValueError(f"limit {name}.{side} must be finite, got {v}")
    if limit.low is not None and limit.high is not None and not limit.low < limit.high:
        raise ValueError(f"limit {name}: low {limit.low} must be below high {limit.high}")
    if not (math.isfinite(limit.hysteresis) and limit.hysteresis >= 0):
        raise ValueError(f"limit {name}: hysteresis must be >= 0, got {limit.hysteresis}")
    if not (math.isfinite(limit.delay_s) and limit.delay_s >= 0):
        raise ValueError(f"limit {name}: delay_s must be >= 0, got {limit.delay_s}")
