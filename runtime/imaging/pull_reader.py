"""One on-demand source read on the inference thread itself: no reader thread, no mailbox.

latest_frame.py exists for sources that run on their own clock (a capture card, a paced file):
a reader thread keeps up with them and inference takes the newest frame. A single unpaced file
(`--as-fast-as-possible`) has no clock: it can always give the next frame at once, and every
frame is processed anyway. There a reader thread buys nothing and costs a hand-off per frame
(two thread switches under the GIL: about 50 µs of CPU a frame on the 2-core machine, 1 % of
an INT8 frame), and the frames it read ahead wait for the ones before them, so capture ->
result latency was three inferences or more (p50 29.9 ms against 8.4 ms for one FP32
inference) instead of one. `PullReader` reads the next frame when the loop asks for one, on
the loop's thread.

It answers the loop as `LatestFrameMailbox` does (`take_batch`, `exhausted`, `counts`, `close`)
and handles its source as `SourceReader` does: it reads at most `max_frames`, a frame read
after `stop` is set is dropped uncounted, a source's exception ends the source and is kept
(`counts()[name].error`, logged) instead of ending the run, and the source is closed when it
ends, fails or is closed. Nothing is ever skipped: a frame is handed on as soon as it is read
(`taken == read`, `skipped == 0` by construction).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from vigil.runtime.imaging.frame import Frame, FrameSource
from vigil.runtime.imaging.latest_frame import SourceCounts, Taken, close_source, source_error

log = logging.getLogger(__name__)


class PullReader:
    """Reads `source` on the caller's thread, one frame per `take_batch` (see the module
    docstring). Not thread-safe: the inference loop owns it."""

    def __init__(
        self,
        source: FrameSource,
        *,
        name: str | None = None,
        max_frames: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.name = name or source.name
        self.max_frames = max_frames
        self.stop = stop or threading.Event()
        self._frames: Iterator[Frame] | None = None
        self._counts = SourceCounts()
        self._closed = False

    def take_batch(self, timeout_s: float | None = None) -> list[Taken]:
        """The source's next frame, read now ([] once it has ended, failed, read
        `max_frames` or been closed). `timeout_s` is not needed: an on-demand source answers
        at once; it is accepted so the loop treats this and the mailbox alike."""
        c = self._counts
        if self._closed or c.finished:
            return []
        try:
            if self._frames is None:
                self._frames = iter(self.source.frames())
            frame = next(self._frames)
        except StopIteration:
            self._finish(None)
            return []
        except Exception as exc:  # the source's failure ends this source only; reported
            self._finish(source_error(self.name, exc))
            return []
        if self.stop.is_set():
            self._finish(None)
            return []
        c.read += 1
        c.taken += 1
        if self.max_frames is not None and c.read >= self.max_frames:
            self._finish(None)  # as a reader does: the source is closed, its last frame goes on
        return [Taken(self.name, frame, c.read, 0)]

    @property
    def exhausted(self) -> bool:
        """Nothing more will come: the source ended (or failed, or was stopped) or closed."""
        return self._closed or self._counts.finished

    def close(self) -> None:
        """Stop reading and close the source (if it has not ended already)."""
        if not self._counts.finished:
            self._finish(None)
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def counts(self) -> dict[str, SourceCounts]:
        """A copy of the source's counters, keyed by its name, as the mailbox gives them."""
        c = self._counts
        return {self.name: SourceCounts(c.read, c.taken, c.skipped, c.finished, c.error)}

    def _finish(self, error: str | None) -> None:
        close_frames = getattr(self._frames, "close", None)
        if close_frames is not None:  # a generator's own cleanup runs now, not at collection
            try:
                close_frames()
            except Exception as exc:
                log.warning("ending frame source %s: %s", self.name, exc)
        close_source(self.source, self.name)
        self._counts.finished = True
        self._counts.error = error
