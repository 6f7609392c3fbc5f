"""A directory of TensorRT engines, keyed by everything that makes an engine valid.

A TensorRT engine is only good for the exact network, TensorRT version and GPU it was built
for, and only for the precision, optimization profile and DLA core asked for. An engine used
outside those runs wrong or not at all, so the key holds all of them:

    onnx_sha256, tensorrt_version, gpu_name, compute_capability, precision,
    profile (min/opt/max batch), dla_core

Engines live as ``<dir>/<digest>.engine`` beside ``<dir>/<digest>.json``, where digest is
the sha256 of the key's canonical JSON and the sidecar holds the full key plus the engine's
own sha256. A lookup trusts an engine only if the sidecar's key equals the wanted key field
by field and the engine file still hashes to what the sidecar says; anything else (missing
sidecar, different key, a damaged or truncated engine) is rebuilt, never used. Files are
written to a temporary name and renamed, so a build killed halfway leaves no half engine.

This module is pure Python: the GPU and TensorRT facts come in as a `Platform` value, so
it is tested without TensorRT. `query_platform()` asks tensorrt and pycuda for them, lazily.
An unwritable cache directory fails when the cache is opened (`EngineCacheError` naming the
directory), not minutes later when the first build finishes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vigil.artifacts import sha256_file
from vigil.errors import VigilError

log = logging.getLogger(__name__)

KEY_SCHEMA = 1
PRECISIONS = ("fp32", "fp16", "int8")


class EngineCacheError(VigilError):
    """The engine cache directory cannot be used, or an engine cannot be stored."""


@dataclass(frozen=True, slots=True)
class BatchProfile:
    """TensorRT optimization profile over the batch axis: engines accept batch sizes from
    `min` to `max` and are tuned for `opt`. Only the batch axis is dynamic in Vigil's
    artifacts (their shapes are ["batch", ...fixed])."""

    min: int = 1
    opt: int = 1
    max: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise EngineCacheError(
                f"batch profile must satisfy 1 <= min <= opt <= max, got "
                f"min={self.min} opt={self.opt} max={self.max}"
            )


@dataclass(frozen=True, slots=True)
class Platform:
    """The facts about this machine an engine depends on."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]


@dataclass(frozen=True, slots=True)
class EngineKey:
    """Everything an engine's validity depends on (see the module docstring)."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: str
    profile: BatchProfile
    dla_core: int | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise EngineCacheError(
                f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}"
            )
        if len(self.onnx_sha256) != 64:
            raise EngineCacheError(f"onnx_sha256 {self.onnx_sha256!r} is not a sha256 digest")

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["compute_capability"] = list(self.compute_capability)
        return {"schema": KEY_SCHEMA, **raw}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EngineKey:
        if raw.get("schema") != KEY_SCHEMA:
            raise ValueError(f"key schema {raw.get('schema')!r} is not {KEY_SCHEMA}")
        return cls(
            onnx_sha256=raw["onnx_sha256"],
            tensorrt_version=raw["tensorrt_version"],
            gpu_name=raw["gpu_name"],
            compute_capability=(
                int(raw["compute_capability"][0]),
                int(raw["compute_capability"][1]),
            ),
            precision=raw["precision"],
            profile=BatchProfile(**raw["profile"]),
            dla_core=raw["dla_core"],
        )

    def digest(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def engine_key(
    onnx_path: str | Path,
    platform: Platform,
    precision: str,
    profile: BatchProfile,
    dla_core: int | None = None,
) -> EngineKey:
    """The key for building `onnx_path` on `platform` (hashes the ONNX file)."""
    return EngineKey(
        onnx_sha256=sha256_file(Path(onnx_path)),
        tensorrt_version=platform.tensorrt_version,
        gpu_name=platform.gpu_name,
        compute_capability=platform.compute_capability,
        precision=precision,
        profile=profile,
        dla_core=dla_core,
    )


@dataclass(frozen=True, slots=True)
class Lookup:
    """The result of a lookup: `path` when a valid engine is cached, else why not."""

    path: Path | None
    reason: str


class EngineCache:
    """Engines under one directory. Opening it creates the directory and proves it writable."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".probe-"):
                pass
        except OSError as exc:
            raise EngineCacheError(
                f"engine cache directory {self.directory} is not writable ({exc.strerror or exc}); "
                "choose another with --engine-cache or fix its permissions"
            ) from exc

    def paths(self, key: EngineKey) -> tuple[Path, Path]:
        """(engine file, JSON sidecar) for `key`."""
        digest = key.digest()
        return self.directory / f"{digest}.engine", self.directory / f"{digest}.json"

    def lookup(self, key: EngineKey) -> Lookup:
        """The cached engine for exactly `key`, or why there is none usable."""
        engine, sidecar = self.paths(key)
        if not engine.is_file():
            return Lookup(None, "not built yet")
        try:
            raw = json.loads(sidecar.read_text(encoding="utf-8"))
            stored = EngineKey.from_json(raw["key"])
            engine_sha256 = raw["engine_sha256"]
        except FileNotFoundError:
            return Lookup(None, f"{sidecar.name} is missing, so the engine cannot be trusted")
        except (OSError, ValueError, KeyError, TypeError, IndexError, EngineCacheError) as exc:
            return Lookup(None, f"{sidecar.name} is unreadable ({exc})")
        if stored != key:
            fields = [
                name
                for name in key.__dataclass_fields__
                if getattr(stored, name) != getattr(key, name)
            ]
            return Lookup(None, f"the cached engine's key differs in {', '.join(fields)}")
        if sha256_file(engine) != engine_sha256:
            return Lookup(None, f"{engine.name} does not match its recorded sha256 (damaged)")
        return Lookup(engine, "cached")

    def find(self, key: EngineKey) -> Path | None:
        return self.lookup(key).path

    def store(self, key: EngineKey, engine_bytes: bytes) -> Path:
        """Write an engine and its sidecar atomically; returns the engine path."""
        if not engine_bytes:
            raise EngineCacheError(f"refusing to cache an empty engine for {key.digest()[:16]}")
        engine, sidecar = self.paths(key)
        sidecar_text = json.dumps(
            {"key": key.to_json(), "engine_sha256": hashlib.sha256(engine_bytes).hexdigest()},
            indent=2,
        )
        # engine first, sidecar last: a sidecar only ever describes a complete engine
        _write_atomic(engine, engine_bytes)
        _write_atomic(sidecar, sidecar_text.encode("utf-8") + b"\n")
        return engine

    def get_or_build(
        self,
        key: EngineKey,
        build: Callable[[], bytes],
        *,
        progress: Callable[[str], None] | None = None,
    ) -> Path:
        """The engine for `key`: the cached one if valid, else `build()`'s, stored."""
        say = progress or log.info
        found = self.lookup(key)
        if found.path is not None:
            say(f"engine cache hit: {found.path}")
            return found.path
        say(f"building engine {key.digest()[:16]} ({found.reason}); this can take minutes")
        path = self.store(key, build())
        say(f"engine stored: {path}")
        return path

    def finder(
        self,
        platform: Platform,
        profile: BatchProfile,
        dla_core: int | None = None,
    ) -> Callable[[Path, str], Path | None]:
        """A lookup for the runtime's backend selection: (ONNX path, precision) -> engine."""

        def find(onnx_path: Path, precision: str) -> Path | None:
            found = self.lookup(engine_key(onnx_path, platform, precision, profile, dla_core))
            if found.path is None:
                log.info("no cached engine for %s (%s): %s", onnx_path, precision, found.reason)
            return found.path

        return find


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EngineCacheError(f"cannot write {path}: {exc}") from exc


def query_platform(device: int = 0) -> Platform:
    """This machine's TensorRT version and GPU, from tensorrt and pycuda (imported here).

    UNVERIFIED: needs TensorRT, pycuda and a GPU, none of which the development machines have.
    """
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise EngineCacheError(f"tensorrt is not installed ({exc})") from exc
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        raise EngineCacheError(
            f"pycuda is not installed ({exc}); pip install vigil-edge[jetson]"
        ) from exc
    cuda.init()
    gpu = cuda.Device(device)
    major, minor = gpu.compute_capability()
    return Platform(str(trt.__version__), str(gpu.name()), (int(major), int(minor)))
