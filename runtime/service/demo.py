"""`vigil demo`: simulated bedside monitors on pseudo-terminals, the real runtime on them.

Each bed is a `SimulatedMonitor` playing the scripted `tour` scenario (normal rhythm, PVCs,
VT, desaturation, leads off, asystole) over a real pty, read by the real `VigilRuntime`
through its serial links exactly as `vigil run` would read a monitor. Bed 1's cable is pulled
and plugged back at `CABLE_PULL_S`. Everything is journaled; the demo ends with a summary
that puts each alarm beside the tour's true onset, and with the report plot.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.runtime.alarms.model import AlarmEvent, EventKind

if TYPE_CHECKING:
    from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
    from vigil.firmware_bridge.simulator.transports import PtyTransport

log = logging.getLogger(__name__)

TOUR = "tour"
CABLE_PULL_S = 132.0  # device seconds into the tour: bed 1's cable is pulled ...
CABLE_OUT_WALL_S = 5.0  # ... for this long (wall clock: link loss is judged in host time)
DEFAULT_SECONDS = 150.0

TRUE_ONSETS: dict[str, float] = {
    "vt": 45.0,
    "tachy_extreme": 45.0,
    "hr_high": 45.0,
    "pulse_high": 45.0,
    "spo2_low": 63.23,  # the ramp 97 -> 84 % over 6 s from 60 s crosses 90 % here
    "leads_off": 90.0,
    "pause": 110.0,
    "asystole": 110.0,
    "hr_low": 110.0,
    "pulse_low": 110.0,
    "link_lost": CABLE_PULL_S,
}
"""Device time at which each expected condition truly starts in the tour (models/synthetic/
scenarios/tour.toml; a test keeps the two in step). Kinds not listed have no crisp onset."""


@dataclass(slots=True)
class DemoRecord:
    """What the summary needs from the event stream: the first activation of each alarm."""

    events: list[AlarmEvent] = field(default_factory=list)
    first: dict[int, AlarmEvent] = field(default_factory=dict)
    cable_pulled_ns: int | None = None  # host time: link loss is judged in host time

    def __call__(self, event: AlarmEvent) -> None:
        self.events.append(event)
        if event.event in (EventKind.ACTIVATED, EventKind.BREAKTHROUGH) and (
            event.alarm_id not in self.first
        ):
            self.first[event.alarm_id] = event


def run_demo(
    *,
    beds: int = 1,
    seconds: float = DEFAULT_SECONDS,
    speed: Fraction = Fraction(2),
    out: Path = Path("vigil-demo"),
    headless: bool = False,
    imaging: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Run the tour on `beds` simulated monitors for `seconds` of device time at `speed`;
    with `imaging`, also a phantom cine through the ultrasound pipeline, whose findings reach
    the same alarm manager and journal (bed "cart-1")."""
    from vigil.firmware_bridge.simulator.serve import serve as serve_monitor
    from vigil.runtime.config import config_in_folder
    from vigil.runtime.service.runtime import VigilRuntime
    from vigil.runtime.service.serve import serve
    from vigil.runtime.sinks.jsonl import JsonlSink
    from vigil.runtime.sinks.log_lines import LogSink

    stop = stop or threading.Event()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("journal.db", "journal.db-wal", "journal.db-shm", "alarms.jsonl"):
        with contextlib.suppress(FileNotFoundError):
            (out / stale).unlink()  # a demo starts from a clean journal
    transports, monitors = _simulated_monitors(beds, speed, out)
    ports = [str(t.link_path) for t in transports]
    config = config_in_folder(
        out, [(f"bed-{k}", port) for k, port in enumerate(ports, 1)], jsonl=out / "alarms.jsonl"
    )
    sinks = [JsonlSink(out / "alarms.jsonl")]
    if headless:
        sinks.append(LogSink())
    runtime = VigilRuntime(config, sinks=sinks)
    record = DemoRecord()
    runtime.on_event = record
    wall_s = seconds / float(speed)
    print(
        f"vigil demo: {beds} simulated monitor(s) playing the '{TOUR}' tour, {seconds:g} s of "
        f"device time at {float(speed):g}x ({wall_s:.0f} s); journal {config.journal.path}",
        file=sys.stderr,
    )
    threads = [
        threading.Thread(
            target=serve_monitor,
            args=(monitor, transport),
            kwargs={"stop": stop, "seconds": seconds, "speed": speed},
            name=f"monitor {k + 1}",
            daemon=True,
        )
        for k, (monitor, transport) in enumerate(zip(monitors, transports, strict=True))
    ]
    for thread in threads:
        thread.start()
    cable = threading.Thread(
        target=_pull_cable,
        args=(transports[0], monitors[0], record, stop),
        name="cable",
        daemon=True,
    )
    cable.start()
    ender = threading.Thread(target=_end_after, args=(threads, stop), name="demo end", daemon=True)
    ender.start()
    cart = _ImagingCart(out, runtime) if imaging else None
    started = time.monotonic()
    try:
        if cart is not None:
            cart.start()
        code = serve(runtime, stop, headless=headless)
    finally:
        stop.set()
        if cart is not None:
            cart.stop()
        for transport in transports:
            transport.close()
    elapsed = time.monotonic() - started
    print(summary(record, runtime_seconds=elapsed, speed=float(speed)))
    if cart is not None:
        print(cart.summary_text())
    _report(out)
    return code


class _ImagingCart:
    """The phantom cine stream of `vigil demo --imaging`: the real ultrasound pipeline on its
    own thread (latest frame wins, the shipped U-Net, INT8 on the CPU), its advisory findings
    submitted to the runtime, its overlay written to OUT/ultrasound.avi."""

    BED = "cart-1"

    def __init__(self, out: Path, runtime: object) -> None:
        self.out = out
        self.runtime = runtime
        self.stop_event = threading.Event()  # the pipeline's own: its end must not end the demo
        self.result: object | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="imaging cart", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(10.0)

    def _run(self) -> None:
        from vigil.runtime.imaging.overlay import OverlayOutput
        from vigil.runtime.imaging.pipeline import Pipeline, PipelineSettings
        from vigil.runtime.imaging.segmenter import Segmenter
        from vigil.runtime.imaging.sources.phantom import PhantomSource

        try:
            source = PhantomSource(seed=7, fps=10.0)
            segmenter = Segmenter.open(None, precision="int8", intra_op_threads=1)
            overlay = OverlayOutput(self.out / "ultrasound.avi", 10.0, [source.name])
            self.result = Pipeline(
                [source],
                segmenter,
                PipelineSettings(bed=self.BED),
                outputs=[overlay],
                on_condition=self.runtime.submit_condition,
                stop=self.stop_event,
            ).run()
        except Exception as exc:  # the cart is an add-on: its failure must not stop the vitals
            self.error = exc
            log.error("imaging cart: %s", exc)

    def summary_text(self) -> str:
        if self.error is not None:
            return f"imaging cart: stopped: {self.error}"
        if self.result is None:
            return "imaging cart: no result"
        lines = ["", "imaging cart (phantom cine, overlay in ultrasound.avi):"]
        return "\n".join(lines + [f"  {line}" for line in self.result.lines()])


def _pull_cable(
    transport: PtyTransport, monitor: SimulatedMonitor, record: DemoRecord, stop: threading.Event
) -> None:
    while not stop.is_set() and float(monitor.sent_until) < CABLE_PULL_S:
        stop.wait(0.05)
    if stop.is_set():
        return
    log.warning("demo: pulling bed-1's cable for %g s", CABLE_OUT_WALL_S)
    record.cable_pulled_ns = time.monotonic_ns()
    transport.unplug()
    stop.wait(CABLE_OUT_WALL_S)
    transport.replug()
    log.warning("demo: bed-1's cable plugged back in")


def _simulated_monitors(
    beds: int, speed: Fraction, out: Path
) -> tuple[list[PtyTransport], list[SimulatedMonitor]]:
    """One monitor per bed playing the tour (seed = bed number) on a pty behind a stable
    symlink in `out`, so a pulled cable comes back at the same path, as by-id links do."""
    from vigil.firmware_bridge.simulator.channels import DEFAULT_CHANNELS
    from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
    from vigil.firmware_bridge.simulator.sources import SyntheticSource
    from vigil.firmware_bridge.simulator.transports import PtyTransport

    rates = {name: ch.rate for name, ch in DEFAULT_CHANNELS.items()}
    transports, monitors = [], []
    for k in range(1, beds + 1):
        transports.append(PtyTransport(out / f"tty-bed-{k}"))
        monitors.append(
            SimulatedMonitor(
                SyntheticSource(TOUR, seed=k, rates=rates),
                seed=k,
                device_id=f"VIGIL-SIM-{k:04d}",
                time_scale=speed,
            )
        )
    return transports, monitors


def _end_after(threads: list[threading.Thread], stop: threading.Event) -> None:
    for thread in threads:
        while thread.is_alive() and not stop.is_set():
            thread.join(0.2)
    if not stop.is_set():
        stop.wait(2.0)  # let the last chunks through the analysis
        stop.set()


def summary(record: DemoRecord, *, runtime_seconds: float, speed: float) -> str:
    """One line per alarm: when it truly began in the tour, when Vigil's analysis decided
    it (device time), and Vigil's own processing delay (bytes arrived -> first sink)."""
    lines = [
        "",
        f"{'alarm':>6}  {'bed':<7} {'kind':<16} {'priority':<8} {'true onset':>10} "
        f"{'decided':>8} {'detection':>9} {'processing':>10}",
    ]
    for alarm_id, event in sorted(record.first.items()):
        alarm = event.alarm
        cond = alarm.condition
        truth = TRUE_ONSETS.get(alarm.kind)
        decided = cond.decided_at_s
        detection = (
            f"{decided - truth:8.1f} s"
            if truth is not None and math.isfinite(decided)
            else "       -"
        )
        arrived, emitted = event.stamps.get("arrived"), event.stamps.get("emitted")
        processing = f"{(emitted - arrived) / 1e6:7.1f} ms" if arrived and emitted else "         -"
        lines.append(
            f"{alarm_id:>6}  {alarm.bed:<7} {alarm.kind:<16} {alarm.priority.name.lower():<8} "
            f"{'-' if truth is None else f'{truth:.1f} s':>10} "
            f"{'-' if not math.isfinite(decided) else f'{decided:.1f} s':>8} "
            f"{detection:>9} {processing:>10}"
        )
    if not record.first:
        lines.append("  no alarm was raised")
    lines.append(
        f"{len(record.first)} alarms, {len(record.events)} alarm events in {runtime_seconds:.0f} s "
        f"at {speed:g}x. Detection = decided - true onset (device time: the clinical condition "
        "delay plus the analysis' look-ahead; * host time, the link's silence threshold); "
        "processing = bytes arrived -> first sink."
    )
    return "\n".join(lines)


def _report(out: Path) -> None:
    from vigil.errors import VigilError
    from vigil.runtime.journal.report import load, write_report

    target = out / "report.png"
    try:
        write_report(load(out / "journal.db"), target)
    except VigilError as exc:  # matplotlib missing (the `plot` extra): the journal stays
        print(f"vigil demo: no report plot: {exc}", file=sys.stderr)
        return
    print(f"report: {target}   journal: {out / 'journal.db'} (vigil alarms --journal ...)")
