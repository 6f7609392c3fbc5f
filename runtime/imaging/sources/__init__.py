"""Frame sources: one reader per kind of input, each behind `FrameSource` (frame.py).

`open_source(spec)` picks the reader from what the command line says:

- an integer (`0`) or `/dev/videoN`: a capture device through OpenCV (video.py);
- `.mp4`, `.avi`, `.mkv`, `.mov`, `.m4v`: a video file through OpenCV (video.py);
- `.dcm`, `.dicom`, or any file with the DICOM preamble ("DICM" at byte 128): DICOM (dicom.py);
- a directory: a folder of images (images.py) or, when it holds DICOM files and no images,
  the DICOM files one after another in name order (dicom.py);
- `phantom` or `phantom:SEED`: the synthetic cine with ground-truth masks (phantom.py).

The readers need the `[imaging]` extra (OpenCV, pydicom and its JPEG plugins). They are imported
on first use, never by `import vigil.runtime`, so a bedside box without the extra still starts;
`import_extra` turns a missing package into a `FrameSourceError` that says what to install.
Submodules are imported inside `open_source` for the same reason.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from vigil.errors import VigilError

if TYPE_CHECKING:
    from vigil.runtime.imaging.frame import FrameSource

INSTALL_HINT = "pip install 'vigil-edge[imaging]'"
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".m4v"})
DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
_DEVICE = re.compile(r"^(?:\d+|/dev/video\d+)$")
_PHANTOM = re.compile(r"^phantom(?::(-?\d+))?$")


class FrameSourceError(VigilError):
    """A frame source cannot be opened or read: names the file or device and what is wrong."""


def import_extra(module: str, *, needed_for: str) -> ModuleType:
    """Import one of the `[imaging]` extra's packages, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".", maxsplit=1)[0]
        raise FrameSourceError(
            f"{needed_for} needs the Python package {package!r}, which is not installed "
            f"({exc}): {INSTALL_HINT}"
        ) from exc


def has_dicom_preamble(path: Path) -> bool:
    """True when the file has DICOM Part 10's 128-byte preamble followed by b"DICM"."""
    try:
        with path.open("rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def open_source(
    spec: str,
    *,
    paced: bool = True,
    fps: float | None = None,
    phantom_size: int = 256,
    phantom_frames: int | None = None,
) -> FrameSource:
    """The reader for `spec` (see the module docstring).

    `paced=False` is `--as-fast-as-possible`. `fps` paces an image folder, which has no frame
    rate of its own (None: unpaced). The phantom draws `phantom_size`² frames, forever when
    `phantom_frames` is None.
    """
    text = spec.strip()
    phantom = _PHANTOM.match(text)
    if phantom:
        from vigil.runtime.imaging.sources.phantom import PhantomSource

        seed = int(phantom.group(1)) if phantom.group(1) is not None else 0
        return PhantomSource(seed, size=phantom_size, n_frames=phantom_frames, paced=paced)
    if _DEVICE.match(text):
        from vigil.runtime.imaging.sources.video import VideoSource

        return VideoSource(int(text) if text.isdigit() else text, paced=paced)
    path = Path(text).expanduser()
    if not path.exists():
        raise FrameSourceError(
            f"source {spec!r}: no such file or directory; give a video file (.mp4, .avi, ...), "
            "a DICOM file, an image folder, a capture device (0 or /dev/video0) or "
            "'phantom[:SEED]'"
        )
    if path.is_dir():
        from vigil.runtime.imaging.sources.images import ImageFolderSource, list_images

        if not list_images(path):
            from vigil.runtime.imaging.sources.dicom import DicomFolderSource, list_dicom

            if list_dicom(path):
                return DicomFolderSource(path, paced=paced)
        return ImageFolderSource(path, fps=fps, paced=paced)
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES or has_dicom_preamble(path):
        from vigil.runtime.imaging.sources.dicom import DicomSource

        return DicomSource(path, paced=paced)
    if suffix in VIDEO_SUFFIXES:
        from vigil.runtime.imaging.sources.video import VideoSource

        return VideoSource(path, paced=paced)
    raise FrameSourceError(
        f"{path}: not a source Vigil can read (suffix {suffix or 'none'!r} and no DICOM "
        f"preamble); video files are {', '.join(sorted(VIDEO_SUFFIXES))}, DICOM files "
        ".dcm or any file starting with the DICM preamble, images come as a folder"
    )
