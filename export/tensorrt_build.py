"""Build TensorRT engines from ONNX: the one module that calls TensorRT's builder.

UNVERIFIED: TensorRT and a GPU are absent from the development and CI machines, so the
builder calls here have never run. They are written against the TensorRT 10 Python API
documentation and the TensorRT 10.x → 11.x migration guide. `API_COMMON`, `API_WEAK` and
`API_STRONG` list every attribute used; `tests/test_tensorrt_api.py` checks them wherever
`tensorrt` imports, and `tests/test_tensorrt_backend.py` builds and runs an engine where a
GPU exists. What *is* verified here: the ONNX preparation steps (FP16 conversion, the Q/DQ
check), which need only onnx and ONNX Runtime.

Two API generations, decided in one place (`api_generation`):
- **weak typing** (TensorRT 10.x, what JetPack 6 ships): precision is a builder hint.
  FP16 → `BuilderFlag.FP16` on the FP32 graph; INT8 → `BuilderFlag.INT8` on the symmetric
  Q/DQ graph (explicit quantization: the scales are in the graph, no calibrator).
- **strong typing** (TensorRT 11, which removed FP16/INT8 flags and the calibrator): the
  network is created `STRONGLY_TYPED` and every tensor's type comes from the graph. FP16
  needs an FP16 graph, made here by converting the FP32 ONNX (`onnxconverter-common` if
  installed, else the same converter inside `onnxruntime.transformers`), with float32 inputs
  and outputs kept so the runtime feeds the same arrays; INT8 is the Q/DQ graph as is.
  NVIDIA recommends ModelOpt AutoCast for mixed precision; a whole-graph FP16 conversion is
  simpler and, like any reduced precision, must be judged by the model card's metric.

The steps, each usable alone (STYLE.md, Polygraphy's loaders):
`prepare_onnx` (the graph this generation and precision need) → `build_engine` (parse,
profile, precision, workspace, DLA, timing cache → serialized engine bytes) →
`build_cached` (through export/engine_cache.py, so a valid engine is never rebuilt and an
invalid one never used). A build takes minutes on a Jetson: every stage reports progress,
and a heartbeat says the builder is still working.
"""

from __future__ import annotations

import enum
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.errors import VigilError
from vigil.export.engine_cache import (
    BatchProfile,
    EngineCache,
    EngineKey,
    Platform,
    engine_key,
    query_platform,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

# Every TensorRT attribute used, as "Class.attribute"; checked where tensorrt imports.
API_COMMON: tuple[str, ...] = (
    "__version__",
    "Logger",
    "Logger.WARNING",
    "Builder",
    "Builder.create_network",
    "Builder.create_builder_config",
    "Builder.create_optimization_profile",
    "Builder.build_serialized_network",
    "Builder.num_DLA_cores",
    "OnnxParser",
    "OnnxParser.parse_from_file",
    "OnnxParser.num_errors",
    "OnnxParser.get_error",
    "INetworkDefinition.num_inputs",
    "INetworkDefinition.get_input",
    "ITensor.name",
    "ITensor.shape",
    "IOptimizationProfile.set_shape",
    "IBuilderConfig.add_optimization_profile",
    "IBuilderConfig.set_memory_pool_limit",
    "IBuilderConfig.set_flag",
    "IBuilderConfig.default_device_type",
    "IBuilderConfig.DLA_core",
    "IBuilderConfig.create_timing_cache",
    "IBuilderConfig.set_timing_cache",
    "IBuilderConfig.get_timing_cache",
    "ITimingCache.serialize",
    "MemoryPoolType.WORKSPACE",
    "DeviceType.DLA",
    "BuilderFlag.GPU_FALLBACK",
)
API_WEAK: tuple[str, ...] = ("BuilderFlag.FP16", "BuilderFlag.INT8")
API_STRONG: tuple[str, ...] = ("NetworkDefinitionCreationFlag.STRONGLY_TYPED",)

DEFAULT_WORKSPACE = 1 << 30  # 1 GiB: generous for these models, modest for a Jetson Orin


class TensorRTBuildError(VigilError):
    """An engine cannot be built; the message says which file and why."""


class Generation(enum.Enum):
    WEAK_TYPING = "weak typing (TensorRT 10.x builder flags)"
    STRONG_TYPING = "strong typing (TensorRT 11+, precision from the graph)"


def api_generation(trt: Any) -> Generation:
    """The one place that decides which builder API this TensorRT speaks.

    By capability as well as version: 11 removed `BuilderFlag.FP16`/`INT8`, so a 10.x build
    without them (unlikely) is treated as strongly typed too.
    """
    version = str(trt.__version__)
    major = int(version.split(".", maxsplit=1)[0])
    if major < 10:
        raise TensorRTBuildError(f"TensorRT {version} is too old: Vigil builds with 10 or later")
    flags = trt.BuilderFlag
    if major >= 11 or not (hasattr(flags, "FP16") and hasattr(flags, "INT8")):
        return Generation.STRONG_TYPING
    return Generation.WEAK_TYPING


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTBuildError(
            f"tensorrt is not installed ({exc}): on a Jetson it comes with JetPack "
            "(python3-libnvinfer); elsewhere pip install tensorrt"
        ) from exc
    return trt


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """How to build. `precision`: "fp32", "fp16" or "int8" (int8 needs the Q/DQ graph).
    `workspace_bytes`: the builder's scratch-memory limit (Jetsons share RAM with the GPU).
    `dla_core`: run on this DLA core, falling back to the GPU for layers DLA cannot run
    (DLA has no FP32). `timing_cache`: a file of kernel timings kept between builds, which
    cuts rebuilds from minutes to seconds."""

    precision: str = "fp16"
    profile: BatchProfile = field(default_factory=BatchProfile)
    workspace_bytes: int = DEFAULT_WORKSPACE
    dla_core: int | None = None
    timing_cache: Path | None = None

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "fp16", "int8"):
            raise TensorRTBuildError(f"precision {self.precision!r} is not fp32, fp16 or int8")
        if self.dla_core is not None and self.precision == "fp32":
            raise TensorRTBuildError("DLA runs FP16 or INT8 only: choose --precision fp16/int8")
        if self.workspace_bytes <= 0:
            raise TensorRTBuildError("workspace limit must be positive")


# --- ONNX preparation (verified: needs onnx and onnxruntime only) ---------------------------


def qdq_problems(onnx_path: Path) -> list[str]:
    """Why `onnx_path` is not a graph TensorRT can build at INT8 (empty if it is).

    TensorRT's explicit quantization wants QuantizeLinear/DequantizeLinear pairs with zero
    point 0 (symmetric); ONNX Runtime's CPU-tuned U8 graphs use nonzero zero points.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path), load_external_data=False)
    graph = model.graph
    quantize = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    if not quantize:
        return [f"{onnx_path.name} has no QuantizeLinear nodes: INT8 needs the Q/DQ graph"]
    constants = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            constants.setdefault(node.output[0], node.attribute[0].t)
    problems = []
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zero = constants.get(node.input[2])
            if zero is not None and numpy_helper.to_array(zero).any():
                problems.append(
                    f"{node.op_type} {node.name or node.output[0]} has a nonzero zero point "
                    "(asymmetric); TensorRT needs symmetric Q/DQ: use the artifact's "
                    "TensorRT INT8 variant, not the CPU one"
                )
    return problems


def fp16_converter() -> Callable[..., Any]:
    """`convert_float_to_float16` from onnxconverter-common, else from onnxruntime."""
    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError:
        try:
            from onnxruntime.transformers.float16 import convert_float_to_float16
        except ImportError as exc:
            raise TensorRTBuildError(
                "an FP16 engine under TensorRT 11 needs an FP16 ONNX graph, and no converter "
                "is installed: pip install onnxconverter-common (or onnxruntime with its "
                "transformers tools)"
            ) from exc
    return convert_float_to_float16


def convert_to_fp16(onnx_path: Path, out_path: Path) -> Path:
    """Write an FP16 copy of an FP32 graph, inputs and outputs left float32.

    Keeping float32 I/O means the runtime feeds the same arrays whichever engine it runs;
    the casts at the edges cost nothing next to the network.
    """
    import onnx

    convert = fp16_converter()
    model = onnx.load(str(onnx_path))
    converted = convert(model, keep_io_types=True)
    onnx.save(converted, str(out_path))
    return out_path


def prepare_onnx(onnx_path: Path, precision: str, generation: Generation, workdir: Path) -> Path:
    """The ONNX file `build_engine` should parse for this precision and API generation."""
    if precision == "int8":
        if problems := qdq_problems(onnx_path):
            raise TensorRTBuildError(f"{onnx_path}: cannot build INT8: " + "; ".join(problems))
        return onnx_path
    if precision == "fp16" and generation is Generation.STRONG_TYPING:
        return convert_to_fp16(onnx_path, workdir / f"{onnx_path.stem}.fp16.onnx")
    return onnx_path


# --- the builder (UNVERIFIED) ----------------------------------------------------------------


def build_engine(
    onnx_path: str | Path,
    options: BuildOptions,
    *,
    progress: Progress | None = None,
) -> bytes:
    """Parse `onnx_path`, configure and build; returns the serialized engine."""
    say = progress or log.info
    onnx_path = Path(onnx_path)
    trt = import_tensorrt()
    generation = api_generation(trt)
    say(f"TensorRT {trt.__version__}: {generation.value}")
    with tempfile.TemporaryDirectory(prefix="vigil-trt-") as tmp:
        source = prepare_onnx(onnx_path, options.precision, generation, Path(tmp))
        if source != onnx_path:
            say(f"converted {onnx_path.name} to an FP16 graph for a strongly typed build")
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(_network_flags(trt, generation))
        parser = trt.OnnxParser(network, logger)
        say(f"parsing {source}")
        if not parser.parse_from_file(str(source)):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise TensorRTBuildError(
                f"TensorRT's ONNX parser rejected {onnx_path}:\n  " + "\n  ".join(errors)
            )
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_bytes)
        _set_precision(trt, config, generation, options.precision)
        _set_profile(builder, network, config, options.profile, onnx_path)
        if options.dla_core is not None:
            _set_dla(trt, builder, config, options.dla_core)
        timing = _load_timing_cache(config, options.timing_cache, say)
        say(
            f"building {options.precision} engine (batch {options.profile.min}.."
            f"{options.profile.max}, opt {options.profile.opt}); this can take minutes"
        )
        started = time.monotonic()
        with _heartbeat(say, started):
            serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise TensorRTBuildError(
                f"TensorRT could not build an engine from {onnx_path} (see its log above)"
            )
        say(f"engine built in {time.monotonic() - started:.0f} s")
        if options.timing_cache is not None and timing is not None:
            _save_timing_cache(config, options.timing_cache, say)
        return bytes(serialized)


def _network_flags(trt: Any, generation: Generation) -> int:
    if generation is Generation.STRONG_TYPING:
        # required on 10.x to opt in; accepted (and implied) on 11
        flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        return 0 if flag is None else 1 << int(flag)
    return 0  # explicit batch is the only mode since TensorRT 10


def _set_precision(trt: Any, config: Any, generation: Generation, precision: str) -> None:
    if generation is Generation.STRONG_TYPING or precision == "fp32":
        return  # types come from the (converted or Q/DQ) graph
    config.set_flag(trt.BuilderFlag.FP16 if precision == "fp16" else trt.BuilderFlag.INT8)


def _set_profile(
    builder: Any, network: Any, config: Any, batch: BatchProfile, onnx_path: Path
) -> None:
    profile = builder.create_optimization_profile()
    dynamic = False
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        shape = tuple(int(d) for d in tensor.shape)
        if any(d < 0 for d in shape[1:]):
            raise TensorRTBuildError(
                f"{onnx_path}: input {tensor.name} has shape {list(shape)}: only the batch "
                "axis may be dynamic"
            )
        if shape and shape[0] < 0:
            dynamic = True
            rest = shape[1:]
            profile.set_shape(
                tensor.name, (batch.min, *rest), (batch.opt, *rest), (batch.max, *rest)
            )
        elif shape and not batch.min == batch.opt == batch.max == shape[0]:
            raise TensorRTBuildError(
                f"{onnx_path}: input {tensor.name} has a fixed batch of {shape[0]}, so the "
                f"profile must be {shape[0]}/{shape[0]}/{shape[0]}"
            )
    if dynamic:
        config.add_optimization_profile(profile)


def _set_dla(trt: Any, builder: Any, config: Any, core: int) -> None:
    available = int(builder.num_DLA_cores)
    if not 0 <= core < available:
        raise TensorRTBuildError(
            f"DLA core {core} does not exist: this device has {available} DLA core(s)"
        )
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def _load_timing_cache(config: Any, path: Path | None, say: Progress) -> Any:
    if path is None:
        return None
    data = path.read_bytes() if path.is_file() else b""
    try:
        cache = config.create_timing_cache(data)
        fits = bool(config.set_timing_cache(cache, False))
    except (RuntimeError, TypeError, ValueError) as exc:  # a cache from another TensorRT
        say(f"timing cache {path} is unreadable here ({exc})")
        fits = False
    if not fits:
        say(f"timing cache {path} does not fit this TensorRT/GPU; starting a new one")
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    elif data:
        say(f"using timing cache {path}")
    return cache


def _save_timing_cache(config: Any, path: Path, say: Progress) -> None:
    data = bytes(config.get_timing_cache().serialize())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    say(f"timing cache saved: {path}")


@contextmanager
def _heartbeat(say: Progress, started: float, every: float = 30.0) -> Iterator[None]:
    """Report every `every` seconds while the builder works (runs if it releases the GIL)."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every):
            say(f"still building ({time.monotonic() - started:.0f} s)")

    thread = threading.Thread(target=beat, name="trt-build-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def build_cached(
    onnx_path: str | Path,
    cache: EngineCache,
    options: BuildOptions,
    *,
    platform: Platform | None = None,
    progress: Progress | None = None,
) -> Path:
    """The engine for `onnx_path` from `cache`, built and stored first if not valid there."""
    platform = platform or query_platform()
    key: EngineKey = engine_key(
        onnx_path, platform, options.precision, options.profile, options.dla_core
    )
    return cache.get_or_build(
        key, lambda: build_engine(onnx_path, options, progress=progress), progress=progress
    )
