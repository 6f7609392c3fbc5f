"""The parts of the TensorRT build that run without TensorRT: API generation choice, the ONNX
each generation needs (FP16 conversion, the symmetric Q/DQ check), and option checks.

The FP16 graph and the Q/DQ graphs are real: converted by the converter the build uses and
quantized by ONNX Runtime's static quantizer, then run in ONNX Runtime.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from vigil.export.engine_cache import BatchProfile
from vigil.export.tensorrt_build import (
    BuildOptions,
    Generation,
    TensorRTBuildError,
    api_generation,
    build_engine,
    prepare_onnx,
    qdq_problems,
)

RNG = np.random.default_rng(11)


def conv_model(path: Path) -> Path:
    """A small 1D CNN: Conv(1->8, k5) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(8->3)."""
    w = (RNG.standard_normal((8, 1, 5)) * 0.5).astype(np.float32)
    cb = RNG.standard_normal(8).astype(np.float32) * 0.1
    fw = RNG.standard_normal((3, 8)).astype(np.float32)
    fb = RNG.standard_normal(3).astype(np.float32) * 0.1
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["ecg", "w", "cb"], ["c"], pads=[2, 2]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], transB=1),
        ],
        "cnn",
        [helper.make_tensor_value_info("ecg", TensorProto.FLOAT, ["batch", 1, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(a, n) for a, n in ((w, "w"), (cb, "cb"), (fw, "fw"), (fb, "fb"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


class Windows(CalibrationDataReader):
    def __init__(self) -> None:
        self._batches = iter(
            [{"ecg": RNG.standard_normal((1, 1, 64)).astype(np.float32)} for _ in range(8)]
        )

    def get_next(self):
        return next(self._batches, None)


def quantized(source: Path, out: Path, *, symmetric: bool) -> Path:
    quantize_static(
        str(source),
        str(out),
        Windows(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True},
    )
    return out


def run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"ecg": x})[0]


def fake_trt(version: str, *, weak_flags: bool = True) -> SimpleNamespace:
    """Stand-in for the `tensorrt` module's version and BuilderFlag, nothing else."""
    flags = {"FP16": 0, "INT8": 1} if weak_flags else {}
    return SimpleNamespace(__version__=version, BuilderFlag=SimpleNamespace(**flags))


def test_api_generation_is_weak_typing_on_10x_and_strong_on_11():
    assert api_generation(fake_trt("10.3.0")) is Generation.WEAK_TYPING  # JetPack 6
    assert api_generation(fake_trt("10.13.2.6")) is Generation.WEAK_TYPING
    assert api_generation(fake_trt("11.4.0", weak_flags=False)) is Generation.STRONG_TYPING
    assert api_generation(fake_trt("11.0.0")) is Generation.STRONG_TYPING
    assert api_generation(fake_trt("10.99", weak_flags=False)) is Generation.STRONG_TYPING
    with pytest.raises(TensorRTBuildError, match=r"TensorRT 8\.6\.1 is too old"):
        api_generation(fake_trt("8.6.1"))


def test_strongly_typed_fp16_gets_a_converted_graph_with_float32_io(tmp_path):
    source = conv_model(tmp_path / "cnn.onnx")
    assert prepare_onnx(source, "fp16", Generation.WEAK_TYPING, tmp_path) == source
    assert prepare_onnx(source, "fp32", Generation.STRONG_TYPING, tmp_path) == source
    converted = prepare_onnx(source, "fp16", Generation.STRONG_TYPING, tmp_path)
    assert converted == tmp_path / "cnn.fp16.onnx"
    model = onnx.load(str(converted))
    assert {i.data_type for i in model.graph.initializer} == {TensorProto.FLOAT16}
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    x = RNG.standard_normal((4, 1, 64)).astype(np.float32)
    expected = run(source, x)
    got = run(converted, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-2, rtol=2e-2)


def test_int8_needs_symmetric_qdq_and_the_check_says_why(tmp_path):
    source = conv_model(tmp_path / "cnn.onnx")
    symmetric = quantized(source, tmp_path / "cnn.int8.trt.onnx", symmetric=True)
    asymmetric = quantized(source, tmp_path / "cnn.int8.cpu.onnx", symmetric=False)
    assert qdq_problems(symmetric) == []
    assert prepare_onnx(symmetric, "int8", Generation.STRONG_TYPING, tmp_path) == symmetric
    problems = qdq_problems(asymmetric)
    assert problems
    assert all("nonzero zero point" in p for p in problems)
    with pytest.raises(TensorRTBuildError, match=r"cnn\.int8\.cpu\.onnx: cannot build INT8"):
        prepare_onnx(asymmetric, "int8", Generation.WEAK_TYPING, tmp_path)
    with pytest.raises(TensorRTBuildError, match=r"no QuantizeLinear nodes"):
        prepare_onnx(source, "int8", Generation.WEAK_TYPING, tmp_path)
    x = RNG.standard_normal((2, 1, 64)).astype(np.float32)
    assert run(symmetric, x).shape == (2, 3)  # a real, runnable Q/DQ graph


def test_build_options_refuse_what_tensorrt_would_refuse_later():
    with pytest.raises(TensorRTBuildError, match=r"DLA runs FP16 or INT8 only"):
        BuildOptions(precision="fp32", dla_core=0)
    with pytest.raises(TensorRTBuildError, match=r"precision 'bf16'"):
        BuildOptions(precision="bf16")
    options = BuildOptions(precision="int8", profile=BatchProfile(1, 2, 4), dla_core=1)
    assert options.workspace_bytes == 1 << 30


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here"
)
def test_build_without_tensorrt_says_how_to_get_it(tmp_path):
    with pytest.raises(TensorRTBuildError, match=r"tensorrt is not installed.*JetPack"):
        build_engine(conv_model(tmp_path / "cnn.onnx"), BuildOptions())
