"""The U-Net, run at a quarter of the frame's resolution: PixelUnshuffle(4) stem
(1x256x256 -> 16x64x64), a 3-pooling U-Net at 64x64 with widths 32-64-128-256 (each stage two
3x3 Conv + BatchNorm + ReLU; MaxPool down; nearest Resize + 1x1 Conv up; Concat skip), and a
1x1 Conv (32 -> 16) + PixelShuffle(4) head back to 1x256x256 logits. 1,802,224 parameters,
1.19 GFLOP a 256x256 frame.

Why this design: the cart's CPU has AVX2 but no VNNI, where ONNX Runtime's 8-bit convolution
kernels only beat float on wide, low-resolution GEMMs. The previous full-resolution U-Net
(widths 16-256, 6.03 GFLOP) spent most of its time in 16- and 32-channel convolutions on
256x256 and 128x128 maps: 37.6 ms FP32 / 28.0 ms INT8 at 2 threads (1.34x), missing both
issue-4 targets. Folding 4x4 pixel blocks into channels first makes every convolution at least
32 channels wide on at most 64x64 maps: 15.3 ms FP32 / 9.2 ms INT8 at ONE thread (CPU time,
1.66x; INT8/FP32 1.72x at 2 threads under load, where the old net measured 1.34-1.40x) with
Dice 0.955 held out (experiments/RESULTS.md). PixelUnshuffle/PixelShuffle export as
Reshape/Transpose and DepthToSpace, which ORT runs on uint8, and every other layer has a
quantized CPU kernel (BatchNorm folds into the Conv at export; Conv+ReLU, MaxPool, Resize and
Concat run in U8 under QDQ), so the INT8 graph is integer from the input's QuantizeLinear to
the output's DequantizeLinear. ConvTranspose is not used: ORT's QDQ quantizer leaves it in
float behind a dequantize/quantize island. Fully convolutional with a stride-4 stem and three
2x poolings: input sides must be multiples of 32 (training runs on 128x128 crops, the cart on
256x256 frames).
"""

from __future__ import annotations

import torch
from torch import nn

WIDTHS = (32, 64, 128, 256)
FACTOR = 4  # PixelUnshuffle / PixelShuffle factor
MULTIPLE = FACTOR * 2 ** (len(WIDTHS) - 1)  # input sides must be multiples of this (32)


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
    """(N, 1, H, W) image in [0, 1] -> (N, 1, H, W) logits of "anechoic"; H and W multiples
    of `MULTIPLE`."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS, factor: int = FACTOR):
        super().__init__()
        self.multiple = factor * 2 ** (len(widths) - 1)
        self.stem = nn.PixelUnshuffle(factor)
        self.down = nn.ModuleList()
        c_in = factor * factor
        for w in widths[:-1]:
            self.down.append(_block(c_in, w))
            c_in = w
        self.pool = nn.MaxPool2d(2)
        self.bottom = _block(widths[-2], widths[-1])
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_low, w in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.up.append(
                nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w_low, w, 1))
            )
            self.merge.append(_block(2 * w, w))
        self.head = nn.Conv2d(widths[0], factor * factor, 1)
        self.shuffle = nn.PixelShuffle(factor)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(
                f"us_segmenter: input sides must be multiples of {self.multiple}, got {h}x{w}"
            )
        x = self.stem(image)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.shuffle(self.head(x))


def build() -> UNet:
    """The shipped architecture, untrained."""
    return UNet()


def count_flops(model: nn.Module, size: int = 256) -> tuple[int, float]:
    """(parameters, GFLOP per 1x1xsizexsize frame; one multiply-add = 2 FLOP) of the convs."""
    flops = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal flops
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        flops += 2 * out.numel() * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, size, size))
    finally:
        for h in handles:
            h.remove()
    return sum(p.numel() for p in model.parameters()), flops / 1e9
