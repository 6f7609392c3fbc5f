"""Vital-sign trend anomaly detector: an LSTM autoencoder over 5-minute windows of 1 Hz
numerics, trained on normal synthetic trends only; a high reconstruction error flags a
deterioration it never saw.

Importing this package is cheap and torch-free: `build` and `train` import torch when
called. The threshold is read from the shipped weights' metadata (see `scoring`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.models.reference import ReferenceModel, TensorSpec
from vigil.models.synthetic.trends import DETERIORATIONS
from vigil.models.vitals_ae.data import (
    EVAL_RANGES,
    TRAIN_RANGES,
    calibration_inputs,
    example_inputs,
)
from vigil.models.vitals_ae.evaluate import evaluate
from vigil.models.vitals_ae.preprocess import (
    BIN_S,
    CLIP,
    FEATURE_UNITS,
    FEATURES,
    MEAN,
    STD,
    STEPS,
    WINDOW_S,
)
from vigil.models.vitals_ae.scoring import THRESHOLD_QUANTILE, TRIM_BINS, shipped_threshold

HERE = Path(__file__).parent
WEIGHTS = HERE / "weights.safetensors"


def build() -> Any:
    """The untrained `VitalsAutoencoder` (imports torch)."""
    from vigil.models.vitals_ae.model import build as _build

    return _build()


def train(*args: Any, **kwargs: Any) -> dict[str, float]:
    """`train.train` (imports torch): (out_weights, seed=0, progress=True, max_steps=None)."""
    from vigil.models.vitals_ae.train import train as _train

    return _train(*args, **kwargs)


META: dict[str, Any] = {
    "features": list(FEATURES),
    "units": list(FEATURE_UNITS),
    "sample_rate_hz": 1.0,
    "window_s": WINDOW_S,
    "preprocessing": {
        "bin_s": BIN_S,
        "steps": STEPS,
        "bin_statistic": "median of the bin's valid (non-NaN) samples",
        "missing": "NaN bins filled forward, then backward; a vital missing for the whole "
        "window takes its mean",
        "normalisation": {"mean": MEAN.tolist(), "std": STD.tolist()},
        "clip": [-CLIP, CLIP],
    },
    "score": {
        "output": "score",
        "rule": "per bin: mean over vitals of (reconstruction - vitals)^2; score: mean over "
        f"the {STEPS - TRIM_BINS} smallest of the {STEPS} bins",
        "trim_bins": TRIM_BINS,
        "alarm": "score > threshold",
    },
    "threshold": shipped_threshold(WEIGHTS),
    "threshold_quantile": THRESHOLD_QUANTILE,
    "threshold_fpr_calibration": 1.0 - THRESHOLD_QUANTILE,
    "patterns": list(DETERIORATIONS),
    "train_ranges": repr(TRAIN_RANGES),
    "eval_ranges": repr(EVAL_RANGES),
    "int8": "none",  # ship FP32 only; see MODEL_CARD.md "Export and quantization"
    "int8_note": "static QDQ leaves the LSTMs FP32 and loses 2.5 AUROC points (13 % FPR); "
    "onnxruntime quantize_dynamic (QUInt8 weights: DynamicQuantizeLSTM, MatMulInteger) keeps "
    "AUROC within 0.001 but is not faster at 0.8 MFLOP per window",
}

REFERENCE = ReferenceModel(
    name="vitals_ae",
    version="1.0.0",
    task="anomaly",
    inputs=(
        TensorSpec(
            "vitals",
            ("batch", STEPS, len(FEATURES)),
            layout="NTC",
            units="normalised",
            description=f"{WINDOW_S} s of 1 Hz {', '.join(FEATURES)} as {STEPS} bins of "
            f"{BIN_S} s, normalised per meta['preprocessing']",
        ),
    ),
    outputs=(
        TensorSpec(
            "reconstruction",
            ("batch", STEPS, len(FEATURES)),
            layout="NTC",
            units="normalised",
            description="the window as the autoencoder reproduces it",
        ),
        TensorSpec(
            "score",
            ("batch",),
            units="normalised squared error",
            description="anomaly score per meta['score']; alarm when above meta['threshold']",
        ),
    ),
    main_metric="auroc",
    weights=WEIGHTS,
    build=build,
    example_inputs=example_inputs,
    calibration_inputs=calibration_inputs,
    evaluate=evaluate,
    train=train,
    meta=META,
    card=HERE / "MODEL_CARD.md",
)

__all__ = ["REFERENCE", "build", "train"]
