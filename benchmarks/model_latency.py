"""Model latency and throughput: PyTorch eager vs ONNX Runtime FP32 vs INT8, per reference model.

Every path runs the same shipped weights on the same inputs in one process with the same
thread count (a fair baseline: PyTorch in `eval()` under `torch.inference_mode()`):

- `pytorch eager`: the module itself (vigil.export.torch_backend, the benchmarks' baseline);
- `onnxruntime bare`: a plain `InferenceSession.run` on the FP32 ONNX file;
- `vigil onnxruntime fp32` / `vigil onnxruntime int8`: Vigil's runtime backend (input checks
  included) on the FP32 and the CPU INT8 variants of the verified artifact.

Reported: p50/p99 latency at batch 1 and a larger batch, items/s, and ratios within the run.
Targets (issue 4): the U-Net at batch 1 through Vigil's best CPU path >= 2x faster than
PyTorch eager FP32; INT8 >= 1.5x faster than ORT FP32 on the U-Net with <= 1 point Dice loss
(the loss is the manifest's `metric_change`, measured at export).

    python benchmarks/model_latency.py [--artifacts DIR] [--threads 2] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from plotting import pyplot_or_none

from vigil.artifacts import load_artifact
from vigil.runtime.artifact_loader import VariantNotFound, choose_variant
from vigil.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "artifacts"
BATCHES = {"ecg_beat": (1, 64), "vitals_ae": (1, 16), "us_segmenter": (1, 4)}


def measure(fn, inputs, seconds: float, min_runs: int = 10) -> np.ndarray:
    for _ in range(3):
        fn(inputs)  # warm up
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < min_runs:
        t0 = time.perf_counter()
        fn(inputs)
        times.append(time.perf_counter() - t0)
    return np.array(times) * 1e3


def bench_model(name: str, artifact_dir: Path, threads: int, seconds: float) -> list[dict]:
    import onnxruntime as ort

    from vigil.export.torch_backend import TorchBackend
    from vigil.models.reference import reference_models

    reference = reference_models()[name]
    artifact = load_artifact(artifact_dir)
    fp32 = choose_variant(artifact, "onnxruntime-cpu", "fp32").path
    try:
        int8 = choose_variant(artifact, "onnxruntime-cpu", "int8").variant
    except VariantNotFound:
        int8 = None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    bare = ort.InferenceSession(str(fp32), options, providers=["CPUExecutionProvider"])

    def vigil_backend(path: Path) -> OnnxRuntimeBackend:
        backend = OnnxRuntimeBackend(path, intra_op_threads=threads)
        backend.activate()
        return backend

    paths = {
        "pytorch eager": TorchBackend.from_reference(reference, threads=threads).activate().infer,
        "onnxruntime bare": lambda x: bare.run(None, x),
        "vigil onnxruntime fp32": vigil_backend(fp32).infer,
    }
    if int8 is not None:
        paths["vigil onnxruntime int8"] = vigil_backend(artifact.path(int8)).infer
    rows = []
    for batch in BATCHES.get(name, (1, 8)):
        inputs = {k: np.ascontiguousarray(v, dtype=np.float32)
                  for k, v in reference.example_inputs(1, batch).items()}  # fmt: skip
        for path, fn in paths.items():
            ms = measure(fn, inputs, seconds)
            rows.append({
                "model": name, "path": path, "batch": batch, "runs": int(ms.size),
                "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                "items_per_s": batch / float(np.median(ms)) * 1e3,
                "metric_change": int8.metric_change if (int8 and "int8" in path) else None,
            })  # fmt: skip
            print(f"{name:13s} b{batch:<3d} {path:24s} p50 {rows[-1]['p50_ms']:8.2f} ms  "
                  f"p99 {rows[-1]['p99_ms']:8.2f} ms  {rows[-1]['items_per_s']:9.1f}/s",
                  file=sys.stderr)  # fmt: skip
    return rows


def ratios(rows: list[dict]) -> dict[str, float]:
    def p50(model: str, path: str, batch: int = 1) -> float | None:
        hit = [
            r["p50_ms"] for r in rows if (r["model"], r["path"], r["batch"]) == (model, path, batch)
        ]
        return hit[0] if hit else None

    out = {}
    for model in sorted({r["model"] for r in rows}):
        eager = p50(model, "pytorch eager")
        fp32 = p50(model, "vigil onnxruntime fp32")
        int8 = p50(model, "vigil onnxruntime int8")
        bare = p50(model, "onnxruntime bare")
        best = min(x for x in (fp32, int8) if x is not None)
        out[f"{model}: pytorch eager / vigil best CPU (b1)"] = eager / best
        out[f"{model}: vigil fp32 / bare onnxruntime (b1, overhead)"] = fp32 / bare
        if int8 is not None:
            out[f"{model}: vigil fp32 / vigil int8 (b1)"] = fp32 / int8
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=SHIPPED, help="one subdir per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="per path and batch")
    parser.add_argument("--models", nargs="*", help="default: every artifact found")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    names = args.models or sorted(p.name for p in args.artifacts.iterdir()
                                  if (p / "manifest.json").exists())  # fmt: skip
    rows = []
    for k, name in enumerate(names, 1):
        print(f"[{k}/{len(names)}] {name}", file=sys.stderr)
        rows += bench_model(name, args.artifacts / name, args.threads, args.seconds)
    summary = ratios(rows)
    print()
    print("| model | path | batch | p50 ms | p99 ms | items/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['path']} | {r['batch']} | {r['p50_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {r['items_per_s']:.1f} |")  # fmt: skip
    print()
    for key, value in summary.items():
        print(f"{key}: {value:.2f}x")
    speedup = summary.get("us_segmenter: pytorch eager / vigil best CPU (b1)", 0.0)
    int8_gain = summary.get("us_segmenter: vigil fp32 / vigil int8 (b1)", 0.0)
    checks = {
        "U-Net: best CPU path >= 2x PyTorch eager": speedup >= 2,
        "U-Net: INT8 >= 1.5x ORT FP32": int8_gain >= 1.5,
    }
    for key, ok in checks.items():
        print(f"{key}: {'PASS' if ok else 'FAIL'}")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "threads": args.threads,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rows": rows,
        "ratios": summary,
        "checks": checks,
    }
    (args.out / "model_latency.json").write_text(json.dumps(report, indent=2))
    _plot(rows, args.out / "model_latency.png")
    return 0 if all(checks.values()) else 1


def _plot(rows: list[dict], path: Path) -> None:
    plt = pyplot_or_none()
    if plt is None:
        return
    models = sorted({r["model"] for r in rows})
    paths = list(dict.fromkeys(r["path"] for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 3.4), squeeze=False)
    colors = ["#999999", "#bbbbbb", "#4878d0", "#1f4e9c"]
    for ax, model in zip(axes[0], models, strict=True):
        b1 = {r["path"]: r["p50_ms"] for r in rows if r["model"] == model and r["batch"] == 1}
        names = [p for p in paths if p in b1]
        ax.bar(range(len(names)), [b1[p] for p in names], color=colors[: len(names)])
        ax.set_xticks(range(len(names)), [p.replace("vigil onnxruntime", "vigil ORT")
                                          .replace("onnxruntime", "ORT") for p in names],
                      rotation=30, ha="right", fontsize=8)  # fmt: skip
        ax.set_title(f"{model} (batch 1)", fontsize=10)
        ax.set_ylabel("p50 latency, ms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
