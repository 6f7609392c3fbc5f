"""The queue between the link readers and the processing loop: bounded, in order, and a full
queue blocks the reader (backpressure) instead of dropping vital signs."""

from __future__ import annotations

import threading
import time

from vigil.records import LinkEvent
from vigil.runtime.service.record_queue import RecordQueue


def records(n: int) -> list[LinkEvent]:
    return [LinkEvent("port", "connected", i) for i in range(n)]


def wait_until(predicate, what: str, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def test_reads_come_out_in_order_with_their_bed_and_enqueue_time():
    ticks = iter(range(100, 200))
    q = RecordQueue(8, threading.Event(), clock_ns=lambda: next(ticks))
    first, second = records(2), records(1)
    q.put(3, first)
    q.put(5, second)
    assert q.qsize() == 2
    a, b = q.get(0.0), q.get_nowait()
    assert (a.bed, list(a.records), a.queued_ns) == (3, first, 100)
    assert (b.bed, list(b.records), b.queued_ns) == (5, second, 101)
    assert q.get(0.0) is None
    assert q.get_nowait() is None


def full_queue(maxsize: int) -> RecordQueue:
    """A queue holding `maxsize` reads of bed 0: the next put blocks."""
    q = RecordQueue(maxsize, threading.Event())
    for _ in range(maxsize):
        q.put(0, records(1))
    return q


def start_reader(q: RecordQueue, bed: int, count: int) -> tuple[threading.Thread, threading.Event]:
    """A reader thread putting one read of `count` records; the event is set once it is in."""
    done = threading.Event()

    def reader() -> None:
        q.put(bed, records(count))
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread, done


def test_a_full_queue_blocks_the_reader_until_the_loop_takes_and_counts_the_bed():
    q = full_queue(2)
    thread, done = start_reader(q, bed=1, count=3)
    assert wait_until(q.take_blocked, "the reader to find the queue full") == {1: 1}
    assert not done.is_set()
    assert q.qsize() == 2
    assert q.get(1.0).bed == 0
    thread.join(10.0)
    assert done.is_set()
    assert [q.get(1.0).bed, q.get(1.0).bed] == [0, 1]
    assert q.take_blocked() == {}
    assert q.abandoned == 0


def test_a_stopping_runtime_abandons_a_blocked_put_and_counts_its_records():
    stop = threading.Event()
    q = RecordQueue(1, stop)
    q.put(0, records(1))
    thread = threading.Thread(target=q.put, args=(2, records(4)), daemon=True)
    thread.start()
    wait_until(q.take_blocked, "the reader to block")
    stop.set()
    thread.join(10.0)
    assert not thread.is_alive()
    assert q.abandoned == 4
    assert q.qsize() == 1


def test_many_readers_never_hold_more_than_maxsize_and_lose_nothing():
    q = RecordQueue(3, threading.Event())
    readers, puts = 8, 200
    seen_sizes: list[int] = []

    def reader(bed: int) -> None:
        for i in range(puts):
            q.put(bed, [LinkEvent("port", "connected", i)])

    threads = [threading.Thread(target=reader, args=(b,), daemon=True) for b in range(readers)]
    for t in threads:
        t.start()
    got: dict[int, list[int]] = {b: [] for b in range(readers)}
    for _ in range(readers * puts):
        seen_sizes.append(q.qsize())
        item = q.get(10.0)
        assert item is not None
        got[item.bed].append(item.records[0].arrival_ns)
    for t in threads:
        t.join(10.0)
    assert max(seen_sizes) <= 3
    assert all(order == list(range(puts)) for order in got.values())  # each bed in order
    assert q.qsize() == 0


def test_blocked_readers_resume_together_once_a_quarter_of_the_queue_is_free():
    q = full_queue(8)
    thread, done = start_reader(q, bed=1, count=1)
    wait_until(q.take_blocked, "the reader to block")
    q.get(1.0)
    assert not done.wait(0.3)  # one free place: the reader waits for a batch's worth
    q.get(1.0)  # now a quarter (8 - resume_at) is free
    thread.join(10.0)
    assert done.is_set()
    assert q.resume_at == 6
    assert q.qsize() == 7
