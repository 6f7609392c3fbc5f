"""A folder of still images (PNG, JPEG, BMP, TIFF) played as a cine, in natural name order.

Natural order (`frame2` before `frame10`) because exported frame sequences are rarely
zero-padded. Only files whose suffix names an image format are frames; anything else in the
folder (a README, `.DS_Store`, a DICOM file) is ignored, and `ignored` lists it. A file with an
image suffix that does not decode is damaged: it is skipped (its index is left as a gap, as
the frame contract says) and recorded in `skipped`, so one bad export does not stop a run; a
folder with no image files at all is an error at open. A folder has no frame rate: unpaced
unless `fps` is given. Decoding is OpenCV's (`[imaging]` extra).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vigil.runtime.imaging.frame import Frame
from vigil.runtime.imaging.sources import IMAGE_SUFFIXES, FrameSourceError, import_extra
from vigil.runtime.imaging.sources.pacing import Pacer


def _natural_key(path: Path) -> list[int | str]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """The folder's image files (by suffix, not recursing), in natural name order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=_natural_key)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """8-bit display values: 16-bit images keep their top byte."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


class ImageFolderSource:
    def __init__(self, folder: str | Path, *, fps: float | None = None, paced: bool = True) -> None:
        self._cv2 = import_extra("cv2", needed_for="reading image folders")
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FrameSourceError(f"{self.folder}: not a folder")
        self.name = self.folder.name
        self.files = list_images(self.folder)
        if not self.files:
            raise FrameSourceError(
                f"{self.folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it"
            )
        self.ignored = sorted(
            p.name for p in self.folder.iterdir() if p.is_file() and p not in set(self.files)
        )
        if fps is not None and not fps > 0:
            raise FrameSourceError(f"{self.folder}: fps {fps!r} must be positive")
        self.frame_interval_s: float | None = 1.0 / fps if fps else None
        self.paced = paced
        self.skipped: list[str] = []  # "name: why" for each damaged image, in order

    def _read(self, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
        cv2 = self._cv2
        data = np.fromfile(path, dtype=np.uint8)  # imdecode, not imread: any path encoding
        arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if arr is None:
            raise FrameSourceError(f"{path}: not a decodable image (damaged or empty)")
        arr = to_uint8(arr)
        if arr.ndim == 2:
            return arr, None
        if arr.shape[2] == 4:
            arr = arr[:, :, :3]
        if arr.shape[2] == 1:
            return arr[:, :, 0], None
        return cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY), cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)

    def frames(self) -> Iterator[Frame]:
        pacer = Pacer(self.frame_interval_s, enabled=self.paced)
        self.skipped.clear()
        for k, path in enumerate(self.files):
            try:
                image, rgb = self._read(path)
            except FrameSourceError as exc:
                self.skipped.append(f"{path.name}: {exc}")
                continue
            pacer.wait(k)
            yield Frame(
                source=path.name, index=k, captured_ns=time.monotonic_ns(), image=image, rgb=rgb
            )

    def close(self) -> None:
        """Nothing held open between frames."""
