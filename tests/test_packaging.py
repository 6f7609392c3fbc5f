"""Packaging and architecture: the install works anywhere, and the rooms keep their doors."""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from blocked_imports import block_imports

import vigil

REPO = Path(__file__).resolve().parents[1]

# DESIGN.md, "Rooms and their doors": folder -> (forbidden import prefixes, allowed exceptions)
RULES = {
    "runtime": (
        ("torch", "vigil.models", "models"),
        ("vigil.models.synthetic", "vigil.models.artifacts"),
    ),
    "firmware_bridge": (
        ("torch", "onnx", "vigil.runtime", "vigil.export", "vigil.models"),
        ("vigil.models.synthetic",),
    ),
    "export": (("vigil.runtime", "vigil.firmware_bridge"), ()),
    "models/synthetic": (("torch", "vigil.firmware_bridge", "vigil.runtime"), ()),
    "vigil": (  # the one CLI dispatches to each room's own `cli` module, nothing else
        ("torch", "onnx", "vigil.models", "vigil.export", "vigil.runtime"),
        ("vigil.export.cli", "vigil.runtime.cli", "vigil.models.cli"),
    ),
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def test_rooms_import_only_through_their_doors():
    crossings = []
    for folder, (forbidden, allowed) in RULES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            for lineno, name in _imports(path):
                bad = any(name == b or name.startswith(b + ".") for b in forbidden)
                ok = any(name == a or name.startswith(a + ".") for a in allowed)
                if bad and not ok:
                    crossings.append(f"{path.relative_to(REPO)}:{lineno} imports {name}")
    assert crossings == []


def test_runtime_and_bridge_import_without_torch():
    """Every module of vigil, the bridge, the runtime and the synthesizer imports with torch
    (and onnx) made unimportable."""
    code = (
        block_imports("torch", "onnx", "tensorrt")
        + """
import importlib, pkgutil
import vigil, vigil.firmware_bridge, vigil.runtime, vigil.models.synthetic
for pkg in (vigil, vigil.firmware_bridge, vigil.runtime, vigil.models.synthetic):
    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):
        if '.__main__' not in mod.name:
            importlib.import_module(mod.name)
assert 'torch' not in sys.modules
print('ok')
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.slow
def test_non_editable_install_works_from_outside_the_checkout(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    code = """
import importlib.resources as res, vigil, vigil.firmware_bridge.codec, vigil.models.synthetic
from vigil.cli import main
print(vigil.__file__)
print(res.files('vigil.firmware_bridge').joinpath('c', 'vigil_proto.c').is_file())
print(res.files('vigil.firmware_bridge.vectors').joinpath('vectors.json').is_file())
print(res.files('vigil.models.artifacts').joinpath('ecg_beat', 'manifest.json').is_file())
"""
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    location, c_source, vectors, artifact = out.stdout.split()
    assert Path(location).is_relative_to(target), "imported the checkout, not the install"
    assert c_source == "True"
    assert vectors == "True"
    assert artifact == "True", "shipped model artifacts missing from the install"
    version = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "--version"],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert version.stdout.strip() == f"vigil {vigil.__version__}"


def test_every_room_is_a_namespaced_package():
    import vigil.export
    import vigil.firmware_bridge
    import vigil.models
    import vigil.runtime

    rooms = {
        vigil.firmware_bridge: "firmware_bridge",
        vigil.runtime: "runtime",
        vigil.export: "export",
        vigil.models: "models",
    }
    for package, folder in rooms.items():
        assert Path(package.__file__).parent == REPO / folder
    assert {"cli", "errors", "records"} <= {m.name for m in pkgutil.iter_modules(vigil.__path__)}
