"""The runtime's side of its analysis workers (`runtime.analysis_processes` > 1).

Beds are dealt round-robin over N forked workers (`worker.py`). Each worker owns its beds'
links, queue and analysis; the runtime keeps the one alarm manager, journal, sink set,
control socket and view. A reader thread per worker turns its pipe's JSON messages into items
of the runtime's own `RecordQueue`, so the runtime's processing loop handles them in order,
as it handles records in one process.

Why fork, and before any thread: the workers inherit the configuration and the link factory
as they are in memory (nothing is pickled: DESIGN.md's "no pickle anywhere"), start at once
(no re-import, no model loading in the parent: each worker builds its ONNX Runtime sessions
after the fork), and Vigil's targets are Linux edge devices, where fork is native. A process
that forks while other threads run may copy a lock one of them held; so the runtime forks its
workers first thing in `start()`, before its own threads (links, loop, control socket, view)
exist.

A worker that dies (a crash, the OOM killer, SIGKILL) gives each of its beds a high-priority
`link_lost` technical alarm with the evidence "analysis process died", and is forked again
after a back-off (1 s, doubling per restart of that worker, at most 60 s). That fork happens in
a threaded process, which the rule above avoids at start: it is safe enough here because the
runtime itself holds no serial port, ONNX Runtime session or thread pool, CPython re-creates
its own locks (import, logging) in the child, and the child touches nothing of the parent's
but the configuration and the link factory. The alarm ends once the new worker reports its
bed's link connected; what the dead worker had raised must be raised again by the fresh
analysis, else it ends as a restored alarm does after a restart (`AlarmManager.unconfirm`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from vigil.firmware_bridge.link import LinkState
from vigil.firmware_bridge.messages import AlarmMsg
from vigil.runtime.config import RuntimeConfig
from vigil.runtime.service import wire
from vigil.runtime.service.worker import AnalysisWorker, LinkFactory, worker_main

log = logging.getLogger(__name__)

WORKER_ITEM = -1  # queue index of a worker's messages that are not one bed's
VIEW_HOLD_S = 5.0  # a view request keeps the workers sending ECG tails this long
VIEW_RENEW_S = 1.0  # ... and is renewed at most this often while the view keeps drawing
JOIN_S = 5.0
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 60.0


def process_count(setting: int, beds: int) -> int:
    """Workers for `setting` (0: one per CPU core), never more than there are beds; 1 means
    no worker at all (the runtime analyses in its own process)."""
    wanted = setting if setting > 0 else (os.cpu_count() or 1)
    return max(1, min(wanted, beds))


@dataclass(frozen=True, slots=True)
class _RemoteStats:
    state: LinkState


class RemoteLink:
    """The runtime's stand-in for a link a worker owns: `send` writes an ALARM to that
    worker's pipe (the device sink's sender), `stats().state` is the last state it reported."""

    def __init__(self, worker: Worker, bed: int, port: str) -> None:
        self._worker = worker
        self._bed = bed
        self.port_name = port
        self.state = LinkState.CONNECTING
        self.session = None

    def send(self, msg: AlarmMsg) -> bool:
        return self._worker.send(wire.alarm_message(self._bed, msg))

    def stats(self) -> _RemoteStats:
        return _RemoteStats(self.state)

    def start(self) -> RemoteLink:
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        return None


@dataclass
class Worker:
    number: int
    beds: tuple[int, ...]
    process: Any  # multiprocessing's fork Process
    conn: Connection
    lock: threading.Lock = field(default_factory=threading.Lock)
    reader: threading.Thread | None = None
    restarts: int = 0

    @property
    def restart_delay_s(self) -> float:
        return min(RESTART_MAX_S, RESTART_FIRST_S * 2**self.restarts)

    def send(self, message: dict[str, Any]) -> bool:
        """Write one message; False when the worker is gone (its pipe is closed)."""
        try:
            with self.lock:
                self.conn.send_bytes(wire.encode(message))
        except (OSError, ValueError):
            return False
        return True


class Shards:
    """Fork the workers (`fork()`), then `start(put)` them once the runtime is ready;
    `stop()` ends them. `put(index, items)` is the runtime's queue: a bed's index, or
    WORKER_ITEM for a status or a death notice."""

    def __init__(self, config: RuntimeConfig, count: int, link_factory: LinkFactory) -> None:
        self._config = config
        self._count = count
        self._link_factory = link_factory
        self.workers: list[Worker] = []
        self._stopping = threading.Event()
        self.worker_class: type[AnalysisWorker] = AnalysisWorker  # a benchmark may time it
        self._put: Callable[[int, Sequence[dict[str, Any]]], None] = lambda index, items: None
        self._view_asked_ns: int | None = None

    def fork(self) -> None:
        beds = len(self._config.beds)
        for number in range(self._count):
            indices = tuple(range(number, beds, self._count))
            process, parent_end = self._fork_one(number, indices)
            self.workers.append(Worker(number, indices, process, parent_end))
            log.info(
                "analysis worker %d (pid %d): beds %s",
                number,
                process.pid,
                ", ".join(self._config.beds[i].name for i in indices),
            )

    def _fork_one(self, number: int, indices: tuple[int, ...]) -> tuple[Any, Connection]:
        context = multiprocessing.get_context("fork")
        parent_end, child_end = context.Pipe(duplex=True)
        others = [w.conn for w in self.workers if w.number != number]
        inherited = [*others, parent_end]
        process = context.Process(
            target=worker_main,
            args=(
                self._config,
                indices,
                child_end,
                inherited,
                self._link_factory,
            ),
            kwargs={"worker_class": self.worker_class},
            name=f"vigil-analysis-{number}",
            daemon=True,
        )
        process.start()
        child_end.close()
        return process, parent_end

    def start(self, put: Callable[[int, Sequence[dict[str, Any]]], None]) -> None:
        self._put = put
        for worker in self.workers:
            self._start_one(worker)

    def _start_one(self, worker: Worker) -> None:
        worker.reader = threading.Thread(
            target=self._read,
            args=(worker, worker.conn, worker.process, self._put),
            name=f"vigil-worker-{worker.number}",
            daemon=True,
        )
        worker.reader.start()
        worker.send({"t": "start"})

    def want_view(self, now_ns: int) -> None:
        """A live view is drawing: ask every worker for its beds' ECG tails for the next
        VIEW_HOLD_S (renewed at most every VIEW_RENEW_S; a restarted worker hears at the
        next renewal). Thread-safe: the view's thread calls it."""
        asked = self._view_asked_ns
        if asked is not None and now_ns - asked < VIEW_RENEW_S * 1e9:
            return
        self._view_asked_ns = now_ns
        message = wire.view_message(now_ns + round(VIEW_HOLD_S * 1e9))
        for worker in self.workers:
            worker.send(message)

    def restart(self, number: int) -> Worker:
        """Fork worker `number` again (after it died), with the same beds, and start it."""
        worker = self.workers[number]
        with worker.lock:
            worker.conn.close()
        process, conn = self._fork_one(number, worker.beds)
        worker.process, worker.conn = process, conn
        worker.restarts += 1
        log.warning("analysis worker %d restarted (pid %d)", number, process.pid)
        self._start_one(worker)
        return worker

    def _read(
        self,
        worker: Worker,
        conn: Connection,
        process: Any,
        put: Callable[[int, Sequence[dict[str, Any]]], None],
    ) -> None:
        """One worker process's messages into the runtime's queue; its end (EOF) becomes a
        "died" item unless the runtime is stopping."""
        error = ""
        try:
            while True:
                message = wire.decode(conn.recv_bytes())
                kind = message["t"]
                if kind == "out":
                    put(int(message["bed"]), (message,))
                else:
                    put(WORKER_ITEM, (message,))
        except (EOFError, OSError):
            pass
        except wire.WireError as exc:
            error = str(exc)
        if self._stopping.is_set():
            return
        process.join(1.0)
        code = process.exitcode
        put(
            WORKER_ITEM,
            (
                {
                    "t": "died",
                    "worker": worker.number,
                    "pid": process.pid,
                    "exitcode": code,
                    "error": error,
                },
            ),
        )

    def stop(self, timeout_s: float = JOIN_S) -> None:
        """Ask every worker to stop (each leaves VIGIL STOPPED on its devices and closes its
        links); kill what has not ended within `timeout_s`."""
        self._stopping.set()
        for worker in self.workers:
            worker.send({"t": "stop"})
        for worker in self.workers:
            worker.process.join(timeout_s)
            if worker.process.is_alive():
                log.error("analysis worker %d did not stop; killing it", worker.number)
                worker.process.kill()
                worker.process.join(1.0)
            worker.conn.close()
