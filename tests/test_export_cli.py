"""`vigil export` and `vigil train` as a user runs them: real subprocesses, a module that
lives outside Vigil, and clear failures when a tool or an argument is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from blocked_imports import block_imports

from vigil.artifacts import load_artifact

TESTS = Path(__file__).resolve().parent
VIGIL = [sys.executable, "-m", "vigil.cli"]
BLOCK_TORCH = block_imports("torch") + "from vigil.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def run(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*VIGIL, *args], capture_output=True, text=True, timeout=timeout, check=False, **kw
    )


def run_without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_export_help_describes_every_form_of_the_command():
    out = run("export", "--help")
    assert out.returncode == 0
    for word in (
        "MODEL",
        "--all",
        "--out",
        "--int8",
        "--trt",
        "--force",
        "--module",
        "--weights",
        "--input",
        "--meta",
        "--calibration",
        "NAME:1x1x256",
    ):
        assert word in out.stdout, word
    top = run("--help").stdout
    assert "export" in top
    assert "train" in top


def test_export_without_torch_says_how_to_install_the_export_extra(tmp_path):
    out = run_without_torch(
        "export",
        "--module",
        "user_models.tiny_net:build",
        "--weights",
        str(tmp_path / "w.pt"),
        "--input",
        "signal:1x1x32",
        "--out",
        str(tmp_path / "out"),
    )
    assert out.returncode == 1
    assert "torch" in out.stderr
    assert "pip install 'vigil-edge[export]'" in out.stderr
    train = run_without_torch("train", "ecg_beat")
    assert train.returncode == 1
    assert "vigil-edge[export]" in train.stderr


def test_int8_for_a_user_module_without_calibration_data_is_refused(tmp_path):
    out = run(
        "export",
        "--module",
        "user_models.tiny_net:build",
        "--weights",
        str(tmp_path / "w.pt"),
        "--input",
        "signal:1x1x32",
        "--int8",
        "--out",
        str(tmp_path / "out"),
    )
    assert out.returncode == 1
    assert "--int8 for your own module needs --calibration FILE.npz" in out.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one of MODEL, --all or --module"),
        (("ecg_beat", "--all"), "exactly one of MODEL, --all or --module"),
        (("ecg_beat", "--weights", "w.pt"), "--weights only apply with --module"),
        (("--module", "a:b"), "--module needs --weights FILE"),
        (("--module", "a:b", "--weights", "w.pt", "--input", "signal:1xq"), "NAME:DIMxDIM"),
    ],
)
def test_export_usage_mistakes_exit_2_before_any_work(args, message, tmp_path):
    out = run("export", *args, "--out", str(tmp_path / "out"))
    assert out.returncode == 2
    assert message in out.stderr


@pytest.mark.slow
def test_bring_your_own_module_through_the_cli_writes_an_artifact_that_loads(tmp_path):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(TESTS))
    try:
        from user_models.tiny_net import build
    finally:
        sys.path.remove(str(TESTS))
    torch.manual_seed(0)
    weights = tmp_path / "tiny_net.pt"
    torch.save(build().state_dict(), weights)  # a plain state dict: loads with weights_only
    meta = {
        "version": "2.1.0",
        "task": "classification",
        "labels": ["quiet", "busy"],
        "sample_rate_hz": 125,
        "inputs": {"signal": {"layout": "NCW", "units": "mV"}},
    }
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    calib = np.random.default_rng(0).standard_normal((24, 1, 32)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", signal=calib)
    out = run(
        "export",
        "--module",
        "user_models.tiny_net:build",
        "--weights",
        str(weights),
        "--input",
        "signal:1x1x32",
        "--output",
        "logits",
        "--output",
        "features",
        "--meta",
        str(tmp_path / "meta.json"),
        "--name",
        "my_net",
        "--int8",
        "--calibration",
        str(tmp_path / "calib.npz"),
        "--out",
        str(tmp_path / "art"),
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "art")
    assert "parity passed" in out.stderr

    art = load_artifact(tmp_path / "art")
    m = art.manifest
    assert (m.name, m.version, m.task, m.opset) == ("my_net", "2.1.0", "classification", 18)
    assert [(t.name, t.shape, t.layout, t.units) for t in m.inputs] == [
        ("signal", ("batch", 1, 32), "NCW", "mV")
    ]
    assert [(t.name, t.shape) for t in m.outputs] == [
        ("logits", ("batch", 2)),
        ("features", ("batch", 4)),
    ]
    assert m.meta["labels"] == ["quiet", "busy"]
    assert m.meta["sample_rate_hz"] == 125
    assert m.meta["export"]["source"] == "user_models.tiny_net:build"
    assert m.metrics == {}
    assert m.main_metric == ""
    int8 = [v for v in m.variants if v.precision == "int8"]
    assert {v.file for v in int8} == {"model.int8.trt.onnx", "model.int8.cpu.onnx"}
    for v in int8:
        assert v.metric_change is None
        assert "not measured" in v.note
        assert "output difference" in v.note

    import onnxruntime as ort

    for v in m.variants:
        session = ort.InferenceSession(str(art.path(v)), providers=["CPUExecutionProvider"])
        logits, features = session.run(None, {"signal": calib[:5]})
        assert logits.shape == (5, 2)
        assert features.shape == (5, 4)
