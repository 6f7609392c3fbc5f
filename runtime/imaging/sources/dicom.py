"""DICOM ultrasound images and cine loops through pydicom (`[imaging]` extra).

What is read, and why this way:

- **Pixels**, single- or multi-frame, native or compressed (RLE, JPEG baseline/extended,
  JPEG-LS, JPEG 2000), through pydicom's decoders with the pylibjpeg plugins (Pillow where
  installed). Frames are decoded lazily, one at a time, by `pydicom.pixels.iter_pixels` on the
  file path: a native cine is read frame by frame from disk, never whole into memory (an
  encapsulated one is parsed for its fragment offsets, then each frame decoded on demand).
- **Colour**: MONOCHROME2 (and MONOCHROME1, inverted), RGB, YBR_FULL, YBR_FULL_422 (pydicom
  converts YBR to RGB, undoing 4:2:2 subsampling) and PALETTE COLOR (through the file's
  lookup tables). `image` is 8-bit grey: the BT.601 luma of the RGB, which for YBR is the
  stored Y up to rounding; colour files keep `rgb` for overlays. Grey data of more than 8 bits
  (rare in ultrasound) goes through its rescale and first VOI window (Window Center/Width)
  when the file states one, else is shifted down to its top 8 bits.
- **Pacing**: Frame Time (0018,1063), else Frame Time Vector (0018,1065) (its mean increment:
  the loop's total duration stays right), else Cine Rate (0018,0040), else Recommended
  Display Frame Rate (0008,2144). A single frame has no interval.
- **Spacing**: from the Sequence of Ultrasound Regions (0018,6011), the region that is 2-D
  tissue (Region Data Type 1, Region Spatial Format 1, or absent) with Physical Units X and Y
  Direction (0018,6024/6026) both 3 (cm): Physical Delta X/Y (0018,602C/602E) in cm per pixel
  and its bounds Region Location Min X0 .. Max Y1 (0018,6018..601E) as `Spacing.region`
  (inclusive pixel coordinates, as DICOM states them, clipped to the frame). Several such
  regions (a dual view): the largest. No such region: Pixel Spacing (0028,0030) in mm, whole
  frame. Neither: spacing None, and `spacing_note` says that lengths are in pixels and why.
- **Damage** is refused at open with the file and the tag at fault: not DICOM, no Pixel Data
  (not an image), an image module attribute missing, or a truncated file (native Pixel Data
  shorter than its frames need, saying how many frames are complete; an encapsulated Pixel
  Data or any element cut off by the end of the file). A frame that fails to decode later
  ends the stream with an error naming the frame; the frames before it were delivered.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vigil.runtime.imaging.frame import Frame, Spacing
from vigil.runtime.imaging.sources import (
    DICOM_SUFFIXES,
    FrameSourceError,
    has_dicom_preamble,
    import_extra,
)
from vigil.runtime.imaging.sources.pacing import Pacer

PIXEL_DATA = 0x7FE00010
UNITS_CM = 3
TISSUE = 1
SPATIAL_2D = 1
SUPPORTED_PHOTOMETRIC = frozenset(
    {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR",
     "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420"}
)  # fmt: skip
_REQUIRED = (
    ("Rows", "(0028,0010)"),
    ("Columns", "(0028,0011)"),
    ("SamplesPerPixel", "(0028,0002)"),
    ("PhotometricInterpretation", "(0028,0004)"),
    ("BitsAllocated", "(0028,0100)"),
)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def frame_interval_s(ds: Any, n_frames: int) -> float | None:
    """Seconds between frames as the file states them (see the module docstring)."""
    if n_frames <= 1:
        return None
    ft = _positive(ds.get("FrameTime"))
    if ft is not None:
        return ft / 1000.0
    vector = ds.get("FrameTimeVector")
    if vector is not None:
        try:
            steps = [float(v) for v in vector]  # a MultiValue of DS
        except TypeError:
            steps = [float(vector)]  # a single value
        steps = [v for v in steps[1:] if v > 0]  # the first entry is 0 by definition
        if steps:
            return sum(steps) / len(steps) / 1000.0
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(ds.get(keyword))
        if rate is not None:
            return 1.0 / rate
    return None


def _positive(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def dicom_spacing(ds: Any) -> tuple[Spacing | None, str]:
    """(spacing, note): where the physical scale comes from, or why there is none."""
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    regions = ds.get("SequenceOfUltrasoundRegions") or []
    candidates: list[tuple[int, Spacing]] = []
    seen_units: list[tuple[Any, Any]] = []
    for r in regions:
        if r.get("RegionDataType") != TISSUE or r.get("RegionSpatialFormat", SPATIAL_2D) not in (
            SPATIAL_2D,
        ):
            continue
        ux, uy = r.get("PhysicalUnitsXDirection"), r.get("PhysicalUnitsYDirection")
        seen_units.append((ux, uy))
        dx, dy = (
            _positive(abs(r.get("PhysicalDeltaX") or 0)),
            _positive(abs(r.get("PhysicalDeltaY") or 0)),
        )
        if ux != UNITS_CM or uy != UNITS_CM or dx is None or dy is None:
            continue
        box = tuple(
            int(r.get(k, 0) or 0)
            for k in (
                "RegionLocationMinX0",
                "RegionLocationMinY0",
                "RegionLocationMaxX1",
                "RegionLocationMaxY1",
            )
        )
        # Clip to the frame: an exported file may be cropped after its regions were written.
        x0, y0 = max(box[0], 0), max(box[1], 0)
        x1, y1 = min(box[2], columns - 1), min(box[3], rows - 1)
        if x1 < x0 or y1 < y0:
            continue
        area = (x1 - x0 + 1) * (y1 - y0 + 1)
        candidates.append((area, Spacing(dx, dy, (x0, y0, x1, y1))))
    if candidates:
        area, best = max(candidates, key=lambda c: c[0])
        return best, (
            f"Sequence of Ultrasound Regions (0018,6011): 2-D tissue region {best.region} "
            f"at {best.dx_cm:g} x {best.dy_cm:g} cm/pixel"
        )
    why = (
        f"its 2-D tissue regions are not in cm (units X/Y {seen_units}; 3 means cm)"
        if seen_units
        else "no 2-D tissue region in a Sequence of Ultrasound Regions (0018,6011)"
    )
    ps = ds.get("PixelSpacing")
    if ps is not None and len(ps) == 2 and _positive(ps[0]) and _positive(ps[1]):
        dy_mm, dx_mm = float(ps[0]), float(ps[1])  # row spacing, column spacing
        return Spacing(dx_mm / 10.0, dy_mm / 10.0, None), (
            f"Pixel Spacing (0028,0030): {dx_mm:g} x {dy_mm:g} mm/pixel ({why})"
        )
    return None, f"lengths and areas in pixels: {why}, and no Pixel Spacing (0028,0030)"


def _to_uint8(arr: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    a = arr.astype(np.int64)
    if signed:
        a = a + (1 << (bits_stored - 1))
    if bits_stored > 8:
        a = a >> (bits_stored - 8)
    return np.clip(a, 0, 255).astype(np.uint8)


def _first(value: Any) -> float:
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def _window(ds: Any) -> tuple[float, float, float, float] | None:
    """(slope, intercept, centre, width) for grey data of more than 8 bits that states a VOI
    window (Window Center/Width (0028,1050/1051), the first one): that window becomes 0..255."""
    if ds.get("WindowCenter") is None or ds.get("WindowWidth") is None:
        return None
    width = _first(ds.WindowWidth)
    if not width >= 1.0:
        return None
    slope = float(ds.get("RescaleSlope") or 1.0)
    intercept = float(ds.get("RescaleIntercept") or 0.0)
    return slope, intercept, _first(ds.WindowCenter), width


def _windowed(arr: np.ndarray, slope: float, intercept: float, c: float, w: float) -> np.ndarray:
    """DICOM's linear VOI function (PS3.3 C.11.2.1.2.1) after the modality rescale."""
    x = arr.astype(np.float64) * slope + intercept
    y = ((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of 8-bit RGB (the Y of YBR_FULL), rounded to uint8."""
    y = rgb.astype(np.float32) @ _LUMA
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


class DicomSource:
    """One DICOM file's frames. Attributes after open: `n_frames`, `photometric`,
    `transfer_syntax` (UID name), `spacing`, `spacing_note`, `frame_interval_s`."""

    def __init__(self, path: str | Path, *, paced: bool = True) -> None:
        self._pydicom = import_extra("pydicom", needed_for="reading DICOM")
        import_extra("pydicom.pixels", needed_for="decoding DICOM pixels")
        self.path = Path(path)
        self.name = self.path.name
        self.paced = paced
        ds = self._read_header()
        self._ds = ds
        self.rows, self.columns = int(ds.Rows), int(ds.Columns)
        self.samples = int(ds.SamplesPerPixel)
        self.photometric = str(ds.PhotometricInterpretation).strip()
        if self.photometric not in SUPPORTED_PHOTOMETRIC:
            raise FrameSourceError(
                f"{self.path}: Photometric Interpretation (0028,0004) {self.photometric!r} "
                f"is not one Vigil converts ({', '.join(sorted(SUPPORTED_PHOTOMETRIC))})"
            )
        self.bits_stored = int(ds.get("BitsStored") or ds.BitsAllocated)
        self.signed = int(ds.get("PixelRepresentation") or 0) == 1
        self.n_frames = max(1, int(ds.get("NumberOfFrames") or 1))
        self._window = _window(ds) if self.bits_stored > 8 and self.samples == 1 else None
        tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        self.transfer_syntax = tsyntax.name if tsyntax is not None else "unknown"
        self._compressed = bool(tsyntax is not None and tsyntax.is_compressed)
        self.frame_interval_s = frame_interval_s(ds, self.n_frames)
        self.spacing, self.spacing_note = dicom_spacing(ds)
        if not self._compressed:
            self._check_native_length()

    def _read_header(self) -> Any:
        pydicom = self._pydicom
        if not self.path.is_file():
            raise FrameSourceError(f"{self.path}: no such DICOM file")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                # Large values (Pixel Data) stay on disk: only their offsets are read now.
                ds = pydicom.dcmread(self.path, defer_size=4096)
            except pydicom.errors.InvalidDicomError as exc:
                raise FrameSourceError(
                    f"{self.path}: not a DICOM Part 10 file (no 'DICM' after the 128-byte "
                    f"preamble): {exc}"
                ) from exc
            except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise FrameSourceError(f"{self.path}: unreadable DICOM ({exc}); damaged?") from exc
        cut = [str(w.message) for w in caught if "End of file" in str(w.message)]
        if cut:
            raise FrameSourceError(
                f"{self.path}: truncated: the file ends inside an element "
                f"({cut[0]}); Pixel Data (7FE0,0010) is incomplete or missing"
            )
        if PIXEL_DATA not in ds:
            if len(ds) == 0:
                raise FrameSourceError(
                    f"{self.path}: no data set after the file meta information: truncated or "
                    "empty; no Pixel Data (7FE0,0010)"
                )
            sop = ds.get("SOPClassUID")
            what = f" (SOP Class {sop.name})" if sop is not None else ""
            if "Rows" in ds:
                raise FrameSourceError(
                    f"{self.path}: no Pixel Data (7FE0,0010) although it has image attributes"
                    f"{what}: truncated before its pixels?"
                )
            raise FrameSourceError(f"{self.path}: no Pixel Data (7FE0,0010): not an image{what}")
        for keyword, tag in _REQUIRED:
            if ds.get(keyword) is None:
                raise FrameSourceError(
                    f"{self.path}: {keyword} {tag} is missing: the image module is incomplete"
                )
        return ds

    def _check_native_length(self) -> None:
        from pydicom.dataelem import RawDataElement
        from pydicom.pixels.utils import get_expected_length

        expected = int(get_expected_length(self._ds, unit="bytes"))
        elem = self._ds.get_item(PIXEL_DATA, keep_deferred=True)
        if isinstance(elem, RawDataElement) and elem.value is None:
            on_disk = self.path.stat().st_size - int(elem.value_tell)
            present = min(int(elem.length), max(on_disk, 0))
        else:
            present = len(self._ds.PixelData)
        if present < expected:
            per_frame = max(expected // self.n_frames, 1)
            raise FrameSourceError(
                f"{self.path}: truncated: Pixel Data (7FE0,0010) holds {present} of the "
                f"{expected} bytes that {self.n_frames} frame(s) of {self.rows}x{self.columns} "
                f"need ({present // per_frame} complete frame(s))"
            )

    def _display(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self.photometric == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            rgb = apply_color_lut(arr, self._ds)
            rgb = rgb if rgb.dtype == np.uint8 else (rgb >> 8).astype(np.uint8)
            return luma(rgb), rgb
        if self._window is not None and arr.ndim == 2:
            arr = _windowed(arr, *self._window)
        else:
            arr = _to_uint8(arr, self.bits_stored, self.signed)
        if arr.ndim == 3 and arr.shape[2] == 3:  # pydicom has converted YBR to RGB
            return luma(arr), arr
        if arr.ndim == 3:
            arr = arr[:, :, 0]
        if self.photometric == "MONOCHROME1":
            arr = 255 - arr
        return arr, None

    def _arrays(self) -> Iterator[np.ndarray]:
        from pydicom.pixels import iter_pixels, pixel_array

        if self.photometric == "YBR_FULL_422" and not self._compressed:
            # pydicom 3.0's iter_pixels miscounts native 4:2:2 frame lengths past frame 1;
            # pixel_array(path, index=k) reads one frame at a time correctly.
            return (pixel_array(self.path, index=k) for k in range(self.n_frames))
        return iter_pixels(self.path)

    def frames(self) -> Iterator[Frame]:
        pacer = Pacer(self.frame_interval_s, enabled=self.paced)
        arrays = self._arrays()
        try:
            for k in range(self.n_frames):
                try:
                    arr = next(arrays)
                except StopIteration:
                    return
                except (ValueError, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
                    raise FrameSourceError(
                        f"{self.path}: frame {k} of Pixel Data (7FE0,0010) "
                        f"({self.transfer_syntax}) does not decode: {exc}"
                    ) from exc
                image, rgb = self._display(arr)
                pacer.wait(k)
                yield Frame(
                    source=self.name,
                    index=k,
                    captured_ns=time.monotonic_ns(),
                    image=image,
                    rgb=rgb,
                    spacing=self.spacing,
                )
        finally:
            arrays.close()  # releases the file iter_pixels holds open

    def close(self) -> None:
        """Each `frames()` opens and closes the file itself."""


def _natural_key(path: Path) -> list[int | str]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_dicom(folder: Path) -> list[Path]:
    """The folder's DICOM files (by suffix or preamble, not recursing), natural name order."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and (p.suffix.lower() in DICOM_SUFFIXES or has_dicom_preamble(p))
    ]
    return sorted(files, key=_natural_key)


class DicomFolderSource:
    """A folder of DICOM files (an exported series of single frames, or several cines) played
    one after another, indices running on across files. A file that cannot be opened is
    skipped and recorded in `skipped` (its frames leave no index gap: their number is
    unknown), as one bad export should not stop a run. Paced at the first file's interval,
    when it has one; each frame carries its own file's spacing."""

    def __init__(self, folder: str | Path, *, paced: bool = True) -> None:
        import_extra("pydicom", needed_for="reading DICOM")
        self.folder = Path(folder)
        self.name = self.folder.name
        self.files = list_dicom(self.folder)
        if not self.files:
            raise FrameSourceError(f"{self.folder}: no DICOM files in it")
        self.paced = paced
        self.skipped: list[str] = []
        self.frame_interval_s: float | None = None
        for path in self.files:
            try:
                self.frame_interval_s = DicomSource(path, paced=False).frame_interval_s
                break
            except FrameSourceError:
                continue

    def frames(self) -> Iterator[Frame]:
        pacer = Pacer(self.frame_interval_s, enabled=self.paced)
        self.skipped.clear()
        k = 0
        for path in self.files:
            try:
                source = DicomSource(path, paced=False)
            except FrameSourceError as exc:
                self.skipped.append(str(exc))
                continue
            for f in source.frames():
                pacer.wait(k)
                yield Frame(
                    source=f.source,
                    index=k,
                    captured_ns=time.monotonic_ns(),
                    image=f.image,
                    rgb=f.rgb,
                    spacing=f.spacing,
                )
                k += 1

    def close(self) -> None:
        """Nothing held open between frames."""
