"""The serial link: a reader thread that owns one port and feeds the pure codec.

I/O lives here and meaning in `Decoder`/`DeviceSession` (../shared/STYLE.md, pyserial's
`ReaderThread`/`Protocol` split). The link opens the port by path or pyserial URL
(`/dev/ttyUSB0`, `/dev/serial/by-id/...`, `socket://host:port`, `rfc2217://...`), asks for
HELLO on every connect, sends a heartbeat every second, and when the port fails (cable
pulled) closes it and reopens it with exponential backoff until it comes back. Its state and
counters are a snapshot away (`stats()`), and every change is also a `LinkEvent` record, so
the runtime can raise technical alarms: the link never hides a loss.

Liveness: the link is *silent* after 3 device heartbeat periods without a byte (default 3 s),
and *disconnected* as soon as the port reports an error.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from vigil.firmware_bridge.byte_recording import ByteRecorder
from vigil.firmware_bridge.codec import Decoder, Encoder
from vigil.firmware_bridge.messages import AlarmMsg, Heartbeat, RequestHello
from vigil.firmware_bridge.protocol import DEFAULT_HEARTBEAT_MS, SILENT_AFTER_HEARTBEATS
from vigil.firmware_bridge.session import DeviceSession
from vigil.records import LinkEvent, Record

log = logging.getLogger(__name__)


class LinkState(str, enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    SILENT = "silent"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class LinkStats:
    port: str
    state: LinkState
    device_id: str | None
    bytes_in: int
    bytes_discarded: int
    frames_ok: int
    crc_errors: int
    corrupt_frames: int
    seq_gaps: int
    frames_lost: int
    samples: int
    sample_gaps: int
    samples_missing: int
    connects: int
    disconnects: int
    clock_drift_ppm: float
    clock_jumps: int
    device_resets: int
    frames_sent: int
    tx_dropped: int
    last_byte_age_s: float | None


def link_stats(
    port: str,
    state: LinkState,
    decoder: Decoder,
    session: DeviceSession,
    *,
    connects: int = 1,
    disconnects: int = 0,
    frames_sent: int = 0,
    tx_dropped: int = 0,
    last_byte_age_s: float | None = None,
) -> LinkStats:
    """A snapshot of what a decoder and session have counted (live or from a recording)."""
    c, s = decoder.counters, session.counters
    return LinkStats(
        port=port,
        state=state,
        device_id=session.hello.device_id if session.hello else None,
        bytes_in=c.bytes_in,
        bytes_discarded=c.bytes_discarded,
        frames_ok=c.frames_ok,
        crc_errors=c.crc_errors,
        corrupt_frames=c.corrupt_frames,
        seq_gaps=c.seq_gaps,
        frames_lost=c.frames_lost,
        samples=s.samples,
        sample_gaps=s.sample_gaps,
        samples_missing=s.samples_missing,
        connects=connects,
        disconnects=disconnects,
        clock_drift_ppm=session.clock.drift_ppm,
        clock_jumps=s.clock_jumps,
        device_resets=s.device_resets,
        frames_sent=frames_sent,
        tx_dropped=tx_dropped,
        last_byte_age_s=last_byte_age_s,
    )


class SerialLink:
    """One serial port -> records through `on_record` (called on the reader thread), or, when
    `on_records` is given, the records decoded from one read as one list (fewer hand-overs to
    a consumer thread: one queue operation per read instead of one per record)."""

    def __init__(
        self,
        port: str,
        on_record: Callable[[Record], None],
        *,
        on_records: Callable[[list[Record]], None] | None = None,
        baudrate: int = 115200,
        read_timeout_s: float = 0.05,
        backoff_s: tuple[float, float] = (0.1, 1.0),
        recorder: ByteRecorder | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.port_name = port
        self._on_record = on_record
        self._on_records = on_records
        self._baudrate = baudrate
        self._read_timeout_s = read_timeout_s
        self._backoff_s = backoff_s
        self._recorder = recorder
        self._now = clock_ns
        self.decoder = Decoder(from_device=True)
        self.session = DeviceSession(port)
        self._encoder = Encoder()
        self._tx_lock = threading.Lock()
        self._port: serial.SerialBase | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = LinkState.CONNECTING
        self._connects = 0
        self._disconnects = 0
        self._tx_dropped = 0
        self._last_byte_ns: int | None = None
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> SerialLink:
        self._thread = threading.Thread(
            target=self._run, name=f"link {self.port_name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._state = LinkState.STOPPED

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def send(self, msg: AlarmMsg | Heartbeat | RequestHello) -> bool:
        """Send a host -> device message; False (and counted) if the port is down."""
        with self._tx_lock:
            port = self._port
            if port is None:
                self._tx_dropped += 1
                return False
            try:
                port.write(self._encoder.encode(msg))
            except (serial.SerialException, OSError):
                self._tx_dropped += 1
                return False
            return True

    def stats(self) -> LinkStats:
        last = self._last_byte_ns
        return link_stats(
            self.port_name,
            self._state,
            self.decoder,
            self.session,
            connects=self._connects,
            disconnects=self._disconnects,
            frames_sent=self._encoder.frames_sent,
            tx_dropped=self._tx_dropped,
            last_byte_age_s=None if last is None else (self._now() - last) / 1e9,
        )

    # ------------------------------------------------------------------ thread
    def _event(self, kind: str, detail: str = "") -> None:
        self._on_record(LinkEvent(self.session.source, kind, self._now(), detail))

    def _run(self) -> None:
        try:
            backoff = self._backoff_s[0]
            while not self._stop.is_set():
                port = self._open()
                if port is None:
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self._backoff_s[1])
                    continue
                backoff = self._backoff_s[0]
                reason = self._serve(port)
                self._close(port)
                if not self._stop.is_set():
                    self._disconnects += 1
                    self._state = LinkState.DISCONNECTED
                    log.warning("%s: link lost (%s); reconnecting", self.port_name, reason)
                    self._event("disconnected", reason)
        except BaseException as exc:  # record why the reader died, then let it surface
            self.error = exc
            raise
        finally:
            self._connected.clear()

    def _open(self) -> serial.SerialBase | None:
        try:
            port = serial.serial_for_url(
                self.port_name,
                baudrate=self._baudrate,
                timeout=self._read_timeout_s,
                write_timeout=0.5,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            if self._state is not LinkState.DISCONNECTED:
                log.info("%s: cannot open yet (%s)", self.port_name, exc)
            self._state = LinkState.DISCONNECTED if self._connects else LinkState.CONNECTING
            return None
        self.decoder.drop_partial()
        with self._tx_lock:
            self._port = port
        self._connects += 1
        self._state = LinkState.CONNECTED
        self._connected.set()
        self._last_byte_ns = None
        log.info("%s: connected", self.port_name)
        self._event("connected", "reconnected" if self._connects > 1 else "")
        self.send(RequestHello(self._now() // 1000))
        return port

    def _close(self, port: serial.SerialBase) -> None:
        with self._tx_lock:
            self._port = None
        self._connected.clear()
        with contextlib.suppress(serial.SerialException, OSError):
            port.close()

    def _silent_after_ns(self) -> int:
        hello = self.session.hello
        period_ms = hello.heartbeat_ms if hello and hello.heartbeat_ms else DEFAULT_HEARTBEAT_MS
        return SILENT_AFTER_HEARTBEATS * period_ms * 1_000_000

    def _serve(self, port: serial.SerialBase) -> str:
        """Read until the port fails or the link is stopped; returns why it ended."""
        decoder, session, deliver = self.decoder, self.session, self._on_record
        deliver_many = self._on_records
        connected_ns = self._now()
        next_heartbeat = connected_ns
        while not self._stop.is_set():
            try:
                data = port.read(port.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                return str(exc) or type(exc).__name__
            now = self._now()
            if data:
                if self._state is LinkState.SILENT:
                    self._state = LinkState.CONNECTED
                    self._event("resumed")
                self._last_byte_ns = now
                if self._recorder is not None:
                    self._recorder.write(now, data)
                if deliver_many is not None:
                    records = [r for msg in decoder.feed(data) for r in session.handle(msg, now)]
                    if records:
                        deliver_many(records)
                else:
                    for msg in decoder.feed(data):
                        for record in session.handle(msg, now):
                            deliver(record)
            elif self._state is LinkState.CONNECTED:
                since = self._last_byte_ns if self._last_byte_ns is not None else connected_ns
                if now - since > self._silent_after_ns():
                    self._state = LinkState.SILENT
                    self._event("silent", f"no byte for {(now - since) / 1e9:.1f} s")
            if now >= next_heartbeat:
                next_heartbeat = now + 1_000_000_000
                self.send(Heartbeat(now // 1000, decoder.counters.frames_ok, from_host=True))
        return "stopped"
