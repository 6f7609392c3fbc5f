"""Technical conditions from the device's status flags: probe off, device fault, battery low.

The device has already debounced its flags, so a condition starts at the first status record
that sets a flag and ends at the first that clears it (device time of those records). Leads
off is not here: the ECG path owns it, because it also suspends arrhythmia analysis.
"""

from __future__ import annotations

import time
from typing import Any

from vigil.records import DeviceStatus
from vigil.runtime.analysis.condition import Condition, condition, ended

FLAGS = ("probe_off", "device_fault", "battery_low")
"""DeviceStatus fields, each the name of the condition kind it raises."""


class StatusDetector:
    """Probe-off, device-fault and battery-low conditions of one bed."""

    def __init__(self, bed: str) -> None:
        self.bed = bed
        self._active: dict[str, Condition] = {}
        self._last_t: float | None = None

    def update(self, status: DeviceStatus, t_s: float) -> list[Condition]:
        """One status record at device time `t_s` (s): the starts and ends it makes."""
        if self._last_t is not None and t_s < self._last_t:
            raise ValueError(f"StatusDetector.update: time {t_s} s goes back from {self._last_t}")
        self._last_t = t_s
        out: list[Condition] = []
        now_ns = time.monotonic_ns()
        for kind in FLAGS:
            on = getattr(status, kind)
            if not isinstance(on, bool):
                raise TypeError(f"DeviceStatus.{kind} must be a bool, got {on!r}")
            active = self._active.get(kind)
            if on and active is None:
                self._active[kind] = condition(
                    kind,
                    self.bed,
                    t_s,
                    evidence=_evidence(kind, status),
                    decided_at_s=t_s,
                    decided_ns=now_ns,
                )
                out.append(self._active[kind])
            elif not on and active is not None:
                del self._active[kind]
                out.append(ended(active, t_s, decided_at_s=t_s, decided_ns=now_ns))
        return out

    @property
    def probe_off(self) -> bool:
        """Whether the SpO2 probe is off now (the pleth cannot speak for the pulse)."""
        return "probe_off" in self._active


def _evidence(kind: str, status: DeviceStatus) -> dict[str, Any]:
    ev: dict[str, Any] = {"source": status.source}
    if kind == "device_fault":
        ev["fault_code"] = status.fault_code
    elif kind == "battery_low":
        ev["battery_pct"] = status.battery_pct
        ev["on_battery"] = status.on_battery
    return ev
