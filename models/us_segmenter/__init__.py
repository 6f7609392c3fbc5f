"""Ultrasound segmenter: a U-Net that marks anechoic regions (fluid, cysts, vessels) in
256x256 B-mode frames, trained on the shared synthesizer's phantoms.

Importing this package does not import torch (the export and evaluation machinery, and the
torch-free install, read `REFERENCE`); `build` and `train` import it when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.models.reference import ReferenceModel, TensorSpec
from vigil.models.us_segmenter.dataset import IMAGE_SIZE, calibration_inputs, example_inputs
from vigil.models.us_segmenter.evaluate import THRESHOLD, evaluate

HERE = Path(__file__).parent


def build() -> Any:
    """The untrained U-Net (imports torch)."""
    from vigil.models.us_segmenter.model import build as _build

    return _build()


def train(
    out_weights: Path, seed: int = 0, progress: bool = True, **kwargs: Any
) -> dict[str, float]:
    """See `vigil.models.us_segmenter.train.train` (imports torch)."""
    from vigil.models.us_segmenter.train import train as _train

    return _train(out_weights, seed=seed, progress=progress, **kwargs)


REFERENCE = ReferenceModel(
    name="us_segmenter",
    version="2.0.0",
    task="segmentation",
    inputs=(
        TensorSpec(
            name="image",
            shape=("batch", 1, IMAGE_SIZE, IMAGE_SIZE),
            layout="NCHW",
            units="normalised B-mode intensity",
            description="Log-compressed B-mode frame scaled to [0, 1]; 0 outside the sector",
        ),
    ),
    outputs=(
        TensorSpec(
            name="logits",
            shape=("batch", 1, IMAGE_SIZE, IMAGE_SIZE),
            layout="NCHW",
            units="logit",
            description='Per-pixel logit of "anechoic"; sigmoid > threshold marks the region',
        ),
    ),
    main_metric="dice",
    weights=HERE / "weights.safetensors",
    build=build,
    example_inputs=example_inputs,
    calibration_inputs=calibration_inputs,
    evaluate=evaluate,
    train=train,
    meta={
        "image_size": [IMAGE_SIZE, IMAGE_SIZE],
        "normalisation": {
            "scale": 1.0,
            "offset": 0.0,
            "description": (
                "input = display grey level / 255 (8-bit B-mode) or the phantom's float image:"
                " already in [0, 1], no mean/std; the network's first BatchNorm adapts"
            ),
        },
        "threshold": THRESHOLD,
        "labels": ["background", "anechoic"],
        "calibration_samples": 32,
        "int8_targets": ["trt", "cpu"],
        "int8_trt_exclude_output_ops": ["Conv"],
        "int8_cpu_reduce_range": True,
        "int8_note": (
            "the symmetric S8S8 variant (TensorRT) carries Q/DQ only on Conv inputs, TensorRT's "
            "placement, so ONNX Runtime judges it without the fused S8S8 QLinearConv kernels "
            "that saturate on AVX2 CPUs without VNNI (the previous full-resolution U-Net: Dice "
            "0.59 fused, 0.934 unfused as TensorRT computes it); the CPU variant has 7-bit "
            "weights (reduce_range), so its U8S8 kernels cannot saturate on such CPUs either"
        ),
    },
    card=HERE / "MODEL_CARD.md",
)

__all__ = ["REFERENCE", "build", "train"]
