"""Build an FP16 engine from a small ONNX model and run it through the TensorRT backend,
against ONNX Runtime on the CPU. Needs tensorrt, pycuda and an NVIDIA GPU; skips with one
line elsewhere (the development and CI machines have none of them).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

pytestmark = pytest.mark.gpu

trt = pytest.importorskip("tensorrt", reason="tensorrt not installed: GPU test skipped")
cuda = pytest.importorskip("pycuda.driver", reason="pycuda not installed: GPU test skipped")


def _gpu_count() -> int:
    try:
        cuda.init()
        return cuda.Device.count()
    except cuda.Error:
        return 0


if _gpu_count() == 0:
    pytest.skip("no CUDA device: GPU test skipped", allow_module_level=True)

from vigil.export.engine_cache import BatchProfile, EngineCache, query_platform  # noqa: E402
from vigil.export.tensorrt_build import BuildOptions, build_cached  # noqa: E402
from vigil.runtime.backends import InputError  # noqa: E402
from vigil.runtime.backends.tensorrt_backend import TensorRTBackend  # noqa: E402

RNG = np.random.default_rng(7)


def conv_model(path):
    w = (RNG.standard_normal((8, 1, 5)) * 0.5).astype(np.float32)
    fw = RNG.standard_normal((3, 8)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["ecg", "w"], ["c"], pads=[2, 2]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("Gemm", ["f", "fw"], ["logits"], transB=1),
        ],
        "cnn",
        [helper.make_tensor_value_info("ecg", TensorProto.FLOAT, ["batch", 1, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fw, "fw")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_fp16_engine_matches_onnxruntime_and_is_cached(tmp_path):
    source = conv_model(tmp_path / "cnn.onnx")
    cache = EngineCache(tmp_path / "engines")
    options = BuildOptions(
        precision="fp16",
        profile=BatchProfile(1, 2, 8),
        workspace_bytes=256 << 20,
        timing_cache=tmp_path / "timing.cache",
    )
    messages: list[str] = []
    engine = build_cached(source, cache, options, progress=messages.append)
    assert (tmp_path / "timing.cache").is_file()
    assert build_cached(source, cache, options, progress=messages.append) == engine
    assert "cache hit" in messages[-1]
    finder = cache.finder(query_platform(), options.profile)
    assert finder(source, "fp16") == engine

    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    backend = TensorRTBackend(engine)
    try:
        assert backend.input_names == ("ecg",)
        assert backend.output_names == ("logits",)
        backend.activate()
        kept = None
        for batch in (1, 2, 8):
            x = RNG.standard_normal((batch, 1, 64)).astype(np.float32)
            got = backend.infer({"ecg": x})["logits"]
            expected = session.run(None, {"ecg": x})[0]
            np.testing.assert_allclose(got, expected, atol=2e-2, rtol=2e-2)
            if kept is None:
                kept, first = got.copy(), got
        np.testing.assert_array_equal(first, kept)  # the buffer rule
        with pytest.raises(InputError, match=r"outside the engine's optimization profile"):
            backend.infer({"ecg": np.zeros((9, 1, 64), np.float32)})
        backend.deactivate()
        backend.activate()
        x = np.ones((1, 1, 64), np.float32)
        np.testing.assert_allclose(
            backend.infer({"ecg": x})["logits"], session.run(None, {"ecg": x})[0], atol=2e-2
        )
    finally:
        backend.close()
