"""Candidate low-resolution U-Nets for the issue-4 segmenter (experiments only)."""

from __future__ import annotations

import torch
from torch import nn


def cbr(c_in, c_out, k=3, s=1):
    return [
        nn.Conv2d(
            c_in,
            c_out,
            k,
            stride=s,
            padding=(k - 1) // 2 if s == 1 else (k - s + 1) // 2 if k > s else 0,
            bias=False,
        ),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


def block(c_in, c_out, n=2):
    layers = cbr(c_in, c_out)
    for _ in range(n - 1):
        layers += cbr(c_out, c_out)
    return nn.Sequential(*layers)


class LowResUNet(nn.Module):
    """stem: 'unshuffle' (PixelUnshuffle(f) -> f*f channels), 'conv' (3x3 stride-2 convs, log2 f of
    them, width stem_w), 'patch' (f x f stride-f conv 1->stem_w).
    head: 1x1 conv w0 -> f*f*hc, PixelShuffle(f) -> hc x 256 x 256; hc == 1 gives logits directly,
    otherwise (refine) concat the input and a 3x3 conv (hc+1 -> 1)."""

    def __init__(  # noqa: PLR0917 (experiment knobs)
        self,
        widths=(32, 64, 128, 256),
        f=4,
        stem="unshuffle",
        stem_w=None,
        refine_c=0,
        n_conv=2,
        first_n=2,
    ):
        super().__init__()
        self.f = f
        if stem == "unshuffle":
            self.stem = nn.PixelUnshuffle(f)
            c = f * f
        elif stem == "conv":
            layers, c = [], 1
            sw = stem_w or widths[0]
            s = f
            while s > 1:
                layers += cbr(c, sw, 3, 2)
                c = sw
                s //= 2
            self.stem = nn.Sequential(*layers)
        elif stem == "patch":
            sw = stem_w or widths[0]
            self.stem = nn.Sequential(
                nn.Conv2d(1, sw, f, stride=f, bias=False), nn.BatchNorm2d(sw), nn.ReLU(inplace=True)
            )
            c = sw
        else:
            raise ValueError(stem)
        self.down = nn.ModuleList()
        for i, w in enumerate(widths[:-1]):
            self.down.append(block(c, w, first_n if i == 0 else n_conv))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.bottom = block(widths[-2], widths[-1], n_conv)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_low, w in zip(widths[:0:-1], widths[-2::-1], strict=False):
            self.up.append(
                nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w_low, w, 1))
            )
            self.merge.append(block(2 * w, w, n_conv))
        self.refine_c = refine_c
        hc = refine_c or 1
        self.head = nn.Conv2d(widths[0], f * f * hc, 1)
        self.shuffle = nn.PixelShuffle(f)
        if refine_c:
            self.refine = nn.Sequential(nn.ReLU(), nn.Conv2d(hc + 1, 1, 3, padding=1))

    def forward(self, image):
        x = self.stem(image)
        skips = []
        for blk in self.down:
            x = blk(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=False):
            x = merge(torch.cat([up(x), skip], dim=1))
        y = self.shuffle(self.head(x))
        if self.refine_c:
            y = self.refine(torch.cat([y, image], dim=1))
        return y


def count_flops(model, size=256):
    flops = 0

    def hook(mod, inp, out):
        nonlocal flops
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        flops += 2 * out.numel() * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, size, size))
    for h in hs:
        h.remove()
    return sum(p.numel() for p in model.parameters()), flops / 1e9


CANDIDATES = {
    # name: kwargs
    "us4_32": dict(widths=(32, 64, 128, 256), f=4, stem="unshuffle"),
    "us4_48": dict(widths=(48, 96, 192, 384), f=4, stem="unshuffle"),
    "us4_64": dict(widths=(64, 128, 256, 512), f=4, stem="unshuffle"),
    "us4_40": dict(widths=(40, 80, 160, 320), f=4, stem="unshuffle"),
    "us4_32_d4": dict(widths=(32, 64, 128, 256, 512), f=4, stem="unshuffle"),
    "us4_48_d4": dict(widths=(48, 96, 192, 384, 768), f=4, stem="unshuffle"),
    "us4_32_ref": dict(widths=(32, 64, 128, 256), f=4, stem="unshuffle", refine_c=4),
    "us2_32": dict(widths=(32, 64, 128, 256), f=2, stem="unshuffle"),
    "cs2_32": dict(widths=(32, 64, 128, 256), f=2, stem="conv", stem_w=32),
    "cs4_48": dict(widths=(48, 96, 192, 384), f=4, stem="conv", stem_w=32),
    "cs4_64": dict(widths=(64, 128, 256, 512), f=4, stem="conv", stem_w=32),
    "pt4_64": dict(widths=(64, 128, 256, 512), f=4, stem="patch", stem_w=64),
}


def build(name):
    return LowResUNet(**CANDIDATES[name])


def _shipped():
    import importlib.util
    from pathlib import Path

    p = Path(__file__).resolve().parents[1] / "models" / "us_segmenter" / "model.py"
    spec = importlib.util.spec_from_file_location("shipped_unet", p)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build()


_build_named = build


def build(name):
    return _shipped() if name == "shipped" else _build_named(name)
