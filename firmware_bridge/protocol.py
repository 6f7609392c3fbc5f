"""Constants of the wire protocol (docs/protocol.md): framing limits, types, enums.

Nothing here does I/O; the codec, the simulator and the C encoder all follow these numbers.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from fractions import Fraction

PROTOCOL_VERSION = 1

HEADER = struct.Struct("<BBHQ")  # version, type, seq, time_us
HEADER_SIZE = HEADER.size  # 12
CRC_SIZE = 2
MIN_FRAME = HEADER_SIZE + CRC_SIZE  # 14
MAX_FRAME = 1024  # decoded: header + payload + CRC
MAX_PAYLOAD = MAX_FRAME - MIN_FRAME  # 1010
MAX_ENCODED = MAX_FRAME + (MAX_FRAME + 253) // 254  # COBS worst case, without the delimiter
CRC_INIT = 0xFFFF
DELIMITER = b"\x00"
SEQ_MOD = 1 << 16

WAVEFORM_PERIOD_S = Fraction(40, 1000)  # a channel's samples are sent at least this often
WAVEFORM_HEAD = struct.Struct("<BQ")  # channel, first_index
MAX_WAVEFORM_SAMPLES = 500
MAX_CHANNELS = 16
MAX_DEVICE_ID = 32
MAX_FIRMWARE = 32
MAX_UNITS = 8
MAX_LABEL = 16
MAX_ALARM_TEXT = 48
DEFAULT_AUDIO_PAUSE_S = 120
DEFAULT_HOST_TIMEOUT_MS = 5000
DEFAULT_HEARTBEAT_MS = 1000
SILENT_AFTER_HEARTBEATS = 3

HOST_TO_DEVICE = 0x80  # type bit 7


class MessageType(enum.IntEnum):
    HELLO = 0x01
    WAVEFORM = 0x02
    NUMERICS = 0x03
    STATUS = 0x04
    HEARTBEAT = 0x05
    ACK = 0x06
    AUDIO_PAUSE = 0x07
    ALARM = 0x81
    REQUEST_HELLO = 0x82
    HOST_HEARTBEAT = 0x85


DEVICE_TYPES = frozenset(t for t in MessageType if not t & HOST_TO_DEVICE)
HOST_TYPES = frozenset(t for t in MessageType if t & HOST_TO_DEVICE)


class ChannelKind(enum.IntEnum):
    OTHER = 0
    ECG_I = 1
    ECG_II = 2
    ECG_III = 3
    ECG_AVR = 4
    ECG_AVL = 5
    ECG_AVF = 6
    ECG_V = 7
    PLETH = 16
    RESPIRATION = 17
    ARTERIAL_PRESSURE = 18
    CO2 = 19

    @property
    def is_ecg(self) -> bool:
        return ChannelKind.ECG_I <= self <= ChannelKind.ECG_V


NUMERIC_FIELDS = (
    "hr",
    "spo2",
    "pulse_rate",
    "nibp_sys",
    "nibp_dia",
    "nibp_mean",
    "resp_rate",
    "temp",
)


class StatusFlag(enum.IntFlag):
    LEADS_OFF = 1 << 0
    PROBE_OFF = 1 << 1
    NIBP_IN_PROGRESS = 1 << 2
    DEVICE_FAULT = 1 << 3
    BATTERY_LOW = 1 << 4
    ON_BATTERY = 1 << 5


class AlarmPriority(enum.IntEnum):
    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class AlarmState(enum.IntEnum):
    ENDED = 0
    ACTIVE = 1
    LATCHED = 2
    ACKNOWLEDGED = 3
    AUDIO_PAUSED = 4


ALARM_FLAG_TECHNICAL = 1 << 0

BATTERY_UNKNOWN = 255

# Fixed payload sizes (for the bandwidth budget; the codec checks lengths itself).
NUMERICS_PAYLOAD = 2 + 4 * len(NUMERIC_FIELDS)
STATUS_PAYLOAD = 7
HEARTBEAT_PAYLOAD = 4
FRAME_OVERHEAD = HEADER_SIZE + CRC_SIZE + 1 + 1  # + COBS code byte + delimiter (frames < 254 B)


def waveform_frame_bytes(samples: float) -> float:
    """Wire bytes of one WAVEFORM frame carrying `samples` samples (mean allowed)."""
    return FRAME_OVERHEAD + WAVEFORM_HEAD.size + 2 * samples


def bandwidth_bytes_per_s(rates: Iterable[Fraction]) -> float:
    """Wire bytes per second of a channel set at the 40 ms frame period, plus 1 Hz
    NUMERICS, STATUS and HEARTBEAT (docs/protocol.md, section 3)."""
    frames_per_s = 1 / WAVEFORM_PERIOD_S
    total = 0.0
    for rate in rates:
        total += float(frames_per_s) * waveform_frame_bytes(float(rate * WAVEFORM_PERIOD_S))
    for payload in (NUMERICS_PAYLOAD, STATUS_PAYLOAD, HEARTBEAT_PAYLOAD):
        total += FRAME_OVERHEAD + payload
    return total


def line_bytes_per_s(baud: int, bits_per_byte: int = 10) -> float:
    """Payload bytes a UART moves per second (8N1: start + 8 data + stop = 10 bits)."""
    return baud / bits_per_byte
