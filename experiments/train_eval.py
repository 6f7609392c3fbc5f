"""Train a candidate with the shipped recipe (models/us_segmenter/train.py), then Dice on held-out
EVAL_RANGES phantoms for PyTorch FP32, ORT FP32 and ORT INT8 (QDQ U8/S8 per-channel).

usage: python train_eval.py NAME OUTDIR [steps] [eval_frames] [seed]
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from arch import build, count_flops
from bench_latency import export, quantize, session

from vigil.models.synthetic.ultrasound import EVAL_RANGES, TRAIN_RANGES, phantom_batch

EVAL_SEED_OFFSET = 7_000_001
CALIBRATION_SEED_OFFSET = 3_000_017
BATCH, FULL_BATCH, FULL_STEPS, POOL, LR, CROP = 8, 4, 60, 400, 3e-3, 128


def random_crops(images, masks, rng, batch, crop=CROP):
    idx = rng.integers(0, len(images), size=batch)
    size = images.shape[-1]
    x = np.empty((batch, 1, crop, crop), dtype=np.float32)
    y = np.empty((batch, 1, crop, crop), dtype=np.float32)
    for j, i in enumerate(idx):
        r, c = rng.integers(0, size - crop + 1, size=2)
        img, msk = images[i, r : r + crop, c : c + crop], masks[i, r : r + crop, c : c + crop]
        if rng.random() < 0.5:
            img, msk = img[:, ::-1], msk[:, ::-1]
        x[j, 0], y[j, 0] = img, msk
    return x, y


def loss_fn(logits, target):
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = logits.sigmoid()
    inter = (p * target).sum()
    return bce + 1.0 - (2.0 * inter + 1.0) / (p.sum() + target.sum() + 1.0)


def dice(predict, images, masks):
    thr = math.log(0.5 / 0.5)
    tp = fp = fn = 0
    for s in range(0, len(images), 8):
        x = np.ascontiguousarray(images[s : s + 8, None])
        pred = predict(x)[:, 0] > thr
        t = masks[s : s + 8].astype(bool)
        tp += int((pred & t).sum())
        fp += int((pred & ~t).sum())
        fn += int((~pred & t).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1)


def main():
    name, out = sys.argv[1], Path(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 420
    n_eval = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    full_steps = int(sys.argv[6]) if len(sys.argv) > 6 else FULL_STEPS  # whole-frame tail
    full_batch = int(sys.argv[7]) if len(sys.argv) > 7 else FULL_BATCH
    tag = sys.argv[8] if len(sys.argv) > 8 else name
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    images, masks = phantom_batch(seed, POOL, 256, TRAIN_RANGES)
    model = build(name).train()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    full = min(full_steps, steps)
    losses = []
    for step in range(steps):
        if step < steps - full:
            b = random_crops(images, masks, rng, BATCH)
        else:
            b = random_crops(images, masks, rng, full_batch, crop=256)
        x, y = (torch.from_numpy(a) for a in b)
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss))
        if step % 60 == 0:
            print(
                tag,
                step,
                f"{np.mean(losses[-20:]):.3f}",
                f"{time.perf_counter() - t0:.0f}s",
                flush=True,
            )
    train_s = time.perf_counter() - t0
    model.eval()
    torch.save(model.state_dict(), out / f"{tag}.pt")
    ev_img, ev_msk = phantom_batch(EVAL_SEED_OFFSET + 0, n_eval, 256, EVAL_RANGES)
    with torch.inference_mode():
        d_torch = dice(lambda x: model(torch.from_numpy(x)).numpy(), ev_img, ev_msk)
    f32, i8, i8rr = out / f"{tag}.fp32.onnx", out / f"{tag}.int8.onnx", out / f"{tag}.int8rr.onnx"
    export(model, f32)
    cal, _ = phantom_batch(CALIBRATION_SEED_OFFSET, 16, 256, TRAIN_RANGES)
    calib = [{"image": cal[i : i + 1, None].astype(np.float32)} for i in range(16)]
    quantize(f32, i8, calib)
    quantize(f32, i8rr, calib, reduce_range=True)
    res = {
        "name": name,
        "tag": tag,
        "full_steps": full,
        "full_batch": full_batch,
        "steps": steps,
        "train_seconds": round(train_s, 1),
        "train_loss_last50": float(np.mean(losses[-50:])),
        "eval_frames": n_eval,
        "params_gflop": count_flops(build(name)),
    }
    res["dice_torch"] = d_torch
    for label, p in [("ort_fp32", f32), ("ort_int8", i8), ("ort_int8_reduce_range", i8rr)]:
        s = session(p)
        res["dice_" + label] = dice(lambda x, s=s: s.run(None, {"image": x})[0], ev_img, ev_msk)
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.disable_quant_qdq", "1")
    s = ort.InferenceSession(str(i8), so, providers=["CPUExecutionProvider"])
    res["dice_ort_int8_unfused"] = dice(lambda x, s=s: s.run(None, {"image": x})[0], ev_img, ev_msk)
    print(json.dumps(res, indent=1))
    (out / f"{tag}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
