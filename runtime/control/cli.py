"""`vigil ack` and `vigil pause`: operator commands sent to a running runtime's control socket.

Only argparse is imported at registration; the handlers import the client when they run.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

EXIT_REFUSED = 1


def _alarm_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an alarm id: {text!r}") from exc
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"alarm ids are 1..4294967295 (0 = all): {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def _socket_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="the runtime's control socket (default: $XDG_RUNTIME_DIR/vigil/control.sock, "
        "else /tmp/vigil-UID/control.sock)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    ack = sub.add_parser(
        "ack",
        help="acknowledge an alarm of the running runtime",
        description="Acknowledge alarm ALARM_ID (the #N the live view and the log show) in "
        "the running `vigil run` or `vigil demo`. ALARM_ID 0 with --bed acknowledges every "
        "alarm of that bed. The acknowledge is journaled with your uid and process id.",
    )
    ack.add_argument("alarm_id", type=_alarm_id, metavar="ALARM_ID", help="the alarm's number")
    ack.add_argument("--bed", help="the bed (needed with ALARM_ID 0: every alarm of the bed)")
    _socket_option(ack)
    ack.set_defaults(handler=_ack)

    pause = sub.add_parser(
        "pause",
        help="pause a bed's alarm audio in the running runtime",
        description="Pause the alarm audio of BED in the running `vigil run` or `vigil "
        "demo` for the policy's default (120 s unless configured) or --seconds, capped by "
        "the policy's maximum. Alarms stay visible; the pause is journaled with your uid.",
    )
    pause.add_argument("bed", metavar="BED", help="the bed whose audio to pause")
    pause.add_argument("--seconds", type=_seconds, metavar="S", help="how long to pause")
    _socket_option(pause)
    pause.set_defaults(handler=_pause)


def _ack(args: argparse.Namespace) -> int:
    from vigil.errors import ConfigError

    if args.alarm_id == 0 and not args.bed:
        raise ConfigError("`vigil ack 0` acknowledges every alarm of a bed: name it with --bed")
    request: dict[str, Any] = {"op": "ack", "alarm_id": args.alarm_id}
    if args.bed:
        request["bed"] = args.bed
    what = f"every alarm of {args.bed}" if args.alarm_id == 0 else f"alarm #{args.alarm_id}"
    return _run(args.socket, request, f"acknowledged {what}")


def _pause(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"op": "pause", "bed": args.bed}
    if args.seconds is not None:
        request["seconds"] = args.seconds
    span = f" for {args.seconds:g} s" if args.seconds is not None else ""
    return _run(args.socket, request, f"paused the alarm audio of {args.bed}{span}")


def _run(socket_path: Path | None, request: dict[str, Any], done: str) -> int:
    from vigil.runtime.control.client import send_request
    from vigil.runtime.control_paths import default_control_socket

    path = socket_path if socket_path is not None else default_control_socket()
    reply = send_request(path, request)
    if not reply["ok"]:
        print(f"vigil: refused: {reply.get('error') or 'no reason given'}", file=sys.stderr)
        return EXIT_REFUSED
    print(reply.get("message") or done)
    return 0
