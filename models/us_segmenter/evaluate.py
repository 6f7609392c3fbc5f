"""Held-out segmentation metrics through any backend (numpy only, no torch).

Metric definitions (stated here because the model card and the manifest quote them):
- `dice` (main metric) and `iou` are **global**: true/false positives and false negatives
  pooled over all pixels of all 48 held-out frames, so large and small regions weigh by
  area and no frame's empty prediction divides by zero.
- `dice_frame_mean`: the mean of per-frame Dice (every evaluation frame has at least one
  anechoic region), which weighs a small missed vessel as much as a large cyst.
- `pixel_accuracy`: fraction of correctly labelled pixels inside the scanned sector (outside
  it every answer would be trivially "background").
"""

from __future__ import annotations

import math

import numpy as np

from vigil.models.reference import Predict
from vigil.models.us_segmenter.dataset import EVAL_FRAMES, eval_set

THRESHOLD = 0.5  # on the sigmoid probability
BATCH = 8


def evaluate(predict: Predict, seed: int = 0, n: int = EVAL_FRAMES) -> dict[str, float]:
    """Run `predict({"image": x})["logits"]` over held-out phantoms in batches of 8."""
    images, masks = eval_set(seed, n)
    logit_threshold = math.log(THRESHOLD / (1.0 - THRESHOLD))
    tp = fp = fn = correct = in_sector = 0
    frame_dice = []
    for start in range(0, n, BATCH):
        x = np.ascontiguousarray(images[start : start + BATCH, None])
        logits = np.asarray(predict({"image": x})["logits"])
        if logits.shape != x.shape:
            raise ValueError(f"us_segmenter: logits shape {logits.shape}, expected {x.shape}")
        pred = logits[:, 0] > logit_threshold
        truth = masks[start : start + BATCH].astype(bool)
        sector = images[start : start + BATCH] > 0  # the fan; outside it the image is 0
        for p, t, s in zip(pred, truth, sector, strict=True):
            a, b, c = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
            tp, fp, fn = tp + a, fp + b, fn + c
            frame_dice.append(2 * a / max(2 * a + b + c, 1))
            fan = s | t  # an anechoic pixel can be 0 after log compression: still in the fan
            correct += int((p == t)[fan].sum())
            in_sector += int(fan.sum())
    return {
        "dice": 2 * tp / max(2 * tp + fp + fn, 1),
        "iou": tp / max(tp + fp + fn, 1),
        "dice_frame_mean": float(np.mean(frame_dice)),
        "pixel_accuracy": correct / max(in_sector, 1),
    }
