"""Model artifacts: a directory of model files plus `manifest.json`, verified before use.

Export writes them; the runtime loads them without torch. The manifest lists every file with
its sha256, and `load_artifact` refuses a directory where any listed file is missing or
differs, or the manifest itself is malformed: a tampered model never runs. Manifests are JSON
(never pickle) and versioned by `schema`.

    manifest.json
    {
      "schema": 1, "name": "ecg_beat", "version": "1.0.0", "task": "classification",
      "inputs":  [{"name": "ecg", "shape": ["batch", 1, 640], "dtype": "float32", ...}],
      "outputs": [{"name": "logits", "shape": ["batch", 3], "dtype": "float32", ...}],
      "variants": [{"file": "model.onnx", "precision": "fp32", "backends": ["any"]},
                   {"file": "model.int8.cpu.onnx", "precision": "int8",
                    "backends": ["onnxruntime-cpu"], "metric_change": -0.002}],
      "meta": {...labels, sample rate, window, normalisation...},
      "metrics": {"macro_f1": 0.97, ...}, "main_metric": "macro_f1",
      "opset": 18, "weights_sha256": "...",
      "files": {"model.onnx": "<sha256 hex>", ...}
    }
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vigil.errors import VigilError

SCHEMA = 1
MANIFEST = "manifest.json"
_CHUNK = 1 << 20


class ArtifactError(VigilError):
    """An artifact is missing, malformed or does not match its manifest."""


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int | str, ...]  # "batch" (or another name) for a dynamic axis
    dtype: str = "float32"
    layout: str = ""
    units: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Variant:
    """One runnable file of the artifact and what it is for."""

    file: str
    precision: str  # "fp32", "fp16", "int8"
    backends: tuple[str, ...] = ("any",)  # "onnxruntime-cpu", "tensorrt", ... or "any"
    metric_change: float | None = None  # main metric minus FP32's, on held-out data
    note: str = ""


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    task: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    variants: tuple[Variant, ...]
    files: dict[str, str]  # file name -> sha256 hex
    meta: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    main_metric: str = ""
    opset: int | None = None
    weights_sha256: str = ""
    schema: int = SCHEMA

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"


@dataclass(frozen=True)
class Artifact:
    directory: Path
    manifest: Manifest

    def path(self, variant: Variant) -> Path:
        return self.directory / variant.file


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write `manifest.json`, hashing every variant file (and any file already listed)."""
    directory = Path(directory)
    names = {v.file for v in manifest.variants} | set(manifest.files)
    files = {}
    for name in sorted(names):
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{directory}: cannot list {name} in the manifest: no such file")
        files[name] = sha256_file(path)
    final = Manifest(**{**_fields(manifest), "files": files})
    out = directory / MANIFEST
    out.write_text(final.to_json(), encoding="utf-8")
    return out


def _fields(manifest: Manifest) -> dict[str, Any]:
    return {name: getattr(manifest, name) for name in manifest.__dataclass_fields__}


def load_artifact(directory: str | Path) -> Artifact:
    """Read and verify an artifact directory; raises `ArtifactError` naming what is wrong."""
    directory = Path(directory)
    path = directory / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{directory} is not a model artifact: {MANIFEST} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read the manifest: {exc}") from exc
    manifest = parse_manifest(raw, str(path))
    for name, expected in manifest.files.items():
        file = directory / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArtifactError(f"{path}: file name {name!r} leaves the artifact directory")
        if not file.is_file():
            raise ArtifactError(f"{directory}: {name} is listed in the manifest but missing")
        actual = sha256_file(file)
        if actual != expected:
            raise ArtifactError(
                f"{file}: sha256 {actual[:16]}… does not match the manifest's {expected[:16]}…: "
                "the file was changed or corrupted; re-export the model or restore the file"
            )
    for variant in manifest.variants:
        if variant.file not in manifest.files:
            raise ArtifactError(f"{path}: variant {variant.file} has no sha256 in 'files'")
    return Artifact(directory, manifest)


def parse_manifest(raw: Any, source: str = "manifest") -> Manifest:
    """Validate a decoded manifest; every problem names the key."""

    def need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise ArtifactError(f"{source}: {where}{key} is missing")
        value = obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ArtifactError(
                f"{source}: {where}{key} has the wrong type ({type(value).__name__})"
            )
        return value

    if not isinstance(raw, dict):
        raise ArtifactError(f"{source}: the manifest must be a JSON object")
    schema = need(raw, "schema", int, "")
    if schema != SCHEMA:
        raise ArtifactError(
            f"{source}: schema {schema} is not supported (this Vigil reads {SCHEMA})"
        )

    def tensors(key: str) -> tuple[TensorInfo, ...]:
        out = []
        for k, t in enumerate(need(raw, key, list, "")):
            where = f"{key}[{k}]."
            shape = need(t, "shape", list, where)
            if not all(isinstance(d, (int, str)) and not isinstance(d, bool) for d in shape):
                raise ArtifactError(f"{source}: {where}shape must hold ints and axis names")
            out.append(
                TensorInfo(
                    need(t, "name", str, where),
                    tuple(shape),
                    t.get("dtype", "float32"),
                    t.get("layout", ""),
                    t.get("units", ""),
                    t.get("description", ""),
                )
            )
        return tuple(out)

    variants = []
    for k, v in enumerate(need(raw, "variants", list, "")):
        where = f"variants[{k}]."
        change = v.get("metric_change") if isinstance(v, dict) else None
        variants.append(
            Variant(
                need(v, "file", str, where),
                need(v, "precision", str, where),
                tuple(need(v, "backends", list, where)),
                float(change) if isinstance(change, (int, float)) else None,
                v.get("note", ""),
            )
        )
    files = need(raw, "files", dict, "")
    for name, digest in files.items():
        if not isinstance(digest, str) or len(digest) != 64:
            raise ArtifactError(f"{source}: files.{name} is not a sha256 hex digest")
    metrics = raw.get("metrics", {})
    if not isinstance(metrics, dict):
        raise ArtifactError(f"{source}: metrics must be an object")
    return Manifest(
        name=need(raw, "name", str, ""),
        version=need(raw, "version", str, ""),
        task=need(raw, "task", str, ""),
        inputs=tensors("inputs"),
        outputs=tensors("outputs"),
        variants=tuple(variants),
        files=dict(files),
        meta=raw.get("meta", {}) if isinstance(raw.get("meta", {}), dict) else {},
        metrics={k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
        main_metric=raw.get("main_metric", ""),
        opset=raw.get("opset"),
        weights_sha256=raw.get("weights_sha256", ""),
        schema=schema,
    )
