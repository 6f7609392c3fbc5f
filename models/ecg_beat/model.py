"""The network: a small strided 1D CNN whose head sees *where* things are in the window.

Why this shape. A beat's class lives in three places of the window: the QRS at the centre
(narrow and upright in lead II for a sinus beat, wide and mostly negative for a PVC), the
distance to the preceding beat (prematurity) and to the following one (compensatory pause).
Five stride-2 convolutions shrink 384 samples (1.536 s at 250 Hz) to 12 positions of 32
channels; the head flattens them instead of pooling globally, so it keeps the layout of the
window and can tell "a QRS at the centre" from "a QRS somewhere" (the `other` class: a
detector that fired on noise between beats). Batch norm folds into the convolutions on
export; ReLU and plain convolutions quantize cleanly to INT8 (QDQ).
"""

from __future__ import annotations

from typing import Any

from vigil.models.ecg_beat.spec import LABELS, WINDOW_SAMPLES

N_CLASSES = len(LABELS)
# (out_channels, kernel) per stride-2 stage; input has one channel (lead II, mV)
STAGES: tuple[tuple[int, int], ...] = ((8, 7), (16, 7), (24, 5), (32, 5), (32, 3))
HIDDEN = 32


def build() -> Any:
    """The untrained `torch.nn.Module` (torch is imported here so the package stays light)."""
    import torch
    from torch import nn

    class EcgBeatNet(nn.Module):
        """(batch, 1, 384) mV, median-subtracted -> (batch, 3) logits."""

        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            channels, length = 1, WINDOW_SAMPLES
            for out, kernel in STAGES:
                layers += [
                    nn.Conv1d(channels, out, kernel, stride=2, padding=kernel // 2, bias=False),
                    nn.BatchNorm1d(out),
                    nn.ReLU(),
                ]
                channels, length = out, (length + 1) // 2
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(channels * length, HIDDEN),
                nn.ReLU(),
                nn.Dropout(0.2),
                nn.Linear(HIDDEN, N_CLASSES),
            )

        def forward(self, ecg: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(ecg))

    return EcgBeatNet()


def count_parameters(module: Any) -> int:
    """Trainable parameters (batch-norm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def multiply_accumulates() -> int:
    """MACs of one window's forward pass (convolutions and linear layers; BN folds away,
    ReLU is not counted). FLOPs are twice this."""
    macs, channels, length = 0, 1, WINDOW_SAMPLES
    for out, kernel in STAGES:
        length = (length + 1) // 2
        macs += out * channels * kernel * length
        channels = out
    macs += channels * length * HIDDEN + HIDDEN * N_CLASSES
    return macs
