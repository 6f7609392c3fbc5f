"""Errors the export chain raises on purpose; each names the model and the step that failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.errors import VigilError

if TYPE_CHECKING:
    from vigil.export.parity import ParityReport

EXPORT_EXTRA_HINT = "install the export tools with: pip install 'vigil-edge[export]'"


class ExportError(VigilError):
    """A model cannot be exported: weights, tracing, ONNX checks or writing the artifact."""


class ParityError(ExportError):
    """ONNX Runtime's FP32 outputs differ from PyTorch's beyond the bound.

    Carries the full `ParityReport`, so a caller (or a test) can read every output's worst
    index and errors, not only the message.
    """

    def __init__(self, message: str, report: ParityReport) -> None:
        super().__init__(message)
        self.report = report


class QuantizationError(ExportError):
    """An INT8 variant cannot be made, or loses more of the main metric than allowed."""


class MissingExtraError(ExportError):
    """torch, onnx or onnxscript is not installed: exporting needs the `[export]` extra."""


def require_export_extra(what: str = "exporting") -> None:
    """Fail early, and say how to fix it, when the export extra is missing.

    torch is imported (the export needs it next anyway, and a broken install fails here
    rather than mid-export); onnx and onnxscript are only looked up, which keeps a usage
    error fast.
    """
    import importlib.util

    missing = []
    try:
        import torch  # noqa: F401
    except ImportError:
        missing.append("torch")
    for name in ("onnx", "onnxscript"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    if missing:
        raise MissingExtraError(
            f"{what} needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed; {EXPORT_EXTRA_HINT}"
        )
