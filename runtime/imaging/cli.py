"""`vigil ultrasound`: segment an ultrasound stream in real time and summarise what it found.

Only argparse is imported here; the handler imports the pipeline (numpy, scipy, ONNX Runtime,
OpenCV) when it runs, so `vigil --help` stays fast.

Headless by default and only: no live window is opened (the cart's display is the scanner's
own; `--save-overlay` shows what the model saw). A window would need a GUI build of OpenCV,
which the `[imaging]` extra (opencv-python-headless) deliberately is not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_BACKENDS = "tensorrt,onnxruntime-cuda,onnxruntime-cpu"


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        parts = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not x0,y0,x1,y1 in pixels: {text!r}") from exc
    if len(parts) != 4 or parts[2] <= parts[0] or parts[3] <= parts[1] or min(parts) < 0:
        raise argparse.ArgumentTypeError(
            f"not x0,y0,x1,y1 with x1 > x0 >= 0 and y1 > y0 >= 0: {text!r}"
        )
    return parts  # type: ignore[return-value]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ultrasound",
        help="segment an ultrasound stream: findings, overlay, fps and latency",
        description="Read ultrasound frames (capture device, video file, DICOM file or cine, "
        "image folder, or the synthetic phantom), segment anechoic regions with the "
        "us_segmenter model, track them until stable, raise a low-priority advisory when a "
        "stable region exceeds the area rule, and end with a summary: frames read, processed "
        "and skipped (the newest frame always wins), fps, latency p50/p99, backend, findings.",
        epilog="SRC: 0 or /dev/video0 (capture card), a .mp4/.avi file, a DICOM file, an "
        "image folder, or phantom[:SEED]. Headless: no window is opened. "
        "Not a certified medical device: findings are advisory only.",
    )
    p.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="SRC",
        help="the stream (repeatable: several sources share the model, batched)",
    )
    p.add_argument(
        "--model", type=Path, metavar="DIR", help="artifact directory (default: shipped)"
    )
    p.add_argument(
        "--backend",
        default=DEFAULT_BACKENDS,
        metavar="NAME",
        help=f"backend kind, or a comma list in order of preference (default: {DEFAULT_BACKENDS})",
    )
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: all)")
    p.add_argument("--save-overlay", type=Path, metavar="OUT", help="OUT.avi/.mp4, or a folder")
    p.add_argument("--json", type=Path, metavar="OUT", help="per-frame findings, timings (JSONL)")
    p.add_argument(
        "--as-fast-as-possible",
        action="store_true",
        help="do not pace files at their frame rate, and process every frame of a file or "
        "phantom as fast as inference goes (throughput runs: no frame skipped); a capture "
        "device keeps latest frame wins (it delivers at its own rate)",
    )
    p.add_argument("--seconds", type=_positive_float, metavar="S", help="stop after S seconds")
    p.add_argument(
        "--max-frames", type=_positive_int, metavar="N", help="read at most N frames per source"
    )
    p.add_argument(
        "--min-area-cm2",
        type=_positive_float,
        default=2.0,
        metavar="X",
        help="advisory when a stable anechoic region is at least X cm2 (default 2)",
    )
    p.add_argument(
        "--min-area-px",
        type=_positive_int,
        default=400,
        metavar="N",
        help="the same in pixels, for sources without physical spacing (default 400)",
    )
    p.add_argument(
        "--stable-frames",
        type=_positive_int,
        default=5,
        metavar="N",
        help="processed frames a region must persist to count (default 5)",
    )
    p.add_argument(
        "--lost-frames",
        type=_positive_int,
        default=3,
        metavar="N",
        help="processed frames a finding may be missing before it ends (default 3)",
    )
    p.add_argument("--region", type=_box, metavar="X0,Y0,X1,Y1", help="crop (default: sector)")
    p.add_argument("--roi", type=_box, metavar="X0,Y0,X1,Y1", help="the rule's region of interest")
    p.add_argument("--bed", default="imaging", help="bed name in conditions (default: imaging)")
    p.add_argument(
        "--journal",
        type=Path,
        metavar="DB",
        help="journal the advisories through the alarm manager into this SQLite journal "
        "(the one `vigil run` writes and `vigil alarms` reads)",
    )
    p.set_defaults(handler=_ultrasound)


def _ultrasound(args: argparse.Namespace) -> int:
    from vigil.errors import ConfigError
    from vigil.runtime.imaging.findings import AnechoicRule, Persistence
    from vigil.runtime.imaging.pipeline import JsonLinesOutput, Pipeline, PipelineSettings
    from vigil.runtime.imaging.segmenter import Segmenter
    from vigil.runtime.imaging.sources import open_source

    backends = tuple(b.strip() for b in args.backend.split(",") if b.strip())
    if not backends:
        raise ConfigError("--backend: name at least one backend kind")
    if (
        args.seconds is None
        and args.max_frames is None
        and any(s.strip().startswith("phantom") for s in args.source)
    ):
        print("the phantom stream never ends: stop with Ctrl-C, --seconds or --max-frames",
              file=sys.stderr)  # fmt: skip
    settings = PipelineSettings(
        bed=args.bed,
        persistence=Persistence(stable_frames=args.stable_frames, lost_frames=args.lost_frames),
        rule=AnechoicRule(
            min_area_cm2=args.min_area_cm2, min_area_px=args.min_area_px, roi=args.roi
        ),
        max_frames=args.max_frames,
        seconds=args.seconds,
        every_frame=args.as_fast_as_possible,
    )
    outputs: list = []
    sources: list = []
    try:
        sources = [open_source(s, paced=not args.as_fast_as_possible) for s in args.source]
        segmenter = Segmenter.open(
            args.model,
            backends=backends,
            precision=args.precision,
            intra_op_threads=args.threads,
            region=args.region,
        )
        if args.json is not None:
            outputs.append(JsonLinesOutput(args.json))
        if args.save_overlay is not None:
            from vigil.runtime.imaging.overlay import OverlayOutput

            interval = sources[0].frame_interval_s
            fps = 1.0 / interval if interval else 20.0
            outputs.append(OverlayOutput(args.save_overlay, fps, [s.name for s in sources]))
        advisories = _JournaledAdvisories(args.journal) if args.journal is not None else None
        try:
            summary = Pipeline(
                sources,
                segmenter,
                settings,
                outputs=outputs,
                on_condition=advisories.on_condition if advisories else None,
            ).run()
        finally:
            if advisories is not None:
                advisories.close()
    except BaseException:
        for out in outputs:
            out.close()
        for s in sources:
            s.close()
        raise
    print("\n".join(summary.lines()))
    for out in outputs:
        for path in getattr(out, "paths", ()):
            print(f"overlay: {path}")
    return 0


class _JournaledAdvisories:
    """Findings' conditions through an alarm manager into the journal, as `vigil run` does
    (manager time is the host's monotonic clock; journal first, nothing else signals here)."""

    def __init__(self, path: Path) -> None:
        import time

        from vigil.runtime.alarms.manager import AlarmManager
        from vigil.runtime.journal import Journal

        self._now = time.monotonic
        self.journal = Journal(path)
        self.manager = AlarmManager(next_id=self.journal.max_alarm_id() + 1)
        self.events = 0

    def on_condition(self, condition: Any) -> None:
        events = self.manager.on_condition(condition, self._now())
        events += self.manager.tick(self._now())
        if events:
            self.journal.record_events(events)
            self.events += len(events)

    def close(self) -> None:
        self.journal.close()
        print(f"journal: {self.events} alarm events in {self.journal.path}")
