"""An analysis worker: one forked process that owns some beds' links, their bounded queue and
their analysis, and tells the runtime what each record means (`wire.py`).

It runs the same per-record step (`bed_step.analyse_record`) and the same once-a-second link
and queue checks (`bed_watch.BedWatch`) as the runtime's own loop does with one process; the
alarm manager, journal, sinks, control socket and view stay in the runtime (the parent).

The worker waits for "start" before it opens any port (the parent first opens its journal and
restores alarms: a runtime that cannot start must not have touched a port), and ends on "stop"
or when its parent is gone (the pipe's end of file; on Linux also PR_SET_PDEATHSIG, so a
SIGKILLed parent leaves no worker holding the ports a restarted runtime must open).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from vigil.firmware_bridge.messages import AlarmMsg
from vigil.firmware_bridge.protocol import AlarmPriority
from vigil.firmware_bridge.protocol import AlarmState as WireAlarmState
from vigil.records import Record
from vigil.runtime.config import RuntimeConfig
from vigil.runtime.service import wire
from vigil.runtime.service.bed import BedState, build_bed
from vigil.runtime.service.bed_step import BedOutput, analyse_record
from vigil.runtime.service.bed_watch import BedWatch
from vigil.runtime.service.record_queue import RecordQueue

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 1.0  # link statistics and queue pressure, as the in-process loop
STATUS_S = 0.5  # view updates (numerics, HR, link state, ECG tail) and device clocks
DRAIN_MAX = 256
STOPPED_ALARM_ID = 0xFFFF_FFFF  # the technical alarm a stopping runtime leaves on each device
PR_SET_PDEATHSIG = 1

Deliver = Callable[[Sequence[Record]], None]
LinkFactory = Callable[[str, int, Deliver], Any]


def stopped_alarm(now_us: int) -> AlarmMsg:
    """What a stopping runtime leaves on each monitor, so its screen says the alarm system is
    gone before the monitor's host-silence watchdog sounds."""
    return AlarmMsg(
        now_us, STOPPED_ALARM_ID, AlarmPriority.MEDIUM, WireAlarmState.ACTIVE, True, "VIGIL STOPPED"
    )


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (best effort elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def detach_inherited_devices() -> int:
    """Point every inherited character-device descriptor past stdio (serial ports, ptys) at
    /dev/null. Fork copies all of the parent's descriptors; a worker holding another
    component's port open would keep that port's hangup from ever being seen (a pulled cable
    would stay "silent" instead of disconnecting). dup2 rather than close: the number stays
    taken, so a stale Python object closing it later cannot close a port this worker opened
    under the same number. Returns how many were detached."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return 0
    detached = 0
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for name in os.listdir(fds):
            fd = int(name)
            if fd <= 2 or fd == null:
                continue
            try:
                if stat.S_ISCHR(os.fstat(fd).st_mode):
                    os.dup2(null, fd)
                    detached += 1
            except OSError:
                continue
    finally:
        os.close(null)
    return detached


def worker_main(
    config: RuntimeConfig,
    indices: Sequence[int],
    conn: Connection,
    inherited: Sequence[Connection],
    link_factory: LinkFactory,
    *,
    worker_class: type[AnalysisWorker] | None = None,
) -> None:
    """The forked child's entry: `inherited` are the parent's ends of the worker pipes,
    copied by fork; closing them here is what lets each side see the other's end of file.
    `worker_class`: AnalysisWorker or a subclass (the capacity benchmark times records)."""
    die_with_parent()
    detach_inherited_devices()
    for other in inherited:
        other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop (Ctrl-C)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    (worker_class or AnalysisWorker)(config, indices, conn, link_factory).run()


class AnalysisWorker:
    def __init__(
        self,
        config: RuntimeConfig,
        indices: Sequence[int],
        conn: Connection,
        link_factory: LinkFactory,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._conn = conn
        self._now_ns = clock_ns
        self._stop = threading.Event()
        self._go = threading.Event()
        self._ecg_until_ns = 0  # send the view's ECG tails until then (a "view" message)
        self._queue = RecordQueue(config.runtime.queue_records, self._stop, clock_ns)
        self.beds: dict[int, BedState] = {}
        for index in indices:
            bed_cfg = config.beds[index]
            link = link_factory(bed_cfg.port, bed_cfg.baudrate, self._enqueue_for(index))
            self.beds[index] = build_bed(index, config, link, clock_ns)
        self._by_name = {bed.name: index for index, bed in self.beds.items()}
        self._watch = BedWatch(self.beds, self._queue, clock_ns)

    def _enqueue_for(self, index: int) -> Deliver:
        put = self._queue.put

        def deliver(records: Sequence[Record]) -> None:
            put(index, records)

        return deliver

    def run(self) -> None:
        reader = threading.Thread(target=self._read_parent, name="vigil-worker-pipe", daemon=True)
        reader.start()
        while not self._go.wait(0.1):
            if self._stop.is_set():
                return
        for bed in self.beds.values():
            bed.link.start()
        try:
            self._loop()
        except (BrokenPipeError, EOFError, ConnectionResetError):
            log.warning("analysis worker: the runtime is gone; stopping")
        finally:
            self._stop.set()
            self._close_links()

    def _loop(self) -> None:
        now = self._now_ns() / 1e9
        next_housekeeping, next_status = now, now
        while not self._stop.is_set():
            wait = min(next_housekeeping, next_status) - self._now_ns() / 1e9
            item = self._queue.get(min(max(0.0, wait), 0.1))
            handled = 0
            while item is not None:
                for record in item.records:
                    self._record(item.bed, record, item.queued_ns)
                handled += 1
                item = self._queue.get_nowait() if handled < DRAIN_MAX else None
            now_ns = self._now_ns()
            if now_ns / 1e9 >= next_housekeeping:
                next_housekeeping = now_ns / 1e9 + HOUSEKEEPING_S
                self._technical(self._watch.link_stats(now_ns), now_ns)
                self._technical(self._watch.backpressure(now_ns), now_ns)
            if now_ns / 1e9 >= next_status:
                next_status = now_ns / 1e9 + STATUS_S
                self._send_status()

    def _record(self, index: int, record: Record, queued_ns: int) -> None:
        """One record through its bed's step; its outcome, if any, to the runtime."""
        out = analyse_record(self.beds[index], record, queued_ns, self._now_ns)
        if out is not None:
            self._send(wire.output_message(out))

    def _technical(self, conditions: list, now_ns: int) -> None:
        for cond in conditions:
            out = BedOutput(self._by_name[cond.bed], (cond,), {"arrived": now_ns})
            self._send(wire.output_message(out))

    def _send_status(self) -> None:
        with_ecg = self._now_ns() < self._ecg_until_ns
        beds = [
            wire.bed_status(bed, bed.link.stats().state.value, with_ecg=with_ecg)
            for bed in self.beds.values()
        ]
        self._send({"t": "status", "beds": beds, "abandoned": self._queue.abandoned})

    def _send(self, message: dict[str, Any]) -> None:
        self._conn.send_bytes(wire.encode(message))

    def _read_parent(self) -> None:
        """The parent's messages: ALARMs for the devices, view requests, start, stop. End of
        file (the parent died or closed the pipe) stops the worker."""
        try:
            while True:
                message = wire.decode(self._conn.recv_bytes())
                kind = message["t"]
                if kind == "alarm":
                    index, msg = wire.alarm_from(message)
                    bed = self.beds.get(index)
                    if bed is not None:
                        bed.link.send(msg)
                elif kind == "view":
                    self._ecg_until_ns = wire.view_until_ns(message)
                elif kind == "start":
                    self._go.set()
                elif kind == "stop":
                    break
                else:
                    log.error("analysis worker: unknown message %r from the runtime", kind)
        except (EOFError, OSError):
            log.warning("analysis worker: the runtime's pipe closed; stopping")
        except wire.WireError as exc:
            log.error("analysis worker: %s; stopping", exc)
        self._stop.set()

    def _close_links(self) -> None:
        for bed in self.beds.values():
            with contextlib.suppress(Exception):
                bed.link.send(stopped_alarm(self._now_ns() // 1000))
            bed.link.stop()
