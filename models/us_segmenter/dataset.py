"""Phantom data for training, calibration, examples and evaluation (numpy only, no torch).

All data come from the shared synthesizer (`vigil.models.synthetic.ultrasound`). Training and
INT8 calibration draw from `TRAIN_RANGES`; evaluation and example inputs from `EVAL_RANGES`
with seeds offset by `EVAL_SEED_OFFSET`, so every reported metric is on phantoms whose
parameters and seeds the model never saw. Training uses 128x128 crops of full 256x256
phantoms: the same pixel statistics (speckle grain, region sizes in pixels) as the cart's
frames at a quarter of the compute; the network is fully convolutional.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from vigil.models.synthetic.ultrasound import EVAL_RANGES, TRAIN_RANGES, phantom_batch

IMAGE_SIZE = 256
CROP = 128
EVAL_FRAMES = 48
EVAL_SEED_OFFSET = 7_000_001  # evaluation seeds never coincide with training seeds
CALIBRATION_SEED_OFFSET = 3_000_017  # calibration: training ranges, unseen seeds


def training_pool(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` full-size training phantoms (images float32, masks uint8), (n, 256, 256)."""
    return phantom_batch(seed, n, IMAGE_SIZE, TRAIN_RANGES)


def random_crops(
    images: np.ndarray, masks: np.ndarray, rng: np.random.Generator, batch: int, crop: int = CROP
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of random crops with random left-right flips (the sector is symmetric), as
    (batch, 1, crop, crop) float32 images and masks."""
    idx = rng.integers(0, len(images), size=batch)
    size = images.shape[-1]
    x = np.empty((batch, 1, crop, crop), dtype=np.float32)
    y = np.empty((batch, 1, crop, crop), dtype=np.float32)
    for j, i in enumerate(idx):
        r, c = rng.integers(0, size - crop + 1, size=2)
        img = images[i, r : r + crop, c : c + crop]
        msk = masks[i, r : r + crop, c : c + crop]
        if rng.random() < 0.5:
            img, msk = img[:, ::-1], msk[:, ::-1]
        x[j, 0], y[j, 0] = img, msk
    return x, y


@lru_cache(maxsize=4)
def eval_set(seed: int, n: int = EVAL_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """Held-out phantoms from `EVAL_RANGES` (cached: evaluation is run per backend)."""
    images, masks = phantom_batch(EVAL_SEED_OFFSET + seed, n, IMAGE_SIZE, EVAL_RANGES)
    images.flags.writeable = False
    masks.flags.writeable = False
    return images, masks


def example_inputs(seed: int = 0, batch: int = 1) -> dict[str, np.ndarray]:
    """`batch` real held-out frames as the model's input, (batch, 1, 256, 256) float32."""
    images, _ = phantom_batch(EVAL_SEED_OFFSET + seed, batch, IMAGE_SIZE, EVAL_RANGES)
    return {"image": images[:, None]}


def calibration_inputs(seed: int = 0, n: int = 16) -> Iterator[dict[str, np.ndarray]]:
    """`n` training-distribution frames in all, in batches of one, for INT8 calibration."""
    images, _ = phantom_batch(CALIBRATION_SEED_OFFSET + seed, n, IMAGE_SIZE, TRAIN_RANGES)
    for i in range(n):
        yield {"image": images[i : i + 1, None]}
