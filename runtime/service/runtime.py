"""The live runtime, wired in one place.

    serial link (reader thread per bed) --RecordQueue (bounded, backpressure)--> processing loop:
        record -> BedAnalyzer (conditions) ---------------\
        LinkEvent / LinkStats -> LinkAlarms (technical) ---> AlarmManager -> Journal (commit)
        operator commands (device keys, socket, view) ----/                  -> sinks (signal)

One processing thread owns the analysis, the manager and the journal; reader threads only
enqueue; the control socket and the view hand commands over through a queue and wait for the
outcome. The order journal-then-sinks is the promise: an alarm any sink signalled is in the
journal (unless the journal itself failed, which is a technical alarm of its own, and the
alarm still reaches the sinks).

Each alarm event carries stage timestamps (`model.STAGES`): the completing sample's device
time mapped to host time, arrival of its bytes, enqueue, analysis, decision, manager,
journal commit, first sink. Processing delay = emitted - arrived.

With `runtime.analysis_processes` > 1 the links, queue and analysis of the beds run in forked
analysis workers (`shards.py`, `worker.py`), which send this loop each record's outcome over a
pipe (`wire.py`); everything from the alarm manager on stays here, in one process. Both modes
run the same per-record step (`bed_step.py`) and the same link and queue checks
(`bed_watch.py`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from vigil.firmware_bridge.link import LinkState, SerialLink
from vigil.records import Record
from vigil.runtime.alarms.manager import AlarmManager, UnknownAlarm
from vigil.runtime.alarms.model import AlarmEvent, OperatorCommand
from vigil.runtime.alarms.serialize import alarm_to_dict
from vigil.runtime.analysis.condition import Condition, ended
from vigil.runtime.config import RuntimeConfig
from vigil.runtime.journal import Journal, JournalWriteError
from vigil.runtime.link_alarms import OnOff
from vigil.runtime.service import wire
from vigil.runtime.service.bed import BedState, build_bed
from vigil.runtime.service.bed_step import BedOutput, analyse_record
from vigil.runtime.service.bed_watch import BedWatch
from vigil.runtime.service.record_queue import RecordQueue
from vigil.runtime.service.shards import RemoteLink, Shards, process_count
from vigil.runtime.service.worker import stopped_alarm
from vigil.runtime.sinks.base import Sink, SinkError
from vigil.runtime.sinks.device import DeviceSink
from vigil.runtime.view_model import RuntimeView

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 1.0  # link stats, queue pressure, restored alarms (trends commit every 5 s)
PRUNE_EVERY_S = 3600.0
RECONFIRM_S = 60.0  # device seconds of fresh analysis before restored alarms must re-appear
DRAIN_MAX = 256  # records handled per loop turn before alarms are delivered

Deliver = Callable[[Sequence[Record]], None]
LinkFactory = Callable[[str, int, Deliver], SerialLink]
"""(port, baudrate, deliver) -> a started-later link that calls deliver(records) per read."""


def _serial_link(port: str, baudrate: int, deliver: Deliver) -> SerialLink:
    return SerialLink(port, lambda r: deliver((r,)), on_records=deliver, baudrate=baudrate)


class VigilRuntime:
    """Every configured bed, analysed and alarmed. `start()`, then `stop()`; thread-safe
    `snapshot()` for the view and `submit()` for operator commands."""

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        sinks: Sequence[Sink] = (),
        link_factory: LinkFactory = _serial_link,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.config = config
        self._now_ns = clock_ns
        self._started_ns = clock_ns()
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._queue = RecordQueue(config.runtime.queue_records, self._stop, clock_ns)
        self._commands: queue.SimpleQueue[tuple[OperatorCommand, Future[str]]] = queue.SimpleQueue()
        self._external: queue.SimpleQueue[Condition] = queue.SimpleQueue()
        self._link_factory = link_factory
        self._extra_sinks = list(sinks)
        self._sinks: list[Sink] = []
        self._device_sink: DeviceSink | None = None
        self._beds: list[BedState] = []
        self._by_name: dict[str, BedState] = {}
        self.journal: Journal | None = None
        self.manager: AlarmManager | None = None
        self._thread: threading.Thread | None = None
        self._switches: dict[tuple[str, str, str], OnOff] = {}
        self._watch: BedWatch | None = None
        processes = process_count(config.runtime.analysis_processes, len(config.beds))
        self._shards = Shards(config, processes, link_factory) if processes > 1 else None
        self._restart_at: dict[int, float] = {}  # dead worker -> when to fork it again
        self.events_journaled = 0
        self.events_emitted = 0
        self.journal_failures = 0
        self.sink_failures = 0
        self.error: BaseException | None = None
        self.on_event: Callable[[AlarmEvent], None] | None = None  # for the demo's summary

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> VigilRuntime:
        """Open the journal (fails here, naming it, if it cannot be written), restore the
        alarms it holds, build each bed's analysis, then open the links. With analysis workers,
        they are forked first, before this process starts any thread (see shards.py)."""
        cfg = self.config
        if self._shards is not None:
            self._shards.fork()
        self.journal = Journal(
            cfg.journal.path,
            numerics_retention_s=cfg.journal.numerics_retention_days * 86400.0,
            clock_ns=self._now_ns,
        )
        self.manager = AlarmManager(
            cfg.alarms, next_id=self.journal.max_alarm_id() + 1, clock_ns=self._now_ns
        )
        remote = self._shards.workers if self._shards is not None else []
        owner = {index: worker for worker in remote for index in worker.beds}
        for index, bed_cfg in enumerate(cfg.beds):
            if index in owner:
                link: Any = RemoteLink(owner[index], index, bed_cfg.port)
                state = build_bed(index, cfg, link, self._now_ns, analyse=False)
            else:
                link = self._link_factory(bed_cfg.port, bed_cfg.baudrate, self._enqueue_for(index))
                state = build_bed(index, cfg, link, self._now_ns)
            self._beds.append(state)
            self._by_name[state.name] = state
        if self._shards is None:
            self._watch = BedWatch(dict(enumerate(self._beds)), self._queue, self._now_ns)
        if cfg.sinks.device:
            self._device_sink = DeviceSink(
                {b.name: b.link.send for b in self._beds},
                clock_us=lambda: self._now_ns() // 1000,
            )
            self._sinks.append(self._device_sink)
        self._sinks.extend(self._extra_sinks)
        restored = self.manager.restore(self.journal.open_alarms(), self._now_s())
        if restored:
            log.warning("restored %d alarms from %s", len(restored), cfg.journal.path)
            self._deliver(list(restored))
        if self._shards is not None:
            self._shards.start(self._queue.put)
        for bed in self._beds:
            bed.link.start()
        self._thread = threading.Thread(target=self._run, name="vigil-process", daemon=True)
        self._thread.start()
        log.info(
            "serving %d bed(s); journal %s",
            len(self._beds),
            cfg.journal.path,
        )
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop reading, finish the loop, leave a 'Vigil stopped' technical alarm on each
        device, close the links and the journal. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._shards is not None:
            self._shards.stop()  # each worker leaves VIGIL STOPPED on its devices
        for bed in self._beds:
            if isinstance(bed.link, RemoteLink):
                continue
            with contextlib.suppress(Exception):
                bed.link.send(stopped_alarm(self._now_ns() // 1000))
            bed.link.stop()
        for sink in self._sinks:
            with contextlib.suppress(Exception):
                sink.close()
        if self.journal is not None:
            self.journal.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ thread-safe API
    def submit(self, cmd: OperatorCommand, timeout_s: float = 2.0) -> str:
        """Run an operator command on the processing loop; returns its outcome line."""
        done: Future[str] = Future()
        self._commands.put((cmd, done))
        return done.result(timeout=timeout_s)

    def submit_condition(self, condition: Condition) -> None:
        """Hand a condition decided elsewhere (the ultrasound pipeline's findings) to the
        alarm manager: journaled and signalled like the analysis' own. Thread-safe."""
        self._external.put(condition)

    def control_request(self, request: dict[str, Any], actor: str) -> dict[str, Any]:
        """The control socket's handler (see vigil.runtime.control)."""
        op = request.get("op")
        if op == "alarms":
            with self._lock:
                manager = self.manager
                alarms = manager.alarms() if manager else []
            return {"ok": True, "alarms": [alarm_to_dict(a) for a in alarms]}
        if op == "ack":
            cmd = OperatorCommand(
                "ack",
                str(request.get("bed", "")),
                actor,
                alarm_id=int(request.get("alarm_id", 0)),
            )
        elif op == "pause":
            cmd = OperatorCommand(
                "audio_pause",
                str(request.get("bed", "")),
                actor,
                seconds=float(request.get("seconds") or 0.0),
            )
        else:
            return {"ok": False, "error": f"unknown op {op!r} (ack, pause, alarms)"}
        outcome = self.submit(cmd)
        return {"ok": outcome.startswith("ok"), "outcome": outcome}

    def snapshot(self) -> RuntimeView:
        """What a live view draws; with analysis workers, calling it is also what makes them
        send their beds' ECG traces (`Shards.want_view`), so the first view of a worker's
        bed may come without a trace for up to half a second."""
        if self._shards is not None:
            self._shards.want_view(self._now_ns())
        with self._lock:
            now = self._now_ns()
            manager = self.manager
            beds = []
            for bed in self._beds:
                alarms = [a for a in manager.alarms(bed.name) if a.state.value != "pending"]
                beds.append(
                    bed.view(alarms, manager.signal(bed.name), now, bed.link.stats().state.value)
                )
            notes = []
            if self.journal_failures:
                notes.append(f"journal write failures: {self.journal_failures}")
            if self.sink_failures:
                notes.append(f"sink failures: {self.sink_failures}")
            return RuntimeView(
                beds=tuple(beds),
                uptime_s=(now - self._started_ns) / 1e9,
                journal=str(self.config.journal.path),
                events_journaled=self.events_journaled,
                technical_notes=tuple(notes),
            )

    def bed_names(self) -> list[str]:
        return [b.name for b in self._beds]

    # ------------------------------------------------------------------ loop
    def _enqueue_for(self, index: int) -> Deliver:
        put = self._queue.put

        def deliver(records: Sequence[Record]) -> None:
            put(index, records)

        return deliver

    def _now_s(self) -> float:
        return self._now_ns() / 1e9

    def _run(self) -> None:
        next_housekeeping = self._now_s()
        next_prune = self._now_s() + PRUNE_EVERY_S
        try:
            while not self._stop.is_set():
                item = self._queue.get(self._wait_s(next_housekeeping))
                with self._lock:
                    batch: list[AlarmEvent] = []
                    handled = 0
                    while item is not None:
                        for record in item.records:
                            self._record(item.bed, record, item.queued_ns, batch)
                        handled += 1
                        item = self._queue.get_nowait() if handled < DRAIN_MAX else None
                    self._run_commands(batch)
                    now_s = self._now_s()
                    if now_s >= next_housekeeping:
                        next_housekeeping = now_s + HOUSEKEEPING_S
                        self._housekeeping(batch)
                    if now_s >= next_prune:
                        next_prune = now_s + PRUNE_EVERY_S
                        self._prune()
                    batch.extend(self.manager.tick(self._now_s()))
                    if batch:
                        self._deliver(batch)
        except BaseException as exc:
            self.error = exc
            log.exception("processing loop died")
            raise

    def _wait_s(self, next_housekeeping: float) -> float:
        now = self._now_s()
        wake = next_housekeeping
        deadline = self.manager.next_deadline()
        if deadline is not None:
            wake = min(wake, deadline)
        if not self._commands.empty() or not self._external.empty():
            return 0.0
        return min(max(0.0, wake - now), 0.1)

    def _record(self, index: int, record: Any, queued_ns: int, batch: list[AlarmEvent]) -> None:
        if self._shards is not None:
            self._worker_message(record, batch)
            return
        out = analyse_record(self._beds[index], record, queued_ns, self._now_ns)
        if out is not None:
            self._apply(out, batch)

    def _apply(self, out: BedOutput, batch: list[AlarmEvent]) -> None:
        """One record's outcome, analysed here or in a worker: the same effects in order."""
        bed = self._beds[out.bed]
        if out.hello and self._device_sink is not None:
            self._device_sink.resend_all(self.manager.alarms(bed.name), bed.name)
        if out.action is not None:
            self._command(out.action, batch)
            return
        if out.numerics is not None:
            self._journal_numerics(bed, *out.numerics)
        if out.conditions:
            self._conditions(out.conditions, out.stamps, batch)

    def _worker_message(self, message: dict[str, Any], batch: list[AlarmEvent]) -> None:
        kind = message.get("t")
        if kind == "out":
            self._apply(wire.output_from(message), batch)
        elif kind == "status":
            for status in message["beds"]:
                bed = self._beds[int(status["bed"])]
                state = LinkState(wire.show_status(bed, status))
                if isinstance(bed.link, RemoteLink):
                    bed.link.state = state
                switch = self._switches.get(("link_lost", bed.name, "worker"))
                if state is LinkState.CONNECTED and switch is not None and switch.active:
                    ended = switch.update(False, bed.device_s, ended_by="analysis restarted")
                    self._conditions(ended, {"arrived": self._now_ns()}, batch)
        elif kind == "died":
            self._worker_died(message, batch)
        else:
            log.error("unknown message %r from an analysis worker", kind)

    def _worker_died(self, message: dict[str, Any], batch: list[AlarmEvent]) -> None:
        """Its beds are no longer monitored: a high-priority technical alarm on each, and a
        fork of a fresh worker after a back-off (shards.py). What the dead worker raised must be
        raised again by the fresh analysis, else it ends as after a restart (`_reconfirm`)."""
        number = int(message.get("worker", -1))
        worker = self._shards.workers[number]
        self._restart_at[number] = self._now_s() + worker.restart_delay_s
        log.error(
            "analysis worker %d (pid %s) died (exit code %s%s); beds %s are not monitored",
            number,
            message.get("pid"),
            message.get("exitcode"),
            f", {message['error']}" if message.get("error") else "",
            ", ".join(self._beds[i].name for i in worker.beds),
        )
        now_ns = self._now_ns()
        for index in worker.beds:
            bed = self._beds[index]
            if isinstance(bed.link, RemoteLink):
                bed.link.state = LinkState.DISCONNECTED
            self.manager.unconfirm(bed.name)
            bed.reconfirmed, bed.first_device_s = False, None
            conditions = self._switch("link_lost", bed.name, "worker").update(
                True,
                bed.device_s,
                cause="analysis process died",
                pid=message.get("pid"),
                exitcode=message.get("exitcode"),
            )
            self._conditions(conditions, {"arrived": now_ns}, batch)

    def _conditions(
        self, conditions: Sequence[Condition], stamps: dict[str, int], batch: list[AlarmEvent]
    ) -> None:
        now_s = self._now_s()
        for cond in conditions:
            events = self.manager.on_condition(cond, now_s)
            for event in events:
                event.stamps.update(stamps)
                if cond.decided_ns:
                    event.stamps["decided"] = cond.decided_ns
            batch.extend(events)

    def _run_commands(self, batch: list[AlarmEvent]) -> None:
        while not self._external.empty():
            self._conditions([self._external.get_nowait()], {"arrived": self._now_ns()}, batch)
        while not self._commands.empty():  # this loop is the only reader
            cmd, done = self._commands.get_nowait()
            outcome = self._command(cmd, batch)
            if not done.done():
                done.set_result(outcome)

    def _command(self, cmd: OperatorCommand, batch: list[AlarmEvent]) -> str:
        if cmd.action == "ack" and cmd.alarm_id and not cmd.bed:
            alarm = self.manager.alarm(cmd.alarm_id)
            if alarm is not None:
                cmd = OperatorCommand(cmd.action, alarm.bed, cmd.actor, alarm_id=cmd.alarm_id)
        if cmd.bed and cmd.bed not in self._by_name:
            outcome = f"unknown bed {cmd.bed!r} (beds: {', '.join(self._by_name)})"
        else:
            try:
                events = self.manager.command(cmd, self._now_s())
                batch.extend(events)
                outcome = f"ok: {cmd.action} {cmd.bed or ''} ({len(events)} alarm events)".replace(
                    "  ", " "
                )
            except (UnknownAlarm, ValueError) as exc:
                outcome = str(exc)
        log.info("operator %s by %s: %s", cmd.action, cmd.actor, outcome)
        try:
            self.journal.record_action(cmd, self._now_s(), outcome)
        except JournalWriteError as exc:
            self._journal_failed(exc, batch)
        return outcome

    def _housekeeping(self, batch: list[AlarmEvent]) -> None:
        """Link statistics and queue pressure of the beds read here (a worker checks its own
        and sends what they raise), and restored alarms not raised again."""
        now_ns = self._now_ns()
        stamps = {"arrived": now_ns}
        if self._watch is not None:
            self._conditions(self._watch.link_stats(now_ns), dict(stamps), batch)
        for bed in self._beds:
            self._reconfirm(bed, batch)
        self._restart_workers()
        if self._watch is not None:
            self._conditions(self._watch.backpressure(now_ns), dict(stamps), batch)

    def _restart_workers(self) -> None:
        now_s = self._now_s()
        for number, at in list(self._restart_at.items()):
            if now_s < at:
                continue
            del self._restart_at[number]
            try:
                self._shards.restart(number)
            except OSError as exc:  # fork refused (memory, process limit): try again later
                worker = self._shards.workers[number]
                worker.restarts += 1
                self._restart_at[number] = now_s + worker.restart_delay_s
                log.error("analysis worker %d could not be restarted: %s", number, exc)

    def _reconfirm(self, bed: BedState, batch: list[AlarmEvent]) -> None:
        """A restored alarm whose condition the fresh analysis has not raised again within
        RECONFIRM_S of data ended while Vigil was down: end its condition (a latching alarm
        stays latched until acknowledged, as it would have)."""
        if bed.reconfirmed or bed.first_device_s is None:
            return
        if bed.device_s - bed.first_device_s < RECONFIRM_S:
            return
        bed.reconfirmed = True
        ends = [
            ended(
                a.condition,
                max(bed.device_s, a.condition.onset_s),
                decided_at_s=bed.device_s,
                decided_ns=self._now_ns(),
                evidence={"ended_by": f"not raised again in {RECONFIRM_S:g} s after a restart"},
            )
            for a in self.manager.unconfirmed(bed.name)
        ]
        self._conditions(ends, {"arrived": self._now_ns()}, batch)

    def _prune(self) -> None:
        try:
            removed = self.journal.prune()
        except JournalWriteError as exc:
            log.error("journal prune failed: %s", exc)
            return
        if removed:
            log.info("journal: pruned %d numerics rows past retention", removed)

    def _journal_numerics(self, bed: BedState, device_s: float, values: dict[str, float]) -> None:
        try:
            self.journal.record_numerics(bed.name, device_s, values)
        except JournalWriteError as exc:
            log.error("journal: numerics of %s not written: %s", bed.name, exc)

    def _switch(self, kind: str, bed: str, key: str = "") -> OnOff:
        switch = self._switches.get((kind, bed, key))
        if switch is None:
            switch = OnOff(kind, bed, key=key, clock_ns=self._now_ns)
            self._switches[(kind, bed, key)] = switch
        return switch

    # ------------------------------------------------------------------ delivery
    def _deliver(self, batch: list[AlarmEvent]) -> None:
        """Journal first, then every sink; a failing journal is itself alarmed and the
        events still reach the sinks."""
        seqs: list[int] | None = None
        try:
            seqs = self.journal.record_events(batch)
            self.events_journaled += len(batch)
            batch.extend(self._journal_recovered())
        except JournalWriteError as exc:
            self._journal_failed(exc, batch)
        signals = {e.bed: self.manager.signal(e.bed) for e in batch}
        emitted = False
        for sink in self._sinks:
            try:
                sink.emit(batch, signals)
            except (SinkError, OSError) as exc:
                self.sink_failures += 1
                log.error("sink %s failed: %s", getattr(sink, "name", sink), exc)
                continue
            if not emitted:
                emitted = True
                now = self._now_ns()
                for event in batch:
                    event.stamps["emitted"] = now
        self.events_emitted += len(batch) if emitted else 0
        if self.on_event is not None:
            for event in batch:
                self.on_event(event)
        if seqs:
            with contextlib.suppress(JournalWriteError):
                self.journal.record_delivery(seqs, [e.stamps for e in batch[: len(seqs)]])

    def _journal_failed(self, exc: Exception, batch: list[AlarmEvent]) -> None:
        self.journal_failures += 1
        log.error("journal write failed: %s", exc)
        now_ns = self._now_ns()
        for bed in self._beds:
            conditions = self._switch("journal_failed", bed.name).update(
                True, bed.device_s, error=str(exc), journal=str(self.journal.path)
            )
            self._conditions(conditions, {"arrived": now_ns}, batch)

    def _journal_recovered(self) -> list[AlarmEvent]:
        extra: list[AlarmEvent] = []
        now_ns = self._now_ns()
        for bed in self._beds:
            switch = self._switches.get(("journal_failed", bed.name, ""))
            if switch is not None and switch.active is not None:
                self._conditions(switch.update(False, bed.device_s), {"arrived": now_ns}, extra)
        if extra:
            self.journal.record_events(extra)
            self.events_journaled += len(extra)
        return extra
