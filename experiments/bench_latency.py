"""Export candidates (dynamo, opset 18), quantize (ORT static QDQ, per-channel S8 weights, U8
activations as export/quantize.py's `cpu` target) and time FP32 vs INT8 interleaved.

usage: python bench_latency.py OUTDIR name[,name...] [rounds] [iters] [--weights name=path.pt]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).parent))
from arch import build, count_flops

warnings.filterwarnings("ignore")


def export(model, path):
    model.eval()
    x = torch.zeros(1, 1, 256, 256)
    prog = torch.onnx.export(
        model,
        (x,),
        input_names=["image"],
        output_names=["logits"],
        opset_version=18,
        dynamo=True,
        optimize=True,
        verbose=False,
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    prog.save(str(path))


def calib_frames(n=16):
    from vigil.models.synthetic.ultrasound import TRAIN_RANGES, phantom_batch

    images, _ = phantom_batch(3_000_017, n, 256, TRAIN_RANGES)
    return [{"image": images[i : i + 1, None].astype(np.float32)} for i in range(n)]


def quantize(fp32, out, calib, reduce_range=False):
    import shutil
    import tempfile

    fp32, out = Path(fp32).resolve(), Path(out).resolve()
    prep = str(out) + ".prep.onnx"
    here = os.getcwd()
    scratch = tempfile.mkdtemp(prefix="unetexp-q-")
    os.chdir(scratch)  # the quantizer and shape inference drop temp files into the cwd
    try:
        _quantize(fp32, out, calib, reduce_range, prep)
    finally:
        os.chdir(here)
        shutil.rmtree(scratch, ignore_errors=True)


def _quantize(fp32, out, calib, reduce_range, prep):
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32), prep)
    except Exception:
        quant_pre_process(str(fp32), prep, skip_symbolic_shape=True)

    class R(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)

        def rewind(self):
            self.it = iter(calib)

    quantize_static(
        prep,
        str(out),
        R(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        reduce_range=reduce_range,
        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
    )
    os.remove(prep)


def session(path, threads=2):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def op_summary(sess_path):
    """Op types after ORT's optimisations (to see what runs quantized)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    opt = str(sess_path) + ".opt.onnx"
    so.optimized_model_filepath = opt
    ort.InferenceSession(str(sess_path), so, providers=["CPUExecutionProvider"])
    import collections

    import onnx

    m = onnx.load(opt)
    os.remove(opt)
    return dict(collections.Counter(n.op_type for n in m.graph.node))


def c1(v):
    return f"{statistics.median(v):.1f}" if v else "-"


def ratio1(cpu1, n):
    a, b = cpu1[(n, "fp32")], cpu1[(n, "int8")]
    return f"{statistics.median(a) / statistics.median(b):.2f}" if a and b else "-"


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    names = sys.argv[2].split(",")
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 15
    weights = {}
    for a in sys.argv[5:]:
        if a.startswith("w:"):
            k, v = a[2:].split("=")
            weights[k] = v
    torch.manual_seed(0)
    calib = calib_frames()
    sessions, info = {}, {}
    for n in names:
        base = n.split("@")[0]
        model = build(base)
        if base in weights:
            model.load_state_dict(torch.load(weights[base]))
        params, gflop = count_flops(model)
        info[n] = (params, gflop)
        f32, i8 = out / f"{n}.fp32.onnx", out / f"{n}.int8.onnx"
        if not f32.exists():
            export(model, f32)
        if not i8.exists():
            quantize(f32, i8, calib, reduce_range="@rr" in n)
        print(n, "int8 ops:", op_summary(i8), flush=True)
        sessions[(n, "fp32")] = session(f32)
        sessions[(n, "int8")] = session(i8)
    x = {"image": calib[0]["image"]}
    for s in sessions.values():
        for _ in range(3):
            s.run(None, x)
    # Each round: for each candidate, `iters` alternating FP32/INT8 single runs (so both see the
    # same background load), then the per-session median (p50) of the round.
    p50 = {k: [] for k in sessions}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            pair = [(n, "fp32"), (n, "int8")] if r % 2 == 0 else [(n, "int8"), (n, "fp32")]
            ts = {k: [] for k in pair}
            for _ in range(iters):
                for k in pair:
                    t = time.perf_counter()
                    sessions[k].run(None, x)
                    ts[k].append((time.perf_counter() - t) * 1e3)
            for k in pair:
                p50[k].append(statistics.median(ts[k]))
    # Contention-robust secondary measure: 1 intra-op thread (ORT then computes on the calling
    # thread), CPU time of that thread (time.thread_time), so preemption by other jobs is not
    # counted. Not the 2-thread target; it shows the work each graph does.
    cpu1 = {k: [] for k in sessions}
    if os.environ.get("CPU1", "1") == "1":
        s1 = {}
        for n in names:
            s1[(n, "fp32")] = session(out / f"{n}.fp32.onnx", threads=1)
            s1[(n, "int8")] = session(out / f"{n}.int8.onnx", threads=1)
        for s in s1.values():
            s.run(None, x)
        for _round in range(max(3, rounds // 2)):
            for n in names:
                for _ in range(5):
                    for k in [(n, "fp32"), (n, "int8")]:
                        t = time.thread_time()
                        s1[k].run(None, x)
                        cpu1[k].append((time.thread_time() - t) * 1e3)
    print(
        f"\nload avg {os.getloadavg()}; rounds {rounds} x iters {iters}; medians of per-round p50"
    )
    print(
        "| candidate | params | GFLOP | FP32 ms | INT8 ms | FP32/INT8 "
        "| median per-round ratio [IQR] | best-round FP32/INT8 ms "
        "| 1-thread CPU ms FP32 / INT8 = ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        a, b = statistics.median(p50[(n, "fp32")]), statistics.median(p50[(n, "int8")])
        ratios = [fa / ib for fa, ib in zip(p50[(n, "fp32")], p50[(n, "int8")], strict=False)]
        ratios.sort()
        print(
            f"| {n} | {info[n][0] / 1e6:.2f}M | {info[n][1]:.2f} | {a:.1f} | {b:.1f} | {a / b:.2f} "
            f"| {statistics.median(ratios):.2f} "
            f"[{ratios[len(ratios) // 4]:.2f}-{ratios[3 * len(ratios) // 4]:.2f}] "
            f"| {min(p50[(n, 'fp32')]):.1f} / {min(p50[(n, 'int8')]):.1f} "
            f"| {c1(cpu1[(n, 'fp32')])} / {c1(cpu1[(n, 'int8')])} = {ratio1(cpu1, n)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
