"""The synthetic cine as a frame source: phantom frames with their ground-truth masks.

For tests and the demo: `PhantomStream` (vigil.models.synthetic.ultrasound) gives a drifting,
pulsing scene whose frame k is bit-identical for the same seed, so a pipeline's output for any
frame can be scored against `Frame.truth` after the fact. Needs numpy and scipy only, not the
`[imaging]` extra. The phantom has no physical scale: spacing is None (pixels) unless given.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from vigil.models.synthetic.ultrasound import EVAL_RANGES, PhantomRanges, PhantomStream
from vigil.runtime.imaging.frame import Frame, Spacing
from vigil.runtime.imaging.sources.pacing import Pacer


class PhantomSource:
    """Frames 0, 1, ... of `PhantomStream(seed, size, fps, ranges)`; forever when `n_frames`
    is None. `image` is the phantom's [0, 1] grey as 8-bit display values (round(255·v)),
    `truth` its anechoic mask."""

    def __init__(
        self,
        seed: int = 0,
        *,
        size: int = 256,
        fps: float = 20.0,
        n_frames: int | None = None,
        ranges: PhantomRanges = EVAL_RANGES,
        spacing: Spacing | None = None,
        paced: bool = True,
    ) -> None:
        if n_frames is not None and n_frames < 0:
            raise ValueError(f"PhantomSource: n_frames {n_frames} is negative")
        self.name = f"phantom:{seed}"
        self.seed = seed
        self.n_frames = n_frames
        self.spacing = spacing
        self.frame_interval_s: float | None = 1.0 / fps
        self.paced = paced
        self._stream = PhantomStream(seed, size=size, fps=fps, ranges=ranges)

    def frames(self) -> Iterator[Frame]:
        pacer = Pacer(self.frame_interval_s, enabled=self.paced)
        k = 0
        while self.n_frames is None or k < self.n_frames:
            ph = self._stream.frame(k)
            image = np.rint(ph.image * 255.0).astype(np.uint8)
            pacer.wait(k)
            yield Frame(
                source=self.name,
                index=k,
                captured_ns=time.monotonic_ns(),
                image=image,
                spacing=self.spacing,
                truth=ph.mask.astype(bool),
            )
            k += 1

    def close(self) -> None:
        """Nothing to release."""
