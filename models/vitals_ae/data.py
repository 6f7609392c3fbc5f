"""The autoencoder's data: which trend ranges and seeds train, calibrate and evaluate it.

Training and threshold calibration draw normal windows from `TRAIN_RANGES` (different random
streams); evaluation draws normal and deteriorating windows from `EVAL_RANGES`, whose
patients, noise, artefact rates and cuff cycles differ, so the held-out metric also shows
how the threshold holds when the population shifts. Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from vigil.models.synthetic.trends import (
    DETERIORATIONS,
    TrendRanges,
    generate_trends,
)
from vigil.models.vitals_ae.preprocess import WINDOW_S, preprocess

TRAIN_RANGES = TrendRanges(
    hr=(58.0, 92.0),
    spo2=(95.5, 99.5),
    resp_rate=(12.0, 18.0),
    nibp_sys=(105.0, 145.0),
    pulse_pressure=(35.0, 55.0),
    drift_scale=(0.5, 1.3),
    wander_scale=(0.3, 1.2),
    noise_scale=(0.7, 1.3),
    artefacts_per_hour=(2.0, 8.0),
    arousals_per_hour=(0.0, 3.0),
    nibp_interval_s=(60.0, 300.0),
    arterial_fraction=(0.3, 0.3),
)
EVAL_RANGES = TrendRanges(
    hr=(60.0, 95.0),
    spo2=(95.0, 99.0),
    resp_rate=(12.5, 19.0),
    nibp_sys=(108.0, 150.0),
    pulse_pressure=(38.0, 58.0),
    drift_scale=(0.6, 1.4),
    wander_scale=(0.4, 1.3),
    noise_scale=(0.8, 1.4),
    artefacts_per_hour=(3.0, 10.0),
    arousals_per_hour=(0.5, 3.5),
    nibp_interval_s=(120.0, 300.0),
    arterial_fraction=(0.4, 0.4),
    severity=(0.7, 1.0),
    onset_progress=(0.5, 1.5),
)
"""Evaluation population. A deteriorating window ends between half-way through its pattern's
ramp and half a ramp after its end (10 to 90 minutes after onset, by pattern)."""

# independent random streams per purpose, so train(seed) and evaluate(seed) never share data
TRAIN_STREAM, CALIBRATION_STREAM, EVAL_STREAM, EXAMPLE_STREAM = 11, 12, 13, 14
EVAL_NORMAL = 2000
EVAL_PER_PATTERN = 400


def stream(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, purpose])


def normal_windows(rng: np.random.Generator, n: int, ranges: TrendRanges) -> np.ndarray:
    """`n` preprocessed normal windows (n, STEPS, F), generated in chunks to bound memory."""
    chunks = []
    for start in range(0, n, 2048):
        batch = generate_trends(rng, min(2048, n - start), WINDOW_S, None, None, ranges=ranges)
        chunks.append(preprocess(batch.values))
    return np.concatenate(chunks)


@dataclass(frozen=True, slots=True)
class EvalSet:
    """Preprocessed held-out windows; `label` 1 = deteriorating, `pattern` per window."""

    x: np.ndarray
    label: np.ndarray
    pattern: np.ndarray


def eval_set(
    seed: int, n_normal: int = EVAL_NORMAL, per_pattern: int = EVAL_PER_PATTERN
) -> EvalSet:
    """Held-out normal windows and deteriorating windows (ending after onset), EVAL ranges."""
    rng = stream(seed, EVAL_STREAM)
    names = ["normal"] * n_normal + [p for p in DETERIORATIONS for _ in range(per_pattern)]
    batch = generate_trends(rng, len(names), WINDOW_S, names, None, ranges=EVAL_RANGES)
    return EvalSet(
        x=preprocess(batch.values),
        label=np.array([name != "normal" for name in names], dtype=np.int8),
        pattern=np.array(names),
    )


def example_inputs(seed: int = 0, batch: int = 4) -> dict[str, np.ndarray]:
    """`batch` real held-out windows (EVAL ranges), alternating normal and each pattern, so
    tracing and parity checks see both kinds of input."""
    rng = stream(seed, EXAMPLE_STREAM)
    cycle = ("normal", *DETERIORATIONS)
    names = [cycle[i % len(cycle)] for i in range(batch)]
    values = generate_trends(rng, batch, WINDOW_S, names, None, ranges=EVAL_RANGES).values
    return {"vitals": preprocess(values)}


def calibration_inputs(seed: int = 0, n: int = 64) -> Iterator[dict[str, np.ndarray]]:
    """`n` normal windows from the TRAIN ranges, one per batch (the runtime's batch 1), for
    quantizers that calibrate activation ranges."""
    x = normal_windows(stream(seed, CALIBRATION_STREAM), n, TRAIN_RANGES)
    for i in range(n):
        yield {"vitals": x[i : i + 1]}
