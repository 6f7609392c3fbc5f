"""Analysis speed: one bed's `analyze_records` on one core, offline and live, beside neurokit2.

The bed is what a monitor sends (3 ECG leads at 500 Hz, pleth 125 Hz, respiration 62.5 Hz,
1 Hz numerics and status) for a simulated patient in sinus rhythm with frequent PVCs
(`pvc_rich`: every beat goes through the ONNX beat classifier). The records are rendered
before any timing (the synthesizer's cost is left out), then analysed on one core (process
pinned to one CPU; OMP/BLAS threads 1; ONNX Runtime intra-op threads 1, the default
`ModelSettings.intra_op_threads`):

- offline: `analyze_records` over records in 10 s chunks (what `vigil analyze` does), as a
  multiple of real time; wall time and process CPU time, best of `--repeats`;
- live: a `BedAnalyzer` fed the records of each 40 ms chunk (the wire's chunk) as they would
  arrive, each chunk timed alone: mean, p50, p99 and worst cost in µs, the share of one core a
  bed takes (mean cost / 40 ms) and so how many beds one core could analyse;
- baselines in the same run on the same samples: neurokit2's `ecg_peaks` (method "neurokit")
  on lead II, alone and after `ecg_clean`, and Vigil's `EcgFrontEnd` alone (R peaks only);
- a cProfile run of each mode: the top functions by own time.

Targets (issue 6): offline >= 500x real time; live cost low enough for >= 64 beds per core
(mean <= 625 µs per 40 ms chunk), and "well under 1 ms" per chunk. Ratios are within one run:
these machines are shared and noisy.

    python benchmarks/analysis_speed.py [--quick] [--seconds 600] [--repeats 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import time
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
from plotting import pyplot_or_none

from vigil.models.synthetic import PatientSimulator
from vigil.records import Record, WaveformChunk
from vigil.runtime.analysis.analyze import analyze_records
from vigil.runtime.analysis.bed_analyzer import BedAnalyzer
from vigil.runtime.analysis.ecg_front_end import EcgFrontEnd
from vigil.runtime.analysis.settings import AnalysisSettings
from vigil.runtime.analysis.simulated_records import simulated_records

SCENARIO = "pvc_rich"
SEED = 7
LIVE_CHUNK = Fraction(1, 25)  # 40 ms
OFFLINE_CHUNK = Fraction(10)
OFFLINE_TARGET_X = 500.0
BEDS_TARGET = 64
TOP = 5
ANALYSIS_DIR = "runtime/analysis/"


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pin_one_core() -> dict[str, object]:
    """Run on one CPU, with numpy's BLAS (if threadpoolctl is there) on one thread too; ONNX
    Runtime's intra-op pool is 1 thread by default (`ModelSettings.intra_op_threads`)."""
    info: dict[str, object] = {"affinity": None, "blas_threads": None}
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        info["affinity"] = [cpu]
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return info
    threadpool_limits(1)
    info["blas_threads"] = 1
    return info


def render(seconds: int, chunk_s: Fraction) -> list[Record]:
    return list(simulated_records(PatientSimulator(SCENARIO, SEED), seconds, chunk_s))


def group_chunks(records: list[Record]) -> list[list[Record]]:
    """The records of each 40 ms chunk, in arrival order: a chunk ends with its last lead."""
    groups: list[list[Record]] = [[]]
    for r in records:
        groups[-1].append(r)
        if isinstance(r, WaveformChunk) and r.kind == "ECG_III":
            groups.append([])
    return [g for g in groups if g]


def best_of(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Best wall and process-CPU seconds of `repeats` calls."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return {"wall_s": wall, "cpu_s": cpu}


def offline(records: list[Record]) -> None:
    analyze_records(records, AnalysisSettings())


def live(groups: list[list[Record]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-chunk wall and CPU cost (ns) of a bed fed chunk by chunk."""
    bed = BedAnalyzer(AnalysisSettings())
    wall = np.empty(len(groups), dtype=np.int64)
    cpu = np.empty(len(groups), dtype=np.int64)
    perf, proc = time.perf_counter_ns, time.process_time_ns
    for k, group in enumerate(groups):
        w0, c0 = perf(), proc()
        for record in group:
            bed.feed(record)
        cpu[k] = proc() - c0
        wall[k] = perf() - w0
    bed.finish()
    return wall, cpu


def ecg_lead_ii(records: list[Record]) -> np.ndarray:
    return np.concatenate(
        [r.samples for r in records if isinstance(r, WaveformChunk) and r.kind == "ECG_II"]
    )


def ecg_leads(records: list[Record]) -> np.ndarray:
    kinds = ("ECG_I", "ECG_II", "ECG_III")
    rows = [
        np.concatenate([r.samples for r in records if isinstance(r, WaveformChunk) and r.kind == k])
        for k in kinds
    ]
    return np.vstack(rows)


def neurokit(x: np.ndarray, clean: bool) -> int:
    import neurokit2 as nk

    x = x.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if clean:
            x = nk.ecg_clean(x, sampling_rate=500)
        _, info = nk.ecg_peaks(x, sampling_rate=500)
    return len(info["ECG_R_Peaks"])


def front_end(ecg: np.ndarray, leads: tuple[str, ...]) -> int:
    fe = EcgFrontEnd(Fraction(500), leads)
    return len(fe.feed(0, ecg).peaks) + len(fe.gap(ecg.shape[1]).peaks)


def profile(fn: Callable[[], object]) -> dict[str, list[dict[str, object]]]:
    """cProfile of one call: the TOP functions by own time, overall and within Vigil's
    analysis package (numpy's reductions lead overall, which says little about where)."""
    prof = cProfile.Profile()
    prof.runcall(fn)
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    ranked = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]

    def row(key: tuple[str, int, str], value: tuple) -> dict[str, object]:
        file, line, name = key
        _cc, ncalls, tottime, cumtime, _callers = value
        return {
            "function": f"{name} ({Path(file).name}:{line})" if line else f"{name} {file}",
            "calls": ncalls,
            "own_s": round(tottime, 4),
            "cumulative_s": round(cumtime, 4),
            "own_share": round(tottime / total, 3) if total else None,
        }

    ours = [kv for kv in ranked if ANALYSIS_DIR in kv[0][0].replace("\\", "/")]
    return {
        "overall": [row(k, v) for k, v in ranked[:TOP]],
        "vigil analysis": [row(k, v) for k, v in ours[:TOP]],
        "total_s": round(total, 3),
    }


def chunk_stats(ns: np.ndarray) -> dict[str, float]:
    us = ns / 1e3
    return {
        "mean_us": float(us.mean()),
        "p50_us": float(np.percentile(us, 50)),
        "p95_us": float(np.percentile(us, 95)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
        "over_1ms_fraction": float((us >= 1000.0).mean()),
        "max_after_first_s_us": float(us[25:].max()) if len(us) > 25 else float(us.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run, well under a minute")
    parser.add_argument("--seconds", type=int, default=600, help="device time of the record")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile-seconds", type=int, default=120)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats, args.profile_seconds = 30, 1, 10
    one_core = pin_one_core()

    progress(f"rendering {args.seconds} s of {SCENARIO} (10 s and 40 ms chunks), before timing")
    offline_records = render(args.seconds, OFFLINE_CHUNK)
    groups = group_chunks(render(args.seconds, LIVE_CHUNK))
    lead_ii = ecg_lead_ii(offline_records)
    leads = ecg_leads(offline_records)
    seconds = float(args.seconds)
    rows: dict[str, dict[str, float]] = {}

    def add(name: str, t: dict[str, float], device_s: float = seconds) -> None:
        rows[name] = dict(
            t, x_real_time=device_s / t["cpu_s"], x_real_time_wall=device_s / t["wall_s"]
        )
        progress(
            f"  {name:44s} {rows[name]['x_real_time']:9.0f}x real time (CPU), "
            f"{rows[name]['x_real_time_wall']:9.0f}x (wall)"
        )

    progress("offline (10 s chunks)")
    startup = best_of(lambda: offline(render(1, OFFLINE_CHUNK)), 1)  # cold: loads the model
    progress(
        f"  first bed of the process (1 s record, model load): {1e3 * startup['cpu_s']:.0f} ms"
    )
    add(
        "vigil analyze_records, 10 s chunks",
        best_of(lambda: offline(offline_records), args.repeats),
    )
    add(
        "vigil EcgFrontEnd alone, leads I II III",
        best_of(lambda: front_end(leads, ("I", "II", "III")), args.repeats),
    )
    add(
        "vigil EcgFrontEnd alone, lead II",
        best_of(lambda: front_end(lead_ii[None, :], ("II",)), args.repeats),
    )
    try:
        import neurokit2

        nk_version: str | None = str(neurokit2.__version__)
    except ImportError:
        nk_version = None
        progress("neurokit2 not installed: no baseline")
    if nk_version:
        add("neurokit2 ecg_peaks, lead II", best_of(lambda: neurokit(lead_ii, False), args.repeats))
        add(
            "neurokit2 ecg_clean + ecg_peaks, lead II",
            best_of(lambda: neurokit(lead_ii, True), args.repeats),
        )

    progress(f"live ({len(groups)} chunks of 40 ms)")
    runs = [live(groups) for _ in range(args.repeats)]
    wall, cpu = min(runs, key=lambda r: int(r[1].sum()))
    add(
        "vigil BedAnalyzer, 40 ms chunks (live)",
        {"wall_s": float(wall.sum()) / 1e9, "cpu_s": float(cpu.sum()) / 1e9},
    )
    chunk_us = 1e6 * float(LIVE_CHUNK)
    c, w = chunk_stats(cpu), chunk_stats(wall)
    live_row = {
        "chunks": len(groups),
        "cpu": c,
        "wall": w,
        "bed_share_of_core": c["mean_us"] / chunk_us,
        "beds_per_core": chunk_us / c["mean_us"],
        "beds_per_core_wall": chunk_us / w["mean_us"],
    }
    progress(
        f"  per 40 ms chunk, CPU: mean {c['mean_us']:.0f} µs, p50 {c['p50_us']:.0f}, "
        f"p99 {c['p99_us']:.0f}, worst {c['max_us']:.0f} -> "
        f"{live_row['beds_per_core']:.0f} beds/core; wall mean {w['mean_us']:.0f} µs"
    )

    progress(f"cProfile ({args.profile_seconds} s of device time each)")
    n_off = max(1, len(offline_records) * args.profile_seconds // args.seconds)
    n_live = max(1, len(groups) * args.profile_seconds // args.seconds)
    profiles = {
        "offline (10 s chunks)": profile(lambda: offline(offline_records[:n_off])),
        "live (40 ms chunks)": profile(lambda: live(groups[:n_live])),
    }

    vigil_x = rows["vigil analyze_records, 10 s chunks"]["x_real_time"]
    ratios = {}
    if nk_version:
        nk_x = rows["neurokit2 ecg_peaks, lead II"]["x_real_time"]
        ratios["vigil whole bed offline / neurokit2 ecg_peaks lead II"] = vigil_x / nk_x
        ratios["vigil EcgFrontEnd lead II / neurokit2 ecg_peaks lead II"] = (
            rows["vigil EcgFrontEnd alone, lead II"]["x_real_time"] / nk_x
        )
    ratios["vigil live / vigil offline (throughput)"] = (
        rows["vigil BedAnalyzer, 40 ms chunks (live)"]["x_real_time"] / vigil_x
    )
    checks = {
        f"offline >= {OFFLINE_TARGET_X:g}x real time (CPU)": vigil_x >= OFFLINE_TARGET_X,
        f"live: >= {BEDS_TARGET} beds per core (CPU)": live_row["beds_per_core"] >= BEDS_TARGET,
        "live: p99 chunk cost under 1 ms (CPU)": c["p99_us"] < 1000.0,
    }
    report = {
        "quick": args.quick,
        "scenario": SCENARIO,
        "seed": SEED,
        "device_seconds": seconds,
        "repeats": args.repeats,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "neurokit2": nk_version,
        "one_core": one_core,
        "startup_s": startup,
        "rows": rows,
        "live": live_row,
        "ratios": ratios,
        "profiles": profiles,
        "checks": checks,
        "pass": all(checks.values()),
    }
    print(markdown(report))
    for key, ok in checks.items():
        print(f"{key}: {'PASS' if ok else 'FAIL'}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "analysis_speed.json").write_text(json.dumps(report, indent=2))
    _plot(rows, live_row, cpu, args.out / "analysis_speed.png")
    return 0 if report["pass"] else 1


def markdown(report: dict) -> str:
    seconds = report["device_seconds"]
    lines = [
        "| path (one core) | device s | CPU s | x real time (CPU) | x real time (wall) |",
        "|---|---|---|---|---|",
    ]
    for name, r in report["rows"].items():
        lines.append(
            f"| {name} | {seconds:g} | {r['cpu_s']:.3f} | {r['x_real_time']:.0f}x | "
            f"{r['x_real_time_wall']:.0f}x |"
        )
    lv = report["live"]
    c, w = lv["cpu"], lv["wall"]
    lines += [
        "",
        f"Live, per 40 ms chunk (CPU): mean {c['mean_us']:.0f} µs, p50 {c['p50_us']:.0f} µs, "
        f"p95 {c['p95_us']:.0f} µs, "
        f"p99 {c['p99_us']:.0f} µs, worst {c['max_us']:.0f} µs (after the first second "
        f"{c['max_after_first_s_us']:.0f} µs), {100 * c['over_1ms_fraction']:.1f} % of chunks "
        f"over 1 ms; wall mean {w['mean_us']:.0f} µs, p99 "
        f"{w['p99_us']:.0f} µs. One bed takes {100 * lv['bed_share_of_core']:.2f} % of a core: "
        f"{lv['beds_per_core']:.0f} beds per core ({lv['beds_per_core_wall']:.0f} by wall time). "
        f"First bed of the process (1 s record, ONNX model load included): "
        f"{1e3 * report['startup_s']['cpu_s']:.0f} ms CPU.",
        "",
    ]
    lines += [f"{k}: {v:.2f}x" for k, v in report["ratios"].items()]
    for mode, prof in report["profiles"].items():
        for scope in ("overall", "vigil analysis"):
            lines += [
                "",
                f"cProfile, {mode}, {scope}: top {TOP} by own time "
                f"(of {prof['total_s']:.2f} s profiled)",
                "",
                "| own % | own s | calls | function |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| {100 * (p['own_share'] or 0):.1f} | {p['own_s']:.3f} | {p['calls']} | "
                f"{p['function']} |"
                for p in prof[scope]
            ]
    return "\n".join(lines)


def _plot(rows: dict, live_row: dict, chunk_cpu_ns: np.ndarray, path: Path) -> None:
    plt = pyplot_or_none()
    if plt is None:
        return
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    names = list(rows)
    colors = ["#999999" if n.startswith("neurokit2") else "#4878d0" for n in names]
    ax.barh(names, [rows[n]["x_real_time"] for n in names], color=colors)
    ax.axvline(OFFLINE_TARGET_X, color="#d62728", linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel("multiple of real time, one core (CPU time)")
    ax.set_title(
        "One bed's analysis, offline unless marked live (dashed: 500x target)", fontsize=10
    )
    ax.tick_params(axis="y", labelsize=8)
    ax.invert_yaxis()
    us = np.maximum(chunk_cpu_ns / 1e3, 1.0)
    ax2.hist(
        us, bins=np.logspace(np.log10(us.min()), np.log10(us.max()), 60), color="#1f4e9c", log=True
    )
    ax2.set_xscale("log")
    budget = 1e6 * float(LIVE_CHUNK) / BEDS_TARGET
    ax2.axvline(
        budget, color="#d62728", linestyle="--", label=f"{budget:.0f} µs: {BEDS_TARGET} beds"
    )
    ax2.axvline(1000, color="#ff7f0e", linestyle=":", label="1 ms")
    ax2.legend(fontsize=7)
    ax2.set_xlabel("CPU cost per 40 ms chunk, µs (log)")
    ax2.set_ylabel("chunks")
    ax2.set_title(
        f"Live: mean {live_row['cpu']['mean_us']:.0f} µs, p99 {live_row['cpu']['p99_us']:.0f} µs"
        f"\n{live_row['beds_per_core']:.0f} beds per core",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    progress(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
