"""Capture devices and video files through OpenCV's VideoCapture.

A scanner's video output reaches the cart through an HDMI/SDI capture card, which Linux shows
as a V4L2 device (`/dev/video0`, or index 0). No capture hardware is attached to the machines
Vigil is developed and tested on: the device path is the same `VideoCapture` calls as for a
file, opened with the V4L2 backend, and it is exercised only through video files in the tests.

A capture device is its own clock (a read blocks until the card has the next frame), so it is
never slept for; `frame_interval_s` is then the rate the driver reports, for information. A
video file is paced at its container's frame rate unless `paced=False`. Frames are colour
(OpenCV decodes to BGR): `rgb` keeps the colour copy for overlays, `image` is its BT.601 luma.
A read that fails ends a file (OpenCV cannot tell a corrupt tail from the end) and raises for
a device (the card stopped delivering: cable pulled, scanner off).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vigil.runtime.imaging.frame import Frame
from vigil.runtime.imaging.sources import FrameSourceError, import_extra
from vigil.runtime.imaging.sources.pacing import Pacer


class VideoSource:
    """`target`: a device index (0), a device path (/dev/video0) or a video file."""

    def __init__(self, target: int | str | Path, *, paced: bool = True) -> None:
        cv2 = import_extra("cv2", needed_for="reading video and capture devices")
        self._cv2 = cv2
        self.is_device = isinstance(target, int) or str(target).startswith("/dev/video")
        if self.is_device:
            self.name = f"video{target}" if isinstance(target, int) else Path(target).name
            cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
            if not cap.isOpened():
                raise FrameSourceError(
                    f"capture device {target}: cannot be opened (absent, busy, or not a V4L2 "
                    "video device); check `v4l2-ctl --list-devices` and that no other program "
                    "holds it"
                )
        else:
            path = Path(target)
            self.name = path.name
            if not path.is_file():
                raise FrameSourceError(f"{path}: no such video file")
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise FrameSourceError(
                    f"{path}: OpenCV cannot decode this video (unknown container or codec, or a "
                    "damaged file); re-encode it, e.g. to MJPG in .avi or H.264 in .mp4"
                )
        self._cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps if 0.0 < fps < 1000.0 else None
        self.frame_interval_s: float | None = 1.0 / self.fps if self.fps else None
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = count if count > 0 and not self.is_device else None
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.paced = paced and not self.is_device

    def frames(self) -> Iterator[Frame]:
        cv2 = self._cv2
        pacer = Pacer(self.frame_interval_s, enabled=self.paced)
        k = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                if self.is_device:
                    raise FrameSourceError(
                        f"capture device {self.name}: stopped delivering frames after {k} "
                        "(cable pulled, scanner output off, or the driver failed)"
                    )
                return
            if bgr.ndim == 2:
                image, rgb = bgr, None
            else:
                image = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if image.dtype != np.uint8:  # 16-bit capture formats: keep the top byte
                image = (image >> 8).astype(np.uint8)
                rgb = None if rgb is None else (rgb >> 8).astype(np.uint8)
            pacer.wait(k)
            yield Frame(
                source=self.name, index=k, captured_ns=time.monotonic_ns(), image=image, rgb=rgb
            )
            k += 1

    def close(self) -> None:
        self._cap.release()
