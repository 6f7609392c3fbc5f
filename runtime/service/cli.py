"""`vigil run --config vigil.toml`: the runtime a bedside device or ward gateway runs."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from fractions import Fraction
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="serve the configured beds: analysis, alarms, journal, sinks, live view",
        description="Read every configured serial link, analyse the vital signs, decide "
        "alarms with IEC 60601-1-8 semantics, journal them (SQLite) before any sink signals "
        "them, and show them. The configuration is validated before any port is opened; an "
        "error exits 2. SIGTERM/SIGINT stop it cleanly (exit 0). `vigil config example` "
        "prints a configuration with every option.",
        epilog="Not a certified medical device: for development and evaluation only.",
    )
    run.add_argument("--config", type=Path, required=True, metavar="FILE", help="vigil.toml")
    run.add_argument(
        "--headless",
        action="store_true",
        help="log alarm events as lines instead of the live view (the default without a tty)",
    )
    run.set_defaults(handler=_run)

    demo = sub.add_parser(
        "demo",
        help="simulated monitors on pseudo-terminals, the whole runtime live on them",
        description="Start simulated bedside monitors on pseudo-terminals playing a scripted "
        "tour (normal rhythm, PVCs, VT, desaturation, leads off, asystole, a cable pulled and "
        "plugged back), run the runtime against them live, journal everything, and end with "
        "a summary of each alarm beside the tour's true onset, plus the report plot. Ctrl-C "
        "ends it early with the summary.",
        epilog="Not a certified medical device: for development and evaluation only.",
    )
    demo.add_argument("--beds", type=_positive_int, default=1, help="simulated beds (default 1)")
    demo.add_argument(
        "--seconds", type=float, default=150.0, help="device seconds of the tour (default 150)"
    )
    demo.add_argument(
        "--speed", type=_speed, default=Fraction(2), help="time scale of the monitors (default 2)"
    )
    demo.add_argument(
        "--out", type=Path, default=Path("vigil-demo"), help="journal, JSONL and report here"
    )
    demo.add_argument("--headless", action="store_true", help="log lines instead of the view")
    demo.add_argument(
        "--imaging",
        action="store_true",
        help="add an imaging cart: a phantom cine through the ultrasound pipeline ([imaging])",
    )
    demo.set_defaults(handler=_demo)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text!r}")
    return value


def _speed(text: str) -> Fraction:
    try:
        value = Fraction(text).limit_denominator(100)
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not 0 < value <= 20:
        raise argparse.ArgumentTypeError(f"must be in (0, 20]: {text!r}")
    return value


def _demo(args: argparse.Namespace) -> int:
    from vigil.runtime.service.demo import run_demo
    from vigil.runtime.service.serve import stop_on_signals

    stop = threading.Event()
    stop_on_signals(stop)
    print("Not a certified medical device: for development and evaluation only.", file=sys.stderr)
    return run_demo(
        beds=args.beds,
        seconds=args.seconds,
        speed=args.speed,
        out=args.out,
        headless=args.headless,
        imaging=args.imaging,
        stop=stop,
    )


def _run(args: argparse.Namespace) -> int:
    from vigil.errors import ConfigError
    from vigil.runtime.config import load_config
    from vigil.runtime.service.runtime import VigilRuntime
    from vigil.runtime.service.serve import EXIT_CONFIG, serve, stop_on_signals
    from vigil.runtime.sinks.jsonl import JsonlSink
    from vigil.runtime.sinks.log_lines import LogSink

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not args.verbose:
        logging.getLogger("vigil").setLevel(config.runtime.log_level.upper())
    sinks = [LogSink()]
    if config.sinks.jsonl is not None:
        sinks.append(JsonlSink(config.sinks.jsonl))
    stop = threading.Event()
    stop_on_signals(stop)
    return serve(VigilRuntime(config, sinks=sinks), stop, headless=args.headless)
