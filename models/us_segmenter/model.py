"""The U-Net: plain 3x3 Conv + BatchNorm + ReLU blocks, MaxPool down, nearest Resize + 1x1
Conv up, widths 16-32-64-128-256.

Why these layers: every one has a quantized CPU kernel in ONNX Runtime (BatchNorm folds
into the preceding Conv at export; Conv+ReLU, MaxPool, Resize and Concat all run in U8 under
QDQ), so INT8 pays across the whole graph. ConvTranspose, the usual up-sampler, stays in
float under ORT's QDQ quantizer (a dequantize/quantize island with layout Transposes around
each one), which is why it is not used; MODEL_CARD.md has the numbers. Fully convolutional
with four 2x poolings: any input whose sides are multiples of 16 works, so training runs on
128x128 crops and the cart on 256x256 frames.
"""

from __future__ import annotations

import torch
from torch import nn

BASE_WIDTH = 16
DEPTH = 4  # poolings; input sides must be multiples of 2**DEPTH


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """(N, 1, H, W) image in [0, 1] -> (N, 1, H, W) logits of "anechoic"."""

    def __init__(self, base: int = BASE_WIDTH, depth: int = DEPTH, upsample: str = "resize"):
        super().__init__()
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c_in = 1
        for w in widths[:-1]:
            self.down.append(_block(c_in, w))
            c_in = w
        self.pool = nn.MaxPool2d(2)
        self.bottom = _block(widths[-2], widths[-1])
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_low, w in zip(widths[:0:-1], widths[-2::-1], strict=True):
            if upsample == "convt":  # kept for the latency comparison in the card
                self.up.append(nn.ConvTranspose2d(w_low, w, 2, stride=2))
            else:
                self.up.append(
                    nn.Sequential(
                        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w_low, w, 1)
                    )
                )
            self.merge.append(_block(2 * w, w))
        self.head = nn.Conv2d(base, 1, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def build() -> UNet:
    """The shipped architecture, untrained."""
    return UNet()


def count_flops(model: nn.Module, size: int = 256) -> tuple[int, float]:
    """(parameters, GFLOP per 1x1xsizexsize frame; one multiply-add = 2 FLOP) of the convs."""
    flops = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal flops
        if isinstance(mod, nn.ConvTranspose2d):
            macs = inp[0].numel() * mod.out_channels * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            macs = out.numel() * k
        flops += 2 * macs

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, size, size))
    finally:
        for h in handles:
            h.remove()
    return sum(p.numel() for p in model.parameters()), flops / 1e9
