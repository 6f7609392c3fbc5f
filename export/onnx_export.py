"""Step 2, `to_onnx`: a PyTorch module as a checked ONNX file with a dynamic batch axis.

Uses the dynamo exporter (`torch.onnx.export(..., dynamo=True)`, torch >= 2.9's only path,
which needs onnxscript), whose `optimize` pass folds constants and removes dead nodes. The
result is then held to the strictest checks ONNX offers (`check_model(full_check=True)`
and strict, type-checked shape inference) and saved with the inferred shapes, so every
later step (parity, quantization, TensorRT's parser) reads a graph already known to be
well formed. Inputs and outputs get the names the manifest uses; axis 0 of every input is
the symbolic `batch` axis.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.export.errors import ExportError
from vigil.export.progress import Progress, quiet

OPSET = 18  # >= 17 (LayerNormalization); 18 is the dynamo exporter's native opset
BATCH_AXIS = "batch"
MAX_BATCH = 4096


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """Hide the exporter's own chatter (torchvision op registration, deprecation notices):
    our progress lines say what is happening, and real failures still raise."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\..*")
            yield
    finally:
        logger.setLevel(level)


def to_onnx(
    module: Any,
    example_inputs: Mapping[str, np.ndarray],
    out: str | Path,
    *,
    output_names: Sequence[str],
    model: str = "model",
    opset: int = OPSET,
    progress: Progress | None = None,
) -> Path:
    """Export `module` (called as `module(*example_inputs.values())`) to `out`; returns `out`.

    `example_inputs` fixes the input names and order. Its batch size must be at least 2
    (one is repeated to two): torch.export specialises an axis whose example size is 1.
    Raises `ExportError` naming the model and the stage that failed.
    """
    import onnx
    import torch

    say = progress or quiet(model)
    out = Path(out)
    if opset < 17:
        raise ExportError(f"{model}: opset {opset} is too old; Vigil exports opset >= 17")
    names = list(example_inputs)
    if not names:
        raise ExportError(f"{model}: no inputs given to export with")
    arrays = []
    for name in names:
        array = np.asarray(example_inputs[name])
        if array.ndim == 0:
            raise ExportError(f"{model}: input {name} has no batch axis (it is a scalar)")
        if array.shape[0] == 1:
            array = np.concatenate([array, array])
        arrays.append(torch.from_numpy(np.ascontiguousarray(array)))
    batch = torch.export.Dim(BATCH_AXIS, min=1, max=MAX_BATCH)
    dynamic_shapes = tuple({0: batch} for _ in names)

    say(f"exporting to ONNX (dynamo exporter, opset {opset}, dynamic batch)")
    module = module.eval()
    try:
        with _quiet_torch(), torch.no_grad():
            program = torch.onnx.export(
                module,
                tuple(arrays),
                input_names=names,
                output_names=list(output_names),
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                optimize=True,
                verbose=False,
            )
        proto = program.model_proto
    except Exception as exc:  # the exporter raises many types; keep the cause, name the model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(
            f"{model}: torch -> ONNX export failed: {type(exc).__name__}: {first}"
        ) from exc

    say("checking the ONNX graph (full check, strict shape inference)")
    proto = check_onnx(proto, model=model)
    _expect_io(proto, names, list(output_names), model)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(proto, str(out))
    except OSError as exc:
        raise ExportError(f"{model}: cannot write {out}: {exc}") from exc
    return out


def check_onnx(proto: Any, *, model: str = "model") -> Any:
    """`proto` after the full ONNX check, with its shapes inferred strictly (type-checked).

    Strict inference fails where a graph's shapes contradict each other, which the checker
    alone lets through, and the inferred `value_info` helps the quantizer and TensorRT.
    """
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
        return onnx.shape_inference.infer_shapes(
            proto, check_type=True, strict_mode=True, data_prop=True
        )
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{model}: the exported ONNX graph is invalid: {exc}") from exc


def _expect_io(proto: Any, inputs: list[str], outputs: list[str], model: str) -> None:
    io = graph_io(proto)
    got_in = [name for name, _, _ in io["inputs"]]
    got_out = [name for name, _, _ in io["outputs"]]
    if got_in != inputs or got_out != outputs:
        raise ExportError(
            f"{model}: the ONNX graph has inputs {got_in} and outputs {got_out}, expected "
            f"{inputs} and {outputs} (does forward() return as many outputs as named?)"
        )
    for name, shape, _ in io["inputs"]:
        if not shape or not isinstance(shape[0], str):
            raise ExportError(
                f"{model}: input {name} has shape {shape}: axis 0 is not a dynamic batch axis"
            )


def graph_io(model: Any) -> dict[str, list[tuple[str, tuple[int | str, ...], str]]]:
    """Inputs and outputs of an ONNX model (a path or a ModelProto): name, shape, dtype.

    Symbolic axes come back as their names (`"batch"`), unknown ones as `"?"`.
    """
    import onnx

    proto = (
        onnx.load(str(model), load_external_data=False) if isinstance(model, (str, Path)) else model
    )
    initializers = {t.name for t in proto.graph.initializer}

    def describe(value: Any) -> tuple[str, tuple[int | str, ...], str]:
        tensor = value.type.tensor_type
        dims: list[int | str] = []
        for d in tensor.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            else:
                dims.append(d.dim_param or "?")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        return value.name, tuple(dims), dtype

    return {
        "inputs": [describe(v) for v in proto.graph.input if v.name not in initializers],
        "outputs": [describe(v) for v in proto.graph.output],
    }


def opset_of(model: Any) -> int:
    """The default-domain opset an ONNX model (path or ModelProto) declares."""
    import onnx

    proto = (
        onnx.load(str(model), load_external_data=False) if isinstance(model, (str, Path)) else model
    )
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ExportError(f"{model}: the ONNX model declares no default-domain opset")
