"""The contract every reference model meets, so export, evaluation and benchmarks are generic.

Each reference model package (`vigil.models.ecg_beat`, `vigil.models.vitals_ae`,
`vigil.models.us_segmenter`) exposes `REFERENCE: ReferenceModel`. Export builds the module,
loads the shipped safetensors weights, traces it with `example_inputs`, calibrates INT8 on
`calibration_inputs`, and measures every artifact (PyTorch, ONNX Runtime FP32, INT8) with the
same `evaluate(predict)`, so a metric change is measured, not assumed. Training and
evaluation data come from the shared synthesizer with different parameter ranges and seeds.

This module imports torch only inside the callables a model supplies; importing it is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]
Predict = Callable[[Arrays], Arrays]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A named model input or output. `shape` uses "batch" for the dynamic batch axis."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    layout: str = ""  # "NCW", "NCHW", "NTC"
    units: str = ""  # of the values, after normalisation is undone ("mV", "probability")
    description: str = ""


@dataclass(frozen=True)
class ReferenceModel:
    name: str  # "ecg_beat", "vitals_ae", "us_segmenter"
    version: str
    task: str  # "classification", "anomaly", "segmentation"
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    main_metric: str  # key of `evaluate`'s result the model card leads with ("macro_f1", ...)
    weights: Path  # shipped safetensors file
    build: Callable[[], Any]  # -> torch.nn.Module, untrained, eval() not yet called
    example_inputs: Callable[[int, int], Arrays]  # (seed, batch) -> real held-out samples
    # (seed, n) -> batches holding n examples in all, from the TRAINING distribution
    calibration_inputs: Callable[[int, int], Iterator[Arrays]]
    evaluate: Callable[[Predict, int], dict[str, float]]  # (predict, seed) -> held-out metrics
    train: Callable[..., dict[str, float]]  # (out_weights, seed, progress=True) -> metrics
    meta: Mapping[str, Any] = field(default_factory=dict)  # labels, sample rate, window, ...
    card: Path | None = None  # MODEL_CARD.md

    def load(self) -> Any:
        """The module with its shipped weights, in eval mode (safetensors: no pickle)."""
        from safetensors.torch import load_file

        module = self.build()
        module.load_state_dict(load_file(str(self.weights)))
        return module.eval()


def reference_models() -> dict[str, ReferenceModel]:
    """Every reference model by name (imports each package, and so torch lazily within)."""
    import importlib

    found = {}
    for name in ("ecg_beat", "vitals_ae", "us_segmenter"):
        try:
            module = importlib.import_module(f"vigil.models.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"vigil.models.{name}":
                raise
            continue
        found[name] = module.REFERENCE
    return found
