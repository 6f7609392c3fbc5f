"""The pleth_pulses fusion rule: a beatless ECG while the pleth pulses is suspect."""

from __future__ import annotations

import numpy as np

from vigil.runtime.analysis.condition import condition, ended
from vigil.runtime.analysis.fusion import MAX_WAIT_S, PulseFusion


def _asystole(onset: float, last_beat: float):
    return condition("asystole", "bed", onset, evidence={"last_beat_s": last_beat})


def _pulses(t0: float, t1: float, rate_per_min: float) -> list[float]:
    return list(np.arange(t0, t1, 60.0 / rate_per_min))


def test_asystole_while_pleth_pulses_regularly_is_suppressed_with_its_end():
    fusion = PulseFusion()
    fusion.add_pulses(_pulses(0.0, 20.0, 70), analysed_through_s=20.0, probe_on=True)
    start = _asystole(14.0, 10.0)
    assert fusion.step([start], ecg_through_s=14.5) == []
    assert fusion.step([ended(start, 16.0)], ecg_through_s=16.5) == []
    assert len(fusion.suppressed) == 1
    assert fusion.suppressed[0].evidence["fusion"]["pleth_pulses"].startswith("vetoed")


def test_asystole_with_a_silent_pleth_is_raised_and_says_the_rule_was_checked():
    fusion = PulseFusion()
    fusion.add_pulses(_pulses(0.0, 10.0, 70), analysed_through_s=20.0, probe_on=True)
    (out,) = fusion.step([_asystole(14.0, 10.0)], ecg_through_s=14.5)
    assert out.kind == "asystole"
    assert out.onset_s == 14.0
    assert out.evidence["fusion"]["pleth_pulses"].startswith("checked: 0 pulses")


def test_without_pleth_or_with_the_probe_off_the_condition_passes_at_once():
    for probe_on, has_pleth in ((True, False), (False, True)):
        fusion = PulseFusion()
        if has_pleth:
            fusion.add_pulses(_pulses(0.0, 20.0, 70), analysed_through_s=20.0, probe_on=probe_on)
        (out,) = fusion.step([_asystole(14.0, 10.0)], ecg_through_s=14.0)
        assert out.evidence["fusion"]["pleth_pulses"].startswith("not checked")


def test_vetoed_asystole_is_raised_late_when_the_pulses_stop_too():
    fusion = PulseFusion()
    fusion.add_pulses(_pulses(0.0, 20.0, 70), analysed_through_s=20.0, probe_on=True)
    start = _asystole(14.0, 10.0)
    assert fusion.step([start], ecg_through_s=20.0) == []
    fusion.add_pulses([], analysed_through_s=30.0, probe_on=True)
    (raised,) = fusion.step([], ecg_through_s=30.0)
    # pulses until ~19.7 s: the first whole second whose last 4 s hold < 2 pulses is 23 s
    assert raised.onset_s == 23.0
    assert "raised late" in raised.evidence["fusion"]["pleth_pulses"]
    (end,) = fusion.step([ended(start, 31.0)], ecg_through_s=31.0)
    assert end.end_s == 31.0


def test_a_lagging_pleth_never_holds_an_alarm_back_longer_than_the_wait_limit():
    fusion = PulseFusion()
    fusion.add_pulses(_pulses(0.0, 5.0, 70), analysed_through_s=5.0, probe_on=True)
    start = _asystole(14.0, 10.0)
    assert fusion.step([start], ecg_through_s=14.0 + MAX_WAIT_S / 2) == []
    (out,) = fusion.step([], ecg_through_s=14.0 + MAX_WAIT_S)
    assert "too far behind" in out.evidence["fusion"]["pleth_pulses"]


def test_other_kinds_and_a_disabled_rule_pass_untouched():
    fusion = PulseFusion(enabled=False)
    fusion.add_pulses(_pulses(0.0, 20.0, 70), analysed_through_s=20.0, probe_on=True)
    start = _asystole(14.0, 10.0)
    assert fusion.step([start], ecg_through_s=14.0) == [start]
    vt = condition("vt", "bed", 12.0)
    assert PulseFusion().step([vt], ecg_through_s=12.0) == [vt]
