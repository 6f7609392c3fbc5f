"""A tiny but real ReferenceModel, so the export tests do not wait on the shipped models.

Task: tell three synthetic 1D waveforms apart (slow, medium and fast sines) at random
amplitude, phase and noise. Training and evaluation draw from different seeds and slightly
different parameter ranges, as the real models do. A small conv net learns it to ~100%
in about a second, and `evaluate` measures accuracy and macro F1 for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vigil.models.reference import Predict, ReferenceModel, TensorSpec

WINDOW = 64
CLASSES = ("slow", "medium", "fast")
CYCLES = np.array([2.0, 6.0, 16.0])  # per window


class TinyConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 8, 7, padding=3),
            nn.ReLU(),
            nn.Conv1d(8, 8, 5, padding=2, stride=2),
            nn.ReLU(),
        )
        self.head = nn.Linear(8, len(CLASSES))

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(signal).mean(dim=-1))


def make_data(seed: int, n: int, *, held_out: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`n` windows `(n, 1, WINDOW)` float32 and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    t = np.arange(WINDOW) / WINDOW
    amp = rng.uniform(0.6, 1.4, n) if held_out else rng.uniform(0.5, 1.5, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    freq = CYCLES[labels] * rng.uniform(0.9, 1.1, n)
    x = np.sin(2 * np.pi * freq[:, None] * t + phase[:, None])
    x = amp[:, None] * x + rng.normal(0, 0.1, (n, WINDOW))
    return x[:, None, :].astype(np.float32), labels


def train(out_weights: Path, seed: int = 0, progress: bool = False, steps: int = 60) -> dict:
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = TinyConv()
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    x, y = make_data(seed + 100, 1024)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(steps):
        idx = torch.from_numpy(np.random.default_rng(step).integers(0, len(x), 64))
        loss = nn.functional.cross_entropy(model(xs[idx]), ys[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_file(model.state_dict(), str(out_weights))
    return {"loss": float(loss.detach())}


def example_inputs(seed: int, batch: int) -> dict[str, np.ndarray]:
    return {"signal": make_data(seed + 1000, batch, held_out=True)[0]}


def calibration_inputs(seed: int, n: int) -> Iterator[dict[str, np.ndarray]]:
    """`n` examples in all, in batches of up to 16."""
    for k in range(0, n, 16):
        yield {"signal": make_data(seed + 2000 + k, min(16, n - k))[0]}


def evaluate(predict: Predict, seed: int) -> dict[str, float]:
    x, y = make_data(seed + 5000, 384, held_out=True)
    guess = np.concatenate(
        [predict({"signal": x[i : i + 128]})["logits"].argmax(-1) for i in range(0, len(x), 128)]
    )
    f1s = []
    for c in range(len(CLASSES)):
        tp = np.sum((guess == c) & (y == c))
        fp = np.sum((guess == c) & (y != c))
        fn = np.sum((guess != c) & (y == c))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return {"accuracy": float(np.mean(guess == y)), "macro_f1": float(np.mean(f1s))}


def make_reference(weights: Path, **meta: object) -> ReferenceModel:
    """The tiny model with its weights at `weights` (train them first with `train`)."""
    return ReferenceModel(
        name="tiny_wave",
        version="0.1.0",
        task="classification",
        inputs=(TensorSpec("signal", ("batch", 1, WINDOW), layout="NCW", units="a.u."),),
        outputs=(TensorSpec("logits", ("batch", len(CLASSES)), description="class scores"),),
        main_metric="macro_f1",
        weights=weights,
        build=TinyConv,
        example_inputs=example_inputs,
        calibration_inputs=calibration_inputs,
        evaluate=evaluate,
        train=train,
        meta={"labels": list(CLASSES), "calibration_samples": 64, **meta},
    )
