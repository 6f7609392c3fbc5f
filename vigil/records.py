"""Core value types that cross rooms: what the bridge delivers and the runtime consumes.

Every record carries the device time it describes and the host monotonic time its bytes
arrived (`time.monotonic_ns`), so latency is measured on monotonic clocks only. Values are
in physical units (mV, %, mmHg, /min, °C); the wire's int16 never leaves the codec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, slots=True)
class WaveformChunk:
    """Consecutive samples of one channel. Sample i was taken at device time i / rate."""

    source: str  # the device id from HELLO
    channel: int
    label: str  # "ECG II", "Pleth", ...
    kind: str  # ChannelKind name: "ECG_II", "PLETH", ...
    units: str
    rate: Fraction
    first_index: int
    samples: np.ndarray = field(compare=False)  # float32, physical units
    host_time_ns: int = 0  # first sample's device time mapped to host monotonic time
    arrival_ns: int = 0

    @property
    def device_time_us(self) -> float:
        return float(self.first_index / self.rate * 1_000_000)

    @property
    def end_index(self) -> int:
        return self.first_index + len(self.samples)


@dataclass(frozen=True, slots=True)
class Numerics:
    """Monitor numerics; NaN means invalid or not measured: never compare it to a limit."""

    source: str
    device_time_us: int
    values: dict[str, float]
    host_time_ns: int = 0
    arrival_ns: int = 0


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    source: str
    device_time_us: int
    leads_off: tuple[str, ...]  # labels of the channels whose electrodes are off
    probe_off: bool
    nibp_in_progress: bool
    device_fault: bool
    battery_low: bool
    on_battery: bool
    battery_pct: int | None
    fault_code: int = 0
    host_time_ns: int = 0
    arrival_ns: int = 0


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """A key pressed on the device: 'ack' (alarm_id, 0 = all) or 'audio_pause' (seconds)."""

    source: str
    action: str
    device_time_us: int
    alarm_id: int = 0
    seconds: int = 0
    arrival_ns: int = 0


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """Something about the link itself that the runtime may turn into a technical alarm.

    kinds: connected, disconnected, silent, resumed, hello, device_reset, sample_gap,
    samples_overlapped, samples_dropped, clock_jump, unknown_channel.
    """

    source: str
    kind: str
    arrival_ns: int
    detail: str = ""
    channel: int | None = None
    count: int = 0


Record = WaveformChunk | Numerics | DeviceStatus | OperatorAction | LinkEvent
