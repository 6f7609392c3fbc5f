"""Hypothesis strategies for protocol messages, shared by codec tests."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from vigil.firmware_bridge.messages import (
    Ack,
    AlarmMsg,
    AudioPause,
    ChannelInfo,
    Heartbeat,
    Hello,
    NumericsMsg,
    RequestHello,
    Status,
    Waveform,
)
from vigil.firmware_bridge.protocol import (
    AlarmPriority,
    AlarmState,
    ChannelKind,
    StatusFlag,
)

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
time_us = st.integers(0, (1 << 64) - 1)
f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


def text(max_bytes: int) -> st.SearchStrategy[str]:
    return st.text(max_size=max_bytes).filter(lambda s: len(s.encode()) <= max_bytes)


channel = st.builds(
    ChannelInfo,
    id=st.integers(0, 255),
    kind=st.sampled_from(list(ChannelKind)),
    rate=st.builds(Fraction, st.integers(1, 0xFFFFFFFF), st.integers(1, 0xFFFF)),
    scale=f32.filter(lambda x: x != 0),
    offset=f32,
    units=text(8),
    label=text(16),
)

hello = st.builds(
    Hello,
    time_us=time_us,
    boot_id=u32,
    device_id=text(32),
    firmware=text(32),
    channels=st.lists(channel, min_size=1, max_size=16, unique_by=lambda c: c.id).map(tuple),
    time_scale=st.builds(Fraction, st.integers(1, 0xFFFF), st.integers(1, 0xFFFF)).filter(
        lambda f: f.numerator <= 0xFFFF and f.denominator <= 0xFFFF
    ),
    heartbeat_ms=u16,
    host_timeout_ms=u16,
)

waveform = st.builds(
    Waveform,
    time_us=time_us,
    channel=st.integers(0, 255),
    first_index=time_us,
    samples=st.lists(st.integers(-32768, 32767), min_size=1, max_size=500).map(
        lambda xs: np.array(xs, dtype="<i2")
    ),
)

numerics = st.builds(
    NumericsMsg,
    time_us=time_us,
    values=st.tuples(*[st.one_of(f32, st.just(math.nan))] * 8),
)

status = st.builds(
    Status,
    time_us=time_us,
    flags=st.integers(0, 0x3F).map(StatusFlag),
    leads_off=u16,
    battery_pct=st.integers(0, 255),
    fault_code=u16,
)

device_heartbeat = st.builds(Heartbeat, time_us=time_us, rx_frames=u32, from_host=st.just(False))
host_heartbeat = st.builds(Heartbeat, time_us=time_us, rx_frames=u32, from_host=st.just(True))
ack = st.builds(Ack, time_us=time_us, alarm_id=u32)
audio_pause = st.builds(AudioPause, time_us=time_us, seconds=u16)
alarm = st.builds(
    AlarmMsg,
    time_us=time_us,
    alarm_id=u32,
    priority=st.sampled_from(list(AlarmPriority)),
    state=st.sampled_from(list(AlarmState)),
    technical=st.booleans(),
    text=text(48),
)
request_hello = st.builds(RequestHello, time_us=time_us)

device_message = st.one_of(hello, waveform, numerics, status, device_heartbeat, ack, audio_pause)
host_message = st.one_of(alarm, request_hello, host_heartbeat)
