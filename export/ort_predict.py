"""ONNX Runtime on the CPU as a `predict` function, for parity, calibration checks and metrics.

Export may not import `vigil.runtime` (the rooms keep their doors), so this is the small
session wrapper the export chain measures with. It pins the CPU provider and a thread count
so a metric measured here does not depend on what else the machine offers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]


def open_session(path: str | Path, *, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session for `path` (all graph optimizations, `threads` intra-op)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_predict(
    path: str | Path, *, threads: int | None = None
) -> Callable[[Mapping[str, np.ndarray]], Arrays]:
    """`predict(inputs) -> outputs` over an ONNX file, both keyed by tensor name.

    Inputs are cast to the dtype the graph declares, since generators produce float64 as
    readily as float32 and ONNX Runtime does not convert.
    """
    session = open_session(path, threads=threads)
    dtypes = {i.name: _np_dtype(i.type) for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]

    def predict(inputs: Mapping[str, np.ndarray]) -> Arrays:
        feed = {k: np.ascontiguousarray(inputs[k], dtype=dtypes[k]) for k in dtypes}
        return dict(zip(names, session.run(names, feed), strict=True))

    return predict


_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _np_dtype(ort_type: str) -> Any:
    return _ORT_TYPES.get(ort_type, np.float32)
