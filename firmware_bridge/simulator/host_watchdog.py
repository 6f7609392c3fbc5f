"""The device's host-silence watchdog (docs/protocol.md, section 4), as the simulator runs it.

The firmware runs the C version (`vgl_watchdog_*` in firmware_bridge/c/); this mirrors its
states so a simulated monitor also warns when its host falls silent.
"""

from __future__ import annotations

import enum


class WatchdogState(enum.Enum):
    CONNECTED = "connected"
    HOST_LOST = "host_lost"  # the device sounds its alarm-system-failure signal


class HostWatchdog:
    def __init__(self, timeout_ms: int, now_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self._last_heard_ms = now_ms
        self.state = WatchdogState.CONNECTED
        self.losses = 0

    def host_frame(self, now_ms: int) -> None:
        self._last_heard_ms = now_ms
        self.state = WatchdogState.CONNECTED

    def poll(self, now_ms: int) -> WatchdogState:
        if (
            self.state is WatchdogState.CONNECTED
            and now_ms - self._last_heard_ms >= self.timeout_ms
        ):
            self.state = WatchdogState.HOST_LOST
            self.losses += 1
        return self.state
