"""Latest frame wins: one-slot mailboxes between frame readers and the inference thread.

A scanner streams at its own rate; the segmenter runs at whatever this machine allows. A queue
between them would grow without bound, or, bounded, hand the model frames that get older and
older: the overlay would lag the probe by seconds. Here each source has one slot. Its reader
thread puts every frame it reads into the slot, replacing the frame still waiting there (that
one is counted as skipped); the inference thread takes, from every source that has one, the
frame waiting now, which is by construction the newest read. So latency stays one inference
deep, order never goes backwards, and `taken + skipped == read` for every source once the
readers have stopped (a frame left in a slot at a stop counts as skipped).

Each taken frame carries `read_when_taken` (how many frames its source had read at that
moment) and `skipped_before` (frames of its source dropped since the previous one taken), so
a result can show it was the newest and what it cost. Latency (captured -> result) is measured
by whoever produces the result, from `Frame.captured_ns` (host monotonic time at capture).

Readers are daemon threads: a source blocked in a device read cannot keep the process alive.
A reader's error (a corrupt file past what the source itself can skip) ends that source and is
kept in `errors` for the summary; the other sources go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from vigil.runtime.imaging.frame import Frame, FrameSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Taken:
    """A frame handed to inference, with what the mailbox knew when it was taken."""

    name: str  # the mailbox slot (source) it came from
    frame: Frame
    read_when_taken: int  # frames its source had read then: this one was the last of them
    skipped_before: int  # frames of its source dropped since the previous taken one


@dataclass(slots=True)
class SourceCounts:
    """Per-source counters (read under the mailbox lock)."""

    read: int = 0
    taken: int = 0
    skipped: int = 0
    finished: bool = False
    error: str | None = None
    _skipped_since_take: int = field(default=0, repr=False)


class LatestFrameMailbox:
    """One slot per source name; readers `offer`, the inference thread `take_batch`."""

    def __init__(
        self, names: Sequence[str], *, every_frame: bool | Collection[str] = False
    ) -> None:
        """`every_frame` (True: every source; or the names of those it applies to): such a
        source's reader waits for its slot to be taken instead of replacing the frame in it,
        so nothing is skipped (a throughput run over a file, where latest frame wins would
        only make the reader spin and skip). A live source must not be among them: a capture
        card does not wait, so a waiting reader would fall behind it and deliver ever older
        frames."""
        if len(set(names)) != len(names):
            raise ValueError(f"source names must differ: {list(names)}")
        waits = set(names) if every_frame is True else set(every_frame or ())
        if not waits <= set(names):
            raise ValueError(f"every_frame names {sorted(waits - set(names))} are no source")
        self.waits = frozenset(waits)
        self._cv = threading.Condition()
        self._slots: dict[str, Taken | None] = {n: None for n in names}
        self._counts = {n: SourceCounts() for n in names}
        self._closed = False

    def offer(self, name: str, frame: Frame) -> None:
        """A reader read `frame`: it replaces any frame still waiting (that one is skipped)."""
        with self._cv:
            if name in self.waits:
                while self._slots[name] is not None and not self._closed:
                    self._cv.wait()
            c = self._counts[name]
            c.read += 1
            if self._closed:
                c.skipped += 1
                return
            if self._slots[name] is not None:
                c.skipped += 1
                c._skipped_since_take += 1
            self._slots[name] = Taken(name, frame, c.read, c._skipped_since_take)
            self._cv.notify_all()

    def finish(self, name: str, error: str | None = None) -> None:
        """A reader is done (its source ended, failed, or was stopped)."""
        with self._cv:
            c = self._counts[name]
            c.finished = True
            c.error = error
            self._cv.notify_all()

    def take_batch(self, timeout_s: float | None = None) -> list[Taken]:
        """The waiting frame of every source that has one, in source order; waits until
        there is at least one. [] when every source has finished and nothing waits (the end),
        when the mailbox is closed, or when `timeout_s` passes."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cv:
            while True:
                batch = [t for t in self._slots.values() if t is not None]
                if batch or self._closed or self._all_finished():
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return []
                self._cv.wait(left)
            for t in batch:
                self._slots[t.name] = None
                c = self._counts[t.name]
                c.taken += 1
                c._skipped_since_take = 0
            if batch and self.waits:
                self._cv.notify_all()  # readers waiting for their slot
            return batch

    def close(self) -> None:
        """Stop: frames waiting now, and any offered later, count as skipped."""
        with self._cv:
            self._closed = True
            for name, t in self._slots.items():
                if t is not None:
                    self._counts[name].skipped += 1
                    self._slots[name] = None
            self._cv.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def exhausted(self) -> bool:
        """Nothing more will come: closed, or every reader finished and no frame waits."""
        with self._cv:
            if self._closed:
                return True
            return self._all_finished() and all(t is None for t in self._slots.values())

    def _all_finished(self) -> bool:
        return all(c.finished for c in self._counts.values())

    def counts(self) -> dict[str, SourceCounts]:
        """A copy of every source's counters."""
        with self._cv:
            return {
                n: SourceCounts(c.read, c.taken, c.skipped, c.finished, c.error)
                for n, c in self._counts.items()
            }


class SourceReader:
    """A daemon thread reading one source into the mailbox until it ends or is stopped."""

    def __init__(
        self,
        source: FrameSource,
        mailbox: LatestFrameMailbox,
        *,
        name: str | None = None,
        max_frames: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.name = name or source.name
        self.mailbox = mailbox
        self.max_frames = max_frames
        self.stop = stop or threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"read {self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float | None = None) -> bool:
        """True when the thread has ended."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        error = None
        n = 0
        try:
            for frame in self.source.frames():
                if self.stop.is_set():
                    break
                self.mailbox.offer(self.name, frame)
                n += 1
                if self.max_frames is not None and n >= self.max_frames:
                    break
        except Exception as exc:  # the source's failure ends this source only; reported
            error = source_error(self.name, exc)
        finally:
            close_source(self.source, self.name)
            self.mailbox.finish(self.name, error)


def source_error(name: str, exc: Exception) -> str:
    """What the summary says about a source's failure (logged once, here)."""
    error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
    log.error("frame source %s stopped: %s", name, error)
    return error


def close_source(source: FrameSource, name: str) -> None:
    """Close a source that ended, failed or was stopped; a failure to close is logged only,
    since closing a failed device must not hide why it failed."""
    try:
        source.close()
    except Exception as exc:
        log.warning("closing frame source %s: %s", name, exc)
