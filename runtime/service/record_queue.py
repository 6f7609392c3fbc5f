"""The bounded queue between the link reader threads and the processing loop: one item per
read of a port (the records it decoded), `maxsize` items shared by every bed.

Vital signs are never dropped: when the queue is full, `put` blocks the reader (the serial
port's buffers then hold the bytes, and the device's own flow control takes over), and the
bed is marked so the processing loop raises a technical alarm for it. Only a stopping runtime
gives up on a blocked put, and counts what it gave up.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.records import Record


@dataclass(frozen=True, slots=True)
class QueuedRecords:
    """The records of one read of one bed's port, in order."""

    bed: int  # index into the runtime's beds
    records: Sequence[Record]
    queued_ns: int


class RecordQueue:
    def __init__(
        self, maxsize: int, stop: threading.Event, clock_ns: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self._queue: queue.Queue[QueuedRecords] = queue.Queue(maxsize)
        self._stop = stop
        self._now = clock_ns
        self._lock = threading.Lock()
        self._blocked: dict[int, int] = {}  # bed -> puts that found the queue full
        self.abandoned = 0  # records a stopping runtime did not wait to enqueue
        self.maxsize = maxsize

    def put(self, bed: int, records: Sequence[Record]) -> None:
        """Enqueue one read's records; blocks (backpressure) while the queue is full."""
        item = QueuedRecords(bed, records, self._now())
        try:
            self._queue.put_nowait(item)
            return
        except queue.Full:
            with self._lock:
                self._blocked[bed] = self._blocked.get(bed, 0) + 1
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        self.abandoned += len(records)

    def get(self, timeout_s: float) -> QueuedRecords | None:
        try:
            return self._queue.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None

    def get_nowait(self) -> QueuedRecords | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def take_blocked(self) -> dict[int, int]:
        """Beds whose reader found the queue full since the last call, with how often."""
        with self._lock:
            blocked, self._blocked = self._blocked, {}
        return blocked

    def qsize(self) -> int:
        return self._queue.qsize()
