"""`vigil listen`'s view: one line per second of what a link decoded."""

from __future__ import annotations

import math
from collections import Counter

from vigil.firmware_bridge.link import LinkStats
from vigil.records import DeviceStatus, LinkEvent, Numerics, Record, WaveformChunk


def _fmt(value: float, digits: int = 0) -> str:
    return "--" if not math.isfinite(value) else f"{value:.{digits}f}"


class ListenSummary:
    """Collects records (from the link's thread) and renders a line per second."""

    def __init__(self) -> None:
        self.samples_this_second: Counter[str] = Counter()
        self.samples_total: Counter[str] = Counter()
        self.numerics: Numerics | None = None
        self.status: DeviceStatus | None = None
        self.events: list[LinkEvent] = []

    def __call__(self, record: Record) -> None:
        if isinstance(record, WaveformChunk):
            n = len(record.samples)
            self.samples_this_second[record.label] += n
            self.samples_total[record.label] += n
        elif isinstance(record, Numerics):
            self.numerics = record
        elif isinstance(record, DeviceStatus):
            self.status = record
        elif isinstance(record, LinkEvent):
            self.events.append(record)

    def line(self, elapsed_s: float, stats: LinkStats) -> str:
        v = self.numerics.values if self.numerics else {}
        nan = math.nan
        vitals = (
            f"HR {_fmt(v.get('hr', nan))} SpO2 {_fmt(v.get('spo2', nan))} "
            f"PR {_fmt(v.get('pulse_rate', nan))} "
            f"NIBP {_fmt(v.get('nibp_sys', nan))}/{_fmt(v.get('nibp_dia', nan))}"
            f"({_fmt(v.get('nibp_mean', nan))}) RR {_fmt(v.get('resp_rate', nan))} "
            f"T {_fmt(v.get('temp', nan), 1)}"
        )
        counts = " ".join(f"{k} {n}" for k, n in self.samples_this_second.items()) or "none"
        self.samples_this_second.clear()
        flags = []
        if self.status is not None:
            if self.status.leads_off:
                flags.append("LEADS OFF " + ",".join(self.status.leads_off))
            if self.status.probe_off:
                flags.append("PROBE OFF")
            if self.status.nibp_in_progress:
                flags.append("NIBP...")
        link = (
            f"{stats.state.value} frames {stats.frames_ok} crc {stats.crc_errors} "
            f"bad {stats.corrupt_frames} lost {stats.frames_lost} "
            f"missing {stats.samples_missing} reconnects {max(0, stats.connects - 1)} "
            f"drift {stats.clock_drift_ppm:+.0f}ppm"
        )
        status = (" | " + " ".join(flags)) if flags else ""
        return f"{elapsed_s:6.0f}s | {vitals}{status} | samples/s {counts} | {link}"
