"""The real-time ultrasound pipeline, wired in one visible place:

    sources ─(reader threads)→ latest-frame mailbox → segmenter (batched) → findings → outputs
    one unpaced source ─(read on the loop's thread)────┘                         └→ conditions

One inference loop (the caller's thread) takes the newest frame of every source that has one
(latest_frame.py), segments them in one batch, measures each mask's regions and tracks them
per source (findings.py), and hands every processed frame to the outputs (JSON Lines, overlay)
and every condition to `on_condition` (the alarm manager and journal, when wired; collected in
the summary either way). Latency is measured per frame from `Frame.captured_ns` (the source's
host monotonic time at capture) to the moment its findings are known, before any output.

The run ends when every source has ended (or read `max_frames`), after `seconds` of wall time,
when `stop` is set, or on Ctrl-C; then readers are stopped, frames still waiting count as
skipped, and findings still raising an advisory are ended ("stream ended"), so every started
condition has its end, and the summary is written to every output that takes one (the JSON
Lines' last line).

**How frames are read** (decided in one place: `_every_frame`, `waiting_sources`,
`reads_on_the_loop_thread`). A source on its own clock (a capture card, a paced file) and
several sources get a reader thread each and the latest-frame mailbox: inference takes the
newest frame, and a slow model never makes the overlay lag the probe; with
`--as-fast-as-possible` the readers of files and phantoms wait for inference instead, so no
frame is skipped, while a card keeps latest frame wins (it does not wait). One unpaced file or
phantom processed frame by frame (`--as-fast-as-possible`) is read on the loop's thread instead
(pull_reader.py): such a source can always give the next frame at once, so a reader thread buys
no overlap and costs a hand-off per frame under the GIL (about 50 µs of CPU a frame on the
2-core machine: 1 % of an INT8 frame, below the noise of its fps) and frames read ahead that
wait for the ones before them (capture -> result latency of three inferences or more instead of
one). Results, findings, conditions and counts are the same either way; the summary's `reading`
says which it was (nothing can be skipped when pulling).

Model failures: the segmenter's `FallbackBackend` moves to the next backend and this loop turns
each degradation into an `inference_degraded` condition (as the bedside models do); when no
backend is left its `NoBackend` ends the run, after the cleanup above.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vigil.errors import ConfigError
from vigil.runtime.alarms.serialize import condition_to_dict
from vigil.runtime.analysis.condition import Condition
from vigil.runtime.imaging.findings import (
    AnechoicRule,
    Finding,
    FindingTracker,
    Persistence,
    Region,
)
from vigil.runtime.imaging.frame import Frame, FrameSource
from vigil.runtime.imaging.latest_frame import (
    LatestFrameMailbox,
    SourceCounts,
    SourceReader,
    Taken,
)
from vigil.runtime.imaging.pull_reader import PullReader

log = logging.getLogger(__name__)

# Summary.reading: how frames reached inference, and so what "skipped" means
LATEST_FRAME_WINS = "latest frame wins"
EVERY_FRAME_WAITING = "every frame: the readers wait for inference"
EVERY_FRAME_PULLED = "every frame: read on the inference thread, none can be skipped"

_POLL_S = 0.25  # how often the loop looks at the clock and the stop flag while idle
_JOIN_S = 2.0  # how long a stopped reader is waited for (daemon threads: never forever)


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    bed: str = "imaging"  # the bed (cart) conditions are raised for
    persistence: Persistence = field(default_factory=Persistence)
    rule: AnechoicRule = field(default_factory=AnechoicRule)
    max_frames: int | None = None  # per source; None: until the source ends
    seconds: float | None = None  # wall-clock limit; None: none
    every_frame: bool = False  # process every frame (throughput runs); else latest frame wins


@dataclass(frozen=True, slots=True)
class FrameResult:
    """One processed frame: timings, what the mailbox skipped, regions, findings, conditions."""

    source: str
    index: int
    t_s: float  # stream time: index x frame interval, or seconds since the first capture
    captured_ns: int
    done_ns: int
    skipped_before: int  # frames of this source dropped since the previous processed one
    read_when_taken: int  # frames this source had read when this one was taken (the newest)
    batch: int  # frames in the inference call that processed it
    regions: tuple[Region, ...]
    findings: tuple[Finding, ...]
    conditions: tuple[Condition, ...]

    @property
    def latency_ms(self) -> float:
        return (self.done_ns - self.captured_ns) / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "frame",
            "source": self.source,
            "index": self.index,
            "t_s": round(self.t_s, 6),
            "latency_ms": round(self.latency_ms, 3),
            "skipped_before": self.skipped_before,
            "batch": self.batch,
            "regions": [r.to_json() for r in self.regions],
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class SourceSummary:
    name: str
    read: int
    processed: int
    skipped: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Summary:
    """What `vigil ultrasound` prints at the end."""

    frames_read: int
    frames_processed: int
    frames_skipped: int
    elapsed_s: float
    fps: float  # processed frames per wall second
    latency_p50_ms: float
    latency_p99_ms: float
    backend: str
    model: str
    inference_calls: int
    findings: int  # regions that became findings (stable), all sources
    conditions: tuple[Condition, ...]
    sources: tuple[SourceSummary, ...]
    reading: str = LATEST_FRAME_WINS  # how frames reached inference: what "skipped" means

    @property
    def advisories_started(self) -> int:
        return sum(1 for c in self.conditions if c.kind != "inference_degraded" and c.active)

    def lines(self) -> list[str]:
        out = [
            f"frames: read {self.frames_read}, processed {self.frames_processed}, skipped "
            f"{self.frames_skipped} ({self.reading})",
            f"fps: {self.fps:.1f} processed over {self.elapsed_s:.2f} s; latency capture -> "
            f"result p50 {self.latency_p50_ms:.1f} ms, p99 {self.latency_p99_ms:.1f} ms",
            f"backend: {self.backend} ({self.model}), {self.inference_calls} inference calls",
            f"findings: {self.findings} stable region(s); advisories: "
            f"{self.advisories_started} started",
        ]
        for c in self.conditions:
            if c.active:
                ev = c.evidence
                where = ev.get("centroid_px")
                out.append(
                    f"  {c.kind} {c.key} at {c.onset_s:.2f} s: area {ev.get('area')} "
                    f"{ev.get('area_unit', '')} at {where}, stable {ev.get('frames_stable', '?')} "
                    "frames"
                    if c.kind != "inference_degraded"
                    else f"  {c.kind} at {c.onset_s:.2f} s: {ev.get('reason')}"
                )
        for s in self.sources:
            if len(self.sources) > 1 or s.error:
                err = f", stopped: {s.error}" if s.error else ""
                out.append(
                    f"  source {s.name}: read {s.read}, processed {s.processed}, "
                    f"skipped {s.skipped}{err}"
                )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "summary",
            "frames_read": self.frames_read,
            "frames_processed": self.frames_processed,
            "frames_skipped": self.frames_skipped,
            "elapsed_s": round(self.elapsed_s, 4),
            "fps": _finite(self.fps),
            "latency_p50_ms": _finite(self.latency_p50_ms),
            "latency_p99_ms": _finite(self.latency_p99_ms),
            "backend": self.backend,
            "model": self.model,
            "inference_calls": self.inference_calls,
            "findings": self.findings,
            "conditions": [condition_json(c) for c in self.conditions],
            "sources": [
                {
                    "name": s.name,
                    "read": s.read,
                    "processed": s.processed,
                    "skipped": s.skipped,
                    "error": s.error,
                }
                for s in self.sources
            ],
            "reading": self.reading,
        }


def _finite(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


def condition_json(c: Condition) -> dict[str, Any]:
    """A condition line: the one JSON shape the journal and the sinks use too."""
    return {"type": "condition", **condition_to_dict(c)}


class FrameOutput(Protocol):
    """Where processed frames go (JSON Lines, overlay)."""

    def write(self, frame: Frame, mask: np.ndarray, result: FrameResult) -> None: ...

    def close(self) -> None: ...


class JsonLinesOutput:
    """`--json OUT`: one line per processed frame, one per condition, the summary last."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        if not path.parent.is_dir():
            raise ConfigError(f"cannot write --json {path}: folder {path.parent} does not exist")
        self.path = path
        self._f = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, frame: Frame, mask: np.ndarray, result: FrameResult) -> None:
        self._line(result.to_json())
        for c in result.conditions:
            self._line(condition_json(c))

    def write_condition(self, c: Condition) -> None:
        self._line(condition_json(c))

    def write_summary(self, summary: Summary) -> None:
        self._line(summary.to_json())

    def _line(self, obj: dict[str, Any]) -> None:
        self._f.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._f.close()


class Pipeline:
    """Sources → mailbox → segmenter → findings → outputs (see the module docstring)."""

    def __init__(
        self,
        sources: Sequence[FrameSource],
        segmenter: Any,  # vigil.runtime.imaging.segmenter.Segmenter
        settings: PipelineSettings | None = None,
        *,
        outputs: Sequence[FrameOutput] = (),
        on_condition: Callable[[Condition], None] | None = None,
        on_result: Callable[[FrameResult], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if not sources:
            raise ConfigError("the ultrasound pipeline needs at least one frame source")
        self.sources = list(sources)
        self.names = _unique_names([s.name for s in self.sources])
        self.segmenter = segmenter
        self.settings = settings or PipelineSettings()
        self.outputs = list(outputs)
        self.on_condition = on_condition
        self.on_result = on_result
        self.stop = stop or threading.Event()
        s = self.settings
        self.trackers = {
            n: FindingTracker(n, bed=s.bed, persistence=s.persistence, rule=s.rule)
            for n in self.names
        }
        self.pulls = reads_on_the_loop_thread(self.sources, self.settings)
        self.waiting = waiting_sources(self.sources, self.names, self.settings)
        self._intervals = {
            n: float(getattr(src, "frame_interval_s", None) or 0.0)
            for src, n in zip(self.sources, self.names, strict=True)
        }
        self._first_ns: dict[str, int] = {}
        self._last: dict[str, tuple[int, float]] = {}  # name -> (index, t_s) last processed
        self._conditions: list[Condition] = []
        self._latencies: list[int] = []
        self._degraded: Any = None
        self._calls_before = 0

    def run(self) -> Summary:
        from vigil.runtime.analysis.model_runtime import DegradedAlarm

        self._degraded = DegradedAlarm(self.settings.bed, "us_segmenter", "no segmentation")
        self._calls_before = int(getattr(self.segmenter, "calls", 0))
        s = self.settings
        feed: PullReader | LatestFrameMailbox
        readers: list[SourceReader] = []
        if self.pulls:
            feed = PullReader(
                self.sources[0], name=self.names[0], max_frames=s.max_frames, stop=self.stop
            )
        else:
            feed = LatestFrameMailbox(self.names, every_frame=self.waiting)
            readers = [
                SourceReader(src, feed, name=n, max_frames=s.max_frames, stop=self.stop)
                for src, n in zip(self.sources, self.names, strict=True)
            ]
        start_ns = time.monotonic_ns()
        deadline = None if s.seconds is None else time.monotonic() + s.seconds
        for r in readers:
            r.start()
        try:
            while not self.stop.is_set():
                wait = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
                if wait <= 0:
                    break
                batch = feed.take_batch(timeout_s=wait)
                if batch:
                    self._process(batch)
                elif feed.exhausted:
                    break
        except KeyboardInterrupt:  # Ctrl-C ends a live stream: stop cleanly, summarise
            log.info("ultrasound pipeline interrupted")
        finally:
            end_ns = time.monotonic_ns()
            self.stop.set()
            feed.close()
            for r in readers:
                if not r.join(_JOIN_S):
                    log.warning("frame source %s did not stop within %s s", r.name, _JOIN_S)
            for name, tracker in self.trackers.items():
                index, t_s = self._last.get(name, (0, 0.0))
                self._emit(tracker.finish(index, t_s))
            summary = self._summary(feed.counts(), (end_ns - start_ns) / 1e9)
            for out in self.outputs:
                write_summary = getattr(out, "write_summary", None)
                if write_summary is not None:
                    write_summary(summary)
                out.close()
        return summary

    def _process(self, batch: list[Taken]) -> None:
        frames = [t.frame for t in batch]
        try:
            masks = self.segmenter.segment(frames)
        finally:
            self._check_degradations(batch[0].name)
        for taken, mask in zip(batch, masks, strict=True):
            frame = taken.frame
            t_s = self._stream_time(taken.name, frame)
            found = self.trackers[taken.name].update(
                frame.index, t_s, mask, frame.image, frame.spacing
            )
            result = FrameResult(
                source=taken.name,
                index=frame.index,
                t_s=t_s,
                captured_ns=frame.captured_ns,
                done_ns=time.monotonic_ns(),
                skipped_before=taken.skipped_before,
                read_when_taken=taken.read_when_taken,
                batch=len(batch),
                regions=found.regions,
                findings=found.findings,
                conditions=found.conditions,
            )
            self._latencies.append(result.done_ns - result.captured_ns)
            self._last[taken.name] = (frame.index, t_s)
            self._emit(found.conditions, announce_only=True)
            for out in self.outputs:
                out.write(frame, mask, result)
            if self.on_result is not None:
                self.on_result(result)

    def _stream_time(self, name: str, frame: Frame) -> float:
        interval = self._intervals[name]
        if interval:
            return frame.index * float(interval)
        first = self._first_ns.setdefault(name, frame.captured_ns)
        return (frame.captured_ns - first) / 1e9

    def _check_degradations(self, name: str) -> None:
        take = getattr(self.segmenter, "take_degradations", None)
        if take is None:
            return
        backend = getattr(self.segmenter, "backend", None)
        t_s = self._last.get(name, (0, 0.0))[1]
        self._emit(self._degraded.update(backend, t_s, t_s))

    def _emit(self, conditions: Sequence[Condition], announce_only: bool = False) -> None:
        """Collect and announce conditions. A frame's own conditions are written by the JSON
        output with the frame (`announce_only`); others also go to every output that takes
        them."""
        for c in conditions:
            self._conditions.append(c)
            if not announce_only:
                for out in self.outputs:
                    write = getattr(out, "write_condition", None)
                    if write is not None:
                        write(c)
            if self.on_condition is not None:
                self.on_condition(c)

    def _summary(self, counts: dict[str, SourceCounts], elapsed_s: float) -> Summary:
        sources = tuple(
            SourceSummary(n, c.read, c.taken, c.skipped, c.error) for n, c in counts.items()
        )
        lat = np.asarray(self._latencies, dtype=np.float64) / 1e6
        p50, p99 = (
            (float(np.percentile(lat, 50)), float(np.percentile(lat, 99)))
            if lat.size
            else (math.nan, math.nan)
        )
        processed = sum(s.processed for s in sources)
        info = getattr(self.segmenter, "info", None)
        model = f"{info.model}, {info.precision}" if info is not None else "model"
        return Summary(
            frames_read=sum(s.read for s in sources),
            frames_processed=processed,
            frames_skipped=sum(s.skipped for s in sources),
            elapsed_s=elapsed_s,
            fps=processed / elapsed_s if elapsed_s > 0 else math.nan,
            latency_p50_ms=p50,
            latency_p99_ms=p99,
            backend=str(getattr(self.segmenter, "backend_name", "backend")),
            model=model,
            inference_calls=int(getattr(self.segmenter, "calls", 0)) - self._calls_before,
            findings=sum(t.findings_seen for t in self.trackers.values()),
            conditions=tuple(self._conditions),
            sources=sources,
            reading=(
                EVERY_FRAME_PULLED
                if self.pulls
                else EVERY_FRAME_WAITING
                if self.waiting
                else LATEST_FRAME_WINS
            ),
        )


def waiting_sources(
    sources: Sequence[FrameSource], names: Sequence[str], settings: PipelineSettings
) -> tuple[str, ...]:
    """The sources whose every frame is processed (`--as-fast-as-possible`): files and
    phantoms; their readers wait for inference instead of latest frame winning."""
    return tuple(n for src, n in zip(sources, names, strict=True) if _every_frame(src, settings))


def reads_on_the_loop_thread(sources: Sequence[FrameSource], settings: PipelineSettings) -> bool:
    """True (a `PullReader` on the inference loop's thread) for one source whose every frame
    is processed and that can give the next one at once (unpaced); False (a `SourceReader`
    thread per source into the latest-frame mailbox) otherwise. See the module docstring for
    why."""
    if len(sources) != 1 or not _every_frame(sources[0], settings):
        return False
    return getattr(sources[0], "paced", True) is False  # one that does not say is not assumed


def _every_frame(source: FrameSource, settings: PipelineSettings) -> bool:
    """Whether every frame of `source` is processed: `every_frame` is set and the source is no
    capture device. A card delivers at its own rate whether or not it is read, so it keeps
    latest frame wins even in a throughput run; waiting for it would only hand over ever
    older frames."""
    return settings.every_frame and not getattr(source, "is_device", False)


def _unique_names(names: Sequence[str]) -> list[str]:
    """Source names as given, with a suffix where two are the same ("phantom", "phantom#2")."""
    out: list[str] = []
    for n in names:
        name, k = n, 2
        while name in out:
            name, k = f"{n}#{k}", k + 1
        out.append(name)
    return out
