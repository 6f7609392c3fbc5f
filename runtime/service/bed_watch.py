"""About once a second, the technical checks of the beds whose links and queue live in this
process: link statistics (`LinkAlarms.on_stats`: link lost, CRC bursts) and queue
backpressure. The runtime's own loop runs them in one process; each analysis worker runs them
for its beds (the links and the queue are the worker's), and sends what they raise."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from vigil.runtime.analysis.condition import Condition
from vigil.runtime.link_alarms import OnOff
from vigil.runtime.service.bed import BedState
from vigil.runtime.service.record_queue import RecordQueue

BACKPRESSURE_CLEAR_S = 5.0  # a bed's queue alarm ends after this long without a blocked put


class BedWatch:
    """`beds`: index (as the queue knows it) -> bed."""

    def __init__(
        self,
        beds: Mapping[int, BedState],
        queue: RecordQueue,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._beds = beds
        self._queue = queue
        self._now_ns = clock_ns
        self._backpressure: dict[int, OnOff] = {}
        self._backpressure_at: dict[int, int] = {}

    def link_stats(self, now_ns: int) -> list[Condition]:
        out: list[Condition] = []
        for bed in self._beds.values():
            out += bed.link_alarms.on_stats(bed.link.stats(), now_ns, bed.device_s)
        return out

    def backpressure(self, now_ns: int) -> list[Condition]:
        """`queue_backpressure` for each bed whose reader found the queue full, until
        BACKPRESSURE_CLEAR_S pass without that."""
        out: list[Condition] = []
        blocked = self._queue.take_blocked()
        for index, bed in self._beds.items():
            if index in blocked:
                self._backpressure_at[index] = now_ns
            since = self._backpressure_at.get(index)
            on = since is not None and (now_ns - since) / 1e9 < BACKPRESSURE_CLEAR_S
            switch = self._backpressure.get(index)
            if switch is None:
                switch = OnOff("queue_backpressure", bed.name, clock_ns=self._now_ns)
                self._backpressure[index] = switch
            out += switch.update(
                on,
                bed.device_s,
                blocked_puts=blocked.get(index, 0),
                queue_size=self._queue.maxsize,
            )
        return out
