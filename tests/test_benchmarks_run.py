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
