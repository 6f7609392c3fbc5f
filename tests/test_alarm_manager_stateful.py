"""The alarm manager under random sequences of conditions, commands, time and restarts.

A Hypothesis rule-based machine drives a real `AlarmManager` and keeps a small shadow of
what the outside world knows (which conditions hold, which alarms latched, which ended, the
audio pauses asked for); after every step it checks the invariants IEC 60601-1-8 semantics
promise, whatever came before.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from vigil.runtime.alarms.manager import RESTORE_ACTOR, AlarmManager, UnknownAlarm
from vigil.runtime.alarms.model import (
    SIGNALLING,
    Alarm,
    AlarmEvent,
    AlarmState,
    EventKind,
    OperatorCommand,
)
from vigil.runtime.alarms.policy import BREAKTHROUGH_POLICIES, AlarmPolicy
from vigil.runtime.alarms.serialize import alarm_from_dict, alarm_to_dict
from vigil.runtime.analysis.condition import CONDITION_KINDS, Category, Priority, condition, ended

S, E = AlarmState, EventKind
BEDS = ("bed1", "bed2")
KINDS = (
    "asystole",  # high, latching, never delayed
    "vt",  # high, latching
    "pause",  # medium, not latching
    "spo2_low",  # medium, delayed below
    "hr_high",  # medium, delayed below
    "temp_low",  # low (escalates below)
    "leads_off",  # technical medium
    "device_fault",  # technical high
)
KEYS = ("", "II")
DELAYS = {"spo2_low": 15.0, "hr_high": 10.0}
PAUSE_S, MAX_PAUSE_S = 120.0, 300.0

STATES_AFTER = {  # the states an alarm can be in after each kind of event
    E.PENDING: {S.PENDING},
    E.ACTIVATED: {S.ACTIVE},
    E.RETURNED: set(S) - {S.ENDED},  # restore returns every live state; otherwise ACTIVE
    E.CONDITION_ENDED: {S.LATCHED},
    E.ACKNOWLEDGED: {S.ACKNOWLEDGED},
    E.AUDIO_PAUSED: SIGNALLING,
    E.AUDIO_RESUMED: SIGNALLING,
    E.BREAKTHROUGH: {S.ACTIVE},
    E.ESCALATED: {S.ACTIVE},
    E.REANNOUNCED: {S.ACTIVE},
    E.UPDATED: {S.PENDING, S.ACTIVE, S.ACKNOWLEDGED},
    E.ENDED: {S.ENDED},
    E.CANCELLED: {S.ENDED},
}
assert set(STATES_AFTER) == set(E)
assert {CONDITION_KINDS[k].category for k in KINDS} == set(Category)
assert {CONDITION_KINDS[k].latching for k in KINDS} == {True, False}


class AlarmMachine(RuleBasedStateMachine):
    @initialize(breakthrough=st.sampled_from(BREAKTHROUGH_POLICIES))
    def start_manager(self, breakthrough: str) -> None:
        self.policy = AlarmPolicy(
            audio_pause_s=PAUSE_S,
            max_audio_pause_s=MAX_PAUSE_S,
            breakthrough=breakthrough,
            reannounce_s=150.0,
            escalate_after_s={Priority.LOW: 300.0, Priority.MEDIUM: 120.0, Priority.HIGH: None},
            delays_s=dict(DELAYS),
            # hr_high: a delayed kind that latches; leads_off: technical, must not latch
            latching={"hr_high": True, "leads_off": True},
        )
        self.m = AlarmManager(self.policy)
        self.now = 0.0
        self.present: dict[tuple[str, str, str], object] = {}  # identity -> its start
        self.pending_since: dict[int, float] = {}  # alarm id -> when its delay began
        self.pause_until: dict[str, float] = {}
        self.max_id = 0
        self.ended_ids: set[int] = set()
        self.latched: set[int] = set()
        self.last_at = 0.0
        self.journal: dict[int, Alarm] = {}  # each alarm's snapshot from its last event

    # -- rules ------------------------------------------------------------------------------
    def identity(self, data: st.DataObject) -> tuple[str, str, str]:
        """Half the time one with a live alarm (so repeats, returns and ends are common)."""
        anything = st.tuples(st.sampled_from(BEDS), st.sampled_from(KINDS), st.sampled_from(KEYS))
        live = sorted({a.identity for a in self.m.alarms()})
        return data.draw(st.one_of(st.sampled_from(live), anything) if live else anything)

    @rule(data=st.data())
    def condition_starts(self, data: st.DataObject) -> None:
        bed, kind, key = self.identity(data)
        cond = condition(kind, bed, self.now, key=key, value=self.now)
        self.present[cond.identity] = cond
        self.step(self.m.on_condition(cond, self.now))
        (alarm,) = [a for a in self.m.alarms() if a.identity == cond.identity]
        assert alarm.condition == cond  # the newest start is kept

    @rule(data=st.data())
    def condition_ends(self, data: st.DataObject) -> None:
        bed, kind, key = self.identity(data)
        start = self.present.pop((bed, kind, key), None)
        ignored = self.m.ignored_ends
        if start is None:  # an end for nothing: must change nothing
            events = self.m.on_condition(
                ended(condition(kind, bed, 0.0, key=key), self.now), self.now
            )
            assert self.m.ignored_ends == ignored + 1
        else:
            events = self.m.on_condition(ended(start, self.now), self.now)
        self.step(events)

    @rule(data=st.data())
    def ack_one(self, data: st.DataObject) -> None:
        live = {a.alarm_id: a for a in self.m.alarms()}
        alarm_id = data.draw(st.sampled_from(sorted(live)) if live else st.integers(1, 3))
        if alarm_id in live:
            bed = data.draw(st.sampled_from(("", live[alarm_id].bed)))
            before = live[alarm_id].state
            events = self.m.command(OperatorCommand("ack", bed, "view", alarm_id), self.now)
            mine = [e for e in events if e.alarm_id == alarm_id and e.actor == "view"]
            if before is S.ACTIVE:
                assert [e.event for e in mine] == [E.ACKNOWLEDGED]
            elif before is S.LATCHED:
                assert [e.event for e in mine] == [E.ENDED]
            self.step(events)
        else:
            with pytest.raises(UnknownAlarm, match=f"alarm {alarm_id}:"):
                self.m.command(OperatorCommand("ack", "bed1", "view", alarm_id), self.now)

    @rule(bed=st.sampled_from(BEDS))
    def ack_all(self, bed: str) -> None:
        events = self.m.command(OperatorCommand("ack", bed, "view"), self.now)
        self.step(events)
        assert all(a.state is not S.ACTIVE for a in self.m.alarms(bed))
        assert not any(e.bed != bed for e in events if e.actor == "view")

    @rule(bed=st.sampled_from(BEDS), seconds=st.sampled_from((0.0, 30.0, 120.0, 1000.0)))
    def audio_pause(self, bed: str, seconds: float) -> None:
        signalling = {a.alarm_id for a in self.m.alarms(bed) if a.state in SIGNALLING}
        events = self.m.command(
            OperatorCommand("audio_pause", bed, "dev", seconds=seconds), self.now
        )
        paused = {e.alarm_id for e in events if e.event is E.AUDIO_PAUSED}
        assert paused == signalling
        self.pause_until[bed] = self.now + min(seconds or PAUSE_S, MAX_PAUSE_S)
        self.step(events)

    @rule(dt=st.floats(0.0, 400.0))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self.step(self.m.tick(self.now))

    @rule(whole_journal=st.booleans())
    def restart_from_snapshot(self, whole_journal: bool) -> None:
        """Rebuild from the live alarms and the next id, or from every alarm's last journaled
        snapshot (ended ones included) and nothing else."""
        if whole_journal:
            saved = [alarm_from_dict(alarm_to_dict(a)) for a in self.journal.values()]
            fresh = AlarmManager(self.policy)
        else:
            saved = [alarm_from_dict(alarm_to_dict(a)) for a in self.m.alarms()]
            fresh = AlarmManager(self.policy, next_id=self.m.next_id)
        events = fresh.restore(saved, self.now)
        restored = [e for e in events if e.actor == RESTORE_ACTOR]
        live = [a for a in saved if a.state is not S.ENDED]
        assert [e.alarm for e in restored] == sorted(live, key=lambda a: a.alarm_id)
        assert all(e.event is E.RETURNED for e in restored)
        self.m = fresh
        self.pause_until.clear()  # a pause does not survive a restart
        self.pending_since = {a.alarm_id: self.now for a in saved if a.state is S.PENDING}
        self.step(events)

    # -- invariants -------------------------------------------------------------------------
    def step(self, events: list[AlarmEvent]) -> None:
        """Check one call's events against the shadow, then update it."""
        live = {a.alarm_id: a for a in self.m.alarms()}
        for e in events:
            assert self.last_at <= e.at_s <= self.now  # causal order, never in the future
            self.last_at = e.at_s
            if e.alarm_id > self.max_id:  # a new alarm: its id is above every earlier one
                assert e.event in (E.PENDING, E.ACTIVATED)
                self.max_id = e.alarm_id
            assert e.alarm_id not in self.ended_ids  # (5) an ended alarm never comes back
            assert not e.audible or e.alarm.state in SIGNALLING
            assert e.alarm.state in STATES_AFTER[e.event]
            if e.event in (E.AUDIO_RESUMED, E.BREAKTHROUGH):
                assert e.audible
            if e.event in (E.AUDIO_PAUSED, E.ACKNOWLEDGED):
                assert not e.audible
            assert "managed" in e.stamps
            if e.event is E.RETURNED and e.actor != RESTORE_ACTOR:
                assert e.alarm.state is S.ACTIVE
            if e.event is E.PENDING:
                self.pending_since[e.alarm_id] = e.at_s
            self.journal[e.alarm_id] = e.alarm
            if e.alarm.state is S.ENDED:
                self.ended_ids.add(e.alarm_id)
        acked_away = {
            e.alarm_id
            for e in events
            if e.event is E.ENDED and e.actor and e.alarm.acknowledged_by == e.actor
        }
        # (1) a latched alarm leaves only by an acknowledge
        assert self.latched - set(live) <= acked_away
        # every transition is an event: the journal's last snapshot is the alarm
        assert all(self.journal[i] == a for i, a in live.items())
        self.latched = {i for i, a in live.items() if a.state is S.LATCHED}
        for bed, until in list(self.pause_until.items()):
            if until <= self.now:
                del self.pause_until[bed]

    @invariant()
    def ids_unique_and_ended_alarms_gone(self) -> None:
        alarms = self.m.alarms()
        ids = [a.alarm_id for a in alarms]
        assert len(set(ids)) == len(ids)  # (4)
        assert len({a.identity for a in alarms}) == len(alarms)
        assert not set(ids) & self.ended_ids  # (5)
        assert all(0 < i <= self.max_id < self.m.next_id for i in ids)

    @invariant()
    def bed_signal_is_the_highest_signalling_priority(self) -> None:
        for bed in BEDS:
            sig = self.m.signal(bed)
            signalling = [a.priority for a in self.m.alarms(bed) if a.state in SIGNALLING]
            assert sig.priority == max(signalling, default=None)  # (2)
            if sig.priority is None:
                assert sig.audible_priority is None
            elif sig.audible_priority is not None:
                assert sig.audible_priority <= sig.priority
            assert sig.audio_paused_until_s == self.pause_until.get(bed)
            if bed not in self.pause_until:
                assert sig.audible_priority == sig.priority
            elif self.policy.breakthrough == "none":
                assert sig.audible_priority is None

    @invariant()
    def technical_alarms_never_latch(self) -> None:
        for a in self.m.alarms():
            if a.technical:
                assert a.state is not S.LATCHED
                assert not a.latching

    @invariant()
    def no_alarm_is_stuck_pending(self) -> None:
        for a in self.m.alarms():
            if a.condition_present and a.state is S.PENDING:  # (6)
                assert self.now < self.pending_since[a.alarm_id] + DELAYS[a.kind]
            elif a.condition_present:
                assert a.state in (S.ACTIVE, S.ACKNOWLEDGED)
            else:
                assert a.state is S.LATCHED
        deadline = self.m.next_deadline()
        assert deadline is None or deadline > self.now

    @invariant()
    def next_deadline_is_the_earliest_timer_now(self) -> None:
        """The manager keeps its earliest timer between changes: never a stale one."""
        fresh = min(self.m._timers(), default=None)
        assert self.m.next_deadline() == (None if fresh is None else fresh[0])

    @invariant()
    def condition_present_agrees_with_the_shadow(self) -> None:
        alarms = {a.identity: a for a in self.m.alarms()}
        for identity, a in alarms.items():
            assert a.condition_present == (identity in self.present)  # (7)
        assert set(self.present) <= set(alarms)  # every holding condition has its alarm

    @invariant()
    def priority_is_the_conditions_raised_at_most_once(self) -> None:
        for a in self.m.alarms():
            expected = min(a.base_priority + a.escalated, Priority.HIGH)
            assert a.priority == expected
            assert not math.isnan(a.raised_s)


AlarmMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=50, deadline=None)
TestAlarmManagerStateful = AlarmMachine.TestCase
