"""The alarm manager's rules, one test each (IEC 60601-1-8 semantics, CLINICAL.md)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from vigil.errors import ConfigError
from vigil.runtime.alarms.manager import AlarmManager, UnknownAlarm
from vigil.runtime.alarms.model import AlarmEvent, AlarmState, EventKind, OperatorCommand
from vigil.runtime.alarms.policy import AlarmPolicy
from vigil.runtime.alarms.serialize import alarm_from_dict, alarm_to_dict
from vigil.runtime.analysis.condition import (
    Category,
    Condition,
    Priority,
    condition,
    ended,
)

S, E = AlarmState, EventKind
BED = "bed1"


def counting_clock():
    counter = itertools.count(1000)
    return lambda: next(counter)


def manager(**policy) -> AlarmManager:
    return AlarmManager(AlarmPolicy(**policy), clock_ns=counting_clock())


def kinds(events: list[AlarmEvent]) -> list[tuple[EventKind, int]]:
    return [(e.event, e.alarm_id) for e in events]


def ack(alarm_id: int = 0, bed: str = BED, actor: str = "view") -> OperatorCommand:
    return OperatorCommand("ack", bed, actor, alarm_id=alarm_id)


def pause(seconds: float = 0.0, bed: str = BED) -> OperatorCommand:
    return OperatorCommand("audio_pause", bed, "device:SIM", seconds=seconds)


# -- raising, delays and ending -------------------------------------------------------------
def test_a_condition_without_a_delay_activates_at_once_and_audibly():
    m = manager()
    events = m.on_condition(condition("hr_high", BED, 10.0, value=130), 5.0)
    assert kinds(events) == [(E.ACTIVATED, 1)]
    (e,) = events
    assert e.audible
    assert e.at_s == 5.0
    assert e.actor == ""
    assert e.alarm.state is S.ACTIVE
    assert e.alarm.activated_s == 5.0
    assert e.alarm.priority is Priority.MEDIUM
    assert e.alarm.condition_present
    assert m.signal(BED).priority is Priority.MEDIUM


def test_every_event_is_stamped_managed_by_the_injected_clock_and_keeps_decided():
    m = manager()
    (e,) = m.on_condition(condition("vt", BED, 0.0, decided_ns=77), 1.0)
    assert e.stamps == {"managed": 1000, "decided": 77}
    (e,) = m.command(ack(1), 2.0)
    assert e.stamps == {"managed": 1001}


def test_new_alarms_get_increasing_ids_and_a_restarted_condition_a_new_one():
    m = manager()
    m.on_condition(c := condition("hr_high", BED, 0.0), 0.0)
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)
    m.on_condition(ended(c, 5.0), 5.0)
    (e,) = m.on_condition(condition("hr_high", BED, 6.0), 6.0)
    assert e.alarm_id == 3
    assert m.next_id == 4


def test_delayed_kind_is_pending_then_activates_when_the_delay_elapsed():
    m = manager(delays_s={"spo2_low": 15.0})
    assert kinds(m.on_condition(condition("spo2_low", BED, 0.0), 100.0)) == [(E.PENDING, 1)]
    assert m.signal(BED).priority is None
    assert m.alarms()[0].state is S.PENDING
    assert m.next_deadline() == 115.0
    assert m.tick(114.9) == []
    (e,) = m.tick(116.0)
    assert (e.event, e.at_s, e.audible, e.alarm.activated_s) == (E.ACTIVATED, 115.0, True, 115.0)


def test_delay_cancels_a_condition_that_ends_first():
    m = manager(delays_s={"spo2_low": 15.0})
    m.on_condition(c := condition("spo2_low", BED, 0.0), 100.0)
    (e,) = m.on_condition(ended(c, 10.0), 110.0)
    assert e.event is E.CANCELLED
    assert e.alarm.state is S.ENDED
    assert e.alarm.activated_s is None
    assert m.alarms() == []
    assert m.tick(200.0) == []
    assert m.next_deadline() is None


def test_delay_for_asystole_is_refused():
    with pytest.raises(ConfigError, match=r"alarms\.delays_s\.asystole"):
        manager(delays_s={"asystole": 5.0})


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        ({"breakthrough": "sometimes"}, "alarms.breakthrough"),
        ({"delays_s": {"spo2_low": -1.0}}, "alarms.delays_s.spo2_low"),
        ({"delays_s": {"hr_high": float("nan")}}, "alarms.delays_s.hr_high"),
        ({"audio_pause_s": 400.0}, "alarms.audio_pause_s"),
        ({"reannounce_s": -5.0}, "alarms.reannounce_s"),
        ({"escalate_after_s": {Priority.LOW: -1.0}}, "alarms.escalate_after_s.low"),
        ({"latching": {"pause": "yes"}}, "alarms.latching.pause"),
    ],
)
def test_an_invalid_policy_is_refused_naming_its_key(policy, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        manager(**policy)


def test_a_non_latching_alarm_ends_with_its_condition():
    m = manager()
    m.on_condition(c := condition("hr_high", BED, 0.0), 0.0)
    (e,) = m.on_condition(ended(c, 8.0), 8.0)
    assert (e.event, e.alarm.state, e.audible) == (E.ENDED, S.ENDED, False)
    assert e.alarm.condition.end_s == 8.0
    assert not e.alarm.condition_present
    assert m.alarms() == []
    assert m.signal(BED).priority is None


def test_vt_latches_after_its_condition_ends_until_acknowledged():
    m = manager()
    m.on_condition(c := condition("vt", BED, 0.0), 0.0)
    (e,) = m.on_condition(ended(c, 3.0), 3.0)
    assert (e.event, e.alarm.state, e.audible) == (E.CONDITION_ENDED, S.LATCHED, True)
    m.tick(10_000.0)
    assert m.alarm(1).state is S.LATCHED
    assert m.signal(BED).priority is Priority.HIGH
    (e,) = m.command(ack(1, actor="socket:uid=1000"), 10_001.0)
    assert (e.event, e.alarm.state, e.actor) == (E.ENDED, S.ENDED, "socket:uid=1000")
    assert e.alarm.acknowledged_by == "socket:uid=1000"
    assert e.alarm.acknowledged_s == 10_001.0
    assert m.alarms() == []
    assert m.signal(BED).priority is None


def test_technical_alarms_never_latch_even_when_configured_to():
    m = manager(latching={"device_fault": True})
    m.on_condition(c := condition("device_fault", BED, 0.0), 0.0)
    assert not m.alarm(1).latching
    (e,) = m.on_condition(ended(c, 1.0), 1.0)
    assert (e.event, e.alarm.state) == (E.ENDED, S.ENDED)


def test_policy_can_make_a_medium_kind_latch():
    m = manager(latching={"pause": True})
    m.on_condition(c := condition("pause", BED, 0.0), 0.0)
    (e,) = m.on_condition(ended(c, 1.0), 1.0)
    assert e.alarm.state is S.LATCHED


@pytest.mark.parametrize(("priority", "latches"), [(Priority.HIGH, True), (Priority.LOW, False)])
def test_an_unknown_kind_latches_when_high_priority(priority, latches):
    custom = Condition("my_detector", BED, priority, Category.PHYSIOLOGICAL, 0.0, key="v1")
    m = manager()
    (e,) = m.on_condition(custom, 0.0)
    assert e.alarm.latching is latches
    (e,) = m.on_condition(replace(custom, end_s=2.0), 2.0)
    assert e.alarm.state is (S.LATCHED if latches else S.ENDED)


def test_a_latched_alarm_whose_condition_returns_signals_again():
    m = manager()
    m.on_condition(c := condition("vt", BED, 0.0), 0.0)
    m.on_condition(ended(c, 2.0), 2.0)
    (e,) = m.on_condition(condition("vt", BED, 5.0, value=180), 5.0)
    assert (e.event, e.alarm_id, e.alarm.state) == (E.RETURNED, 1, S.ACTIVE)
    assert e.alarm.condition_present
    assert e.alarm.condition.value == 180


def test_a_repeated_start_updates_the_alarm_without_changing_its_state():
    m = manager(delays_s={"spo2_low": 15.0})
    m.on_condition(condition("vt", BED, 0.0, evidence={"beats": 5}), 0.0)
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)
    events = m.on_condition(condition("vt", BED, 0.0, evidence={"beats": 9}), 1.0)
    events += m.on_condition(condition("spo2_low", BED, 0.0, value=88), 2.0)
    assert [(e.event, e.alarm.state) for e in events] == [
        (E.UPDATED, S.ACTIVE),
        (E.UPDATED, S.PENDING),
    ]
    assert m.alarm(1).condition.evidence == {"beats": 9}
    assert m.alarm(2).condition.value == 88
    assert m.next_deadline() == 15.0  # an update does not restart the delay


def test_an_update_does_not_undo_an_acknowledge():
    m = manager()
    m.on_condition(condition("hr_high", BED, 0.0, value=125), 0.0)
    m.command(ack(1), 1.0)
    (e,) = m.on_condition(condition("hr_high", BED, 0.0, value=131), 2.0)
    assert (e.event, e.alarm.state, e.audible) == (E.UPDATED, S.ACKNOWLEDGED, False)
    assert e.alarm.condition_present
    assert e.alarm.condition.value == 131


def test_an_end_for_no_live_alarm_is_ignored_and_counted():
    m = manager()
    assert m.on_condition(ended(condition("hr_high", BED, 0.0), 1.0), 1.0) == []
    m.on_condition(c := condition("vt", BED, 0.0), 2.0)
    m.on_condition(ended(c, 3.0), 3.0)
    assert m.on_condition(ended(c, 3.0), 4.0) == []  # repeated end of a latched alarm
    assert m.ignored_ends == 2
    assert m.alarm(1).state is S.LATCHED


# -- acknowledge ----------------------------------------------------------------------------
def test_acknowledge_silences_an_active_alarm_and_records_who():
    m = manager()
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    (e,) = m.command(ack(1, actor="device:VIGIL-SIM-0001"), 4.0)
    assert (e.event, e.alarm.state, e.audible) == (E.ACKNOWLEDGED, S.ACKNOWLEDGED, False)
    assert (e.alarm.acknowledged_by, e.alarm.acknowledged_s) == ("device:VIGIL-SIM-0001", 4.0)
    assert m.signal(BED).priority is None
    assert m.alarms()[0].state is S.ACKNOWLEDGED
    assert m.command(ack(1), 5.0) == []  # acknowledging again does nothing


def test_an_acknowledged_alarm_ends_with_its_condition():
    m = manager()
    m.on_condition(c := condition("vt", BED, 0.0), 0.0)
    m.command(ack(1), 1.0)
    (e,) = m.on_condition(ended(c, 2.0), 2.0)
    assert (e.event, e.alarm.state) == (E.ENDED, S.ENDED)


def test_ack_all_acknowledges_active_ends_latched_and_skips_pending_of_that_bed_only():
    m = manager(delays_s={"spo2_low": 15.0})
    m.on_condition(c := condition("vt", BED, 0.0), 0.0)
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)
    m.on_condition(condition("hr_high", "bed2", 0.0), 0.0)
    m.on_condition(ended(c, 1.0), 1.0)
    events = m.command(ack(), 2.0)
    assert kinds(events) == [(E.ENDED, 1), (E.ACKNOWLEDGED, 2)]
    assert [(a.alarm_id, a.state) for a in m.alarms()] == [
        (4, S.ACTIVE),
        (2, S.ACKNOWLEDGED),
        (3, S.PENDING),
    ]


def test_ack_by_id_of_a_pending_alarm_is_skipped_and_it_still_signals_later():
    m = manager(delays_s={"spo2_low": 15.0})
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)
    assert m.command(ack(1), 1.0) == []
    assert kinds(m.tick(15.0)) == [(E.ACTIVATED, 1)]


def test_ack_all_includes_a_pending_alarm_whose_delay_elapsed_before_the_press():
    m = manager(delays_s={"spo2_low": 15.0})
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)
    assert kinds(m.command(ack(), 20.0)) == [(E.ACTIVATED, 1), (E.ACKNOWLEDGED, 1)]


def test_ack_of_unknown_id_raises_unknown_alarm_naming_it_and_the_beds_alarms():
    m = manager()
    m.on_condition(condition("vt", BED, 0.0), 0.0)
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    with pytest.raises(UnknownAlarm, match=r"alarm 9: was never raised.*\[1, 2\]"):
        m.command(ack(9), 1.0)
    m.on_condition(ended(condition("hr_high", BED, 0.0), 1.0), 1.0)
    with pytest.raises(UnknownAlarm, match=r"alarm 2: has ended.*\[1\]"):
        m.command(ack(2), 2.0)
    with pytest.raises(UnknownAlarm, match=r"belongs to bed 'bed1', not 'bed2'"):
        m.command(ack(1, bed="bed2"), 2.0)


def test_a_refused_command_changes_nothing():
    m = manager(delays_s={"spo2_low": 15.0})
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)
    with pytest.raises(UnknownAlarm):
        m.command(ack(9), 100.0)
    with pytest.raises(ValueError, match="'silence'"):
        m.command(OperatorCommand("silence", BED, "view"), 100.0)
    assert m.alarm(1).state is S.PENDING  # the overdue delay waits for a call that succeeds
    assert kinds(m.tick(1.0)) == []  # and time did not move on either


def test_unknown_action_and_bedless_commands_are_refused():
    m = manager()
    with pytest.raises(ValueError, match="unknown operator action 'reset'"):
        m.command(OperatorCommand("reset", BED, "view"), 0.0)
    with pytest.raises(ValueError, match="names no bed"):
        m.command(ack(0, bed=""), 0.0)
    with pytest.raises(ValueError, match="names no bed"):
        m.command(pause(bed=""), 0.0)
    with pytest.raises(ValueError, match=">= 0"):
        m.command(pause(-1.0), 0.0)


# -- audio pause and breakthrough -----------------------------------------------------------
def test_audio_pause_silences_every_signalling_alarm_of_the_bed():
    m = manager()
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.on_condition(condition("hr_high", "bed2", 0.0), 0.0)
    events = m.command(pause(), 10.0)
    assert [(e.event, e.audible, e.actor) for e in events] == [
        (E.AUDIO_PAUSED, False, "device:SIM")
    ]
    sig = m.signal(BED)
    assert (sig.priority, sig.audible_priority, sig.audio_paused_until_s) == (
        Priority.MEDIUM,
        None,
        130.0,
    )
    assert m.signal("bed2").audible_priority is Priority.MEDIUM


def test_audio_pause_seconds_default_and_cap_come_from_the_policy():
    m = manager(audio_pause_s=60.0, max_audio_pause_s=90.0)
    m.command(pause(0.0), 0.0)
    assert m.signal(BED).audio_paused_until_s == 60.0
    m.command(pause(1000.0), 1.0)
    assert m.signal(BED).audio_paused_until_s == 91.0


def test_audio_pause_expires_and_still_current_conditions_signal_again():
    m = manager(escalate_after_s={})
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.on_condition(c := condition("spo2_low", BED, 0.0), 0.0)
    m.on_condition(condition("pulse_high", BED, 0.0), 0.0)
    m.command(pause(), 10.0)
    m.on_condition(ended(c, 50.0), 50.0)  # over before the pause expires
    m.command(ack(3), 60.0)  # acknowledged: stays silent after it
    assert m.next_deadline() == 130.0
    (e,) = m.tick(200.0)
    assert (e.event, e.alarm_id, e.audible, e.at_s) == (E.AUDIO_RESUMED, 1, True, 130.0)
    assert m.signal(BED).audible_priority is Priority.MEDIUM
    assert m.signal(BED).audio_paused_until_s is None


def test_higher_priority_alarm_breaks_through_audio_pause_under_the_default_policy():
    m = manager(escalate_after_s={})  # breakthrough="higher_priority" is the default
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.command(pause(), 10.0)
    events = m.on_condition(condition("vt", BED, 20.0), 20.0)
    assert [(e.event, e.audible) for e in events] == [
        (E.ACTIVATED, True),
        (E.BREAKTHROUGH, True),
    ]
    sig = m.signal(BED)
    assert (sig.priority, sig.audible_priority) == (Priority.HIGH, Priority.HIGH)
    # the pause expires: only the silenced one resumes
    assert kinds(m.tick(130.0)) == [(E.AUDIO_RESUMED, 1)]


def test_same_priority_alarm_stays_silent_under_the_default_policy():
    m = manager()
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.command(pause(), 10.0)
    (e,) = m.on_condition(condition("spo2_low", BED, 20.0), 20.0)
    assert (e.event, e.audible) == (E.ACTIVATED, False)


def test_breakthrough_none_keeps_a_new_alarm_silent_until_the_pause_expires():
    m = manager(breakthrough="none")
    m.on_condition(condition("temp_low", BED, 0.0), 0.0)
    m.command(pause(60.0), 10.0)
    (e,) = m.on_condition(condition("vt", BED, 20.0), 20.0)
    assert (e.event, e.audible) == (E.ACTIVATED, False)
    assert m.signal(BED).audible_priority is None
    assert [(e.event, e.alarm_id, e.audible) for e in m.tick(70.0)] == [
        (E.AUDIO_RESUMED, 2, True),
        (E.AUDIO_RESUMED, 1, True),
    ]


def test_breakthrough_any_lets_every_new_alarm_sound():
    m = manager(breakthrough="any")
    m.on_condition(condition("vt", BED, 0.0), 0.0)
    m.command(pause(), 10.0)
    events = m.on_condition(condition("temp_low", BED, 20.0), 20.0)
    assert kinds(events) == [(E.ACTIVATED, 2), (E.BREAKTHROUGH, 2)]


def test_a_pause_with_nothing_signalling_lets_any_new_alarm_through_by_default():
    m = manager()
    m.command(pause(), 0.0)
    assert kinds(m.on_condition(condition("temp_low", BED, 1.0), 1.0)) == [
        (E.ACTIVATED, 1),
        (E.BREAKTHROUGH, 1),
    ]


def test_a_pending_alarm_that_activates_during_a_pause_is_a_new_alarm():
    m = manager(delays_s={"spo2_low": 15.0}, breakthrough="none")
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)
    m.command(pause(), 1.0)
    (e,) = m.tick(15.0)
    assert (e.event, e.audible) == (E.ACTIVATED, False)


def test_a_latched_alarm_that_returns_during_a_pause_stays_silent():
    m = manager()
    m.on_condition(c := condition("vt", BED, 0.0), 0.0)
    m.on_condition(ended(c, 1.0), 1.0)
    m.command(pause(), 2.0)
    (e,) = m.on_condition(condition("vt", BED, 3.0), 3.0)
    assert (e.event, e.audible) == (E.RETURNED, False)


# -- escalation and re-announce -------------------------------------------------------------
def test_unacknowledged_medium_alarm_escalates_once():
    m = manager()
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    assert m.next_deadline() == 120.0
    (e,) = m.tick(121.0)
    assert (e.event, e.at_s, e.audible) == (E.ESCALATED, 120.0, True)
    assert (e.alarm.priority, e.alarm.base_priority, e.alarm.escalated) == (
        Priority.HIGH,
        Priority.MEDIUM,
        True,
    )
    assert m.signal(BED).priority is Priority.HIGH
    assert m.tick(10_000.0) == []
    assert m.next_deadline() is None


def test_a_latched_spell_does_not_restart_the_escalation_clock():
    m = manager(latching={"pause": True})
    m.on_condition(c := condition("pause", BED, 0.0), 0.0)
    m.on_condition(ended(c, 50.0), 50.0)
    m.on_condition(condition("pause", BED, 100.0), 100.0)
    assert m.next_deadline() == 120.0  # unacknowledged since 0, latched or not


def test_an_acknowledged_alarm_does_not_escalate():
    m = manager(reannounce_s=None)
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.command(ack(1), 60.0)
    assert m.tick(10_000.0) == []
    assert m.alarm(1).priority is Priority.MEDIUM


def test_technical_alarms_escalate_too():
    m = manager()
    m.on_condition(condition("leads_off", BED, 0.0), 0.0)
    assert kinds(m.tick(120.0)) == [(E.ESCALATED, 1)]


def test_a_low_alarm_escalates_one_level_only():
    m = manager(escalate_after_s={Priority.LOW: 30.0, Priority.MEDIUM: 10.0})
    m.on_condition(condition("temp_low", BED, 0.0), 0.0)
    (e,) = m.tick(1000.0)
    assert (e.event, e.alarm.priority) == (E.ESCALATED, Priority.MEDIUM)


def test_acknowledged_alarm_that_persists_is_reannounced():
    m = manager()
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.command(ack(1), 10.0)
    assert m.next_deadline() == 160.0
    (e,) = m.tick(170.0)
    assert (e.event, e.at_s, e.audible, e.alarm.state) == (E.REANNOUNCED, 160.0, True, S.ACTIVE)
    m.command(ack(1), 171.0)
    assert m.next_deadline() == 321.0  # each acknowledge restarts the period


def test_a_reannounced_alarm_restarts_its_escalation_clock():
    m = manager(reannounce_s=60.0)
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.command(ack(1), 100.0)
    assert kinds(m.tick(160.0)) == [(E.REANNOUNCED, 1)]
    assert m.next_deadline() == 280.0


def test_a_reannouncement_during_an_audio_pause_sounds_when_the_pause_ends():
    m = manager(reannounce_s=60.0)
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    m.command(ack(1), 0.0)
    m.command(pause(120.0), 30.0)
    events = m.tick(170.0)
    assert [(e.event, e.at_s, e.audible) for e in events] == [
        (E.REANNOUNCED, 60.0, False),
        (E.AUDIO_RESUMED, 150.0, True),
    ]


def test_zero_periods_act_within_the_same_call():
    m = manager(reannounce_s=0.0, escalate_after_s={Priority.MEDIUM: 0.0})
    events = m.on_condition(condition("hr_high", BED, 0.0), 5.0)
    assert kinds(events) == [(E.ACTIVATED, 1), (E.ESCALATED, 1)]
    assert kinds(m.command(ack(1), 6.0)) == [(E.ACKNOWLEDGED, 1), (E.REANNOUNCED, 1)]
    assert m.next_deadline() is None


# -- time -----------------------------------------------------------------------------------
def test_time_going_backwards_is_refused():
    m = manager()
    m.tick(10.0)
    with pytest.raises(ValueError, match="time went backwards"):
        m.on_condition(condition("hr_high", BED, 0.0), 9.0)
    with pytest.raises(ValueError, match="finite"):
        m.tick(float("nan"))
    m.tick(10.0)  # the same instant again is fine


def test_a_late_call_runs_overdue_timers_first_at_their_own_times():
    m = manager(delays_s={"spo2_low": 15.0})
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)
    events = m.on_condition(ended(condition("spo2_low", BED, 0.0), 200.0), 200.0)
    assert [(e.event, e.at_s) for e in events] == [
        (E.ACTIVATED, 15.0),
        (E.ESCALATED, 135.0),
        (E.ENDED, 200.0),
    ]


def script(m: AlarmManager, tick_every: float | None) -> list[tuple]:
    """A scenario with delays, pause, escalation, re-announce; ticks optional."""
    inputs = [
        (0.0, condition("spo2_low", BED, 0.0)),
        (1.0, condition("hr_high", BED, 1.0)),
        (2.0, pause(60.0)),
        (3.0, condition("vt", BED, 3.0)),
        (9.0, ended(condition("vt", BED, 3.0), 9.0)),
        (100.0, ack(3)),
        (150.0, ack(2)),
        (400.0, condition("leads_off", BED, 400.0)),
        (700.0, ended(condition("hr_high", BED, 1.0), 700.0)),
    ]
    out: list[AlarmEvent] = []
    t = 0.0
    for at, what in inputs:
        while tick_every is not None and t + tick_every < at:
            t += tick_every
            out += m.tick(t)
        out += (m.command if isinstance(what, OperatorCommand) else m.on_condition)(what, at)
    out += m.tick(1000.0)
    return [(e.event, e.alarm_id, e.at_s, e.audible, e.alarm) for e in out]


def test_ticking_late_gives_the_same_events_as_ticking_every_second():
    policy = {"delays_s": {"spo2_low": 15.0}, "reannounce_s": 100.0}
    every_second = script(manager(**policy), 1.0)
    only_at_inputs = script(manager(**policy), None)
    assert every_second == only_at_inputs
    assert {e[0] for e in every_second} >= {
        E.PENDING,
        E.ACTIVATED,
        E.BREAKTHROUGH,
        E.CONDITION_ENDED,
        E.AUDIO_RESUMED,
        E.ESCALATED,
        E.REANNOUNCED,
        E.ACKNOWLEDGED,
        E.ENDED,
    }


def test_ten_hours_of_alarms_coming_and_going_at_one_second_ticks_leave_nothing_behind():
    m = manager(delays_s={"spo2_low": 15.0})
    counts: dict[EventKind, int] = {}
    ids: list[int] = []
    hours = 10
    for second in range(hours * 3600):
        t = float(second)
        phase = second % 60
        events = m.tick(t)
        if phase == 0:
            events += m.on_condition(condition("hr_high", BED, t), t)
            events += m.on_condition(condition("spo2_low", "bed2", t), t)
        elif phase == 10:
            events += m.on_condition(ended(condition("spo2_low", "bed2", t - 10), t), t)
        elif phase == 20:
            events += m.on_condition(ended(condition("hr_high", BED, t - 20), t), t)
        elif phase == 30:
            events += m.on_condition(condition("vt", BED, t), t)
            events += m.on_condition(condition("leads_off", "bed2", t), t)
        elif phase == 35:
            events += m.on_condition(ended(condition("vt", BED, t - 5), t), t)
            events += m.on_condition(ended(condition("leads_off", "bed2", t - 5), t), t)
        elif phase == 50:
            events += m.command(ack(), t)
        for e in events:
            counts[e.event] = counts.get(e.event, 0) + 1
            if e.event in (E.PENDING, E.ACTIVATED):  # each alarm's first event
                ids.append(e.alarm_id)
    cycles = hours * 60
    assert counts == {
        E.ACTIVATED: 3 * cycles,  # hr_high, vt, leads_off; spo2_low never outlasts its delay
        E.PENDING: cycles,
        E.CANCELLED: cycles,
        E.CONDITION_ENDED: cycles,  # vt latched ...
        E.ENDED: 3 * cycles,  # ... and ended by the acknowledge, like hr_high and leads_off
    }
    assert ids == list(range(1, 4 * cycles + 1))
    assert m.alarms() == []
    assert m.next_deadline() is None
    assert m.ignored_ends == 0


# -- restart --------------------------------------------------------------------------------
def journal_copy(m: AlarmManager) -> list:
    """The alarms as a journal would hold them: through the JSON shape and back."""
    return [alarm_from_dict(alarm_to_dict(a)) for a in m.alarms()]


def test_restore_keeps_latched_unacknowledged_alarms_latched_and_ids_unique():
    old = manager(delays_s={"spo2_low": 15.0})
    old.on_condition(c := condition("vt", BED, 0.0), 0.0)
    old.on_condition(ended(c, 2.0), 2.0)
    old.on_condition(condition("hr_high", BED, 0.0), 3.0)
    old.command(ack(2), 4.0)
    old.on_condition(condition("spo2_low", BED, 0.0), 5.0)
    old.on_condition(c := condition("temp_low", BED, 0.0), 5.0)
    old.on_condition(ended(c, 6.0), 6.0)  # alarm 4 ended: its id must not come back
    saved = journal_copy(old)

    new = AlarmManager(old.policy, next_id=old.next_id, clock_ns=counting_clock())
    events = new.restore(saved, 50_000.0)  # another clock: a reboot
    assert [(e.event, e.actor, e.alarm_id, e.alarm.state) for e in events] == [
        (E.RETURNED, "restore", 1, S.LATCHED),
        (E.RETURNED, "restore", 2, S.ACKNOWLEDGED),
        (E.RETURNED, "restore", 3, S.PENDING),
    ]
    assert new.alarms() == saved
    assert new.signal(BED).priority is Priority.HIGH
    # latched stays latched: only an acknowledge ends it
    assert new.tick(60_000.0)[0].event is E.ACTIVATED  # the delay restarted at the restore
    assert new.alarm(1).state is S.LATCHED
    (e,) = new.on_condition(condition("temp_low", BED, 0.0), 60_001.0)
    assert e.alarm_id == 5


def test_restore_moves_next_id_past_every_id_it_is_given():
    m = manager()
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    saved = [replace(m.alarm(1), alarm_id=41), replace(m.alarm(1), alarm_id=42, bed="bed2")]
    saved[1] = replace(saved[1], state=S.ENDED)
    fresh = manager()
    assert len(fresh.restore(saved, 0.0)) == 1
    assert fresh.next_id == 43


def test_restore_timers_restart_at_the_restore_never_earlier():
    old = manager()
    old.on_condition(condition("hr_high", BED, 0.0), 0.0)
    new = manager()
    new.restore(old.alarms(), 7.0)
    assert new.next_deadline() == 127.0


def test_a_restart_resumes_an_alarm_when_the_analysis_reasserts_its_condition():
    old = manager()
    old.on_condition(condition("hr_high", BED, 0.0), 0.0)
    old.on_condition(c := condition("vt", BED, 0.0), 0.0)
    old.on_condition(ended(c, 1.0), 1.0)
    new = manager()
    new.restore(old.alarms(), 0.0)
    assert [a.alarm_id for a in new.unconfirmed()] == [1]  # vt is latched: nothing to confirm
    events = new.on_condition(condition("hr_high", BED, 5.0), 5.0)
    events += new.on_condition(condition("vt", BED, 5.0), 5.0)
    assert kinds(events) == [(E.UPDATED, 1), (E.RETURNED, 2)]
    assert new.unconfirmed() == []
    assert len(new.alarms()) == 2


def test_an_unconfirmed_restored_alarm_ends_by_the_runtimes_end_and_latching_still_holds():
    old = manager()
    old.on_condition(condition("vt", BED, 0.0), 0.0)
    new = manager()
    new.restore(old.alarms(), 0.0)
    for a in new.unconfirmed():
        new.on_condition(ended(a.condition, 30.0), 30.0)
    assert new.alarm(1).state is S.LATCHED


def test_restore_refuses_a_duplicate_or_colliding_alarm_and_changes_nothing():
    m = manager()
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)
    a = m.alarm(1)
    with pytest.raises(ValueError, match="more than once"):
        manager().restore([a, a], 0.0)
    with pytest.raises(ValueError, match="collides"):
        m.restore([replace(a, alarm_id=7)], 1.0)
    assert m.next_id == 2
    assert len(m.alarms()) == 1


# -- queries --------------------------------------------------------------------------------
def test_alarms_are_listed_most_urgent_first_then_signalling_then_by_id():
    m = manager(delays_s={"spo2_low": 15.0})
    m.on_condition(condition("hr_high", BED, 0.0), 0.0)  # 1 medium
    m.on_condition(condition("spo2_low", BED, 0.0), 0.0)  # 2 medium pending
    m.on_condition(condition("pulse_high", BED, 0.0), 0.0)  # 3 medium
    m.on_condition(condition("temp_low", BED, 0.0), 0.0)  # 4 low
    m.on_condition(condition("asystole", "bed2", 0.0), 0.0)  # 5 high, other bed
    m.command(ack(1), 1.0)
    assert [a.alarm_id for a in m.alarms()] == [5, 3, 1, 2, 4]
    assert [a.alarm_id for a in m.alarms(BED)] == [3, 1, 2, 4]
    assert m.beds() == [BED, "bed2"]
    assert m.alarm(99) is None


def test_signal_of_a_bed_without_alarms_is_quiet():
    m = manager()
    sig = m.signal("nobody")
    assert (sig.priority, sig.audible_priority, sig.audio_paused_until_s) == (None, None, None)
