"""Training entry point: normal windows only, then threshold calibration on held-out normals.

Deterministic by seed (data streams, initialisation and batch order all derive from it);
the shipped configuration takes about 75 s on one CPU core (1500 steps) plus 20 s of data
generation. The weights file carries the calibrated threshold in its safetensors metadata
(see `scoring`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vigil.models.vitals_ae.data import (
    CALIBRATION_STREAM,
    TRAIN_RANGES,
    TRAIN_STREAM,
    normal_windows,
    stream,
)
from vigil.models.vitals_ae.scoring import THRESHOLD_QUANTILE

STEPS = 1500
BATCH = 128
POOL = 16384  # training windows (each step samples a batch from them)
CALIBRATION = 4000  # held-out normal windows that set the threshold
LR = 3e-3


def train(
    out_weights: Path, seed: int = 0, progress: bool = True, max_steps: int | None = None
) -> dict[str, float]:
    """Train on normal TRAIN-range windows, calibrate the threshold, save, evaluate.

    `max_steps` shortens the run (tests, smoke checks); the data pools shrink with it so a
    few steps take seconds. Returns the final training loss, the threshold and the held-out
    metrics of `evaluate.evaluate_at`.
    """
    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm

    from vigil.models.vitals_ae.evaluate import evaluate_at, scores
    from vigil.models.vitals_ae.model import build

    steps = STEPS if max_steps is None else max(1, min(STEPS, max_steps))
    short = max_steps is not None
    started = time.perf_counter()
    torch.manual_seed(seed)
    pool = normal_windows(stream(seed, TRAIN_STREAM), min(POOL, BATCH * steps), TRAIN_RANGES)
    x = torch.from_numpy(pool)
    model = build()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    order = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    bar = tqdm(range(steps), desc="vitals_ae", disable=not progress, unit="step")
    for _ in bar:
        batch = x[torch.randint(0, len(x), (BATCH,), generator=order)]
        _, score = model(batch)
        # the loss is the score itself: its trim leaves each window's worst minute out, so
        # the code learns normal physiology rather than spending capacity on artefacts
        loss = score.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    model.eval()

    def predict(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            reconstruction, score = model(torch.from_numpy(inputs["vitals"]))
        return {"reconstruction": reconstruction.numpy(), "score": score.numpy()}

    held_out = normal_windows(
        stream(seed, CALIBRATION_STREAM), 1000 if short else CALIBRATION, TRAIN_RANGES
    )
    threshold = float(np.quantile(scores(predict, held_out), THRESHOLD_QUANTILE))
    out_weights = Path(out_weights)
    out_weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(
        state,
        str(out_weights),
        metadata={
            "threshold": repr(threshold),
            "threshold_quantile": repr(THRESHOLD_QUANTILE),
            "calibration_windows": str(len(held_out)),
            "seed": str(seed),
            "steps": str(steps),
        },
    )
    metrics = evaluate_at(predict, seed, threshold)
    return {
        "loss": float(np.mean(losses[-50:])),
        "threshold": threshold,
        "train_seconds": time.perf_counter() - started,
        **metrics,
    }
