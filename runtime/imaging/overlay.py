"""Frames with the mask and the findings drawn on them, written as a video or PNG frames.

Drawing: the segmented region is tinted and outlined (cyan); a finding gets its bounding box
and a label with its number and area (in cm² or px, as measured); a finding that meets the
rule is drawn amber, since that is what raised the advisory. Regions not yet stable are
outlined only. The overlay is for a person checking the model, so nothing is hidden: the
frame index and the latency are printed in the corner.

Writing (`open_overlay`): a path ending .avi is written with OpenCV's MJPG codec, .mp4 with
mp4v (both in every OpenCV build); any other path is a directory of PNG frames named
`<source>_<index>.png`. OpenCV (`opencv-python-headless`, the `[imaging]` extra) is imported
when an overlay is drawn, not before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import ConfigError
from vigil.runtime.imaging.findings import Finding
from vigil.runtime.imaging.frame import Frame

VIDEO_CODECS = {".avi": "MJPG", ".mp4": "mp4v"}
_CYAN, _AMBER, _WHITE = (255, 255, 0), (0, 191, 255), (255, 255, 255)  # BGR


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise ConfigError(
            "drawing overlays needs OpenCV: pip install 'vigil-edge[imaging]' "
            "(opencv-python-headless)"
        ) from exc
    return cv2


def draw(
    frame: Frame,
    mask: np.ndarray,
    findings: Sequence[Finding] = (),
    note: str = "",
) -> np.ndarray:
    """The frame as BGR uint8 (H, W, 3) with the mask (every region) and findings drawn."""
    cv2 = _cv2()
    if frame.rgb is not None:
        out = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
    else:
        out = cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR)
    if mask.any():
        tint = out.copy()
        tint[mask] = _CYAN
        out = cv2.addWeighted(tint, 0.35, out, 0.65, 0.0)
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        cv2.drawContours(out, contours, -1, _CYAN, 1)
    h, w = mask.shape
    scale = max(0.3, min(w, h) / 640.0)
    for f in findings:
        colour = _AMBER if f.rule_met else _CYAN
        x0, y0, x1, y1 = f.region.bbox
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), colour, 1)
        value, unit = f.region.area
        label = f"#{f.track} {value:.2f} cm2" if unit == "cm2" else f"#{f.track} {value:.0f} px"
        y = y0 - 4 if y0 > 12 else y1 + 12
        cv2.putText(out, label, (x0, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    text = f"{frame.source} #{frame.index}" + (f"  {note}" if note else "")
    cv2.putText(out, text, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, scale, _WHITE, 1, cv2.LINE_AA)
    return out


class OverlayWriter:
    """Writes drawn frames to a video file or a PNG directory (see `open_overlay`)."""

    def __init__(self, path: Path, fps: float = 20.0) -> None:
        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 20.0
        self.frames_written = 0
        self._video: Any = None
        self._size: tuple[int, int] | None = None
        self.codec = VIDEO_CODECS.get(self.path.suffix.lower())
        if self.codec is not None:
            if not self.path.parent.is_dir():
                raise ConfigError(
                    f"cannot write overlay video {self.path}: folder {self.path.parent} "
                    "does not exist"
                )
        else:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create overlay folder {self.path}: {exc}") from exc

    @property
    def is_video(self) -> bool:
        return self.codec is not None

    def write(self, picture: np.ndarray, source: str = "frame", index: int = 0) -> None:
        """One BGR picture: the next video frame, or `<source>_<index>.png`."""
        cv2 = _cv2()
        if not self.is_video:
            name = f"{_safe(source)}_{index:06d}.png"
            if not cv2.imwrite(str(self.path / name), picture):
                raise ConfigError(f"cannot write overlay frame {self.path / name}")
            self.frames_written += 1
            return
        h, w = picture.shape[:2]
        if self._video is None:
            self._size = (w, h)
            fourcc = cv2.VideoWriter_fourcc(*self.codec)
            self._video = cv2.VideoWriter(str(self.path), fourcc, float(self.fps), (w, h))
            if not self._video.isOpened():
                self._video = None
                raise ConfigError(
                    f"OpenCV cannot write {self.path} with codec {self.codec}; write PNG "
                    "frames instead (give a folder) or use .avi"
                )
        if (w, h) != self._size:  # a source changed geometry mid-stream: keep the video's
            picture = cv2.resize(picture, self._size, interpolation=cv2.INTER_AREA)
        self._video.write(picture)
        self.frames_written += 1

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None


def open_overlay(path: Path, fps: float = 20.0) -> OverlayWriter:
    """A writer for `path`: .avi (MJPG) or .mp4 (mp4v) video, anything else a PNG folder."""
    _cv2()
    return OverlayWriter(path, fps)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "frame"


class OverlayOutput:
    """The pipeline's overlay output: draws each processed frame and writes it. With several
    sources and a video path, each source gets its own video (`out_<source>.avi`)."""

    def __init__(self, path: Path, fps: float = 20.0, sources: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.fps = fps
        self._several = len(sources) > 1 and self.path.suffix.lower() in VIDEO_CODECS
        self._writers: dict[str, OverlayWriter] = {}
        if not self._several:
            self._writers[""] = open_overlay(self.path, fps)

    def _writer(self, source: str) -> OverlayWriter:
        if not self._several:
            return self._writers[""]
        if source not in self._writers:
            path = self.path.with_name(f"{self.path.stem}_{_safe(source)}{self.path.suffix}")
            self._writers[source] = open_overlay(path, self.fps)
        return self._writers[source]

    def write(self, frame: Frame, mask: np.ndarray, result: Any) -> None:
        note = f"{result.latency_ms:.0f} ms" if result is not None else ""
        picture = draw(frame, mask, getattr(result, "findings", ()), note)
        self._writer(result.source if result is not None else frame.source).write(
            picture, frame.source, frame.index
        )

    @property
    def paths(self) -> list[Path]:
        """Where the overlays went (one video per source with several sources)."""
        return [w.path for w in self._writers.values()]

    @property
    def frames_written(self) -> int:
        return sum(w.frames_written for w in self._writers.values())

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
