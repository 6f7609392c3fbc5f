"""A whole bed's analysis: every simulated scenario raises its alarms and normal rhythm none;
chunking never changes a decision; the runtime analysis needs no torch."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from dataclasses import replace
from fractions import Fraction

import pytest
from blocked_imports import block_imports

from vigil.models.synthetic import PatientSimulator
from vigil.runtime.analysis.analyze import analyze_records
from vigil.runtime.analysis.condition import Category
from vigil.runtime.analysis.settings import AnalysisSettings
from vigil.runtime.analysis.simulated_records import block_records, simulated_records

# scenario -> (seconds to run, kinds that must be raised, further kinds that may be raised)
SCENARIOS = {
    "normal": (90, set(), set()),
    "asystole": (
        40,
        {"asystole"},
        {"pause", "hr_low", "pulse_low", "brady_extreme", "numeric_invalid"},
    ),
    "ventricular_fibrillation": (
        40,
        {"vf"},
        # fibrillation waves counted as beats in the seconds before VF is declared can make
        # an extreme tachycardia, which ends at VF onset (a true emergency either way)
        {"tachy_extreme", "pause", "hr_low", "pulse_low", "brady_extreme", "numeric_invalid"},
    ),
    "ventricular_tachycardia": (
        40,
        {"vt", "hr_high", "tachy_extreme"},
        {"pvc_high", "pulse_high", "pulse_low", "numeric_invalid", "news2_medium"},
    ),
    "bradycardia": (50, {"hr_low", "brady_extreme"}, {"pulse_low", "news2_medium"}),
    "tachycardia": (60, {"hr_high", "tachy_extreme"}, {"pulse_high", "news2_medium"}),
    "pvc_rich": (100, {"pvc_high"}, {"couplet", "bigeminy"}),
    "desaturation": (80, {"spo2_low", "spo2_desat"}, {"news2_medium", "news2_high"}),
    "hypotension": (130, {"nibp_sys_low"}, {"nibp_dia_low", "nibp_mean_low", "news2_medium"}),
    "apnea": (
        100,
        {"apnea"},
        {"spo2_low", "resp_low", "numeric_invalid", "news2_medium", "news2_high"},
    ),
    "leads_off": (40, {"leads_off"}, {"numeric_invalid"}),
    "probe_off": (40, {"probe_off"}, {"numeric_invalid"}),
}


def _analyze(scenario: str, seconds: int, seed: int = 3, chunk=Fraction(10)):
    sim = PatientSimulator(scenario, seed)
    return analyze_records(simulated_records(sim, seconds, chunk), AnalysisSettings(bed="b1"))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_simulated_scenario_raises_its_alarms_and_no_others(scenario):
    seconds, must, may = SCENARIOS[scenario]
    result = _analyze(scenario, seconds)
    raised = {s.kind for s in result.spans}
    assert must <= raised, f"{scenario}: missing {must - raised}; raised {raised}"
    assert raised <= must | may, f"{scenario}: unexpected {raised - must - may}"
    if scenario != "normal":
        # nothing fires before the scenario's first event at 20 s
        assert all(s.onset_s >= 20.0 for s in result.spans), [
            (s.kind, s.onset_s) for s in result.spans
        ]


def test_normal_rhythm_raises_no_condition_at_all_across_seeds():
    for seed in (11, 12):
        result = _analyze("normal", 120, seed)
        assert [(s.kind, s.onset_s) for s in result.spans] == []
        assert len(result.beats) > 120


def _conditions(chunks_s: list[Fraction], scenario: str, seconds: int):
    sim = PatientSimulator(scenario, 5)
    records = []
    t = Fraction(0)
    for size in chunks_s:
        t1 = min(Fraction(seconds), t + size)
        records.extend(block_records(sim.render(t, t1), sim))
        t = t1
        if t >= seconds:
            break
    return analyze_records(records, AnalysisSettings(bed="b1"))


@pytest.mark.parametrize("scenario", ["ventricular_tachycardia", "asystole"])
def test_one_chunk_or_40_ms_chunks_or_random_chunks_give_the_same_beats_and_alarms(scenario):
    seconds = 36
    whole = _conditions([Fraction(seconds)], scenario, seconds)
    wire = _conditions([Fraction(1, 25)] * (seconds * 25), scenario, seconds)
    rnd = random.Random(7)
    sizes = [Fraction(rnd.randint(1, 400), 1000) for _ in range(seconds * 10)]
    jagged = _conditions(sizes, scenario, seconds)
    assert whole.spans, "the scenario should raise something"
    for other in (wire, jagged):
        assert [(b.index, b.label) for b in other.beats] == [
            (b.index, b.label) for b in whole.beats
        ]
        assert len(other.spans) == len(whole.spans)
        key = lambda s: (s.onset_s, s.kind, s.start.key)  # noqa: E731
        for a, b in zip(sorted(whole.spans, key=key), sorted(other.spans, key=key), strict=True):
            assert a.start.same_decision(b.start), (a.start, b.start)
            assert a.end_s == b.end_s


def test_technical_conditions_are_marked_technical():
    result = _analyze("probe_off", 30)
    (probe,) = [s for s in result.spans if s.kind == "probe_off"]
    assert probe.start.category is Category.TECHNICAL


def test_the_bed_analysis_runs_where_torch_cannot_be_imported():
    code = block_imports("torch") + textwrap.dedent(
        """
        from vigil.models.synthetic import PatientSimulator
        from vigil.runtime.analysis.analyze import analyze_records
        from vigil.runtime.analysis.settings import AnalysisSettings
        from vigil.runtime.analysis.simulated_records import simulated_records
        sim = PatientSimulator("ventricular_tachycardia", 1)
        r = analyze_records(simulated_records(sim, 30, 10), AnalysisSettings())
        print(sorted({s.kind for s in r.spans}), r.decided_by)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "vt" in out.stdout
    assert "model:ecg_beat" in out.stdout


def test_repeated_and_lost_pleth_samples_are_counted_beside_the_ecg_ones():
    sim = PatientSimulator("normal", 2)
    first = list(block_records(sim.render(0, 5), sim))
    pleth = next(r for r in first if getattr(r, "kind", "") == "PLETH")
    again = replace(pleth, first_index=pleth.end_index - 25, samples=pleth.samples[-25:])
    later = list(block_records(sim.render(5, 10), sim))
    # the 5-10 s pleth never arrives, so the 10-12 s pleth starts after a hole
    lost = [r for r in later if getattr(r, "kind", "") != "PLETH"]
    more = list(block_records(sim.render(10, 12), sim))
    result = analyze_records([*first, again, *lost, *more], AnalysisSettings(bed="b1"))
    assert result.counters["samples_overlapped"] == 25
    assert result.counters["channel_restarts"] == 1  # a 5 s hole restarts the pulse detector
    assert result.counters["ecg_samples"] == 12 * 500


def test_the_arrhythmia_counts_and_vf_vetoes_are_public_for_reports_and_benchmarks():
    from vigil.runtime.analysis.arrhythmia import MAX_VETOES
    from vigil.runtime.analysis.bed_analyzer import BedAnalyzer

    analyzer = BedAnalyzer(AnalysisSettings(bed="b"))
    assert analyzer.arrhythmia_counters == {}
    assert analyzer.vf_vetoes == []
    sim = PatientSimulator("ventricular_fibrillation", 3)
    for record in simulated_records(sim, 32):
        analyzer.feed(record)
    counts = analyzer.arrhythmia_counters
    assert counts["vf_windows"] >= 4  # fibrillation from 20 s, judged in windows
    assert counts["beats"] > 20  # the sinus rhythm before it
    assert len(analyzer.vf_vetoes) == min(counts["vf_vetoed"], MAX_VETOES)  # the log is bounded
    analyzer.arrhythmia_counters["beats"] = -1  # a copy: the detector's count is untouched
    assert analyzer.arrhythmia_counters["beats"] == counts["beats"]


def test_a_model_that_did_not_load_is_reported_from_the_beds_first_data_not_device_time_zero(
    tmp_path,
):
    """A device whose clock reads two hours must not get a model alarm that began two hours
    before monitoring did."""
    import numpy as np

    from vigil.records import Numerics, WaveformChunk
    from vigil.runtime.analysis.bed_analyzer import BedAnalyzer
    from vigil.runtime.analysis.settings import ModelSettings

    missing = ModelSettings(ecg_beat=tmp_path / "no_ecg_beat", vitals_ae=tmp_path / "no_ae")
    bed = BedAnalyzer(AnalysisSettings(bed="b1", models=missing))
    fs, start_s = Fraction(500), 7200
    records = [Numerics("dev", start_s * 1_000_000, {"hr": 70.0})]
    for k in range(3):
        first = (start_s + k) * 500 + 250  # the ECG starts half a second after the numerics
        records += [
            WaveformChunk(
                "dev", ch, f"ECG {lead}", f"ECG_{lead}", "mV", fs, first, np.zeros(500, np.float32)
            )
            for ch, lead in enumerate(("I", "II", "III"))
        ]
    onsets = {
        c.key: c.onset_s
        for r in records
        for c in bed.feed(r).conditions
        if c.kind == "model_unavailable"
    }
    assert onsets == {"vitals_ae": 7200.0, "ecg_beat": 7200.5}


def test_a_condition_is_dated_to_the_newest_sample_received_so_delays_count_every_look_ahead():
    """`decided_at_s` is when, in device time, the bed could first have told anyone: the end
    of the data it had received, not the (earlier) time its detectors had finished through."""
    from vigil.records import WaveformChunk
    from vigil.runtime.analysis.bed_analyzer import BedAnalyzer

    bed = BedAnalyzer(AnalysisSettings(bed="b1"))
    decided = {}
    for record in simulated_records(PatientSimulator("asystole", 3), 30):
        for c in bed.feed(record).conditions:
            if c.kind == "asystole" and c.end_s is None:
                decided = {"at_s": c.decided_at_s, "by": record}
    by = decided["by"]
    assert isinstance(by, WaveformChunk)
    assert by.kind.startswith("ECG_")
    assert decided["at_s"] == pytest.approx(float(by.end_index / by.rate), abs=1e-9)
