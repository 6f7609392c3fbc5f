"""Arrhythmia alarms on synthetic episodes: raised within the delays of issue 6, never on
normal sinus rhythm, suspended (with a technical alarm instead) while the ECG cannot be
analysed, and the same however the stream is chunked.

Stages are fed in 40 ms chunks (20 samples at 500 Hz) unless said otherwise. R peaks come
from the synthesizer's ground truth and are "reported" as soon as their sample arrives, so a
condition's `decided_at_s` counts this stage's look-ahead and the classifier's, not the ECG
front end's (which adds its own).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import pytest
from test_analysis_beats import ecg_windows, r_peaks, render, run_stages

from vigil.models.synthetic import Event, PhysioState, Scenario
from vigil.runtime.analysis.arrhythmia import BIGEMINY_BEATS
from vigil.runtime.analysis.condition import Priority
from vigil.runtime.analysis.settings import AnalysisSettings, ArrhythmiaSettings

SEEDS = (1, 2, 3)
ONSET_S = 20.0  # the built-in scenarios' episodes start here
REALISTIC_NOISE = {
    "baseline_mv": 0.15,
    "emg_mv": 0.03,
    "motion_mv": 0.3,
    "motion_per_min": 2.0,
    "mains_mv": 0.03,
}


def scenario(*events: Event, **initial: object) -> Scenario:
    return Scenario("test", "", PhysioState(**initial), tuple(events))  # type: ignore[arg-type]


def at(t: float, **changes: object) -> Event:
    return Event(t, tuple(changes.items()))


def without_peaks_in(peaks, t0: float, t1: float):
    """A front end finds no QRS where no lead is usable."""
    return [p for p in peaks if not t0 <= p.t_s < t1]


# -- each alarm on its episode ---------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_asystole_raised_within_5_s_at_last_beat_plus_delay(seed):
    block = render("asystole", seed, 30)
    run = run_stages(block)
    (asystole,) = run.starts("asystole")
    last = max(p.t_s for p in r_peaks(block) if p.t_s < ONSET_S)
    assert asystole.onset_s == pytest.approx(last + 4.0, abs=1e-9)
    assert asystole.priority == Priority.HIGH
    assert asystole.evidence["last_beat_s"] == pytest.approx(last, abs=1e-3)
    assert asystole.decided_at_s - ONSET_S <= 5.0
    assert "vf" not in run.kinds()


@pytest.mark.parametrize("seed", SEEDS)
def test_vt_raised_within_5_s_with_its_beat_times(seed):
    block = render("ventricular_tachycardia", seed, 30)
    run = run_stages(block)
    (vt,) = run.starts("vt")
    assert vt.decided_at_s - ONSET_S <= 5.0
    times = vt.evidence["beat_times_s"]
    assert len(times) >= 5
    assert all(t >= ONSET_S - 0.01 for t in times)
    assert vt.value >= 100.0
    assert {"vf", "asystole"}.isdisjoint(run.kinds())


@pytest.mark.parametrize("seed", SEEDS)
def test_vf_raised_within_6_s_and_not_mistaken_for_asystole(seed):
    block = render("ventricular_fibrillation", seed, 30)
    run = run_stages(block)
    (vf,) = run.starts("vf")
    assert vf.decided_at_s - ONSET_S <= 6.0
    assert vf.priority == Priority.HIGH
    assert {"asystole", "pause", "vt"}.isdisjoint(run.kinds())


def test_extreme_bradycardia_raised_below_the_low_limit_minus_10():
    block = render("bradycardia", 1, 60)  # 70 -> 38 /min from 20 s over 10 s
    run = run_stages(block, chunk=500)
    (brady,) = run.starts("brady_extreme")
    assert brady.value <= 40.0  # low limit 50 - 10
    assert brady.evidence["threshold_per_min"] == 40.0
    assert 25.0 < brady.onset_s < 50.0
    assert run.kinds() == ["brady_extreme"]


def test_extreme_tachycardia_raised_above_the_high_limit_plus_20():
    block = render("tachycardia", 1, 60)  # 80 -> 150 /min from 20 s over 15 s
    run = run_stages(block, chunk=500)
    (tachy,) = run.starts("tachy_extreme")
    assert tachy.value >= 140.0  # high limit 120 + 20
    assert 25.0 < tachy.onset_s < 50.0
    assert run.kinds() == ["tachy_extreme"]


def test_lowering_the_hr_limit_moves_the_extreme_bradycardia_threshold_to_its_floor():
    settings = AnalysisSettings(bed="bed")
    limits = dict(settings.limits, hr=replace(settings.limits["hr"], low=35.0))
    run = run_stages(
        render("bradycardia", 1, 60), chunk=500, settings=replace(settings, limits=limits)
    )
    assert run.arrhythmia is not None
    assert run.arrhythmia.brady_below == 30.0  # 35 - 10 is under the 30 /min floor
    assert "brady_extreme" not in run.kinds()  # 38 /min is not that slow


@pytest.mark.parametrize("seed", SEEDS)
def test_pvc_rate_alarm_follows_the_pvcs_in_the_last_minute(seed):
    block = render("pvc_rich", seed, 150)  # about 14 isolated PVCs /min from 20 s
    run = run_stages(block, chunk=1000)
    # expected from the ground truth: the first PVC at which more than 10 are in a minute
    window: deque[float] = deque()
    expected = None
    for b in block.beats:
        if b.label == "V":
            window.append(b.t_s)
            while window[0] <= b.t_s - 60.0:
                window.popleft()
            if len(window) > 10 and expected is None:
                expected = b.t_s
    starts = run.starts("pvc_high")
    if expected is None:
        assert not starts
    else:
        assert starts[0].onset_s == pytest.approx(expected, abs=0.01)
        assert starts[0].evidence["pvcs_last_minute"] == 11


def test_pause_raised_for_a_3_s_sinus_arrest_without_asystole():
    block = render(
        scenario(at(30.0, rhythm="asystole"), at(33.0, rhythm="sinus"), rate=75.0), 1, 45
    )
    run = run_stages(block)
    (pause,) = run.starts("pause")
    (end,) = run.ends("pause")
    last = max(p.t_s for p in r_peaks(block) if p.t_s < 30.0)
    first = min(p.t_s for p in r_peaks(block) if p.t_s > 30.0)
    assert pause.onset_s == pytest.approx(last + 2.5, abs=1e-9)
    assert end.end_s == pytest.approx(first, abs=1e-9)
    assert "asystole" not in run.kinds()


def test_couplet_raised_for_two_ventricular_beats_between_normal_ones():
    block = render(
        scenario(at(30.0, rhythm="vt", rate=150.0), at(30.6, rhythm="sinus", rate=70.0), rate=70.0),
        1,
        40,
    )
    v = [b.t_s for b in block.beats if b.label == "V"]
    assert len(v) == 2  # the episode: N V V N
    run = run_stages(block)
    (couplet,) = run.starts("couplet")
    assert couplet.onset_s == pytest.approx(v[0], abs=0.01)
    assert couplet.evidence["beat_times_s"] == pytest.approx(v, abs=0.01)
    assert run.kinds() == ["couplet"]


def bigeminy_scenario(seed: int, cycles: int) -> Scenario:
    """Sinus 70 /min with a ventricular beat 0.45 s after each of `cycles` normal beats in a
    row (each a 0.2 s burst of VT), built beat by beat from the synthesizer's own timing."""
    events: list[Event] = []
    t = 30.0
    for _ in range(cycles):
        block = render(scenario(*events, rate=70.0), seed, t + 5)
        n = min(b.t_s for b in block.beats if b.t_s > t and b.label == "N")
        events += [at(n + 0.45, rhythm="vt", rate=150.0), at(n + 0.65, rhythm="sinus", rate=70.0)]
        t = n + 0.5
    return scenario(*events, rate=70.0)


def test_bigeminy_raised_after_three_normal_ventricular_cycles():
    block = render(bigeminy_scenario(1, 4), 1, 45)
    beats = [b for b in block.beats if b.t_s > 29.0]
    labels = "".join(b.label for b in beats)
    assert "NVNVNVNV" in labels  # the episode
    sixth = beats[labels.index("NVNVNV") + BIGEMINY_BEATS - 1]
    run = run_stages(block)
    (bigeminy,) = run.starts("bigeminy")
    assert bigeminy.onset_s == pytest.approx(sixth.t_s, abs=0.01)
    assert run.ends("bigeminy")  # ended when two normal beats followed


# -- no alarm on normal rhythm ---------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_ten_minutes_of_noisy_sinus_rhythm_raise_nothing(seed):
    block = render(scenario(rate=70.0 + 5 * seed, **REALISTIC_NOISE), seed, 600)
    run = run_stages(block, chunk=5000)
    assert run.conditions == []


# -- suspension --------------------------------------------------------------------------------
def leads_off_block(seed: int = 1, on: float = 40.0, name: str = "normal", t1: float = 50.0):
    """All three leads off from 20 s to `on` (flat, flagged off): no QRS can be seen."""
    base = {"normal": {"rate": 72.0}, "vt": {"rate": 75.0}}[name]
    events = [at(20.0, leads_off=(True, True, True)), at(on, leads_off=(False, False, False))]
    if name == "vt":
        events.insert(0, at(15.0, rhythm="vt", rate=170.0))
    return render(scenario(*events, **base), seed, t1)


@pytest.mark.parametrize("seed", SEEDS)
def test_leads_off_suspends_asystole_and_raises_leads_off(seed):
    block = leads_off_block(seed)
    peaks = without_peaks_in(r_peaks(block), 20.0, 40.0)
    run = run_stages(block, peaks=peaks)
    assert "asystole" not in run.kinds()
    assert "pause" not in run.kinds()
    (off,) = run.starts("leads_off")
    (back,) = run.ends("leads_off")
    assert off.onset_s == 20.0
    assert back.end_s == 40.0
    assert off.evidence["arrhythmia_suspended"] is True
    assert off.category.value == "technical"


def test_leads_off_ends_an_active_arrhythmia_at_the_suspension():
    block = leads_off_block(name="vt", on=45.0, t1=50.0)
    peaks = without_peaks_in(r_peaks(block), 20.0, 45.0)
    run = run_stages(block, peaks=peaks)
    (vt, vt_again) = run.starts("vt")
    end = run.ends("vt")[0]
    assert vt.onset_s < 20.0
    assert end.end_s == 20.0
    assert "suspended" in end.evidence["ended_by"]
    assert vt_again.onset_s > 45.0  # analysis resumed when the leads came back


def test_unanalysable_ecg_raises_a_technical_alarm_after_its_delay():
    block = render(scenario(rate=72.0), 2, 50)
    windows = ecg_windows(block, noisy=(25, 35))
    peaks = without_peaks_in(r_peaks(block), 25.0, 35.0)
    run = run_stages(block, peaks=peaks, windows=windows)
    (c,) = run.starts("ecg_unanalysable")
    (end,) = run.ends("ecg_unanalysable")
    assert c.onset_s == pytest.approx(28.0)  # 25 s + unanalysable_s
    assert end.end_s == pytest.approx(35.0)
    assert {"asystole", "pause", "leads_off"}.isdisjoint(run.kinds())


def test_one_lead_off_keeps_analysing_on_the_others():
    block = render("leads_off", 3, 60)  # RA off at 20 s: leads I and II off, III carries on
    run = run_stages(block)
    (off,) = run.starts("leads_off")
    assert off.evidence["leads"] == ["I", "II"]
    assert off.evidence["arrhythmia_suspended"] is False
    assert run.kinds() == ["leads_off"]


# -- determinism -----------------------------------------------------------------------------
def test_conditions_do_not_depend_on_chunking():
    block = leads_off_block(name="vt", on=40.0, t1=60.0)
    peaks = without_peaks_in(r_peaks(block), 20.0, 40.0)
    whole = run_stages(block, peaks=peaks, chunk=block.ecg.shape[1]).conditions
    for chunk, through in ((20, True), ([1, 13, 999, 4001, 7], True), (20, False)):
        other = run_stages(block, peaks=peaks, chunk=chunk, beats_through=through).conditions
        assert len(other) == len(whole) >= 4
        assert all(a.same_decision(b) for a, b in zip(whole, other, strict=True))


def test_a_longer_asystole_delay_moves_the_onset():
    settings = AnalysisSettings(bed="bed", arrhythmia=ArrhythmiaSettings(asystole_s=6.0))
    block = render("asystole", 1, 35)
    (asystole,) = run_stages(block, settings=settings).starts("asystole")
    last = max(p.t_s for p in r_peaks(block) if p.t_s < ONSET_S)
    assert asystole.onset_s == pytest.approx(last + 6.0, abs=1e-9)
