"""The artifacts shipped inside the package: verified, torch-free, and true to their weights
and model cards."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from blocked_imports import block_imports

from vigil.artifacts import load_artifact, sha256_file
from vigil.models.reference import reference_models

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "artifacts"
NAMES = sorted(p.name for p in SHIPPED.iterdir() if (p / "manifest.json").exists())


def card_metrics(card: Path) -> dict[str, float]:
    block = re.search(r"<!-- metrics:begin -->(.*?)<!-- metrics:end -->", card.read_text(), re.S)
    assert block, f"{card} has no metrics block"
    rows = re.findall(r"^\|\s*([a-z0-9_]+)\s*\|\s*([-0-9.]+)\s*\|$", block.group(1), re.M)
    return {k: float(v) for k, v in rows}


def test_every_reference_model_ships_an_artifact():
    models = reference_models()
    assert NAMES, "no shipped artifacts"
    assert set(NAMES) == set(models)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_artifact_was_exported_from_the_shipped_weights(name):
    reference = reference_models()[name]
    manifest = load_artifact(SHIPPED / name).manifest
    assert manifest.weights_sha256 == sha256_file(reference.weights)
    assert manifest.name == name
    assert manifest.main_metric == reference.main_metric


@pytest.mark.parametrize("name", NAMES)
def test_model_card_and_manifest_agree(name):
    reference = reference_models()[name]
    card = card_metrics(reference.card)
    manifest = load_artifact(SHIPPED / name).manifest
    assert reference.main_metric in card
    for key, value in card.items():
        assert key in manifest.metrics, f"card metric {key} not in the manifest"
        assert abs(manifest.metrics[key] - value) <= 0.0005 + 1e-9, key


@pytest.mark.parametrize("name", NAMES)
def test_shipped_onnx_matches_the_shipped_weights_within_the_parity_bound(name):
    from vigil.export.parity import check_parity

    reference = reference_models()[name]
    artifact = load_artifact(SHIPPED / name)
    cases = [(f"example batch {b}", reference.example_inputs(7, b)) for b in (1, 4)]
    report = check_parity(
        reference.load(),
        artifact.directory / "model.onnx",
        cases,
        output_names=[t.name for t in reference.outputs],
        model=name,
    )
    assert report.passed


def test_shipped_artifacts_load_and_run_without_torch():
    code = (
        block_imports("torch", "safetensors")
        + f"""
import numpy as np
from vigil.artifacts import load_artifact
from vigil.runtime.backends.select import select_backend
for name in {NAMES!r}:
    artifact = load_artifact({str(SHIPPED)!r} + '/' + name)
    selection = select_backend(artifact)
    inputs = {{}}
    for t in artifact.manifest.inputs:
        shape = [2 if isinstance(d, str) else d for d in t.shape]
        inputs[t.name] = np.zeros(shape, dtype=np.float32)
    out = selection.backend.infer(inputs)
    assert set(out) == {{t.name for t in artifact.manifest.outputs}}, out.keys()
    print(name, selection.backend.name)
assert 'torch' not in sys.modules
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_int8_variants_record_their_measured_metric_change(name):
    manifest = load_artifact(SHIPPED / name).manifest
    for variant in manifest.variants:
        if variant.precision == "int8":
            assert variant.metric_change is not None
            assert variant.metric_change >= -0.01  # the export refuses a larger loss
    assert np.isfinite(manifest.metrics[manifest.main_metric])
