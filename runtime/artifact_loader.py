"""Choose which file of a verified artifact a backend runs.

An artifact (vigil.artifacts) may hold several runnable files of one model: the FP32 ONNX
graph for any backend, an INT8 graph with unsigned activations for the ONNX Runtime CPU
path, a symmetric Q/DQ graph for TensorRT, an FP16 graph, prebuilt engines. Each variant is
tagged with its precision and the backends it is for. This module maps (backend kind,
precision) to one variant, preferring the most specific tag: a variant tagged for exactly
this backend beats one tagged for its family ("onnxruntime"), which beats one tagged "any".
That order matters because the CPU and TensorRT INT8 graphs differ (issue 4: TensorRT needs
zero-point-0 Q/DQ, the CPU runs faster with U8 activations) and a generic variant listed
first must not shadow the one made for this backend.

The artifact must come from `vigil.artifacts.load_artifact`, which has already checked every
file's sha256, so the path returned here is safe to hand to a backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vigil.artifacts import Artifact, ArtifactError, Variant

# backend kind -> the file suffixes it can run
BACKEND_KINDS: dict[str, tuple[str, ...]] = {
    "onnxruntime-cpu": (".onnx",),
    "onnxruntime-cuda": (".onnx",),
    "onnxruntime-tensorrt": (".onnx",),
    # TensorRT runs a prebuilt .engine, or an engine built (and cached) from the .onnx
    "tensorrt": (".engine", ".onnx"),
}


class VariantNotFound(ArtifactError):
    """The artifact has no file for this backend at this precision."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One verified file of an artifact, chosen for a backend."""

    artifact: Artifact
    variant: Variant
    path: Path
    backend: str
    precision: str


def family(backend: str) -> str:
    """The backend's family: onnxruntime-cpu -> onnxruntime; tensorrt -> tensorrt."""
    return backend.split("-", 1)[0]


def choose_variant(artifact: Artifact, backend: str, precision: str = "fp32") -> ModelFile:
    """The file `backend` should run at `precision`, or `VariantNotFound` saying what exists."""
    if backend not in BACKEND_KINDS:
        raise VariantNotFound(
            f"unknown backend kind {backend!r}; Vigil knows {', '.join(BACKEND_KINDS)}"
        )
    suffixes = BACKEND_KINDS[backend]
    manifest = artifact.manifest
    candidates = [
        v for v in manifest.variants if v.precision == precision and Path(v.file).suffix in suffixes
    ]
    for tag in (backend, family(backend), "any"):
        for variant in candidates:
            if tag in variant.backends:
                return ModelFile(artifact, variant, artifact.path(variant), backend, precision)
    have = "; ".join(
        f"{v.file} ({v.precision}, for {', '.join(v.backends)})" for v in manifest.variants
    )
    raise VariantNotFound(
        f"artifact {manifest.name} ({artifact.directory}) has no {precision} variant for "
        f"{backend} (files ending {' or '.join(suffixes)}); it has: {have or 'no variants'}. "
        f"Export one (vigil export {manifest.name} ...) or choose another precision"
    )


def precisions_for(artifact: Artifact, backend: str) -> tuple[str, ...]:
    """The precisions `backend` can run from this artifact, in manifest order."""
    found: list[str] = []
    for variant in artifact.manifest.variants:
        if variant.precision in found:
            continue
        try:
            choose_variant(artifact, backend, variant.precision)
        except VariantNotFound:
            continue
        found.append(variant.precision)
    return tuple(found)


def shipped_artifact(name: str) -> Path:
    """The directory of a reference artifact shipped inside the package (ecg_beat,
    vitals_ae, us_segmenter). `vigil.models.artifacts` is data only: it imports no model code."""
    import vigil.models.artifacts as shipped

    return Path(shipped.__file__).resolve().parent / name
