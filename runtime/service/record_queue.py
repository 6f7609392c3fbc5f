"""The bounded queue between the link reader threads and the processing loop: one item per
read of a port (the records it decoded), `maxsize` items shared by every bed.

Vital signs are never dropped: when the queue is full, `put` blocks the reader (the serial
port's buffers then hold the bytes, and the device's own flow control takes over), and the
bed is marked so the processing loop raises a technical alarm for it. Only a stopping runtime
gives up on a blocked put, and counts what it gave up.

Why not `queue.Queue`: every bed's reader puts about 25 times a second and the loop takes as
often, and `queue.Queue` holds a lock across Python code in each put and get. A thread that
loses the GIL while holding it (a switch interval can end anywhere) stalls every other
reader on that lock until it runs again: a convoy of GIL hand-overs that, with readers
pushing hard, cost several times the put itself. Here no lock is held on the way in or out:

* the items travel through a `queue.SimpleQueue` (C: `put` never blocks, a timed `get`
  waits in C);
* the bound is kept with tickets: each put takes the next number of an `itertools.count`
  (atomic under the GIL) and may go on while `ticket - taken < maxsize`, where `taken`
  counts the items the (one) consumer has taken. Every put went in with a distinct ticket
  below `taken + maxsize`, so the queue never holds more than `maxsize` items;
* a reader whose ticket is not yet allowed waits on a condition. Blocked readers resume once
  the consumer has taken a quarter of the queue since (`resume_at`), not after every item:
  at saturation the readers and the loop then hand the GIL over once per batch of reads
  instead of once per read. The consumer touches the condition only while a reader waits.
"""

from __future__ import annotations

import itertools
import math
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
    """Many putting threads, one getting thread (the processing loop)."""

    def __init__(
        self, maxsize: int, stop: threading.Event, clock_ns: Callable[[], int] = time.monotonic_ns
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"a record queue holds at least 1 item, not {maxsize}")
        self._items: queue.SimpleQueue[QueuedRecords] = queue.SimpleQueue()
        self._stop = stop
        self._now = clock_ns
        self._tickets = itertools.count()
        self._taken = 0  # items the consumer took (written by the consumer only)
        self._lock = threading.Lock()  # blocked readers and their counts
        self._space = threading.Condition(self._lock)
        self._waiting = 0  # readers waiting on `_space`
        self._wake_at: float = math.inf  # `_taken` at which the earliest waiter may go on
        self._blocked: dict[int, int] = {}  # bed -> puts that found the queue full
        self.abandoned = 0  # records a stopping runtime did not wait to enqueue
        self.maxsize = maxsize
        self.resume_at = maxsize * 3 // 4  # a blocked reader goes on at this many ahead of it

    def put(self, bed: int, records: Sequence[Record]) -> None:
        """Enqueue one read's records; blocks (backpressure) while the queue is full."""
        item = QueuedRecords(bed, records, self._now())
        ticket = next(self._tickets)
        if ticket - self._taken < self.maxsize:
            self._items.put(item)
            return
        with self._space:
            self._blocked[bed] = self._blocked.get(bed, 0) + 1
            self._waiting += 1
            try:
                while ticket - self._taken > self.resume_at:
                    if self._stop.is_set():
                        self.abandoned += len(records)
                        return
                    self._wake_at = min(self._wake_at, ticket - self.resume_at)
                    self._space.wait(BLOCKED_RECHECK_S)
            finally:
                self._waiting -= 1
        self._items.put(item)

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
        """Count the take; wake the blocked readers once the earliest of them may go on. A
        reader raises `_waiting`, then checks `_taken` and sets `_wake_at` under the lock;
        this side raises `_taken`, then reads `_wake_at` under the same lock: whichever comes
        second sees the other's write."""
        self._taken += 1
        if self._waiting:
            with self._space:
                if self._taken >= self._wake_at:
                    self._wake_at = math.inf
                    self._space.notify_all()

    def take_blocked(self) -> dict[int, int]:
        """Beds whose reader found the queue full since the last call, with how often."""
        with self._lock:
            blocked, self._blocked = self._blocked, {}
        return blocked

    def qsize(self) -> int:
        return self._items.qsize()
