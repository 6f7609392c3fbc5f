"""A frame as every source delivers it, and the small interface every source implements.

Sources are pure readers (../shared/STYLE.md): they own a file or a device and yield `Frame`s;
everything that turns pixels into a network input or a finding lives elsewhere. Pixel data is
converted once, at the source, to what a B-mode pipeline needs: `image` is 2-D uint8 grey
(H, W); a colour source keeps its RGB copy in `rgb` for overlays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Spacing:
    """Physical size of one pixel, from the file (DICOM Sequence of Ultrasound Regions or
    Pixel Spacing). `region` is (x0, y0, x1, y1) in pixels where the spacing holds (the
    ultrasound region), inclusive as DICOM states it (crop with `image[y0:y1+1, x0:x1+1]`),
    or None for the whole frame."""

    dx_cm: float
    dy_cm: float
    region: tuple[int, int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    source: str  # what produced it: a file name, "video0", "phantom"
    index: int  # 0, 1, 2 ... in the source's order (a skipped frame leaves a gap)
    captured_ns: int  # host monotonic time the frame was read (latency starts here)
    image: np.ndarray = field(compare=False)  # (H, W) uint8 grey
    rgb: np.ndarray | None = field(default=None, compare=False)  # (H, W, 3) uint8, colour only
    spacing: Spacing | None = None  # None: lengths and areas are in pixels, and say so
    truth: np.ndarray | None = field(default=None, compare=False)  # phantom mask (H, W) bool


class FrameSource(Protocol):
    """Yields frames in order. `frame_interval_s` is the file's own pacing (cine frame time,
    video fps; None when unknown); a paced source sleeps to honour it, an unpaced one
    (`--as-fast-as-possible`) yields as fast as it can read.

    Two optional attributes tell the pipeline how it may read a source: `paced` (False: it
    yields the next frame as soon as asked) and `is_device` (True: a capture device, its own
    clock). Only a source that says `paced = False` and is no device is ever read on the
    inference thread (pipeline.reads_on_the_loop_thread); any other gets a reader thread."""

    name: str
    frame_interval_s: float | None

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...
