"""A simulated bedside monitor's firmware, minus the I/O: device time in, wire bytes out.

`SimulatedMonitor.frames_until(t)` emits every frame due up to device time `t`, in 40 ms
slots (docs/protocol.md: WAVEFORM at least every 40 ms per channel, NUMERICS/STATUS/HEARTBEAT
at 1 Hz, STATUS also on change). `receive(data, t)` reads the host's frames: REQUEST_HELLO,
ALARM (the monitor's lights and tone follow them) and HEARTBEAT (which feeds the host-silence
watchdog). Pacing and ports live in `serve.py`; this object is driven by tests directly.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from vigil.firmware_bridge.codec import Decoder, Encoder
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
    BATTERY_UNKNOWN,
    DEFAULT_HEARTBEAT_MS,
    DEFAULT_HOST_TIMEOUT_MS,
    WAVEFORM_PERIOD_S,
    AlarmState,
    StatusFlag,
)
from vigil.firmware_bridge.simulator.channels import DEFAULT_CHANNELS
from vigil.firmware_bridge.simulator.host_watchdog import HostWatchdog, WatchdogState
from vigil.firmware_bridge.simulator.sources import SignalSource, StatusFields

log = logging.getLogger(__name__)

FIRMWARE = "vigil-sim 1.0"


def _us(t: Fraction) -> int:
    return math.floor(t * 1_000_000)


class SimulatedMonitor:
    def __init__(
        self,
        source: SignalSource,
        *,
        seed: int = 0,
        device_id: str = "VIGIL-SIM-0001",
        time_scale: Fraction = Fraction(1),
        channels: dict[str, ChannelInfo] | None = None,
        host_timeout_ms: int = DEFAULT_HOST_TIMEOUT_MS,
        on_annotation: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        table = channels or DEFAULT_CHANNELS
        self.channels = {name: ch for name, ch in table.items() if name in source.rates}
        for name, ch in self.channels.items():
            if source.rates[name] != ch.rate:
                raise ValueError(
                    f"source rate for {name} is {source.rates[name]}, channel {ch.rate}"
                )
        self.source = source
        self.device_id = device_id
        self.time_scale = time_scale
        self.boot_id = random.Random(seed).getrandbits(32)
        self.encoder = Encoder()
        self.decoder = Decoder(from_device=False)
        self.watchdog = HostWatchdog(host_timeout_ms, 0)
        self.alarms: dict[int, AlarmMsg] = {}  # what the device's lights and tone show
        self.samples_clipped = 0
        self._on_annotation = on_annotation
        self._host_timeout_ms = host_timeout_ms
        self._sent_until = Fraction(0)  # every slot before this was sent
        self._hello_due = True
        self._last_hello_t: Fraction | None = None
        self._keys: list[Ack | AudioPause] = []
        self._rendered: tuple[int, dict[str, tuple[int, Any]]] | None = None
        self._numerics: deque[tuple[float, tuple[float, ...]]] = deque()
        self._statuses: deque[tuple[float, StatusFields]] = deque()

    # ---------------------------------------------------------------- outputs
    @property
    def sent_until(self) -> Fraction:
        return self._sent_until

    def next_slot_end(self) -> Fraction:
        return self._sent_until + WAVEFORM_PERIOD_S

    def hello(self, t: Fraction) -> Hello:
        return Hello(
            _us(t),
            self.boot_id,
            self.device_id,
            FIRMWARE,
            tuple(self.channels.values()),
            self.time_scale,
            DEFAULT_HEARTBEAT_MS,
            self._host_timeout_ms,
        )

    def frames_until(self, t: Fraction) -> bytes:
        """Every frame due up to device time `t` (whole 40 ms slots only)."""
        out: list[bytes] = []
        while self._sent_until + WAVEFORM_PERIOD_S <= t:
            self._slot(self._sent_until, self._sent_until + WAVEFORM_PERIOD_S, out)
            self._sent_until += WAVEFORM_PERIOD_S
        return b"".join(out)

    def press_ack(self, alarm_id: int = 0) -> None:
        """The operator pressed acknowledge on the device (0 = every alarm shown)."""
        self._keys.append(Ack(0, alarm_id))

    def press_audio_pause(self, seconds: int = 0) -> None:
        self._keys.append(AudioPause(0, seconds))

    # ---------------------------------------------------------------- inputs
    def receive(self, data: bytes, t: Fraction) -> None:
        now_ms = self._real_ms(t)
        for msg in self.decoder.feed(data):
            self.watchdog.host_frame(now_ms)
            if isinstance(msg, RequestHello):
                self._hello_due = True
            elif isinstance(msg, AlarmMsg):
                if msg.state is AlarmState.ENDED:
                    self.alarms.pop(msg.alarm_id, None)
                else:
                    self.alarms[msg.alarm_id] = msg
                log.info(
                    "alarm %d %s %s: %s", msg.alarm_id, msg.priority.name, msg.state.name, msg.text
                )

    def poll_watchdog(self, t: Fraction) -> WatchdogState:
        before = self.watchdog.state
        state = self.watchdog.poll(self._real_ms(t))
        if state is not before and state is WatchdogState.HOST_LOST:
            log.warning(
                "host silent for %d ms: sounding alarm-system failure", self._host_timeout_ms
            )
        return state

    def _real_ms(self, t: Fraction) -> int:
        """The watchdog's clock: real milliseconds, whatever the replay's time scale (the
        host's heartbeat comes every real second, so a 4x replay must not time out 4x sooner)."""
        return _us(t / self.time_scale) // 1000

    # ---------------------------------------------------------------- slots
    def _second(self, k: int) -> dict[str, tuple[int, Any]]:
        if self._rendered is None or self._rendered[0] != k:
            block = self.source.render(Fraction(k), Fraction(k + 1))
            self._rendered = (k, block.waveforms)
            self._numerics.extend(block.numerics)
            self._statuses.extend(block.status)
            if self._on_annotation is not None:
                for note in block.annotations:
                    self._on_annotation(note)
        return self._rendered[1]

    def _slot(self, a: Fraction, b: Fraction, out: list[bytes]) -> None:
        encode = self.encoder.encode
        time_us = _us(b)
        if self._hello_due and (self._last_hello_t is None or b - self._last_hello_t >= 1):
            out.append(encode(self.hello(b)))
            self._hello_due = False
            self._last_hello_t = b
        waves = self._second(math.floor(a))
        for name, info in self.channels.items():
            first, x = waves[name]
            lo = math.ceil(a * info.rate) - first
            hi = math.ceil(b * info.rate) - first
            if hi <= lo:
                continue
            raw, clipped = info.to_raw(x[lo:hi])
            self.samples_clipped += clipped
            out.append(encode(Waveform(time_us, info.id, first + lo, raw)))
        while self._numerics and self._numerics[0][0] < b:
            _, values = self._numerics.popleft()
            out.append(encode(NumericsMsg(time_us, tuple(float(v) for v in values))))
        while self._statuses and self._statuses[0][0] < b:
            _, fields = self._statuses.popleft()
            out.append(encode(self._status_msg(time_us, fields)))
        if a.denominator == 1:
            out.append(encode(Heartbeat(time_us, self.decoder.counters.frames_ok)))
        for key in self._keys:  # stamped with the slot's time as they are sent
            out.append(encode(dataclasses.replace(key, time_us=time_us)))
        self._keys.clear()

    def _status_msg(self, time_us: int, fields: StatusFields) -> Status:
        names = list(self.channels)
        leads_mask = sum(1 << names.index(n) for n in fields.leads_off if n in names)
        flags = StatusFlag(0)
        if fields.leads_off:
            flags |= StatusFlag.LEADS_OFF
        if fields.probe_off:
            flags |= StatusFlag.PROBE_OFF
        if fields.nibp_in_progress:
            flags |= StatusFlag.NIBP_IN_PROGRESS
        if fields.device_fault:
            flags |= StatusFlag.DEVICE_FAULT
        battery = fields.battery_pct if 0 <= fields.battery_pct <= 100 else BATTERY_UNKNOWN
        if battery < 20:
            flags |= StatusFlag.BATTERY_LOW
        return Status(time_us, flags, leads_mask, battery, 0)
