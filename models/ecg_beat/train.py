"""Training: deterministic given the seed, a few minutes on one CPU core, safetensors out.

The training set (see `dataset`) is rendered once; every epoch re-draws each window's
centring error (up to ±40 ms, twice the specified tolerance) and a gain, so the model sees a
fresh detector error each time without re-rendering. Classes are weighted by inverse
frequency so `other` and `ventricular` count as much as the plentiful normal beats. Weights
are written with safetensors (never pickle).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np

from vigil.models.ecg_beat.dataset import LABELS, cut, draw_offsets, training_set
from vigil.models.ecg_beat.evaluate import evaluate, torch_predict
from vigil.models.ecg_beat.model import build
from vigil.models.ecg_beat.spec import TRAIN_JITTER_SAMPLES

EPOCHS = 8
BATCH = 128
LEARNING_RATE = 4e-3
WEIGHT_DECAY = 1e-3
GAIN = (0.8, 1.25)  # electrode and amplifier gain vary between monitors and placements


def train(
    out_weights: Path,
    seed: int = 0,
    progress: bool = True,
    *,
    epochs: int = EPOCHS,
    scale: float = 1.0,
    max_steps: int | None = None,
    evaluate_seed: int | None = 0,
) -> dict[str, float]:
    """Train from scratch, save to `out_weights`, return held-out metrics (on the held-out
    set of `evaluate_seed`) and the run's size and time.

    `scale` shrinks the training set, `max_steps` stops early and `evaluate_seed=None` skips
    the evaluation: they exist for quick end-to-end checks, not for shipped weights.
    """
    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm

    start = time.monotonic()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ws = training_set(seed, scale)
    n = len(ws)
    counts = np.bincount(ws.labels, minlength=len(LABELS)).astype(np.float64)
    class_weight = torch.tensor(counts.sum() / (len(LABELS) * np.maximum(counts, 1)))

    model = build()
    model.train()
    steps_per_epoch = math.ceil(n / BATCH)
    total = epochs * steps_per_epoch
    if max_steps is not None:
        total = max(1, min(max_steps, total))
    optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=LEARNING_RATE, total_steps=total, pct_start=0.2
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weight.float(), label_smoothing=0.02)
    bar = tqdm(total=total, file=sys.stderr, disable=not progress, desc="ecg_beat", unit="step")
    step = 0
    while step < total:
        order = rng.permutation(n)
        offsets = draw_offsets(rng, n, TRAIN_JITTER_SAMPLES)
        x_all = cut(ws.signal, ws.centres[order], offsets, rng.uniform(*GAIN, size=n))
        y_all = ws.labels[order]
        for i in range(0, n, BATCH):
            if step >= total:
                break
            x = torch.from_numpy(x_all[i : i + BATCH])
            y = torch.from_numpy(y_all[i : i + BATCH])
            loss = loss_fn(model(x), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()

    model.eval()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    out_weights = Path(out_weights)
    out_weights.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_weights), metadata={"model": "ecg_beat", "seed": str(seed)})
    train_seconds = time.monotonic() - start
    metrics = {} if evaluate_seed is None else evaluate(torch_predict(model), evaluate_seed)
    metrics["train_seconds"] = train_seconds
    metrics["train_windows"] = float(n)
    metrics["train_steps"] = float(step)
    return metrics
