"""Pick the best backend that can run an artifact here, and say why the others were skipped.

Preference, by default: native TensorRT (only when the engine cache holds an engine built
for this GPU, this TensorRT and this exact ONNX file) → ONNX Runtime's CUDA provider → ONNX
Runtime on the CPU. Each candidate is tried in turn: it needs a variant of the artifact at
the requested precision, its libraries, its device, and it must activate (warm up) without
error; the first that does is returned, activated, with a report naming every candidate and
why it was skipped. The report is logged, because "why is this Jetson running on the CPU?"
must be answerable from the log alone.

ONNX Runtime's TensorRT provider ("onnxruntime-tensorrt") is not in the default order: it
builds its engines inside session creation, minutes on a Jetson at every start unless its own
cache is configured, and the native path with Vigil's engine cache already covers TensorRT.
Name it in `prefer` to use it. PyTorch eager is not a runtime backend (the runtime never
imports torch); the benchmarks use it as the baseline from export/.

The runtime does not import export/: the engine cache reaches this module as
`engine_lookup`, a callable (export/engine_cache.py's `EngineCache.finder` makes one) that
returns the cached engine for an ONNX file and precision, or None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vigil.artifacts import Artifact
from vigil.runtime.artifact_loader import ModelFile, VariantNotFound, choose_variant
from vigil.runtime.backends.base import Backend, BackendError, BackendUnavailable

log = logging.getLogger(__name__)

DEFAULT_PREFERENCE: tuple[str, ...] = ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu")

# (ONNX file the engine is built from, precision) -> engine path valid for this GPU, or None
EngineLookup = Callable[[Path, str], Path | None]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate backend and what became of it."""

    backend: str
    chosen: bool
    reason: str  # why skipped, or what was chosen
    file: Path | None = None

    def line(self) -> str:
        mark = "chosen " if self.chosen else "skipped"
        where = f" [{self.file.name}]" if self.file is not None else ""
        return f"{mark} {self.backend}{where}: {self.reason}"


@dataclass(frozen=True)
class Selection:
    """The activated backend, the file it runs, and the report of every attempt."""

    backend: Backend
    model_file: ModelFile
    attempts: tuple[Attempt, ...]

    def report(self) -> str:
        return "\n".join(a.line() for a in self.attempts)


class NoBackend(BackendError):
    """No candidate backend can run the artifact here; the message holds the report."""

    def __init__(self, message: str, attempts: tuple[Attempt, ...]) -> None:
        super().__init__(message)
        self.attempts = attempts


def select_backend(
    artifact: Artifact,
    *,
    precision: str = "fp32",
    prefer: Sequence[str] = DEFAULT_PREFERENCE,
    engine_lookup: EngineLookup | None = None,
    intra_op_threads: int = 0,
    device: int = 0,
    check_finite: bool = True,
    activate: bool = True,
) -> Selection:
    """Return the first backend in `prefer` that can run `artifact` at `precision` here.

    Raises `NoBackend` (with every candidate's reason) if none can.
    """
    attempts: list[Attempt] = []
    for kind in prefer:
        try:
            model_file = choose_variant(artifact, kind, precision)
        except VariantNotFound:
            attempts.append(Attempt(kind, False, f"the artifact has no {precision} file for it"))
            continue
        try:
            backend = open_backend(
                kind,
                model_file,
                engine_lookup=engine_lookup,
                intra_op_threads=intra_op_threads,
                device=device,
                check_finite=check_finite,
            )
            if activate:
                backend.activate()
        except BackendUnavailable as exc:
            attempts.append(Attempt(kind, False, exc.reason, model_file.path))
            continue
        except BackendError as exc:
            attempts.append(Attempt(kind, False, f"failed: {exc}", model_file.path))
            continue
        attempts.append(Attempt(kind, True, f"{precision}, {backend!r}", model_file.path))
        selection = Selection(backend, model_file, tuple(attempts))
        log.info(
            "backend for %s: %s\n%s", artifact.manifest.name, kind, _indent(selection.report())
        )
        return selection
    report = "\n".join(a.line() for a in attempts)
    log.error("no backend can run %s:\n%s", artifact.manifest.name, _indent(report))
    raise NoBackend(
        f"no backend can run {artifact.manifest.name} ({artifact.directory}) at {precision}:\n"
        + report,
        tuple(attempts),
    )


def open_backend(
    kind: str,
    model_file: ModelFile,
    *,
    engine_lookup: EngineLookup | None,
    intra_op_threads: int,
    device: int,
    check_finite: bool,
) -> Backend:
    if kind == "tensorrt":
        from vigil.runtime.backends.tensorrt_backend import TensorRTBackend, import_tensorrt

        import_tensorrt()  # "tensorrt not installed" before any talk of engines
        engine = model_file.path
        if engine.suffix != ".engine":
            if engine_lookup is None:
                raise BackendUnavailable(
                    kind, "no engine cache configured (build engines with vigil export --trt)"
                )
            found = engine_lookup(model_file.path, model_file.precision)
            if found is None:
                raise BackendUnavailable(
                    kind,
                    f"no {model_file.precision} engine for this GPU and TensorRT in the engine "
                    f"cache for {model_file.path.name} (build it with vigil export --trt)",
                )
            engine = found
        return TensorRTBackend(engine, device=device, check_finite=check_finite)
    from vigil.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(
        model_file.path,
        providers=kind,
        intra_op_threads=intra_op_threads,
        check_finite=check_finite,
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
