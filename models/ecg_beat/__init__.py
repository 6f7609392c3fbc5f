"""ECG beat classifier: normal / ventricular (PVC) / other, from a lead II window at 250 Hz.

`REFERENCE` is this model's side of the contract in `vigil.models.reference`. Importing this
package is cheap (no torch, no synthesizer): the callables below import their modules on
first call, so listing models does not pay for training code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vigil.models.ecg_beat.spec import (
    JITTER_SAMPLES,
    LABELS,
    LEAD,
    NORMALISATION,
    R_PEAK_INDEX,
    SAMPLE_RATE_HZ,
    SOURCE_RATE_HZ,
    WINDOW_SAMPLES,
)
from vigil.models.reference import Predict, ReferenceModel, TensorSpec

HERE = Path(__file__).parent
WEIGHTS = HERE / "weights.safetensors"
CARD = HERE / "MODEL_CARD.md"


def _build() -> Any:
    from vigil.models.ecg_beat.model import build

    return build()


def _example_inputs(seed: int = 0, batch: int = 8) -> dict[str, np.ndarray]:
    from vigil.models.ecg_beat.evaluate import example_inputs

    return example_inputs(seed, batch)


def _calibration_inputs(seed: int = 0, n: int = 256) -> Iterator[dict[str, np.ndarray]]:
    from vigil.models.ecg_beat.evaluate import calibration_inputs

    return calibration_inputs(seed, n)


def _evaluate(predict: Predict, seed: int = 0) -> dict[str, float]:
    from vigil.models.ecg_beat.evaluate import evaluate

    return evaluate(predict, seed)


def _train(out_weights: Path, seed: int = 0, progress: bool = True, **kwargs: Any) -> dict:
    from vigil.models.ecg_beat.train import train

    return train(out_weights, seed, progress, **kwargs)


REFERENCE = ReferenceModel(
    name="ecg_beat",
    version="1.0.0",
    task="classification",
    inputs=(
        TensorSpec(
            name="ecg",
            shape=("batch", 1, WINDOW_SAMPLES),
            layout="NCW",
            units="mV",
            description=(
                f"lead {LEAD} at {SAMPLE_RATE_HZ} Hz, {WINDOW_SAMPLES} samples with the "
                f"detected R peak at index {R_PEAK_INDEX}, minus the window's median"
            ),
        ),
    ),
    outputs=(
        TensorSpec(
            name="logits",
            shape=("batch", len(LABELS)),
            units="logit",
            description="unnormalised class scores in `labels` order (softmax for probabilities)",
        ),
    ),
    main_metric="macro_f1",
    weights=WEIGHTS,
    build=_build,
    example_inputs=_example_inputs,
    calibration_inputs=_calibration_inputs,
    evaluate=_evaluate,
    train=_train,
    meta={
        "labels": list(LABELS),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "source_rate_hz": SOURCE_RATE_HZ,
        "window_samples": WINDOW_SAMPLES,
        "r_peak_index": R_PEAK_INDEX,
        "r_peak_tolerance_s": JITTER_SAMPLES / SAMPLE_RATE_HZ,
        "lead": LEAD,
        "normalisation": dict(NORMALISATION),
        "card": "MODEL_CARD.md",
    },
    card=CARD,
)
