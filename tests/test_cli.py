"""The `vigil` command line as a user runs it: real subprocesses, real pseudo-terminals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import vigil

VIGIL = [sys.executable, "-m", "vigil.cli"]


def run(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*VIGIL, *args], capture_output=True, text=True, timeout=timeout, check=False, **kw
    )


def test_version_and_help_name_every_command():
    assert run("--version").stdout.strip() == f"vigil {vigil.__version__}"
    help_text = run("--help").stdout
    for command in ("simulate", "listen", "demo", "bridge-demo", "run", "alarms"):
        assert command in help_text
    assert "Not a certified medical device" in help_text


def test_no_command_prints_help_and_exits_2():
    out = run()
    assert out.returncode == 2
    assert "usage: vigil" in out.stdout


class Simulator:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*VIGIL, "simulate", "monitor", "--pty", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.path = self.proc.stdout.readline().strip()  # the first line is the pty's path

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=10)
        return err


@pytest.mark.slow
def test_simulator_prints_its_pty_and_listen_shows_live_vitals(tmp_path):
    sim = Simulator("--seed", "3", "--pty-link", str(tmp_path / "ttyBED"),
                    "--annotations", str(tmp_path / "truth.jsonl"))  # fmt: skip
    try:
        assert sim.path.startswith("/dev/")
        assert os.path.realpath(tmp_path / "ttyBED") == sim.path
        out = run("listen", "--port", str(tmp_path / "ttyBED"), "--seconds", "4",
                  "--record", str(tmp_path / "run.vgr"))  # fmt: skip
    finally:
        err = sim.stop()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    last = next(line for line in lines if line.strip().startswith("4s"))
    assert "ECG II 500" in last
    assert "Pleth 125" in last
    assert "HR " in last
    assert "crc 0" in last
    assert "lost 0" in last
    assert sim.proc.returncode == 0, err
    beats = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
    assert any(b["type"] == "beat" and b["label"] == "N" for b in beats)

    replay = run("listen", "--recording", str(tmp_path / "run.vgr"))
    assert replay.returncode == 0
    assert "'crc_errors': 0" in replay.stdout
    assert "ECG II" in replay.stdout


def test_unknown_scenario_is_a_clear_error(tmp_path):
    sim = Simulator("--scenario", "no_such_scenario")
    sim.proc.wait(timeout=30)
    err = sim.proc.stderr.read()
    assert sim.proc.returncode == 1
    assert "no_such_scenario" in err
    assert "Traceback" not in err


def test_listen_on_a_missing_recording_names_the_file(tmp_path):
    out = run("listen", "--recording", str(tmp_path / "missing.vgr"))
    assert out.returncode == 1
    assert "missing.vgr" in out.stderr


@pytest.mark.slow
def test_demo_pulls_the_cable_and_accounts_for_every_sample():
    out = run("bridge-demo", "--seconds", "7", timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Simulated bedside monitor" in out.stdout
    assert "ECG II 1000" in out.stdout  # 500 Hz at the demo's 2x time scale
    assert "demo: cable pulled" in out.stdout
    assert "event: sample_gap ECG II" in out.stdout
    summary = next(line for line in out.stdout.splitlines() if line.startswith("ECG II:"))
    lost, reported = re.search(
        r"(\d+) lost while the cable was out and (\d+) reported", summary
    ).groups()
    assert int(lost) > 0
    assert lost == reported
    assert "0 differ from the seeded generator" in summary
    assert "Not a certified medical device" in out.stderr


@pytest.mark.slow
def test_sigterm_stops_the_simulator_cleanly(tmp_path):
    sim = Simulator("--seed", "1")
    time.sleep(0.5)
    err = sim.stop()
    assert sim.proc.returncode == 0, err
    assert "Traceback" not in err


def test_unwritable_annotations_file_is_a_clear_error(tmp_path):
    sim = Simulator("--annotations", str(tmp_path / "no" / "such" / "dir" / "truth.jsonl"))
    sim.proc.wait(timeout=30)
    err = sim.proc.stderr.read()
    assert sim.proc.returncode == 1
    assert "--annotations" in err
    assert "Traceback" not in err
