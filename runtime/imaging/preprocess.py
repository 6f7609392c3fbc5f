"""Frame pixels to the segmenter's input tensor and its logits back to a mask, from the manifest.

Pure functions: nothing here reads a file or runs a model. The artifact's manifest says the
input size, layout and normalisation (`meta.normalisation`: input = grey / 255 x scale +
offset) and the probability threshold (`meta.threshold`); this module takes those numbers
from the manifest, never from the training code.

Geometry, why it is done this way:
- **Crop** to where the image is: a configured region (x0, y0, x1, y1) when given (a capture
  card's frame carries the scanner's UI around the image), else the source's ultrasound region
  (DICOM Sequence of Ultrasound Regions), else the scan sector found in the frame (rows and
  columns holding echoes; outside the fan a B-mode frame is 0).
- **Letterbox** the crop to a square with 0 (what "outside the sector" looks like to the
  model) and resize it to the model's input: the aspect ratio is kept, so round cysts stay
  round and the speckle grain keeps the proportions the model was trained on. The crop sits
  at the bottom centre of the square, because that is how the training phantoms frame a scan:
  the fan's deepest row at the image bottom, blank rows above the near field. The network
  reads depth from the row (attenuation and gain change with it): moving a phantom's content
  up by 14 rows costs it 0.14 Dice, so centring vertically would hurt. A 256-pixel phantom
  maps 1:1.
- **Back**: the logits are resized to the letterboxed square, unpadded, thresholded, and placed
  at the crop inside a frame-sized mask, so findings are measured in the source's pixels (where
  the physical spacing holds).

OpenCV does the resizing when it is installed (imported lazily); a numpy bilinear fallback
keeps the pipeline working without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.errors import VigilError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels; x1, y1 exclusive


class PreprocessError(VigilError):
    """The manifest does not say how to feed the model, or a configured region is unusable."""


@dataclass(frozen=True, slots=True)
class ModelGeometry:
    """What the manifest says about the segmenter's input and output."""

    input_name: str
    output_name: str
    height: int
    width: int
    layout: str  # "NCHW" or "NHWC"
    scale: float  # input = grey / 255 * scale + offset
    offset: float
    threshold: float  # on the sigmoid probability
    dynamic_batch: bool

    @property
    def logit_threshold(self) -> float:
        t = self.threshold
        return math.log(t / (1.0 - t))

    @classmethod
    def from_manifest(cls, manifest: Any, source: str = "manifest") -> ModelGeometry:
        """From a `vigil.artifacts.Manifest`; `PreprocessError` names the key it lacks."""
        if len(manifest.inputs) != 1 or len(manifest.outputs) < 1:
            raise PreprocessError(
                f"{source}: a segmenter takes one image input and gives logits; the manifest "
                f"lists {len(manifest.inputs)} input(s), {len(manifest.outputs)} output(s)"
            )
        tin, tout = manifest.inputs[0], manifest.outputs[0]
        layout = (tin.layout or "NCHW").upper()
        if layout not in ("NCHW", "NHWC") or len(tin.shape) != 4:
            raise PreprocessError(
                f"{source}: input {tin.name} has layout {layout!r} shape {list(tin.shape)}; "
                "the imaging pipeline feeds 4-D NCHW or NHWC images"
            )
        c, h, w = tin.shape[1:] if layout == "NCHW" else (tin.shape[3], *tin.shape[1:3])
        if c != 1 or not isinstance(h, int) or not isinstance(w, int):
            raise PreprocessError(
                f"{source}: input {tin.name} shape {list(tin.shape)}: the pipeline needs one "
                "channel and a fixed height and width"
            )
        meta = manifest.meta or {}
        norm = meta.get("normalisation", {})
        try:
            scale = float(norm.get("scale", 1.0))
            offset = float(norm.get("offset", 0.0))
            threshold = float(meta.get("threshold", 0.5))
        except (TypeError, ValueError) as exc:
            raise PreprocessError(f"{source}: meta.normalisation/threshold: {exc}") from exc
        if not 0.0 < threshold < 1.0:
            raise PreprocessError(f"{source}: meta.threshold {threshold} is not in (0, 1)")
        return cls(
            input_name=tin.name,
            output_name=tout.name,
            height=h,
            width=w,
            layout=layout,
            scale=scale,
            offset=offset,
            threshold=threshold,
            dynamic_batch=not isinstance(tin.shape[0], int),
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    """One frame as the model's input (C, H, W or H, W, C float32) and the geometry to undo."""

    tensor: np.ndarray
    frame_shape: tuple[int, int]  # (H, W) of the source frame
    crop: Box  # where in the frame the model looked
    pad: tuple[int, int, int]  # (top, left, side): the crop sits there in a side x side square


def sector_box(image: np.ndarray, floor: int = 0) -> Box:
    """The scan sector: the longest run of consecutive rows holding any pixel above `floor`,
    then, within those rows, the longest run of such columns. A UI band or marker separated
    from the image by a black gap is left out; the fan's single-pixel deepest row is kept (the
    crop must not shift the image: the model reads depth from the row). The whole frame when
    nothing is lit. Capture cards with a noisy black level need `floor`, or a region."""
    h, w = image.shape
    lit = image > floor
    rows = _longest_run(lit.any(axis=1))
    if rows is None:
        return (0, 0, w, h)
    cols = _longest_run(lit[rows[0] : rows[1]].any(axis=0))
    assert cols is not None
    return (cols[0], rows[0], cols[1], rows[1])


def _longest_run(flags: np.ndarray) -> tuple[int, int] | None:
    """(start, stop) of the longest run of True, or None when there is none."""
    lit = np.flatnonzero(flags)
    if lit.size == 0:
        return None
    first, last = int(lit[0]), int(lit[-1])
    if last - first + 1 == lit.size:  # one run, the usual scan sector: nothing to search
        return first, last + 1
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    starts, stops = edges[0::2], edges[1::2]
    i = int(np.argmax(stops - starts))
    return int(starts[i]), int(stops[i])


def crop_box(
    shape: tuple[int, int], region: Box | None = None, spacing_region: Box | None = None,
    image: np.ndarray | None = None,
) -> Box:  # fmt: skip
    """The crop for a frame of `shape` (H, W): `region`, else `spacing_region`, else the
    sector found in `image`, else the whole frame; always clipped to the frame."""
    h, w = shape
    if region is not None:
        box, what = region, "configured region"
    elif spacing_region is not None:
        box, what = spacing_region, "source's ultrasound region"
    elif image is not None:
        box, what = sector_box(image), "sector"
    else:
        box, what = (0, 0, w, h), "frame"
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise PreprocessError(
            f"{what} {tuple(box)} leaves no image inside a {w}x{h} frame; give a region "
            "x0,y0,x1,y1 inside the frame (pixels, x1 and y1 exclusive)"
        )
    return (x0, y0, x1, y1)


def resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D float32 array (area averaging when shrinking, with OpenCV)."""
    if array.shape == (height, width):
        return array
    try:
        import cv2
    except ImportError:
        return _resize_numpy(array, height, width)
    shrink = height < array.shape[0] and width < array.shape[1]
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(array, (width, height), interpolation=method)


def _resize_numpy(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear, pixel centres aligned (OpenCV's INTER_LINEAR convention)."""
    h, w = array.shape

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = axis(height, h)
    x0, x1, fx = axis(width, w)
    top = array[y0][:, x0] * (1 - fx) + array[y0][:, x1] * fx
    bottom = array[y1][:, x0] * (1 - fx) + array[y1][:, x1] * fx
    return (top * (1 - fy[:, None]) + bottom * fy[:, None]).astype(np.float32)


def prepare(
    image: np.ndarray,
    geometry: ModelGeometry,
    *,
    region: Box | None = None,
    spacing_region: Box | None = None,
) -> Prepared:
    """A uint8 grey frame (H, W) as the model's input for one batch slot."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise PreprocessError(
            f"a frame must be 2-D uint8 grey (sources convert once); got {image.dtype} "
            f"{list(image.shape)}"
        )
    box = crop_box(image.shape, region, spacing_region, image)  # type: ignore[arg-type]
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1]
    ch, cw = crop.shape
    side = max(ch, cw)
    top, left = side - ch, (side - cw) // 2  # bottom-centre: the deepest row stays at the bottom
    square = np.zeros((side, side), dtype=np.float32)
    square[top : top + ch, left : left + cw] = crop
    x = resize(square, geometry.height, geometry.width)  # `square` itself at the model's size
    x *= np.float32(geometry.scale / 255.0)  # in place: both are this call's own arrays
    x += np.float32(geometry.offset)
    tensor = x[None] if geometry.layout == "NCHW" else x[:, :, None]
    return Prepared(
        np.ascontiguousarray(tensor, dtype=np.float32), image.shape, box, (top, left, side)
    )  # type: ignore[arg-type]


def to_mask(logits: np.ndarray, prepared: Prepared, geometry: ModelGeometry) -> np.ndarray:
    """One slot's logits (1, H, W), (H, W, 1) or (H, W) back to a bool mask of the source
    frame's shape; False outside the crop."""
    z = np.asarray(logits, dtype=np.float32).reshape(geometry.height, geometry.width)
    top, left, side = prepared.pad
    x0, y0, x1, y1 = prepared.crop
    square = resize(z, side, side)
    inside = square[top : top + (y1 - y0), left : left + (x1 - x0)] > geometry.logit_threshold
    mask = np.zeros(prepared.frame_shape, dtype=bool)
    mask[y0:y1, x0:x1] = inside
    return mask
