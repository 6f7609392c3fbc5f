"""Asystole within "4 s criterion + 1 s" of the last beat wherever the deadline falls on the
1 s window grid, through the whole bed analysis fed in 40 ms chunks as the wire delivers it.

The window holding the deadline closes up to 1 s after it; the front end's quiet spans
(ecg_front_end.py, qrs_absence.py) say sooner that no QRS came and the ECG was analysable up
to the deadline. Noise and leads off before the deadline still suspend asystole; leads that
come off after it end the condition, which was decided on the ECG before them.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from vigil.models.synthetic import Event, PatientSimulator, PhysioState, Scenario
from vigil.runtime.analysis.bed_analyzer import BedAnalyzer
from vigil.runtime.analysis.condition import Condition
from vigil.runtime.analysis.result import ConditionSpan, spans_from
from vigil.runtime.analysis.settings import AnalysisSettings
from vigil.runtime.analysis.simulated_records import block_records

CHUNK = Fraction(1, 25)  # the wire's 40 ms
CRITERION_S = 4.0  # AnalysisSettings' default asystole_s
LOOKAHEAD_S = 0.6
"""Most device time from the asystole deadline to the newest sample when it is decided: the
front end's quiet spans (0.42 s at 500 Hz) or the pleth rule's wait for the pleth analysis
(0.52 s), plus one 40 ms chunk; the window grid alone allows 1.165 s."""
ALL_OFF = (True, True, True)
NOISE_RMS_MV = 5.0  # white: far above lead_quality's NOISE_MV, it would hide any QRS


def scenario(rate: float, *events: Event) -> Scenario:
    state = PhysioState(rate=rate, baseline_mv=0.1, emg_mv=0.02)
    return Scenario("test", "", state, tuple(events))


def at(t: float, **changes: object) -> Event:
    return Event(t, tuple(changes.items()))


def last_beat_with_deadline_at(phase: float, seed: int, rate: float) -> float:
    """The time of a sinus beat between 8 and 40 s whose asystole deadline (beat + 4 s) falls
    nearest `phase` into its 1 s window (windows start at whole seconds)."""
    sim = PatientSimulator(scenario(rate), seed)
    beats = [b.t_s for b in sim.render(Fraction(0), Fraction(40)).beats if b.t_s >= 8.0]
    last = min(beats, key=lambda t: abs((t + CRITERION_S) % 1.0 - phase))
    assert abs((last + CRITERION_S) % 1.0 - phase) < 0.05
    return last


def bed(
    seed: int,
    rate: float,
    seconds: float,
    *events: Event,
    noise: tuple[float, float] | None = None,
) -> list[Condition]:
    """Every condition start and end the bed decides, in order, fed 40 ms at a time; `noise`:
    from when to when every lead carries white noise of NOISE_RMS_MV."""
    analyzer = BedAnalyzer(AnalysisSettings(bed="b1"))
    sim = PatientSimulator(scenario(rate, *events), seed)
    rng = np.random.default_rng(seed)
    out = []
    t = Fraction(0)
    while t < seconds:
        block = sim.render(t, t + CHUNK)
        if noise is not None:
            times = (block.ecg_first_index + np.arange(block.ecg.shape[1])) / float(sim.ecg_rate)
            noisy = (times >= noise[0]) & (times < noise[1])
            block.ecg[:, noisy] += NOISE_RMS_MV * rng.standard_normal((3, int(noisy.sum())))
        for record in block_records(block, sim):
            out += analyzer.feed(record).conditions
        t += CHUNK
    return out


def spans(conditions: list[Condition], kind: str) -> list[ConditionSpan]:
    return [s for s in spans_from(conditions) if s.kind == kind]


@pytest.mark.parametrize("p_waves", [False, True])
@pytest.mark.parametrize("phase", [0.05, 0.3, 0.6, 0.75, 0.9, 0.97])
def test_asystole_is_decided_within_5_s_of_the_last_beat_wherever_its_deadline_falls(
    phase: float, p_waves: bool
) -> None:
    seed, rate = (4, 57.0) if p_waves else (5, 62.0)
    last = last_beat_with_deadline_at(phase, seed, rate)
    decided = bed(seed, rate, last + 8.0, at(last + 0.05, rhythm="asystole", p_waves=p_waves))
    (asystole,) = spans(decided, "asystole")
    assert asystole.onset_s == pytest.approx(last + CRITERION_S, abs=0.01)
    delay = asystole.start.decided_at_s - last
    assert delay <= CRITERION_S + LOOKAHEAD_S, f"deadline phase {(last + 4) % 1:.2f}: {delay}"
    assert delay <= CRITERION_S + 1.0


def test_all_leads_flagged_off_before_the_deadline_suspend_asystole_in_that_very_window() -> None:
    """The device flags the leads off from the start of the deadline's window (its status
    comes once a second): no asystole, not even briefly, but the leads-off technical alarm."""
    seed, rate = 5, 62.0
    last = last_beat_with_deadline_at(0.6, seed, rate)
    window = math.floor(last + CRITERION_S)
    events = (at(last + 0.05, rhythm="asystole"), at(window - 0.2, leads_off=ALL_OFF))
    decided = bed(seed, rate, last + 9.0, *events)
    assert not spans(decided, "asystole")
    (leads_off,) = spans(decided, "leads_off")
    assert leads_off.onset_s == window


def test_noise_over_the_deadline_suspends_asystole_until_the_ecg_is_analysable_again() -> None:
    """Noise far above the QRS could hide complexes: the ECG is unanalysable, a technical
    alarm, never an asystole; the 4 s count restarts when the noise stops."""
    seed, rate = 5, 62.0
    last = last_beat_with_deadline_at(0.6, seed, rate)
    noise = (last + CRITERION_S - 0.4, last + CRITERION_S + 6.0)
    decided = bed(seed, rate, noise[1] + 6.0, at(last + 0.05, rhythm="asystole"), noise=noise)
    (unanalysable,) = spans(decided, "ecg_unanalysable")
    assert unanalysable.onset_s < noise[1]
    (asystole,) = spans(decided, "asystole")
    assert asystole.onset_s >= noise[1] + CRITERION_S - 1.0  # from the first clean window


def test_noise_after_the_deadline_ends_an_asystole_decided_on_the_ecg_before_it() -> None:
    """Noise from 0.4 s into the deadline's window makes that window unanalysable, which
    suspends the analysis from its start; the asystole decided on the clean part before the
    deadline is ended there, not taken back."""
    seed, rate = 5, 62.0
    last = last_beat_with_deadline_at(0.15, seed, rate)
    deadline = last + CRITERION_S
    noise = (math.floor(deadline) + 0.4, deadline + 4.0)
    decided = bed(seed, rate, last + 9.0, at(last + 0.05, rhythm="asystole"), noise=noise)
    start, end = [c for c in decided if c.kind == "asystole"]
    assert start.onset_s == pytest.approx(deadline, abs=0.01)
    assert start.decided_at_s < math.floor(deadline) + 1.0  # before the window closed
    assert end.end_s == start.onset_s
    assert "suspended" in end.evidence["ended_by"]
