"""Training: `vigil train us_segmenter` reproduces the shipped weights in minutes on a CPU.

Recipe: 400 full-size training phantoms (seeded); 300 steps on random 128x128 crops (batch 8,
left-right flips), then 200 steps on whole 256x256 frames (batch 4); AdamW (weight decay
1e-4) with a one-cycle learning rate peaking at 3e-3 over all 500 steps; loss BCE + soft Dice
(BCE alone under-weights small vessels, Dice alone trains erratically early). Why the
whole-frame steps: crops are 4x cheaper, but a net trained only on crops marked the black
corners below the fan's arc as "anechoic" on whole frames: its deepest features had always
seen an image edge nearby. The low-resolution U-Net (model.py) needs many of them: with the
previous recipe's 60 it under-fitted (held-out Dice 0.866, train-distribution 0.888); with 200
it reaches 0.955 (experiments/RESULTS.md).

Deterministic for a seed and a thread count (PyTorch's CPU kernels may sum in a different
order with more threads), not bit-identical across machines; the card states the tolerance
on the metrics instead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vigil.models.reference import Predict
from vigil.models.us_segmenter.dataset import EVAL_FRAMES, random_crops, training_pool
from vigil.models.us_segmenter.evaluate import evaluate

if TYPE_CHECKING:  # torch is imported lazily: this module is listed without it
    import torch

CROP_STEPS = 300  # random 128x128 crops first
BATCH = 8
FULL_STEPS = 200  # then whole frames
STEPS = CROP_STEPS + FULL_STEPS
FULL_BATCH = 4
POOL = 400  # phantoms rendered up front; each gives about 8 different crops
LR = 3e-3


def torch_predict(module: torch.nn.Module) -> Predict:
    """A backend-agnostic `predict` over a PyTorch module (eval mode, no grad)."""
    import torch

    def predict(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            out = module(torch.from_numpy(np.array(inputs["image"], dtype=np.float32)))
        return {"logits": out.numpy()}

    return predict


def train(
    out_weights: Path,
    seed: int = 0,
    progress: bool = True,
    max_steps: int | None = None,
    eval_frames: int = EVAL_FRAMES,
) -> dict[str, float]:
    """Train from scratch, save safetensors to `out_weights`, return held-out metrics on the
    first `eval_frames` evaluation phantoms plus `train_loss` (mean of the last 50 steps)
    and `train_seconds`. `max_steps` shortens the run (smoke tests)."""
    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm

    from vigil.models.us_segmenter.model import build

    started = time.perf_counter()
    steps = STEPS if max_steps is None else max_steps
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images, masks = training_pool(seed, min(POOL, max(2, steps * BATCH // 8)))
    model = build().train()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=max(steps, 1))
    losses: list[float] = []
    bar = tqdm(range(steps), desc="us_segmenter crops", disable=not progress, unit="step")
    # a shortened run keeps both phases (at least one whole-frame step)
    full_steps = min(FULL_STEPS, max(1, steps // 2))
    for step in bar:
        if step < steps - full_steps:
            batch = random_crops(images, masks, rng, BATCH)
        else:
            if step == steps - full_steps:
                bar.set_description("us_segmenter frames")
            batch = random_crops(images, masks, rng, FULL_BATCH, crop=images.shape[-1])
        x, y = (torch.from_numpy(a) for a in batch)
        logits = model(x)
        loss = _loss(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    model.eval()
    out_weights = Path(out_weights)
    out_weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_weights), metadata={"model": "us_segmenter", "seed": str(seed)})
    metrics = evaluate(torch_predict(model), seed, eval_frames)
    metrics["train_loss"] = float(np.mean(losses[-50:])) if losses else float("nan")
    metrics["train_seconds"] = time.perf_counter() - started
    return metrics


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE + soft Dice over the batch."""
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = logits.sigmoid()
    inter = (p * target).sum()
    dice = 1.0 - (2.0 * inter + 1.0) / (p.sum() + target.sum() + 1.0)
    return bce + dice


def main() -> None:
    """`python -m vigil.models.us_segmenter.train [OUT]`: retrain the shipped weights."""
    import sys

    import torch

    torch.set_num_threads(1)
    out = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("weights.safetensors")
    )
    print(train(out))


if __name__ == "__main__":
    main()
