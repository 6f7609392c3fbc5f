"""The export chain end to end on a tiny but real model: ONNX that matches PyTorch, INT8
judged by its metric, and an artifact that only loads when every byte is as exported."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from blocked_imports import block_imports

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402
from user_models import tiny_reference  # noqa: E402

from vigil.artifacts import ArtifactError, load_artifact, sha256_file  # noqa: E402
from vigil.export.errors import ExportError, ParityError, QuantizationError  # noqa: E402
from vigil.export.parity import check_parity, random_inputs  # noqa: E402
from vigil.export.pipeline import export_reference  # noqa: E402
from vigil.export.quantize import quantize_int8  # noqa: E402

# Every test here shares one export of the tiny model (about 10 s on 2 busy cores).
pytestmark = pytest.mark.slow

SPECS = [("signal", ("batch", 1, tiny_reference.WINDOW), "float32")]


@pytest.fixture(scope="module")
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI machine has 2 cores; do not fight the other tests
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, one_thread):
    weights = tmp_path_factory.mktemp("weights") / "tiny_wave.safetensors"
    tiny_reference.train(weights, seed=0)
    return tiny_reference.make_reference(weights)


@pytest.fixture(scope="module")
def artifact(reference, tmp_path_factory):
    return export_reference(
        reference, tmp_path_factory.mktemp("art") / "tiny", int8=True, progress=False
    )


def test_written_onnx_has_opset_18_named_io_and_a_dynamic_batch_axis(artifact):
    model = onnx.load(str(artifact.directory / "model.onnx"))
    assert {o.domain: o.version for o in model.opset_import}[""] == 18
    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert (inp.name, out.name) == ("signal", "logits")
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]] == [1, 64]
    session = ort.InferenceSession(str(artifact.directory / "model.onnx"))
    for batch in (1, 3, 17):
        (logits,) = session.run(None, random_inputs(SPECS, batch, seed=batch))
        assert logits.shape == (batch, 3)


def test_manifest_records_io_variants_metrics_and_the_weights_hash(artifact, reference):
    m = artifact.manifest
    assert (m.name, m.version, m.task, m.opset) == ("tiny_wave", "0.1.0", "classification", 18)
    assert m.inputs[0].shape == ("batch", 1, 64)
    assert m.inputs[0].layout == "NCW"
    assert m.outputs[0].name == "logits"
    assert m.weights_sha256 == sha256_file(reference.weights)
    assert m.main_metric == "macro_f1"
    assert m.metrics["macro_f1"] > 0.95
    assert m.meta["labels"] == ["slow", "medium", "fast"]
    assert m.meta["export"]["parity"]["max_abs_error"] <= 1e-4
    by_file = {v.file: v for v in m.variants}
    assert set(by_file) == {"model.onnx", "model.int8.trt.onnx", "model.int8.cpu.onnx"}
    assert by_file["model.onnx"].backends == ("any",)
    assert by_file["model.int8.trt.onnx"].backends == ("tensorrt",)
    assert by_file["model.int8.cpu.onnx"].backends == ("onnxruntime-cpu",)
    for name in ("model.int8.trt.onnx", "model.int8.cpu.onnx"):
        change = by_file[name].metric_change
        assert change is not None, by_file[name].note
        assert change >= -0.01, by_file[name].note
    from vigil.runtime.artifact_loader import choose_variant

    assert choose_variant(artifact, "onnxruntime-cpu", "int8").path.name == "model.int8.cpu.onnx"
    assert set(m.files) == set(by_file)
    leftovers = [p.name for p in artifact.directory.iterdir()]
    assert sorted(leftovers) == sorted([*by_file, "manifest.json"])


def _zero_points(path: Path) -> dict[str, list[np.ndarray]]:
    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    found: dict[str, list[np.ndarray]] = {"QuantizeLinear": [], "DequantizeLinear": []}
    for node in model.graph.node:
        if node.op_type in found:
            assert len(node.input) == 3, f"{node.name} has no explicit zero point"
            found[node.op_type].append(inits[node.input[2]])
    return found


def test_tensorrt_int8_variant_is_symmetric_int8_with_every_zero_point_zero(artifact):
    found = _zero_points(artifact.directory / "model.int8.trt.onnx")
    assert found["QuantizeLinear"], "no activations were quantized"
    for zp in found["QuantizeLinear"] + found["DequantizeLinear"]:
        assert zp.dtype == np.int8  # no INT32 bias dequantization either
        assert not zp.any()


def test_cpu_int8_variant_quantizes_activations_as_unsigned_8_bit(artifact):
    found = _zero_points(artifact.directory / "model.int8.cpu.onnx")
    assert {zp.dtype for zp in found["QuantizeLinear"]} == {np.dtype(np.uint8)}


def test_a_perturbed_onnx_output_fails_parity_naming_output_index_and_errors(
    artifact, reference, tmp_path
):
    """Add 0.5 to column 2 of the logits inside the graph: ONNX now disagrees with torch."""
    model = onnx.load(str(artifact.directory / "model.onnx"))
    graph = model.graph
    delta = np.zeros((1, 3), np.float32)
    delta[0, 2] = 0.5
    graph.initializer.append(numpy_helper.from_array(delta, "parity_delta"))
    for node in graph.node:
        node.output[:] = ["logits_raw" if o == "logits" else o for o in node.output]
    graph.node.append(onnx.helper.make_node("Add", ["logits_raw", "parity_delta"], ["logits"]))
    broken = tmp_path / "broken.onnx"
    onnx.save(model, str(broken))
    inputs = random_inputs(SPECS, 4, seed=7)
    with pytest.raises(ParityError) as caught:
        check_parity(
            reference.load(),
            broken,
            [("random, batch 4", inputs)],
            output_names=["logits"],
            model="tiny_wave",
        )
    report = caught.value.report
    (failure,) = report.failures
    assert (failure.output, failure.case) == ("logits", "random, batch 4")
    assert failure.worst_index[1] == 2
    assert failure.abs_error == pytest.approx(0.5, abs=1e-5)
    assert failure.rel_error == pytest.approx(0.5 / abs(failure.torch_value), rel=1e-4)
    message = str(caught.value)
    assert "tiny_wave" in message
    assert "'logits'" in message
    assert f"{list(failure.worst_index)}" in message
    assert "abs error 0.5" in message


def test_parity_passes_on_the_real_export_at_batch_1_and_8(artifact, reference):
    cases = [(f"batch {b}", tiny_reference.example_inputs(3, b)) for b in (1, 8)]
    report = check_parity(
        reference.load(),
        artifact.directory / "model.onnx",
        cases,
        output_names=["logits"],
        model="tiny_wave",
    )
    assert report.passed
    assert len(report.results) == 2
    assert report.max_abs_error <= 1e-4
    assert {r.worst_index[0] < b for r, b in zip(report.results, (1, 8), strict=True)} == {True}


def _bad_calibration(seed: int, n: int):
    """Inputs 1000x too large: the INT8 input scale swallows every real signal."""
    for batch in tiny_reference.calibration_inputs(seed, n):
        yield {"signal": batch["signal"] * 1000}


def test_int8_losing_more_than_one_point_is_refused_naming_both_metrics(
    artifact, reference, tmp_path
):
    fp32 = artifact.manifest.metrics["macro_f1"]

    def measure(path: Path) -> float:
        from vigil.export.ort_predict import ort_predict

        return reference.evaluate(ort_predict(path), 0)["macro_f1"]

    with pytest.raises(QuantizationError) as caught:
        quantize_int8(
            artifact.directory / "model.onnx",
            tmp_path,
            mode="static",
            calibration=_bad_calibration(0, 2),
            measure=measure,
            fp32_metric=fp32,
            metric_name="macro_f1",
            model="tiny_wave",
        )
    message = str(caught.value)
    assert "tiny_wave" in message
    assert "macro_f1" in message
    assert f"{fp32:.4f}" in message
    assert "bound 0.01" in message
    assert "--force" in message


@pytest.mark.slow
def test_force_writes_the_bad_int8_artifact_and_records_its_loss(reference, tmp_path):
    bad = dataclasses.replace(reference, calibration_inputs=_bad_calibration)
    artifact = export_reference(bad, tmp_path / "forced", int8=True, force=True, progress=False)
    variants = {v.file: v for v in artifact.manifest.variants}
    for name in ("model.int8.trt.onnx", "model.int8.cpu.onnx"):
        assert variants[name].metric_change < -0.01
        assert variants[name].note.startswith("static QDQ")
        assert "FORCED" in variants[name].note
    load_artifact(tmp_path / "forced")


def test_tampered_manifest_and_tampered_onnx_are_refused(artifact, tmp_path):
    copy = shutil.copytree(artifact.directory, tmp_path / "copy")
    load_artifact(copy)
    raw = json.loads((copy / "manifest.json").read_text())
    raw["files"]["model.onnx"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=r"model\.onnx.*does not match"):
        load_artifact(copy)

    copy2 = shutil.copytree(artifact.directory, tmp_path / "copy2")
    data = bytearray((copy2 / "model.int8.cpu.onnx").read_bytes())
    data[-1] ^= 0x01
    (copy2 / "model.int8.cpu.onnx").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"model\.int8\.cpu\.onnx.*does not match"):
        load_artifact(copy2)


BLOCK_TORCH = block_imports("torch")


def test_artifact_loads_and_runs_in_onnx_runtime_with_torch_blocked(artifact):
    code = (
        BLOCK_TORCH
        + """
import numpy as np, onnxruntime as ort
from vigil.artifacts import load_artifact
art = load_artifact(sys.argv[1])
x = np.random.default_rng(0).standard_normal((5, 1, 64)).astype(np.float32)
for v in art.manifest.variants:
    s = ort.InferenceSession(str(art.path(v)), providers=['CPUExecutionProvider'])
    (y,) = s.run(None, {'signal': x})
    assert y.shape == (5, 3), y.shape
    print(v.file)
try:
    import torch
except ImportError:
    print('torch blocked')
assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules)
"""
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(artifact.directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines == ["model.onnx", "model.int8.trt.onnx", "model.int8.cpu.onnx", "torch blocked"]


def test_unwritable_output_directory_fails_first_with_a_clear_error(reference, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ExportError, match=r"tiny_wave: cannot write the artifact to .*a-file/out"):
        export_reference(reference, blocker / "out", progress=False)


def test_missing_weights_are_named(reference, tmp_path):
    gone = dataclasses.replace(reference, weights=tmp_path / "nope.safetensors")
    with pytest.raises(ExportError, match=r"nope\.safetensors are missing; run `vigil train"):
        export_reference(gone, tmp_path / "out", progress=False)


def test_trt_without_tensorrt_fails_before_any_work_saying_where_engines_are_built(
    reference, tmp_path
):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("tensorrt is installed here: engines can be built")
    with pytest.raises(ExportError, match=r"TensorRT is not installed here.*Jetson"):
        export_reference(reference, tmp_path / "out", trt=True, progress=False)
    assert not (tmp_path / "out").exists()


def test_a_model_can_ship_only_the_int8_targets_that_pass(artifact, reference, tmp_path):
    batches = list(reference.calibration_inputs(0, 32))
    made = quantize_int8(
        artifact.directory / "model.onnx", tmp_path, calibration=batches, targets=("cpu",)
    )
    assert [v.target for v in made] == ["cpu"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.cpu.onnx"]
    with pytest.raises(QuantizationError, match="INT8 targets"):
        quantize_int8(
            artifact.directory / "model.onnx", tmp_path, calibration=batches, targets=("gpu",)
        )


def test_trt_variant_can_keep_conv_outputs_unquantized_and_stay_symmetric(
    artifact, reference, tmp_path
):
    """meta['int8_trt_exclude_output_ops'] = ['Conv', 'Gemm']: Q/DQ only on the inputs of
    the Convs and of the Linear head (TensorRT's placement), every zero point still INT8 0. ORT
    then cannot fuse them into S8S8 integer kernels (which saturate on AVX2 without VNNI: with
    the default placement this model's fused logits differ from the Q/DQ graph's by up to 18),
    so the CPU judges the quantization TensorRT runs: the output equals the unfused graph's."""
    batches = list(reference.calibration_inputs(0, 32))
    (made,) = quantize_int8(
        artifact.directory / "model.onnx",
        tmp_path,
        calibration=batches,
        targets=("trt",),
        trt_exclude_output_ops=["Conv", "Gemm"],
    )
    model = onnx.load(str(made.path))
    producer = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs
    for conv in convs:
        assert producer[conv.input[0]].op_type == "DequantizeLinear"  # inputs quantized
        assert producer[conv.input[1]].op_type == "DequantizeLinear"  # per-channel weights
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear":
            assert producer.get(node.input[0]) is None or (
                producer[node.input[0]].op_type != "Conv"
            ), f"{node.name} quantizes a Conv output"
    found = _zero_points(made.path)
    for zp in found["QuantizeLinear"] + found["DequantizeLinear"]:
        assert zp.dtype == np.int8
        assert not zp.any()
    x = {"signal": np.asarray(batches[0]["signal"], dtype=np.float32)}
    fused = ort.InferenceSession(str(made.path), providers=["CPUExecutionProvider"])
    options = ort.SessionOptions()
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    emulated = ort.InferenceSession(str(made.path), options, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(fused.run(None, x)[0], emulated.run(None, x)[0], atol=1e-4)
    with pytest.raises(QuantizationError, match="list of op type names"):
        quantize_int8(
            artifact.directory / "model.onnx",
            tmp_path,
            calibration=batches,
            targets=("trt",),
            trt_exclude_output_ops="Conv",
        )


def _int8_weights(path: Path) -> list[np.ndarray]:
    """The quantized weight tensors (int8 initializers that a DequantizeLinear reads)."""
    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return [
        inits[n.input[0]]
        for n in model.graph.node
        if n.op_type == "DequantizeLinear"
        and n.input[0] in inits
        and inits[n.input[0]].dtype == np.int8
        and inits[n.input[0]].ndim > 1
    ]


def test_cpu_variant_can_use_7_bit_weights(artifact, reference, tmp_path):
    """meta['int8_cpu_reduce_range'] = true: the cpu variant's weights fit 7 bits (so AVX2's
    VPMADDUBSW pair sums of u8 activations and weights cannot saturate); 8 bits otherwise."""
    batches = list(reference.calibration_inputs(0, 32))
    full = _int8_weights(artifact.directory / "model.int8.cpu.onnx")
    assert full
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in full) > 64
    (made,) = quantize_int8(
        artifact.directory / "model.onnx",
        tmp_path,
        calibration=batches,
        targets=("cpu",),
        cpu_reduce_range=True,
    )
    assert "reduce_range" in made.note
    reduced = _int8_weights(made.path)
    assert len(reduced) == len(full)
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in reduced) <= 64
    with pytest.raises(QuantizationError, match="int8_cpu_reduce_range"):
        quantize_int8(
            artifact.directory / "model.onnx",
            tmp_path,
            calibration=batches,
            targets=("cpu",),
            cpu_reduce_range="yes",
        )
