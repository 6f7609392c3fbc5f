"""Write the imaging test inputs for real: DICOM files with pydicom (native, its RLE and JPEG
2000 encoders, Pillow-encoded JPEG frames encapsulated), videos with OpenCV's VideoWriter and
image folders with OpenCV, so the frame sources are tested against files, not mocks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)


def grey_frames(n: int, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """(n, h, w) uint8 frames that differ from frame to frame (exact comparisons)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)


def smooth_frames(n: int, h: int = 48, w: int = 64, colour: bool = False) -> np.ndarray:
    """Smooth gradients, which lossy JPEG keeps within a few grey levels."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for k in range(n):
        base = 128 + 90 * np.sin(xx / 11.0 + k * 0.5) * np.cos(yy / 13.0)
        if colour:
            out.append(np.stack([base, 255 - base, 0.5 * base + 40], axis=-1))
        else:
            out.append(base)
    return np.clip(np.rint(np.array(out)), 0, 255).astype(np.uint8)


def colour_frames(n: int, h: int = 48, w: int = 64, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def us_region(
    box: tuple[int, int, int, int],
    dx_cm: float,
    dy_cm: float,
    *,
    units: int = 3,
    data_type: int = 1,
) -> Dataset:
    """One item of the Sequence of Ultrasound Regions (0018,6011)."""
    r = Dataset()
    r.RegionSpatialFormat = 1
    r.RegionDataType = data_type
    r.RegionFlags = 0
    r.RegionLocationMinX0, r.RegionLocationMinY0 = box[0], box[1]
    r.RegionLocationMaxX1, r.RegionLocationMaxY1 = box[2], box[3]
    r.PhysicalUnitsXDirection = units
    r.PhysicalUnitsYDirection = units
    r.PhysicalDeltaX = dx_cm
    r.PhysicalDeltaY = dy_cm
    return r


def base_dataset(
    frames: np.ndarray, photometric: str, *, frame_time_ms: float | None = None
) -> Dataset:
    """An ultrasound data set with its image pixel module for `frames` ((n, h, w[, 3]))."""
    n, h, w = frames.shape[:3]
    multi = n > 1
    sop_class = UltrasoundMultiFrameImageStorage if multi else UltrasoundImageStorage
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientName = "Phantom^Test"  # synthetic, no person
    ds.Rows, ds.Columns = h, w
    ds.SamplesPerPixel = 3 if frames.ndim == 4 else 1
    ds.PhotometricInterpretation = photometric
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if multi:
        ds.NumberOfFrames = n
        ds.FrameIncrementPointer = 0x00181063
    if frame_time_ms is not None:
        ds.FrameTime = frame_time_ms
    return ds


def write_dicom(
    path: Path,
    frames: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    frame_time_ms: float | None = None,
    regions: list[Dataset] | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
    compress_to: str | None = None,
) -> Path:
    """Native (or compressed with pydicom's own encoders: RLE, JPEG 2000) DICOM file."""
    ds = base_dataset(frames, photometric, frame_time_ms=frame_time_ms)
    if regions is not None:
        ds.SequenceOfUltrasoundRegions = Sequence(regions)
    if pixel_spacing_mm is not None:
        ds.PixelSpacing = list(pixel_spacing_mm)
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    if compress_to is not None:
        arr = frames if frames.shape[0] > 1 else frames[0]
        ds.compress(compress_to, arr, encoding_plugin="")
    ds.save_as(path, enforce_file_format=True)
    return path


def rgb_to_ybr_full(rgb: np.ndarray) -> np.ndarray:
    """DICOM YBR_FULL (BT.601 full range), rounded to uint8."""
    f = rgb.astype(np.float64)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    cb = -0.168736 * f[..., 0] - 0.331264 * f[..., 1] + 0.5 * f[..., 2] + 128
    cr = 0.5 * f[..., 0] - 0.418688 * f[..., 1] - 0.081312 * f[..., 2] + 128
    return np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def write_ybr_full(path: Path, rgb: np.ndarray, *, subsample_422: bool = False) -> Path:
    """Native YBR_FULL, or YBR_FULL_422 stored as the standard says: each horizontal pixel
    pair as Y0 Y1 Cb Cr (chroma averaged over the pair)."""
    ybr = rgb_to_ybr_full(rgb)
    photometric = "YBR_FULL_422" if subsample_422 else "YBR_FULL"
    ds = base_dataset(rgb, photometric)
    if subsample_422:
        y = ybr[..., 0]
        chroma = ybr[..., 1:].astype(np.float64)
        pair = np.rint((chroma[:, :, 0::2] + chroma[:, :, 1::2]) / 2).astype(np.uint8)
        packed = np.stack(
            [y[:, :, 0::2], y[:, :, 1::2], pair[..., 0], pair[..., 1]], axis=-1
        )  # (n, h, w/2, 4)
        ds.PixelData = packed.tobytes()
    else:
        ds.PixelData = ybr.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_palette(path: Path, indices: np.ndarray, lut: np.ndarray) -> Path:
    """PALETTE COLOR: 8-bit indices into a 256-entry, 16-bit-per-entry RGB lookup table
    (`lut`: (256, 3) uint16)."""
    ds = base_dataset(indices, "PALETTE COLOR")
    for colour, channel in zip(("Red", "Green", "Blue"), range(3), strict=True):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(
            ds,
            f"{colour}PaletteColorLookupTableData",
            np.ascontiguousarray(lut[:, channel]).astype("<u2").tobytes(),
        )
    ds.PixelData = indices.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_jpeg_baseline(path: Path, frames: np.ndarray, *, quality: int = 95) -> Path:
    """JPEG Baseline: each frame encoded by Pillow, encapsulated with pydicom. Colour frames
    are stored as Pillow writes them (YCbCr, 4:2:0 by default; subsampling 4:2:2 here), which
    DICOM calls YBR_FULL_422."""
    from PIL import Image

    colour = frames.ndim == 4
    fragments = []
    for f in frames:
        buf = io.BytesIO()
        img = Image.fromarray(f, mode="RGB" if colour else "L")
        img.save(buf, format="JPEG", quality=quality, subsampling=1 if colour else 0)
        fragments.append(buf.getvalue())
    ds = base_dataset(frames, "YBR_FULL_422" if colour else "MONOCHROME2", frame_time_ms=40)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate(fragments)
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_non_image(path: Path) -> Path:
    """A valid DICOM file with no Pixel Data (a Basic Text SR stand-in)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.BasicTextSRStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = pydicom.uid.BasicTextSRStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.save_as(path, enforce_file_format=True)
    return path


def truncate(path: Path, keep_fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def write_video(path: Path, frames_rgb: np.ndarray, fps: float, fourcc: str = "MJPG") -> Path:
    """A video written with OpenCV's VideoWriter (MJPG in .avi: every OpenCV build has it)."""
    import cv2

    h, w = frames_rgb.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for f in frames_rgb:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_png_folder(folder: Path, frames: np.ndarray, names: list[str]) -> Path:
    """Each frame (grey or RGB) as a PNG named from `names`."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for f, name in zip(frames, names, strict=True):
        img = cv2.cvtColor(f, cv2.COLOR_RGB2BGR) if f.ndim == 3 else f
        assert cv2.imwrite(str(folder / name), img)
    return folder
