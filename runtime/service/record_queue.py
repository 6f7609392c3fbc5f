"""The bounded queue between the link reader threads and the processing loop: one item per
read of a port (the records it decoded), `maxsize` items shared by every bed.

Vital signs are never dropped: when the queue is full, `put` blocks the reader (the serial
port's buffers then hold the bytes, and the device's own flow control takes over), and the
bed is marked so the processing loop raises a technical alarm for it. Only a stopping runtime
gives up on a blocked put, and counts what it gave up.

Why not `queue.Queue`: every bed's reader puts about 25 times a second and the loop takes as
often, and `queue.Queue` runs two condition variables in Python per item (a timed `get` on an
empty queue allocates a lock and waits in Python). Here the items travel through a
`queue.SimpleQueue` (C: `put` never blocks, a timed `get` waits in C); the bound is kept by
a lock the readers take around a size check and their put (one reader at a time, so the
size never passes `maxsize`), and only a reader that found the queue full waits on a
condition, which the loop notifies only while someone waits.

Blocked readers resume together once the loop has taken a quarter of the queue (`resume_at`),
not one item at a time: at saturation the readers and the loop then hand the GIL over once
per batch of reads instead of once per read (each hand-over costs both threads a forced
switch; on a shared machine, a wait for the scheduler too).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from vigil.records import Record

BLOCKED_RECHECK_S = 0.1  # a blocked reader re-checks the stop flag this often


class QueuedRecords(NamedTuple):
    """The records of one read of one bed's port, in order."""

    bed: int  # index into the runtime's beds
    records: Sequence[Record]
    queued_ns: int


class RecordQueue:
    def __init__(
        self, maxsize: int, stop: threading.Event, clock_ns: Callable[[], int] = time.monotonic_ns
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"a record queue holds at least 1 item, not {maxsize}")
        self._items: queue.SimpleQueue[QueuedRecords] = queue.SimpleQueue()
        self._stop = stop
        self._now = clock_ns
        self._lock = threading.Lock()  # readers' size check + put; blocked-put counts
        self._space = threading.Condition(self._lock)  # a reader waiting for room
        self._waiting = 0  # readers waiting on `_space` (read without the lock by `_took`)
        self._blocked: dict[int, int] = {}  # bed -> puts that found the queue full
        self.abandoned = 0  # records a stopping runtime did not wait to enqueue
        self.maxsize = maxsize
        self.resume_at = maxsize * 3 // 4  # blocked readers go on at this size or below

    def put(self, bed: int, records: Sequence[Record]) -> None:
        """Enqueue one read's records; blocks (backpressure) while the queue is full."""
        item = QueuedRecords(bed, records, self._now())
        items = self._items
        with self._lock:
            if items.qsize() < self.maxsize:
                items.put(item)
                return
            self._blocked[bed] = self._blocked.get(bed, 0) + 1
            self._waiting += 1
            try:
                while items.qsize() > self.resume_at:
                    if self._stop.is_set():
                        self.abandoned += len(records)
                        return
                    self._space.wait(BLOCKED_RECHECK_S)
                items.put(item)
            finally:
                self._waiting -= 1

    def get(self, timeout_s: float) -> QueuedRecords | None:
        try:
            item = self._items.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None
        self._took()
        return item

    def get_nowait(self) -> QueuedRecords | None:
        try:
            item = self._items.get_nowait()
        except queue.Empty:
            return None
        self._took()
        return item

    def _took(self) -> None:
        """Wake the readers blocked on a full queue once it is down to `resume_at`.
        `_waiting` is raised under the lock before a reader checks the size, so a reader
        that saw the queue too full before this get is counted here; one that checks after
        it sees the room."""
        if self._waiting and self._items.qsize() <= self.resume_at:
            with self._space:
                self._space.notify_all()

    def take_blocked(self) -> dict[int, int]:
        """Beds whose reader found the queue full since the last call, with how often."""
        with self._lock:
            blocked, self._blocked = self._blocked, {}
        return blocked

    def qsize(self) -> int:
        return self._items.qsize()
