"""TensorRT native backend: runs a serialized engine with named I/O tensors on a CUDA stream.

UNVERIFIED: TensorRT, pycuda and a GPU are absent from the development and CI machines, so
this module has never run. It is written against the TensorRT 10 Python API documentation
(the name-based I/O API: `num_io_tensors`, `get_tensor_name/mode/dtype/shape`,
`get_tensor_profile_shape`, `set_input_shape`, `set_tensor_address`, `execute_async_v3`),
which TensorRT 11 keeps unchanged for inference: 11 removed weak typing from the *builder*
(export/tensorrt_build.py), not these calls. `API` below lists every attribute this module
touches; `tests/test_tensorrt_api.py` checks them wherever `tensorrt` imports, and
`tests/test_tensorrt_backend.py` runs an engine against ONNX Runtime where a GPU exists.

How it runs. `activate` creates an execution context and allocates, once, device and
page-locked host buffers big enough for the engine's largest profile shape (profile 0), so
`infer` never allocates: it sets the input shapes (dynamic batch within the profile), stages
inputs in pinned memory, copies them to the device, enqueues the engine, copies outputs back
and waits on the stream. Results are copied out of the pinned buffers before returning
(base.py's buffer rule: the pinned buffers are reused by the next call). All CUDA calls go
through cuda_memory.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.runtime.backends import cuda_memory
from vigil.runtime.backends.base import (
    BackendError,
    BackendUnavailable,
    InputError,
    TensorSpec,
    check_inputs,
)

log = logging.getLogger(__name__)

NAME = "tensorrt"

# Every TensorRT attribute this module uses, as "Class.attribute"; checked by the API test.
API: tuple[str, ...] = (
    "__version__",
    "Logger",
    "Logger.WARNING",
    "Runtime",
    "Runtime.deserialize_cuda_engine",
    "ICudaEngine.num_io_tensors",
    "ICudaEngine.get_tensor_name",
    "ICudaEngine.get_tensor_mode",
    "ICudaEngine.get_tensor_dtype",
    "ICudaEngine.get_tensor_shape",
    "ICudaEngine.get_tensor_profile_shape",
    "ICudaEngine.create_execution_context",
    "TensorIOMode.INPUT",
    "TensorIOMode.OUTPUT",
    "IExecutionContext.set_input_shape",
    "IExecutionContext.get_tensor_shape",
    "IExecutionContext.set_tensor_address",
    "IExecutionContext.execute_async_v3",
    "DataType.FLOAT",
    "DataType.HALF",
    "DataType.INT8",
    "DataType.INT32",
    "DataType.INT64",
    "DataType.BOOL",
    "DataType.UINT8",
)

# TensorRT DataType member name -> numpy dtype (BF16/FP8/INT4 I/O have no numpy type here)
_DTYPES = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT8": np.int8,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
    "UINT8": np.uint8,
}


def import_tensorrt() -> Any:
    """`tensorrt`, or `BackendUnavailable` saying why not. Needs TensorRT 10 or later (the
    name-based I/O API; 8.x's binding indices are not supported)."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailable(NAME, f"tensorrt not installed ({exc})") from exc
    major = int(str(trt.__version__).split(".", maxsplit=1)[0])
    if major < 10:
        raise BackendUnavailable(
            NAME, f"TensorRT {trt.__version__} is too old (Vigil needs 10 or later)"
        )
    return trt


@dataclass(slots=True)
class _Binding:
    spec: TensorSpec
    is_input: bool
    profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None  # inputs
    max_shape: tuple[int, ...] = ()
    device: Any = None  # cuda_memory.DeviceBuffer
    host: np.ndarray | None = None  # page-locked, max_shape elements
    shape: tuple[int, ...] | None = None  # shape last set on the context


class TensorRTBackend:
    """Runs one serialized TensorRT engine (a `.engine` file) on one CUDA device.

    The engine must have been built for this GPU and this TensorRT version (the engine cache
    guarantees that; TensorRT itself refuses others, and the error says so). Only profile 0
    is used; only the batch axis (axis 0) is expected to be dynamic.
    """

    def __init__(
        self,
        engine_path: str | Path,
        *,
        device: int = 0,
        check_finite: bool = True,
    ) -> None:
        self.name = NAME
        self.engine_path = Path(engine_path)
        self.device_ordinal = device
        self.check_finite = check_finite
        self._trt = import_tensorrt()
        if not self.engine_path.is_file():
            raise BackendError(f"{NAME}: engine file {self.engine_path} does not exist")
        self._device: cuda_memory.CudaDevice = cuda_memory.open_device(device)
        self._logger = self._trt.Logger(self._trt.Logger.WARNING)
        with self._device.current():
            self._runtime = self._trt.Runtime(self._logger)
            self._engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self._engine is None:
            self._device.close()
            raise BackendError(
                f"{NAME}: TensorRT {self._trt.__version__} cannot load {self.engine_path} "
                f"on {self._device.name}: it was built for another TensorRT version or GPU, "
                "or the file is damaged; rebuild it (vigil export ... --trt)"
            )
        self._bindings = self._enumerate()
        self._context: Any = None
        self._stream: Any = None

    def _enumerate(self) -> dict[str, _Binding]:
        trt, engine = self._trt, self._engine
        bindings = {}
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            dtype_name = engine.get_tensor_dtype(name).name
            if dtype_name not in _DTYPES:
                raise BackendError(
                    f"{NAME}: {self.engine_path}: tensor {name} has type {dtype_name}, "
                    "which has no numpy equivalent here; export with float32/float16 I/O"
                )
            dims = tuple(int(d) for d in engine.get_tensor_shape(name))
            shape = tuple(
                ("batch" if axis == 0 else None) if d < 0 else d for axis, d in enumerate(dims)
            )
            profile = None
            if is_input:
                low, opt, high = engine.get_tensor_profile_shape(name, 0)
                profile = (
                    tuple(int(d) for d in low),
                    tuple(int(d) for d in opt),
                    tuple(int(d) for d in high),
                )
            spec = TensorSpec(name, shape, np.dtype(_DTYPES[dtype_name]))
            bindings[name] = _Binding(spec, is_input, profile)
        return bindings

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(n for n, b in self._bindings.items() if b.is_input)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(n for n, b in self._bindings.items() if not b.is_input)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return tuple(b.spec for b in self._bindings.values() if b.is_input)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return tuple(b.spec for b in self._bindings.values() if not b.is_input)

    @property
    def active(self) -> bool:
        return self._context is not None

    def activate(self) -> None:
        if self._context is not None:
            return
        with self._device.current():
            try:
                self._allocate()
            except Exception:
                self._release()
                raise
        # warm-up at the profile's optimum shape: first-run kernel setup happens now
        warm = {
            b.spec.name: np.zeros(b.profile[1], b.spec.dtype)
            for b in self._bindings.values()
            if b.is_input and b.profile is not None
        }
        try:
            self._run(warm)
        except Exception:
            self.deactivate()
            raise
        log.info("%s active: %s on %s", NAME, self.engine_path, self._device.name)

    def _allocate(self) -> None:
        context = self._engine.create_execution_context()
        if context is None:
            raise BackendError(
                f"{NAME}: cannot create an execution context for {self.engine_path} "
                "(out of device memory?)"
            )
        self._context = context
        self._stream = self._device.stream()
        for b in self._bindings.values():
            if b.is_input:
                assert b.profile is not None
                b.max_shape = b.profile[2]
                self._set_shape(b, b.max_shape)
        for b in self._bindings.values():
            if not b.is_input:
                shape = tuple(int(d) for d in context.get_tensor_shape(b.spec.name))
                if any(d < 0 for d in shape):
                    raise BackendError(
                        f"{NAME}: output {b.spec.name} of {self.engine_path} has a "
                        f"data-dependent shape {list(shape)}, which this backend does not run"
                    )
                b.max_shape = shape
        for b in self._bindings.values():
            nbytes = int(np.prod(b.max_shape, dtype=np.int64)) * b.spec.dtype.itemsize
            b.device = self._device.alloc(nbytes)
            b.host = self._device.host_buffer(b.max_shape, b.spec.dtype)
            if not context.set_tensor_address(b.spec.name, b.device.ptr):
                raise BackendError(f"{NAME}: set_tensor_address failed for {b.spec.name}")

    def _set_shape(self, binding: _Binding, shape: tuple[int, ...]) -> None:
        if binding.shape != shape:
            if not self._context.set_input_shape(binding.spec.name, shape):
                raise InputError(
                    f"{NAME}: TensorRT refused shape {list(shape)} for input {binding.spec.name}"
                )
            binding.shape = shape

    def deactivate(self) -> None:
        if self._context is None and self._stream is None:
            return
        with self._device.current():
            self._release()

    def _release(self) -> None:
        for b in self._bindings.values():
            if b.device is not None:
                b.device.free()
            b.device, b.host, b.shape = None, None, None
        self._context = None  # TensorRT frees the context's activation memory
        self._stream = None

    def close(self) -> None:
        """Deactivate and release the engine and the CUDA context; the object is done."""
        self.deactivate()
        with self._device.current():
            self._engine = None
            self._runtime = None
        self._device.close()

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._context is None:
            raise BackendError(f"{NAME}: infer() before activate() for {self.engine_path}")
        checked = check_inputs(NAME, self.inputs, inputs, check_finite=self.check_finite)
        for name, array in checked.items():
            b = self._bindings[name]
            assert b.profile is not None
            low, _, high = b.profile
            if any(not lo <= d <= hi for d, lo, hi in zip(array.shape, low, high, strict=True)):
                raise InputError(
                    f"{NAME}: input {name} has shape {list(array.shape)}, outside the engine's "
                    f"optimization profile {list(low)}..{list(high)}; rebuild the engine with "
                    "a larger max batch or split the batch"
                )
        return self._run(checked)

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        context, stream, device = self._context, self._stream, self._device
        with device.current():
            for name, array in inputs.items():
                b = self._bindings[name]
                self._set_shape(b, array.shape)
                staged = _view(b.host, array.shape)
                np.copyto(staged, array)
                device.copy_to_device(b.device, staged, stream)
            outputs = {}
            for b in self._bindings.values():
                if not b.is_input:
                    shape = tuple(int(d) for d in context.get_tensor_shape(b.spec.name))
                    outputs[b.spec.name] = _view(b.host, shape)
            if not context.execute_async_v3(stream.handle):
                raise BackendError(f"{NAME}: execute_async_v3 failed for {self.engine_path}")
            for name, view in outputs.items():
                device.copy_to_host(view, self._bindings[name].device, stream)
            stream.synchronize()
        # the pinned buffers are reused by the next call: hand out copies (the buffer rule)
        return {name: view.copy() for name, view in outputs.items()}

    def __enter__(self) -> TensorRTBackend:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def __repr__(self) -> str:
        return f"TensorRTBackend({str(self.engine_path)!r}, device={self.device_ordinal})"


def _view(buffer: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """The first prod(shape) elements of a flat pinned buffer, shaped (no copy)."""
    assert buffer is not None
    count = int(np.prod(shape, dtype=np.int64))
    return buffer.reshape(-1)[:count].reshape(shape)
