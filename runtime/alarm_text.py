"""The short human text of an alarm, as a monitor's alarm bar shows it: "VT 5 beats 152/min",
"SpO2 LOW 86", "ECG LEADS OFF".

One function so the device (its 48-byte ALARM text), the log lines and the live view say the
same words for the same alarm. The text names the alarm and the value that decided it; its
state (latched, acknowledged, audio paused) is shown beside it by each place in its own way.
"""

from __future__ import annotations

import math
from typing import Any

from vigil.runtime.alarms.model import Alarm

MAX_TEXT_BYTES = 48
"""The wire's limit on ALARM text (protocol MAX_ALARM_TEXT); every text here fits in it."""

_NAMES = {
    "asystole": "ASYSTOLE",
    "vf": "VFIB",
    "vt": "VT",
    "brady_extreme": "EXTREME BRADY",
    "tachy_extreme": "EXTREME TACHY",
    "pause": "PAUSE",
    "pvc_high": "PVCs",
    "couplet": "COUPLET",
    "bigeminy": "BIGEMINY",
    "hr_low": "HR LOW",
    "hr_high": "HR HIGH",
    "pulse_low": "PULSE LOW",
    "pulse_high": "PULSE HIGH",
    "spo2_low": "SpO2 LOW",
    "spo2_desat": "SpO2 DESAT",
    "nibp_sys_low": "NBP SYS LOW",
    "nibp_sys_high": "NBP SYS HIGH",
    "nibp_dia_low": "NBP DIA LOW",
    "nibp_dia_high": "NBP DIA HIGH",
    "nibp_mean_low": "NBP MEAN LOW",
    "nibp_mean_high": "NBP MEAN HIGH",
    "resp_low": "RR LOW",
    "resp_high": "RR HIGH",
    "temp_low": "TEMP LOW",
    "temp_high": "TEMP HIGH",
    "apnea": "APNEA",
    "news2_medium": "NEWS2",
    "news2_high": "NEWS2",
    "trend_anomaly": "TREND ANOMALY",
    "leads_off": "ECG LEADS OFF",
    "ecg_unanalysable": "ECG UNANALYSABLE",
    "probe_off": "SpO2 PROBE OFF",
    "numeric_invalid": "INVALID",
    "model_unavailable": "MODEL UNAVAILABLE",
    "device_fault": "DEVICE FAULT",
    "battery_low": "BATTERY LOW",
    "link_lost": "LINK LOST",
    "data_gap": "DATA GAP",
    "crc_errors": "CRC ERRORS",
    "clock_jump": "CLOCK JUMP",
    "device_reset": "DEVICE RESET",
    "inference_degraded": "INFERENCE DEGRADED",
    "queue_backpressure": "ANALYSIS LAGGING",
    "journal_failed": "JOURNAL FAILED",
    "sink_failed": "SINK FAILED",
}

_PARAMETERS = {
    "hr": "HR",
    "spo2": "SpO2",
    "pulse_rate": "PULSE",
    "nibp_sys": "NBP SYS",
    "nibp_dia": "NBP DIA",
    "nibp_mean": "NBP MEAN",
    "resp_rate": "RR",
    "temp": "TEMP",
}

_RATE_KINDS = frozenset({"vt", "brady_extreme", "tachy_extreme"})
_PLAIN_KINDS = frozenset(
    {
        "asystole",
        "vf",
        "couplet",
        "bigeminy",
        "trend_anomaly",
        "leads_off",
        "ecg_unanalysable",
        "probe_off",
        "link_lost",
        "data_gap",
        "crc_errors",
        "clock_jump",
        "device_reset",
        "queue_backpressure",
        "journal_failed",
    }
)
_KEYED_KINDS = frozenset({"model_unavailable", "inference_degraded", "sink_failed"})
"""Kinds whose key names what failed (the model, the sink)."""


def alarm_text(alarm: Alarm) -> str:
    """The alarm's short text, at most `MAX_TEXT_BYTES` bytes of UTF-8."""
    return fit_text(_text(alarm.kind, alarm.key, alarm.condition.value, alarm.condition.evidence))


def fit_text(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    """`text` cut to at most `limit` bytes of UTF-8 without splitting a character (the wire
    counts bytes; a cut inside a multi-byte character would not decode on the device)."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", errors="ignore").rstrip()


def _text(kind: str, key: str, value: float, evidence: dict[str, Any]) -> str:
    name = _NAMES.get(kind) or kind.replace("_", " ").upper()
    if kind == "numeric_invalid":
        return f"{_PARAMETERS.get(key, key.upper()) or 'NUMERIC'} INVALID"
    if kind in _KEYED_KINDS:
        return f"{name} {key}".strip()
    if kind in _PLAIN_KINDS:
        return name
    if kind == "vt":
        beats = evidence.get("beat_times_s")
        run = f" {len(beats)} beats" if isinstance(beats, list) and beats else ""
        return f"VT{run} {_whole(value)}/min" if _finite(value) else f"VT{run}"
    if kind in _RATE_KINDS or kind == "pvc_high":
        return f"{name} {_whole(value)}/min" if _finite(value) else name
    if kind in ("pause", "apnea"):
        return f"{name} {value:.0f} s" if _finite(value) else name
    if kind.startswith("temp_"):
        return f"{name} {value:.1f}" if _finite(value) else name
    if kind.startswith("news2"):
        return f"NEWS2 {_whole(value)}" if _finite(value) else name
    if kind == "battery_low":
        pct = evidence.get("battery_pct")
        return f"{name} {pct}%" if isinstance(pct, int) and 0 <= pct <= 100 else name
    if kind == "device_fault":
        code = evidence.get("fault_code")
        return f"{name} {code}" if isinstance(code, int) and code else name
    if kind in _NAMES:  # limits: the measurement that crossed
        return f"{name} {_whole(value)}" if _finite(value) else name
    # a configured (bring-your-own) kind: its name, its key, its value
    parts = [name, key.upper() if key else "", f"{value:.4g}" if _finite(value) else ""]
    return " ".join(p for p in parts if p)


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _whole(value: float) -> str:
    return f"{value:.0f}"
