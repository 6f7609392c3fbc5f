"""Inference backends: one interface (base.py), ONNX Runtime, TensorRT, and selection.

Importing this package imports neither onnxruntime nor tensorrt; each backend imports its
library when constructed, so `import vigil.runtime.backends` works on any machine.
"""

from vigil.runtime.backends.base import (
    Backend,
    BackendError,
    BackendUnavailable,
    InputError,
    TensorSpec,
    check_inputs,
)

__all__ = [
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "InputError",
    "TensorSpec",
    "check_inputs",
]
