"""The pure codec: messages -> wire bytes, and wire bytes (in any chunks) -> messages.

`Decoder` has the shape of pyserial's threaded `Protocol` (../shared/STYLE.md): it is fed
whatever byte chunks arrive (`feed`) and returns typed messages; it owns no port, so tests,
recordings and fuzzers drive it the same way the serial link does. It never raises on any
input, never returns a frame whose CRC failed, and accounts for every byte:

    bytes_in == bytes_good + bytes_discarded + pending

Malformed input is handled by explicit checks and counted, never by a blanket `except`.
"""

from __future__ import annotations

import binascii
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
from cobs import cobs

from vigil.errors import ProtocolError
from vigil.firmware_bridge.messages import UNPACKERS, Hello, Message, Waveform, pack_payload
from vigil.firmware_bridge.protocol import (
    CRC_INIT,
    DELIMITER,
    DEVICE_TYPES,
    HEADER,
    HEADER_SIZE,
    HOST_TYPES,
    MAX_ENCODED,
    MAX_FRAME,
    MAX_WAVEFORM_SAMPLES,
    MIN_FRAME,
    PROTOCOL_VERSION,
    SEQ_MOD,
    WAVEFORM_HEAD,
    MessageType,
)

_crc = binascii.crc_hqx
_WAVEFORM = int(MessageType.WAVEFORM)
_HELLO = int(MessageType.HELLO)
_WAVE_SAMPLES_AT = HEADER_SIZE + WAVEFORM_HEAD.size
_MAX_WAVE_BYTES = 2 * MAX_WAVEFORM_SAMPLES
_I16 = np.dtype("<i2")


def encode_frame(msg: Message, seq: int) -> bytes:
    """One message as wire bytes: COBS(header | payload | CRC-16 big-endian) + 0x00."""
    body = HEADER.pack(PROTOCOL_VERSION, int(msg.type), seq & 0xFFFF, msg.time_us) + pack_payload(
        msg
    )
    if len(body) + 2 > MAX_FRAME:
        raise ProtocolError(f"{msg.type.name} frame is {len(body) + 2} bytes, at most {MAX_FRAME}")
    return cobs.encode(body + _crc(body, CRC_INIT).to_bytes(2, "big")) + DELIMITER


class Encoder:
    """A sender's side of one direction: numbers frames 0, 1, 2, ... mod 65536."""

    def __init__(self, first_seq: int = 0) -> None:
        self.seq = first_seq & 0xFFFF
        self.frames_sent = 0

    def encode(self, msg: Message) -> bytes:
        wire = encode_frame(msg, self.seq)
        self.seq = (self.seq + 1) & 0xFFFF
        self.frames_sent += 1
        return wire


@dataclass(slots=True)
class DecoderCounters:
    """What the decoder saw. Every byte fed lands in `bytes_good`, `bytes_discarded` or the
    decoder's pending partial frame."""

    bytes_in: int = 0
    bytes_good: int = 0  # bytes of delivered frames, delimiter included
    bytes_discarded: int = 0
    frames_ok: int = 0
    empty_frames: int = 0  # consecutive delimiters
    cobs_errors: int = 0
    crc_errors: int = 0
    runts: int = 0
    oversize: int = 0
    bad_version: int = 0
    unknown_type: int = 0
    malformed: int = 0
    seq_gaps: int = 0
    frames_lost: int = 0  # sum of the gaps' sizes
    device_resets: int = 0  # HELLO with a new boot_id

    FAULTS: ClassVar[tuple[str, ...]] = (
        "cobs_errors",
        "crc_errors",
        "runts",
        "oversize",
        "bad_version",
        "unknown_type",
        "malformed",
    )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def corrupt_frames(self) -> int:
        """Frames that arrived but could not be delivered, whatever the reason."""
        return sum(getattr(self, name) for name in self.FAULTS)


class Decoder:
    """Bytes in, typed messages out, for one direction of one link.

    `from_device=True` (the host's decoder) accepts device -> host types; the simulated
    device decodes the other direction. Message types of the other direction count as
    unknown.
    """

    def __init__(self, *, from_device: bool = True) -> None:
        self.counters = DecoderCounters()
        self._accepted = frozenset(int(t) for t in (DEVICE_TYPES if from_device else HOST_TYPES))
        self._waveforms = from_device  # WAVEFORM is device -> host only
        self._pending = b""
        self._skipping = False  # inside an oversize run: discard up to the next delimiter
        self._expected_seq: int | None = None
        self._boot_id: int | None = None

    @property
    def pending(self) -> int:
        """Bytes held as an incomplete frame."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[Message]:
        """Decode a chunk of any size; returns the messages it completed, in order."""
        counters = self.counters
        counters.bytes_in += len(data)
        parts = data.split(DELIMITER)
        tail = parts.pop()
        out: list[Message] = []
        if parts:
            if self._skipping:
                counters.bytes_discarded += len(parts[0]) + 1
                self._skipping = False
                parts = parts[1:]
            elif self._pending:
                parts[0] = self._pending + parts[0]
            self._pending = b""
            self._frames(parts, out)
        if self._skipping:
            counters.bytes_discarded += len(tail)
        elif tail:
            pending = self._pending + tail if self._pending else tail
            if len(pending) > MAX_ENCODED:
                counters.bytes_discarded += len(pending)
                counters.oversize += 1
                self._skipping = True
                pending = b""
            self._pending = pending
        return out

    def drop_partial(self) -> int:
        """Discard a partial frame (the port was closed mid-frame); returns its size."""
        n = len(self._pending)
        self.counters.bytes_discarded += n
        self._pending = b""
        self._skipping = False
        return n

    def _discard(self, nbytes: int, counter: str) -> None:
        counters = self.counters
        counters.bytes_discarded += nbytes
        setattr(counters, counter, getattr(counters, counter) + 1)

    def _frames(self, parts: list[bytes], out: list[Message]) -> None:
        """The hot path: one pass over complete encoded frames, with the common case
        (a good WAVEFORM) inlined and counters kept in locals until the end."""
        decode, decode_error, crc, unpack_header = (
            cobs.decode,
            cobs.DecodeError,
            _crc,
            HEADER.unpack_from,
        )
        unpack_wave, frombuffer, append = WAVEFORM_HEAD.unpack_from, np.frombuffer, out.append
        accepted, waveforms, expected = self._accepted, self._waveforms, self._expected_seq
        good_bytes = good_frames = gaps = lost = 0
        for part in parts:
            size = len(part) + 1  # with its delimiter
            if size == 1:
                self._discard(1, "empty_frames")
                continue
            if size > MAX_ENCODED + 1:
                self._discard(size, "oversize")
                continue
            try:
                frame = decode(part)
            except decode_error:
                self._discard(size, "cobs_errors")
                continue
            length = len(frame)
            if length < MIN_FRAME:
                self._discard(size, "runts")
                continue
            if crc(frame, CRC_INIT):
                self._discard(size, "crc_errors")
                continue
            version, typ, seq, time_us = unpack_header(frame)
            if version != PROTOCOL_VERSION:
                self._discard(size, "bad_version")
                continue
            msg: Message | None
            if typ == _WAVEFORM and waveforms:
                nbytes = length - _WAVE_SAMPLES_AT - 2
                if nbytes < 2 or nbytes & 1 or nbytes > _MAX_WAVE_BYTES:
                    msg = None
                else:
                    channel, first_index = unpack_wave(frame, HEADER_SIZE)
                    samples = frombuffer(frame, _I16, nbytes >> 1, _WAVE_SAMPLES_AT)
                    msg = Waveform(time_us, channel, first_index, samples)
            elif typ in accepted:
                msg = UNPACKERS[typ](time_us, frame, HEADER_SIZE, length - 2)  # type: ignore[index]
                if typ == _HELLO and msg is not None and self._on_hello(msg):  # type: ignore[arg-type]
                    expected = None  # a reset device restarts its sequence: not a loss
            else:
                msg = None
            if expected is not None and seq != expected:
                gaps += 1
                lost += (seq - expected) % SEQ_MOD
            expected = (seq + 1) & 0xFFFF
            if msg is None:
                self._discard(size, "malformed" if typ in accepted else "unknown_type")
                continue
            good_bytes += size
            good_frames += 1
            append(msg)
        self._expected_seq = expected
        counters = self.counters
        counters.bytes_good += good_bytes
        counters.frames_ok += good_frames
        counters.seq_gaps += gaps
        counters.frames_lost += lost

    def _on_hello(self, hello: Hello) -> bool:
        """Returns True when the HELLO reveals a device reset (a new boot id)."""
        reset = self._boot_id is not None and hello.boot_id != self._boot_id
        if reset:
            self.counters.device_resets += 1
        self._boot_id = hello.boot_id
        return reset
