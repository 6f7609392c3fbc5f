"""Pacing: play a `SimulatedMonitor` onto a transport in real time (times its time scale)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Protocol

from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def read(self) -> bytes: ...


def serve(
    monitor: SimulatedMonitor,
    transport: Transport,
    *,
    stop: threading.Event,
    seconds: float | None = None,
    speed: Fraction = Fraction(1),
    clock: Callable[[], float] = time.monotonic,
) -> Fraction:
    """Stream until `stop` is set or `seconds` of device time are sent; returns the device
    time sent. Falls behind gracefully: late slots are sent at once, never skipped."""
    start = clock()
    end = Fraction(seconds).limit_denominator(1000) if seconds is not None else None
    while not stop.is_set():
        device_t = Fraction(clock() - start) * speed
        if end is not None and device_t > end:
            device_t = end
        transport.write(monitor.frames_until(device_t))
        monitor.receive(transport.read(), device_t)
        monitor.poll_watchdog(device_t)
        if end is not None and monitor.sent_until >= end:
            break
        wake = start + float(monitor.next_slot_end() / speed)
        stop.wait(max(0.0, min(wake - clock(), 0.05)))
    return monitor.sent_until
