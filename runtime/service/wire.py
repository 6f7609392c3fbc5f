"""Messages between the runtime and its analysis workers: JSON over a pipe, never pickle.

DESIGN.md, "Untrusted input": no pickle anywhere, so `multiprocessing.Connection` carries
only `send_bytes` / `recv_bytes` of UTF-8 JSON. One message is one JSON object whose "t" says
what it is:

worker -> runtime
    out     one record's `BedOutput`: conditions (`condition_to_dict`), their stage stamps
            (host CLOCK_MONOTONIC ns: the same clock in every process, so stamps compare),
            hello, an operator key, numerics for the journal (NaN as null)
    status  per bed, a few times a second: device clock, link state, numerics, Vigil's HR,
            records seen, and while a view is attached the view's ECG tail (float32 bytes,
            base64)
runtime -> worker
    alarm   an ALARM message for a bed's device (the device sink's sender)
    view    a live view is drawing: send the ECG tails until `until_ns` (host monotonic ns).
            Without a view nobody reads them, and they were most of the pipe's bytes (6 s of
            lead II per bed, twice a second) and of the status' cost on both sides
    start   open the links (sent once the journal is open and alarms are restored)
    stop    send each device VIGIL STOPPED, close the links, exit
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

from vigil.errors import VigilError
from vigil.firmware_bridge.messages import AlarmMsg
from vigil.firmware_bridge.protocol import AlarmPriority, AlarmState
from vigil.runtime.alarms.model import OperatorCommand
from vigil.runtime.alarms.serialize import condition_from_dict, condition_to_dict
from vigil.runtime.service.bed import BedState
from vigil.runtime.service.bed_step import BedOutput


class WireError(VigilError):
    """A message from the other side of a worker pipe that is not one this module writes
    (the worker or runtime that sent it is broken: it is stopped, never guessed at)."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def decode(data: bytes) -> dict[str, Any]:
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"a worker pipe carried something that is not JSON: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise WireError(f"a worker pipe message has no type: {str(message)[:80]}")
    return message


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}


def _nan(values: dict[str, Any]) -> dict[str, float]:
    return {str(k): (math.nan if v is None else float(v)) for k, v in values.items()}


# -- worker -> runtime ----------------------------------------------------------------------
def output_message(out: BedOutput) -> dict[str, Any]:
    message: dict[str, Any] = {"t": "out", "bed": out.bed}
    if out.conditions:
        message["c"] = [condition_to_dict(c) for c in out.conditions]
        message["s"] = out.stamps
    if out.hello:
        message["h"] = True
    if out.action is not None:
        a = out.action
        message["a"] = [a.action, a.bed, a.actor, a.alarm_id, a.seconds]
    if out.numerics is not None:
        message["n"] = [out.numerics[0], _finite(out.numerics[1])]
    return message


def output_from(message: dict[str, Any]) -> BedOutput:
    out = BedOutput(int(message["bed"]))
    if "c" in message:
        out.conditions = tuple(condition_from_dict(c) for c in message["c"])
        out.stamps = {str(k): int(v) for k, v in message.get("s", {}).items()}
    out.hello = bool(message.get("h", False))
    if "a" in message:
        action, bed, actor, alarm_id, seconds = message["a"]
        out.action = OperatorCommand(
            str(action), str(bed), str(actor), alarm_id=int(alarm_id), seconds=float(seconds)
        )
    if "n" in message:
        device_s, values = message["n"]
        out.numerics = (float(device_s), _nan(values))
    return out


def bed_status(bed: BedState, link_state: str, *, with_ecg: bool) -> dict[str, Any]:
    status: dict[str, Any] = {
        "bed": bed.index,
        "device_s": bed.device_s,
        "first_device_s": bed.first_device_s,
        "link": link_state,
        "numerics": _finite(bed.numerics),
        "numerics_arrival_ns": bed.numerics_arrival_ns,
        "hr": bed.heart_rate,
        "records": bed.records,
    }
    if with_ecg:
        ecg, rate, label = bed.ecg_tail()
        status["ecg"] = base64.b64encode(ecg.astype("<f4").tobytes()).decode("ascii")
        status["ecg_rate"], status["ecg_label"] = rate, label
    return status


def show_status(bed: BedState, status: dict[str, Any]) -> str:
    """Apply a worker's status of `bed` to the runtime's copy; returns the link state."""
    ecg = None
    if "ecg" in status:
        ecg = np.frombuffer(base64.b64decode(status["ecg"]), "<f4").astype(np.float32)
    first = status.get("first_device_s")
    arrival = status.get("numerics_arrival_ns")
    hr = status.get("hr")
    bed.show_remote(
        device_s=float(status["device_s"]),
        first_device_s=None if first is None else float(first),
        numerics=_nan(status.get("numerics") or {}),
        numerics_arrival_ns=None if arrival is None else int(arrival),
        heart_rate=None if hr is None else float(hr),
        records=int(status.get("records", 0)),
        ecg=ecg,
        ecg_rate=float(status.get("ecg_rate", 0.0)),
        ecg_label=str(status.get("ecg_label", "")),
    )
    return str(status.get("link", "connecting"))


# -- runtime -> worker ----------------------------------------------------------------------
def view_message(until_ns: int) -> dict[str, Any]:
    return {"t": "view", "until_ns": int(until_ns)}


def view_until_ns(message: dict[str, Any]) -> int:
    return int(message["until_ns"])


def alarm_message(bed: int, msg: AlarmMsg) -> dict[str, Any]:
    return {
        "t": "alarm",
        "bed": bed,
        "m": [
            msg.time_us,
            msg.alarm_id,
            int(msg.priority),
            int(msg.state),
            msg.technical,
            msg.text,
        ],
    }


def alarm_from(message: dict[str, Any]) -> tuple[int, AlarmMsg]:
    time_us, alarm_id, priority, state, technical, text = message["m"]
    msg = AlarmMsg(
        int(time_us),
        int(alarm_id),
        AlarmPriority(int(priority)),
        AlarmState(int(state)),
        bool(technical),
        str(text),
    )
    return int(message["bed"]), msg
