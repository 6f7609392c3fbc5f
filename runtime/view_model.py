"""What the live view shows, as plain values the runtime snapshots a few times a second.

The view never reaches into the runtime's objects: the runtime builds a `RuntimeView` under
its own lock and hands it over, so drawing can never race the processing loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vigil.runtime.alarms.model import Alarm, BedSignal


@dataclass(frozen=True, slots=True)
class BedView:
    bed: str
    port: str
    link_state: str  # LinkState value: connecting, connected, silent, disconnected, stopped
    numerics: dict[str, float]  # latest device numerics by protocol field name; NaN invalid
    numerics_age_s: float | None  # seconds since they arrived (None: never)
    heart_rate: float | None  # Vigil's own HR from the ECG (/min), None before 2 beats
    ecg: np.ndarray = field(compare=False)  # the last seconds of the first ECG lead, mV, NaN gaps
    ecg_rate: float = 0.0  # Hz (0: no ECG yet)
    ecg_label: str = ""
    alarms: tuple[Alarm, ...] = ()  # visible alarms (active, latched, acknowledged), urgent first
    signal: BedSignal | None = None


@dataclass(frozen=True, slots=True)
class RuntimeView:
    beds: tuple[BedView, ...]
    uptime_s: float
    journal: str  # path
    events_journaled: int
    technical_notes: tuple[str, ...] = ()  # runtime-wide problems, one line each
