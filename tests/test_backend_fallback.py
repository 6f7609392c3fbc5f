"""A model is never a single point of failure: run-time fallback between backends.

The backends are real: ONNX Runtime sessions over the shipped ecg_beat model and over an
ONNX graph built here that fails at run time (a Reshape that only a batch of one fits, so
the backend activates and then fails on every real batch). Two small backend classes stand
for what ONNX Runtime cannot be made to do on purpose: raise a foreign error (a GPU library
failing) and hang (a wedged driver). The component under test, `FallbackBackend`, and the
beat classifier and trend detector that use it, are never replaced.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_analysis_beats import FS, LEADS, pvc_scores, r_peaks, render, run_stages, same_beats

from vigil.artifacts import load_artifact
from vigil.models.synthetic import trend_record
from vigil.runtime.analysis import beat_classifier, model_runtime
from vigil.runtime.analysis.beat_classifier import MORPHOLOGY, BeatClassifier
from vigil.runtime.analysis.settings import ModelSettings
from vigil.runtime.analysis.trend_anomaly import TrendAnomalyDetector
from vigil.runtime.artifact_loader import shipped_artifact
from vigil.runtime.backends import Backend, BackendUnavailable, InputError
from vigil.runtime.backends.fallback import FallbackBackend, open_fallback
from vigil.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from vigil.runtime.backends.select import NoBackend

ECG_BEAT = shipped_artifact("ecg_beat") / "model.onnx"
VITALS_AE = shipped_artifact("vitals_ae") / "model.onnx"
TREND_FEATURES = ("hr", "spo2", "resp_rate", "nibp_sys", "nibp_dia")


def ort(path: Path) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(path, providers="cpu", intra_op_threads=1)


@pytest.fixture(scope="module")
def batch_of_one_model(tmp_path_factory) -> Path:
    """ecg[batch, 1, 384] -> Reshape to [1, 384] -> logits[batch, 3]: warms up (batch 1),
    fails in ONNX Runtime on any batch of two or more."""
    w = np.random.default_rng(0).standard_normal((384, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["ecg", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "W"], ["logits"]),
        ],
        "batch_of_one",
        [helper.make_tensor_value_info("ecg", TensorProto.FLOAT, ["batch", 1, 384])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [
            numpy_helper.from_array(np.array([1, 384], dtype=np.int64), "shape"),
            numpy_helper.from_array(w, "W"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path = tmp_path_factory.mktemp("broken") / "batch_of_one.onnx"
    onnx.save(model, str(path))
    return path


class ForeignErrorBackend:
    """Activates, then raises what a GPU library raises: not a VigilError."""

    name = "gpu"

    def __init__(self) -> None:
        self._active = False
        self.calls = 0

    input_names = ("ecg",)
    output_names = ("logits",)

    @property
    def active(self) -> bool:
        return self._active

    def activate(self) -> None:
        self._active = True

    def deactivate(self) -> None:
        self._active = False

    def infer(self, inputs):
        self.calls += 1
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


class HangingBackend(ForeignErrorBackend):
    """`infer` blocks until the test releases it (a wedged driver), then returns zeros."""

    name = "wedged"

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.deactivated = threading.Event()
        self.seen: np.ndarray | None = None

    def deactivate(self) -> None:
        super().deactivate()
        self.deactivated.set()

    def infer(self, inputs):
        self.release.wait(30)
        self.seen = inputs["ecg"].copy()  # what the abandoned call read, after the caller left
        return {"logits": np.zeros((len(inputs["ecg"]), 3), np.float32)}


def unavailable(kind: str, reason: str):
    def opener():
        raise BackendUnavailable(kind, reason)

    return opener


def windows(n: int = 8, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 1, 384)).astype(np.float32)


@pytest.fixture(scope="module")
def reference() -> OnnxRuntimeBackend:
    backend = ort(ECG_BEAT)
    backend.activate()
    return backend


# -- FallbackBackend ------------------------------------------------------------------------------
def test_a_failing_backend_hands_the_same_inputs_to_the_next_which_answers_as_it_would_alone(
    batch_of_one_model, reference
):
    fb = FallbackBackend(
        "ecg_beat",
        [("broken", lambda: ort(batch_of_one_model)), ("onnxruntime-cpu", lambda: ort(ECG_BEAT))],
    )
    fb.activate()
    assert fb.name == "broken"
    x = windows()
    out = fb.infer({"ecg": x})
    np.testing.assert_array_equal(out["logits"], reference.infer({"ecg": x})["logits"])
    assert fb.name == "onnxruntime-cpu"
    (d,) = fb.take_degradations()
    assert (d.model, d.from_backend, d.to_backend) == ("ecg_beat", "broken", "onnxruntime-cpu")
    assert d.reason.startswith("broken: failed at run time: ")
    assert "Reshape" in d.reason
    # recorded once: later calls run on the new backend and degrade nothing
    x2 = windows(3, seed=2)
    np.testing.assert_array_equal(
        fb.infer({"ecg": x2})["logits"], reference.infer({"ecg": x2})["logits"]
    )
    assert fb.take_degradations() == []
    assert "broken: serving" in fb.report()
    assert "skipped broken: failed at run time: " in fb.report()
    assert "Reshape" in fb.report()


def test_a_backend_that_cannot_open_here_is_skipped_at_activation_without_degradation(reference):
    fb = FallbackBackend(
        "ecg_beat",
        [
            ("tensorrt", unavailable("tensorrt", "tensorrt not installed")),
            ("onnxruntime-cpu", lambda: ort(ECG_BEAT)),
        ],
    )
    fb.activate()
    assert isinstance(fb, Backend)
    assert (fb.name, fb.active) == ("onnxruntime-cpu", True)
    assert (fb.input_names, fb.output_names) == (("ecg",), ("logits",))
    assert fb.take_degradations() == []
    assert "skipped tensorrt: tensorrt not installed" in fb.report()
    x = windows()
    np.testing.assert_array_equal(
        fb.infer({"ecg": x})["logits"], reference.infer({"ecg": x})["logits"]
    )
    fb.deactivate()
    assert not fb.active
    fb.activate()  # the same backend again, not a new selection
    assert (fb.name, fb.active) == ("onnxruntime-cpu", True)


def test_input_error_is_the_callers_fault_and_does_not_move_the_model():
    fb = FallbackBackend(
        "ecg_beat", [("onnxruntime-cpu", lambda: ort(ECG_BEAT)), ("gpu", ForeignErrorBackend)]
    )
    fb.activate()
    with pytest.raises(InputError, match="dtype float64"):
        fb.infer({"ecg": windows().astype(np.float64)})
    bad = windows()
    bad[2, 0, 7] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        fb.infer({"ecg": bad})
    assert fb.name == "onnxruntime-cpu"
    assert fb.take_degradations() == []
    assert fb.infer({"ecg": windows()})["logits"].shape == (8, 3)


def test_when_every_backend_fails_infer_raises_no_backend_with_every_reason(batch_of_one_model):
    gpu = ForeignErrorBackend()
    fb = FallbackBackend(
        "ecg_beat",
        [
            ("broken", lambda: ort(batch_of_one_model)),
            ("gpu", lambda: gpu),
            ("tensorrt", unavailable("tensorrt", "no CUDA device")),
        ],
    )
    fb.activate()
    with pytest.raises(NoBackend) as caught:
        fb.infer({"ecg": windows()})
    message = str(caught.value)
    assert "Reshape" in message
    assert "RuntimeError: CUDA error: an illegal memory access" in message
    assert "no CUDA device" in message
    tried = [(a.backend, a.chosen) for a in caught.value.attempts]
    assert tried == [
        ("broken", True),
        ("broken", False),
        ("gpu", True),
        ("gpu", False),
        ("tensorrt", False),
    ]
    (d,) = fb.take_degradations()
    assert (d.from_backend, d.to_backend) == ("broken", None)
    assert "gpu: failed at run time: RuntimeError" in d.reason
    assert "tensorrt: no CUDA device" in d.reason
    assert (fb.exhausted, fb.name, fb.active, gpu.active) == (True, "none", False, False)
    with pytest.raises(NoBackend):  # and stays so: the caller's rule-based path decides
        fb.infer({"ecg": windows()})
    assert gpu.calls == 1  # a failed backend is not tried again
    assert fb.take_degradations() == []


def test_a_call_that_times_out_is_abandoned_and_the_next_backend_answers(reference):
    hanging = HangingBackend()
    fb = FallbackBackend(
        "ecg_beat",
        [("wedged", lambda: hanging), ("onnxruntime-cpu", lambda: ort(ECG_BEAT))],
        timeout_s=1.0,
    )
    fb.activate()
    x = windows()
    original = x.copy()
    out = fb.infer({"ecg": x})
    np.testing.assert_array_equal(out["logits"], reference.infer({"ecg": original})["logits"])
    (d,) = fb.take_degradations()
    assert (d.from_backend, d.to_backend) == ("wedged", "onnxruntime-cpu")
    assert "no result within 1 s" in d.reason
    assert hanging.active  # not freed under its running call
    x[:] = 99.0  # the caller reuses its buffer; the abandoned call must not see it
    hanging.release.set()
    assert hanging.deactivated.wait(10)  # freed once its call returned
    np.testing.assert_array_equal(hanging.seen, original)
    # the next calls run on the caller's new backend, through a fresh worker
    np.testing.assert_array_equal(
        fb.infer({"ecg": original})["logits"], reference.infer({"ecg": original})["logits"]
    )


def test_open_fallback_follows_the_preference_order_of_select_backend():
    artifact = load_artifact(shipped_artifact("ecg_beat"))
    fb = open_fallback(artifact, prefer=("tensorrt", "onnxruntime-cpu"), intra_op_threads=1)
    assert fb.name == "onnxruntime-cpu"
    assert fb.report().splitlines()[0].startswith("skipped tensorrt: ")
    assert fb.take_degradations() == []
    with pytest.raises(NoBackend, match="no backend can run ecg_beat"):
        open_fallback(artifact, prefer=("tensorrt",))


# -- the analysis goes on -------------------------------------------------------------------------
def with_backends(monkeypatch, module, model: str, openers) -> None:
    """Make `module` open its model over these openers (the classifier's own loading, manifest
    checks included, runs; only the backend list differs from the settings')."""
    monkeypatch.setattr(module, "open_backend", lambda artifact, models: _activated(model, openers))


def _activated(model, openers) -> FallbackBackend:
    fb = FallbackBackend(model, openers)
    fb.activate()
    return fb


def test_beat_classifier_with_a_failing_backend_classifies_on_the_next_and_says_so(
    monkeypatch, batch_of_one_model
):
    block = render("pvc_rich", 4, 60)
    expected = run_stages(block, chunk=5000, arrhythmia=False)
    with_backends(
        monkeypatch,
        beat_classifier,
        "ecg_beat",
        [("broken", lambda: ort(batch_of_one_model)), ("onnxruntime-cpu", lambda: ort(ECG_BEAT))],
    )
    run = run_stages(block, chunk=5000, arrhythmia=False)
    clf = run.classifier
    assert clf is not None
    assert clf.decided_by == "model:ecg_beat 1.0.0 onnxruntime-cpu"
    assert same_beats(run.beats, expected.beats)  # the same model, on the next backend
    (c,) = clf.take_conditions()
    assert (c.kind, c.key, c.category.value, c.end_s) == (
        "inference_degraded",
        "ecg_beat",
        "technical",
        None,
    )
    assert c.evidence["from"] == "broken"
    assert c.evidence["to"] == c.evidence["decides_now"] == "onnxruntime-cpu"
    assert "Reshape" in c.evidence["reason"]
    assert c.onset_s == run.beats[1].t_s  # the first batch the model was asked about


def test_beat_classifier_with_every_backend_failing_labels_by_morphology_and_says_so(
    monkeypatch, batch_of_one_model
):
    block = render("pvc_rich", 4, 60)
    with_backends(
        monkeypatch,
        beat_classifier,
        "ecg_beat",
        [("broken", lambda: ort(batch_of_one_model)), ("gpu", ForeignErrorBackend)],
    )
    clf = BeatClassifier(FS, LEADS, "bed", ModelSettings())
    assert clf.decided_by == "model:ecg_beat 1.0.0 broken"
    run = run_stages(block, chunk=5000, arrhythmia=False)
    clf = run.classifier
    assert clf is not None
    assert clf.decided_by == MORPHOLOGY
    assert {b.decided_by for b in run.beats} == {MORPHOLOGY}
    assert len(run.beats) >= len(r_peaks(block)) - 2  # analysis went on: every beat labelled
    se, ppv = pvc_scores(block, run.beats)
    assert se >= 0.9, se
    assert ppv >= 0.9, ppv
    (c,) = clf.take_conditions()  # inference_degraded, not also model_unavailable
    assert c.kind == "inference_degraded"
    assert (c.evidence["from"], c.evidence["to"], c.evidence["decides_now"]) == (
        "broken",
        None,
        MORPHOLOGY,
    )
    assert "gpu: failed at run time: RuntimeError" in c.evidence["reason"]


def test_trend_detector_scores_on_the_next_backend_and_raises_inference_degraded_once(
    monkeypatch,
):
    values = trend_record(4, 330, "normal").values[0]
    expected = run_trend(values, TrendAnomalyDetector("bed1", ModelSettings()))
    gpu = ForeignErrorBackend()
    gpu.input_names, gpu.output_names = ("vitals",), ("reconstruction", "score")
    with_backends(
        monkeypatch,
        model_runtime,  # the trend detector opens its model through load_model
        "vitals_ae",
        [("gpu", lambda: gpu), ("onnxruntime-cpu", lambda: ort(VITALS_AE))],
    )
    det = TrendAnomalyDetector("bed1", ModelSettings())
    assert det.decided_by == "vitals_ae 1.0.0 gpu"
    out = run_trend(values, det)
    assert det.last_score is not None
    assert det.last_score[0] == 320.0
    assert det.last_score == expected[0].last_score  # the same scores, from the next backend
    (c,) = out[1]
    assert (c.kind, c.onset_s) == ("inference_degraded", 300.0)
    assert (c.evidence["from"], c.evidence["to"]) == ("gpu", "onnxruntime-cpu")
    assert det.decided_by == "vitals_ae 1.0.0 onnxruntime-cpu"
    assert gpu.calls == 1
    assert expected[1] == []


def run_trend(values: np.ndarray, det: TrendAnomalyDetector):
    out = []
    for t in range(values.shape[0]):
        out += det.update(float(t), dict(zip(TREND_FEATURES, values[t], strict=True)))
    return det, out
