"""The codec: every message survives the wire, and no input can make it lie or crash."""

from __future__ import annotations

import binascii
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import device_message, hello, host_message, waveform

from vigil.errors import ProtocolError
from vigil.firmware_bridge.codec import Decoder, Encoder, encode_frame
from vigil.firmware_bridge.messages import (
    ChannelInfo,
    Hello,
    NumericsMsg,
    RequestHello,
    Waveform,
)
from vigil.firmware_bridge.protocol import MAX_ENCODED, ChannelKind


def _accounted(d: Decoder) -> bool:
    c = d.counters
    return c.bytes_in == c.bytes_good + c.bytes_discarded + d.pending


def _wire(messages, first_seq: int = 0) -> tuple[bytes, list[bytes]]:
    enc = Encoder(first_seq)
    frames = [enc.encode(m) for m in messages]
    return b"".join(frames), frames


def test_crc_is_ccitt_false_and_frames_check_to_zero():
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1
    frame = encode_frame(RequestHello(7), 3)
    from cobs import cobs

    assert binascii.crc_hqx(cobs.decode(frame[:-1]), 0xFFFF) == 0


@given(st.lists(device_message, min_size=1, max_size=20))
def test_every_device_message_round_trips(messages):
    wire, _ = _wire(messages)
    d = Decoder()
    assert d.feed(wire) == messages
    assert d.counters.frames_ok == len(messages)
    assert d.counters.bytes_good == len(wire)
    assert d.counters.seq_gaps == 0


@given(st.lists(host_message, min_size=1, max_size=20))
def test_every_host_message_round_trips(messages):
    wire, _ = _wire(messages)
    d = Decoder(from_device=False)
    assert d.feed(wire) == messages


@given(st.lists(device_message, min_size=1, max_size=10), st.data())
def test_any_chunking_gives_the_same_messages(messages, data):
    wire, _ = _wire(messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=30)))
    d = Decoder()
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        out += d.feed(wire[a:b])
        assert _accounted(d)
    assert out == messages


@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise_and_every_byte_is_accounted(data):
    d = Decoder()
    d.feed(data)
    assert _accounted(d)


@given(st.lists(waveform, min_size=2, max_size=8), st.data())
def test_garbage_between_frames_costs_at_most_the_next_frame(messages, data):
    _, frames = _wire(messages)
    slots = data.draw(st.sets(st.integers(1, len(frames) - 1), min_size=1, max_size=3))
    stream = b""
    for i, frame in enumerate(frames):
        if i in slots:  # garbage; the frame after it may merge with it
            stream += data.draw(st.binary(min_size=1, max_size=300))
        stream += frame
    damaged = slots
    d = Decoder()
    out = d.feed(stream)
    kept = [m for i, m in enumerate(messages) if i not in damaged]
    assert all(m in out for m in kept), "resynchronised within one frame"
    assert all(m in messages for m in out), "never a message that was not sent"
    assert _accounted(d)


@given(st.lists(device_message, min_size=1, max_size=6), st.data())
def test_a_flipped_bit_never_yields_a_corrupt_message(messages, data):
    wire, _ = _wire(messages)
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    corrupt = bytearray(wire)
    corrupt[bit // 8] ^= 1 << (bit % 8)
    d = Decoder()
    out = d.feed(bytes(corrupt))
    assert all(m in messages for m in out)
    assert len(out) >= len(messages) - 2  # one flip damages at most two frames
    assert _accounted(d)


@given(st.lists(device_message, min_size=1, max_size=6), st.data())
def test_truncated_stream_delivers_complete_frames_and_holds_the_rest(messages, data):
    wire, frames = _wire(messages)
    cut = data.draw(st.integers(0, len(wire)))
    d = Decoder()
    out = d.feed(wire[:cut])
    ends = np.cumsum([len(f) for f in frames])
    assert out == messages[: int(np.searchsorted(ends, cut, side="right"))]
    assert _accounted(d)


def test_oversize_run_is_discarded_once_then_decoding_resumes():
    good, _ = _wire([RequestHello(1), RequestHello(2)])
    d = Decoder(from_device=False)
    noise = b"\x01" * (MAX_ENCODED * 3 + 17)
    out = d.feed(noise[:500]) + d.feed(noise[500:]) + d.feed(b"\x00" + good)
    assert out == [RequestHello(1), RequestHello(2)]
    assert d.counters.oversize == 1
    assert d.pending == 0
    assert _accounted(d)


def test_sequence_gaps_are_counted_exactly_and_wrap_is_not_a_gap():
    msgs = [RequestHello(t) for t in range(10)]
    _, frames = _wire(msgs, first_seq=0xFFFB)  # crosses 65535 -> 0
    d = Decoder(from_device=False)
    d.feed(b"".join(frames[:4]))  # seq 65531..65534
    assert d.counters.seq_gaps == 0
    d.feed(b"".join(frames[4:6]))  # 65535, 0: the wrap
    assert d.counters.seq_gaps == 0
    d.feed(frames[9])  # skips seq 1, 2, 3
    assert (d.counters.seq_gaps, d.counters.frames_lost) == (1, 3)


def _hello(boot_id: int) -> Hello:
    ch = ChannelInfo(0, ChannelKind.ECG_II, Fraction(500), 0.005, 0.0, "mV", "ECG II")
    return Hello(0, boot_id, "dev", "fw", (ch,))


def test_device_reset_restarts_the_sequence_without_reporting_a_loss():
    d = Decoder()
    before = Encoder(100)
    d.feed(before.encode(_hello(1)) + before.encode(_hello(1)))
    after = Encoder(0)  # rebooted: seq starts again
    out = d.feed(after.encode(_hello(2)) + after.encode(_hello(2)))
    assert len(out) == 2
    assert d.counters.seq_gaps == 0
    assert d.counters.device_resets == 1


def test_a_resent_hello_from_the_same_boot_still_reports_a_gap():
    d = Decoder()
    enc = Encoder()
    d.feed(enc.encode(_hello(1)))
    enc.seq += 5  # five frames lost while unplugged
    d.feed(enc.encode(_hello(1)))
    assert (d.counters.seq_gaps, d.counters.frames_lost) == (1, 5)


def test_frames_of_the_other_direction_or_another_version_are_counted_not_delivered():
    d = Decoder()  # host side: device -> host types only
    wrong_direction = encode_frame(RequestHello(1), 0)
    assert d.feed(wrong_direction) == []
    assert d.counters.unknown_type == 1
    from cobs import cobs

    body = bytearray(cobs.decode(encode_frame(RequestHello(1), 1)[:-1]))
    body[0] = 2  # version 2
    body = bytes(body[:-2])
    v2 = cobs.encode(body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")) + b"\x00"
    assert d.feed(v2) == []
    assert d.counters.bad_version == 1
    assert d.counters.seq_gaps == 0


def test_valid_crc_with_wrong_payload_length_is_malformed():
    from cobs import cobs

    good = cobs.decode(encode_frame(NumericsMsg(1, (1.0,) * 8), 0)[:-1])
    body = good[:-2] + b"\x00"  # one trailing byte too many
    frame = cobs.encode(body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")) + b"\x00"
    d = Decoder()
    assert d.feed(frame) == []
    assert d.counters.malformed == 1


def test_invalid_numerics_travel_as_nan():
    msg = NumericsMsg(5, (72.0, math.nan, 71.0, math.nan, math.nan, math.nan, 14.0, 36.9))
    (out,) = Decoder().feed(encode_frame(msg, 0))
    assert math.isnan(out.values[1])
    assert out.values[0] == 72.0


@pytest.mark.parametrize(
    ("msg", "why"),
    [
        (Waveform(0, 1, 0, np.zeros(501, "<i2")), "samples"),
        (Waveform(0, 1, 0, np.zeros(0, "<i2")), "samples"),
        (Hello(0, 1, "x" * 33, "fw", _hello(1).channels), "device_id"),
        (Hello(0, 1, "dev", "fw", ()), "channels"),
    ],
)
def test_encoder_refuses_messages_outside_the_protocol_bounds(msg, why):
    with pytest.raises(ProtocolError, match=why):
        encode_frame(msg, 0)


@given(hello)
def test_hello_channel_scale_is_exact_after_the_wire(msg):
    (out,) = Decoder().feed(encode_frame(msg, 0))
    for sent, got in zip(msg.channels, out.channels, strict=True):
        assert got.scale == sent.scale  # held as binary32 on both sides
        assert got.rate == sent.rate
