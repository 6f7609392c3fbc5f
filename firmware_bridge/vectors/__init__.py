"""Byte-exact test vectors of the wire protocol (docs/protocol.md, section 6).

`CASES` names one message per case, covering every type in both directions and the edges
that break encoders: extreme integers, NaN numerics, non-ASCII text, payloads full of 0x00
and frames long enough to span several COBS blocks. `vectors.json` is generated from them by
the Python encoder (`python -m vigil.firmware_bridge.vectors`); the C encoder's tests read
the JSON, so the two implementations are bound to the same bytes.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vigil.firmware_bridge.codec import encode_frame
from vigil.firmware_bridge.messages import (
    Ack,
    AlarmMsg,
    AudioPause,
    ChannelInfo,
    Heartbeat,
    Hello,
    Message,
    NumericsMsg,
    RequestHello,
    Status,
    Waveform,
    numerics_valid_mask,
)
from vigil.firmware_bridge.protocol import (
    HOST_TO_DEVICE,
    NUMERIC_FIELDS,
    AlarmPriority,
    AlarmState,
    ChannelKind,
    MessageType,
    StatusFlag,
)

VECTORS_JSON = Path(__file__).with_name("vectors.json")
# The repository's spec, when running from a checkout (an installed wheel has no docs/).
PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
BEGIN_MARK = "<!-- vectors:begin -->"
END_MARK = "<!-- vectors:end -->"
TABLE_HEX_BYTES = 40  # longer frames are shortened in the docs table (full bytes in the JSON)

U64_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class VectorCase:
    name: str
    seq: int
    msg: Message

    @property
    def wire(self) -> bytes:
        return encode_frame(self.msg, self.seq)


def _f32(x: float) -> float:
    """The binary32 value nearest x, as a Python float (exact)."""
    return float(np.float32(x))


def _samples(values: list[int]) -> np.ndarray:
    return np.asarray(values, dtype="<i2")


def _no_zero_bytes(n: int, start: int) -> list[int]:
    """n int16 samples none of whose bytes is 0x00: long COBS runs without a zero."""
    out = []
    v = start
    for _ in range(n):
        while (v & 0xFF) == 0 or (v >> 8) & 0xFF == 0:
            v = (v + 1) & 0xFFFF
        out.append(v - 0x10000 if v >= 0x8000 else v)
        v = (v + 0x0305) & 0xFFFF
    return out


def _run_254_at_end() -> Waveform:
    """A 263-byte WAVEFORM frame whose only 0x00 is at offset 8, so the frame ends with a
    254-byte zero-free run: COBS closes it with code 0xFF and must add nothing after it."""
    time_us = 0x0101_0100_0101_0101  # byte 4 of time_us (frame offset 8) is the only zero
    for start in range(0x0101, 0x7F7F):
        msg = Waveform(time_us, 7, 0x0102_0304_0506_0708, _samples(_no_zero_bytes(120, start)))
        frame = encode_frame(msg, 0x0203)
        if len(frame) == 263 + 1 + 1 and frame[0] == 9 and frame[9] == 0xFF:
            return msg
    raise AssertionError("no sample pattern gives a zero-free CRC")  # pragma: no cover


def _build_cases() -> list[VectorCase]:
    ecg = ChannelInfo(1, ChannelKind.ECG_II, Fraction(500), _f32(0.005), 0.0, "mV", "ECG II")
    pleth = ChannelInfo(2, ChannelKind.PLETH, Fraction(125), _f32(1 / 1024), 0.0, "au", "Pleth")
    resp = ChannelInfo(
        3, ChannelKind.RESPIRATION, Fraction(125, 2), _f32(0.01), _f32(-2.5), "Ohm", "Resp"
    )
    kinds = [
        ChannelKind.ECG_I,
        ChannelKind.ECG_II,
        ChannelKind.ECG_III,
        ChannelKind.ECG_AVR,
        ChannelKind.ECG_AVL,
        ChannelKind.ECG_AVF,
    ]
    twelve_lead = tuple(
        ChannelInfo(10 + k, kind, Fraction(1000), _f32(0.0025), 0.0, "mV", kind.name)
        for k, kind in enumerate(kinds)
    ) + tuple(
        ChannelInfo(20 + v, ChannelKind.ECG_V, Fraction(1000), _f32(0.0025), 0.0, "mV", f"V{v}")
        for v in range(1, 7)
    )
    sixteen = (
        *twelve_lead,
        ChannelInfo(40, ChannelKind.PLETH, Fraction(125), _f32(1 / 1024), 0.0, "au", "Pleth"),
        ChannelInfo(41, ChannelKind.RESPIRATION, Fraction(125, 2), _f32(0.01), 0.0, "Ohm", "Resp"),
        ChannelInfo(
            42, ChannelKind.ARTERIAL_PRESSURE, Fraction(125), _f32(0.1), _f32(-50.0), "mmHg", "ART"
        ),
        ChannelInfo(43, ChannelKind.CO2, Fraction(25), _f32(0.1), 0.0, "mmHg", "CO₂ (EtCO2)"),
    )
    nan = math.nan
    extremes = [0, 1, -1, 32767, -32768, 255, 256, -256, 12345, -12345]
    extremes += [100 * k - 1000 for k in range(10)]
    alarm = AlarmMsg
    return [
        # ------------------------------------------------------------ device -> host
        VectorCase(
            "hello_three_channels_live",
            0,
            Hello(0, 0x1A2B3C4D, "VGL-0001", "1.4.2", (ecg, pleth, resp)),
        ),
        VectorCase(
            "hello_replay_4x",
            1,
            Hello(
                1_000_000,
                0xFFFFFFFF,
                "replay:mitdb/100",
                "sim-0.1",
                (ChannelInfo(5, ChannelKind.OTHER, Fraction(360), _f32(0.005), 0.0, "mV", "MLII"),),
                time_scale=Fraction(4),
                heartbeat_ms=250,
                host_timeout_ms=2000,
            ),
        ),
        VectorCase(
            "hello_sixteen_channels_multi_block",
            2,
            Hello(
                123_456_789_012,
                7,
                "SN-ABCDEFGHIJKLMNOPQRSTUVWXYZ012",  # 32 bytes, the maximum
                "fw-2.0.0-rc1+build.20250101.long",  # 32 bytes
                sixteen,
                heartbeat_ms=1000,
                host_timeout_ms=65535,
            ),
        ),
        VectorCase("waveform_one_sample", 1, Waveform(40_000, 1, 0, _samples([-1]))),
        VectorCase(
            "waveform_twenty_samples_extremes", 2, Waveform(80_000, 1, 20, _samples(extremes))
        ),
        VectorCase(
            "waveform_index_above_2_32_max_time",
            65535,
            Waveform(U64_MAX, 3, (1 << 32) + 12_345, _samples([0, 0, 0])),
        ),
        VectorCase("waveform_cobs_254_run_at_end", 0x0203, _run_254_at_end()),
        VectorCase(
            "waveform_500_samples_max_frame",
            4,
            Waveform(
                0x0102_0304_0506_0708, 9, U64_MAX - 499, _samples(_no_zero_bytes(500, 0x1111))
            ),
        ),
        VectorCase(
            "numerics_all_valid",
            5,
            NumericsMsg(2_000_000, (72.0, 97.0, 71.0, 120.0, 80.0, 93.0, 16.0, _f32(36.7))),
        ),
        VectorCase(
            "numerics_some_invalid_nan",
            6,
            NumericsMsg(3_000_000, (60.5, nan, 61.0, nan, nan, nan, 12.0, nan)),
        ),
        VectorCase("numerics_none_valid", 7, NumericsMsg(4_000_000, (nan,) * 8)),
        VectorCase(
            "status_all_flags",
            8,
            Status(5_000_000, StatusFlag(0x3F), 0xFFFF, 7, 0xBEEF),
        ),
        VectorCase(
            "status_clear_battery_unknown_zero_bytes",
            9,
            Status(0, StatusFlag(0), 0, 255, 0),
        ),
        VectorCase("heartbeat_device_zero", 10, Heartbeat(6_000_000, 0)),
        VectorCase("heartbeat_device_rx_max", 11, Heartbeat(7_000_000, 0xFFFFFFFF)),
        VectorCase("ack_all_alarms", 12, Ack(8_000_000, 0)),
        VectorCase("ack_big_id", 13, Ack(8_500_000, 0xFEDCBA98)),
        VectorCase("audio_pause_host_default", 14, AudioPause(9_000_000, 0)),
        VectorCase("audio_pause_120_s", 15, AudioPause(9_500_000, 120)),
        # ------------------------------------------------------------ host -> device
        VectorCase("request_hello", 0, RequestHello(0)),
        VectorCase("request_hello_seq_wrap_max_time", 65535, RequestHello(U64_MAX)),
        VectorCase("host_heartbeat_zero", 1, Heartbeat(1_000_000, 0, from_host=True)),
        VectorCase("host_heartbeat_rx_max", 2, Heartbeat(2_000_000, 0xFFFFFFFF, from_host=True)),
        VectorCase(
            "alarm_high_active_asystole",
            3,
            alarm(3_000_000, 1, AlarmPriority.HIGH, AlarmState.ACTIVE, False, "ASYSTOLE"),
        ),
        VectorCase(
            "alarm_medium_latched",
            4,
            alarm(3_100_000, 2, AlarmPriority.MEDIUM, AlarmState.LATCHED, False, "HR HIGH 152"),
        ),
        VectorCase(
            "alarm_low_acknowledged",
            5,
            alarm(3_200_000, 3, AlarmPriority.LOW, AlarmState.ACKNOWLEDGED, False, "SpO2 LOW"),
        ),
        VectorCase(
            "alarm_high_audio_paused",
            6,
            alarm(3_300_000, 4, AlarmPriority.HIGH, AlarmState.AUDIO_PAUSED, False, "VFIB/VTAC"),
        ),
        VectorCase(
            "alarm_none_ended_empty_text",
            7,
            alarm(3_400_000, 0xFFFFFFFF, AlarmPriority.NONE, AlarmState.ENDED, False, ""),
        ),
        VectorCase(
            "alarm_technical_leads_off",
            8,
            alarm(3_500_000, 6, AlarmPriority.MEDIUM, AlarmState.ACTIVE, True, "ECG LEADS OFF"),
        ),
        VectorCase(
            "alarm_utf8_text",
            9,
            alarm(
                3_600_000, 7, AlarmPriority.LOW, AlarmState.ACTIVE, True, "SpO₂ capteur débranché"
            ),
        ),
        VectorCase(
            "alarm_text_48_bytes",
            10,
            alarm(3_700_000, 8, AlarmPriority.HIGH, AlarmState.ACTIVE, False, "X" * 48),
        ),
    ]


CASES: list[VectorCase] = _build_cases()


# ---------------------------------------------------------------------- JSON form


def _rate(f: Fraction) -> str:
    return f"{f.numerator}/{f.denominator}"


def _parse_rate(s: str) -> Fraction:
    num, den = s.split("/")
    return Fraction(int(num), int(den))


def _float_json(x: float) -> float | str:
    """A binary32 value as JSON: the exact number (a double holds it), or "nan"."""
    if math.isnan(x):
        return "nan"
    _check_f32(x)
    return x


def _float_from_json(v: float | str) -> float:
    return math.nan if v == "nan" else float(v)


def _check_f32(x: float) -> None:
    if struct.unpack("<f", struct.pack("<f", x))[0] != x:
        raise ValueError(f"vector float {x!r} is not exactly a binary32 value")


def _fields(msg: Message) -> dict[str, Any]:
    if isinstance(msg, Hello):
        return {
            "boot_id": msg.boot_id,
            "time_scale": _rate(msg.time_scale),
            "heartbeat_ms": msg.heartbeat_ms,
            "host_timeout_ms": msg.host_timeout_ms,
            "device_id": msg.device_id,
            "firmware": msg.firmware,
            "channels": [
                {
                    "id": ch.id,
                    "kind": int(ch.kind),
                    "rate": _rate(ch.rate),
                    "scale": _float_json(ch.scale),
                    "offset": _float_json(ch.offset),
                    "units": ch.units,
                    "label": ch.label,
                }
                for ch in msg.channels
            ],
        }
    if isinstance(msg, Waveform):
        return {
            "channel": msg.channel,
            "first_index": msg.first_index,
            "samples": [int(s) for s in msg.samples],
        }
    if isinstance(msg, NumericsMsg):
        return {
            "valid": numerics_valid_mask(msg.values),
            "values": {
                name: _float_json(v) for name, v in zip(NUMERIC_FIELDS, msg.values, strict=True)
            },
        }
    if isinstance(msg, Status):
        return {
            "flags": int(msg.flags),
            "leads_off": msg.leads_off,
            "battery_pct": msg.battery_pct,
            "fault_code": msg.fault_code,
        }
    if isinstance(msg, Heartbeat):
        return {"rx_frames": msg.rx_frames}
    if isinstance(msg, Ack):
        return {"alarm_id": msg.alarm_id}
    if isinstance(msg, AudioPause):
        return {"seconds": msg.seconds}
    if isinstance(msg, AlarmMsg):
        return {
            "alarm_id": msg.alarm_id,
            "priority": int(msg.priority),
            "state": int(msg.state),
            "technical": msg.technical,
            "text": msg.text,
        }
    if isinstance(msg, RequestHello):
        return {}
    raise TypeError(f"not a protocol message: {msg!r}")


def case_as_json(case: VectorCase) -> dict[str, Any]:
    msg = case.msg
    typ = MessageType(msg.type)
    return {
        "name": case.name,
        "type": typ.name,
        "type_code": int(typ),
        "direction": "host_to_device" if typ & HOST_TO_DEVICE else "device_to_host",
        "seq": case.seq,
        "time_us": msg.time_us,
        "fields": _fields(msg),
        "wire": case.wire.hex(),
    }


def cases_as_json() -> list[dict[str, Any]]:
    """Every case as JSON-friendly values: rates as "num/den", floats as their exact binary32
    value (NaN as "nan"), samples as lists, the wire bytes (COBS + 0x00) as hex."""
    return [case_as_json(case) for case in CASES]


def message_from_json(d: dict[str, Any]) -> Message:
    """Rebuild the message of one JSON vector (the inverse of `case_as_json`)."""
    typ = MessageType[d["type"]]
    f = d["fields"]
    t = d["time_us"]
    if typ is MessageType.HELLO:
        channels = tuple(
            ChannelInfo(
                ch["id"],
                ChannelKind(ch["kind"]),
                _parse_rate(ch["rate"]),
                _float_from_json(ch["scale"]),
                _float_from_json(ch["offset"]),
                ch["units"],
                ch["label"],
            )
            for ch in f["channels"]
        )
        return Hello(
            t,
            f["boot_id"],
            f["device_id"],
            f["firmware"],
            channels,
            _parse_rate(f["time_scale"]),
            f["heartbeat_ms"],
            f["host_timeout_ms"],
        )
    if typ is MessageType.WAVEFORM:
        return Waveform(t, f["channel"], f["first_index"], _samples(f["samples"]))
    if typ is MessageType.NUMERICS:
        return NumericsMsg(t, tuple(_float_from_json(f["values"][k]) for k in NUMERIC_FIELDS))
    if typ is MessageType.STATUS:
        return Status(t, StatusFlag(f["flags"]), f["leads_off"], f["battery_pct"], f["fault_code"])
    if typ in (MessageType.HEARTBEAT, MessageType.HOST_HEARTBEAT):
        return Heartbeat(t, f["rx_frames"], from_host=typ is MessageType.HOST_HEARTBEAT)
    if typ is MessageType.ACK:
        return Ack(t, f["alarm_id"])
    if typ is MessageType.AUDIO_PAUSE:
        return AudioPause(t, f["seconds"])
    if typ is MessageType.ALARM:
        return AlarmMsg(
            t,
            f["alarm_id"],
            AlarmPriority(f["priority"]),
            AlarmState(f["state"]),
            f["technical"],
            f["text"],
        )
    return RequestHello(t)


def vectors_json_text() -> str:
    """The exact contents of vectors.json: one vector per line, so diffs stay readable."""
    rows = [json.dumps(v, ensure_ascii=False) for v in cases_as_json()]
    return (
        "{\n"
        '"protocol_version": 1,\n'
        '"generated_by": "python -m vigil.firmware_bridge.vectors",\n'
        '"vectors": [\n' + ",\n".join(rows) + "\n]\n}\n"
    )


def load_vectors(path: Path = VECTORS_JSON) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["vectors"]


# ------------------------------------------------------------------ markdown table


def _summary(d: dict[str, Any]) -> str:
    f = d["fields"]
    typ = d["type"]
    parts = [f"time_us={d['time_us']}"]
    if typ == "HELLO":
        chans = ", ".join(f"{c['id']}:{c['label']}@{c['rate']}" for c in f["channels"][:3]) + (
            f", … ({len(f['channels'])} channels)" if len(f["channels"]) > 3 else ""
        )
        parts += [
            f"boot_id=0x{f['boot_id']:08X}",
            f"time_scale={f['time_scale']}",
            f"device_id={f['device_id']!r}",
            f"channels: {chans}",
        ]
    elif typ == "WAVEFORM":
        s = f["samples"]
        shown = ", ".join(map(str, s[:6])) + (", …" if len(s) > 6 else "")
        parts += [
            f"ch={f['channel']}",
            f"first_index={f['first_index']}",
            f"{len(s)} samples [{shown}]",
        ]
    elif typ == "NUMERICS":
        vals = ", ".join(f"{k}={v}" for k, v in f["values"].items() if v != "nan")
        parts += [f"valid=0x{f['valid']:02X}", vals or "all NaN"]
    elif typ == "ALARM":
        parts += [
            f"id={f['alarm_id']}",
            f"priority={AlarmPriority(f['priority']).name}",
            f"state={AlarmState(f['state']).name}",
            f"technical={f['technical']}",
            f"text={f['text']!r}",
        ]
    else:
        parts += [f"{k}={v}" for k, v in f.items()]
    return "; ".join(parts).replace("|", "\\|")


def _hex_cell(wire: str) -> str:
    n = len(wire) // 2
    if n <= TABLE_HEX_BYTES:
        return f"`{wire}`"
    return f"`{wire[: 2 * (TABLE_HEX_BYTES - 8)]}…{wire[-16:]}` ({n} bytes)"


def markdown_table(vectors: list[dict[str, Any]] | None = None) -> str:
    """The vectors as the table in docs/protocol.md (frames over 40 bytes are shortened)."""
    rows = [
        "| name | type | seq | fields | wire (hex, COBS + 0x00) |",
        "|---|---|---|---|---|",
    ]
    for d in cases_as_json() if vectors is None else vectors:
        rows.append(
            f"| {d['name']} | {d['type']} | {d['seq']} | {_summary(d)} | {_hex_cell(d['wire'])} |"
        )
    return "\n".join(rows) + "\n"


def docs_with_table(text: str, table: str) -> str:
    """`text` with the region between the vectors markers replaced by `table`."""
    begin = text.find(BEGIN_MARK)
    end = text.find(END_MARK)
    if begin < 0 or end < begin:
        raise ValueError(f"protocol.md lacks the {BEGIN_MARK} ... {END_MARK} markers")
    return text[: begin + len(BEGIN_MARK)] + "\n" + table + text[end:]


def stale_files(docs: Path | None = PROTOCOL_MD, json_path: Path = VECTORS_JSON) -> list[Path]:
    """Which generated files differ from what the encoder produces now."""
    stale = []
    if not json_path.exists() or json_path.read_text(encoding="utf-8") != vectors_json_text():
        stale.append(json_path)
    if docs is not None and docs.exists():
        text = docs.read_text(encoding="utf-8")
        if docs_with_table(text, markdown_table()) != text:
            stale.append(docs)
    return stale


def write_files(docs: Path | None = PROTOCOL_MD, json_path: Path = VECTORS_JSON) -> list[Path]:
    """Regenerate vectors.json and the docs table; returns the files that changed."""
    changed = stale_files(docs, json_path)
    if json_path in changed:
        json_path.write_text(vectors_json_text(), encoding="utf-8")
    if docs is not None and docs in changed:
        text = docs.read_text(encoding="utf-8")
        docs.write_text(docs_with_table(text, markdown_table()), encoding="utf-8")
    return changed
