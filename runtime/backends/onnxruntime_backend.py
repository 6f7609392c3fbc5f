"""ONNX Runtime backend: the embedded default (CPU), and ORT's CUDA and TensorRT providers.

One `InferenceSession` per model file, with the execution providers chosen by the backend's
kind rather than by whatever ORT finds first: a runtime that asked for CUDA and silently got
the CPU would miss its latency budget without saying so. ORT falls back to the CPU on its own
when a provider's libraries fail to load (it only logs), so after creating a session the
backend checks which providers ORT actually kept and refuses with `BackendUnavailable` if
the one it was asked for is gone.

Outputs from `InferenceSession.run` are newly allocated arrays on every call, so they are
the caller's to keep (base.py's buffer rule) without another copy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vigil.runtime.backends.base import (
    BackendError,
    BackendUnavailable,
    TensorSpec,
    check_inputs,
)

log = logging.getLogger(__name__)

# backend kind -> ONNX Runtime execution providers, most preferred first
PROVIDERS: dict[str, tuple[str, ...]] = {
    "onnxruntime-cpu": ("CPUExecutionProvider",),
    "onnxruntime-cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
    "onnxruntime-tensorrt": (
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ),
}
_SHORT = {"cpu": "onnxruntime-cpu", "cuda": "onnxruntime-cuda", "tensorrt": "onnxruntime-tensorrt"}

# ONNX Runtime's type strings -> numpy dtypes
_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def kind_for(providers: str) -> str:
    """Normalise "cpu"/"cuda"/"tensorrt" or a full kind name; raises on anything else."""
    kind = _SHORT.get(providers, providers)
    if kind not in PROVIDERS:
        known = ", ".join([*_SHORT, *PROVIDERS])
        raise BackendError(f"unknown ONNX Runtime provider set {providers!r}; use one of {known}")
    return kind


def provider_available(kind: str) -> str | None:
    """None if ORT on this machine has the provider `kind` needs, else the reason it has not."""
    import onnxruntime as ort

    wanted = PROVIDERS[kind_for(kind)][0]
    available = ort.get_available_providers()
    if wanted in available:
        return None
    return f"onnxruntime {ort.__version__} has no {wanted} (it has {', '.join(available)})"


class OnnxRuntimeBackend:
    """Runs one ONNX file through ONNX Runtime with a chosen provider set.

    `providers`: "cpu", "cuda" or "tensorrt" (or the full kind names in `PROVIDERS`).
    `intra_op_threads`: threads for one operator; 0 lets ORT use every core, which on a
    bedside box competes with signal processing, so callers pass the budget they have.
    `provider_options`: passed to the preferred provider unchanged (e.g. the TensorRT EP's
    ``trt_engine_cache_path``).
    `check_finite`: refuse NaN/inf inputs (base.py explains why that is the default).
    The session is created at construction, so a bad file fails early and the IO is known;
    `deactivate` drops it and `activate` recreates it.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        providers: str = "cpu",
        intra_op_threads: int = 0,
        provider_options: Mapping[str, Any] | None = None,
        check_finite: bool = True,
    ) -> None:
        self.name = kind_for(providers)
        self.model = Path(model)
        self.intra_op_threads = intra_op_threads
        self.check_finite = check_finite
        self._provider_options = dict(provider_options or {})
        if not self.model.is_file():
            raise BackendError(f"{self.name}: model file {self.model} does not exist")
        if (reason := provider_available(self.name)) is not None:
            raise BackendUnavailable(self.name, reason)
        self._session: Any = self._open()
        self._inputs = tuple(_spec(i) for i in self._session.get_inputs())
        self._outputs = tuple(_spec(o) for o in self._session.get_outputs())
        self._active = False

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._outputs)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def active(self) -> bool:
        return self._active

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers the live session actually uses (empty while deactivated)."""
        return tuple(self._session.get_providers()) if self._session is not None else ()

    def _open(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        wanted = PROVIDERS[self.name]
        provider_list: list[Any] = list(wanted)
        if self._provider_options:
            provider_list[0] = (wanted[0], self._provider_options)
        try:
            session = ort.InferenceSession(
                str(self.model), sess_options=options, providers=provider_list
            )
        except Exception as exc:  # ORT raises its own pybind types (Fail, InvalidGraph, ...)
            raise BackendError(
                f"{self.name}: ONNX Runtime cannot load {self.model}: {exc}"
            ) from exc
        if wanted[0] not in session.get_providers():
            raise BackendUnavailable(
                self.name,
                f"ONNX Runtime could not start {wanted[0]} for {self.model.name} and fell "
                f"back to {', '.join(session.get_providers())} (check the CUDA/TensorRT "
                "libraries ORT needs)",
            )
        return session

    def activate(self) -> None:
        if self._active:
            return
        if self._session is None:
            self._session = self._open()
        # One run at batch 1 (every dynamic axis 1): ORT allocates its arenas and, for the
        # CUDA/TensorRT providers, builds kernels now rather than on the first real window.
        self._run({s.name: np.zeros(_warmup_shape(s.shape), s.dtype) for s in self._inputs})
        self._active = True
        log.info("%s active for %s (providers %s)", self.name, self.model, self.providers)

    def deactivate(self) -> None:
        self._session = None
        self._active = False

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self._active:
            raise BackendError(f"{self.name}: infer() before activate() for {self.model}")
        checked = check_inputs(self.name, self._inputs, inputs, check_finite=self.check_finite)
        return self._run(checked)

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            results = self._session.run(None, inputs)
        except Exception as exc:  # ORT's pybind exception types
            raise BackendError(f"{self.name}: running {self.model} failed: {exc}") from exc
        return dict(zip(self.output_names, results, strict=True))

    def __enter__(self) -> OnnxRuntimeBackend:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    def __repr__(self) -> str:
        return f"OnnxRuntimeBackend({str(self.model)!r}, providers={self.name!r})"


def _spec(node: Any) -> TensorSpec:
    dtype = _DTYPES.get(node.type)
    if dtype is None:
        raise BackendError(f"tensor {node.name} has type {node.type}, which Vigil does not feed")
    shape = tuple(d if isinstance(d, (int, str)) else None for d in node.shape)
    return TensorSpec(node.name, shape, np.dtype(dtype))


def _warmup_shape(shape: tuple[int | str | None, ...]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in shape)
