"""Simulated bedside monitors on real pseudo-terminals, for the runtime's end-to-end tests.

Each `MonitorRig` bed is a `SimulatedMonitor` playing a scenario from the shared synthesizer,
served in real time (times `speed`) onto a `PtyTransport`; the runtime under test opens the
pty's path exactly as it would open a USB-serial adapter.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from vigil.firmware_bridge.simulator.channels import DEFAULT_CHANNELS
from vigil.firmware_bridge.simulator.monitor import SimulatedMonitor
from vigil.firmware_bridge.simulator.serve import serve
from vigil.firmware_bridge.simulator.sources import SyntheticSource
from vigil.firmware_bridge.simulator.transports import PtyTransport


@dataclass
class SimBed:
    name: str
    transport: PtyTransport
    monitor: SimulatedMonitor
    thread: threading.Thread | None = None

    @property
    def port(self) -> str:
        return str(self.transport.link_path or self.transport.path)


@dataclass
class MonitorRig:
    speed: Fraction = Fraction(4)
    beds: list[SimBed] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def add(self, name: str, scenario: str, seed: int, link_dir: Path) -> SimBed:
        rates = {n: ch.rate for n, ch in DEFAULT_CHANNELS.items()}
        monitor = SimulatedMonitor(
            SyntheticSource(scenario, seed=seed, rates=rates),
            seed=seed,
            device_id=f"SIM-{name}",
            time_scale=self.speed,
        )
        bed = SimBed(name, PtyTransport(link_dir / f"tty-{name}"), monitor)
        self.beds.append(bed)
        return bed

    def start(self) -> MonitorRig:
        for bed in self.beds:
            bed.thread = threading.Thread(
                target=serve,
                args=(bed.monitor, bed.transport),
                kwargs={"stop": self.stop, "speed": self.speed},
                daemon=True,
            )
            bed.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        for bed in self.beds:
            if bed.thread is not None:
                bed.thread.join(2.0)
            bed.transport.close()


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.05):
    """Poll until `predicate()` is truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
