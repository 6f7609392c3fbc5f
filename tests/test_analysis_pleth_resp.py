"""Pleth pulses, impedance breaths and apnea against the synthesizer's ground truth.

Truth: a beat ejects a pulse whose systolic peak comes its pulse transit time (plus 0.1 s x
the rate scale) after the R peak, and the monitor counts it when its stroke is >= 0.15
(models/synthetic/pleth.py); breath onsets are `SignalBlock.breaths`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from vigil.models.synthetic import Event, PatientSimulator, PhysioState, Scenario
from vigil.models.synthetic.pleth import MIN_PULSE_STROKE, VENTRICULAR_EXTRA_DELAY_S
from vigil.models.synthetic.rhythm import stroke_for
from vigil.runtime.analysis.apnea import ApneaDetector
from vigil.runtime.analysis.events import seconds_at
from vigil.runtime.analysis.pleth import PulseDetector
from vigil.runtime.analysis.respiration import BreathDetector
from vigil.runtime.analysis.settings import AnalysisSettings

PULSE_TOL_S = 0.05
BREATH_TOL_S = 0.6
WARMUP_S = 5.0  # the first beat of a simulation has a full stroke whatever the rate


def scenario(name: str, events: tuple[Event, ...] = (), **initial: object) -> Scenario:
    return Scenario(name, "", PhysioState(**initial), events)


def pulse_truth(block, patient) -> list[float]:
    """Systolic peak times of the pulses the monitor counts."""
    out, prev = [], "N"
    for b in block.beats:
        stroke = stroke_for(b.rr_s, b.label, prev == "V")
        prev = b.label
        if stroke < MIN_PULSE_STROKE:
            continue
        rr = b.rr_s if math.isfinite(b.rr_s) else 0.85
        scale = min(max(math.sqrt(rr / 0.85), 0.55), 1.0)
        extra = VENTRICULAR_EXTRA_DELAY_S if b.label == "V" else 0.0
        out.append(b.t_s + patient.ptt_s + extra + 0.10 * scale)
    return out


def match(truth: list[float], found: list[float], tol: float, lo: float, hi: float):
    """(sensitivity, positive predictivity, errors) over [lo, hi), greedy nearest match."""
    truth = [t for t in truth if lo <= t < hi]
    found_arr = np.asarray([t for t in found if lo - tol <= t < hi + tol])
    used: set[int] = set()
    errors = []
    for t in truth:
        if len(found_arr) == 0:
            break
        j = int(np.argmin(np.abs(found_arr - t)))
        if abs(found_arr[j] - t) <= tol and j not in used:
            used.add(j)
            errors.append(found_arr[j] - t)
    inside = sum(1 for t in found if lo <= t < hi)
    se = len(errors) / max(len(truth), 1)
    ppv = len(errors) / max(inside, 1) if inside else 1.0
    return se, ppv, np.asarray(errors)


def feed_all(det, first: int, x: np.ndarray, sizes: list[int] | None = None):
    """Feed `x` in chunks of `sizes` (one chunk if None); events and each call's output."""
    sizes = sizes or [len(x)]
    events, outputs, i = [], [], 0
    for n in sizes:
        out = det.feed(first + i, x[i : i + n])
        outputs.append(out)
        events += getattr(out, "pulses", None) or getattr(out, "breaths", [])
        i += n
    assert i == len(x)
    return events, outputs


def random_sizes(total: int, seed: int, high: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < total:
        sizes.append(min(int(rng.integers(1, high)), total - sum(sizes)))
    return sizes


# -- pulses -------------------------------------------------------------------------------------
PULSE_CASES = {
    "normal": ("normal", {}),
    "tachycardia 150": ("tachycardia", {}),
    "bradycardia 38": ("bradycardia", {}),
    "sinus 30": (scenario("s30", rhythm="brady", rate=30), {}),
    "sinus 250": (scenario("s250", rhythm="tachy", rate=250), {}),
    "VT 180 weak pulses": ("ventricular_tachycardia", {}),
    "VT 250": (scenario("vt250", rhythm="vt", rate=250), {}),
    "PVCs": ("pvc_rich", {}),
    "pleth at 100 Hz": ("normal", {"pleth_rate": Fraction(100)}),
}


@pytest.mark.parametrize("case", list(PULSE_CASES))
def test_pulses_match_ground_truth_beats_from_30_to_250_per_min(case):
    scn, kwargs = PULSE_CASES[case]
    sim = PatientSimulator(scn, 11, **kwargs)
    block = sim.render(0, 60)
    pulses, _ = feed_all(PulseDetector(sim.pleth_rate), block.pleth_first_index, block.pleth)
    se, ppv, err = match(
        pulse_truth(block, sim.patient), [p.t_s for p in pulses], PULSE_TOL_S, WARMUP_S, 59.0
    )
    assert se >= 0.97, f"{case}: sensitivity {se:.3f}"
    assert ppv >= 0.99, f"{case}: positive predictivity {ppv:.3f}"
    assert np.abs(err).mean() < 0.012  # systolic peak within ~1.5 samples on average


def test_weak_vt_pulses_are_counted_with_their_small_amplitude():
    sim = PatientSimulator("ventricular_tachycardia", 3)
    block = sim.render(0, 60)
    pulses, _ = feed_all(PulseDetector(sim.pleth_rate), block.pleth_first_index, block.pleth)
    sinus = [p.amplitude for p in pulses if 5 < p.t_s < 19]
    vt = [p.amplitude for p in pulses if 25 < p.t_s < 59]
    assert np.median(sinus) == pytest.approx(sim.patient.pleth_amp, rel=0.15)  # foot to peak
    assert np.median(vt) < 0.6 * np.median(sinus)  # weak pulses ...
    assert len(vt) >= 0.97 * 34 * 3  # ... every one of ~3 per second counted


def test_probe_off_flat_pleth_and_asystole_give_no_pulses():
    for name in ("probe_off", "asystole", "ventricular_fibrillation"):
        sim = PatientSimulator(name, 5)
        block = sim.render(0, 60)
        pulses, _ = feed_all(PulseDetector(sim.pleth_rate), block.pleth_first_index, block.pleth)
        assert [p for p in pulses if p.t_s > 21.0] == [], name
        assert len([p for p in pulses if p.t_s < 19.0]) >= 15, name


def test_nan_samples_are_a_gap_never_a_pulse_and_pulses_resume_after_it():
    sim = PatientSimulator("normal", 6)
    block = sim.render(0, 40)
    x = block.pleth.copy()
    x[1250:2500] = np.nan  # 10-20 s missing
    det = PulseDetector(sim.pleth_rate)
    pulses, outputs = feed_all(det, 0, x, [1000, 2000, len(x) - 3000])
    assert not [p for p in pulses if 10.0 <= p.t_s < 20.0]
    truth = pulse_truth(block, sim.patient)
    se, ppv, _ = match(truth, [p.t_s for p in pulses], PULSE_TOL_S, 21.0, 39.0)
    assert se >= 0.95
    assert ppv == 1.0
    assert outputs[1].analysed_through >= 2500  # everything up to the gap's end is analysed


def test_pulse_rate_agrees_with_the_monitors_numeric():
    sim = PatientSimulator("tachycardia", 2)
    block = sim.render(0, 60)
    det = PulseDetector(sim.pleth_rate)
    assert math.isnan(det.pulse_rate(0.5))  # not enough pulses yet
    fs = int(sim.pleth_rate)
    for n in block.numerics[10:]:  # queried as a live monitor would, once analysed past
        det.feed(det_end(det, fs), block.pleth[det_end(det, fs) : int(n.t_s + 1) * fs])
        assert det.pulse_rate(n.t_s) == pytest.approx(n.pulse_rate, abs=3.0)


def det_end(det, fs: int) -> int:
    return det._expected or 0


def test_pulse_rate_is_nan_without_pulses():
    sim = PatientSimulator("asystole", 2)
    block = sim.render(0, 40)
    det = PulseDetector(sim.pleth_rate)
    feed_all(det, block.pleth_first_index, block.pleth)
    assert 60 <= det.pulse_rate(15.0) <= 90
    assert math.isnan(det.pulse_rate(30.0))


# -- breaths ------------------------------------------------------------------------------------
BREATH_CASES = {
    "14 /min": ("normal", {}),
    "22 /min": ("tachycardia", {}),
    "6 /min": (scenario("rr6", resp_rate=6), {}),
    "40 /min": (scenario("rr40", resp_rate=40), {}),
    "noisy 0.08 ohm": (scenario("noisy", resp_noise_ohm=0.08), {}),
    "25 Hz": ("normal", {"resp_rate": Fraction(25)}),
    "125 Hz": ("normal", {"resp_rate": Fraction(125)}),
}


@pytest.mark.parametrize("case", list(BREATH_CASES))
def test_breath_onsets_match_ground_truth(case):
    scn, kwargs = BREATH_CASES[case]
    sim = PatientSimulator(scn, 21, **kwargs)
    block = sim.render(0, 120)
    breaths, _ = feed_all(BreathDetector(sim.resp_rate), block.resp_first_index, block.resp)
    lo = block.breaths[1] - 0.5  # the trace is flat before the first breath: a start-up edge
    se, ppv, err = match(list(block.breaths), [b.t_s for b in breaths], BREATH_TOL_S, lo, 110.0)
    assert se >= 0.95, f"{case}: sensitivity {se:.3f}"
    assert ppv >= 0.95, f"{case}: positive predictivity {ppv:.3f}"
    assert np.abs(err).mean() < 0.25
    swings = [b.amplitude_ohm for b in breaths]
    assert np.median(swings) == pytest.approx(sim.patient.resp_amp_ohm, rel=0.2)


def test_cardiogenic_oscillation_during_apnea_is_not_counted_as_breaths():
    sim = PatientSimulator("apnea", 4)
    block = sim.render(0, 90)
    apnoeic = block.resp[int(30 * 62.5) :]
    assert np.ptp(apnoeic) > 0.04  # the heart still moves the trace ...
    breaths, _ = feed_all(BreathDetector(sim.resp_rate), block.resp_first_index, block.resp)
    assert max(block.breaths) < 20.0
    assert [b for b in breaths if b.t_s > 20.0] == []  # ... and none of it is a breath
    assert len([b for b in breaths if b.t_s < 20.0]) >= len(block.breaths) - 1


def test_respiration_rate_agrees_with_the_monitors_numeric_and_is_nan_in_apnea():
    sim = PatientSimulator("apnea", 8)
    block = sim.render(0, 60)
    det = BreathDetector(sim.resp_rate)
    feed_all(det, block.resp_first_index, block.resp)
    assert det.respiration_rate(19.0) == pytest.approx(block.numerics[19].resp_rate, abs=2.0)
    assert math.isnan(det.respiration_rate(59.0))


# -- the streaming contract ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["pleth", "resp"])
def test_one_chunk_40ms_chunks_and_random_chunks_give_identical_events(kind):
    sim = PatientSimulator("pvc_rich", 9)
    block = sim.render(0, 60)
    if kind == "pleth":
        x, fs, make, first = (
            block.pleth.copy(),
            sim.pleth_rate,
            PulseDetector,
            block.pleth_first_index,
        )
    else:
        x, fs, make, first = (
            block.resp.copy(),
            sim.resp_rate,
            BreathDetector,
            block.resp_first_index,
        )
    n = len(x)
    x[n // 3 : n // 3 + int(fs)] = np.nan  # a one-second gap inside
    step = int(fs * Fraction(1, 25))
    whole, _ = feed_all(make(fs), first, x)
    assert len(whole) > 10
    assert feed_all(make(fs), first, x, [step] * (n // step) + [n % step])[0] == whole
    assert feed_all(make(fs), first, x, random_sizes(n, 1, 400))[0] == whole
    assert feed_all(make(fs), first, x, random_sizes(n, 2, 7))[0] == whole


@pytest.mark.parametrize("kind", ["pleth", "resp"])
def test_analysed_through_after_every_chunk_depends_only_on_the_samples_received(kind):
    # a live bed feeds a few samples per call and the detectors carry what they found in the
    # previous call; after every call they must say what one call with the whole prefix says
    sim = PatientSimulator("pvc_rich", 12)
    block = sim.render(0, 24)
    x, fs, make = (
        (block.pleth.copy(), sim.pleth_rate, PulseDetector)
        if kind == "pleth"
        else (block.resp.copy(), sim.resp_rate, BreathDetector)
    )
    n = len(x)
    x[n // 2 : n // 2 + int(fs) // 3] = np.nan  # a gap: the tracker restarts after it
    x = np.minimum(x, np.nanquantile(x, 0.9))  # clipped tops and a flat stretch: equal
    x[n // 4 : n // 4 + 2 * int(fs)] = x[n // 4]  # extrema, where the first one counts
    det, end, events = make(fs), 0, 0
    for size in random_sizes(n, 3, 9):
        out = det.feed(end, x[end : end + size])
        events += len(getattr(out, "pulses", None) or getattr(out, "breaths", []))
        end += size
        assert out.analysed_through == make(fs).feed(0, x[:end]).analysed_through, end
    assert events >= 4


@pytest.mark.parametrize("kind", ["pleth", "resp"])
def test_analysed_through_is_honest_and_within_the_stated_look_ahead(kind):
    sim = PatientSimulator("apnea" if kind == "resp" else "pvc_rich", 10)
    block = sim.render(0, 60)
    if kind == "pleth":
        x, fs, det = block.pleth, sim.pleth_rate, PulseDetector(sim.pleth_rate)
    else:
        x, fs, det = block.resp, sim.resp_rate, BreathDetector(sim.resp_rate)
    step = int(fs * Fraction(1, 25))
    sizes = [step] * (len(x) // step)
    events, outputs = feed_all(det, 0, x[: sum(sizes)], sizes)
    end, later = 0, list(events)
    for out in outputs:
        end += step
        reported = getattr(out, "pulses", None) or getattr(out, "breaths", [])
        for e in reported:
            later.remove(e)
            assert e.reported_at <= end
            assert (e.reported_at - e.index) / fs <= det.LOOKAHEAD_S
        assert all(e.index >= out.analysed_through for e in later)  # nothing before it pending
        assert (end - out.analysed_through) / fs <= det.LOOKAHEAD_S + 1.0 / float(fs)


def test_feed_refuses_a_discontinuity_or_2d_samples_and_gap_restarts():
    det = PulseDetector(Fraction(125))
    det.feed(0, np.zeros(100, dtype=np.float32))
    with pytest.raises(ValueError, match="gap"):
        det.feed(150, np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match="1-D"):
        det.feed(100, np.zeros((2, 10), dtype=np.float32))
    assert det.gap(150).analysed_through == 150
    assert det.feed(150, np.zeros(10, dtype=np.float32)).pulses == []


def test_a_held_inspiration_is_reported_within_the_look_ahead_with_its_swing_so_far():
    fs = Fraction(125, 2)
    t = np.arange(int(40 * fs)) / float(fs)
    rise = np.clip((t - 5.0) / 1.5, 0.0, 1.0)
    x = 0.8 * 0.5 * (1 - np.cos(np.pi * rise))  # breathe in at 5 s, hold until 30 s
    x[t >= 30.0] = 0.0
    x = (x + 0.005 * np.sin(2 * np.pi * 1.3 * t)).astype(np.float32)
    det = BreathDetector(fs)
    breaths, outputs = feed_all(det, 0, x, [125] * 20)  # 2 s chunks
    first = breaths[0]
    assert first.t_s == pytest.approx(5.0, abs=0.5)
    assert first.reported_at / float(fs) - first.t_s <= det.LOOKAHEAD_S
    assert first.reported_at / float(fs) < 20.0  # not held back until the exhalation at 30 s
    assert first.amplitude_ohm == pytest.approx(0.8, abs=0.05)
    assert outputs[12].analysed_through / float(fs) > 20.0  # the apnea clock is not stalled


# -- apnea --------------------------------------------------------------------------------------
def run_apnea(scn, seed: int, duration: int, sizes_s: float | None = None, settings=None):
    sim = PatientSimulator(scn, seed)
    block = sim.render(0, duration)
    fs = sim.resp_rate
    breaths = BreathDetector(fs)
    apnea = ApneaDetector("bed1", settings or AnalysisSettings())
    apnea.restart(0.0)
    n = len(block.resp)
    step = n if sizes_s is None else int(fs * Fraction(sizes_s))
    conds = []
    for i in range(0, n, step):
        out = breaths.feed(i, block.resp[i : i + step])
        conds += apnea.update(out.breaths, float(out.analysed_through / fs), True)
    return block, conds


def test_apnea_starts_exactly_apnea_s_after_the_last_breath_and_ends_at_the_next():
    events = (Event(20.0, (("apnea", True),)), Event(55.0, (("apnea", False),)))
    block, conds = run_apnea(scenario("apnea35", events), 12, 90)
    starts = [c for c in conds if c.end_s is None]
    ends = [c for c in conds if c.end_s is not None]
    assert len(starts) == 1
    assert len(ends) == 1
    last = max(t for t in block.breaths if t < 20.0)
    start = starts[0]
    assert start.kind == "apnea"
    assert start.priority.name == "HIGH"
    assert start.onset_s == pytest.approx(last + 20.0, abs=BREATH_TOL_S)
    assert start.onset_s == start.evidence["last_breath_s"] + 20.0  # exactly, no extra delay
    resumed = min(t for t in block.breaths if t >= 55.0)
    # the first breath after an apnea rises out of the cardiogenic ripple: onset within 1.5 s
    assert ends[0].end_s == pytest.approx(resumed, abs=1.5)


def test_apnea_conditions_do_not_depend_on_chunking():
    whole = run_apnea("apnea", 13, 60)[1]
    chunked = run_apnea("apnea", 13, 60, sizes_s=0.04)[1]
    assert len(whole) == len(chunked) == 1
    assert whole[0].same_decision(chunked[0])


def test_normal_breathing_and_slow_breathing_raise_no_apnea():
    assert run_apnea("normal", 14, 120)[1] == []
    assert run_apnea(scenario("rr5", resp_rate=5), 14, 120)[1] == []


def test_configured_apnea_delay_is_used():
    settings = AnalysisSettings()
    settings = AnalysisSettings(respiration=type(settings.respiration)(apnea_s=10.0))
    block, conds = run_apnea("apnea", 15, 40, settings=settings)
    last = max(t for t in block.breaths if t < 20.0)
    assert conds[0].onset_s == pytest.approx(last + 10.0, abs=BREATH_TOL_S)


def test_invalid_respiration_signal_ends_apnea_and_restarts_the_clock():
    det = ApneaDetector("bed1", AnalysisSettings())
    det.restart(0.0)
    started = det.update([], 21.0, True)
    assert [c.onset_s for c in started] == [20.0]
    done = det.update([], 30.0, False)  # leads off: from the previous call's 21 s
    assert done[0].end_s == 21.0
    assert done[0].evidence["ended_by"] == "resp_invalid"
    assert det.update([], 45.0, False) == []  # no apnea judged while invalid
    det.restart(50.0)
    assert det.update([], 69.0, True) == []
    assert det.update([], 70.5, True)[0].onset_s == 70.0


@pytest.mark.parametrize("fs", [Fraction(500), Fraction(125, 2), Fraction(1000, 3), 360])
def test_event_times_are_the_exact_fraction_rounded_once(fs: Fraction | int) -> None:
    """Every stage dates samples with `seconds_at`; it must give float(index / fs) computed
    exactly, so times agree across stages and do not depend on which path computed them."""
    rng = np.random.default_rng(7)
    for index in [0, 1, 2, 3, 499, 10**6, *rng.integers(0, 2**40, 500).tolist()]:
        assert seconds_at(index, fs) == float(Fraction(index) / fs), index
