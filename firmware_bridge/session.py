"""One device's decoded messages -> physical-unit records, with nothing lost unsaid.

`DeviceSession` is pure (the caller supplies arrival times): it applies HELLO's channel
table, checks each channel's sample continuity (a gap is reported with its size, an overlap
is trimmed so no sample is delivered twice), maps device time to host time through a
`ClockFit`, and notices device resets. WAVEFORM frames that arrive before the first HELLO
(the host reconnected to an MCU that did not reset) are held, up to a bound, until the HELLO
that REQUEST_HELLO asks for arrives; beyond the bound they are dropped and reported.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from vigil.firmware_bridge.clock import ClockFit
from vigil.firmware_bridge.messages import (
    Ack,
    AudioPause,
    ChannelInfo,
    Heartbeat,
    Hello,
    Message,
    NumericsMsg,
    Status,
    Waveform,
)
from vigil.firmware_bridge.protocol import BATTERY_UNKNOWN, NUMERIC_FIELDS, StatusFlag
from vigil.records import (
    DeviceStatus,
    LinkEvent,
    Numerics,
    OperatorAction,
    Record,
    WaveformChunk,
)

MAX_HELD_BEFORE_HELLO = 2000  # ~6 s of the default channel set


@dataclass(slots=True)
class SessionCounters:
    samples: int = 0
    sample_gaps: int = 0
    samples_missing: int = 0
    samples_overlapped: int = 0
    samples_dropped_no_hello: int = 0
    unknown_channel_frames: int = 0
    clock_jumps: int = 0
    device_resets: int = 0
    hellos: int = 0


class DeviceSession:
    def __init__(self, name: str, *, max_held: int = MAX_HELD_BEFORE_HELLO) -> None:
        self.name = name  # until HELLO names the device
        self.hello: Hello | None = None
        self.counters = SessionCounters()
        self.clock = ClockFit()
        self.peer_rx_frames: int | None = None  # from the device's HEARTBEAT
        self._channels: dict[int, ChannelInfo] = {}
        self._next_index: dict[int, int] = {}
        self._held: deque[tuple[Waveform, int]] = deque()
        self._max_held = max_held

    @property
    def source(self) -> str:
        return self.hello.device_id if self.hello else self.name

    def next_index(self, channel: int) -> int | None:
        """The index the next sample of `channel` must have to be continuous."""
        return self._next_index.get(channel)

    def handle(self, msg: Message, arrival_ns: int) -> list[Record]:
        out: list[Record] = []
        if self.hello is not None and self.clock.observe(msg.time_us, arrival_ns):
            self.counters.clock_jumps += 1
            out.append(LinkEvent(self.source, "clock_jump", arrival_ns, "device time jumped"))
        if isinstance(msg, Waveform):
            if self.hello is None:
                self._hold(msg, arrival_ns, out)
            else:
                self._waveform(msg, arrival_ns, out)
        elif isinstance(msg, Hello):
            self._hello(msg, arrival_ns, out)
        elif isinstance(msg, NumericsMsg):
            values = {
                k: (v if math.isfinite(v) else math.nan)
                for k, v in zip(NUMERIC_FIELDS, msg.values, strict=True)
            }
            out.append(
                Numerics(self.source, msg.time_us, values, self._host(msg.time_us), arrival_ns)
            )
        elif isinstance(msg, Status):
            out.append(self._status(msg, arrival_ns))
        elif isinstance(msg, Ack):
            out.append(
                OperatorAction(
                    self.source, "ack", msg.time_us, alarm_id=msg.alarm_id, arrival_ns=arrival_ns
                )
            )
        elif isinstance(msg, AudioPause):
            out.append(
                OperatorAction(
                    self.source,
                    "audio_pause",
                    msg.time_us,
                    seconds=msg.seconds,
                    arrival_ns=arrival_ns,
                )
            )
        elif isinstance(msg, Heartbeat):
            self.peer_rx_frames = msg.rx_frames
        return out

    def _host(self, device_us: float) -> int:
        return self.clock.to_host_ns(device_us) if self.clock.ready else 0

    def _hello(self, hello: Hello, arrival_ns: int, out: list[Record]) -> None:
        counters = self.counters
        counters.hellos += 1
        previous = self.hello
        self.hello = hello
        if previous is not None and previous.boot_id != hello.boot_id:
            counters.device_resets += 1
            out.append(
                LinkEvent(
                    hello.device_id, "device_reset", arrival_ns, f"boot id {hello.boot_id:#010x}"
                )
            )
            self._next_index.clear()
            self.clock.restart()
        if previous is None or previous.channels != hello.channels:
            self._channels = {ch.id: ch for ch in hello.channels}
            for ch_id in list(self._next_index):
                if ch_id not in self._channels:
                    del self._next_index[ch_id]
        self.clock.set_time_scale(hello.time_scale)
        self.clock.observe(hello.time_us, arrival_ns)
        labels = ", ".join(f"{ch.label}@{float(ch.rate):g}Hz" for ch in hello.channels)
        out.append(
            LinkEvent(hello.device_id, "hello", arrival_ns, f"fw {hello.firmware}: {labels}")
        )
        held, self._held = self._held, deque()
        for wave, arrived in held:
            self._waveform(wave, arrived, out)

    def _hold(self, wave: Waveform, arrival_ns: int, out: list[Record]) -> None:
        if len(self._held) >= self._max_held:
            dropped, _ = self._held.popleft()
            self.counters.samples_dropped_no_hello += len(dropped.samples)
            out.append(
                LinkEvent(
                    self.source,
                    "samples_dropped",
                    arrival_ns,
                    "no HELLO yet: channel table unknown",
                    dropped.channel,
                    len(dropped.samples),
                )
            )
        self._held.append((wave, arrival_ns))

    def _waveform(self, wave: Waveform, arrival_ns: int, out: list[Record]) -> None:
        info = self._channels.get(wave.channel)
        counters = self.counters
        if info is None:
            counters.unknown_channel_frames += 1
            out.append(
                LinkEvent(
                    self.source,
                    "unknown_channel",
                    arrival_ns,
                    "not in HELLO",
                    wave.channel,
                    len(wave.samples),
                )
            )
            return
        samples = wave.samples
        first = wave.first_index
        expected = self._next_index.get(wave.channel)
        if expected is not None and first != expected:
            if first > expected:
                counters.sample_gaps += 1
                counters.samples_missing += first - expected
                out.append(
                    LinkEvent(
                        self.source,
                        "sample_gap",
                        arrival_ns,
                        info.label,
                        wave.channel,
                        first - expected,
                    )
                )
            else:
                overlap = min(expected - first, len(samples))
                counters.samples_overlapped += overlap
                out.append(
                    LinkEvent(
                        self.source,
                        "samples_overlapped",
                        arrival_ns,
                        info.label,
                        wave.channel,
                        overlap,
                    )
                )
                samples = samples[overlap:]
                first += overlap
                if not len(samples):
                    return
        self._next_index[wave.channel] = first + len(samples)
        counters.samples += len(samples)
        device_us = first * 1_000_000 / info.rate
        out.append(
            WaveformChunk(
                self.source,
                wave.channel,
                info.label,
                info.kind.name,
                info.units,
                info.rate,
                first,
                info.to_physical(samples),
                self._host(float(device_us)),
                arrival_ns,
            )
        )

    def _status(self, status: Status, arrival_ns: int) -> DeviceStatus:
        flags = status.flags
        channels = self.hello.channels if self.hello else ()
        leads_off = tuple(ch.label for k, ch in enumerate(channels) if status.leads_off >> k & 1)
        return DeviceStatus(
            self.source,
            status.time_us,
            leads_off,
            probe_off=bool(flags & StatusFlag.PROBE_OFF),
            nibp_in_progress=bool(flags & StatusFlag.NIBP_IN_PROGRESS),
            device_fault=bool(flags & StatusFlag.DEVICE_FAULT),
            battery_low=bool(flags & StatusFlag.BATTERY_LOW),
            on_battery=bool(flags & StatusFlag.ON_BATTERY),
            battery_pct=None if status.battery_pct == BATTERY_UNKNOWN else status.battery_pct,
            fault_code=status.fault_code,
            host_time_ns=self._host(status.time_us),
            arrival_ns=arrival_ns,
        )
