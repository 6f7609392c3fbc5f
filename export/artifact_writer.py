"""Step 5, `write_artifact`: model files plus a hashed `manifest.json`, verified on the spot.

The manifest is written last and the directory is then loaded back with
`vigil.artifacts.load_artifact`, so an export that returns has produced exactly what the
runtime will accept; a failure part-way leaves no manifest, and without one no loader
treats the directory as an artifact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vigil.artifacts import MANIFEST, Artifact, ArtifactError, Manifest, TensorInfo, load_artifact
from vigil.artifacts import write_manifest as _write_manifest
from vigil.export.errors import ExportError


def prepare_output(out: str | Path, *, model: str = "model") -> Path:
    """`out`, created if needed and proven writable, before any slow work starts.

    Probing with a real file catches what permission bits do not (a read-only mount, a
    path through a regular file, a full disk) and names the directory to change.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".vigil-write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(
            f"{model}: cannot write the artifact to {out}: {reason}; choose a writable "
            "directory with --out"
        ) from exc
    return out


def tensor_info(spec: Any) -> TensorInfo:
    """A manifest `TensorInfo` from a ReferenceModel `TensorSpec` (the same fields)."""
    return TensorInfo(
        name=spec.name,
        shape=tuple(spec.shape),
        dtype=spec.dtype,
        layout=getattr(spec, "layout", ""),
        units=getattr(spec, "units", ""),
        description=getattr(spec, "description", ""),
    )


def json_ready(meta: Mapping[str, Any], *, model: str = "model") -> dict[str, Any]:
    """`meta` as a plain JSON object (a round trip), or `ExportError` naming the bad key.

    Strict JSON: a NaN placeholder (say an alarm threshold not yet calibrated) is refused
    rather than written as the non-standard `NaN` that only Python reads back.
    """
    plain = dict(meta)
    for key, value in plain.items():
        try:
            json.dumps(value, allow_nan=False)  # NaN/Infinity are not JSON: C and JS readers fail
        except (TypeError, ValueError) as exc:
            raise ExportError(
                f"{model}: meta[{key!r}] cannot go into the manifest as strict JSON: {exc}"
            ) from exc
    return json.loads(json.dumps(plain))


def write_artifact(
    out: str | Path, files: Mapping[str, str | Path], manifest: Manifest
) -> Artifact:
    """Move `files` (artifact file name -> staged path) into `out`, write the manifest, and
    return the artifact as `load_artifact` reads it back (every sha256 verified)."""
    out = Path(out)
    old = out / MANIFEST
    try:
        if old.exists():
            old.unlink()  # the directory is not a valid artifact while files change
        for name, source in files.items():
            if Path(name).name != name:
                raise ExportError(f"{manifest.name}: artifact file name {name!r} is not plain")
            target = out / name
            if Path(source).resolve() != target.resolve():
                shutil.move(str(source), str(target))
        _write_manifest(out, manifest)
    except (OSError, ArtifactError) as exc:
        raise ExportError(f"{manifest.name}: cannot write the artifact to {out}: {exc}") from exc
    return load_artifact(out)
