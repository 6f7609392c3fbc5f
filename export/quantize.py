"""Step 4, `quantize_int8`: INT8 variants, each measured, refused when it costs accuracy.

Static quantization with ONNX Runtime's quantizer, QDQ format, per-channel weights,
calibrated on the model's own generator data. Two targets differ, so both are written:

- `trt` (`model.int8.trt.onnx`, for TensorRT): symmetric INT8 activations and weights, every
  zero point 0 (TensorRT's explicit quantization requires it), biases left in float (its
  Q/DQ support is INT8, not the INT32 bias dequantization ORT would insert).
- `cpu` (`model.int8.cpu.onnx`, for ONNX Runtime on the CPU): unsigned 8-bit asymmetric
  activations, signed weights, which ran faster on the 2-core CPU (17.3 vs 12.8 ms on the
  earlier 16-channel U-Net) because ORT's U8S8 kernels use the whole activation range.

A model may ask, in `meta["int8_trt_exclude_output_ops"]` (e.g. `["Conv"]`), for the `trt`
variant to carry no Q/DQ on the outputs of those op types: Q/DQ then sit only on each Conv's
inputs (after its ReLU, before the next Conv), TensorRT's own recommended placement, where it
fuses Conv + ReLU and requantizes at the next input. Why it matters here: ONNX Runtime fuses a
Conv whose output is quantized into an integer QLinearConv, and on x86 without VNNI (AVX2) its
S8S8 kernel goes through VPMADDUBSW, whose 16-bit pair sums saturate. The `trt` file is judged
on the CPU, so those fused kernels judged the CPU's overflow, not the quantization TensorRT
runs (int32 accumulation): the earlier 16-channel U-Net scored Dice 0.59 fused against 0.934
with the same Q/DQ evaluated unfused; the shipped low-resolution one 0.9541 against 0.9572.
Without Q/DQ on Conv outputs ORT runs those Convs in float on the dequantized inputs, which is
exactly the quantization error TensorRT will see. Default: none excluded (the graph as ORT's
quantizer places it).

A model may also ask, with `meta["int8_cpu_reduce_range"] = true`, for the `cpu` variant's
weights to use 7 bits (ORT's `reduce_range`): the same VPMADDUBSW pair sums then stay below
2 * 255 * 64 = 32,640, so the U8S8 kernels of AVX2 CPUs without VNNI cannot saturate, at no
speed cost there (ORT recommends it for such CPUs); on VNNI CPUs it only gives up one bit of
weight precision. Default: 8-bit weights.

The static quantizer cannot handle LSTM, so a model chooses its mode in
`meta["int8"]`: `"static"` (the default), `"dynamic"` (`quantize_dynamic`: INT8 weights,
activations quantized at run time; CPU only) or `"none"` (stays FP32). Elementwise bounds
mean little at INT8, so each variant is judged by the change in the model card's main
metric on held-out data: a loss of more than `max_loss` (1 point on a 0-1 metric) is
refused with `QuantizationError` unless forced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.export.errors import QuantizationError
from vigil.export.progress import Progress, quiet

MODES = ("static", "dynamic", "none")
MAX_LOSS = 0.01
Arrays = dict[str, np.ndarray]

# target -> (file name, backends it is for)
TARGETS = {
    "trt": ("model.int8.trt.onnx", ("tensorrt",)),
    "cpu": ("model.int8.cpu.onnx", ("onnxruntime-cpu",)),
}
DYNAMIC_FILE = "model.int8.cpu.onnx"


@dataclass(frozen=True, slots=True)
class Int8Variant:
    """One INT8 file and what measuring it found."""

    target: str  # "trt", "cpu" (static) or "dynamic"
    path: Path
    backends: tuple[str, ...]
    metric: float | None  # main metric of this variant on held-out data (None: not measured)
    metric_change: float | None  # metric minus FP32's
    note: str


def int8_mode(meta: Mapping[str, Any], *, model: str = "model") -> str:
    """The quantization mode a model asks for in its meta (`static` unless it says)."""
    mode = meta.get("int8", "static")
    if mode not in MODES:
        raise QuantizationError(
            f"{model}: meta['int8'] is {mode!r}; expected one of {', '.join(MODES)}"
        )
    return str(mode)


class _Reader:
    """ONNX Runtime's `CalibrationDataReader` over a list of input batches (it must be a
    subclass, so the class is made when onnxruntime is imported)."""

    @staticmethod
    def make(batches: list[Arrays]) -> Any:
        from onnxruntime.quantization import CalibrationDataReader

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(batches)

            def get_next(self) -> Arrays | None:
                return next(self._it, None)

            def rewind(self) -> None:
                self._it = iter(batches)

        return Reader()


def preprocess(fp32: str | Path, out: str | Path, *, model: str = "model") -> Path:
    """The FP32 graph optimised and shape-inferred as the quantizer wants it.

    Symbolic shape inference can fail on unusual graphs; it is then skipped (ONNX's own
    inference still runs), since it only helps the quantizer find more to quantize.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, out = Path(fp32).resolve(), Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="vigil-preprocess-") as scratch, _cwd(scratch):
        # ORT's symbolic shape inference dumps `sym_shape_infer_temp.onnx` (and its external
        # data) into the working directory when it gives up; keep that out of the user's.
        try:
            quant_pre_process(str(source), str(out))
        except Exception:  # symbolic shape inference raises assorted errors; retry without it
            try:
                quant_pre_process(str(source), str(out), skip_symbolic_shape=True)
            except Exception as exc:
                raise QuantizationError(
                    f"{model}: quantization pre-processing (shape inference) failed: {exc}"
                ) from exc
    return out


@contextlib.contextmanager
def _cwd(directory: str) -> Iterator[None]:
    saved = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(saved)


def quantize_static_int8(
    prepared: str | Path,
    out: str | Path,
    calibration: list[Arrays],
    *,
    target: str,
    per_channel: bool = True,
    model: str = "model",
    exclude_output_ops: Sequence[str] = (),
    reduce_range: bool = False,
) -> Path:
    """A QDQ INT8 copy of `prepared` (a `preprocess`ed FP32 model) for `target`.

    `exclude_output_ops`: op types whose outputs get no Q/DQ (their consumers' inputs still
    do); see the module docstring for why the `trt` target may want `("Conv",)`.
    `reduce_range`: 7-bit weights (the `cpu` target only; TensorRT wants the full range).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if target not in TARGETS:
        raise QuantizationError(f"{model}: unknown INT8 target {target!r} (trt or cpu)")
    if not calibration:
        raise QuantizationError(f"{model}: no calibration data: static INT8 needs some")
    if reduce_range and target != "cpu":
        raise QuantizationError(f"{model}: reduce_range (7-bit weights) is for the cpu target")
    if target == "trt":
        activations = QuantType.QInt8
        extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False}
    else:
        activations = QuantType.QUInt8
        extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
    if exclude_output_ops:
        extra["OpTypesToExcludeOutputQuantization"] = list(exclude_output_ops)
    out = Path(out)
    try:
        quantize_static(
            str(prepared),
            str(out),
            _Reader.make(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=activations,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            reduce_range=reduce_range,
            extra_options=extra,
        )
    except Exception as exc:  # the quantizer raises many types; name the model and step
        raise QuantizationError(
            f"{model}: static INT8 quantization ({target}) failed: "
            f"{type(exc).__name__}: {exc}; set meta['int8'] to 'dynamic' or 'none' if "
            "the graph has ops the static quantizer does not handle (LSTM)"
        ) from exc
    return out


def quantize_dynamic_int8(prepared: str | Path, out: str | Path, *, model: str = "model") -> Path:
    """INT8 weights with activations quantized at run time (handles LSTM; CPU only)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        quantize_dynamic(str(prepared), str(out), per_channel=False, weight_type=QuantType.QInt8)
    except Exception as exc:
        raise QuantizationError(
            f"{model}: dynamic INT8 quantization failed: {type(exc).__name__}: {exc}; "
            "set meta['int8'] to 'none' to ship FP32 only"
        ) from exc
    return Path(out)


def judge(
    *,
    model: str,
    label: str,
    metric_name: str,
    fp32: float,
    int8: float,
    max_loss: float = MAX_LOSS,
    force: bool = False,
    higher_is_better: bool = True,
) -> tuple[float, str]:
    """`(metric_change, note)` for an INT8 variant, or `QuantizationError` if it loses more
    than `max_loss` of the main metric and is not forced."""
    change = int8 - fp32
    loss = -change if higher_is_better else change
    if loss <= max_loss:
        return change, f"{metric_name} {int8:.4f} vs FP32 {fp32:.4f} (change {change:+.4f})"
    if not force:
        raise QuantizationError(
            f"{model}: INT8 ({label}) {metric_name} is {int8:.4f} against FP32's {fp32:.4f}: "
            f"it loses {loss:.4f}, more than the bound {max_loss:g}. Nothing was written. "
            "Check the calibration data, keep FP32 (no --int8), or write it anyway with --force"
        )
    return change, (
        f"FORCED: {metric_name} {int8:.4f} vs FP32 {fp32:.4f} loses {loss:.4f}, "
        f"more than the bound {max_loss:g}"
    )


def quantize_int8(
    fp32: str | Path,
    out_dir: str | Path,
    *,
    mode: str = "static",
    calibration: Iterable[Mapping[str, np.ndarray]] | None = None,
    measure: Callable[[Path], float] | None = None,
    fp32_metric: float | None = None,
    metric_name: str = "metric",
    max_loss: float = MAX_LOSS,
    higher_is_better: bool = True,
    force: bool = False,
    model: str = "model",
    progress: Progress | None = None,
    targets: Sequence[str] = ("trt", "cpu"),
    trt_exclude_output_ops: Sequence[str] = (),
    cpu_reduce_range: bool = False,
) -> list[Int8Variant]:
    """Write the INT8 variants of `fp32` for `mode` into `out_dir`; each measured and judged.
    `targets` picks the static variants (a model whose symmetric variant fails its metric can
    ship the CPU one alone, with the reason in its meta). `trt_exclude_output_ops` (a model's
    `meta["int8_trt_exclude_output_ops"]`) leaves those op types' outputs unquantized in the
    `trt` variant only; `cpu_reduce_range` (`meta["int8_cpu_reduce_range"]`) gives the
    `cpu` variant 7-bit weights.

    `measure(path) -> main metric` runs a variant on held-out data; without it (a user
    module with no evaluation) variants are written unmeasured and say so in their note.
    """
    say = progress or quiet(model)
    out_dir = Path(out_dir)
    if mode == "none":
        say("INT8: skipped (meta['int8'] is 'none'); the artifact stays FP32")
        return []
    if mode not in MODES:
        raise QuantizationError(f"{model}: unknown INT8 mode {mode!r}")
    batches = [dict(b) for b in calibration] if calibration is not None else []
    with tempfile.TemporaryDirectory(prefix="vigil-int8-") as scratch:
        say("INT8: pre-processing (optimisation, shape inference)")
        prepared = preprocess(fp32, Path(scratch) / "prepared.onnx", model=model)
        if mode == "dynamic":
            jobs = [("dynamic", DYNAMIC_FILE, ("onnxruntime-cpu",))]
        else:
            if not batches:
                raise QuantizationError(f"{model}: static INT8 needs calibration data")
            unknown = [t for t in targets if t not in TARGETS]
            if unknown or not targets:
                raise QuantizationError(
                    f"{model}: INT8 targets {list(targets)}: choose from {', '.join(TARGETS)}"
                )
            jobs = [(t, *TARGETS[t]) for t in targets]
        if isinstance(trt_exclude_output_ops, str) or not all(
            isinstance(op, str) for op in trt_exclude_output_ops
        ):
            raise QuantizationError(
                f"{model}: meta['int8_trt_exclude_output_ops'] must be a list of op type "
                f"names (e.g. ['Conv']), not {trt_exclude_output_ops!r}"
            )
        if not isinstance(cpu_reduce_range, bool):
            raise QuantizationError(
                f"{model}: meta['int8_cpu_reduce_range'] must be true or false, "
                f"not {cpu_reduce_range!r}"
            )
        made = []
        for target, file, backends in jobs:
            path = out_dir / file
            if target == "dynamic":
                say("INT8: dynamic quantization (weights INT8, activations at run time)")
                quantize_dynamic_int8(prepared, path, model=model)
                how = "dynamic quantization: INT8 weights, activations quantized at run time"
            else:
                kind = "symmetric S8S8" if target == "trt" else "U8 activations, S8 weights"
                skip = tuple(trt_exclude_output_ops) if target == "trt" else ()
                if skip:
                    kind += f", no Q/DQ on {'/'.join(skip)} outputs"
                reduce = cpu_reduce_range and target == "cpu"
                if reduce:
                    kind += " (7-bit, reduce_range)"
                say(f"INT8 ({target}): static QDQ, per-channel, {kind}, {len(batches)} batches")
                quantize_static_int8(
                    prepared,
                    path,
                    batches,
                    target=target,
                    model=model,
                    exclude_output_ops=skip,
                    reduce_range=reduce,
                )
                how = f"static QDQ, per-channel weights, {kind}"
            made.append((target, path, backends, how))
    variants = []
    for target, path, backends, how in made:
        if measure is None or fp32_metric is None:
            note = f"{how}; metric change not measured (no evaluation for this model)"
            variants.append(Int8Variant(target, path, backends, None, None, note))
            continue
        say(f"INT8 ({target}): measuring {metric_name} on held-out data")
        value = float(measure(path))
        change, verdict = judge(
            model=model,
            label=target,
            metric_name=metric_name,
            fp32=fp32_metric,
            int8=value,
            max_loss=max_loss,
            force=force,
            higher_is_better=higher_is_better,
        )
        say(f"INT8 ({target}): {verdict}")
        variants.append(Int8Variant(target, path, backends, value, change, f"{how}; {verdict}"))
    return variants
