"""The bridge's subcommands: `vigil simulate monitor`, `vigil listen`, `vigil bridge-demo`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError

log = logging.getLogger(__name__)


def _fraction(text: str) -> Fraction:
    try:
        value = Fraction(text).limit_denominator(1000)
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value <= 0 or value.numerator > 0xFFFF or value.denominator > 0xFFFF:
        raise argparse.ArgumentTypeError(f"must be positive and fit the protocol: {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    simulate = sub.add_parser("simulate", help="simulated devices")
    devices = simulate.add_subparsers(dest="device", metavar="DEVICE", required=True)
    mon = devices.add_parser(
        "monitor",
        help="a simulated bedside monitor speaking the wire protocol",
        description="Stream a simulated bedside monitor over a pseudo-terminal (--pty, its "
        "path printed as the first line of stdout) or a real serial port (--port).",
    )
    where = mon.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--pty",
        action="store_true",
        help="open a pseudo-terminal (SIGUSR1 pulls/restores the cable)",
    )
    where.add_argument("--port", help="write to this serial port (path or pyserial URL)")
    mon.add_argument("--pty-link", type=Path, help="keep a stable symlink to the pty here")
    mon.add_argument("--baud", type=int, default=115200)
    mon.add_argument("--seed", type=int, default=0, help="makes the signals deterministic")
    mon.add_argument("--scenario", default="normal", help="built-in name or a TOML file")
    mon.add_argument("--replay", type=Path, help="stream a recording: WFDB, CSV, .npy/.npz")
    mon.add_argument("--map", dest="channel_map", help="file signal=channel, e.g. MLII=ecg_ii")
    mon.add_argument("--file-rate", type=_fraction, help="sample rate of a .npy/CSV file")
    mon.add_argument("--loop", action="store_true", help="loop the recording")
    mon.add_argument("--speed", type=_fraction, default=Fraction(1), help="time scale (4 = 4x)")
    mon.add_argument("--seconds", type=float, help="stop after this much device time")
    mon.add_argument("--annotations", type=Path, help="write true beats/episodes (JSON lines)")
    mon.add_argument("--device-id", default="VIGIL-SIM-0001")
    mon.set_defaults(handler=_simulate_monitor)

    listen = sub.add_parser(
        "listen",
        help="decode a live stream, one line per second",
        description="Decode a device's stream and print one line per second: numerics, "
        "samples per channel, link counters.",
    )
    src = listen.add_mutually_exclusive_group(required=True)
    src.add_argument("--port", help="serial port path or pyserial URL")
    src.add_argument("--recording", type=Path, help="decode a byte recording (--record)")
    listen.add_argument("--baud", type=int, default=115200)
    listen.add_argument("--seconds", type=float, help="stop after this long")
    listen.add_argument("--record", type=Path, help="also write the raw bytes with arrival times")
    listen.set_defaults(handler=_listen)

    demo = sub.add_parser(
        "bridge-demo",
        help="a simulated monitor decoded live, link only (no analysis or alarms)",
        description="Start a simulated monitor on a pseudo-terminal and decode it live: the "
        "serial link alone, with a cable pull and a sample-by-sample check at the end. "
        "`vigil demo` runs the whole runtime.",
    )
    demo.add_argument("--seconds", type=int, default=30, help="how long to run")
    demo.add_argument("--scenario", default="ventricular_tachycardia")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--speed", type=_fraction, default=Fraction(2), help="time scale")
    demo.set_defaults(handler=_demo)


def _build_monitor(args: argparse.Namespace, on_annotation: Any = None) -> Any:
    from vigil.firmware_bridge.simulator.channels import default_rates
    from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
    from vigil.firmware_bridge.simulator.sources import FileSource, SyntheticSource

    if args.replay is not None:
        from vigil.firmware_bridge.replay import parse_channel_map

        mapping = parse_channel_map(args.channel_map) if args.channel_map else None
        source: Any = FileSource(
            str(args.replay), default_rates(), mapping, loop=args.loop, file_rate=args.file_rate
        )
    else:
        source = SyntheticSource(args.scenario, args.seed, default_rates())
    return SimulatedMonitor(
        source,
        seed=args.seed,
        device_id=args.device_id,
        time_scale=args.speed,
        on_annotation=on_annotation,
    )


def _simulate_monitor(args: argparse.Namespace) -> int:
    from vigil.firmware_bridge.simulator.serve import serve
    from vigil.firmware_bridge.simulator.transports import PtyTransport, SerialTransport

    stop = threading.Event()
    _stop_on_signals(stop)
    with ExitStack() as stack:
        notes = None
        if args.annotations:
            try:
                notes_file = stack.enter_context(open(args.annotations, "w", encoding="utf-8"))
            except OSError as exc:
                msg = f"cannot write --annotations {args.annotations}: {exc.strerror}"
                raise ConfigError(msg) from exc

            def notes(note: dict[str, Any]) -> None:
                notes_file.write(json.dumps(note) + "\n")
                notes_file.flush()

        if args.pty:  # open and announce the port first: building the source takes a while
            transport: Any = PtyTransport(args.pty_link)
            print(transport.path, flush=True)
        else:
            if args.pty_link:
                raise ConfigError("--pty-link goes with --pty")
            transport = SerialTransport(args.port, args.baud)
        stack.callback(transport.close)
        if args.pty:
            _cable_pull_on_sigusr1(transport)
        monitor = _build_monitor(args, notes)
        seconds = args.seconds
        if seconds is None and args.replay is not None and not args.loop:
            seconds = float(monitor.source.duration)
        sent = serve(monitor, transport, stop=stop, seconds=seconds, speed=args.speed)
        log.info("sent %.2f s of device time, %d frames", float(sent), monitor.encoder.frames_sent)
    return 0


def _cable_pull_on_sigusr1(transport: Any) -> None:
    """`kill -USR1 PID` pulls the simulated cable; the next one plugs it back in."""

    def toggle() -> None:
        if transport.plugged:
            transport.unplug()
            log.warning("cable pulled (SIGUSR1 again to plug it back in)")
        else:
            log.warning("cable plugged back in: %s", transport.replug())

    def handler(signum: int, frame: Any) -> None:
        # The handler interrupts the main thread, which may hold the transport's lock
        # mid-write: toggle from another thread, which simply waits its turn.
        threading.Thread(target=toggle, name="cable pull", daemon=True).start()

    signal.signal(signal.SIGUSR1, handler)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _listen(args: argparse.Namespace) -> int:
    if args.recording is not None:
        return _listen_recording(args.recording)
    return _listen_live(args.port, args.baud, args.seconds, args.record)


def _listen_live(port: str, baud: int, seconds: float | None, record: Path | None) -> int:
    from vigil.firmware_bridge.byte_recording import ByteRecorder
    from vigil.firmware_bridge.link import SerialLink
    from vigil.firmware_bridge.listen_summary import ListenSummary

    stop = threading.Event()
    _stop_on_signals(stop)
    summary = ListenSummary()
    recorder = ByteRecorder(record) if record else None
    link = SerialLink(port, summary, baudrate=baud, recorder=recorder).start()
    try:
        _print_each_second(link, summary, seconds, stop)
    finally:
        link.stop()
        if recorder is not None:
            recorder.close()
    if link.error is not None:
        raise link.error
    return 0


def _print_each_second(
    link: Any,
    summary: Any,
    seconds: float | None,
    stop: threading.Event,
    each_second: Any = None,
) -> None:
    """One line per second until `seconds` pass or `stop` is set; `each_second(tick)` runs
    before each line (the demo pulls its cable from there)."""
    start = time.monotonic()
    tick = 1
    while not stop.wait(max(0.0, start + tick - time.monotonic())):
        if each_second is not None:
            each_second(tick)
        print(summary.line(time.monotonic() - start, link.stats()), flush=True)
        for event in summary.events:
            detail = " ".join(str(x) for x in (event.detail, event.count or "") if x)
            print(f"        event: {event.kind} {detail}", flush=True)
        summary.events.clear()
        if seconds is not None and tick >= seconds:
            break
        tick += 1


def _listen_recording(path: Path) -> int:
    from vigil.firmware_bridge.byte_recording import read_byte_recording
    from vigil.firmware_bridge.codec import Decoder
    from vigil.firmware_bridge.link import LinkState, link_stats
    from vigil.firmware_bridge.listen_summary import ListenSummary
    from vigil.firmware_bridge.session import DeviceSession

    decoder, session, summary = Decoder(), DeviceSession(str(path)), ListenSummary()

    def stats() -> Any:
        return link_stats(str(path), LinkState.CONNECTED, decoder, session)

    next_line_ns = 1_000_000_000
    for t_ns, data in read_byte_recording(path):
        while t_ns >= next_line_ns:
            print(summary.line(next_line_ns / 1e9, stats()))
            next_line_ns += 1_000_000_000
        for msg in decoder.feed(data):
            for record in session.handle(msg, t_ns):
                summary(record)
    print(summary.line(next_line_ns / 1e9, stats()))
    totals = ", ".join(f"{k} {n}" for k, n in summary.samples_total.items())
    print(f"total samples: {totals}; decoder: {decoder.counters.as_dict()}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The bridge demo: a simulated monitor on a pty, decoded live by a real serial link,
    its cable pulled and restored mid-run, and every decoded ECG sample checked against the
    seeded generator at the end."""
    import tempfile

    import numpy as np

    from vigil.firmware_bridge.link import SerialLink
    from vigil.firmware_bridge.listen_summary import ListenSummary
    from vigil.firmware_bridge.simulator.channels import DEFAULT_CHANNELS, default_rates
    from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
    from vigil.firmware_bridge.simulator.serve import serve
    from vigil.firmware_bridge.simulator.sources import SyntheticSource
    from vigil.firmware_bridge.simulator.transports import PtyTransport
    from vigil.records import LinkEvent, WaveformChunk

    stop = threading.Event()
    _stop_on_signals(stop)
    ecg = DEFAULT_CHANNELS["ecg_ii"]
    source = SyntheticSource(args.scenario, args.seed, default_rates())
    monitor = SimulatedMonitor(source, seed=args.seed, time_scale=args.speed)
    chunks: list[WaveformChunk] = []
    reported_missing = 0
    summary = ListenSummary()

    def on_record(record: Any) -> None:
        nonlocal reported_missing
        summary(record)
        if isinstance(record, WaveformChunk) and record.channel == ecg.id:
            chunks.append(record)
        elif (
            isinstance(record, LinkEvent)
            and record.kind == "sample_gap"
            and record.channel == ecg.id
        ):
            reported_missing += record.count

    pull_at = max(2, int(args.seconds * 0.4))

    def cable(tick: int) -> None:
        if tick == pull_at:
            transport.unplug()
            print("        demo: cable pulled for 2 s", flush=True)
        elif tick == pull_at + 2:
            transport.replug()
            print("        demo: cable plugged back in", flush=True)

    with tempfile.TemporaryDirectory(prefix="vigil-demo-") as tmp:
        port = str(Path(tmp) / "ttyMONITOR")
        transport = PtyTransport(port)
        print(
            f"Simulated bedside monitor: scenario {args.scenario!r}, seed {args.seed}, "
            f"{args.speed}x time, on {transport.path} (stable link {port})",
            flush=True,
        )
        sim = threading.Thread(
            target=serve,
            args=(monitor, transport),
            kwargs={"stop": stop, "speed": args.speed},
            daemon=True,
            name="simulator",
        )
        link = SerialLink(port, on_record).start()
        sim.start()
        try:
            _print_each_second(link, summary, args.seconds, stop, cable)
        finally:
            stop.set()
            sim.join(2)
            link.stop()
            transport.close()
    if not chunks:
        print("No samples were decoded.", file=sys.stderr)
        return 1
    end = chunks[-1].end_index
    indices = np.concatenate([np.arange(c.first_index, c.end_index) for c in chunks])
    truth = source.render(Fraction(0), Fraction(end) / ecg.rate).waveforms["ecg_ii"][1]
    raw, _ = ecg.to_raw(truth)
    differ = int(
        np.count_nonzero(
            np.concatenate([c.samples for c in chunks]) != ecg.to_physical(raw)[indices]
        )
    )
    stats = link.stats()
    lost = end - len(indices)
    print(
        f"\nECG II: {len(indices)} samples decoded of {end} sent; {lost} lost while the cable "
        f"was out and {reported_missing} reported missing; {differ} differ from the seeded "
        "generator."
    )
    print(
        f"Link: {stats.frames_ok} frames, {stats.crc_errors} CRC errors, {stats.seq_gaps} sequence "
        f"gaps ({stats.frames_lost} frames lost), {stats.disconnects} disconnect(s), "
        f"drift {stats.clock_drift_ppm:+.0f} ppm."
    )
    print("Not a certified medical device: for development and evaluation only.", file=sys.stderr)
    return 0 if differ == 0 and lost == reported_missing else 1
