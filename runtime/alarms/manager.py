"""The alarm manager: conditions and operator commands in, alarm events out (IEC 60601-1-8).

A pure state machine: it reads no clock (time is injected as `now_s`, host monotonic
seconds), does no I/O and holds no thread, so hours of alarm behaviour replay in
milliseconds and a restart rebuilds it from the journal. The only clock it touches is the
injectable `clock_ns`, and only to stamp "managed" on each event for the latency budget.

Rules (CLINICAL.md; where vendors differ the `AlarmPolicy` decides, and says so):

Time. Every call takes `now_s`; an earlier `now_s` than the last raises ValueError. Every
call first does what `tick(now_s)` would, then its own work, then any timer that came due
(a zero escalation or re-announce period), so events stay in causal order however seldom the
runtime ticks. Overdue timers run in deadline order and their events carry the deadline as
`at_s` (never earlier than the manager's last time): ticking late or every second gives the
same events. A timer due at exactly `now_s` runs before the condition or command of that call.

Conditions. A start for an identity (bed, kind, key) with no live alarm raises a new alarm
with the next id (ids only grow, never reused): PENDING when `policy.delays_s` has a non-zero
delay for its kind (it activates when the delay has elapsed, or is CANCELLED, never
signalled, if its condition ends first), otherwise ACTIVE at once (ACTIVATED). A start for a
LATCHED alarm makes it ACTIVE again (RETURNED). A start for an ACTIVE, PENDING or
ACKNOWLEDGED alarm whose condition is present is the same condition with new value or
evidence: UPDATED, no state change, newest condition kept. An acknowledged alarm's
condition is present by definition (its end ends the alarm), so re-activating it on an
update would undo the acknowledge; persisting acknowledged alarms are re-announced instead.
(Only an ACKNOWLEDGED alarm restored with its condition absent takes RETURNED.) An end:
PENDING -> ENDED (CANCELLED); ACTIVE -> LATCHED (CONDITION_ENDED) if latching, else ENDED;
ACKNOWLEDGED -> ENDED. An end for an identity with no live alarm, or one already latched,
changes nothing and is counted in `ignored_ends`.

Latching. Technical alarms never latch, whatever is configured. Physiological ones follow
`policy.latching[kind]`, else the kind's default (`CONDITION_KINDS`), else, for a kind this
manager does not know (a detector registered later), latch when the priority is HIGH.

Acknowledge ("ack": one alarm by id, or id 0 for every alarm of the bed). ACTIVE ->
ACKNOWLEDGED (visual only; re-announced if it persists); LATCHED -> ENDED, one ENDED event
with the operator as actor and `acknowledged_by` set (EventKind.ENDED: "latched alarm
acknowledged"); ACKNOWLEDGED: nothing. A PENDING alarm is skipped, by id too, without an
error: it has not signalled, so there is nothing to acknowledge, and it signals if its delay
elapses. An id with no live alarm, or one of another bed than a non-empty `cmd.bed`, raises
`UnknownAlarm`. Acknowledging silences only the alarms acknowledged: a new alarm signals.

Audio pause (per bed, `seconds` 0 -> `policy.audio_pause_s`, capped at `max_audio_pause_s`):
every alarm signalling on the bed goes silent until now + seconds (AUDIO_PAUSED for each);
a new pause replaces a running one. An alarm that starts signalling during the pause for the
first time (ACTIVATED) follows `policy.breakthrough` (a vendor difference): "none" silent;
"higher_priority" audible only if its priority is above the highest priority signalling when
the pause began (any priority, when nothing signalled); "any" audible. One that sounds gets
ACTIVATED (audible) followed by BREAKTHROUGH, so consumers of ACTIVATED need not know about
pauses. Returns, re-announcements and escalations during a pause are not new alarms: they
stay silent until it expires. At expiry, AUDIO_RESUMED for every alarm still signalling that
was silent. A pause does not survive a restart (the safe side).

Escalation. An ACTIVE alarm unacknowledged for `policy.escalate_after_s[priority]` since it
last started signalling unacknowledged (activation, or return after an acknowledge; a
LATCHED spell does not reset it) is raised one level, at most to HIGH, once (ESCALATED,
`escalated=True`). Technical alarms escalate too: an unattended leads-off or probe-off means
the patient is unmonitored, a hazard that grows with time. LATCHED alarms do not: their
condition is over.

Re-announce. An ACKNOWLEDGED alarm whose condition still holds `policy.reannounce_s` after
the acknowledge becomes ACTIVE again (REANNOUNCED), audible unless the bed's audio is paused.

Audible. An event's `audible` is true when the alarm is in SIGNALLING and the bed's audio is
not paused, or the alarm broke through the pause.

Restart. `restore` takes the alarms the journal holds (ENDED ones only move `next_id` past
their ids; the journal should also pass `next_id` = its highest id + 1, so that no id is
reused) and returns one RETURNED event per live alarm with actor "restore" and its state
unchanged: the journal tells it apart by the actor, and sinks re-signal from it. Whether a
restored alarm's condition still holds is unknown: what was saved is kept, and a start the
analysis re-emits is the same alarm (UPDATED, or RETURNED when it was latched). Timers
restart at `now_s` (the saved times are another clock's): a restart never makes a delay,
escalation or re-announce fire early. A condition that ended while Vigil was down is never
re-emitted, so `unconfirmed()` lists restored alarms no start has confirmed yet; the runtime
sends their `ended()` once its analysis has warmed up (a latching one then stays LATCHED until
acknowledged).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from vigil.errors import ConfigError, VigilError
from vigil.runtime.alarms.model import (
    SIGNALLING,
    Alarm,
    AlarmEvent,
    AlarmState,
    BedSignal,
    EventKind,
    OperatorCommand,
)
from vigil.runtime.alarms.policy import BREAKTHROUGH_POLICIES, NEVER_DELAYED, AlarmPolicy
from vigil.runtime.analysis.condition import CONDITION_KINDS, Category, Condition, Priority

RESTORE_ACTOR = "restore"
"""The actor of the events `restore` returns."""

_S = AlarmState
_E = EventKind

# Timer kinds, in the order they run when due at the same instant: a pause that expires at t
# no longer silences an alarm that activates at t.
_RESUME, _ACTIVATE, _ESCALATE, _REANNOUNCE = range(4)


class UnknownAlarm(VigilError):
    """An operator command names an alarm id the manager has no live alarm for."""

    def __init__(self, alarm_id: int, bed: str, live: list[int], why: str) -> None:
        self.alarm_id, self.bed, self.live = alarm_id, bed, live
        where = f"bed {bed!r}" if bed else "any bed"
        super().__init__(
            f"alarm {alarm_id}: {why}; {where} has alarm ids {live}: acknowledge one of "
            "those, or id 0 for every alarm of the bed"
        )


@dataclass(slots=True)
class _Live:
    """One live alarm and the anchor of its running timer (manager time): when it went
    PENDING, started signalling unacknowledged, or was acknowledged."""

    alarm: Alarm
    since_s: float
    confirmed: bool = True  # False: restored, and no start has re-asserted its condition


@dataclass(slots=True)
class _Pause:
    until_s: float
    floor: Priority | None  # highest priority signalling when the pause began
    audible: set[int] = field(default_factory=set)  # ids that broke through


class AlarmManager:
    """See the module docstring for every rule; `ignored_ends` counts ends that changed
    nothing (an end for no live alarm, or a repeated end)."""

    def __init__(
        self,
        policy: AlarmPolicy = AlarmPolicy(),  # noqa: B008 - frozen, and copied below
        *,
        next_id: int = 1,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        _validate(policy)
        if isinstance(next_id, bool) or not isinstance(next_id, int) or next_id < 1:
            raise ValueError(f"next_id must be an int >= 1, got {next_id!r}")
        self.policy = policy
        # The policy is frozen but its dicts are not: copy them so a later edit cannot change
        # a running manager behind its back.
        self._delays = {k: float(v) for k, v in policy.delays_s.items() if v > 0}
        self._escalate = dict(policy.escalate_after_s)
        self._latching = dict(policy.latching)
        self._next_id = next_id
        self._clock_ns = clock_ns
        self._t = -math.inf
        self._live: dict[int, _Live] = {}
        self._by_identity: dict[tuple[str, str, str], int] = {}
        self._pauses: dict[str, _Pause] = {}
        self._beds: set[str] = set()
        # The earliest timer, kept until a change that can move it (`_timers_changed`): the
        # runtime ticks and asks for the next deadline every loop turn (hundreds of times a
        # second), and each had scanned every live alarm to find nothing due.
        self._due: tuple[float, int, int, str] | None = None
        self._due_stale = False
        self.ignored_ends = 0

    # -- inputs -----------------------------------------------------------------------------
    def restore(self, alarms: Iterable[Alarm], now_s: float) -> list[AlarmEvent]:
        """Take back the journal's alarms after a restart (module docstring: Restart)."""
        alarms = sorted(alarms, key=lambda a: a.alarm_id)
        ids = [a.alarm_id for a in alarms]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"restore: alarm ids {dup} appear more than once")
        live = [a for a in alarms if a.state is not _S.ENDED]
        seen: set[tuple[str, str, str]] = set()
        for a in live:
            if a.alarm_id in self._live or a.identity in self._by_identity or a.identity in seen:
                raise ValueError(
                    f"restore: alarm {a.alarm_id} {a.identity} collides with a live alarm"
                )
            seen.add(a.identity)
        self._check_time(now_s)
        out = self._run_due(now_s)
        if ids:
            self._next_id = max(self._next_id, ids[-1] + 1)
        for a in live:
            rec = _Live(a, now_s, confirmed=not a.condition_present)
            self._add(rec)
            out.append(self._event(rec, _E.RETURNED, now_s, actor=RESTORE_ACTOR))
        return self._finish(out, now_s)

    def on_condition(self, cond: Condition, now_s: float) -> list[AlarmEvent]:
        """Apply a detector's start (`end_s` None) or end of a condition."""
        self._check_time(now_s)
        out = self._run_due(now_s)
        self._beds.add(cond.bed)
        alarm_id = self._by_identity.get(cond.identity)
        rec = self._live.get(alarm_id) if alarm_id is not None else None
        if cond.active:
            if rec is None:
                out += self._raise(cond, now_s)
            else:
                out += self._restart(rec, cond, now_s)
        elif rec is None or not rec.alarm.condition_present:
            self.ignored_ends += 1
        else:
            out += self._end(rec, cond, now_s)
        return self._finish(out, now_s)

    def command(self, cmd: OperatorCommand, now_s: float) -> list[AlarmEvent]:
        """An operator's "ack" or "audio_pause" (see `OperatorCommand`)."""
        targets: list[_Live] | None = None
        seconds = 0.0
        if cmd.action == "ack":
            targets = self._ack_targets(cmd)
        elif cmd.action == "audio_pause":
            seconds = self._pause_seconds(cmd)
        else:
            raise ValueError(
                f"unknown operator action {cmd.action!r} from {cmd.actor!r}: "
                "use 'ack' or 'audio_pause'"
            )
        self._check_time(now_s)  # everything above is checked before any state changes
        out = self._run_due(now_s)
        if cmd.action == "ack":
            if targets is None:  # every alarm of the bed, as it is after the timers above
                targets = [self._live[a.alarm_id] for a in self.alarms(cmd.bed)]
            for rec in targets:
                out += self._acknowledge(rec, cmd.actor, now_s)
        else:
            out += self._pause(cmd.bed, seconds, cmd.actor, now_s)
        return self._finish(out, now_s)

    def tick(self, now_s: float) -> list[AlarmEvent]:
        """Let time pass: delays, pause expiry, escalation and re-announce come due."""
        self._check_time(now_s)
        return self._finish(self._run_due(now_s), now_s)

    # -- queries ----------------------------------------------------------------------------
    def alarms(self, bed: str | None = None) -> list[Alarm]:
        """Every live (not ENDED) alarm, PENDING included, most urgent first."""
        out = [r.alarm for r in self._live.values() if bed is None or r.alarm.bed == bed]
        out.sort(key=lambda a: (-a.priority, a.state not in SIGNALLING, a.alarm_id))
        return out

    def alarm(self, alarm_id: int) -> Alarm | None:
        rec = self._live.get(alarm_id)
        return None if rec is None else rec.alarm

    def unconfirmed(self, bed: str | None = None) -> list[Alarm]:
        """Restored alarms whose condition was saved as present and no start has confirmed
        since (the runtime ends them once its analysis has warmed up)."""
        return [a for a in self.alarms(bed) if not self._live[a.alarm_id].confirmed]

    def unconfirm(self, bed: str) -> int:
        """The analysis that raised `bed`'s present conditions is gone (a restarted analysis
        worker) and starts afresh: treat its live alarms as restored ones, which that fresh
        analysis must raise again (`unconfirmed()`, as after a restart). Returns how many."""
        count = 0
        for rec in self._live.values():
            if rec.alarm.bed == bed and rec.alarm.condition_present and rec.confirmed:
                rec.confirmed = False
                count += 1
        return count

    def signal(self, bed: str) -> BedSignal:
        signalling = [r.alarm for r in self._live.values() if r.alarm.bed == bed]
        signalling = [a for a in signalling if a.state in SIGNALLING]
        audible = [a.priority for a in signalling if self._audible(a)]
        pause = self._pauses.get(bed)
        return BedSignal(
            bed=bed,
            priority=max((a.priority for a in signalling), default=None),
            audible_priority=max(audible, default=None),
            audio_paused_until_s=None if pause is None else pause.until_s,
        )

    def beds(self) -> list[str]:
        """Every bed the manager has seen a condition or command for (a bed whose alarms all
        ended still has a signal to clear)."""
        return sorted(self._beds)

    def next_deadline(self) -> float | None:
        """The earliest manager time at which `tick` would do something."""
        due = self._next_timer()
        return None if due is None else due[0]

    @property
    def next_id(self) -> int:
        """The id the next new alarm gets (journal it, and pass it back after a restart)."""
        return self._next_id

    # -- transitions ------------------------------------------------------------------------
    def _raise(self, cond: Condition, t: float) -> list[AlarmEvent]:
        alarm = Alarm(
            alarm_id=self._next_id,
            bed=cond.bed,
            kind=cond.kind,
            key=cond.key,
            category=cond.category,
            priority=cond.priority,
            base_priority=cond.priority,
            latching=self._latches(cond),
            state=_S.PENDING,
            condition=cond,
            condition_present=True,
            raised_s=t,
        )
        self._next_id += 1
        rec = _Live(alarm, t)
        self._add(rec)
        if cond.kind in self._delays:
            return [self._event(rec, _E.PENDING, t, cond=cond)]
        return self._activate(rec, t, cond=cond)

    def _activate(self, rec: _Live, t: float, cond: Condition | None = None) -> list[AlarmEvent]:
        """PENDING -> ACTIVE: the alarm signals for the first time (breakthrough applies)."""
        self._set(rec, replace(rec.alarm, state=_S.ACTIVE, activated_s=t), since_s=t)
        pause = self._pauses.get(rec.alarm.bed)
        breaks = pause is not None and (
            self.policy.breakthrough == "any"
            or (
                self.policy.breakthrough == "higher_priority"
                and (pause.floor is None or rec.alarm.priority > pause.floor)
            )
        )
        if pause is not None and breaks:
            pause.audible.add(rec.alarm.alarm_id)
        out = [self._event(rec, _E.ACTIVATED, t, cond=cond)]
        if breaks:
            out.append(self._event(rec, _E.BREAKTHROUGH, t, cond=cond))
        return out

    def _restart(self, rec: _Live, cond: Condition, t: float) -> list[AlarmEvent]:
        """A start for an identity that has a live alarm: the same alarm."""
        rec.confirmed = True
        a = rec.alarm
        fresh = replace(
            a,
            condition=cond,
            condition_present=True,
            base_priority=cond.priority,
            priority=_raised(cond.priority) if a.escalated else cond.priority,
        )
        if a.condition_present and a.state is not _S.LATCHED:
            self._set(rec, fresh)
            return [self._event(rec, _E.UPDATED, t, cond=cond)]
        # LATCHED (or restored absent): the condition came back. An acknowledge in between
        # restarts the unacknowledged clock; a latched spell does not.
        since = t if a.state is _S.ACKNOWLEDGED else rec.since_s
        self._set(rec, replace(fresh, state=_S.ACTIVE), since_s=since)
        return [self._event(rec, _E.RETURNED, t, cond=cond)]

    def _end(self, rec: _Live, cond: Condition, t: float) -> list[AlarmEvent]:
        a = replace(rec.alarm, condition=cond, condition_present=False)
        if a.state is _S.PENDING:
            self._set(rec, replace(a, state=_S.ENDED))
            return [self._event(rec, _E.CANCELLED, t, cond=cond)]
        if a.state is _S.ACTIVE and a.latching:
            self._set(rec, replace(a, state=_S.LATCHED))
            return [self._event(rec, _E.CONDITION_ENDED, t, cond=cond)]
        self._set(rec, replace(a, state=_S.ENDED))
        return [self._event(rec, _E.ENDED, t, cond=cond)]

    def _acknowledge(self, rec: _Live, actor: str, t: float) -> list[AlarmEvent]:
        a = rec.alarm
        acked = replace(a, acknowledged_by=actor, acknowledged_s=t)
        if a.state is _S.ACTIVE:
            self._set(rec, replace(acked, state=_S.ACKNOWLEDGED), since_s=t)
            return [self._event(rec, _E.ACKNOWLEDGED, t, actor=actor)]
        if a.state is _S.LATCHED:
            self._set(rec, replace(acked, state=_S.ENDED))
            return [self._event(rec, _E.ENDED, t, actor=actor)]
        return []  # PENDING: not signalled yet; ACKNOWLEDGED: already

    def _pause(self, bed: str, seconds: float, actor: str, t: float) -> list[AlarmEvent]:
        self._beds.add(bed)
        recs = [self._live[a.alarm_id] for a in self.alarms(bed) if a.state in SIGNALLING]
        self._pauses[bed] = _Pause(
            until_s=t + seconds, floor=max((r.alarm.priority for r in recs), default=None)
        )
        self._timers_changed()
        return [self._event(rec, _E.AUDIO_PAUSED, t, actor=actor) for rec in recs]

    # -- timers -----------------------------------------------------------------------------
    def _timers(self) -> Iterable[tuple[float, int, int, str]]:
        """(due, timer kind, alarm id or 0, bed) of everything that will come due."""
        for bed, pause in self._pauses.items():
            yield (pause.until_s, _RESUME, 0, bed)
        for alarm_id, rec in self._live.items():
            a = rec.alarm
            if a.state is _S.PENDING:
                yield (rec.since_s + self._delays.get(a.kind, 0.0), _ACTIVATE, alarm_id, a.bed)
            elif a.state is _S.ACTIVE and not a.escalated and a.priority < Priority.HIGH:
                after = self._escalate.get(a.priority)
                if after is not None:
                    yield (rec.since_s + after, _ESCALATE, alarm_id, a.bed)
            elif (
                a.state is _S.ACKNOWLEDGED
                and a.condition_present
                and self.policy.reannounce_s is not None
            ):
                yield (rec.since_s + self.policy.reannounce_s, _REANNOUNCE, alarm_id, a.bed)

    def _next_timer(self) -> tuple[float, int, int, str] | None:
        if self._due_stale:
            self._due = min(self._timers(), default=None)
            self._due_stale = False
        return self._due

    def _timers_changed(self) -> None:
        """Called by every change `_timers` reads: live alarms (their state, anchor,
        priority, escalation, condition) and pauses."""
        self._due_stale = True

    def _run_due(self, now_s: float) -> list[AlarmEvent]:
        """Run every timer due at or before `now_s`, earliest first, each at its own time."""
        out: list[AlarmEvent] = []
        while (due := self._next_timer()) is not None and due[0] <= now_s:
            t = max(due[0], self._t)
            self._t = t
            kind, alarm_id, bed = due[1:]
            if kind == _RESUME:
                pause = self._pauses.pop(bed)
                self._timers_changed()
                for a in self.alarms(bed):
                    if a.state in SIGNALLING and a.alarm_id not in pause.audible:
                        out.append(self._event(self._live[a.alarm_id], _E.AUDIO_RESUMED, t))
                continue
            rec = self._live[alarm_id]
            if kind == _ACTIVATE:
                out += self._activate(rec, t)
            elif kind == _ESCALATE:
                up = replace(rec.alarm, priority=_raised(rec.alarm.priority), escalated=True)
                self._set(rec, up)
                out.append(self._event(rec, _E.ESCALATED, t))
            else:
                self._set(rec, replace(rec.alarm, state=_S.ACTIVE), since_s=t)
                out.append(self._event(rec, _E.REANNOUNCED, t))
        return out

    # -- bookkeeping ------------------------------------------------------------------------
    def _check_time(self, now_s: float) -> None:
        if not isinstance(now_s, numbers.Real) or not math.isfinite(now_s):
            raise ValueError(f"now_s must be a finite number of seconds, got {now_s!r}")
        if now_s < self._t:
            raise ValueError(
                f"time went backwards: now_s={now_s} is before the alarm manager's last time "
                f"{self._t}; pass one monotonic clock's seconds"
            )

    def _finish(self, out: list[AlarmEvent], now_s: float) -> list[AlarmEvent]:
        out += self._run_due(now_s)  # a zero period comes due in the same call
        self._t = now_s
        return out

    def _add(self, rec: _Live) -> None:
        a = rec.alarm
        self._live[a.alarm_id] = rec
        self._by_identity[a.identity] = a.alarm_id
        self._beds.add(a.bed)
        self._timers_changed()

    def _set(self, rec: _Live, alarm: Alarm, *, since_s: float | None = None) -> None:
        rec.alarm = alarm
        if since_s is not None:
            rec.since_s = since_s
        self._timers_changed()
        if alarm.state not in SIGNALLING:
            pause = self._pauses.get(alarm.bed)
            if pause is not None:
                pause.audible.discard(alarm.alarm_id)
        if alarm.state is _S.ENDED:
            del self._live[alarm.alarm_id]
            del self._by_identity[alarm.identity]

    def _audible(self, a: Alarm) -> bool:
        if a.state not in SIGNALLING:
            return False
        pause = self._pauses.get(a.bed)
        return pause is None or a.alarm_id in pause.audible

    def _event(
        self,
        rec: _Live,
        kind: EventKind,
        t: float,
        *,
        actor: str = "",
        cond: Condition | None = None,
    ) -> AlarmEvent:
        stamps = {"managed": self._clock_ns()}
        if cond is not None and cond.decided_ns:
            stamps["decided"] = cond.decided_ns
        a = rec.alarm
        return AlarmEvent(a, kind, t, self._audible(a), actor, stamps)

    def _latches(self, cond: Condition) -> bool:
        if cond.category is Category.TECHNICAL:
            return False
        spec = CONDITION_KINDS.get(cond.kind)
        default = spec.latching if spec is not None else cond.priority is Priority.HIGH
        return bool(self._latching.get(cond.kind, default))

    def _ack_targets(self, cmd: OperatorCommand) -> list[_Live] | None:
        """The alarm an "ack" names (None: every alarm of the bed), or why it cannot."""
        if cmd.alarm_id == 0:
            if not cmd.bed:
                raise ValueError(f"ack of every alarm (id 0) from {cmd.actor!r} names no bed")
            return None
        rec = self._live.get(cmd.alarm_id)
        if rec is None or (cmd.bed and rec.alarm.bed != cmd.bed):
            if rec is not None:
                why = f"belongs to bed {rec.alarm.bed!r}, not {cmd.bed!r}"
            elif 0 < cmd.alarm_id < self._next_id:
                why = "has ended"
            else:
                why = "was never raised"
            live = [a.alarm_id for a in self.alarms(cmd.bed or None)]
            raise UnknownAlarm(cmd.alarm_id, cmd.bed, live, why)
        return [rec]

    def _pause_seconds(self, cmd: OperatorCommand) -> float:
        if not cmd.bed:
            raise ValueError(f"audio_pause from {cmd.actor!r} names no bed")
        s = float(cmd.seconds)
        if not math.isfinite(s) or s < 0:
            raise ValueError(f"audio_pause seconds must be >= 0 (0: the default), got {s}")
        return min(s or self.policy.audio_pause_s, self.policy.max_audio_pause_s)


def _raised(p: Priority) -> Priority:
    return Priority(min(p + 1, Priority.HIGH))


def _validate(policy: AlarmPolicy) -> None:
    """Refuse a policy the manager cannot honour, naming the `[alarms]` key at fault."""

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"alarm policy: alarms.{key} {why} (the [alarms] table of vigil.toml)")

    def seconds(key: str, value: object, *, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(key, f"= {value!r} is not a number of seconds")
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise bad(key, f"= {value!r} must be a finite number {'>' if positive else '>='} 0")
        return float(value)

    if policy.breakthrough not in BREAKTHROUGH_POLICIES:
        raise bad(
            "breakthrough",
            f"= {policy.breakthrough!r} is not one of {', '.join(BREAKTHROUGH_POLICIES)}",
        )
    pause = seconds("audio_pause_s", policy.audio_pause_s, positive=True)
    if pause > seconds("max_audio_pause_s", policy.max_audio_pause_s, positive=True):
        raise bad(
            "audio_pause_s",
            f"= {pause} is above max_audio_pause_s = {policy.max_audio_pause_s}",
        )
    if policy.reannounce_s is not None:
        seconds("reannounce_s", policy.reannounce_s)
    for prio, after in policy.escalate_after_s.items():
        if not isinstance(prio, Priority):
            raise bad("escalate_after_s", f"has key {prio!r}: use low, medium or high")
        if after is not None:
            seconds(f"escalate_after_s.{prio.name.lower()}", after)
    for kind, delay in policy.delays_s.items():
        if seconds(f"delays_s.{kind}", delay) > 0 and kind in NEVER_DELAYED:
            raise bad(
                f"delays_s.{kind}",
                f"= {delay}: {kind} is never delayed (CLINICAL.md); remove the delay",
            )
    for kind, latching in policy.latching.items():
        if not isinstance(latching, bool):
            raise bad(f"latching.{kind}", f"= {latching!r} must be true or false")
