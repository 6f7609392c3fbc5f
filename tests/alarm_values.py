"""Alarm values as the alarm manager holds them, for tests of what consumes them (sinks, the
live view): built from a real `condition()`, so priority and category are the kind's own."""

from __future__ import annotations

from vigil.runtime.alarms.model import Alarm, AlarmEvent, AlarmState, EventKind
from vigil.runtime.analysis.condition import Priority, condition


def make_alarm(
    kind: str = "vt",
    state: AlarmState = AlarmState.ACTIVE,
    *,
    alarm_id: int = 12,
    bed: str = "bed-1",
    value: float = 152.4,
    key: str = "",
    evidence: dict | None = None,
    acknowledged_by: str = "",
    at_s: float = 100.0,
) -> Alarm:
    c = condition(kind, bed, at_s, key=key, value=value, evidence=evidence)
    return Alarm(
        alarm_id=alarm_id,
        bed=bed,
        kind=kind,
        key=key,
        category=c.category,
        priority=c.priority,
        base_priority=c.priority,
        latching=c.priority is Priority.HIGH,
        state=state,
        condition=c,
        condition_present=state is not AlarmState.LATCHED,
        raised_s=at_s,
        activated_s=None if state is AlarmState.PENDING else at_s,
        acknowledged_by=acknowledged_by,
    )


def make_event(
    alarm: Alarm, event: EventKind = EventKind.ACTIVATED, *, audible: bool = True, actor: str = ""
) -> AlarmEvent:
    return AlarmEvent(alarm, event, 101.5, audible, actor, {"decided": 5, "journaled": 9})
