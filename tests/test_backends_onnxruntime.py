"""The ONNX Runtime backend, artifact variant choice and backend selection, on real models.

Models are built with onnx.helper (no torch), written as verified artifacts, loaded with
`load_artifact` and run through real ONNX Runtime sessions.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from blocked_imports import block_imports
from onnx import TensorProto, helper, numpy_helper

from vigil.artifacts import Manifest, TensorInfo, Variant, load_artifact, write_manifest
from vigil.runtime.artifact_loader import VariantNotFound, choose_variant, precisions_for
from vigil.runtime.backends import Backend, BackendError, BackendUnavailable, InputError
from vigil.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from vigil.runtime.backends.select import NoBackend, select_backend

RNG = np.random.default_rng(4)
W = RNG.standard_normal((4, 3)).astype(np.float32)
B = RNG.standard_normal(3).astype(np.float32)


def linear_model(path: Path) -> Path:
    """logits = x @ W + b, x: float32["batch", 4]."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logits"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def two_input_model(path: Path) -> Path:
    """y = a + b, both float32["batch", 2]."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        "add",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 2]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def make_artifact(directory: Path, variants: tuple[Variant, ...] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    linear_model(directory / "model.onnx")
    variants = variants or (Variant("model.onnx", "fp32", ("any",)),)
    for v in variants:
        if not (directory / v.file).exists():
            (directory / v.file).write_bytes((directory / "model.onnx").read_bytes())
    write_manifest(
        directory,
        Manifest(
            name="linear",
            version="1.0.0",
            task="classification",
            inputs=(TensorInfo("x", ("batch", 4)),),
            outputs=(TensorInfo("logits", ("batch", 3)),),
            variants=variants,
            files={},
        ),
    )
    return directory


@pytest.fixture
def artifact(tmp_path):
    return load_artifact(make_artifact(tmp_path / "linear"))


@pytest.fixture
def backend(artifact):
    chosen = choose_variant(artifact, "onnxruntime-cpu")
    with OnnxRuntimeBackend(chosen.path, providers="cpu", intra_op_threads=1) as b:
        yield b


def test_verified_artifact_runs_through_ort_cpu_and_matches_numpy(backend):
    assert isinstance(backend, Backend)
    assert backend.input_names == ("x",)
    assert backend.output_names == ("logits",)
    assert backend.providers == ("CPUExecutionProvider",)
    for batch in (1, 7):
        x = RNG.standard_normal((batch, 4)).astype(np.float32)
        out = backend.infer({"x": x})
        assert set(out) == {"logits"}
        np.testing.assert_allclose(out["logits"], x @ W + B, rtol=1e-5, atol=1e-5)


def test_wrong_input_name_names_the_expected_tensor_and_shape(backend):
    with pytest.raises(InputError, match=r"missing x.*unexpected ecg.*x: float32\[batch, 4\]"):
        backend.infer({"ecg": np.zeros((1, 4), np.float32)})


def test_wrong_dtype_is_refused_not_cast(backend):
    with pytest.raises(InputError, match=r"input x has dtype float64, the model takes float32"):
        backend.infer({"x": np.zeros((1, 4))})


def test_wrong_rank_and_wrong_fixed_dimension_name_the_expected_shape(backend):
    with pytest.raises(InputError, match=r"input x has shape \[4\] \(rank 1\); expected rank 2"):
        backend.infer({"x": np.zeros(4, np.float32)})
    with pytest.raises(InputError, match=r"shape \[2, 5\]; axis 1 must be 4.*\[batch, 4\]"):
        backend.infer({"x": np.zeros((2, 5), np.float32)})
    with pytest.raises(InputError, match=r"input x is empty"):
        backend.infer({"x": np.zeros((0, 4), np.float32)})
    with pytest.raises(InputError, match=r"must be a numpy array, not list"):
        backend.infer({"x": [[0.0] * 4]})


def test_non_finite_input_is_refused_with_its_position(backend, artifact):
    x = np.zeros((3, 4), np.float32)
    x[2, 1] = np.nan
    x[2, 3] = np.inf
    with pytest.raises(InputError, match=r"x holds 2 non-finite value\(s\).*index \(2, 1\)"):
        backend.infer({"x": x})
    path = choose_variant(artifact, "onnxruntime-cpu").path
    with OnnxRuntimeBackend(path, check_finite=False) as lenient:
        assert np.isnan(lenient.infer({"x": x})["logits"][2]).all()


def test_inputs_sharing_the_batch_axis_must_agree(tmp_path):
    with OnnxRuntimeBackend(two_input_model(tmp_path / "add.onnx")) as b:
        a = np.ones((2, 2), np.float32)
        np.testing.assert_array_equal(b.infer({"a": a, "b": a})["y"], 2 * a)
        with pytest.raises(InputError, match=r"axis 'batch' is 3 in input b but 2 in a"):
            b.infer({"a": a, "b": np.ones((3, 2), np.float32)})


def test_returned_arrays_are_the_callers_and_survive_the_next_call(backend):
    x1 = np.ones((2, 4), np.float32)
    first = backend.infer({"x": x1})["logits"]
    kept = first.copy()
    second = backend.infer({"x": -x1})["logits"]
    np.testing.assert_array_equal(first, kept)
    assert not np.shares_memory(first, second)
    first[:] = 0  # the caller may scribble on its result without harming the backend
    np.testing.assert_allclose(backend.infer({"x": x1})["logits"], kept)


def test_lifecycle_infer_needs_activate_and_deactivate_can_be_undone(artifact):
    path = choose_variant(artifact, "onnxruntime-cpu").path
    b = OnnxRuntimeBackend(path)
    x = np.ones((1, 4), np.float32)
    with pytest.raises(BackendError, match=r"infer\(\) before activate\(\)"):
        b.infer({"x": x})
    b.activate()
    b.activate()  # idempotent
    expected = b.infer({"x": x})["logits"]
    b.deactivate()
    assert not b.active
    assert b.providers == ()
    with pytest.raises(BackendError, match=r"before activate"):
        b.infer({"x": x})
    b.activate()
    np.testing.assert_array_equal(b.infer({"x": x})["logits"], expected)
    b.deactivate()


def test_bad_model_file_and_unknown_provider_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(BackendError, match=r"cannot load .*junk\.onnx"):
        OnnxRuntimeBackend(junk)
    with pytest.raises(BackendError, match=r"does not exist"):
        OnnxRuntimeBackend(tmp_path / "missing.onnx")
    with pytest.raises(BackendError, match=r"unknown ONNX Runtime provider set 'rocm'"):
        OnnxRuntimeBackend(linear_model(tmp_path / "m.onnx"), providers="rocm")


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="this ORT has CUDA"
)
def test_cuda_provider_is_unavailable_here_with_the_reason(tmp_path):
    with pytest.raises(BackendUnavailable, match=r"has no CUDAExecutionProvider") as info:
        OnnxRuntimeBackend(linear_model(tmp_path / "m.onnx"), providers="cuda")
    assert info.value.backend == "onnxruntime-cuda"


def test_variant_choice_prefers_the_backend_specific_file(tmp_path):
    variants = (
        Variant("model.onnx", "fp32", ("any",)),
        Variant("model.int8.generic.onnx", "int8", ("any",)),
        Variant("model.int8.cpu.onnx", "int8", ("onnxruntime-cpu",)),
        Variant("model.int8.trt.onnx", "int8", ("tensorrt",)),
        Variant("model.fp16.onnx", "fp16", ("onnxruntime",)),
        Variant("model.fp16.engine", "fp16", ("tensorrt",)),
    )
    artifact = load_artifact(make_artifact(tmp_path / "a", variants))
    assert choose_variant(artifact, "onnxruntime-cpu", "int8").variant.file == (
        "model.int8.cpu.onnx"
    )
    assert choose_variant(artifact, "tensorrt", "int8").variant.file == "model.int8.trt.onnx"
    assert choose_variant(artifact, "onnxruntime-cuda", "int8").variant.file == (
        "model.int8.generic.onnx"
    )
    assert choose_variant(artifact, "onnxruntime-cuda", "fp16").variant.file == "model.fp16.onnx"
    assert choose_variant(artifact, "tensorrt", "fp16").variant.file == "model.fp16.engine"
    chosen = choose_variant(artifact, "onnxruntime-cpu")
    assert chosen.path == artifact.directory / "model.onnx"
    assert chosen.precision == "fp32"
    assert precisions_for(artifact, "onnxruntime-cpu") == ("fp32", "int8", "fp16")


def test_no_fitting_variant_names_what_the_artifact_has(tmp_path):
    variants = (
        Variant("model.onnx", "fp32", ("any",)),
        Variant("model.fp16.engine", "fp16", ("tensorrt",)),
    )
    artifact = load_artifact(make_artifact(tmp_path / "a", variants))
    with pytest.raises(VariantNotFound, match=r"no int8 variant for onnxruntime-cpu") as info:
        choose_variant(artifact, "onnxruntime-cpu", "int8")
    assert "model.onnx (fp32, for any)" in str(info.value)
    with pytest.raises(VariantNotFound, match=r"no fp16 variant for onnxruntime-cpu"):
        choose_variant(artifact, "onnxruntime-cpu", "fp16")  # an engine is not an ONNX file
    with pytest.raises(VariantNotFound, match=r"unknown backend kind 'pytorch'"):
        choose_variant(artifact, "pytorch")


def test_selection_here_picks_ort_cpu_and_says_why_the_others_were_skipped(artifact, caplog):
    caplog.set_level("INFO", logger="vigil.runtime.backends.select")
    selection = select_backend(artifact, intra_op_threads=1)
    try:
        report = selection.report()
        kinds = [a.backend for a in selection.attempts]
        assert kinds[-1] == selection.backend.name
        assert selection.backend.active
        reasons = {a.backend: a.reason for a in selection.attempts if not a.chosen}
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            assert reasons["tensorrt"].startswith("tensorrt not installed")
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            assert "has no CUDAExecutionProvider" in reasons["onnxruntime-cuda"]
            assert selection.backend.name == "onnxruntime-cpu"
            assert report.splitlines()[-1].startswith("chosen  onnxruntime-cpu [model.onnx]")
        x = np.ones((1, 4), np.float32)
        np.testing.assert_allclose(selection.backend.infer({"x": x})["logits"], x @ W + B, 1e-5)
        assert f"backend for linear: {selection.backend.name}" in caplog.text
        assert "skipped tensorrt" in caplog.text
    finally:
        selection.backend.deactivate()


def test_tensorrt_candidate_without_an_engine_cache_is_skipped_with_the_reason(artifact):
    pytest.importorskip("tensorrt", reason="tensorrt not installed: the earlier reason applies")
    selection = select_backend(artifact, prefer=("tensorrt", "onnxruntime-cpu"))
    selection.backend.deactivate()
    assert "no engine cache configured" in selection.attempts[0].reason


def test_no_backend_reports_every_candidate(tmp_path):
    artifact = load_artifact(make_artifact(tmp_path / "a"))
    with pytest.raises(NoBackend, match=r"no backend can run linear") as info:
        select_backend(artifact, precision="int8")
    assert [a.backend for a in info.value.attempts] == [
        "tensorrt",
        "onnxruntime-cuda",
        "onnxruntime-cpu",
    ]
    assert all("has no int8 file" in a.reason for a in info.value.attempts)


def test_runtime_backends_import_and_run_with_torch_onnx_and_tensorrt_blocked(artifact):
    code = block_imports("torch", "onnx", "tensorrt", "pycuda") + textwrap.dedent(
        f"""
        import numpy as np
        import vigil.runtime.backends.base, vigil.runtime.backends.cuda_memory
        import vigil.runtime.backends.tensorrt_backend, vigil.runtime.backends.onnxruntime_backend
        from vigil.artifacts import load_artifact
        from vigil.runtime.backends.select import select_backend
        selection = select_backend(load_artifact({str(artifact.directory)!r}))
        out = selection.backend.infer({{'x': np.ones((2, 4), np.float32)}})
        assert out['logits'].shape == (2, 3)
        assert not any(m.split('.')[0] in ('torch', 'onnx', 'tensorrt') for m in sys.modules)
        print(selection.report())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "skipped tensorrt [model.onnx]: tensorrt not installed" in result.stdout
    assert "chosen  onnxruntime-" in result.stdout
