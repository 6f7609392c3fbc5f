"""Held-out evaluation, the same for every backend: metrics come from `predict`'s logits.

`evaluate(predict, seed)` is what export runs on PyTorch, ONNX Runtime FP32 and INT8 alike,
so the only thing that differs between their numbers is the backend. The held-out set is
rendered once per process and seed (a few seconds) and kept read-only, because the export
chain evaluates three backends in a row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from vigil.models.ecg_beat.dataset import (
    LABELS,
    cut,
    draw_offsets,
    heldout_arrays,
    training_set,
)
from vigil.models.ecg_beat.spec import TRAIN_JITTER_SAMPLES

Arrays = dict[str, np.ndarray]
Predict = Callable[[Arrays], Arrays]
EVAL_BATCH = 512
CALIBRATION_BATCH = 32
CALIBRATION_SCALE = 0.05  # a small training-distribution set: every recording kind, ~1.5k


@functools.lru_cache(maxsize=2)
def _heldout(seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = heldout_arrays(seed)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Per-class precision, recall and F1, accuracy, and macro F1 (the card's main metric:
    every class counts the same however many windows it has)."""
    out: dict[str, float] = {}
    f1s = []
    for i, name in enumerate(LABELS):
        tp = float(np.sum((y_pred == i) & (y_true == i)))
        predicted = float(np.sum(y_pred == i))
        actual = float(np.sum(y_true == i))
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[f"precision_{name}"] = precision
        out[f"recall_{name}"] = recall
        out[f"f1_{name}"] = f1
        f1s.append(f1)
    out["accuracy"] = float(np.mean(y_pred == y_true))
    out["macro_f1"] = float(np.mean(f1s))
    return out


def evaluate(predict: Predict, seed: int = 0) -> dict[str, float]:
    """Held-out metrics of `predict` (inputs {"ecg": (b, 1, 384)}, outputs {"logits": (b, 3)})."""
    x, y = _heldout(seed)
    logits = [
        np.asarray(predict({"ecg": x[i : i + EVAL_BATCH].copy()})["logits"])
        for i in range(0, len(x), EVAL_BATCH)
    ]
    return classification_metrics(y, np.concatenate(logits).argmax(axis=1))


def example_inputs(seed: int = 0, batch: int = 8) -> Arrays:
    """`batch` real held-out windows of every class, chosen at random by `seed`."""
    x, _ = _heldout(seed)
    index = np.random.default_rng(seed).choice(len(x), size=batch, replace=batch > len(x))
    return {"ecg": x[np.sort(index)].copy()}


def calibration_inputs(seed: int = 0, n: int = 256) -> Iterator[Arrays]:
    """`n` training-distribution windows (INT8 calibration must not see held-out data), in
    batches of up to 32."""
    ws = training_set(seed, scale=CALIBRATION_SCALE)
    rng = np.random.default_rng([seed, 1])
    index = rng.choice(len(ws), size=n, replace=n > len(ws))
    x = cut(ws.signal, ws.centres[index], draw_offsets(rng, n, TRAIN_JITTER_SAMPLES))
    for i in range(0, n, CALIBRATION_BATCH):
        yield {"ecg": x[i : i + CALIBRATION_BATCH].copy()}


def torch_predict(module: Any) -> Predict:
    """`predict` for an eager module (eval mode, no autograd)."""
    import torch

    module.eval()

    def predict(inputs: Arrays) -> Arrays:
        with torch.inference_mode():
            logits = module(torch.from_numpy(np.ascontiguousarray(inputs["ecg"])))
        return {"logits": logits.numpy()}

    return predict
