"""A user's network for the bring-your-own export test: `build()` returns it untrained."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """Two outputs (logits and pooled features), so output naming is exercised."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.relu(self.conv(x)).mean(dim=-1)
        return self.head(features), features


def build() -> nn.Module:
    return TinyNet()
