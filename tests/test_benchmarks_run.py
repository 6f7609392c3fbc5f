"""The decode benchmark still runs, on the C COBS extension (speed is judged in the benchmark
itself, by ratios within one run, never here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_decode_benchmark_runs_and_measures_the_c_backed_baseline(tmp_path):
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "decode_throughput.py"),
         "--seconds", "20", "--repeats", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr  # 1 = a target missed on a loaded machine
    report = json.loads((tmp_path / "decode_throughput.json").read_text())
    assert report["cobs_c_extension"] is True
    rows = report["rows"]
    bare = next(row for name, row in rows.items() if name.startswith("bare"))
    vigil = [row for name, row in rows.items() if name.startswith("vigil")]
    assert len({row["frames"] for row in vigil}) == 1  # chunking changes nothing
    assert 0 < vigil[0]["frames"] <= bare["frames"]  # Vigil also drops malformed payloads
    assert all(row["bytes_per_s"] > 0 for row in report["rows"].values())
    assert (tmp_path / "decode_throughput.png").exists()


def _run_quick(script: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_analysis_accuracy_benchmark_scores_the_same_beats_for_vigil_and_neurokit2(tmp_path):
    out = _run_quick("analysis_accuracy.py", tmp_path)
    assert out.returncode in (0, 1), out.stderr  # 1 = a target missed: judged in the benchmark
    report = json.loads((tmp_path / "analysis_accuracy.json").read_text())
    peaks = report["r_peaks"]
    assert {"vigil I+II+III", "vigil II", "neurokit2 ecg_peaks II"} <= set(peaks["detectors"])
    for row in peaks["rows"]:  # every detector is scored against the same reference beats
        references = {d["tp"] + d["fn"] for d in row["detectors"].values()}
        assert len(references) == 1, row
    clean = peaks["groups"]["clean"]["vigil I+II+III"]
    assert min(clean["se"], clean["ppv"]) >= 0.99  # matching and time units are right
    fast = [r for r in peaks["rows"] if r["group"] == "clean" and r["rate"] >= 250]
    assert all(r["detectors"]["neurokit2 ecg_peaks II"]["se"] < 0.9 for r in fast)  # 0.3 s gap
    for kind in ("asystole", "vt", "vf"):
        delays = report["delays"][kind]
        assert delays["detected"] >= 1
        assert all(0.0 < d < 15.0 for d in delays["delays_s"])  # after onset, within the record
    alarms = report["false_alarms"]
    assert set(alarms["physiological"]) == {"fusion on", "fusion off"}
    pvc = report["pvc"]["paths"]
    assert all(path["v_tp"] > 0 for path in pvc.values())  # PVCs found by both classifiers
    assert "| measurement |" in report["markdown"]
    assert (tmp_path / "analysis_accuracy.png").exists()


@pytest.mark.slow
def test_analysis_speed_benchmark_times_every_live_chunk_and_profiles_both_modes(tmp_path):
    out = _run_quick("analysis_speed.py", tmp_path)
    assert out.returncode in (0, 1), out.stderr  # 1 = a target missed on a loaded machine
    report = json.loads((tmp_path / "analysis_speed.json").read_text())
    rows = report["rows"]
    assert {"vigil analyze_records, 10 s chunks", "vigil BedAnalyzer, 40 ms chunks (live)",
            "neurokit2 ecg_peaks, lead II"} <= set(rows)  # fmt: skip
    assert all(r["x_real_time"] > 0 and r["cpu_s"] > 0 for r in rows.values())
    live = report["live"]
    assert live["chunks"] == report["device_seconds"] * 25  # one timing per 40 ms chunk
    assert live["cpu"]["p50_us"] <= live["cpu"]["p99_us"] <= live["cpu"]["max_us"]
    assert live["beds_per_core"] == pytest.approx(40_000 / live["cpu"]["mean_us"])
    for prof in report["profiles"].values():  # both modes, overall and within the package
        assert len(prof["overall"]) == 5
        assert prof["vigil analysis"]
        assert all(".py:" in p["function"] for p in prof["vigil analysis"])
    assert report["one_core"]["affinity"] is None or len(report["one_core"]["affinity"]) == 1
    assert (tmp_path / "analysis_speed.png").exists()
