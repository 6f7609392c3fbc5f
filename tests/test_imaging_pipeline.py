"""The real-time ultrasound pipeline: preprocessing from the manifest, the shipped segmenter's
quality on held-out phantoms, latest frame wins, findings and their advisory, overlays, and
`vigil ultrasound` end to end. Every model call goes through the shipped artifact on ONNX
Runtime; the frames are real phantom frames."""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vigil.models.synthetic.ultrasound import EVAL_RANGES, PhantomStream, phantom_batch
from vigil.models.us_segmenter.dataset import EVAL_SEED_OFFSET
from vigil.runtime.analysis.condition import CONDITION_KINDS, Priority
from vigil.runtime.imaging.findings import AnechoicRule, FindingTracker, Persistence
from vigil.runtime.imaging.frame import Frame, Spacing
from vigil.runtime.imaging.latest_frame import LatestFrameMailbox
from vigil.runtime.imaging.pipeline import (
    LATEST_FRAME_WINS,
    Pipeline,
    PipelineSettings,
    condition_json,
    reads_on_the_loop_thread,
)
from vigil.runtime.imaging.preprocess import ModelGeometry, _resize_numpy, prepare, to_mask
from vigil.runtime.imaging.segmenter import Segmenter
from vigil.runtime.imaging.sources.phantom import PhantomSource

cv2 = pytest.importorskip("cv2")

DICE_FLOOR = 0.9  # the card reports 0.958 on 48 held-out phantoms (global Dice)


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter.open(backends=("onnxruntime-cpu",), intra_op_threads=1)


def _grey(image: np.ndarray) -> np.ndarray:
    """A phantom's [0, 1] float image as the 8-bit display values a source delivers."""
    return np.rint(image * 255.0).astype(np.uint8)


def _dice(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = int((pred & truth).sum())
    return 2 * tp / max(2 * tp + int((pred & ~truth).sum()) + int((~pred & truth).sum()), 1)


class CyclingPhantomSource:
    """A fast source: `n` frames cycling over a few pre-rendered phantom cine frames, unpaced.
    Counts the frames its reader has taken and handed on (`yielded` grows when the reader asks
    for the next one), so a test backend can wait for the source to move on."""

    def __init__(
        self, n: int, name: str = "fast", seed: int = 5, distinct: int = 4, gate: int | None = None
    ) -> None:
        self.name = name
        self.allowed = gate  # with a gate: frames it may hand on before inference lets it on
        self.frame_interval_s = 0.05
        self.n = n
        stream = PhantomStream(seed)
        self._pics = [stream.frame(k) for k in range(distinct)]
        self.yielded = 0
        self.done = False
        self.cv = threading.Condition()

    def frames(self) -> Iterator[Frame]:
        for k in range(self.n):
            if self.allowed is not None:
                with self.cv:
                    self.cv.wait_for(lambda k=k: k < self.allowed, timeout=30)
            ph = self._pics[k % len(self._pics)]
            yield Frame(self.name, k, time.monotonic_ns(), _grey(ph.image), truth=ph.mask > 0)
            with self.cv:  # the reader is back for more: frame k is in the mailbox
                self.yielded += 1
                self.cv.notify_all()
        with self.cv:
            self.done = True
            self.cv.notify_all()

    def close(self) -> None:
        pass


class FrameStepBackend:
    """The real ONNX Runtime session made slow in source frames, not seconds: each call
    returns only after every source has handed on `frames_per_call` more frames (or ended),
    so frames arrive faster than inference on any machine, however loaded. Gated sources are
    let on by `frames_per_call` frames a call, so none can finish before the others start."""

    def __init__(
        self,
        inner,
        sources: list[CyclingPhantomSource],
        frames_per_call: int = 5,
        timeout_s: float = 30.0,
    ):
        self.inner = inner
        self.sources = sources
        self.frames_per_call = frames_per_call
        self.timeout_s = timeout_s  # a source that never moves on fails the test, not hangs it
        self.name = f"{inner.name} (slowed)"

    def infer(self, inputs):
        targets = [s.yielded + self.frames_per_call for s in self.sources]
        out = self.inner.infer(inputs)
        for s, ungated in zip(self.sources, targets, strict=True):
            with s.cv:
                target = ungated
                if s.allowed is not None:
                    s.allowed += self.frames_per_call
                    target = s.allowed
                    s.cv.notify_all()
                s.cv.wait_for(lambda s=s, t=target: s.yielded >= t or s.done, self.timeout_s)
        return out

    def deactivate(self) -> None:
        pass


# -- preprocessing ------------------------------------------------------------------------------


def test_geometry_is_read_from_the_shipped_manifest(segmenter: Segmenter) -> None:
    g = segmenter.geometry
    assert (g.input_name, g.output_name, g.height, g.width, g.layout) == (
        "image",
        "logits",
        256,
        256,
        "NCHW",
    )
    assert (g.scale, g.offset, g.threshold, g.dynamic_batch) == (1.0, 0.0, 0.5, True)


def test_a_phantom_frame_reaches_the_model_unscaled_and_within_a_row_of_its_place(
    segmenter: Segmenter,
) -> None:
    """The sector crop is letterboxed bottom-centre: a 256-pixel phantom keeps its scale and
    its depth (the fan's last row may lie one row above the frame's bottom)."""
    image = _grey(PhantomStream(2).frame(0).image)
    prepared = prepare(image, segmenter.geometry)
    assert prepared.tensor.shape == (1, 256, 256)
    assert prepared.tensor.dtype == np.float32
    expected = image / np.float32(255.0)
    shift = 256 - prepared.crop[3]  # rows the bottom-anchored crop moved down
    assert shift <= 1
    np.testing.assert_allclose(prepared.tensor[0, shift:], expected[: 256 - shift], atol=1e-6)


def test_mask_comes_back_at_the_source_geometry_inside_the_configured_region(
    segmenter: Segmenter,
) -> None:
    ph = PhantomStream(4).frame(0)
    canvas = np.zeros((300, 420), dtype=np.uint8)
    canvas[20:276, 100:356] = _grey(ph.image)
    canvas[2:10, 2:200] = 255  # the scanner's UI text band, outside the region
    region = (100, 20, 356, 276)
    frame = Frame("cart", 0, 0, canvas)
    (mask,) = Segmenter(segmenter.backend, segmenter.geometry, region=region).segment([frame])
    assert mask.shape == canvas.shape
    assert mask.dtype == bool
    assert not mask[:20].any()
    assert not mask[:, :100].any()
    assert not mask[:, 356:].any()
    assert _dice(mask[20:276, 100:356], ph.mask > 0) >= DICE_FLOOR


def test_numpy_resize_fallback_agrees_with_opencv() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((90, 130)).astype(np.float32)
    for h, w in ((256, 256), (180, 260)):  # upscaling, where OpenCV is bilinear too
        ours = _resize_numpy(a, h, w)
        theirs = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_logits_threshold_is_the_manifest_probability(segmenter: Segmenter) -> None:
    g = segmenter.geometry
    prepared = prepare(np.full((256, 256), 100, np.uint8), g)
    logits = np.full((1, 256, 256), -0.01, np.float32)
    logits[0, :10] = 0.01  # sigmoid just above 0.5 in the first rows
    mask = to_mask(logits, prepared, g)
    assert mask[:10].all()
    assert not mask[10:].any()


def test_a_manifest_with_a_colour_input_is_refused_with_its_name() -> None:
    from vigil.artifacts import TensorInfo
    from vigil.runtime.imaging.preprocess import PreprocessError

    class M:
        inputs = (TensorInfo("rgb", ("batch", 3, 256, 256), layout="NCHW"),)
        outputs = (TensorInfo("logits", ("batch", 1, 256, 256)),)
        meta = None

    with pytest.raises(PreprocessError, match=r"rgb.*one channel"):
        ModelGeometry.from_manifest(M(), "somewhere/manifest.json")


# -- segmentation quality -------------------------------------------------------------------------


def test_shipped_segmenter_meets_the_dice_floor_on_held_out_phantoms(
    segmenter: Segmenter,
) -> None:
    """16 held-out phantoms (EVAL_RANGES, seeds offset as the model card says) as 8-bit frames
    through the whole path: sector crop, letterbox, ONNX Runtime, back to the frame."""
    images, masks = phantom_batch(EVAL_SEED_OFFSET, 16, 256, EVAL_RANGES)
    frames = [Frame("eval", i, 0, _grey(im)) for i, im in enumerate(images)]
    pred = segmenter.segment(frames)
    tp = sum(int((p & (m > 0)).sum()) for p, m in zip(pred, masks, strict=True))
    fp = sum(int((p & (m == 0)).sum()) for p, m in zip(pred, masks, strict=True))
    fn = sum(int((~p & (m > 0)).sum()) for p, m in zip(pred, masks, strict=True))
    dice = 2 * tp / (2 * tp + fp + fn)
    print(f"\nus_segmenter Dice on 16 held-out phantoms through the pipeline: {dice:.4f}")
    assert dice >= DICE_FLOOR


def test_batching_frames_of_several_sources_gives_the_same_masks_as_one_at_a_time(
    segmenter: Segmenter,
) -> None:
    a = _grey(PhantomStream(1).frame(0).image)
    b = np.zeros((240, 320), np.uint8)
    b[:, 32:288] = _grey(PhantomStream(2).frame(0).image)[16:]
    frames = [Frame("a", 0, 0, a), Frame("b", 0, 0, b)]
    calls = segmenter.calls
    batched = segmenter.segment(frames)
    assert segmenter.calls == calls + 1  # one inference for both sources
    single = [segmenter.segment([f])[0] for f in frames]
    for x, y in zip(batched, single, strict=True):
        assert x.shape == y.shape
        assert (x == y).mean() > 0.999


# -- latest frame wins --------------------------------------------------------------------------


def _frame(i: int, name: str = "s") -> Frame:
    return Frame(name, i, 0, np.zeros((4, 4), np.uint8))


def test_mailbox_hands_over_the_newest_frame_and_counts_the_ones_it_replaced() -> None:
    box = LatestFrameMailbox(["s"])
    for i in range(3):
        box.offer("s", _frame(i))
    (taken,) = box.take_batch(timeout_s=0)
    assert taken.frame.index == 2
    assert taken.skipped_before == 2
    assert taken.read_when_taken == 3
    box.offer("s", _frame(3))
    box.close()  # frame 3 was never taken: skipped
    box.offer("s", _frame(4))  # read after the stop: skipped too
    c = box.counts()["s"]
    assert (c.read, c.taken, c.skipped) == (5, 1, 4)
    assert box.take_batch(timeout_s=0) == []
    assert box.exhausted


def test_every_frame_mode_makes_a_fast_reader_wait_instead_of_skipping() -> None:
    """`--as-fast-as-possible` over a file: nothing skipped, frames in order, and the reader
    blocks while its slot is full (it does not spin through the file)."""
    box = LatestFrameMailbox(["s"], every_frame=True)
    offered: list[int] = []

    def reader() -> None:
        for i in range(20):
            box.offer("s", _frame(i))
            offered.append(i)
        box.finish("s")

    thread = threading.Thread(target=reader)
    thread.start()
    taken = []
    while batch := box.take_batch(timeout_s=5):
        assert len(offered) <= batch[0].frame.index + 2  # the reader waited for the slot
        taken.append(batch[0].frame.index)
    thread.join(5)
    assert taken == list(range(20))
    c = box.counts()["s"]
    assert (c.read, c.taken, c.skipped) == (20, 20, 0)


def test_fast_source_and_slow_model_process_the_newest_frame_and_count_skips(
    segmenter: Segmenter,
) -> None:
    source = CyclingPhantomSource(200)
    slow = Segmenter(FrameStepBackend(segmenter.backend, [source]), segmenter.geometry)
    results = []
    summary = Pipeline([source], slow, PipelineSettings(), on_result=results.append).run()

    assert summary.frames_read == 200
    assert summary.frames_processed + summary.frames_skipped == summary.frames_read
    assert summary.frames_processed == len(results)
    assert summary.frames_skipped >= 100  # every call spans at least 5 new frames
    indices = [r.index for r in results]
    assert indices == sorted(set(indices))  # order never goes backwards
    for r in results:
        assert r.index == r.read_when_taken - 1  # the newest frame read at that moment
    gaps = [b - a - 1 for a, b in zip([-1, *indices], indices, strict=False)]
    assert [r.skipped_before for r in results] == gaps  # the skipped ones are the gaps
    assert indices[-1] == 199  # the last frame read is the last processed
    assert all(r.latency_ms > 0 for r in results)
    assert summary.latency_p50_ms <= summary.latency_p99_ms


def test_a_capture_device_keeps_latest_frame_wins_in_a_throughput_run(
    segmenter: Segmenter,
) -> None:
    """`--as-fast-as-possible` waits for inference only on files: a card delivers at its own
    rate, so a reader that waited would hand over ever older frames."""
    card = CyclingPhantomSource(40, "video0")
    card.is_device = True
    slow = Segmenter(FrameStepBackend(segmenter.backend, [card], timeout_s=2.0), segmenter.geometry)
    results = []
    settings = PipelineSettings(every_frame=True)
    pipeline = Pipeline([card], slow, settings, on_result=results.append)
    summary = pipeline.run()

    assert not pipeline.pulls
    assert pipeline.waiting == ()
    assert summary.reading == LATEST_FRAME_WINS
    assert summary.frames_read == 40
    assert summary.frames_skipped >= 20  # every call spans at least 5 new frames
    assert all(r.index == r.read_when_taken - 1 for r in results)  # always the newest


def test_a_mailbox_waits_only_for_the_sources_named_to_wait() -> None:
    box = LatestFrameMailbox(["file", "card"], every_frame=["file"])
    box.offer("card", _frame(0))
    box.offer("card", _frame(1))  # replaces frame 0 at once: no wait
    assert [t.frame.index for t in box.take_batch(timeout_s=0)] == [1]
    assert box.counts()["card"].skipped == 1
    with pytest.raises(ValueError, match="no source"):
        LatestFrameMailbox(["file"], every_frame=["card"])


def test_two_sources_share_the_model_in_batches_and_each_keeps_its_own_counts(
    segmenter: Segmenter,
) -> None:
    a = CyclingPhantomSource(30, "a", seed=1, gate=3)
    b = CyclingPhantomSource(30, "b", seed=2, gate=3)
    slow = Segmenter(FrameStepBackend(segmenter.backend, [a, b], 3), segmenter.geometry)
    results = []
    summary = Pipeline([a, b], slow, on_result=results.append).run()
    by = {s.name: s for s in summary.sources}
    assert set(by) == {"a", "b"}
    for s in by.values():
        assert s.read == 30
        assert s.processed + s.skipped == 30
        assert s.error is None
    for name in ("a", "b"):
        idx = [r.index for r in results if r.source == name]
        assert idx == sorted(set(idx))
        assert idx[-1] == 29
    assert any(r.batch == 2 for r in results)  # both slots were full: one call for both
    assert summary.inference_calls < summary.frames_processed


# -- findings -------------------------------------------------------------------------------


def _disk(cx: float, cy: float, r: float, shape=(200, 200)) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def _tracker(stable: int = 4, lost: int = 2, **rule) -> FindingTracker:
    return FindingTracker(
        "probe",
        persistence=Persistence(stable_frames=stable, lost_frames=lost),
        rule=AnechoicRule(**rule),
    )


def _feed(tracker: FindingTracker, masks, spacing=None, start: int = 0):
    image = np.full((200, 200), 90, np.uint8)
    out = []
    for k, m in enumerate(masks, start=start):
        img = image.copy()
        img[m] = 3
        out.append(tracker.update(k, k * 0.05, m, img, spacing))
    return out


def test_a_blob_in_one_frame_of_n_is_not_a_finding() -> None:
    tracker = _tracker(stable=4, min_area_px=50)
    empty = np.zeros((200, 200), bool)
    blob = _disk(100, 100, 15)
    steps = _feed(tracker, [empty, blob, empty, empty, blob, empty, empty, empty])
    assert all(s.findings == () and s.conditions == () for s in steps)
    assert steps[1].regions
    assert tracker.findings_seen == 0


def test_a_blob_in_n_consecutive_frames_becomes_a_finding_and_its_end_ends_the_condition() -> None:
    tracker = _tracker(stable=4, lost=2, min_area_px=50)
    empty = np.zeros((200, 200), bool)
    # drifting, as a breathing patient moves it; one frame missed by the model mid-way
    blobs = [_disk(100 + k, 100, 15) for k in range(6)]
    masks = [*blobs[:3], blobs[3], empty, *blobs[4:], empty, empty, empty]
    steps = _feed(tracker, masks)
    assert [len(s.findings) for s in steps[:3]] == [0, 0, 0]
    assert len(steps[3].findings) == 1  # 4th consecutive frame: stable
    starts = [c for s in steps for c in s.conditions if c.active]
    ends = [c for s in steps for c in s.conditions if not c.active]
    assert len(starts) == 1
    assert len(ends) == 1
    assert starts[0] in steps[3].conditions
    assert ends[0] in steps[8].conditions  # second consecutive frame without it
    assert ends[0].evidence["ended_by"] == "region gone"
    assert ends[0].end_s == pytest.approx(8 * 0.05)
    assert ends[0].onset_s == pytest.approx(0.15)


def test_the_rule_reports_area_in_cm2_when_the_source_gives_spacing() -> None:
    spacing = Spacing(0.05, 0.05)  # 0.0025 cm² a pixel
    tracker = _tracker(stable=3, lost=1, min_area_cm2=1.0)
    blob = _disk(100, 100, 15)  # ~709 px = ~1.77 cm²
    steps = _feed(tracker, [blob] * 3 + [np.zeros((200, 200), bool)], spacing)
    conditions = [c for s in steps for c in s.conditions]
    assert [c.active for c in conditions] == [True, False]
    start = conditions[0]
    assert start.kind == "us_anechoic_region"
    assert start.priority == Priority.LOW
    assert CONDITION_KINDS["us_anechoic_region"].priority == Priority.LOW
    ev = start.evidence
    assert ev["area_unit"] == "cm2"
    assert ev["spacing"] == "from the source"
    assert ev["area"] == pytest.approx(int(blob.sum()) * 0.0025, rel=1e-3)
    assert start.value == pytest.approx(ev["area"])
    assert ev["frames_stable"] == 3
    assert ev["rule"] == {
        "min_area": 1.0,
        "unit": "cm2",
        "roi_px": None,
    }
    assert ev["centroid_px"] == [pytest.approx(100, abs=0.5), pytest.approx(100, abs=0.5)]
    assert ev["mean_intensity"] == pytest.approx(3.0)


def test_the_rule_reports_pixels_and_says_so_without_spacing() -> None:
    tracker = _tracker(stable=3, lost=1, min_area_px=500)
    blob = _disk(100, 100, 15)
    steps = _feed(tracker, [blob] * 3 + [np.zeros((200, 200), bool)])
    conditions = [c for s in steps for c in s.conditions]
    assert [c.active for c in conditions] == [True, False]
    ev = conditions[0].evidence
    assert ev["area_unit"] == "px"
    assert ev["area"] == int(blob.sum())
    assert ev["spacing"] == "none: areas in pixels"
    assert conditions[1].evidence["last_area_unit"] == "px"


def test_a_stable_region_below_the_area_or_outside_the_roi_is_a_finding_but_no_advisory() -> None:
    small = _disk(100, 100, 8)  # ~200 px
    t1 = _tracker(stable=3, min_area_px=500)
    s1 = _feed(t1, [small] * 5)
    assert len(s1[-1].findings) == 1
    assert not any(s.conditions for s in s1)
    big = _disk(150, 150, 20)
    t2 = _tracker(stable=3, min_area_px=500, roi=(0, 0, 100, 100))
    s2 = _feed(t2, [big] * 5)
    assert len(s2[-1].findings) == 1
    assert not any(s.conditions for s in s2)


def test_two_regions_are_tracked_separately_by_centroid_matching() -> None:
    tracker = FindingTracker(
        "probe",
        persistence=Persistence(stable_frames=2, lost_frames=1, match="centroid"),
        rule=AnechoicRule(min_area_px=100),
    )
    masks = [_disk(50 + k, 50, 10) | _disk(150, 150 - k, 12) for k in range(3)]
    steps = _feed(tracker, masks)
    assert len({f.track for f in steps[-1].findings}) == 2
    assert len([c for s in steps for c in s.conditions if c.active]) == 2


# -- overlay ---------------------------------------------------------------------------------


def _overlay_frames(segmenter: Segmenter, n: int = 6):
    stream = PhantomStream(3)
    frames = [Frame("phantom:3", k, 0, _grey(stream.frame(k).image)) for k in range(n)]
    return frames, segmenter.segment(frames)


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_overlay_video_is_readable_with_one_frame_per_processed_frame(
    segmenter: Segmenter, tmp_path: Path, suffix: str
) -> None:
    from vigil.runtime.imaging.overlay import draw, open_overlay

    frames, masks = _overlay_frames(segmenter)
    writer = open_overlay(tmp_path / f"out{suffix}", fps=20)
    for f, m in zip(frames, masks, strict=True):
        writer.write(draw(f, m), f.source, f.index)
    writer.close()
    cap = cv2.VideoCapture(str(tmp_path / f"out{suffix}"))
    count = 0
    while True:
        ok, picture = cap.read()
        if not ok:
            break
        assert picture.shape == (256, 256, 3)
        count += 1
    cap.release()
    assert count == len(frames)


def test_overlay_png_frames_show_the_mask_tinted(segmenter: Segmenter, tmp_path: Path) -> None:
    from vigil.runtime.imaging.overlay import draw, open_overlay

    frames, masks = _overlay_frames(segmenter, 3)
    writer = open_overlay(tmp_path / "pngs", fps=20)
    for f, m in zip(frames, masks, strict=True):
        writer.write(draw(f, m), f.source, f.index)
    writer.close()
    files = sorted((tmp_path / "pngs").glob("*.png"))
    assert [p.name for p in files] == [f"phantom_3_{k:06d}.png" for k in range(3)]
    picture = cv2.imread(str(files[0]))
    assert picture.shape == (256, 256, 3)
    inside = picture[masks[0]]
    assert (inside[:, 0].astype(int) - inside[:, 2].astype(int)).mean() > 20  # cyan tint (BGR)


# -- end to end -----------------------------------------------------------------------------


def test_pipeline_on_the_phantom_source_finds_its_anechoic_regions(segmenter: Segmenter) -> None:
    from vigil.runtime.imaging.sources import open_source

    source = open_source("phantom:3", paced=False, phantom_frames=12)
    results, conditions = [], []
    truths = {}

    class KeepTruth:
        def write(self, frame, mask, result):
            truths[frame.index] = _dice(mask, frame.truth)

        def close(self):
            pass

    settings = PipelineSettings(
        persistence=Persistence(stable_frames=3), rule=AnechoicRule(min_area_px=150)
    )
    summary = Pipeline(
        [source],
        segmenter,
        settings,
        outputs=[KeepTruth()],
        on_result=results.append,
        on_condition=conditions.append,
    ).run()
    assert summary.frames_read == 12
    assert summary.frames_processed + summary.frames_skipped == 12
    assert summary.backend == "onnxruntime-cpu"
    assert summary.findings >= 1
    assert np.mean(list(truths.values())) >= 0.8
    starts = [c for c in conditions if c.active]
    ends = [c for c in conditions if not c.active]
    assert starts
    assert len(ends) == len(starts)
    assert {c.key for c in starts} == {c.key for c in ends}
    assert all(c.evidence["area_unit"] == "px" for c in starts)  # the phantom has no spacing


def test_vigil_ultrasound_end_to_end_writes_json_lines_overlay_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vigil.runtime.imaging.cli import register

    parser = argparse.ArgumentParser(prog="vigil")
    register(parser.add_subparsers())
    out_json, out_video = tmp_path / "frames.jsonl", tmp_path / "overlay.avi"
    args = parser.parse_args(
        [
            "ultrasound",
            "--source",
            "phantom:3",
            "--backend",
            "onnxruntime-cpu",
            "--as-fast-as-possible",
            "--max-frames",
            "10",
            "--stable-frames",
            "3",
            "--min-area-px",
            "150",
            "--json",
            str(out_json),
            "--save-overlay",
            str(out_video),
        ]
    )
    assert args.handler(args) == 0
    printed = capsys.readouterr().out
    assert "frames: read 10, processed" in printed
    assert "backend: onnxruntime-cpu" in printed
    assert "latency capture -> result p50" in printed

    lines = [json.loads(line) for line in out_json.read_text().splitlines()]
    frames = [x for x in lines if x["type"] == "frame"]
    summary = lines[-1]
    assert summary["type"] == "summary"
    assert summary["frames_read"] == 10
    assert summary["frames_processed"] + summary["frames_skipped"] == 10
    assert summary["frames_processed"] == len(frames)
    assert summary["backend"] == "onnxruntime-cpu"
    assert summary["model"].startswith("us_segmenter")
    assert summary["latency_p50_ms"] <= summary["latency_p99_ms"]
    assert summary["fps"] > 0
    assert summary["findings"] >= 1
    assert all(f["latency_ms"] > 0 and "regions" in f for f in frames)
    assert any(f["findings"] for f in frames)
    assert [c["type"] for c in summary["conditions"]] == ["condition"] * len(summary["conditions"])

    cap = cv2.VideoCapture(str(out_video))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == summary["frames_processed"]


# -- failures -------------------------------------------------------------------------------


class BrokenBackend:
    """A backend that loads and then fails every call, as a GPU that fell off the bus does."""

    name = "broken"
    input_names = ("image",)
    output_names = ("logits",)
    active = True

    def activate(self) -> None:
        pass

    def deactivate(self) -> None:
        pass

    def infer(self, inputs):
        raise RuntimeError("device lost")


def test_a_backend_failing_mid_stream_falls_back_and_raises_inference_degraded(
    segmenter: Segmenter,
) -> None:
    from vigil.artifacts import load_artifact
    from vigil.runtime.artifact_loader import choose_variant, shipped_artifact
    from vigil.runtime.backends.fallback import FallbackBackend
    from vigil.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    artifact = load_artifact(shipped_artifact("us_segmenter"))
    path = choose_variant(artifact, "onnxruntime-cpu").path
    backend = FallbackBackend(
        "us_segmenter",
        [
            ("broken", BrokenBackend),
            ("onnxruntime-cpu", lambda: OnnxRuntimeBackend(path, intra_op_threads=1)),
        ],
    )
    backend.activate()
    source = CyclingPhantomSource(6)
    conditions = []
    summary = Pipeline(
        [source], Segmenter(backend, segmenter.geometry), on_condition=conditions.append
    ).run()
    assert summary.frames_processed + summary.frames_skipped == 6
    assert summary.backend == "onnxruntime-cpu"  # the frames were segmented after all
    degraded = [c for c in conditions if c.kind == "inference_degraded"]
    assert len(degraded) == 1
    assert degraded[0].evidence["from"] == "broken"
    assert degraded[0].evidence["to"] == "onnxruntime-cpu"
    assert "device lost" in degraded[0].evidence["reason"]


class TruncatedSource(CyclingPhantomSource):
    """Three good frames, then the file turns out to be truncated."""

    def frames(self) -> Iterator[Frame]:
        for i, frame in enumerate(super().frames()):
            if i == 3:
                raise ValueError(f"{self.name}: truncated after frame 2")
            yield frame


def test_a_failing_source_is_reported_and_the_other_sources_go_on(segmenter: Segmenter) -> None:
    bad, good = TruncatedSource(10, "bad.dcm"), CyclingPhantomSource(10, "good")
    summary = Pipeline([bad, good], segmenter).run()
    by = {s.name: s for s in summary.sources}
    assert by["bad.dcm"].read == 3
    assert by["bad.dcm"].error == "bad.dcm: truncated after frame 2"
    assert by["good"].read == 10
    assert by["good"].error is None
    assert summary.frames_processed + summary.frames_skipped == 13
    assert any("stopped: bad.dcm: truncated" in line for line in summary.lines())


# -- one unpaced source: read on the inference thread ----------------------------------------


class ObservedPhantom(PhantomSource):
    """The real phantom source; notes which thread read each frame and whether it was closed,
    and fails like a truncated file after `fail_after` frames when asked to."""

    def __init__(self, *args, fail_after: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_after = fail_after
        self.read_by: set[str] = set()
        self.closed = 0

    def frames(self) -> Iterator[Frame]:
        for k, frame in enumerate(super().frames()):
            if k == self.fail_after:
                raise ValueError(f"{self.name}: truncated after frame {k - 1}")
            self.read_by.add(threading.current_thread().name)
            yield frame

    def close(self) -> None:
        self.closed += 1


_FINDS = PipelineSettings(
    persistence=Persistence(stable_frames=3), rule=AnechoicRule(min_area_px=150)
)


def _run_both(segmenter: Segmenter, frames: int, **source_kwargs):
    """The same 20 fps phantom through both read paths, every frame processed: unpaced (read
    on the loop thread) and paced (a reader thread and the mailbox); (pipeline, summary,
    results, conditions, source) for each."""
    runs = []
    for paced in (False, True):
        source = ObservedPhantom(3, fps=20.0, paced=paced, **source_kwargs)
        settings = dataclasses.replace(_FINDS, max_frames=frames, every_frame=True)
        results: list = []
        conditions: list = []
        pipeline = Pipeline(
            [source],
            segmenter,
            settings,
            on_result=results.append,
            on_condition=conditions.append,
        )
        runs.append((pipeline, pipeline.run(), results, conditions, source))
    return runs


def _comparable(summary, results, conditions):
    """Everything but wall-clock timings."""
    frames = [{k: v for k, v in r.to_json().items() if k != "latency_ms"} for r in results]
    conds = [{k: v for k, v in condition_json(c).items() if k != "decided_ns"} for c in conditions]
    return (
        summary.frames_read,
        summary.frames_processed,
        summary.frames_skipped,
        summary.inference_calls,
        summary.findings,
        summary.sources,
        frames,
        conds,
    )


def test_only_one_unpaced_source_processing_every_frame_is_read_on_the_loop_thread() -> None:
    unpaced, paced = PhantomSource(1, paced=False), PhantomSource(2, paced=True)
    every = PipelineSettings(every_frame=True)

    class Device:  # a capture card is its own clock, though never slept for
        name, frame_interval_s, paced, is_device = "video0", None, False, True

    assert reads_on_the_loop_thread([unpaced], every)
    assert not reads_on_the_loop_thread([unpaced], PipelineSettings())  # latest frame wins
    assert not reads_on_the_loop_thread([paced], every)
    assert not reads_on_the_loop_thread([unpaced, PhantomSource(3, paced=False)], every)
    assert not reads_on_the_loop_thread([Device()], every)
    assert not reads_on_the_loop_thread([CyclingPhantomSource(3)], every)  # says nothing


def test_an_unpaced_source_is_read_by_the_calling_thread_and_gives_what_a_reader_thread_gives(
    segmenter: Segmenter,
) -> None:
    (pulled, summary, results, conds, source), (threaded, t_summary, t_results, t_conds, t_src) = (
        _run_both(segmenter, 12)
    )
    assert pulled.pulls
    assert not threaded.pulls
    assert source.read_by == {threading.current_thread().name}  # no reader thread
    assert t_src.read_by == {f"read {t_src.name}"}
    assert _comparable(summary, results, conds) == _comparable(t_summary, t_results, t_conds)
    assert (summary.frames_read, summary.frames_processed, summary.frames_skipped) == (12, 12, 0)
    assert [r.index for r in results] == list(range(12))
    assert all(r.skipped_before == 0 and r.latency_ms > 0 for r in results)
    ends = [c for c in conds if not c.active]
    assert ends  # the phantom's regions raised advisories, ended with the stream
    assert {c.evidence["ended_by"] for c in ends} == {"stream ended"}
    assert source.closed == t_src.closed == 1
    assert "none can be skipped" in summary.lines()[0]
    assert "latest frame wins" not in summary.lines()[0]


def test_a_source_failing_mid_stream_is_reported_the_same_when_read_on_the_loop_thread(
    segmenter: Segmenter,
) -> None:
    (_, summary, results, conds, source), (_, t_summary, t_results, t_conds, t_src) = _run_both(
        segmenter, 12, fail_after=4
    )
    assert _comparable(summary, results, conds) == _comparable(t_summary, t_results, t_conds)
    (s,) = summary.sources
    assert (s.read, s.processed, s.skipped) == (4, 4, 0)
    assert s.error == f"{source.name}: truncated after frame 3"
    assert any(f"stopped: {source.name}: truncated" in line for line in summary.lines())
    assert source.closed == t_src.closed == 1


def test_stop_and_ctrl_c_end_a_pulled_stream_between_frames_with_nothing_skipped(
    segmenter: Segmenter,
) -> None:
    stop = threading.Event()

    def stop_at_5(result) -> None:
        if result.index == 4:
            stop.set()

    def interrupt_at_3(result) -> None:
        if result.index == 2:
            raise KeyboardInterrupt

    for on_result, expected in ((stop_at_5, 5), (interrupt_at_3, 3)):
        stop.clear()
        source = ObservedPhantom(3, paced=False)  # endless
        settings = dataclasses.replace(_FINDS, every_frame=True)
        conditions: list = []
        summary = Pipeline(
            [source],
            segmenter,
            settings,
            on_result=on_result,
            on_condition=conditions.append,
            stop=stop,
        ).run()
        assert (summary.frames_read, summary.frames_processed, summary.frames_skipped) == (
            expected,
            expected,
            0,
        )
        assert source.closed == 1
        starts = {c.key for c in conditions if c.active}
        assert starts == {c.key for c in conditions if not c.active}  # every advisory ended
