"""Frame sources read real files written here (imaging_files.py): DICOM through pydicom's
decoders, video through OpenCV, image folders, and the phantom cine."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from blocked_imports import block_imports
from imaging_files import (
    colour_frames,
    grey_frames,
    smooth_frames,
    truncate,
    us_region,
    write_dicom,
    write_jpeg_baseline,
    write_non_image,
    write_palette,
    write_png_folder,
    write_video,
    write_ybr_full,
)
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from vigil.errors import VigilError
from vigil.models.synthetic.ultrasound import PhantomStream
from vigil.runtime.imaging.frame import Spacing
from vigil.runtime.imaging.sources import FrameSourceError, open_source
from vigil.runtime.imaging.sources.dicom import DicomFolderSource, DicomSource, luma
from vigil.runtime.imaging.sources.images import ImageFolderSource
from vigil.runtime.imaging.sources.pacing import Pacer
from vigil.runtime.imaging.sources.phantom import PhantomSource
from vigil.runtime.imaging.sources.video import VideoSource


def read_all(source) -> list:
    try:
        return list(source.frames())
    finally:
        source.close()


# --- DICOM: native multi-frame, spacing and pacing -------------------------------------------


def test_multiframe_dicom_yields_every_frame_exactly_with_region_spacing_in_cm(tmp_path):
    frames = grey_frames(5)
    region = us_region((4, 6, 59, 45), dx_cm=0.021, dy_cm=0.034)
    path = write_dicom(tmp_path / "cine.dcm", frames, frame_time_ms=50, regions=[region])
    source = DicomSource(path, paced=False)
    got = read_all(source)
    assert [f.index for f in got] == [0, 1, 2, 3, 4]
    for f, expected in zip(got, frames, strict=True):
        assert f.image.dtype == np.uint8
        assert np.array_equal(f.image, expected)
        assert f.rgb is None
        assert f.source == "cine.dcm"
        assert f.spacing == Spacing(0.021, 0.034, (4, 6, 59, 45))
    assert source.frame_interval_s == pytest.approx(0.05)
    assert "Ultrasound Regions" in source.spacing_note


def test_paced_dicom_cine_honours_its_frame_time(tmp_path):
    path = write_dicom(tmp_path / "cine.dcm", grey_frames(5), frame_time_ms=50)
    start = time.monotonic()
    got = read_all(DicomSource(path))  # paced by default
    elapsed = time.monotonic() - start
    assert len(got) == 5
    assert elapsed >= 4 * 0.05 - 0.005  # frame 0 is due at once, frame 4 at 200 ms
    stamps = [f.captured_ns for f in got]
    assert stamps == sorted(stamps)
    assert stamps[4] - stamps[0] >= 4 * 50_000_000 - 5_000_000


def test_dicom_without_any_spacing_reports_pixels_and_says_why(tmp_path):
    path = write_dicom(tmp_path / "plain.dcm", grey_frames(2))
    source = DicomSource(path, paced=False)
    assert source.spacing is None
    assert "pixels" in source.spacing_note
    assert all(f.spacing is None for f in read_all(source))
    assert source.frame_interval_s is None  # no frame time in the file: unpaced


def test_region_not_in_cm_falls_back_to_pixel_spacing_in_mm(tmp_path):
    seconds = us_region((0, 0, 63, 47), 0.5, 0.5, units=4)  # units 4: seconds (a Doppler axis)
    path = write_dicom(
        tmp_path / "ps.dcm", grey_frames(1), regions=[seconds], pixel_spacing_mm=(0.3, 0.2)
    )
    source = DicomSource(path, paced=False)
    assert source.spacing == Spacing(dx_cm=pytest.approx(0.02), dy_cm=pytest.approx(0.03))
    assert "Pixel Spacing" in source.spacing_note
    assert "not in cm" in source.spacing_note


def test_region_not_in_cm_without_pixel_spacing_reports_pixels(tmp_path):
    seconds = us_region((0, 0, 63, 47), 0.5, 0.5, units=4)
    path = write_dicom(tmp_path / "s.dcm", grey_frames(1), regions=[seconds])
    source = DicomSource(path, paced=False)
    assert source.spacing is None
    assert "pixels" in source.spacing_note


def test_the_tissue_region_is_chosen_over_a_doppler_region(tmp_path):
    doppler = us_region((0, 30, 63, 47), 0.1, 0.2, data_type=3)  # spectral Doppler strip
    tissue = us_region((0, 0, 63, 29), 0.025, 0.025)
    path = write_dicom(tmp_path / "dual.dcm", grey_frames(1), regions=[doppler, tissue])
    assert DicomSource(path, paced=False).spacing == Spacing(0.025, 0.025, (0, 0, 63, 29))


def test_frame_time_vector_and_cine_rate_pace_when_frame_time_is_absent(tmp_path):
    path = write_dicom(tmp_path / "v.dcm", grey_frames(4))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.FrameTimeVector = [0, 40, 40, 40]
    ds.save_as(path)
    assert DicomSource(path, paced=False).frame_interval_s == pytest.approx(0.04)
    del ds.FrameTimeVector
    ds.CineRate = 25
    ds.save_as(path)
    assert DicomSource(path, paced=False).frame_interval_s == pytest.approx(0.04)


def test_single_frame_dicom_yields_one_frame_and_no_interval(tmp_path):
    frames = grey_frames(1)
    source = DicomSource(write_dicom(tmp_path / "one.dcm", frames, frame_time_ms=50))
    got = read_all(source)
    assert len(got) == 1
    assert np.array_equal(got[0].image, frames[0])
    assert source.frame_interval_s is None


# --- DICOM: compressed transfer syntaxes -----------------------------------------------------


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k-lossless"])
def test_lossless_compressed_cine_decodes_to_the_exact_pixels(tmp_path, syntax):
    frames = grey_frames(4)
    path = write_dicom(tmp_path / "c.dcm", frames, frame_time_ms=40, compress_to=syntax)
    source = DicomSource(path, paced=False)
    assert source.transfer_syntax == syntax.name
    got = read_all(source)
    assert len(got) == 4
    for f, expected in zip(got, frames, strict=True):
        assert np.array_equal(f.image, expected)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k-lossless"])
def test_lossless_compressed_rgb_keeps_colour_exactly(tmp_path, syntax):
    frames = colour_frames(2)
    path = write_dicom(tmp_path / "c.dcm", frames, photometric="RGB", compress_to=syntax)
    for f, expected in zip(read_all(DicomSource(path, paced=False)), frames, strict=True):
        assert np.array_equal(f.rgb, expected)
        assert np.array_equal(f.image, luma(expected))


def test_jpeg_ls_lossless_decodes_when_an_encoder_exists(tmp_path):
    from pydicom.pixels import get_encoder

    encoder = get_encoder(JPEGLSLossless)
    if not encoder.is_available:
        pytest.skip(
            f"no JPEG-LS encoder installed to write the test file: {encoder.missing_dependencies}"
            " (decoding is covered by pydicom's shipped JPEG-LS file below)"
        )
    frames = grey_frames(3)
    path = write_dicom(tmp_path / "ls.dcm", frames, compress_to=JPEGLSLossless)
    for f, expected in zip(read_all(DicomSource(path, paced=False)), frames, strict=True):
        assert np.array_equal(f.image, expected)


def test_jpeg_ls_lossless_file_shipped_with_pydicom_decodes_to_its_uncompressed_twin():
    # Public test files shipped inside pydicom (pydicom/data/test_files): the same MR slice
    # stored uncompressed and as JPEG-LS Lossless. No JPEG-LS encoder is installed here.
    from pydicom.data import get_testdata_file

    compressed = DicomSource(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), paced=False)
    reference = DicomSource(get_testdata_file("MR_small.dcm"), paced=False)
    assert compressed.transfer_syntax == JPEGLSLossless.name
    (got,) = read_all(compressed)
    (expected,) = read_all(reference)
    assert got.image.dtype == np.uint8
    assert np.array_equal(got.image, expected.image)
    assert np.unique(got.image).size > 100  # 16-bit data through the file's VOI window


def test_grey_data_over_8_bits_is_shown_through_its_voi_window(tmp_path):
    import pydicom

    path = write_dicom(tmp_path / "w.dcm", grey_frames(1))
    ds = pydicom.dcmread(path)
    values = np.array([[0, 1000, 1500, 2000, 3000]], dtype=np.uint16)
    ds.Rows, ds.Columns = values.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.WindowCenter, ds.WindowWidth = 1500, 1001  # 1000..2000 -> 0..255
    ds.PixelData = values.tobytes()
    ds.save_as(path)
    (f,) = read_all(DicomSource(path, paced=False))
    assert f.image.tolist() == [[0, 0, 128, 255, 255]]


def test_jpeg_baseline_grey_cine_decodes_within_lossy_tolerance(tmp_path):
    frames = smooth_frames(3)
    source = DicomSource(write_jpeg_baseline(tmp_path / "jpg.dcm", frames), paced=False)
    assert source.transfer_syntax == "JPEG Baseline (Process 1)"
    got = read_all(source)
    assert len(got) == 3
    assert source.frame_interval_s == pytest.approx(0.04)
    for f, expected in zip(got, frames, strict=True):
        assert f.rgb is None
        assert np.abs(f.image.astype(int) - expected).max() <= 4


def test_jpeg_baseline_colour_ybr_full_422_gives_rgb_and_its_luminance(tmp_path):
    frames = smooth_frames(2, colour=True)
    source = DicomSource(write_jpeg_baseline(tmp_path / "jpgc.dcm", frames), paced=False)
    assert source.photometric == "YBR_FULL_422"
    for f, expected in zip(read_all(source), frames, strict=True):
        assert np.abs(f.rgb.astype(int) - expected).mean() <= 3
        assert np.abs(f.image.astype(int) - luma(expected)).max() <= 4


# --- DICOM: photometric interpretations ------------------------------------------------------


def test_native_rgb_is_kept_and_grey_is_its_luminance(tmp_path):
    frames = colour_frames(2)
    path = write_dicom(tmp_path / "rgb.dcm", frames, photometric="RGB")
    for f, expected in zip(read_all(DicomSource(path, paced=False)), frames, strict=True):
        assert np.array_equal(f.rgb, expected)
        expected_y = 0.299 * expected[..., 0] + 0.587 * expected[..., 1] + 0.114 * expected[..., 2]
        assert np.abs(f.image - expected_y).max() <= 0.5 + 1e-3


def test_ybr_full_is_converted_to_rgb_and_grey_matches_the_stored_luma(tmp_path):
    frames = colour_frames(2)
    source = DicomSource(write_ybr_full(tmp_path / "ybr.dcm", frames), paced=False)
    assert source.photometric == "YBR_FULL"
    for f, expected in zip(read_all(source), frames, strict=True):
        assert np.abs(f.rgb.astype(int) - expected).max() <= 2  # YBR rounding
        assert np.abs(f.image.astype(int) - luma(expected)).max() <= 1


def test_native_ybr_full_422_cine_is_upsampled_to_rgb(tmp_path):
    frames = smooth_frames(3, colour=True)  # smooth: chroma shared by a pixel pair loses little
    path = write_ybr_full(tmp_path / "y422.dcm", frames, subsample_422=True)
    got = read_all(DicomSource(path, paced=False))
    assert len(got) == 3
    for f, expected in zip(got, frames, strict=True):
        assert f.rgb.shape == expected.shape
        assert np.abs(f.rgb.astype(int) - expected).mean() <= 2
        assert np.abs(f.image.astype(int) - luma(expected)).max() <= 3


def test_palette_colour_goes_through_the_files_lookup_table(tmp_path):
    ramp = np.arange(256)
    lut = np.stack([ramp * 257, (255 - ramp) * 257, np.full(256, 200 * 257)], axis=1)
    indices = grey_frames(1)
    path = write_palette(tmp_path / "pal.dcm", indices, lut.astype(np.uint16))
    (f,) = read_all(DicomSource(path, paced=False))
    expected_rgb = (lut[indices[0]] >> 8).astype(np.uint8)
    assert np.array_equal(f.rgb, expected_rgb)
    assert np.array_equal(f.image, luma(expected_rgb))


def test_pydicom_example_ultrasound_cine_reads_with_spacing_and_rate():
    # Public de-identified sample shipped inside pydicom (pydicom.examples "ybr_color":
    # a 30-frame ultrasound cine, JPEG Baseline, YBR_FULL_422, with ultrasound regions).
    from pydicom import examples

    source = DicomSource(examples.get_path("ybr_color"), paced=False)
    got = read_all(source)
    assert len(got) == 30
    assert got[0].rgb is not None
    assert got[0].image.shape == (240, 320)
    assert source.spacing is not None
    assert source.spacing.dx_cm > 0
    assert source.frame_interval_s is not None


# --- DICOM: damaged and non-image files -------------------------------------------------------


def test_dicom_without_pixel_data_is_refused_as_not_an_image(tmp_path):
    path = write_non_image(tmp_path / "report.dcm")
    with pytest.raises(FrameSourceError, match=r"report\.dcm: no Pixel Data \(7FE0,0010\)"):
        DicomSource(path)


def test_truncated_native_cine_is_refused_saying_how_many_frames_are_complete(tmp_path):
    path = write_dicom(tmp_path / "cut.dcm", grey_frames(5, 48, 64), frame_time_ms=50)
    truncate(path, 0.7)
    with pytest.raises(FrameSourceError) as err:
        DicomSource(path)
    message = str(err.value)
    assert "cut.dcm: truncated" in message
    assert "(7FE0,0010)" in message
    assert "3 complete frame(s)" in message  # header ~0.6 KB + 3 x 3 KB of 16 KB kept


def test_truncated_compressed_cine_is_refused_naming_the_file(tmp_path):
    path = write_dicom(tmp_path / "cutrle.dcm", grey_frames(4), compress_to=RLELossless)
    truncate(path, 0.8)
    with pytest.raises(FrameSourceError, match=r"cutrle\.dcm: truncated"):
        DicomSource(path)


def test_file_cut_inside_its_header_is_refused_naming_the_file(tmp_path):
    path = write_dicom(tmp_path / "head.dcm", grey_frames(2))
    truncate(path, 0.02)  # a few hundred bytes: meta information, then nothing usable
    with pytest.raises(FrameSourceError, match=r"head\.dcm: "):
        DicomSource(path)


def test_a_file_that_is_not_dicom_is_refused(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("not a DICOM file at all\n" * 20)
    with pytest.raises(FrameSourceError, match=r"notes\.dcm: not a DICOM"):
        DicomSource(path)


def test_a_corrupt_compressed_frame_ends_the_stream_naming_the_frame(tmp_path):
    frames = grey_frames(3)
    path = write_dicom(tmp_path / "bad.dcm", frames, compress_to=RLELossless)
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(path)
    parts = list(generate_frames(ds.PixelData, number_of_frames=3))
    parts[2] = b"\x00" * len(parts[2])  # frame 2: an RLE header claiming no segments
    ds.PixelData = encapsulate(parts)
    ds.save_as(path)
    source = DicomSource(path, paced=False)
    stream = source.frames()
    got = [next(stream), next(stream)]
    with pytest.raises(FrameSourceError, match=r"bad\.dcm: frame 2 .*does not decode"):
        next(stream)
    assert [f.index for f in got] == [0, 1]
    assert np.array_equal(got[1].image, frames[1])


def test_a_folder_of_dicom_files_plays_them_in_name_order_and_skips_a_broken_one(tmp_path):
    frames = grey_frames(3)
    folder = tmp_path / "series"
    folder.mkdir()
    write_dicom(folder / "img10.dcm", frames[2:3])
    write_dicom(folder / "img2.dcm", frames[1:2])
    write_dicom(folder / "img1.dcm", frames[0:1])
    write_non_image(folder / "img3.dcm")
    source = open_source(str(folder), paced=False)
    assert isinstance(source, DicomFolderSource)
    got = read_all(source)
    assert [f.source for f in got] == ["img1.dcm", "img2.dcm", "img10.dcm"]
    assert all(np.array_equal(f.image, e) for f, e in zip(got, frames, strict=True))
    assert len(source.skipped) == 1
    assert "img3.dcm" in source.skipped[0]


# --- Video files through OpenCV ----------------------------------------------------------------


def test_video_file_reads_back_every_frame_at_its_size_and_rate(tmp_path):
    frames = smooth_frames(12, 48, 64, colour=True)
    path = write_video(tmp_path / "clip.avi", frames, fps=25.0)
    source = VideoSource(path, paced=False)
    assert source.fps == pytest.approx(25.0)
    assert source.frame_interval_s == pytest.approx(0.04)
    assert source.frame_count == 12
    assert (source.width, source.height) == (64, 48)
    got = read_all(source)
    assert [f.index for f in got] == list(range(12))
    for f, expected in zip(got, frames, strict=True):
        assert f.image.shape == (48, 64)
        assert f.rgb.shape == (48, 64, 3)
        assert np.abs(f.rgb.astype(int) - expected).mean() <= 6  # MJPG is lossy
        assert np.abs(f.image.astype(int) - luma(expected)).mean() <= 4


def test_paced_video_file_takes_its_own_time(tmp_path):
    path = write_video(tmp_path / "clip.avi", smooth_frames(5, colour=True), fps=20.0)
    start = time.monotonic()
    assert len(read_all(VideoSource(path))) == 5
    assert time.monotonic() - start >= 4 * 0.05 - 0.005


def test_a_file_opencv_cannot_decode_is_refused_naming_it(tmp_path):
    path = tmp_path / "broken.avi"
    path.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 10)
    with pytest.raises(FrameSourceError, match=r"broken\.avi: OpenCV cannot decode"):
        VideoSource(path)


# --- Image folders ---------------------------------------------------------------------------


def test_image_folder_plays_in_natural_name_order_ignoring_non_images(tmp_path):
    frames = grey_frames(3)
    folder = write_png_folder(tmp_path / "pngs", frames, ["f1.png", "f2.png", "f10.png"])
    (folder / "README.txt").write_text("exported by hand")
    source = open_source(str(folder), paced=False)
    assert isinstance(source, ImageFolderSource)
    got = read_all(source)
    assert [f.source for f in got] == ["f1.png", "f2.png", "f10.png"]
    assert all(
        np.array_equal(f.image, e) and f.rgb is None for f, e in zip(got, frames, strict=True)
    )
    assert source.ignored == ["README.txt"]
    assert source.frame_interval_s is None


def test_colour_images_keep_rgb_and_a_damaged_image_is_skipped_leaving_a_gap(tmp_path):
    frames = colour_frames(2)
    folder = write_png_folder(tmp_path / "pngs", frames, ["a.png", "c.png"])
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    source = ImageFolderSource(folder, paced=False)
    got = read_all(source)
    assert [(f.source, f.index) for f in got] == [("a.png", 0), ("c.png", 2)]
    assert np.array_equal(got[1].rgb, frames[1])
    assert len(source.skipped) == 1
    assert source.skipped[0].startswith("b.png")


def test_image_folder_with_fps_is_paced(tmp_path):
    folder = write_png_folder(tmp_path / "p", grey_frames(3), ["0.png", "1.png", "2.png"])
    start = time.monotonic()
    assert len(read_all(open_source(str(folder), fps=20.0))) == 3
    assert time.monotonic() - start >= 2 * 0.05 - 0.005


def test_a_folder_without_images_or_dicom_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FrameSourceError, match="no image files"):
        open_source(str(tmp_path))


# --- Phantom stream --------------------------------------------------------------------------


def test_phantom_frames_carry_truth_masks_matching_the_shared_synthesizer():
    source = PhantomSource(7, size=64, n_frames=3, paced=False)
    got = read_all(source)
    stream = PhantomStream(7, size=64)
    assert [f.index for f in got] == [0, 1, 2]
    for f in got:
        ph = stream.frame(f.index)
        assert f.image.dtype == np.uint8
        assert f.image.shape == (64, 64)
        assert np.array_equal(f.image, np.rint(ph.image * 255).astype(np.uint8))
        assert f.truth.dtype == bool
        assert np.array_equal(f.truth, ph.mask.astype(bool))
    assert any(f.truth.any() for f in got)  # the cine always has a target


def test_phantom_stream_is_deterministic_per_seed_and_differs_across_seeds():
    a = read_all(PhantomSource(3, size=64, n_frames=2, paced=False))
    b = read_all(PhantomSource(3, size=64, n_frames=2, paced=False))
    c = read_all(PhantomSource(4, size=64, n_frames=2, paced=False))
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].image, c[0].image)


# --- open_source dispatch and errors ---------------------------------------------------------


def test_open_source_picks_the_reader_for_each_kind(tmp_path):
    dcm = write_dicom(tmp_path / "a.dcm", grey_frames(1))
    no_suffix = tmp_path / "IM0001"
    no_suffix.write_bytes(dcm.read_bytes())  # DICOM recognised by its preamble
    video = write_video(tmp_path / "v.avi", smooth_frames(2, colour=True), fps=10)
    folder = write_png_folder(tmp_path / "imgs", grey_frames(1), ["x.png"])
    assert isinstance(open_source(str(dcm)), DicomSource)
    assert isinstance(open_source(str(no_suffix)), DicomSource)
    assert isinstance(open_source(str(video)), VideoSource)
    assert isinstance(open_source(str(folder)), ImageFolderSource)
    phantom = open_source("phantom:5", phantom_size=64, phantom_frames=1)
    assert isinstance(phantom, PhantomSource)
    assert phantom.seed == 5
    assert phantom.paced
    assert open_source("phantom", paced=False).seed == 0


def test_open_source_names_a_missing_or_unknown_source(tmp_path):
    with pytest.raises(FrameSourceError, match="no such file or directory"):
        open_source(str(tmp_path / "absent.mp4"))
    odd = tmp_path / "data.xyz"
    odd.write_bytes(b"\x00" * 300)
    with pytest.raises(FrameSourceError, match=r"data\.xyz: not a source"):
        open_source(str(odd))
    assert issubclass(FrameSourceError, VigilError)


def test_a_capture_device_that_is_absent_gives_a_clear_error():
    # No capture card on the test machines: index 97 exists nowhere.
    with pytest.raises(FrameSourceError, match="capture device 97: cannot be opened"):
        open_source("97")


def test_importing_the_sources_loads_neither_opencv_nor_pydicom():
    code = (
        "import sys, vigil.runtime\n"
        "from vigil.runtime.imaging.sources import dicom, images, pacing, video\n"
        "heavy = sorted(m for m in ('cv2', 'pydicom') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_without_the_imaging_extra_sources_say_what_to_install(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", grey_frames(1))
    code = block_imports("pydicom", "cv2") + (
        "import vigil.runtime, vigil.runtime.imaging.sources as s\n"
        "for spec in (sys.argv[1], '0'):\n"
        "    try:\n"
        "        s.open_source(spec)\n"
        "    except s.FrameSourceError as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all("pip install 'vigil-edge[imaging]'" in line for line in lines)
    assert "pydicom" in lines[0]
    assert "cv2" in lines[1]


# --- Pacing ----------------------------------------------------------------------------------


class FakeClock:
    """A clock the test advances; sleeping advances it too (so sleeps are exact)."""

    def __init__(self) -> None:
        self.now = 1_000_000_000
        self.sleeps: list[float] = []

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += round(seconds * 1e9)


def test_pacer_schedules_frame_k_at_start_plus_k_intervals_without_drift():
    clock = FakeClock()
    pacer = Pacer(0.05, clock=clock, sleep=clock.sleep)
    for k in range(4):
        pacer.wait(k)
        assert clock.now == 1_000_000_000 + k * 50_000_000
        clock.now += 7_000_000  # each frame's read/decode takes 7 ms: absorbed, not added
    assert clock.sleeps == pytest.approx([0.043, 0.043, 0.043])


def test_pacer_does_not_sleep_for_a_late_frame_and_keeps_the_schedule():
    clock = FakeClock()
    pacer = Pacer(0.05, clock=clock, sleep=clock.sleep)
    pacer.wait(0)
    clock.now += 120_000_000  # a 120 ms stall: frames 1 and 2 are late
    pacer.wait(1)
    pacer.wait(2)
    assert clock.sleeps == []
    pacer.wait(3)  # due at 150 ms, it is 120 ms now
    assert clock.sleeps == pytest.approx([0.03])
    assert pacer.due_ns(4) == 1_000_000_000 + 200_000_000


def test_an_unpaced_pacer_never_sleeps():
    clock = FakeClock()
    for pacer in (
        Pacer(0.05, enabled=False, clock=clock, sleep=clock.sleep),
        Pacer(None, clock=clock, sleep=clock.sleep),
    ):
        for k in range(3):
            pacer.wait(k)
    assert clock.sleeps == []
