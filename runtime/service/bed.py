"""One bed as the runtime holds it: its link, its analysis, and what the live view shows.

The link's reader thread only enqueues; everything here is touched by the processing loop
alone, except `view()`, which the loop's lock guards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vigil.firmware_bridge.link import SerialLink
from vigil.records import Numerics, WaveformChunk
from vigil.runtime.alarms.model import Alarm, BedSignal
from vigil.runtime.analysis.bed_analyzer import ECG_LEADS, BedAnalyzer
from vigil.runtime.link_alarms import LinkAlarms
from vigil.runtime.view_model import BedView

VIEW_ECG_S = 6.0  # seconds of ECG the live view draws


@dataclass(slots=True)
class BedState:
    index: int
    name: str
    port: str
    link: SerialLink
    analyzer: BedAnalyzer
    link_alarms: LinkAlarms
    device_s: float = 0.0  # the latest device time seen on this bed (s)
    first_device_s: float | None = None  # the first, since this runtime started
    reconfirmed: bool = False  # restored alarms checked against fresh analysis
    numerics: dict[str, float] = field(default_factory=dict)
    numerics_arrival_ns: int | None = None
    heart_rate: float | None = None
    records: int = 0
    _ecg: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # a ring
    _ecg_at: int = 0  # where the next sample goes in the ring
    _ecg_rate: float = 0.0
    _ecg_label: str = ""

    def observe(self, record: object) -> None:
        """Keep what the view shows and the bed's device clock (before analysis)."""
        self.records += 1
        if isinstance(record, WaveformChunk):
            rate = float(record.rate)
            end_s = record.end_index / rate
            self.device_s = max(self.device_s, end_s)
            if self.first_device_s is None:
                self.first_device_s = record.first_index / rate
            if record.kind in ECG_LEADS and (
                not self._ecg_label or record.label == self._ecg_label
            ):
                self._keep_ecg(record, rate)
        elif isinstance(record, Numerics):
            self.device_s = max(self.device_s, record.device_time_us / 1e6)
            self.numerics = dict(record.values)
            self.numerics_arrival_ns = record.arrival_ns

    def _keep_ecg(self, chunk: WaveformChunk, rate: float) -> None:
        if self._ecg_rate != rate:
            self._ecg_rate, self._ecg_label = rate, chunk.label
            self._ecg = np.full(int(VIEW_ECG_S * rate), np.nan, np.float32)
            self._ecg_at = 0
        ring = self._ecg
        x = chunk.samples[-len(ring) :]
        at = self._ecg_at
        first = min(len(x), len(ring) - at)
        ring[at : at + first] = x[:first]
        ring[: len(x) - first] = x[first:]
        self._ecg_at = (at + len(x)) % len(ring)

    def heart_rate_from(self, series: list[tuple[float, float]]) -> None:
        if series:
            hr = series[-1][1]
            self.heart_rate = hr if math.isfinite(hr) else None

    def view(self, alarms: list[Alarm], signal: BedSignal, now_ns: int, link_state: str) -> BedView:
        age = None
        if self.numerics_arrival_ns:
            age = max(0.0, (now_ns - self.numerics_arrival_ns) / 1e9)
        return BedView(
            bed=self.name,
            port=self.port,
            link_state=link_state,
            numerics=dict(self.numerics),
            numerics_age_s=age,
            heart_rate=self.heart_rate,
            ecg=np.roll(self._ecg, -self._ecg_at),
            ecg_rate=self._ecg_rate,
            ecg_label=self._ecg_label,
            alarms=tuple(alarms),
            signal=signal,
        )
