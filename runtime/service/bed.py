"""One bed as the runtime holds it: its link, its analysis, and what the live view shows.

The link's reader thread only enqueues; everything here is touched by the processing loop
alone, except `view()`, which the loop's lock guards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from vigil.firmware_bridge.link import SerialLink
from vigil.records import Numerics, WaveformChunk
from vigil.runtime.alarms.model import Alarm, BedSignal
from vigil.runtime.analysis.bed_analyzer import ECG_LEADS, BedAnalyzer
from vigil.runtime.config import RuntimeConfig
from vigil.runtime.link_alarms import LinkAlarms
from vigil.runtime.view_model import BedView

VIEW_LEAD = "ECG_II"  # the lead a monitor shows first; another lead only when it is absent
VIEW_ECG_S = 6.0  # seconds of ECG the live view draws


@dataclass(slots=True)
class BedState:
    index: int
    name: str
    port: str
    link: SerialLink
    analyzer: BedAnalyzer | None  # None: analysed in a worker process
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
    _ecg_is_lead_ii: bool = False
    _rates: dict[str, tuple[Fraction, float]] = field(default_factory=dict)  # kind -> float

    def observe(self, record: object) -> None:
        """Keep what the view shows and the bed's device clock (before analysis)."""
        if isinstance(record, WaveformChunk):
            self.observe_chunk(record)
            return
        self.records += 1
        if isinstance(record, Numerics):
            self.device_s = max(self.device_s, record.device_time_us / 1e6)
            self.numerics = dict(record.values)
            self.numerics_arrival_ns = record.arrival_ns

    def observe_chunk(self, chunk: WaveformChunk) -> None:
        """`observe` for a waveform chunk, the record a bed sends ~100 times a second: its
        rate's float is kept per channel kind (float(Fraction) runs in Python)."""
        self.records += 1
        kind, rate = chunk.kind, chunk.rate
        known = self._rates.get(kind)
        if known is None or known[0] is not rate:
            known = self._rates[kind] = (rate, float(rate))
        hz = known[1]
        end_s = (chunk.first_index + len(chunk.samples)) / hz
        self.device_s = max(self.device_s, end_s)
        if self.first_device_s is None:
            self.first_device_s = chunk.first_index / hz
        if kind in ECG_LEADS and (
            not self._ecg_label
            or chunk.label == self._ecg_label
            or (kind == VIEW_LEAD and not self._ecg_is_lead_ii)
        ):
            self._keep_ecg(chunk, hz)

    def _keep_ecg(self, chunk: WaveformChunk, rate: float) -> None:
        if chunk.kind == VIEW_LEAD and not self._ecg_is_lead_ii:  # switch to lead II once seen
            self._ecg_is_lead_ii, self._ecg_rate = True, 0.0
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

    def ecg_tail(self) -> tuple[np.ndarray, float, str]:
        """The view's ECG ring in time order, its rate and lead (for a worker's view update)."""
        return np.roll(self._ecg, -self._ecg_at), self._ecg_rate, self._ecg_label

    def show_remote(
        self,
        *,
        device_s: float,
        first_device_s: float | None,
        numerics: dict[str, float],
        numerics_arrival_ns: int | None,
        heart_rate: float | None,
        records: int,
        ecg: np.ndarray | None,
        ecg_rate: float,
        ecg_label: str,
    ) -> None:
        """Take what an analysis worker reported of this bed (the parent's copy of a bed
        analysed in another process: view, device clock for restored-alarm checks)."""
        self.device_s = max(self.device_s, device_s)
        if self.first_device_s is None:
            self.first_device_s = first_device_s
        self.numerics = numerics
        self.numerics_arrival_ns = numerics_arrival_ns
        self.heart_rate = heart_rate
        self.records = records
        if ecg is not None:
            self._ecg, self._ecg_at = ecg, 0
            self._ecg_rate, self._ecg_label = ecg_rate, ecg_label

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


def build_bed(
    index: int,
    config: RuntimeConfig,
    link: SerialLink,
    clock_ns: Callable[[], int] = time.monotonic_ns,
    *,
    analyse: bool = True,
) -> BedState:
    """Bed `index` of `config` around `link`, with its analysis and link alarms. `analyse`
    False: the parent's copy of a bed an analysis worker analyses (no models loaded here:
    ONNX Runtime sessions are made in the worker, after the fork)."""
    cfg = config.beds[index]
    analyzer = None
    if analyse:
        models = replace(
            cfg.analysis.models, inference_timeout_s=config.runtime.inference_timeout_s
        )
        analyzer = BedAnalyzer(replace(cfg.analysis, models=models), clock=clock_ns)
    rt = config.runtime
    return BedState(
        index,
        cfg.name,
        cfg.port,
        link,
        analyzer,
        LinkAlarms(
            cfg.name,
            link_lost_s=rt.link_lost_s,
            crc_burst_errors=rt.crc_burst_errors,
            crc_burst_window_s=rt.crc_burst_window_s,
        ),
    )
