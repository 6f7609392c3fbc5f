"""Runtime latency and capacity: the live `VigilRuntime` as beds grow, beside the bare pipeline.

Traffic. Every bed is a simulated monitor sending the default channel set (3 ECG leads at
500 Hz, pleth 125 Hz, respiration 62.5 Hz, 1 Hz numerics, status and heartbeat: about 57 % of
115200 baud) in real time, in 40 ms slots. The monitors' bytes are rendered BEFORE any timing
and replayed: rendering one bed-second costs about as much CPU as analysing it, so rendering
live would halve the capacity measured. Up to `STREAMS` distinct streams are rendered (bed i
replays stream i mod STREAMS; each bed has its own link, decoder, session and analysis):
`vt_early` (sinus, then ventricular tachycardia from `warmup + 2` s, so alarms happen within a
step), `normal`, `pvc_rich` (every beat through the ONNX beat classifier), `normal`, ...

Links. In process, `PacedLink` implements what the runtime uses of `SerialLink` (start, stop,
send, stats, session, port_name); its thread (one per bed, as the real link has) sleeps until
each slot is due, stamps `arrival_ns`, and feeds the bytes through the real `Decoder` and
`DeviceSession` to the runtime's `on_record`. Beds connect staggered over the first half of the
warm-up (each bed's first ECG chunk loads its beat model on the processing loop). The pty run
replays the same bytes onto `PtyTransport`s read by the real `SerialLink`.

Latency, per analysed record (waveform chunk, numerics, status), through `TimedRuntime`, a
subclass that times `_record` after the base method returns (the runtime's code path is
unchanged): `due` = the real time its slot's bytes were due on the wire (the slot's end after
the bed's start), `arrival` = the link's `arrival_ns`. Reported: latency from due (gated: a
reader thread starved of the GIL counts against the runtime, as a real port's buffer would
fill), latency from arrival (the runtime's own stamp) and the reader's lag (arrival - due).
Records of the warm-up are left out of the percentiles. Alarms: processing delay
(`emitted - arrived`, AlarmEvent.stamps) of every alarm event that has both.

Capacity: beds step 1, 8, 16, 32, ... each in a fresh runtime and journal, for `--seconds`
after the warm-up; a step passes when p99 from due <= 100 ms and nothing was lost: every
sample sent was decoded and analysed, no queue put blocked after the warm-up (no
`queue_backpressure`), none abandoned, the queue drained. Stepping stops at the first fail.

Throughput: the same bytes for `--throughput-beds` beds, unpaced. Bare: Decoder +
DeviceSession + BedAnalyzer in one loop, slot by slot over the beds (no threads, queue or
journal). Runtime: PacedLink without pacing (each link pushes as fast as the queue takes),
timed until the last record is analysed. Records per second of wall time (the target) and of
process CPU time; best of `--repeats`, bare and runtime alternating.

Processes (`--processes N`, N > 1): the in-process capacity steps run with
`runtime.analysis_processes = N`. The PacedLinks are made by the same link factory, inherited
by each forked analysis worker; each worker runs `TimedWorker` (the real `AnalysisWorker`,
timing each record after the base `_record`, as `TimedRuntime` does in one process) and, once
its links have sent everything and its records are analysed, writes what it measured to a
JSON file that the step merges. Slots start at a fixed time set before the fork (workers
load their models in the first of it, inside the warm-up). CPU is the runtime's process plus
its workers. The pty steps and the throughput comparison stay in one process.

CPU once warm. Each step also reports `steady_cpu_ms_per_bed_s`: CPU milliseconds per
bed-second while every bed is past its warm-up and still sending (`CpuWindow`: model loading
and the staggered connects left out), split into the processing loop's thread, the link
threads (each PacedLink reads its own thread's CPU) and the rest; with --processes, for the
runtime's process and each worker. `--profile BEDS` runs only BEDS beds, twice: once for
that split, once with cProfile switched on by each processing loop over the same window
(the runtime's, and each worker's), and lists what the loops ran: in the analysis
(`BedAnalyzer.feed`) and the top functions by own time. cProfile slows what it watches:
compare its shares, not its totals, with the unprofiled CPU.

Targets (issue 7): 1 bed p99 <= 50 ms; capacity >= 64 beds (aim 256) at p99 <= 100 ms;
runtime >= 0.9 of the bare pipeline's throughput. Shared machines are noisy: the JSON keeps
os.getloadavg() before and after.

    python benchmarks/runtime_latency.py [--quick] [--seconds 20] [--warmup 5] [--beds-max 512]
        [--no-pty] [--throughput-beds 16] [--repeats 3] [--processes N] [--out DIR]
    python benchmarks/runtime_latency.py --profile BEDS [--processes N] [--seconds S]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import platform
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from plotting import pyplot_or_none

from vigil.firmware_bridge.codec import Decoder
from vigil.firmware_bridge.link import LinkState, LinkStats, SerialLink, link_stats
from vigil.firmware_bridge.protocol import WAVEFORM_PERIOD_S
from vigil.firmware_bridge.session import DeviceSession
from vigil.firmware_bridge.simulator.channels import default_rates
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.sources import SyntheticSource
from vigil.firmware_bridge.simulator.transports import PtyTransport
from vigil.records import DeviceStatus, LinkEvent, Numerics, Record, WaveformChunk
from vigil.runtime.alarms.model import AlarmEvent, EventKind
from vigil.runtime.analysis.bed_analyzer import BedAnalyzer
from vigil.runtime.analysis.settings import AnalysisSettings
from vigil.runtime.config import RuntimeConfig, config_in_folder
from vigil.runtime.service.record_queue import RecordQueue
from vigil.runtime.service.runtime import Deliver, VigilRuntime
from vigil.runtime.service.worker import AnalysisWorker

SLOT_NS = int(WAVEFORM_PERIOD_S * 1_000_000_000)  # 40 ms
SLOTS_PER_S = int(1 / WAVEFORM_PERIOD_S)
STREAMS = 8
SCENARIOS = ("vt_early", "normal", "pvc_rich", "normal")
ALARM_AFTER_WARMUP_S = 2.0
BED_STEPS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
P99_LIMIT_MS = 100.0
ONE_BED_P99_MS = 50.0
BEDS_TARGET = 64
BEDS_AIM = 256
RATIO_TARGET = 0.9
DRAIN_TIMEOUT_S = 20.0
REFINE_BEDS = 8  # bisect the capacity down to this many beds
WORKER_START_S = 3.0  # with --processes: the first slot is due this long after the fork
ANALYSED = (WaveformChunk, Numerics, DeviceStatus)
PROFILE_TOP = 20
PROFILE_WAITS = (  # a processing loop blocked for work: not CPU
    "<method 'get' of '_queue.SimpleQueue' objects>",
    "<method 'acquire' of '_thread.lock' objects>",
)

now_ns = time.monotonic_ns


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -------------------------------------------------------------------------------- traffic
@dataclass(frozen=True, slots=True)
class Stream:
    """One monitor's bytes, slot by slot (slot k: device time [k, k+1) x 40 ms)."""

    scenario: str
    seed: int
    slots: tuple[bytes, ...]
    samples_through: tuple[int, ...]  # waveform samples in slots 0..k

    def samples(self, slots: int) -> int:
        return self.samples_through[slots - 1] if slots else 0


def vt_early_toml(onset_s: float) -> str:
    return (
        'name = "vt_early"\n'
        f'description = "Sinus 75/min, then sustained VT at 180/min from {onset_s:g} s."\n'
        "[initial]\nrate = 75\n"
        f'[[event]]\nat = {onset_s:.1f}\nrhythm = "vt"\nrate = 180\n'
    )


def render_stream(scenario: str, seed: int, slots: int) -> Stream:
    monitor = SimulatedMonitor(
        SyntheticSource(scenario, seed=seed, rates=default_rates()),
        seed=seed,
        device_id=f"BENCH-{seed:04d}",
    )
    data = tuple(monitor.frames_until((k + 1) * WAVEFORM_PERIOD_S) for k in range(slots))
    decoder, session, through = Decoder(from_device=True), DeviceSession("render"), []
    for chunk in data:
        for msg in decoder.feed(chunk):
            session.handle(msg, 0)
        through.append(session.counters.samples)
    return Stream(Path(scenario).stem, seed, data, tuple(through))


def render_streams(count: int, slots: int, scenario_dir: Path, warmup_s: float) -> list[Stream]:
    vt = scenario_dir / "vt_early.toml"
    vt.write_text(vt_early_toml(warmup_s + ALARM_AFTER_WARMUP_S))
    names = [str(vt) if s == "vt_early" else s for s in SCENARIOS]
    return [render_stream(names[j % len(names)], j + 1, slots) for j in range(count)]


# -------------------------------------------------------------------------------- links
class PacedLink:
    """A simulated monitor's link in process: the real codec and session behind a thread that
    replays a stream, paced in real time from `t0_ns` (set before `go`) or, unpaced, as fast
    as the runtime's queue takes the records."""

    def __init__(
        self,
        name: str,
        stream: Stream,
        slots: int,
        on_records: Deliver,
        go: threading.Event,
        *,
        paced: bool = True,
    ) -> None:
        self.port_name = name
        self.decoder = Decoder(from_device=True)
        self.session = DeviceSession(name)
        self.stream = stream
        self.slots = slots
        self.t0_ns = 0
        self.slots_sent = 0
        self.bytes_sent = 0
        self.frames_received = 0  # ALARM messages the runtime sent to the "device"
        self.cpu_s = 0.0  # this link thread's CPU time, from `go` to its last slot
        self.window_ns: tuple[int, int] | None = None  # the steady CPU window (CpuWindow)
        self.window_cpu: list[float | None] = [None, None]  # thread CPU s at its two ends
        self._on_records = on_records
        self._go = go
        self._paced = paced
        self._stop = threading.Event()
        self._state = LinkState.CONNECTING
        self._connects = 0
        self._last_byte_ns: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> PacedLink:
        self._thread = threading.Thread(target=self._run, name=self.port_name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._state = LinkState.STOPPED

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def send(self, msg: object) -> bool:
        self.frames_received += 1
        return True

    def stats(self) -> LinkStats:
        last = self._last_byte_ns
        return link_stats(
            self.port_name,
            self._state,
            self.decoder,
            self.session,
            connects=self._connects,
            last_byte_age_s=None if last is None else (now_ns() - last) / 1e9,
        )

    def _run(self) -> None:
        while not self._go.wait(0.1):
            if self._stop.is_set():
                return
        cpu0 = time.thread_time()
        try:
            self._play()
        finally:
            self.cpu_s = time.thread_time() - cpu0
            self._state = LinkState.STOPPED

    def _play(self) -> None:
        stop, feed, handle = self._stop, self.decoder.feed, self.session.handle
        deliver, window, window_cpu = self._on_records, self.window_ns, self.window_cpu
        if self._paced:
            stop.wait(max(0.0, (self.t0_ns - now_ns()) / 1e9))
        self._connects, self._state = 1, LinkState.CONNECTED
        deliver([LinkEvent(self.port_name, "connected", now_ns())])
        for k in range(self.slots):
            if self._paced:
                wait_ns = self.t0_ns + (k + 1) * SLOT_NS - now_ns()
                if wait_ns > 0 and stop.wait(wait_ns / 1e9):
                    break
            if stop.is_set():
                break
            data = self.stream.slots[k]
            arrival = now_ns()
            self._last_byte_ns = arrival
            if window is not None:  # this thread's CPU is read in this thread
                if window_cpu[0] is None and arrival >= window[0]:
                    window_cpu[0] = time.thread_time()
                elif window_cpu[1] is None and arrival >= window[1]:
                    window_cpu[1] = time.thread_time()
            records = [r for msg in feed(data) for r in handle(msg, arrival)]
            if records:
                deliver(records)  # one hand-over per read, as SerialLink(on_records=...) does
            self.slots_sent = k + 1
            self.bytes_sent += len(data)


class PtyPacer:
    """Replays a stream onto a pty in real time from `t0_ns`; drains what the host sends."""

    def __init__(self, transport: PtyTransport, stream: Stream, slots: int) -> None:
        self.transport = transport
        self.stream = stream
        self.slots = slots
        self.t0_ns = 0
        self.slots_sent = 0
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, t0_ns: int) -> None:
        self.t0_ns = t0_ns
        self._thread = threading.Thread(target=self._run, name="pty pacer", daemon=True)
        self._thread.start()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def _run(self) -> None:
        for k in range(self.slots):
            wait_ns = self.t0_ns + (k + 1) * SLOT_NS - now_ns()
            if wait_ns > 0 and self._stop.wait(wait_ns / 1e9):
                return
            data = self.stream.slots[k]
            self.transport.write(data)
            self.transport.read()
            self.slots_sent = k + 1
            self.bytes_sent += len(data)


# -------------------------------------------------------------------------------- probes
@dataclass
class Probe:
    """What `TimedRuntime` measures; `t0_ns[bed]` is when the bed's slot 0 began."""

    beds: int
    warmup_slots: int
    timed: bool = True  # False: count only (the unpaced throughput run)
    t0_ns: list[int] = field(default_factory=list)
    analysed: list[int] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    from_due: list[int] = field(default_factory=list)
    from_arrival: list[int] = field(default_factory=list)
    reader_lag: list[int] = field(default_factory=list)
    due_ns: list[int] = field(default_factory=list)
    beds_of: list[int] = field(default_factory=list)
    warmup_worst_ns: int = 0
    last_done_ns: int = 0
    loop_turns: int = 0  # processing-loop turns (each drains what the queue holds)
    events: list[AlarmEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.t0_ns = [0] * self.beds
        self.analysed = [0] * self.beds
        self.samples = [0] * self.beds

    def record(self, bed: int, record: Record, done: int) -> None:
        self.analysed[bed] += 1
        self.last_done_ns = done
        if not self.timed:
            return
        if isinstance(record, WaveformChunk):
            n = len(record.samples)
            self.samples[bed] += n
            rate = record.rate
            slot = (record.first_index + n - 1) * SLOTS_PER_S * rate.denominator // rate.numerator
        else:  # numerics and status are stamped with their slot's end
            slot = record.device_time_us * SLOTS_PER_S // 1_000_000 - 1
        due = self.t0_ns[bed] + (slot + 1) * SLOT_NS
        if slot + 1 <= self.warmup_slots:
            self.warmup_worst_ns = max(self.warmup_worst_ns, done - due)
            return
        self.from_due.append(done - due)
        self.from_arrival.append(done - record.arrival_ns)
        self.reader_lag.append(record.arrival_ns - due)
        self.due_ns.append(due)
        self.beds_of.append(bed)

    def worst(self, start_ns: int, n: int = 5) -> list[dict[str, float]]:
        """The `n` slowest measured records: when they were due (s after the start), bed."""
        lat = np.asarray(self.from_due)
        order = np.argsort(lat)[::-1][:n]
        return [
            {
                "due_s": (self.due_ns[k] - start_ns) / 1e9,
                "bed": self.beds_of[k] + 1,
                "latency_ms": float(lat[k]) / 1e6,
            }
            for k in order
        ]


class BlockedLog(RecordQueue):
    """The runtime's queue, keeping when its readers found it full (the queue_backpressure
    cause), read once a second by the runtime's housekeeping."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[tuple[int, int]] = []  # (host ns, blocked puts since last read)

    def take_blocked(self) -> dict[int, int]:
        blocked = super().take_blocked()
        self.history.append((now_ns(), sum(blocked.values())))
        return blocked


# -------------------------------------------------------------------------------- CPU window
@dataclass
class CpuWindow:
    """Where one process's CPU goes while every bed is past its warm-up and still sending:
    from the last bed's warm-up end to one slot before the first bed's last slot (model
    loading and the staggered connects stay out). A watcher thread reads the process's and
    the processing loop's CPU at both ends; each PacedLink reads its own (`window_cpu`)."""

    start_ns: int
    end_ns: int
    beds: int
    process_s: list[float] = field(default_factory=list)
    loop_s: list[float | None] = field(default_factory=list)

    @classmethod
    def of(cls, run: StepRun, beds: int) -> CpuWindow | None:
        start = run.start_ns + round(run.warmup_s * 1e9) + round(run.warmup_s / 2 * 1e9)
        end = run.start_ns + round((run.warmup_s + run.seconds) * 1e9) - SLOT_NS
        return cls(start, end, beds) if end - start >= 10 * SLOT_NS else None

    @property
    def ns(self) -> tuple[int, int]:
        return self.start_ns, self.end_ns

    def watch(self, loop: Any) -> None:
        """Read the process's CPU and `loop()`'s thread at both ends (in a daemon thread)."""

        def run() -> None:
            for at in self.ns:
                time.sleep(max(0.0, (at - now_ns()) / 1e9))
                self.process_s.append(time.process_time())
                self.loop_s.append(thread_cpu_s(loop()))

        threading.Thread(target=run, name="cpu window", daemon=True).start()

    def cpu_s(self, links: Sequence[Any]) -> dict[str, Any]:
        """CPU seconds over the window: process, loop, links (None where not read)."""
        if len(self.process_s) < 2:
            return {}
        loop = None if None in self.loop_s else self.loop_s[1] - self.loop_s[0]  # type: ignore[operator]
        spans = [getattr(link, "window_cpu", [None, None]) for link in links]
        ok = spans and all(None not in span for span in spans)
        return {
            "window_s": (self.end_ns - self.start_ns) / 1e9,
            "beds": self.beds,
            "process_s": self.process_s[1] - self.process_s[0],
            "loop_s": loop,
            "links_s": sum(b - a for a, b in spans) if ok else None,
        }


def ms_per_bed_s(cpu: dict[str, Any]) -> dict[str, float | None]:
    """`CpuWindow.cpu_s` as milliseconds of CPU per bed-second, with what is neither the
    processing loop nor the links ("other": pipe readers, journal, the benchmark's threads)."""
    if not cpu:
        return {}
    bed_s = cpu["beds"] * cpu["window_s"]
    out = {k[:-2]: None if cpu[k] is None else 1000 * cpu[k] / bed_s
           for k in ("process_s", "loop_s", "links_s")}  # fmt: skip
    known = [out["loop"], out["links"]]
    out["other"] = out["process"] - sum(x for x in known if x is not None)
    return out


class WindowProfile:
    """cProfile of one thread over a CpuWindow, switched on and off by that thread itself
    (`tick` from its loop): what its CPU goes to once warm, per bed-second."""

    def __init__(self, window: tuple[int, int], beds: int) -> None:
        self.window, self.beds = window, beds
        self.profile: cProfile.Profile | None = None
        self.done = False

    def tick(self, now: int) -> None:
        if self.done:
            return
        if self.profile is None:
            if now >= self.window[0]:
                self.profile = cProfile.Profile()
                self.profile.enable()
        elif now >= self.window[1]:
            self.profile.disable()
            self.done = True

    def top(self, n: int = PROFILE_TOP) -> dict[str, Any]:
        """In ms per bed-second of the window (the profiler's own overhead included: compare
        shares, not totals, with unprofiled CPU): the time the thread ran (all own time but
        its blocking waits for work), of which in the beds' analysis (`BedAnalyzer.feed`),
        the waits, and the `n` functions with the most own time, waits left out."""
        if self.profile is None:
            return {}
        per_bed_s = 1000 / (self.beds * (self.window[1] - self.window[0]) / 1e9)
        stats = pstats.Stats(self.profile).stats  # type: ignore[attr-defined]
        root = str(Path(__file__).resolve().parents[1]) + os.sep
        rows = []
        waiting = analysis = total = 0.0
        for (file, line, name), (_, calls, own, cum, _) in stats.items():
            total += own
            if name in PROFILE_WAITS:
                waiting += own
                continue
            where = f"{file.replace(root, '')}:{line}({name})"
            if where.startswith("runtime/analysis/bed_analyzer.py") and name == "feed":
                analysis = cum
            rows.append((own, cum, calls, where))
        rows.sort(reverse=True)
        return {
            "ran_ms_per_bed_s": (total - waiting) * per_bed_s,
            "analysis_ms_per_bed_s": analysis * per_bed_s,
            "waiting_ms_per_bed_s": waiting * per_bed_s,
            "functions": [
                {
                    "function": where,
                    "calls": calls,
                    "own_ms_per_bed_s": own * per_bed_s,
                    "cum_ms_per_bed_s": cum * per_bed_s,
                }
                for own, cum, calls, where in rows[:n]
            ],
        }


class TimedRuntime(VigilRuntime):
    """The real runtime; each record is timed once the base `_record` has handled it."""

    profiler: WindowProfile | None = None  # set for a --profile step

    def __init__(self, config: RuntimeConfig, probe: Probe, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.probe = probe
        self._queue = BlockedLog(config.runtime.queue_records, self._stop, self._now_ns)
        self.on_event = probe.events.append

    def _record(self, index: int, record: Record, queued_ns: int, batch: list[AlarmEvent]) -> None:
        super()._record(index, record, queued_ns, batch)
        if isinstance(record, ANALYSED):
            self.probe.record(index, record, now_ns())

    def _run_commands(self, batch: list[AlarmEvent]) -> None:
        self.probe.loop_turns += 1  # called once per loop turn
        if self.profiler is not None:
            self.profiler.tick(now_ns())
        super()._run_commands(batch)


# -------------------------------------------------------------------------------- one step
def bed_config(tmp: Path, ports: Sequence[str]) -> RuntimeConfig:
    return config_in_folder(tmp, [(f"bed-{i + 1}", p) for i, p in enumerate(ports)])


def counting(delivered: list[int], bed: int, on_records: Deliver) -> Deliver:
    def deliver(records: Sequence[Record]) -> None:
        delivered[bed] += sum(isinstance(r, ANALYSED) for r in records)
        on_records(records)

    return deliver


def percentiles(ns: list[int]) -> dict[str, float]:
    if not ns:
        return {"count": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {
        "count": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def run_step(
    streams: list[Stream],
    beds: int,
    seconds: float,
    warmup_s: float,
    *,
    pty: bool,
    profile: bool = False,
) -> dict[str, Any]:
    """`beds` monitors for warm-up + `seconds`, in a fresh runtime and journal; `profile`:
    cProfile the processing loop over the CPU window (its latencies are then not the
    runtime's own)."""
    slots = round((warmup_s + seconds) * SLOTS_PER_S)
    run = StepRun(Probe(beds, round(warmup_s * SLOTS_PER_S)), [0] * beds, pty, seconds, warmup_s)
    go = threading.Event()
    bed_streams = [streams[i % len(streams)] for i in range(beds)]
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        if pty:
            run.senders = [PtyPacer(PtyTransport(), s, slots) for s in bed_streams]
            ports = [p.transport.path for p in run.senders]
        else:
            ports = [f"sim://bed-{i + 1}" for i in range(beds)]
        index = {port: i for i, port in enumerate(ports)}

        def factory(port: str, baudrate: int, on_records: Deliver) -> Any:
            i = index[port]
            deliver = counting(run.delivered, i, on_records)
            if pty:
                link: Any = SerialLink(
                    port, lambda r: deliver((r,)), on_records=deliver, baudrate=baudrate
                )
            else:
                link = PacedLink(port, bed_streams[i], slots, deliver, go)
            run.links.append(link)
            return link

        runtime = TimedRuntime(bed_config(tmp, ports), run.probe, link_factory=factory)
        run.runtime = runtime
        runtime.start()
        try:
            if not pty:
                run.senders = run.links
            else:
                for link in run.links:
                    link.wait_connected(5.0)
            run.start_ns = now_ns() + 200_000_000
            stagger_ns = round(warmup_s / 2 * 1e9)
            for i, sender in enumerate(run.senders):
                run.probe.t0_ns[i] = run.start_ns + (stagger_ns * i // beds)
                if pty:
                    sender.start(run.probe.t0_ns[i])
                else:
                    sender.t0_ns = run.probe.t0_ns[i]
            run.window = CpuWindow.of(run, beds)
            if run.window is not None:
                for link in run.links:
                    if isinstance(link, PacedLink):  # a SerialLink does not time itself
                        link.window_ns = run.window.ns
                run.window.watch(lambda: runtime._thread)
                if profile:
                    runtime.profiler = WindowProfile(run.window.ns, beds)
            loop0, cpu0, wall0 = thread_cpu_s(runtime._thread), time.process_time(), now_ns()
            go.set()
            while not all(s.done for s in run.senders) and runtime.error is None:
                time.sleep(0.1)
            sent_ns = now_ns()
            run.drained = _drain(run)
            run.drain_s = (now_ns() - sent_ns) / 1e9
            run.cpu_s = time.process_time() - cpu0
            run.wall_s = (now_ns() - wall0) / 1e9
            loop1 = thread_cpu_s(runtime._thread)
            if loop0 is not None and loop1 is not None:
                run.loop_cpu_s = loop1 - loop0
            if run.window is not None:
                run.steady = ms_per_bed_s(run.window.cpu_s(run.links))
            if runtime.profiler is not None:
                run.profile = {"processing loop": runtime.profiler.top()}
            row = run.row()
        finally:
            runtime.stop()
            for sender in run.senders:
                if isinstance(sender, PtyPacer):
                    sender.stop()
                    sender.transport.close()
    return row


def thread_cpu_s(thread: threading.Thread | None) -> float | None:
    """CPU seconds of another live thread (Linux); None where the platform cannot say."""
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))  # type: ignore[union-attr]
    except (AttributeError, OSError, TypeError):
        return None


def _drain(run: StepRun) -> bool:
    """Wait until every byte sent was read and every record delivered was analysed."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    runtime = run.runtime
    while time.monotonic() < deadline and runtime.error is None:
        bytes_in = all(
            link.decoder.counters.bytes_in >= s.bytes_sent
            for link, s in zip(run.links, run.senders, strict=True)
        )
        if bytes_in and run.delivered == run.probe.analysed and runtime._queue.qsize() == 0:
            return True
        time.sleep(0.05)
    return False


@dataclass
class StepRun:
    """One capacity step as it ran, and its row for the report."""

    probe: Probe
    delivered: list[int]
    pty: bool
    seconds: float
    warmup_s: float
    runtime: Any = None
    links: list[Any] = field(default_factory=list)
    senders: list[Any] = field(default_factory=list)
    start_ns: int = 0
    drained: bool = False
    drain_s: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    loop_cpu_s: float | None = None
    processes: int = 1
    totals: dict[str, Any] | None = None  # with workers: their links' and queues' counts
    window: CpuWindow | None = None
    steady: dict[str, Any] = field(default_factory=dict)  # CPU ms per bed-second, warm
    profile: dict[str, Any] | None = None  # --profile: top functions per thread profiled

    def row(self) -> dict[str, Any]:
        runtime, probe, links, senders = self.runtime, self.probe, self.links, self.senders
        beds = probe.beds
        window_ns = self.start_ns + round(self.warmup_s * 1e9)
        t = self.totals if self.totals is not None else link_totals(links, senders)
        t.setdefault("history", runtime._queue.history)
        t.setdefault("abandoned", runtime._queue.abandoned)
        sent, decoded, gaps = t["sent"], t["decoded"], t["gaps"]
        frames_lost, corrupt, dropped = t["frames_lost"], t["corrupt"], t["dropped"]
        analysed = sum(probe.samples)
        blocked_after = sum(n for at, n in t["history"] if at >= window_ns)
        blocked_warmup = sum(n for at, n in t["history"] if at < window_ns)
        pressure = [
            e
            for e in probe.events
            if e.alarm.kind == "queue_backpressure" and e.event is EventKind.ACTIVATED
        ]
        pressure_after = [e for e in pressure if e.stamps.get("arrived", 0) >= window_ns]
        delays = [
            e.stamps["emitted"] - e.stamps["arrived"]
            for e in probe.events
            if e.stamps.get("emitted") and e.stamps.get("arrived")
        ]
        first: dict[str, AlarmEvent] = {}
        for e in probe.events:
            if e.event is EventKind.ACTIVATED and e.alarm.kind not in first:
                first[e.alarm.kind] = e
        due, arrival = percentiles(probe.from_due), percentiles(probe.from_arrival)
        lost = sent - analysed
        nothing_lost = (
            self.drained
            and lost == 0
            and sent == decoded
            and gaps == 0
            and frames_lost == 0
            and dropped == 0
            and t["abandoned"] == 0
            and blocked_after == 0
            and not pressure_after
            and runtime.error is None
        )
        link_cpu = t["link_cpu"]
        wall = self.wall_s or float("nan")
        row = {
            "link": "pty" if self.pty else "in-process",
            "beds": beds,
            "seconds": self.seconds,
            "warmup_s": self.warmup_s,
            "records": due["count"],
            "latency_from_due": due,
            "latency_from_arrival": arrival,
            "reader_lag": percentiles(probe.reader_lag),
            "worst_records": probe.worst(self.start_ns) if probe.from_due else [],
            "warmup_worst_ms": probe.warmup_worst_ns / 1e6,
            "samples_sent": sent,
            "samples_decoded": decoded,
            "samples_analysed": analysed,
            "samples_lost": lost,
            "sample_gaps": gaps,
            "frames_lost": frames_lost,
            "corrupt_frames": corrupt,
            "pty_bytes_dropped": dropped,
            "queue_abandoned": t["abandoned"],
            "queue_blocked_puts": blocked_after,
            "queue_blocked_puts_warmup": blocked_warmup,
            "backpressure_alarms": len(pressure_after),
            "backpressure_alarms_warmup": len(pressure) - len(pressure_after),
            "drained": self.drained,
            "drain_s": self.drain_s,
            "cpu_s": self.cpu_s,
            "wall_s": self.wall_s,
            "cores_used": self.cpu_s / wall,
            "processing_loop_cores": None if self.loop_cpu_s is None else self.loop_cpu_s / wall,
            "link_threads_cores": None
            if None in link_cpu
            else sum(link_cpu) / wall,  # in process only: SerialLink does not time itself
            "bed_s_per_cpu_s": beds * (self.seconds + self.warmup_s) / self.cpu_s,
            "records_per_loop_turn": sum(probe.analysed) / max(1, probe.loop_turns),
            "alarm_events": len(probe.events),
            "alarm_delay": percentiles(delays),
            "alarms_first_activated": {
                kind: (e.stamps["emitted"] - e.stamps["arrived"]) / 1e6
                if e.stamps.get("emitted") and e.stamps.get("arrived")
                else None
                for kind, e in sorted(first.items())
            },
            "runtime_error": repr(runtime.error) if runtime.error else None,
            "nothing_lost": nothing_lost,
            "processes": self.processes,
            "worker_loop_cores": [c / wall for c in t.get("worker_loop_cpu_s", [])],
            "steady_cpu_ms_per_bed_s": self.steady,
        }
        if self.profile is not None:
            row["profile"] = self.profile
        row["pass"] = nothing_lost and due["p99_ms"] <= P99_LIMIT_MS
        return row


def link_totals(links: Sequence[Any], senders: Sequence[Any]) -> dict[str, Any]:
    """What the links and senders of one process counted (sums; link CPU per link)."""
    return {
        "sent": sum(s.stream.samples(s.slots_sent) for s in senders),
        "decoded": sum(link.session.counters.samples for link in links),
        "gaps": sum(link.session.counters.sample_gaps for link in links),
        "frames_lost": sum(link.decoder.counters.frames_lost for link in links),
        "corrupt": sum(link.decoder.counters.corrupt_frames for link in links),
        "dropped": sum(getattr(getattr(s, "transport", None), "bytes_dropped", 0) for s in senders),
        "link_cpu": [getattr(link, "cpu_s", None) for link in links],
    }


# -------------------------------------------------------------------------------- processes
class TimedWorker(AnalysisWorker):
    """The real analysis worker (forked; `step` and `report_dir` are inherited): each record
    is timed once the base `_record` has handled it; once this worker's links have sent
    everything and its records are analysed, what it measured goes to a JSON file."""

    step: StepRun
    report_dir: Path
    profile: bool = False  # cProfile this worker's loop over the CPU window

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue.__class__ = BlockedLog  # keep the blocked-put history (same layout)
        self._queue.history = []  # type: ignore[attr-defined]
        self.window = CpuWindow.of(self.step, len(self.beds))
        self.profiler: WindowProfile | None = None
        if self.window is not None:
            for link in self.step.links:  # this worker's links (made in this process)
                link.window_ns = self.window.ns
            if self.profile:
                self.profiler = WindowProfile(self.window.ns, len(self.beds))

    def _record(self, index: int, record: Record, queued_ns: int) -> None:
        super()._record(index, record, queued_ns)
        if isinstance(record, ANALYSED):
            done = now_ns()
            self.step.probe.record(index, record, done)
            if self.profiler is not None:
                self.profiler.tick(done)

    def run(self) -> None:
        if self.window is not None:
            self.window.watch(threading.main_thread)  # the worker's loop runs in its main thread
        threading.Thread(target=self._report, daemon=True).start()
        super().run()

    def _report(self) -> None:
        step, probe, mine = self.step, self.step.probe, sorted(self.beds)
        cpu0 = time.process_time()
        loop = threading.main_thread()
        deadline = time.monotonic() + step.warmup_s + step.seconds + 10 + DRAIN_TIMEOUT_S
        drained = False
        while time.monotonic() < deadline:
            links = step.links
            done = links and all(link.done for link in links)
            if done and all(link.decoder.counters.bytes_in >= link.bytes_sent for link in links):
                analysed = all(step.delivered[b] == probe.analysed[b] for b in mine)
                if analysed and self._queue.qsize() == 0:
                    drained = True
                    break
            time.sleep(0.05)
        keep = [k for k, b in enumerate(probe.beds_of) if b in mine]
        report = {
            "beds": mine,
            "drained": drained,
            "done_ns": now_ns(),
            "from_due": [probe.from_due[k] for k in keep],
            "from_arrival": [probe.from_arrival[k] for k in keep],
            "reader_lag": [probe.reader_lag[k] for k in keep],
            "due_ns": [probe.due_ns[k] for k in keep],
            "beds_of": [probe.beds_of[k] for k in keep],
            "samples": {b: probe.samples[b] for b in mine},
            "analysed": {b: probe.analysed[b] for b in mine},
            "delivered": {b: step.delivered[b] for b in mine},
            "warmup_worst_ns": probe.warmup_worst_ns,
            "totals": link_totals(step.links, step.links),
            "history": self._queue.history,  # type: ignore[attr-defined]
            "abandoned": self._queue.abandoned,
            "cpu_s": time.process_time(),
            "loop_cpu_s": thread_cpu_s(loop),
            "since_report_cpu_s": time.process_time() - cpu0,
            "window": {} if self.window is None else self.window.cpu_s(step.links),
            "profile": None if self.profiler is None else self.profiler.top(),
        }
        path = self.report_dir / f"worker-{os.getpid()}.json"
        path.with_suffix(".tmp").write_text(json.dumps(report))
        path.with_suffix(".tmp").rename(path)


def run_step_processes(
    streams: list[Stream],
    beds: int,
    seconds: float,
    warmup_s: float,
    processes: int,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    """`run_step` with the beds shared over `processes` analysis workers; `profile`:
    cProfile each worker's loop and the runtime's over the CPU window."""
    slots = round((warmup_s + seconds) * SLOTS_PER_S)
    run = StepRun(Probe(beds, round(warmup_s * SLOTS_PER_S)), [0] * beds, False, seconds, warmup_s)
    run.processes = processes
    go = threading.Event()
    go.set()  # the links wait for their t0 instead (set before the fork)
    bed_streams = [streams[i % len(streams)] for i in range(beds)]
    run.start_ns = now_ns() + round(WORKER_START_S * 1e9)
    stagger_ns = round(warmup_s / 2 * 1e9)
    run.probe.t0_ns = [run.start_ns + (stagger_ns * i // beds) for i in range(beds)]
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        ports = [f"sim://bed-{i + 1}" for i in range(beds)]
        index = {port: i for i, port in enumerate(ports)}

        def factory(port: str, baudrate: int, on_records: Deliver) -> Any:
            i = index[port]  # runs in the worker, on its copies of `run` and the streams
            link = PacedLink(
                port, bed_streams[i], slots, counting(run.delivered, i, on_records), go
            )
            link.t0_ns = run.probe.t0_ns[i]
            run.links.append(link)
            return link

        config = bed_config(tmp, ports)
        config = replace(config, runtime=replace(config.runtime, analysis_processes=processes))
        runtime = TimedRuntime(config, run.probe, link_factory=factory)
        TimedWorker.step, TimedWorker.report_dir, TimedWorker.profile = run, tmp, profile
        runtime._shards.worker_class = TimedWorker
        run.runtime = runtime
        run.window = CpuWindow.of(run, beds)
        if run.window is not None and profile:
            runtime.profiler = WindowProfile(run.window.ns, beds)
        cpu0, wall0 = time.process_time(), now_ns()
        runtime.start()
        try:
            if run.window is not None:
                run.window.watch(lambda: runtime._thread)
            loop0 = thread_cpu_s(runtime._thread)
            count = len(runtime._shards.workers)
            deadline = time.monotonic() + WORKER_START_S + warmup_s + seconds + 15 + DRAIN_TIMEOUT_S
            while time.monotonic() < deadline and runtime.error is None:
                if len(list(tmp.glob("worker-*.json"))) == count:
                    break
                time.sleep(0.1)
            reports = [json.loads(f.read_text()) for f in tmp.glob("worker-*.json")]
            time.sleep(0.3)  # the last messages through the pipes to the alarm core
            done_ns = max([r["done_ns"] for r in reports], default=now_ns())
            run.wall_s = (done_ns - max(wall0, run.start_ns)) / 1e9
            loop1 = thread_cpu_s(runtime._thread)
            if loop0 is not None and loop1 is not None:
                run.loop_cpu_s = loop1 - loop0
            run.cpu_s = time.process_time() - cpu0 + sum(r["cpu_s"] for r in reports)
            run.drained = len(reports) == count and all(r["drained"] for r in reports)
            _merge(run, reports)
            _steady_processes(run, reports)
            row = run.row()
        finally:
            runtime.stop()
    return row


def _steady_processes(run: StepRun, reports: list[dict[str, Any]]) -> None:
    """CPU ms per bed-second over the window: the runtime's process (its loop, and "other":
    the pipe readers), each worker (its loop, its links), and all of them together."""
    if run.window is None:
        return
    parent = run.window.cpu_s([])
    workers = [r["window"] for r in reports if r.get("window")]
    if not parent or len(workers) != len(reports):
        return
    bed_s = run.probe.beds * parent["window_s"]
    total = parent["process_s"] + sum(w["process_s"] for w in workers)
    run.steady = {
        "process": 1000 * total / bed_s,
        "runtime_process": ms_per_bed_s(parent),
        "workers": [ms_per_bed_s(w) for w in workers],
    }
    if run.runtime.profiler is not None:
        run.profile = {"processing loop": run.runtime.profiler.top()}
        for k, r in enumerate(reports):
            run.profile[f"worker {k + 1} loop"] = r.get("profile") or {}


def _merge(run: StepRun, reports: list[dict[str, Any]]) -> None:
    probe = run.probe
    totals: dict[str, Any] = {
        "sent": 0, "decoded": 0, "gaps": 0, "frames_lost": 0, "corrupt": 0, "dropped": 0,
        "link_cpu": [], "history": [], "abandoned": 0, "worker_loop_cpu_s": [],
    }  # fmt: skip
    for r in reports:
        for key in ("from_due", "from_arrival", "reader_lag", "due_ns", "beds_of"):
            getattr(probe, key).extend(r[key])
        for key in ("samples", "analysed"):
            for bed, n in r[key].items():
                getattr(probe, key)[int(bed)] = n
        for bed, n in r["delivered"].items():
            run.delivered[int(bed)] = n
        probe.warmup_worst_ns = max(probe.warmup_worst_ns, r["warmup_worst_ns"])
        for key in ("sent", "decoded", "gaps", "frames_lost", "corrupt", "dropped"):
            totals[key] += r["totals"][key]
        totals["link_cpu"] += r["totals"]["link_cpu"]
        totals["history"] += [tuple(h) for h in r["history"]]
        totals["abandoned"] += r["abandoned"]
        if r["loop_cpu_s"] is not None:
            totals["worker_loop_cpu_s"].append(r["loop_cpu_s"])
    run.totals = totals


# -------------------------------------------------------------------------------- throughput
def bare_pipeline(streams: list[Stream], beds: int, slots: int) -> dict[str, float]:
    """Decoder + DeviceSession + BedAnalyzer in one loop, slot by slot over the beds."""
    pipes = [
        (
            streams[i % len(streams)].slots,
            Decoder(from_device=True),
            DeviceSession(f"bed-{i + 1}"),
            BedAnalyzer(AnalysisSettings(bed=f"bed-{i + 1}")),
        )
        for i in range(beds)
    ]
    records = 0
    cpu0, wall0 = time.process_time(), now_ns()
    for k in range(slots):
        for data, decoder, session, analyzer in pipes:
            arrival = now_ns()
            for msg in decoder.feed(data[k]):
                for record in session.handle(msg, arrival):
                    if isinstance(record, ANALYSED):
                        analyzer.feed(record)
                        records += 1
    return _rate(records, (now_ns() - wall0) / 1e9, time.process_time() - cpu0, beds, slots)


def runtime_unpaced(streams: list[Stream], beds: int, slots: int) -> dict[str, float]:
    """The runtime on links that push as fast as its queue takes the records."""
    probe = Probe(beds, 0, timed=False)
    delivered = [0] * beds
    go = threading.Event()
    links: list[PacedLink] = []

    def factory(port: str, baudrate: int, on_records: Deliver) -> PacedLink:
        i = len(links)
        deliver = counting(delivered, i, on_records)
        links.append(PacedLink(port, streams[i % len(streams)], slots, deliver, go, paced=False))
        return links[-1]

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp_dir:
        ports = [f"sim://bed-{i + 1}" for i in range(beds)]
        runtime = TimedRuntime(bed_config(Path(tmp_dir), ports), probe, link_factory=factory)
        runtime.start()
        try:
            cpu0, wall0 = time.process_time(), now_ns()
            go.set()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and runtime.error is None:
                if all(link.done for link in links) and delivered == probe.analysed:
                    break
                time.sleep(0.01)
            cpu_s = time.process_time() - cpu0
            wall_s = (probe.last_done_ns - wall0) / 1e9
            if delivered != probe.analysed:
                raise RuntimeError(f"runtime did not analyse every record: {runtime.error!r}")
        finally:
            runtime.stop()
    return _rate(sum(probe.analysed), wall_s, cpu_s, beds, slots)


def _rate(records: int, wall_s: float, cpu_s: float, beds: int, slots: int) -> dict[str, float]:
    bed_s = beds * slots / SLOTS_PER_S
    return {
        "records": records,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "records_per_s": records / wall_s,
        "records_per_cpu_s": records / cpu_s,
        "bed_s_per_s": bed_s / wall_s,
        "bed_s_per_cpu_s": bed_s / cpu_s,
    }


def throughput(streams: list[Stream], beds: int, seconds: float, repeats: int) -> dict[str, Any]:
    slots = round(seconds * SLOTS_PER_S)
    bare: list[dict[str, float]] = []
    rt: list[dict[str, float]] = []
    for r in range(repeats):
        bare.append(bare_pipeline(streams, beds, slots))
        rt.append(runtime_unpaced(streams, beds, slots))
        progress(
            f"  repeat {r + 1}: bare {bare[-1]['records_per_s']:.0f} records/s, runtime "
            f"{rt[-1]['records_per_s']:.0f} records/s (wall)"
        )
    best_bare = max(bare, key=lambda x: x["records_per_s"])
    best_rt = max(rt, key=lambda x: x["records_per_s"])
    cpu_bare = max(x["records_per_cpu_s"] for x in bare)
    cpu_rt = max(x["records_per_cpu_s"] for x in rt)
    return {
        "beds": beds,
        "device_seconds": seconds,
        "repeats": repeats,
        "bare": best_bare,
        "runtime": best_rt,
        "ratio_wall": best_rt["records_per_s"] / best_bare["records_per_s"],
        "ratio_cpu": cpu_rt / cpu_bare,
        "all_bare": bare,
        "all_runtime": rt,
    }


# -------------------------------------------------------------------------------- report
def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| link | beds | records | p50 ms | p99 ms | max ms | p99 from arrival ms | "
        "reader lag p99 ms | samples lost | blocked puts | CPU cores (loop) | CPU vs bare | "
        "alarm delay p50/max ms | pass |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(report["rows"], key=lambda r: (r["link"] != "in-process", r["beds"])):
        d, a, lag, al = (
            r["latency_from_due"],
            r["latency_from_arrival"],
            r["reader_lag"],
            r["alarm_delay"],
        )
        alarm = f"{al['p50_ms']:.1f} / {al['max_ms']:.1f}" if al["count"] else "-"
        loop = r["processing_loop_cores"]
        cores = f"{r['cores_used']:.2f}" + ("" if loop is None else f" ({loop:.2f})")
        efficiency = r.get("cpu_efficiency_vs_bare")
        vs_bare = "-" if efficiency is None else f"{efficiency:.2f}"
        lines.append(
            f"| {r['link']} | {r['beds']} | {r['records']} | {d['p50_ms']:.1f} | "
            f"{d['p99_ms']:.1f} | {d['max_ms']:.1f} | {a['p99_ms']:.1f} | {lag['p99_ms']:.1f} | "
            f"{r['samples_lost']} | {r['queue_blocked_puts']} | {cores} | {vs_bare} | {alarm} | "
            f"{'yes' if r['pass'] else 'no'} |"
        )
    t = report["throughput"]
    lines += [
        "",
        f"Latency: from the slot's bytes being due on the wire to the record analysed, after "
        f"a {report['settings']['warmup_s']:g} s warm-up, over {report['settings']['seconds']:g} "
        f"s per step; CPU cores: the whole process (the processing loop's thread); CPU vs bare: "
        f"bed-seconds per CPU-second beside the bare loop's. Capacity (p99 <= "
        f"{P99_LIMIT_MS:g} ms, nothing lost): **{report['capacity_beds']} beds**.",
        "",
        f"Throughput, {t['beds']} beds x {t['device_seconds']:g} s unpaced: bare pipeline "
        f"{t['bare']['records_per_s']:.0f} records/s ({t['bare']['bed_s_per_s']:.0f} "
        f"bed-seconds/s), runtime {t['runtime']['records_per_s']:.0f} records/s "
        f"({t['runtime']['bed_s_per_s']:.0f}): runtime/bare {t['ratio_wall']:.2f} (wall), "
        f"{t['ratio_cpu']:.2f} (CPU).",
    ]
    return "\n".join(lines)


def _plot(report: dict[str, Any], path: Path) -> None:
    plt = pyplot_or_none()
    if plt is None:
        return
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    for link, marker, color in (("in-process", "o", "#1f4e9c"), ("pty", "s", "#d97706")):
        rows = sorted((r for r in report["rows"] if r["link"] == link), key=lambda r: r["beds"])
        if not rows:
            continue
        beds = [r["beds"] for r in rows]
        for key, style, label in (("p99_ms", "-", "p99"), ("p50_ms", ":", "p50")):
            ax.plot(
                beds,
                [max(r["latency_from_due"][key], 0.01) for r in rows],
                style,
                marker=marker,
                color=color,
                label=f"{link} {label}",
            )
        for r in rows:
            if not r["pass"]:
                ax.plot(r["beds"], max(r["latency_from_due"]["p99_ms"], 0.01), "x", color="#d62728",
                        markersize=12)  # fmt: skip
    ax.axhline(P99_LIMIT_MS, color="#d62728", linestyle="--", label=f"{P99_LIMIT_MS:g} ms")
    ax.axhline(ONE_BED_P99_MS, color="#ff7f0e", linestyle="--", label=f"{ONE_BED_P99_MS:g} ms")
    ax.axvline(BEDS_TARGET, color="#999999", linestyle=":", label=f"{BEDS_TARGET} beds")
    ax.set_xscale("log", base=2)
    ax.set_xlim(0.8, 1.25 * max([BEDS_AIM] + [r["beds"] for r in report["rows"]]))
    ax.set_yscale("log")
    ax.set_xlabel("beds (log)")
    ax.set_ylabel("latency, due -> analysed (ms, log)")
    ax.set_title(
        f"Runtime processing latency per record; capacity {report['capacity_beds']} beds "
        "(x: step failed)",
        fontsize=10,
    )
    ax.legend(fontsize=7)
    t = report["throughput"]
    names = ["bare (wall)", "runtime (wall)", "bare (CPU)", "runtime (CPU)"]
    values = [
        t["bare"]["records_per_s"],
        t["runtime"]["records_per_s"],
        max(x["records_per_cpu_s"] for x in t["all_bare"]),
        max(x["records_per_cpu_s"] for x in t["all_runtime"]),
    ]
    colors = ["#999999", "#4878d0", "#bbbbbb", "#7aa0e0"]
    ax2.bar(names, values, color=colors)
    ax2.axhline(RATIO_TARGET * values[0], color="#d62728", linestyle="--",
                label=f"{RATIO_TARGET:g} x bare (wall)")  # fmt: skip
    ax2.set_ylabel("records analysed per second")
    ax2.set_title(
        f"Throughput, {t['beds']} beds unpaced: runtime/bare {t['ratio_wall']:.2f} (wall), "
        f"{t['ratio_cpu']:.2f} (CPU)",
        fontsize=9,
    )
    ax2.tick_params(axis="x", labelsize=8)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    progress(f"plot: {path}")


# -------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 and 2 beds, 3 s")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--beds-max", type=int, default=512)
    parser.add_argument("--no-pty", action="store_true", help="skip the run over real ptys")
    parser.add_argument("--pty-beds", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--throughput-beds", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-refine", dest="refine", action="store_false",
        help="do not bisect between the last passing and the first failing step",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=int, default=1,
        help="runtime.analysis_processes for the in-process capacity steps (default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=int, metavar="BEDS",
        help="instead of the steps: BEDS beds twice (with --processes), warm CPU per "
        "bed-second by thread, then cProfile's top functions of each processing loop",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    steps = [b for b in BED_STEPS if b <= args.beds_max]
    if args.quick:
        args.seconds, args.warmup, args.repeats = 3.0, 1.0, 1
        args.pty_beds, args.throughput_beds, steps = [1], 2, [1, 2]
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None

    if args.profile:
        return profile_main(args)
    slots = round((args.warmup + args.seconds) * SLOTS_PER_S)
    count = min(STREAMS, max([*steps, args.throughput_beds]))
    progress(f"rendering {count} monitor streams of {slots / SLOTS_PER_S:g} s, before timing")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as scenario_dir:
        streams = render_streams(count, slots, Path(scenario_dir), args.warmup)

    rows: list[dict[str, Any]] = []
    passed, failed = 0, None
    for beds in steps:
        row = _step(streams, beds, args, pty=False)
        rows.append(row)
        if not row["pass"]:
            failed = beds
            break
        passed = beds
    while args.refine and failed is not None and failed - passed > REFINE_BEDS:
        beds = (passed + failed) // 2 // REFINE_BEDS * REFINE_BEDS or (passed + failed) // 2
        if beds in (passed, failed):
            break
        row = _step(streams, beds, args, pty=False)
        rows.append(row)
        passed, failed = (beds, failed) if row["pass"] else (passed, beds)
    capacity = passed
    if not args.no_pty:
        for beds in args.pty_beds:
            rows.append(_step(streams, beds, args, pty=True))
    progress(f"throughput: {args.throughput_beds} beds x {args.seconds:g} s, unpaced")
    tp = throughput(streams, args.throughput_beds, args.seconds, args.repeats)
    bare_cpu = max(x["bed_s_per_cpu_s"] for x in tp["all_bare"])
    for row in rows:  # CPU per bed-second at ward pace, beside the bare loop's
        row["cpu_efficiency_vs_bare"] = row["bed_s_per_cpu_s"] / bare_cpu

    one_bed = next(r for r in rows if r["link"] == "in-process" and r["beds"] == 1)
    checks = {
        f"1 bed: p99 <= {ONE_BED_P99_MS:g} ms": one_bed["latency_from_due"]["p99_ms"]
        <= ONE_BED_P99_MS,
        f"capacity >= {BEDS_TARGET} beds (p99 <= {P99_LIMIT_MS:g} ms, nothing lost)": capacity
        >= BEDS_TARGET,
        f"runtime/bare throughput >= {RATIO_TARGET:g} (wall)": tp["ratio_wall"] >= RATIO_TARGET,
    }
    report: dict[str, Any] = {
        "quick": args.quick,
        "settings": {
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "steps": steps,
            "pty_beds": [] if args.no_pty else args.pty_beds,
            "streams": [f"{s.scenario} seed {s.seed}" for s in streams],
            "throughput_beds": args.throughput_beds,
            "repeats": args.repeats,
            "processes": args.processes,
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "rows": rows,
        "capacity_beds": capacity,
        "capacity_aim_met": capacity >= BEDS_AIM,
        "throughput": tp,
        "checks": checks,
        "pass": all(checks.values()),
    }
    report["markdown"] = markdown(report)
    print(report["markdown"])
    print(f"runtime/bare throughput: {tp['ratio_wall']:.2f}x (wall), {tp['ratio_cpu']:.2f}x (CPU)")
    for key, ok in checks.items():
        print(f"{key}: {'PASS' if ok else 'FAIL'}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "runtime_latency" if args.processes == 1 else f"runtime_latency_{args.processes}proc"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    _plot(report, args.out / f"{stem}.png")
    return 0 if report["pass"] else 1


def profile_main(args: argparse.Namespace) -> int:
    """`--profile BEDS`: where the runtime's CPU goes once warm. One step measures CPU per
    bed-second by thread (processing loop, link threads, the rest; with --processes, per
    worker and the runtime's process); a second, under cProfile (which slows what it
    watches), lists each processing loop's top functions by own time."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    slots = round((args.warmup + args.seconds) * SLOTS_PER_S)
    count = min(STREAMS, args.profile)
    progress(f"rendering {count} monitor streams of {slots / SLOTS_PER_S:g} s, before timing")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as scenario_dir:
        streams = render_streams(count, slots, Path(scenario_dir), args.warmup)
    plain = _step(streams, args.profile, args, pty=False)
    progress("the same under cProfile")
    profiled = _step(streams, args.profile, args, pty=False, profile=True)
    bare = bare_pipeline(streams, min(args.profile, args.throughput_beds), slots)
    report = {
        "settings": {
            "beds": args.profile,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "processes": args.processes,
        },
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "steady_cpu_ms_per_bed_s": plain["steady_cpu_ms_per_bed_s"],
        "bare_cpu_ms_per_bed_s": 1000 / bare["bed_s_per_cpu_s"],
        "profile": profiled.get("profile", {}),
        "rows": [plain, profiled],
    }
    print(profile_text(report))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "runtime_profile" if args.processes == 1 else f"runtime_profile_{args.processes}proc"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    return 0


def profile_text(report: dict[str, Any]) -> str:
    def cpu(d: dict[str, Any]) -> str:
        parts = [f"{k} {v:.2f}" for k, v in d.items() if isinstance(v, float)]
        return ", ".join(parts)

    steady = report["steady_cpu_ms_per_bed_s"]
    lines = [f"CPU ms per bed-second once warm ({report['settings']['beds']} beds):"]
    if "workers" in steady:
        lines.append(f"  all processes {steady['process']:.2f}")
        lines.append(f"  runtime process: {cpu(steady['runtime_process'])}")
        lines += [f"  worker {k + 1}: {cpu(w)}" for k, w in enumerate(steady["workers"])]
    else:
        lines.append(f"  {cpu(steady)}")
    lines.append(f"  bare pipeline (codec + analysis): {report['bare_cpu_ms_per_bed_s']:.2f}")
    for thread, top in report["profile"].items():
        if not top:
            continue
        lines.append(
            f"{thread} under cProfile, ms per bed-second: ran {top['ran_ms_per_bed_s']:.2f}, "
            f"of which analysis {top['analysis_ms_per_bed_s']:.2f} (waited "
            f"{top['waiting_ms_per_bed_s']:.2f}); top functions by own time:"
        )
        lines += [
            f"  {f['own_ms_per_bed_s']:7.3f} own {f['cum_ms_per_bed_s']:7.3f} cum "
            f"{f['calls']:8d} calls  {f['function']}"
            for f in top["functions"]
        ]
    return "\n".join(lines)


def _step(
    streams: list[Stream],
    beds: int,
    args: argparse.Namespace,
    *,
    pty: bool,
    profile: bool = False,
) -> dict:
    link = "pty" if pty else "in-process"
    workers = f", {args.processes} analysis processes" if args.processes > 1 and not pty else ""
    progress(f"{link}: {beds} bed(s), {args.warmup:g} s warm-up + {args.seconds:g} s{workers}")
    if args.processes > 1 and beds > 1 and not pty:  # one bed: one process, as the runtime
        row = run_step_processes(
            streams, beds, args.seconds, args.warmup, args.processes, profile=profile
        )
    else:
        row = run_step(streams, beds, args.seconds, args.warmup, pty=pty, profile=profile)
    _progress_row(row)
    return row


def _progress_row(row: dict[str, Any]) -> None:
    d = row["latency_from_due"]
    progress(
        f"  {row['records']} records: p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, max "
        f"{d['max_ms']:.1f} ms; reader lag p99 {row['reader_lag']['p99_ms']:.1f} ms; "
        f"{row['cores_used']:.2f} cores (loop {row['processing_loop_cores'] or 0:.2f}); "
        f"lost {row['samples_lost']}, blocked puts "
        f"{row['queue_blocked_puts']} (+{row['queue_blocked_puts_warmup']} in warm-up); "
        f"{row['alarm_events']} alarm events; {'PASS' if row['pass'] else 'FAIL'}"
    )


if __name__ == "__main__":
    sys.exit(main())
