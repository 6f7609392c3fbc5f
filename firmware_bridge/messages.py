"""Typed protocol messages and their payload layouts (docs/protocol.md, section 2).

Each message type has a frozen value class, a `pack_*` that builds its payload (raising
`ProtocolError` for values outside the protocol's bounds) and an `unpack_*` that returns
the message or `None` when the payload is malformed. Unpacking never raises on any bytes:
the decoder counts `None` as a malformed frame.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from vigil.errors import ProtocolError
from vigil.firmware_bridge.protocol import (
    MAX_ALARM_TEXT,
    MAX_CHANNELS,
    MAX_DEVICE_ID,
    MAX_FIRMWARE,
    MAX_LABEL,
    MAX_UNITS,
    MAX_WAVEFORM_SAMPLES,
    NUMERIC_FIELDS,
    WAVEFORM_HEAD,
    AlarmPriority,
    AlarmState,
    ChannelKind,
    MessageType,
    StatusFlag,
)


def _as_f32(value: float) -> float:
    return float(np.float32(value))


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One row of HELLO's channel table: how to read a channel's int16 samples."""

    id: int
    kind: ChannelKind
    rate: Fraction  # samples per second, exact
    scale: float  # physical units per LSB
    offset: float
    units: str
    label: str

    def __post_init__(self) -> None:
        # The wire carries binary32: hold exactly what the peer will read.
        object.__setattr__(self, "scale", _as_f32(self.scale))
        object.__setattr__(self, "offset", _as_f32(self.offset))

    def to_physical(self, raw: np.ndarray) -> np.ndarray:
        """int16 wire samples -> float32 physical units."""
        out = raw.astype(np.float32)
        out *= np.float32(self.scale)
        if self.offset:
            out += np.float32(self.offset)
        return out

    def to_raw(self, physical: np.ndarray) -> tuple[np.ndarray, int]:
        """Physical units -> int16 wire samples, and how many could not be represented:
        clipped to the int16 range, or not finite (sent as 0, as a disconnected input reads)."""
        scaled = np.rint((np.asarray(physical, dtype=np.float64) - self.offset) / self.scale)
        finite = np.isfinite(scaled)
        bad = int(np.count_nonzero(~finite | (scaled < -32768) | (scaled > 32767)))
        if bad:
            scaled = np.where(finite, np.clip(scaled, -32768, 32767), 0.0)
        return scaled.astype("<i2"), bad


@dataclass(frozen=True, slots=True)
class Hello:
    time_us: int
    boot_id: int
    device_id: str
    firmware: str
    channels: tuple[ChannelInfo, ...]
    time_scale: Fraction = Fraction(1)
    heartbeat_ms: int = 1000
    host_timeout_ms: int = 5000
    type = MessageType.HELLO

    def channel(self, channel_id: int) -> ChannelInfo | None:
        for ch in self.channels:
            if ch.id == channel_id:
                return ch
        return None


@dataclass(slots=True, eq=False)
class Waveform:
    """One channel's consecutive int16 samples.

    Not frozen, unlike the other messages, on purpose: a frozen dataclass costs about 1 µs
    more to construct, a third of the decoder's whole per-frame budget
    (benchmarks/decode_throughput.py). Treat it as read-only; decoded samples are a
    read-only view of the frame.
    """

    time_us: int
    channel: int
    first_index: int
    samples: np.ndarray = field(compare=False)  # int16, little-endian
    type = MessageType.WAVEFORM

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Waveform)
            and (self.time_us, self.channel, self.first_index)
            == (other.time_us, other.channel, other.first_index)
            and np.array_equal(self.samples, other.samples)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class NumericsMsg:
    """Monitor numerics; `values[k]` is NaN wherever field k is invalid."""

    time_us: int
    values: tuple[float, ...]  # in NUMERIC_FIELDS order
    type = MessageType.NUMERICS

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, NumericsMsg)
            and self.time_us == other.time_us
            and all(
                (math.isnan(a) and math.isnan(b)) or a == b
                for a, b in zip(self.values, other.values, strict=True)
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(NUMERIC_FIELDS, self.values, strict=True))


@dataclass(frozen=True, slots=True)
class Status:
    time_us: int
    flags: StatusFlag
    leads_off: int  # bit k = k-th channel of the HELLO table
    battery_pct: int
    fault_code: int = 0
    type = MessageType.STATUS


@dataclass(frozen=True, slots=True)
class Heartbeat:
    time_us: int
    rx_frames: int
    from_host: bool = False

    @property
    def type(self) -> MessageType:
        return MessageType.HOST_HEARTBEAT if self.from_host else MessageType.HEARTBEAT


@dataclass(frozen=True, slots=True)
class Ack:
    time_us: int
    alarm_id: int  # 0 = every alarm the device signals
    type = MessageType.ACK


@dataclass(frozen=True, slots=True)
class AudioPause:
    time_us: int
    seconds: int  # 0 = host default
    type = MessageType.AUDIO_PAUSE


@dataclass(frozen=True, slots=True)
class AlarmMsg:
    time_us: int
    alarm_id: int
    priority: AlarmPriority
    state: AlarmState
    technical: bool
    text: str
    type = MessageType.ALARM


@dataclass(frozen=True, slots=True)
class RequestHello:
    time_us: int
    type = MessageType.REQUEST_HELLO


Message = (
    Hello | Waveform | NumericsMsg | Status | Heartbeat | Ack | AudioPause | AlarmMsg | RequestHello
)

# ---------------------------------------------------------------------------- packing

_HELLO_HEAD = struct.Struct("<IHHHH")  # boot_id, ts_num, ts_den, heartbeat_ms, host_timeout_ms
_CHANNEL = struct.Struct("<BBIHff")  # id, kind, rate_num, rate_den, scale, offset
_NUMERICS = struct.Struct("<H8f")
_STATUS = struct.Struct("<HHBH")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_ALARM_HEAD = struct.Struct("<IBBB")

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ProtocolError(f"cannot encode: {what}")


def _str8(text: str, limit: int, what: str) -> bytes:
    raw = text.encode("utf-8")
    _check(len(raw) <= limit, f"{what} {text!r} is {len(raw)} bytes UTF-8, at most {limit}")
    return bytes((len(raw),)) + raw


def _uint(value: int, limit: int, what: str) -> int:
    _check(0 <= value <= limit, f"{what}={value} outside 0..{limit}")
    return value


def pack_hello(msg: Hello) -> bytes:
    _check(1 <= len(msg.channels) <= MAX_CHANNELS, f"HELLO needs 1..{MAX_CHANNELS} channels")
    ids = [ch.id for ch in msg.channels]
    _check(len(set(ids)) == len(ids), f"duplicate channel ids {ids}")
    ts = msg.time_scale
    _check(ts > 0, f"time_scale {ts} must be positive")
    parts = [
        _HELLO_HEAD.pack(
            _uint(msg.boot_id, _U32_MAX, "boot_id"),
            _uint(ts.numerator, _U16_MAX, "time_scale numerator"),
            _uint(ts.denominator, _U16_MAX, "time_scale denominator"),
            _uint(msg.heartbeat_ms, _U16_MAX, "heartbeat_ms"),
            _uint(msg.host_timeout_ms, _U16_MAX, "host_timeout_ms"),
        ),
        _str8(msg.device_id, MAX_DEVICE_ID, "device_id"),
        _str8(msg.firmware, MAX_FIRMWARE, "firmware"),
        bytes((len(msg.channels),)),
    ]
    for ch in msg.channels:
        _check(ch.rate > 0, f"channel {ch.id} rate {ch.rate} must be positive")
        _check(math.isfinite(ch.scale) and ch.scale != 0, f"channel {ch.id} scale {ch.scale}")
        _check(math.isfinite(ch.offset), f"channel {ch.id} offset {ch.offset}")
        parts.append(
            _CHANNEL.pack(
                _uint(ch.id, 0xFF, "channel id"),
                int(ch.kind),
                _uint(ch.rate.numerator, _U32_MAX, f"channel {ch.id} rate numerator"),
                _uint(ch.rate.denominator, _U16_MAX, f"channel {ch.id} rate denominator"),
                ch.scale,
                ch.offset,
            )
        )
        parts.append(_str8(ch.units, MAX_UNITS, f"channel {ch.id} units"))
        parts.append(_str8(ch.label, MAX_LABEL, f"channel {ch.id} label"))
    return b"".join(parts)


def pack_waveform(msg: Waveform) -> bytes:
    n = len(msg.samples)
    _check(
        1 <= n <= MAX_WAVEFORM_SAMPLES,
        f"WAVEFORM carries 1..{MAX_WAVEFORM_SAMPLES} samples, not {n}",
    )
    _check(0 <= msg.first_index < 1 << 64, f"first_index={msg.first_index}")
    samples = np.asarray(msg.samples)
    _check(
        samples.dtype.kind == "i" and samples.dtype.itemsize <= 2, f"samples dtype {samples.dtype}"
    )
    return (
        WAVEFORM_HEAD.pack(_uint(msg.channel, 0xFF, "channel"), msg.first_index)
        + samples.astype("<i2").tobytes()
    )


def numerics_valid_mask(values: tuple[float, ...]) -> int:
    return sum(1 << k for k, v in enumerate(values) if math.isfinite(v))


def pack_numerics(msg: NumericsMsg) -> bytes:
    _check(len(msg.values) == len(NUMERIC_FIELDS), f"NUMERICS needs {len(NUMERIC_FIELDS)} values")
    # Spec: invalid fields are sent as NaN (an infinity, too, goes out as NaN, flagged invalid).
    values = (v if math.isfinite(v) else math.nan for v in msg.values)
    return _NUMERICS.pack(numerics_valid_mask(msg.values), *values)


def pack_status(msg: Status) -> bytes:
    return _STATUS.pack(
        _uint(int(msg.flags), _U16_MAX, "flags"),
        _uint(msg.leads_off, _U16_MAX, "leads_off"),
        _uint(msg.battery_pct, 0xFF, "battery_pct"),
        _uint(msg.fault_code, _U16_MAX, "fault_code"),
    )


def pack_alarm(msg: AlarmMsg) -> bytes:
    return _ALARM_HEAD.pack(
        _uint(msg.alarm_id, _U32_MAX, "alarm_id"),
        int(msg.priority),
        int(msg.state),
        1 if msg.technical else 0,
    ) + _str8(msg.text, MAX_ALARM_TEXT, "alarm text")


def pack_payload(msg: Message) -> bytes:
    """The payload bytes of any message."""
    if isinstance(msg, Waveform):
        return pack_waveform(msg)
    if isinstance(msg, Hello):
        return pack_hello(msg)
    if isinstance(msg, NumericsMsg):
        return pack_numerics(msg)
    if isinstance(msg, Status):
        return pack_status(msg)
    if isinstance(msg, Heartbeat):
        return _U32.pack(msg.rx_frames & _U32_MAX)
    if isinstance(msg, Ack):
        return _U32.pack(_uint(msg.alarm_id, _U32_MAX, "alarm_id"))
    if isinstance(msg, AudioPause):
        return _U16.pack(_uint(msg.seconds, _U16_MAX, "seconds"))
    if isinstance(msg, AlarmMsg):
        return pack_alarm(msg)
    if isinstance(msg, RequestHello):
        return b""
    raise ProtocolError(f"not a protocol message: {msg!r}")


# -------------------------------------------------------------------------- unpacking
# Every unpack_* takes the whole frame (header included, CRC at the end) and the payload's
# [start, end) span, so no bytes are copied before the layout is known to be right.


def _read_str8(frame: bytes, pos: int, end: int, limit: int) -> tuple[str, int] | None:
    if pos >= end:
        return None
    n = frame[pos]
    if n > limit or pos + 1 + n > end:
        return None
    try:
        return frame[pos + 1 : pos + 1 + n].decode("utf-8"), pos + 1 + n
    except UnicodeDecodeError:
        return None


def unpack_hello(time_us: int, frame: bytes, pos: int, end: int) -> Hello | None:
    if end - pos < _HELLO_HEAD.size:
        return None
    boot_id, ts_num, ts_den, heartbeat_ms, host_timeout_ms = _HELLO_HEAD.unpack_from(frame, pos)
    if ts_num == 0 or ts_den == 0:
        return None
    pos += _HELLO_HEAD.size
    got = _read_str8(frame, pos, end, MAX_DEVICE_ID)
    if got is None:
        return None
    device_id, pos = got
    got = _read_str8(frame, pos, end, MAX_FIRMWARE)
    if got is None:
        return None
    firmware, pos = got
    if pos >= end:
        return None
    n_channels = frame[pos]
    pos += 1
    if not 1 <= n_channels <= MAX_CHANNELS:
        return None
    channels = []
    for _ in range(n_channels):
        if end - pos < _CHANNEL.size:
            return None
        ch_id, kind, rate_num, rate_den, scale, offset = _CHANNEL.unpack_from(frame, pos)
        pos += _CHANNEL.size
        units = _read_str8(frame, pos, end, MAX_UNITS)
        if units is None:
            return None
        pos = units[1]
        label = _read_str8(frame, pos, end, MAX_LABEL)
        if label is None:
            return None
        pos = label[1]
        valid_scale = math.isfinite(scale) and scale != 0 and math.isfinite(offset)
        if rate_num == 0 or rate_den == 0 or not valid_scale:
            return None
        try:
            kind_enum = ChannelKind(kind)
        except ValueError:
            kind_enum = ChannelKind.OTHER
        channels.append(
            ChannelInfo(
                ch_id, kind_enum, Fraction(rate_num, rate_den), scale, offset, units[0], label[0]
            )
        )
    if pos != end or len({ch.id for ch in channels}) != len(channels):
        return None
    return Hello(
        time_us,
        boot_id,
        device_id,
        firmware,
        tuple(channels),
        Fraction(ts_num, ts_den),
        heartbeat_ms,
        host_timeout_ms,
    )


def unpack_numerics(time_us: int, frame: bytes, pos: int, end: int) -> NumericsMsg | None:
    if end - pos != _NUMERICS.size:
        return None
    valid, *values = _NUMERICS.unpack_from(frame, pos)
    nan = math.nan
    return NumericsMsg(time_us, tuple(v if valid >> k & 1 else nan for k, v in enumerate(values)))


def unpack_status(time_us: int, frame: bytes, pos: int, end: int) -> Status | None:
    if end - pos != _STATUS.size:
        return None
    flags, leads_off, battery, fault = _STATUS.unpack_from(frame, pos)
    return Status(time_us, StatusFlag(flags & 0x3F), leads_off, battery, fault)


def unpack_heartbeat(time_us: int, frame: bytes, pos: int, end: int) -> Heartbeat | None:
    if end - pos != _U32.size:
        return None
    return Heartbeat(time_us, _U32.unpack_from(frame, pos)[0], False)


def unpack_host_heartbeat(time_us: int, frame: bytes, pos: int, end: int) -> Heartbeat | None:
    if end - pos != _U32.size:
        return None
    return Heartbeat(time_us, _U32.unpack_from(frame, pos)[0], True)


def unpack_ack(time_us: int, frame: bytes, pos: int, end: int) -> Ack | None:
    if end - pos != _U32.size:
        return None
    return Ack(time_us, _U32.unpack_from(frame, pos)[0])


def unpack_audio_pause(time_us: int, frame: bytes, pos: int, end: int) -> AudioPause | None:
    if end - pos != _U16.size:
        return None
    return AudioPause(time_us, _U16.unpack_from(frame, pos)[0])


def unpack_alarm(time_us: int, frame: bytes, pos: int, end: int) -> AlarmMsg | None:
    if end - pos < _ALARM_HEAD.size + 1:
        return None
    alarm_id, priority, state, flags = _ALARM_HEAD.unpack_from(frame, pos)
    text = _read_str8(frame, pos + _ALARM_HEAD.size, end, MAX_ALARM_TEXT)
    if text is None or text[1] != end or priority > 3 or state > 4:
        return None
    return AlarmMsg(
        time_us, alarm_id, AlarmPriority(priority), AlarmState(state), bool(flags & 1), text[0]
    )


def unpack_request_hello(time_us: int, frame: bytes, pos: int, end: int) -> RequestHello | None:
    return RequestHello(time_us) if pos == end else None


UNPACKERS = {
    MessageType.HELLO: unpack_hello,
    MessageType.NUMERICS: unpack_numerics,
    MessageType.STATUS: unpack_status,
    MessageType.HEARTBEAT: unpack_heartbeat,
    MessageType.ACK: unpack_ack,
    MessageType.AUDIO_PAUSE: unpack_audio_pause,
    MessageType.ALARM: unpack_alarm,
    MessageType.REQUEST_HELLO: unpack_request_hello,
    MessageType.HOST_HEARTBEAT: unpack_host_heartbeat,
}
"""WAVEFORM is decoded inline by the decoder's hot path."""
