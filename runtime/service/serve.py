"""Running a `VigilRuntime` as a service: signals, the live view or log lines, exit codes.

Exit codes a service manager understands: 0 after SIGTERM/SIGINT and a clean stop, 1 when
the runtime cannot start or dies (the journal cannot be written, a port is refused ...),
2 for a configuration error (nothing was opened).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vigil.errors import VigilError
from vigil.runtime.alarms.model import OperatorCommand
from vigil.runtime.service.runtime import VigilRuntime

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop` (the main thread then stops the runtime cleanly)."""

    def handler(signum: int, frame: Any) -> None:
        log.warning("%s: stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def serve(
    runtime: VigilRuntime,
    stop: threading.Event,
    *,
    headless: bool,
) -> int:
    """Start the runtime, its control socket and its view; block until `stop`; stop it all."""
    from vigil.runtime.control.server import ControlServer
    from vigil.runtime.live_view import LiveView

    try:
        runtime.start()
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        runtime.stop()
        return EXIT_FAILED
    control = ControlServer(runtime.config.runtime.control_socket, runtime.control_request)
    try:
        control.start()
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        runtime.stop()
        return EXIT_FAILED
    log.info("control socket %s (vigil ack / vigil pause)", runtime.config.runtime.control_socket)
    try:
        if not headless and LiveView.available():
            view = LiveView(runtime.snapshot, lambda cmd: _submit(runtime, cmd))
            watcher = threading.Thread(target=_watch, args=(runtime, stop), daemon=True)
            watcher.start()
            log_file = runtime.config.journal.path.with_suffix(".log")
            with _logging_to(log_file):  # log lines would scribble over the view
                view.run(stop)
        else:
            while not stop.wait(0.5):
                if not runtime.running:
                    break
    finally:
        control.stop()
        runtime.stop()
    if runtime.error is not None:
        print(f"vigil: error: the processing loop died: {runtime.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Send the root logger's records to `path` instead of stderr while the view runs."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers[:] = [handler]
    try:
        yield
    finally:
        root.handlers[:] = saved
        handler.close()
        print(f"vigil: the log of this run is in {path}", file=sys.stderr)


def _submit(runtime: VigilRuntime, cmd: OperatorCommand) -> str:
    try:
        return runtime.submit(cmd)
    except TimeoutError:
        return "the runtime did not answer in time"


def _watch(runtime: VigilRuntime, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        if not runtime.running:
            stop.set()
