"""The export chain composed: `load_weights -> to_onnx -> check_parity -> quantize_int8 ->
(build_engine) -> write_artifact`.

Two entry points: `export_reference` for a `ReferenceModel` (real held-out samples, a real
evaluation, so INT8 is judged by its main metric) and `export_module` for any `nn.Module` a
user brings (no evaluation: parity on random inputs; INT8 only with the user's calibration
data, and then recorded as unmeasured rather than presented as safe). Both check that the
output directory is writable and that requested tools exist before the slow work starts,
stage every file in a hidden directory inside `out`, and write the manifest last.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.artifacts import Artifact, Manifest, TensorInfo, Variant, sha256_file
from vigil.errors import ConfigError
from vigil.export.artifact_writer import json_ready, prepare_output, tensor_info, write_artifact
from vigil.export.errors import ExportError, require_export_extra
from vigil.export.progress import Progress

TRACE_BATCH = 2  # torch.export specialises a size-1 axis, so trace at 2
PARITY_BATCHES = (1, 8)
CALIBRATION_SAMPLES = 128  # examples for `calibration_inputs(seed, n)`; meta may override
CALIBRATION_CHUNK = 8  # samples per batch when splitting a user's calibration file
FP32_FILE = "model.onnx"

InputSpec = tuple[str, tuple[int | str, ...], str]  # name, shape ("batch" first), dtype


def export_reference(
    model: Any,
    out: str | Path,
    *,
    int8: bool = False,
    trt: bool = False,
    force: bool = False,
    progress: bool = True,
    seed: int = 0,
) -> Artifact:
    """Export a `ReferenceModel` with its shipped weights to the artifact directory `out`.

    Metrics in the manifest come from the FP32 ONNX file run through ONNX Runtime with the
    model's own `evaluate` (seed `meta["eval_seed"]`, default 0), so the numbers describe
    what the runtime will run, not the PyTorch module.
    """
    from vigil.export.onnx_export import OPSET, graph_io, to_onnx
    from vigil.export.ort_predict import ort_predict
    from vigil.export.parity import check_parity, random_inputs
    from vigil.export.quantize import int8_mode, quantize_int8
    from vigil.export.weights import load_weights

    name = model.name
    say = Progress(name, progress)
    require_export_extra(f"exporting {name}")
    meta = json_ready(model.meta, model=name)
    mode = int8_mode(meta, model=name) if int8 else "none"
    builder = _tensorrt_builder(name) if trt else None
    out = prepare_output(out, model=name)
    weights = Path(model.weights)
    if not weights.is_file():
        raise ExportError(
            f"{name}: shipped weights {weights} are missing; run `vigil train {name}`"
        )
    weights_sha256 = sha256_file(weights)
    say(f"loading weights {weights.name}")
    module = load_weights(model.build(), weights, model=name)
    specs: list[InputSpec] = [(t.name, tuple(t.shape), t.dtype) for t in model.inputs]
    output_names = [t.name for t in model.outputs]
    eval_seed = int(meta.get("eval_seed", 0))

    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as scratch:
        stage = Path(scratch)
        fp32 = to_onnx(
            module,
            _float32(model.example_inputs(seed, TRACE_BATCH)),
            stage / FP32_FILE,
            output_names=output_names,
            model=name,
            progress=say,
        )
        _check_declared_shapes(name, graph_io(fp32), model.inputs, model.outputs)
        cases = [
            (f"random inputs, batch {b}", random_inputs(specs, b, seed + b)) for b in PARITY_BATCHES
        ]
        cases += [
            (
                f"example inputs (seed {seed + 1}), batch {b}",
                _float32(model.example_inputs(seed + 1, b)),
            )
            for b in PARITY_BATCHES
        ]
        report = check_parity(
            module, fp32, cases, output_names=output_names, model=name, progress=say
        )
        say(report.summary())

        say(f"evaluating the FP32 ONNX model through ONNX Runtime (seed {eval_seed})")
        metrics = _metrics(name, model.evaluate(ort_predict(fp32), eval_seed), model.main_metric)
        fp32_metric = metrics[model.main_metric]
        say(f"{model.main_metric} = {fp32_metric:.4f}")
        variants = [Variant(FP32_FILE, "fp32", ("any",), None, "parity-checked against PyTorch")]
        export_meta: dict[str, Any] = {
            "parity": report.to_dict(),
            "int8": mode if int8 else "not requested",
        }

        if int8:
            n = int(meta.get("calibration_samples", CALIBRATION_SAMPLES))
            calibration = None
            if mode == "static":
                calibration = [_float32(b) for b in model.calibration_inputs(seed, n)]

            def measure(path: Path) -> float:
                result = model.evaluate(ort_predict(path), eval_seed)
                return float(_metrics(name, result, model.main_metric)[model.main_metric])

            made = quantize_int8(
                fp32,
                stage,
                mode=mode,
                calibration=calibration,
                measure=measure,
                fp32_metric=fp32_metric,
                metric_name=model.main_metric,
                higher_is_better=bool(meta.get("higher_is_better", True)),
                force=force,
                model=name,
                progress=say,
                targets=tuple(meta.get("int8_targets", ("trt", "cpu"))),
                trt_exclude_output_ops=meta.get("int8_trt_exclude_output_ops", ()),
                cpu_reduce_range=meta.get("int8_cpu_reduce_range", False),
            )
            variants += [
                Variant(v.path.name, "int8", v.backends, v.metric_change, v.note) for v in made
            ]
            if mode == "none":
                export_meta["int8_note"] = "the model's meta asks for FP32 only (int8: none)"
        if builder is not None:
            variants += _build_engines(builder, stage, variants, meta, say)

        manifest = Manifest(
            name=name,
            version=model.version,
            task=model.task,
            inputs=tuple(tensor_info(t) for t in model.inputs),
            outputs=tuple(tensor_info(t) for t in model.outputs),
            variants=tuple(variants),
            files={},
            meta={**meta, "export": {**export_meta, **_versions()}},
            metrics=metrics,
            main_metric=model.main_metric,
            opset=OPSET,
            weights_sha256=weights_sha256,
        )
        artifact = write_artifact(out, {v.file: stage / v.file for v in variants}, manifest)
    say(f"wrote {out} ({', '.join(v.file for v in variants)})")
    return artifact


def export_module(
    build_fn: Callable[[], Any] | str,
    weights: str | Path,
    inputs: Sequence[tuple[str, Sequence[int]]],
    out: str | Path,
    meta: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    output_names: Sequence[str] | None = None,
    calibration: str | Path | None = None,
    int8: bool = False,
    trt: bool = False,
    force: bool = False,
    progress: bool = True,
    seed: int = 0,
) -> Artifact:
    """Export a user's module: `build_fn()` (or `"package.module:build_fn"`) with `weights`.

    `inputs` are `(name, shape)` with axis 0 the batch axis (exported dynamic). `meta` may
    hold `name`, `version`, `task`, per-tensor `inputs`/`outputs` details (`layout`,
    `units`, `description`), `int8` (static/dynamic/none) and anything else the runtime
    should read (labels, units, normalisation, sample rate), copied into the manifest.
    There is no evaluation for a user module, so parity runs on random inputs and INT8
    (which needs `calibration`, an .npz of samples keyed by input name, for static mode)
    is recorded as unmeasured, with its output drift from FP32 on the calibration data.
    """
    from vigil.export.onnx_export import OPSET, graph_io, to_onnx
    from vigil.export.parity import check_parity, random_inputs
    from vigil.export.quantize import int8_mode, quantize_int8
    from vigil.export.weights import load_weights

    if isinstance(build_fn, str):
        build_fn = resolve_callable(build_fn)
    user_meta = dict(meta or {})
    name = name or user_meta.pop("name", None) or _default_name(build_fn)
    user_meta.pop("name", None)
    say = Progress(name, progress)
    require_export_extra(f"exporting {name}")
    specs = _input_specs(name, inputs)
    details_in = user_meta.pop("inputs", {}) or {}
    details_out = user_meta.pop("outputs", {}) or {}
    version = str(user_meta.pop("version", "0.0.0"))
    task = str(user_meta.pop("task", "custom"))
    user_meta = json_ready(user_meta, model=name)
    mode = int8_mode(user_meta, model=name) if int8 else "none"
    if int8 and mode == "static" and calibration is None:
        raise ExportError(
            f"{name}: --int8 for a user module needs --calibration FILE.npz (representative "
            "inputs keyed by input name): without real data the INT8 ranges would be guesses"
        )
    batches = _calibration_batches(name, calibration, specs) if calibration else None
    builder = _tensorrt_builder(name) if trt else None
    out = prepare_output(out, model=name)
    weights = Path(weights)
    say(f"loading weights {weights.name}")
    try:
        module = build_fn()
    except Exception as exc:  # user code: report it as theirs, with the cause attached
        raise ExportError(f"{name}: {_callable_name(build_fn)}() failed: {exc!r}") from exc
    module = load_weights(module, weights, model=name)
    weights_sha256 = sha256_file(weights)
    trace = random_inputs(specs, TRACE_BATCH, seed)
    names = list(
        output_names or user_meta.pop("output_names", None) or _probe_outputs(module, trace)
    )

    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as scratch:
        stage = Path(scratch)
        fp32 = to_onnx(
            module, trace, stage / FP32_FILE, output_names=names, model=name, progress=say
        )
        io = graph_io(fp32)
        cases = [
            (f"random inputs, batch {b}", random_inputs(specs, b, seed + b)) for b in PARITY_BATCHES
        ]
        if batches:
            cases.append(("calibration samples", batches[0]))
        report = check_parity(module, fp32, cases, output_names=names, model=name, progress=say)
        say(report.summary())
        variants = [Variant(FP32_FILE, "fp32", ("any",), None, "parity-checked against PyTorch")]
        export_meta: dict[str, Any] = {
            "parity": report.to_dict(),
            "int8": mode if int8 else "not requested",
        }
        if int8:
            made = quantize_int8(
                fp32, stage, mode=mode, calibration=batches, model=name, progress=say
            )
            for v in made:
                drift = _drift(fp32, v.path, batches or [cases[0][1]])
                note = f"{v.note}; max |INT8 - FP32| output difference {drift:.4g}"
                say(f"INT8 ({v.target}): unmeasured metric; output drift {drift:.4g}")
                variants.append(Variant(v.path.name, "int8", v.backends, None, note))
        if builder is not None:
            variants += _build_engines(builder, stage, variants, user_meta, say)

        def info(entry: tuple[str, tuple[int | str, ...], str], details: Any) -> TensorInfo:
            tensor, shape, dtype = entry
            extra = details.get(tensor, {}) if isinstance(details, Mapping) else {}
            return TensorInfo(
                tensor,
                ("batch", *shape[1:]),
                dtype,
                str(extra.get("layout", "")),
                str(extra.get("units", "")),
                str(extra.get("description", "")),
            )

        manifest = Manifest(
            name=name,
            version=version,
            task=task,
            inputs=tuple(info(i, details_in) for i in io["inputs"]),
            outputs=tuple(info(o, details_out) for o in io["outputs"]),
            variants=tuple(variants),
            files={},
            meta={
                **user_meta,
                "export": {**export_meta, **_versions(), "source": _callable_name(build_fn)},
            },
            metrics={},
            main_metric="",
            opset=OPSET,
            weights_sha256=weights_sha256,
        )
        artifact = write_artifact(out, {v.file: stage / v.file for v in variants}, manifest)
    say(f"wrote {out} ({', '.join(v.file for v in variants)})")
    return artifact


def resolve_callable(spec: str) -> Callable[[], Any]:
    """`"package.module:attr"` (attr may be dotted) as the object it names."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--module {spec!r}: expected package.module:build_fn")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"--module {spec!r}: cannot import {module_name}: {exc} (is its folder on "
            "PYTHONPATH, or the package installed?)"
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"--module {spec!r}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"--module {spec!r}: {attr} is not callable")
    return obj


def _tensorrt_builder(model: str) -> Any:
    """The `vigil.export.tensorrt_build` module, or a clear error before any slow work if
    TensorRT (or that module) is not here."""
    try:
        from vigil.export import tensorrt_build
    except ModuleNotFoundError as exc:
        if exc.name != "vigil.export.tensorrt_build":
            raise
        raise ExportError(f"{model}: --trt: this Vigil has no TensorRT engine builder") from exc
    try:
        import tensorrt  # noqa: F401  (presence check only)
    except ImportError as exc:
        raise ExportError(
            f"{model}: --trt: TensorRT is not installed here. Engines are built on the target "
            "(a Jetson with JetPack, or a machine with an NVIDIA GPU and the tensorrt wheel): "
            "export without --trt here, then run the same command with --trt there"
        ) from exc
    return tensorrt_build


def _build_engines(
    trt_build: Any, stage: Path, variants: list[Variant], meta: Mapping[str, Any], say: Progress
) -> list[Variant]:
    """An FP16 engine from the FP32 graph, and an INT8 engine from the symmetric Q/DQ graph
    when there is one, written into the artifact beside the ONNX files.

    An engine only runs on the GPU and TensorRT version it was built with; the runtime's
    engine cache (keyed by both) decides whether a shipped engine can be used.
    """
    from vigil.export.engine_cache import BatchProfile

    max_batch = int(meta.get("max_batch", 8))
    profile = BatchProfile(min=1, opt=1, max=max_batch)
    jobs = [(FP32_FILE, "fp16", "model.fp16.engine")]
    if "model.int8.trt.onnx" in {v.file for v in variants}:
        jobs.append(("model.int8.trt.onnx", "int8", "model.int8.engine"))
    made = []
    for source, precision, engine in jobs:
        say(f"TensorRT: building a {precision} engine from {source} (minutes on a Jetson)")
        options = trt_build.BuildOptions(precision=precision, profile=profile)
        data = trt_build.build_engine(stage / source, options, progress=say)
        (stage / engine).write_bytes(data)
        note = f"built from {source}, batch 1..{max_batch}; valid only on this GPU and TensorRT"
        made.append(Variant(engine, precision, ("tensorrt",), None, note))
    return made


def _metrics(model: str, result: Mapping[str, Any], main: str) -> dict[str, float]:
    metrics = {k: float(v) for k, v in result.items() if isinstance(v, (int, float, np.number))}
    if main not in metrics:
        raise ExportError(
            f"{model}: evaluate() returned {sorted(metrics)}, without the main metric {main!r}"
        )
    return metrics


def _check_declared_shapes(model: str, io: Mapping[str, Any], inputs: Any, outputs: Any) -> None:
    """The ReferenceModel's declared TensorSpecs must describe the graph actually exported:
    the manifest is copied from the specs, and the runtime sizes its buffers from it."""
    for kind, specs in (("inputs", inputs), ("outputs", outputs)):
        graph = {n: shape for n, shape, _ in io[kind]}
        for spec in specs:
            shape = graph.get(spec.name)
            ok = (
                shape is not None
                and len(shape) == len(spec.shape)
                and all(
                    isinstance(g, str) if isinstance(d, str) else g == d
                    for g, d in zip(shape, spec.shape, strict=True)
                )
            )
            if not ok:
                raise ExportError(
                    f"{model}: {kind[:-1]} {spec.name} is declared {list(spec.shape)} but the "
                    f"exported graph has {list(shape) if shape else 'no such tensor'}"
                )


def _input_specs(model: str, inputs: Sequence[tuple[str, Sequence[int]]]) -> list[InputSpec]:
    if not inputs:
        raise ConfigError(f"{model}: at least one --input NAME:SHAPE is needed")
    seen = set()
    specs = []
    for tensor, shape in inputs:
        if tensor in seen:
            raise ConfigError(f"{model}: input {tensor!r} is given twice")
        seen.add(tensor)
        if len(shape) < 1 or any(int(d) < 1 for d in shape):
            raise ConfigError(f"{model}: input {tensor}: bad shape {list(shape)}")
        specs.append((tensor, ("batch", *(int(d) for d in shape[1:])), "float32"))
    return specs


def _calibration_batches(
    model: str, path: str | Path, specs: list[InputSpec]
) -> list[dict[str, np.ndarray]]:
    """Batches from an .npz of samples keyed by input name (never unpickled)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
    except (OSError, ValueError) as exc:
        raise ExportError(f"{model}: cannot read calibration data {path}: {exc}") from exc
    count = None
    for tensor, shape, _ in specs:
        if tensor not in arrays:
            raise ExportError(f"{model}: {path} has no array {tensor!r} (has {sorted(arrays)})")
        if arrays[tensor].shape[1:] != tuple(shape[1:]):
            raise ExportError(
                f"{model}: {path}[{tensor}] has samples of shape {arrays[tensor].shape[1:]}, "
                f"the input takes {tuple(shape[1:])}"
            )
        n = arrays[tensor].shape[0]
        if count is not None and n != count:
            raise ExportError(f"{model}: {path}: the inputs hold different sample counts")
        count = n
    if not count:
        raise ExportError(f"{model}: {path} holds no samples")
    return [
        {t: arrays[t][i : i + CALIBRATION_CHUNK] for t, _, _ in specs}
        for i in range(0, count, CALIBRATION_CHUNK)
    ]


def _drift(fp32: Path, int8: Path, batches: list[dict[str, np.ndarray]]) -> float:
    from vigil.export.ort_predict import ort_predict

    a, b = ort_predict(fp32), ort_predict(int8)
    worst = 0.0
    for batch in batches:
        ra, rb = a(batch), b(batch)
        for key in ra:
            worst = max(worst, float(np.max(np.abs(ra[key] - rb[key]))))
    return worst


def _probe_outputs(module: Any, inputs: dict[str, np.ndarray]) -> list[str]:
    """Output names for a user module: the dict's keys, else `output` / `output_<k>`."""
    import torch

    with torch.inference_mode():
        result = module(*(torch.from_numpy(v) for v in inputs.values()))
    if isinstance(result, Mapping):
        return [str(k) for k in result]
    if isinstance(result, (tuple, list)):
        return [f"output_{k}" for k in range(len(result))]
    return ["output"]


def _float32(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {
        k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
        for k, v in arrays.items()
    }


def _callable_name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _default_name(fn: Any) -> str:
    module = getattr(fn, "__module__", "") or ""
    return module.rsplit(".", 1)[-1] or getattr(fn, "__name__", "model")


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def iter_reference_models() -> Iterator[tuple[str, Any]]:
    """Every installed reference model, by name (for `vigil export --all`)."""
    from vigil.models.reference import reference_models

    yield from reference_models().items()
