"""`vigil analyze RECORD` as a user runs it: a recording in, beats, alarms, an EC57 score, a
JSON report and a plot out; bad input gets one clear line naming the file, no traceback."""

from __future__ import annotations

import json
import math
import struct
from fractions import Fraction

import numpy as np
import pytest

from vigil.cli import main
from vigil.firmware_bridge.byte_recording import ByteRecorder
from vigil.firmware_bridge.simulator.channels import default_rates
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.sources import SyntheticSource
from vigil.models.synthetic import PatientSimulator
from vigil.runtime.analysis.condition import condition, ended
from vigil.runtime.analysis.ec57 import Reference, score
from vigil.runtime.analysis.events import Beat
from vigil.runtime.analysis.recording_input import open_recording
from vigil.runtime.analysis.report_json import analysis_report, write_report
from vigil.runtime.analysis.result import AnalysisResult, spans_from
from vigil.runtime.analysis.strip_plot import EcgTrace, choose_strips, plot_analysis

wfdb = pytest.importorskip("wfdb")

REPORT_KEYS = {"record", "summary", "beats", "alarms", "heart_rate", "suppressed"}


def strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{constant} in the JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def truth_reference(block) -> Reference:
    return Reference.from_symbols([b.t_s for b in block.beats], [b.label for b in block.beats])


def scored(report, reference: Reference):
    beats = report["beats"]
    duration = report["summary"]["duration_s"]
    return score(
        reference, [b["t_s"] for b in beats], [b["label"] for b in beats], end_s=duration - 2
    )


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["analyze", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- whole runs ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pvc_record(tmp_path_factory):
    """45 s of a simulated patient with PVCs as a multi-rate WFDB record (ECG 500 Hz, pleth
    125 Hz, respiration 62.5 Hz) with its true beats as the reference annotator `atr`."""
    folder = tmp_path_factory.mktemp("wfdb")
    block = PatientSimulator("pvc_rich", 8).render(0, 45)
    frames = min(len(block.resp), block.ecg.shape[1] // 8, len(block.pleth) // 2)
    signals = [block.ecg[1][: 8 * frames], block.ecg[0][: 8 * frames],
               block.pleth[: 2 * frames], block.resp[:frames]]  # fmt: skip
    wfdb.wrsamp("pvc", fs=62.5, units=["mV", "mV", "NU", "Ohm"],
                sig_name=["MLII", "I", "PLETH", "RESP"], e_p_signal=signals,
                samps_per_frame=[8, 8, 2, 1], fmt=["16"] * 4, adc_gain=[1000, 1000, 10000, 1000],
                baseline=[0] * 4, write_dir=str(folder))  # fmt: skip
    symbols = ["+"] + [b.label for b in block.beats]
    samples = [0] + [b.ecg_index // 8 for b in block.beats]  # annotations on the frame clock
    wfdb.wrann("pvc", "atr", np.array(samples), symbol=symbols,
               aux_note=["(N"] + [""] * len(block.beats), write_dir=str(folder))  # fmt: skip
    return folder / "pvc", block


def test_wfdb_record_is_scored_against_its_reference_and_reported(tmp_path, capsys, pvc_record):
    record, block = pvc_record
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    code, out, err = run(capsys, record, "--reference", "atr", "--json", out_json,
                         "--plot", out_png)  # fmt: skip
    assert code == 0, err
    assert "MLII -> ECG_II 500 Hz" in out
    assert "PLETH -> PLETH 125 Hz" in out
    assert "x real time" in out
    assert "EC57 vs atr, 150 ms window" in out
    report = strict_json(out_json)
    assert REPORT_KEYS | {"ec57"} <= report.keys()
    ec57 = report["ec57"]
    assert min(ec57["se"], ec57["ppv"]) >= 0.99, ec57
    assert ec57["tp"] >= 50
    truth_v = sum(b.label == "V" for b in block.beats if b.t_s < 43)
    assert ec57["v_tp"] + ec57["v_fn"] == truth_v > 0
    assert {"t_s", "label", "decided_by"} <= report["beats"][0].keys()
    assert report["summary"]["duration_s"] == pytest.approx(45, abs=0.1)
    assert report["heart_rate"]
    assert all(len(p) == 2 for p in report["heart_rate"])
    width, height = png_size(out_png)
    assert width > 1000
    assert height > 600


def test_csv_input_is_analysed_with_channel_and_fs(tmp_path, capsys):
    block = PatientSimulator("normal", 9).render(0, 30)
    path = tmp_path / "bed.csv"
    lines = (f"{a:.4f},{b:.4f}" for a, b in zip(block.ecg[1], block.ecg[0], strict=True))
    path.write_text("lead_x,lead_y\n" + "\n".join(lines) + "\n")
    code, out, err = run(capsys, path, "--fs", "500", "--channel", "ecg=lead_x",
                         "--channel", "ecg_i=lead_y", "--json", tmp_path / "r.json")  # fmt: skip
    assert code == 0, err
    assert "lead_x -> ECG_II 500 Hz, lead_y -> ECG_I 500 Hz" in out
    result = scored(strict_json(tmp_path / "r.json"), truth_reference(block))
    assert min(result.se, result.ppv) >= 0.99, result.lines()


def test_npy_input_is_analysed_by_row_index(tmp_path, capsys):
    block = PatientSimulator("normal", 10).render(0, 30)
    np.save(tmp_path / "x.npy", block.ecg)
    code, _, err = run(capsys, tmp_path / "x.npy", "--fs", "500", "--channel", "ecg_i=0",
                       "--channel", "ecg_ii=1", "--channel", "ecg_iii=2",
                       "--json", tmp_path / "r.json")  # fmt: skip
    assert code == 0, err
    result = scored(strict_json(tmp_path / "r.json"), truth_reference(block))
    assert min(result.se, result.ppv) >= 0.99, result.lines()


@pytest.fixture(scope="module")
def byte_record(tmp_path_factory):
    """40 s of the simulated monitor as `vigil listen --record` writes it, one read a second."""
    path = tmp_path_factory.mktemp("bytes") / "run.vgr"
    monitor = SimulatedMonitor(SyntheticSource("normal", 6, default_rates()), seed=6)
    recorder = ByteRecorder(path)
    for k in range(1, 41):
        recorder.write(k * 1_000_000_000, monitor.frames_until(Fraction(k)))
    recorder.close()
    return path


def test_byte_recording_of_the_simulated_monitor_is_analysed_as_live(tmp_path, capsys,
                                                                     byte_record):  # fmt: skip
    code, out, err = run(capsys, byte_record, "--json", tmp_path / "r.json",
                         "--plot", tmp_path / "p.png")  # fmt: skip
    assert code == 0, err
    assert "(byte recording)" in out
    report = strict_json(tmp_path / "r.json")
    assert report["record"]["format"] == "byte recording"
    truth = PatientSimulator("normal", 6).render(0, 40)
    result = scored(report, truth_reference(truth))
    assert min(result.se, result.ppv) >= 0.99, result.lines()
    assert report["alarms"] == [], "a normal patient raised an alarm"
    assert (tmp_path / "p.png").stat().st_size > 10_000


@pytest.mark.parametrize("chunk", ["1", "10"])
def test_every_lead_of_a_three_lead_recording_is_analysed(tmp_path, capsys, byte_record, chunk):
    code, _, err = run(capsys, byte_record, "--chunk-s", chunk, "--json", tmp_path / "r.json")
    assert code == 0, err
    summary = strict_json(tmp_path / "r.json")["summary"]
    assert summary["counters"].get("ecg_leads_ignored", 0) == 0
    assert any(c.startswith("model:") for c in summary["classifier"]), summary["classifier"]


def test_feeding_in_1_s_or_10_s_chunks_gives_the_same_report(tmp_path, capsys, pvc_record):
    record, _ = pvc_record
    reports = []
    for chunk in ("1", "10"):
        out = tmp_path / f"{chunk}.json"
        code, _, err = run(capsys, record, "--chunk-s", chunk, "--json", out)
        assert code == 0, err
        reports.append(strict_json(out))
    assert reports[0]["beats"] == reports[1]["beats"]
    assert reports[0]["alarms"] == reports[1]["alarms"]


def test_no_models_runs_the_rule_based_classifier(tmp_path, capsys, pvc_record):
    record, _ = pvc_record
    code, _out, err = run(capsys, record, "--no-models", "--json", tmp_path / "r.json")
    assert code == 0, err
    classifiers = strict_json(tmp_path / "r.json")["summary"]["classifier"]
    assert classifiers
    assert not any(c.startswith("model:") for c in classifiers), classifiers


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: p.write_text("a\n0.1\n"), [], "pass --fs"),
        (lambda p: p.write_text("a\n0.1\n"), ["--fs", "250", "--channel", "ecg=MLII"],
         "unknown column 'MLII'"),
        (lambda p: p.write_text("PLETH\n0.1\n"), ["--fs", "125"], "no ECG signal"),
        (lambda p: None, [], "file not found"),
        (lambda p: p.write_text("ECG\n0.1\n0.2\n"), ["--fs", "250", "--reference", "atr"],
         "--reference reads WFDB annotations"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_error_naming_the_file(tmp_path, capsys, make, args, message):
    path = tmp_path / "in.csv"
    make(path)
    code, _, err = run(capsys, path, *args)
    assert code == 1
    assert err.startswith("vigil: error: ")
    assert "in.csv" in err
    assert message in err
    assert "Traceback" not in err


def test_bad_channel_syntax_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text("a\n0.1\n")
    code, _, err = run(capsys, path, "--fs", "250", "--channel", "ecg")
    assert code == 1
    assert "not ROLE=COLUMN" in err


def test_a_reference_annotator_that_does_not_exist_is_named(capsys, pvc_record):
    record, _ = pvc_record
    code, _, err = run(capsys, record, "--reference", "qrs")
    assert code == 1
    assert "pvc.qrs" in err
    assert "not found" in err


# -- report and plot from a hand-built result ----------------------------------------------
def hand_built(start_s: float = 0.0) -> AnalysisResult:
    block = PatientSimulator("pvc_rich", 8).render(0, 30)
    beats = [
        Beat(b.ecg_index, b.t_s + start_s, b.label, "model:test", 0.9, 1.0) for b in block.beats
    ]
    vt = condition("vt", "b", start_s + 12.0, value=150.0,
                   evidence={"beats": [12.0, 12.4], "score": math.nan})  # fmt: skip
    conditions = [
        vt,
        ended(vt, start_s + 16.0),
        condition("leads_off", "b", start_s + 25.0),  # still active at the end
    ]
    return AnalysisResult(
        bed="b",
        duration_s=30.0,
        beats=beats,
        spans=spans_from(conditions),
        heart_rate=[(start_s + t, 72.0 if t != 5 else math.nan) for t in range(1, 30)],
        ecg_windows=[],
        decided_by=("model:test",),
        suppressed=[condition("asystole", "b", start_s + 3.0, evidence={"rule": "pulses"})],
        counters={"ecg_samples": 15000},
    )


def test_json_report_is_strict_json_with_times_from_the_record_start(tmp_path):
    result = hand_built(start_s=1000.0)  # a byte recording's device clock started at 1000 s
    source = open_recording(_tiny_wfdb(tmp_path))
    source.start_s = 1000.0
    write_report(analysis_report(result, source, analysis_s=0.01), tmp_path / "r.json")
    report = strict_json(tmp_path / "r.json")
    assert report["alarms"][0] == {
        "kind": "vt", "priority": "high", "category": "physiological", "onset_s": 12.0,
        "end_s": 16.0, "value": 150.0, "key": "", "evidence": {"beats": [12.0, 12.4],
                                                               "score": None},
    }  # fmt: skip
    assert report["alarms"][1]["end_s"] is None
    assert report["summary"]["alarm_counts"] == {"leads_off": 1, "vt": 1}
    assert report["summary"]["x_real_time"] == pytest.approx(3000)
    assert report["summary"]["beats_per_class"]["V"] >= 1
    assert report["beats"][0]["t_s"] == pytest.approx(result.beats[0].t_s - 1000.0)
    assert [None, None] not in report["heart_rate"]
    assert report["suppressed"][0]["kind"] == "asystole"


def test_plot_draws_ecg_on_paper_scale_for_every_strip(tmp_path):
    block = PatientSimulator("pvc_rich", 8).render(0, 30)
    trace = EcgTrace()
    source = open_recording(_tiny_wfdb(tmp_path, block.ecg))
    list(trace.tap(source.records()))
    assert trace.kind == "ECG_II"
    strips = plot_analysis(hand_built(), trace, tmp_path / "p.png", dpi=100)
    assert [t for t, _ in strips] == [0.0, 10.0, 20.0]  # a short record is drawn whole
    width, _ = png_size(tmp_path / "p.png")
    # 10 s at 25 mm/s = 250 mm of axes, plus the margins (1.2 + 0.3 in)
    assert width == round((250 / 25.4 + 1.5) * 100)


def test_a_long_record_gets_strips_around_alarm_onsets_most_urgent_first():
    result = hand_built()
    result.duration_s = 3600.0
    low = condition("pvc_high", "b", 1000.0)
    high = condition("asystole", "b", 1500.0)
    result.spans = spans_from([low, high])
    strips = choose_strips(result, 0.0, 3600.0, max_strips=2)
    assert strips == [(997.0, "pvc_high onset"), (1497.0, "asystole onset")]  # in time order
    one = choose_strips(result, 0.0, 3600.0, max_strips=1)
    assert one == [(1497.0, "asystole onset")]  # the high-priority one, though later


def test_the_trace_keeps_lead_ii_and_leaves_holes_empty():
    trace = EcgTrace()
    chunks = [
        WaveformChunkFactory("ECG_I", 0, np.ones(500)),
        WaveformChunkFactory("ECG_II", 0, np.full(500, 2.0)),
        WaveformChunkFactory("ECG_II", 1000, np.full(500, 3.0)),
    ]
    list(trace.tap(chunks))
    x = trace.segment(0.5, 2.5)
    assert trace.kind == "ECG_II"
    assert len(x) == 1000
    assert np.all(x[:250] == 2.0)
    assert np.isnan(x[250:750]).all()
    assert np.all(x[750:] == 3.0)


def WaveformChunkFactory(kind: str, first: int, samples: np.ndarray):
    from vigil.records import WaveformChunk

    return WaveformChunk("t", 0, kind, kind, "mV", Fraction(500), first, samples.astype("f4"))


def _tiny_wfdb(folder, ecg=None):
    ecg = np.zeros((3, 5000)) if ecg is None else ecg
    wfdb.wrsamp("tiny", fs=500, units=["mV"] * 2, sig_name=["I", "II"],
                p_signal=np.stack([ecg[0], ecg[1]], axis=1), fmt=["16"] * 2,
                adc_gain=[1000] * 2, baseline=[0] * 2, write_dir=str(folder))  # fmt: skip
    return folder / "tiny"


def test_an_output_folder_that_does_not_exist_is_reported_before_analysing(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text("ECG\n0.1\n0.2\n")
    code, _, err = run(capsys, path, "--fs", "250", "--json", tmp_path / "no" / "r.json")
    assert code == 1
    assert "cannot write --json" in err
    assert "does not exist" in err
