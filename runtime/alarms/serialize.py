"""Alarms and their events as JSON-ready dicts, and back: the journal, the JSON Lines sink
and the control socket all speak this one shape, so a restored alarm is the alarm that was
written. Only JSON types go out; nothing is ever unpickled on the way back in."""

from __future__ import annotations

import math
from typing import Any

from vigil.runtime.alarms.model import Alarm, AlarmEvent, AlarmState, EventKind
from vigil.runtime.analysis.condition import Category, Condition, Priority


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def condition_to_dict(c: Condition) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "bed": c.bed,
        "key": c.key,
        "priority": c.priority.name.lower(),
        "category": c.category.value,
        "onset_s": c.onset_s,
        "end_s": c.end_s,
        "value": _num(c.value),
        "evidence": c.evidence,
        "decided_at_s": _num(c.decided_at_s),
        "decided_ns": c.decided_ns,
    }


def condition_from_dict(d: dict[str, Any]) -> Condition:
    value, decided_at = d.get("value"), d.get("decided_at_s")
    return Condition(
        kind=str(d["kind"]),
        bed=str(d["bed"]),
        priority=Priority[str(d["priority"]).upper()],
        category=Category(d["category"]),
        onset_s=float(d["onset_s"]),
        end_s=None if d.get("end_s") is None else float(d["end_s"]),
        value=math.nan if value is None else float(value),
        key=str(d.get("key", "")),
        evidence=dict(d.get("evidence") or {}),
        decided_at_s=math.nan if decided_at is None else float(decided_at),
        decided_ns=int(d.get("decided_ns") or 0),
    )


def alarm_to_dict(a: Alarm) -> dict[str, Any]:
    return {
        "alarm_id": a.alarm_id,
        "bed": a.bed,
        "kind": a.kind,
        "key": a.key,
        "category": a.category.value,
        "priority": a.priority.name.lower(),
        "base_priority": a.base_priority.name.lower(),
        "latching": a.latching,
        "state": a.state.value,
        "condition": condition_to_dict(a.condition),
        "condition_present": a.condition_present,
        "raised_s": a.raised_s,
        "activated_s": a.activated_s,
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_s": a.acknowledged_s,
        "escalated": a.escalated,
    }


def alarm_from_dict(d: dict[str, Any]) -> Alarm:
    return Alarm(
        alarm_id=int(d["alarm_id"]),
        bed=str(d["bed"]),
        kind=str(d["kind"]),
        key=str(d.get("key", "")),
        category=Category(d["category"]),
        priority=Priority[str(d["priority"]).upper()],
        base_priority=Priority[str(d["base_priority"]).upper()],
        latching=bool(d["latching"]),
        state=AlarmState(d["state"]),
        condition=condition_from_dict(d["condition"]),
        condition_present=bool(d["condition_present"]),
        raised_s=float(d["raised_s"]),
        activated_s=None if d.get("activated_s") is None else float(d["activated_s"]),
        acknowledged_by=str(d.get("acknowledged_by", "")),
        acknowledged_s=None if d.get("acknowledged_s") is None else float(d["acknowledged_s"]),
        escalated=bool(d.get("escalated", False)),
    )


def event_to_dict(e: AlarmEvent) -> dict[str, Any]:
    return {
        "event": e.event.value,
        "at_s": e.at_s,
        "audible": e.audible,
        "actor": e.actor,
        "stamps": dict(e.stamps),
        "alarm": alarm_to_dict(e.alarm),
    }


def event_from_dict(d: dict[str, Any]) -> AlarmEvent:
    return AlarmEvent(
        alarm=alarm_from_dict(d["alarm"]),
        event=EventKind(d["event"]),
        at_s=float(d["at_s"]),
        audible=bool(d["audible"]),
        actor=str(d.get("actor", "")),
        stamps={str(k): int(v) for k, v in (d.get("stamps") or {}).items()},
    )
