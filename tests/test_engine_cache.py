"""The engine cache: keys, hits, rebuilds on any mismatch, and unwritable directories.

The builder here is a real callable that returns engine bytes, counting its calls; the
cache never looks inside an engine, so no TensorRT is needed to test it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from vigil.export.engine_cache import (
    BatchProfile,
    EngineCache,
    EngineCacheError,
    EngineKey,
    Platform,
    engine_key,
)

ORIN = Platform("10.3.0", "Orin", (8, 7))


class Builder:
    """Builds a distinct 'engine' per call and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return f"engine #{self.calls}".encode() * 100


@pytest.fixture
def onnx_file(tmp_path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"pretend ONNX bytes")
    return path


@pytest.fixture
def key(onnx_file) -> EngineKey:
    return engine_key(onnx_file, ORIN, "fp16", BatchProfile(1, 4, 8))


def test_key_changes_with_every_field(key):
    variations = {
        "onnx_sha256": "0" * 64,
        "tensorrt_version": "10.3.1",
        "gpu_name": "Xavier",
        "compute_capability": (7, 2),
        "precision": "int8",
        "profile": BatchProfile(1, 4, 16),
        "dla_core": 0,
    }
    assert set(variations) == {f.name for f in dataclasses.fields(EngineKey)}
    digests = {key.digest()}
    for name, value in variations.items():
        changed = dataclasses.replace(key, **{name: value})
        assert changed.digest() not in digests, name
        digests.add(changed.digest())
    assert dataclasses.replace(key, dla_core=1).digest() not in digests
    assert dataclasses.replace(key, profile=BatchProfile(2, 4, 8)).digest() not in digests
    assert dataclasses.replace(key, profile=BatchProfile(1, 2, 8)).digest() not in digests


def test_key_hashes_the_onnx_file_and_round_trips_through_json(onnx_file, key):
    assert EngineKey.from_json(json.loads(json.dumps(key.to_json()))) == key
    onnx_file.write_bytes(b"retrained weights")
    assert engine_key(onnx_file, ORIN, "fp16", BatchProfile(1, 4, 8)) != key


def test_engine_is_built_once_then_served_from_the_cache(tmp_path, key):
    cache = EngineCache(tmp_path / "engines")
    build = Builder()
    messages: list[str] = []
    first = cache.get_or_build(key, build, progress=messages.append)
    second = cache.get_or_build(key, build, progress=messages.append)
    assert first == second == tmp_path / "engines" / f"{key.digest()}.engine"
    assert build.calls == 1
    assert first.read_bytes() == b"engine #1" * 100
    sidecar = json.loads(first.with_suffix(".json").read_text())
    assert sidecar["key"]["gpu_name"] == "Orin"
    assert sidecar["key"]["profile"] == {"min": 1, "opt": 4, "max": 8}
    assert "not built yet" in messages[0]
    assert "cache hit" in messages[-1]
    assert [p.name for p in (tmp_path / "engines").iterdir() if p.name.startswith(".")] == []


def test_another_gpu_or_tensorrt_gets_its_own_engine(tmp_path, onnx_file, key):
    cache = EngineCache(tmp_path)
    build = Builder()
    cache.get_or_build(key, build)
    upgraded = engine_key(onnx_file, Platform("10.4.0", "Orin", (8, 7)), "fp16", key.profile)
    path = cache.get_or_build(upgraded, build)
    assert build.calls == 2
    assert cache.find(key) != path


def test_sidecar_with_a_different_key_is_rebuilt_not_used(tmp_path, key):
    cache = EngineCache(tmp_path)
    build = Builder()
    engine = cache.get_or_build(key, build)
    sidecar = engine.with_suffix(".json")
    raw = json.loads(sidecar.read_text())
    raw["key"]["tensorrt_version"] = "8.6.1"  # e.g. an engine copied in from another box
    raw["key"]["gpu_name"] = "Xavier"
    sidecar.write_text(json.dumps(raw))
    found = cache.lookup(key)
    assert found.path is None
    assert "differs in tensorrt_version, gpu_name" in found.reason
    rebuilt = cache.get_or_build(key, build)
    assert build.calls == 2
    assert rebuilt.read_bytes() == b"engine #2" * 100
    assert cache.lookup(key).path == rebuilt


@pytest.mark.parametrize("damage", ["truncate", "delete_sidecar", "garble_sidecar"])
def test_damaged_engine_or_sidecar_is_rebuilt(tmp_path, key, damage):
    cache = EngineCache(tmp_path)
    build = Builder()
    engine = cache.get_or_build(key, build)
    if damage == "truncate":
        engine.write_bytes(engine.read_bytes()[:10])
        reason = "does not match its recorded sha256"
    elif damage == "delete_sidecar":
        engine.with_suffix(".json").unlink()
        reason = "missing"
    else:
        engine.with_suffix(".json").write_text("{not json")
        reason = "unreadable"
    assert reason in cache.lookup(key).reason
    cache.get_or_build(key, build)
    assert build.calls == 2
    assert cache.lookup(key).path == engine


def test_finder_serves_the_runtime_only_engines_built_for_this_key(tmp_path, onnx_file, key):
    cache = EngineCache(tmp_path)
    cache.get_or_build(key, Builder())
    find = cache.finder(ORIN, BatchProfile(1, 4, 8))
    assert find(onnx_file, "fp16") == cache.find(key)
    assert find(onnx_file, "int8") is None
    assert cache.finder(ORIN, BatchProfile(1, 1, 1))(onnx_file, "fp16") is None
    assert cache.finder(ORIN, BatchProfile(1, 4, 8), dla_core=0)(onnx_file, "fp16") is None


def test_unwritable_cache_directory_fails_at_start_naming_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(EngineCacheError, match=re.escape(f"{blocker / 'engines'} is not writable")):
        EngineCache(blocker / "engines")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_read_only_cache_directory_fails_at_start_naming_it(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(EngineCacheError, match=re.escape(f"{locked} is not writable")):
            EngineCache(locked)
    finally:
        locked.chmod(0o700)


def test_bad_profiles_precisions_and_empty_engines_are_refused(tmp_path, key):
    with pytest.raises(EngineCacheError, match=r"1 <= min <= opt <= max"):
        BatchProfile(4, 2, 8)
    with pytest.raises(EngineCacheError, match=r"precision 'int4'"):
        dataclasses.replace(key, precision="int4")
    with pytest.raises(EngineCacheError, match=r"empty engine"):
        EngineCache(tmp_path).get_or_build(key, lambda: b"")
