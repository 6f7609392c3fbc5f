"""Model-backed detectors: the shipped vitals_ae trend anomaly detector and bring-your-own
detectors, run with a real ONNX Runtime session on synthetic data."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from blocked_imports import block_imports

from vigil.artifacts import Manifest, TensorInfo, Variant, load_artifact, write_manifest
from vigil.errors import ConfigError
from vigil.models.synthetic import PatientSimulator, generate_trends, trend_record
from vigil.models.vitals_ae import preprocess as training
from vigil.runtime.analysis.condition import CONDITION_KINDS, Priority
from vigil.runtime.analysis.custom_detector import CustomDetector
from vigil.runtime.analysis.events import RPeak
from vigil.runtime.analysis.settings import CustomDetectorSettings, ModelSettings
from vigil.runtime.analysis.trend_anomaly import (
    TrendAnomalyDetector,
    TrendSpec,
    preprocess_bins,
    valid_median,
)
from vigil.runtime.artifact_loader import shipped_artifact

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "artifacts" / "vitals_ae"
FEATURES = ("hr", "spo2", "resp_rate", "nibp_sys", "nibp_dia")


def run_trend(
    values: np.ndarray, det: TrendAnomalyDetector | None = None, until: int | None = None
):
    det = det or TrendAnomalyDetector("bed1", ModelSettings())
    out = []
    for t in range(values.shape[0] if until is None else until):
        out += det.update(float(t), dict(zip(FEATURES, values[t], strict=True)))
    return det, out


# -- vitals_ae: preprocessing and scores --------------------------------------------------------
def test_the_runtime_finds_the_shipped_artifact_and_reads_its_rules_from_the_manifest():
    assert shipped_artifact("vitals_ae") == SHIPPED
    spec = TrendSpec.from_artifact(load_artifact(SHIPPED))
    assert spec.features == training.FEATURES
    assert (spec.bin_s, spec.steps, spec.window_s) == (training.BIN_S, training.STEPS, 300)
    np.testing.assert_array_equal(spec.mean, training.MEAN)
    np.testing.assert_array_equal(spec.std, training.STD)
    assert spec.clip == (-training.CLIP, training.CLIP)


def test_runtime_preprocessing_equals_the_training_preprocessing_with_gaps_and_artefacts():
    batch = generate_trends(3, 40, 300, ["normal", "sepsis", "opioid", "haemorrhage"] * 10)
    raw = batch.values.copy()
    rng = np.random.default_rng(0)
    raw[rng.random(raw.shape) < 0.2] = np.nan  # scattered dropouts
    raw[0, :, 1] = np.nan  # SpO2 missing for the whole window
    raw[1, :120, 0] = np.nan  # HR missing at the start: filled backward
    raw[2, 200:, 2] = np.nan  # RR missing at the end: filled forward
    assert np.isnan(raw).any()
    spec = TrendSpec.from_artifact(load_artifact(SHIPPED))
    expected = training.preprocess(raw)
    for i in range(len(raw)):
        bins = np.stack([valid_median(raw[i, k : k + 10]) for k in range(0, 300, 10)])
        np.testing.assert_array_equal(preprocess_bins(bins, spec), expected[i])


def test_detector_scores_every_10s_exactly_what_the_model_gives_for_the_training_input():
    values = trend_record(4, 420, "respiratory_failure", onset_s=-1800).values[0]
    values[rng_mask(values.shape, 0.1, 1)] = np.nan
    det = TrendAnomalyDetector("bed1", ModelSettings())
    assert det.decided_by.startswith("vitals_ae 1.0.0")
    backend = det.model.backend
    checked = 0
    for t in range(values.shape[0]):
        det.update(float(t), dict(zip(FEATURES, values[t], strict=True)))
        if t >= 300 and t % 10 == 0:  # the sample at a grid time completes that window
            x = training.preprocess(values[None, t - 300 : t])
            score = float(backend.infer({"vitals": x})["score"][0])
            assert det.last_score == (float(t), score)
            checked += 1
    assert checked == 12


def rng_mask(shape, p, seed):
    return np.random.default_rng(seed).random(shape) < p


def test_no_score_before_300s_of_numerics_and_scores_on_the_grid_whatever_the_start():
    values = trend_record(5, 400, "normal").values[0]
    det = TrendAnomalyDetector("bed1", ModelSettings())
    for t in range(0, 300):
        det.update(t + 3.5, dict(zip(FEATURES, values[t], strict=True)))
    assert det.last_score is None  # the first whole bin starts at 10 s: window ends at 310
    det.update(310.5, dict(zip(FEATURES, values[300], strict=True)))
    assert det.last_score[0] == 310.0


# -- vitals_ae: alarms --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pattern", "seed"), [("respiratory_failure", 0), ("opioid", 1), ("sepsis", 1)]
)
def test_trend_anomaly_fires_on_a_deterioration_after_its_onset(pattern, seed):
    values = trend_record(seed, 2700, pattern, onset_s=600).values[0]
    _, out = run_trend(values)
    starts = [c for c in out if c.end_s is None]
    assert starts, f"{pattern}: no trend_anomaly"
    first = starts[0]
    assert first.kind == "trend_anomaly"
    assert first.priority == Priority.LOW
    assert first.onset_s > 600.0
    ev = first.evidence
    assert first.value == ev["score"] > ev["threshold"]
    assert ev["threshold"] == load_artifact(SHIPPED).manifest.meta["threshold"]
    assert set(ev["feature_error"]) == set(FEATURES)
    assert json.loads(json.dumps(ev)) == ev


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trend_anomaly_stays_silent_on_an_hour_of_normal_trends(seed):
    values = trend_record(seed, 3600, "normal").values[0]
    det, out = run_trend(values)
    assert out == [], [(c.onset_s, c.value) for c in out]
    assert det.last_score is not None


def with_threshold(tmp_path: Path, threshold: float) -> Path:
    """A copy of the shipped artifact whose manifest carries another threshold."""
    copy = tmp_path / f"vitals_ae_{threshold:.6f}"
    shutil.copytree(SHIPPED, copy)
    manifest = load_artifact(copy).manifest
    write_manifest(
        copy, dataclasses.replace(manifest, meta={**manifest.meta, "threshold": threshold})
    )
    return copy


def test_a_score_above_threshold_for_fewer_than_three_windows_is_a_transient(tmp_path):
    values = trend_record(5, 360, "normal").values[0]
    det = TrendAnomalyDetector("bed1", ModelSettings())
    scores = []
    for t in range(values.shape[0]):
        det.update(float(t), dict(zip(FEATURES, values[t], strict=True)))
        if det.last_score and (not scores or scores[-1] != det.last_score):
            scores.append(det.last_score)
    s = [x[1] for x in scores]
    assert s[0] > s[1] > s[2] > s[3] > max(s[4:])  # this record's scores fall from the start
    two = TrendAnomalyDetector(
        "b", ModelSettings(vitals_ae=with_threshold(tmp_path, (s[1] + s[2]) / 2))
    )
    assert run_trend(values, two)[1] == []  # above for 2 windows (20 s): no advisory
    three = TrendAnomalyDetector(
        "b", ModelSettings(vitals_ae=with_threshold(tmp_path, (s[2] + s[3]) / 2))
    )
    out = run_trend(values, three)[1]
    assert [(c.onset_s, c.end_s) for c in out] == [(320.0, None), (320.0, 330.0)]
    assert out[0].evidence["first_above_s"] == 300.0


def test_the_detectors_run_without_torch_or_the_training_code():
    code = block_imports("torch", "safetensors", "vigil.models.vitals_ae") + (
        "import sys\n"
        "from vigil.runtime.analysis import pleth, respiration, apnea, limits, news2, status\n"
        "from vigil.runtime.analysis import custom_detector\n"
        "from vigil.runtime.analysis.trend_anomaly import TrendAnomalyDetector\n"
        "from vigil.runtime.analysis.settings import ModelSettings\n"
        "det = TrendAnomalyDetector('b', ModelSettings())\n"
        "assert det.startup_conditions() == [], det.error\n"
        "for t in range(320):\n"
        "    det.update(float(t), {'hr': 70.0, 'spo2': 97.0, 'resp_rate': 14.0,\n"
        "                          'nibp_sys': 120.0, 'nibp_dia': 80.0})\n"
        "assert det.last_score is not None\n"
        "assert 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


# -- model failures -----------------------------------------------------------------------------
def tampered_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "vitals_ae"
    shutil.copytree(SHIPPED, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "model.onnx").write_bytes(bytes(data))
    return copy


def test_a_tampered_artifact_is_refused_and_reported_while_the_rest_runs_on(tmp_path):
    copy = tampered_copy(tmp_path)
    det = TrendAnomalyDetector("bed1", ModelSettings(vitals_ae=copy))
    (c,) = det.startup_conditions()
    assert (c.kind, c.key, c.priority) == ("model_unavailable", "vitals_ae", Priority.LOW)
    assert c.evidence["path"] == str(copy)
    assert "sha256" in c.evidence["error"]
    values = trend_record(1, 400, "sepsis", onset_s=-3000).values[0]
    assert run_trend(values, det)[1] == []  # silent, no exception


def test_a_missing_directory_and_no_usable_backend_are_reported(tmp_path):
    missing = TrendAnomalyDetector("bed1", ModelSettings(vitals_ae=tmp_path / "nowhere"))
    assert "manifest.json is missing" in missing.startup_conditions()[0].evidence["error"]
    no_backend = TrendAnomalyDetector("bed1", ModelSettings(backends=("tensorrt",)))
    (c,) = no_backend.startup_conditions()
    assert "no backend can run vitals_ae" in c.evidence["error"]


def test_a_manifest_asking_for_other_preprocessing_is_refused(tmp_path):
    copy = tmp_path / "vitals_ae"
    shutil.copytree(SHIPPED, copy)
    manifest = load_artifact(copy).manifest
    meta = json.loads(json.dumps(manifest.meta))
    meta["preprocessing"]["bin_statistic"] = "mean of the bin's samples"
    write_manifest(copy, dataclasses.replace(manifest, meta=meta))
    (c,) = TrendAnomalyDetector("bed1", ModelSettings(vitals_ae=copy)).startup_conditions()
    assert "bin statistic" in c.evidence["error"]


def test_models_disabled_runs_nothing_and_reports_nothing():
    det = TrendAnomalyDetector("bed1", ModelSettings(enabled=False))
    assert det.startup_conditions() == []
    assert det.update(0.0, {"hr": 70.0}) == []


# -- bring-your-own: numerics, exported with `vigil export --module` ----------------------------
@pytest.fixture(scope="module")
def tachy_artifact(tmp_path_factory):
    """A user's torch module: mean HR of a 10 s window minus 100 (/min)."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from vigil.export.pipeline import export_module

    class TachyWatch(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Linear(2, 1)

        def forward(self, numerics):  # (batch, 10, 2): hr, spo2
            return self.head(numerics.mean(dim=1))

    torch.set_num_threads(1)
    module = TachyWatch()
    with torch.no_grad():
        module.head.weight.copy_(torch.tensor([[1.0, 0.0]]))
        module.head.bias.fill_(-100.0)
    root = tmp_path_factory.mktemp("byo")
    save_file(module.state_dict(), str(root / "w.safetensors"))
    art = export_module(
        TachyWatch,
        root / "w.safetensors",
        [("numerics", (1, 10, 2))],
        root / "tachy",
        {"inputs": {"numerics": {"layout": "NTC"}}},
        output_names=["excess"],
        progress=False,
    )
    return art.directory


def tachy_settings(artifact: Path, **kw) -> CustomDetectorSettings:
    base = {
        "name": "sustained_tachy",
        "artifact": artifact,
        "source": "numerics",
        "output": "excess",
        "threshold": 0.0,
        "label": "mean HR over 10 s above 100 /min",
        "priority": "medium",
        "fields": ("hr", "spo2"),
    }
    base.update(kw)
    return CustomDetectorSettings(**base)


def test_exported_user_model_on_numerics_raises_its_configured_condition(tachy_artifact):
    det = CustomDetector("bed1", tachy_settings(tachy_artifact))
    assert det.startup_conditions() == []
    assert CONDITION_KINDS["sustained_tachy"].priority == Priority.MEDIUM
    assert CONDITION_KINDS["sustained_tachy"].description == "mean HR over 10 s above 100 /min"
    hr = [70.0] * 20 + [130.0] * 20 + [70.0] * 20
    hr[22] = math.nan  # filled from its neighbour, never fed to the model as NaN
    out = []
    for t, v in enumerate(hr):
        out += det.update(float(t), {"hr": v, "spo2": 97.0})
    assert [(c.kind, c.onset_s, c.end_s) for c in out] == [
        ("sustained_tachy", 25.0, None),  # 6 of 10 samples at 130: mean 106
        ("sustained_tachy", 25.0, 44.0),  # 5 of 10: mean exactly 100, not above
    ]
    start = out[0]
    assert start.priority == Priority.MEDIUM
    assert start.value == pytest.approx(6.0, abs=1e-4)
    assert start.evidence["label"] == "mean HR over 10 s above 100 /min"
    assert start.evidence["model"].endswith("onnxruntime-cpu")
    assert json.loads(json.dumps(start.evidence)) == start.evidence


def test_user_model_compare_below_and_stride(tachy_artifact):
    cfg = tachy_settings(
        tachy_artifact, name="brady_watch", compare="below", threshold=-40.0, stride_s=5.0
    )
    det = CustomDetector("bed1", cfg)
    out = []
    for t in range(40):
        out += det.update(float(t), {"hr": 45.0 if t >= 10 else 80.0, "spo2": 97.0})
    assert [c.onset_s for c in out] == [15.0]  # on the 5 s grid: 6 of 10 samples at 45 by 15 s


def test_custom_detector_configuration_mistakes_raise_and_artifact_mismatches_report(
    tachy_artifact, tmp_path
):
    with pytest.raises(ConfigError, match="compare"):
        CustomDetector("b", tachy_settings(tachy_artifact, compare="sideways"))
    with pytest.raises(ConfigError, match="source"):
        CustomDetector("b", tachy_settings(tachy_artifact, source="eeg"))
    with pytest.raises(ConfigError, match="already defined differently"):
        CustomDetector("b", tachy_settings(tachy_artifact, name="apnea"))
    with pytest.raises(ConfigError, match="ecg_fs"):
        CustomDetector("b", tachy_settings(tachy_artifact, source="ecg:II"))
    wrong = CustomDetector("b", tachy_settings(tachy_artifact, output="logits"))
    assert "no output 'logits'" in wrong.startup_conditions()[0].evidence["error"]
    fields = CustomDetector("b", tachy_settings(tachy_artifact, fields=("hr",)))
    assert "does not hold 1 fields" in fields.startup_conditions()[0].evidence["error"]
    tampered = tmp_path / "t"
    shutil.copytree(tachy_artifact, tampered)
    (tampered / "model.onnx").write_bytes((tampered / "model.onnx").read_bytes() + b"\0")
    (c,) = CustomDetector("b", tachy_settings(tampered)).startup_conditions()
    assert c.kind == "model_unavailable"
    assert "sha256" in c.evidence["error"]


# -- bring-your-own: an ECG lead ----------------------------------------------------------------
WINDOW = 250  # 0.5 s at 500 Hz


@pytest.fixture(scope="module")
def p2p_artifact(tmp_path_factory):
    """A hand-built ONNX graph: the peak-to-peak amplitude (mV) of an ECG window."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMax", ["ecg", "axes"], ["hi"], keepdims=0),
            helper.make_node("ReduceMin", ["ecg", "axes"], ["lo"], keepdims=0),
            helper.make_node("Sub", ["hi", "lo"], ["p2p"]),
        ],
        "p2p",
        [helper.make_tensor_value_info("ecg", TensorProto.FLOAT, ["batch", 1, WINDOW])],
        [helper.make_tensor_value_info("p2p", TensorProto.FLOAT, ["batch", 1])],
        [axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    root = tmp_path_factory.mktemp("p2p")
    onnx.save(model, str(root / "model.onnx"))
    write_manifest(
        root,
        Manifest(
            name="p2p",
            version="0.1.0",
            task="custom",
            inputs=(TensorInfo("ecg", ("batch", 1, WINDOW), layout="NCW", units="mV"),),
            outputs=(TensorInfo("p2p", ("batch", 1), units="mV"),),
            variants=(Variant("model.onnx", "fp32"),),
            files={},
            meta={"sample_rate_hz": 500},
        ),
    )
    return root


def ecg_settings(artifact: Path) -> CustomDetectorSettings:
    return CustomDetectorSettings(
        name="flat_ecg",
        artifact=artifact,
        source="ecg:II",
        output="p2p",
        threshold=0.3,
        label="ECG flatter than 0.3 mV",
        priority="high",
        compare="below",
    )


def run_ecg(det: CustomDetector, block, chunk: int, detect_lag: int = 60):
    """Feed lead II in chunks with the true R peaks, each reported `detect_lag` samples late
    (as a QRS detector with look-ahead would)."""
    x = block.ecg[1]
    peaks = [RPeak(b.ecg_index, b.t_s, 1.0, ("II",), b.ecg_index + detect_lag) for b in block.beats]
    out, i, k = [], 0, 0
    while i < len(x):
        end = min(i + chunk, len(x))
        new = []
        while k < len(peaks) and peaks[k].reported_at <= end:
            new.append(peaks[k])
            k += 1
        out += det.feed(i, x[i:end], new, peaks_through=end - detect_lag)
        i = end
    return out


def test_ecg_user_model_sees_beats_and_the_stride_grid_when_there_are_none(p2p_artifact):
    block = PatientSimulator("asystole", 3).render(0, 30)
    det = CustomDetector("bed1", ecg_settings(p2p_artifact), ecg_fs=Fraction(500))
    assert det.startup_conditions() == []
    assert det.lead == "II"
    out = run_ecg(det, block, len(block.ecg[1]))
    assert [c.kind for c in out] == ["flat_ecg"]  # never on the beats before 20 s
    last_beat = max(b.t_s for b in block.beats)
    assert last_beat < out[0].onset_s <= math.floor(last_beat) + 2.0  # on the 1 s grid
    assert out[0].priority == Priority.HIGH
    assert CONDITION_KINDS["flat_ecg"].latching


def test_ecg_user_model_decisions_do_not_depend_on_chunking(p2p_artifact):
    block = PatientSimulator("asystole", 4).render(0, 30)
    fs = Fraction(500)
    whole = run_ecg(CustomDetector("b", ecg_settings(p2p_artifact), ecg_fs=fs), block, 10**6)
    live = run_ecg(CustomDetector("b", ecg_settings(p2p_artifact), ecg_fs=fs), block, 20)
    assert len(whole) == len(live) == 1
    assert whole[0].same_decision(live[0])


def test_ecg_user_model_skips_windows_with_missing_samples_and_keeps_running(p2p_artifact):
    block = PatientSimulator("normal", 5).render(0, 20)
    block.ecg[1, 4000:4600] = np.nan  # 1.2 s of lead II missing around 8-9 s
    det = CustomDetector("bed1", ecg_settings(p2p_artifact), ecg_fs=Fraction(500))
    assert run_ecg(det, block, 20) == []  # no model_unavailable, no flat_ecg from the gap
    assert det.model is not None


def test_ecg_user_model_refuses_another_sample_rate(p2p_artifact):
    det = CustomDetector("b", ecg_settings(p2p_artifact), ecg_fs=Fraction(250))
    assert "expects 500 Hz" in det.startup_conditions()[0].evidence["error"]
