"""Where a simulated monitor's bytes go: a pseudo-terminal, or a real serial port.

`PtyTransport` opens a real pty (the link opens its slave side exactly as it would open a
USB-serial adapter) and can keep a stable symlink to it, as `/dev/serial/by-id/...` does for
USB adapters. `unplug()` closes it (the link sees the port fail, as when a cable is pulled)
and `replug()` makes a new one behind the same symlink. Like a UART with nobody listening,
bytes written while nothing reads are dropped and counted, never queued without bound.
A lock makes `unplug`/`replug` safe from another thread while the simulator streams.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import tty
from pathlib import Path

from vigil.errors import LinkError


class PtyTransport:
    def __init__(self, link_path: str | Path | None = None) -> None:
        self.link_path = Path(link_path) if link_path else None
        self.bytes_dropped = 0
        self._master = -1
        self._slave = -1
        self._lock = threading.Lock()
        self.path = ""
        self.replug()

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def replug(self) -> str:
        """Open a new pty (and point the symlink at it); returns the slave's path."""
        with self._lock:
            if not self.plugged:
                self._open()
            return self.path

    def _open(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes pass untouched
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link_path)

    def unplug(self) -> None:
        """Pull the cable: the pty disappears; the link's reads fail."""
        with self._lock:
            if self.link_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.link_path.unlink()
            for fd in (self._master, self._slave):
                if fd >= 0:
                    os.close(fd)
            self._master = self._slave = -1

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if not self.plugged:
            self.bytes_dropped += len(data)
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                self.bytes_dropped += len(view)  # nobody is reading: the bytes are lost
                return
            except OSError as exc:
                if exc.errno == errno.EIO:
                    self.bytes_dropped += len(view)
                    return
                raise LinkError(f"pty {self.path}: write failed: {exc}") from exc
            view = view[n:]

    def read(self) -> bytes:
        with self._lock:
            return self._read()

    def _read(self) -> bytes:
        if not self.plugged:
            return b""
        try:
            return os.read(self._master, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # no reader attached to the slave side yet
                return b""
            raise

    def close(self) -> None:
        self.unplug()


class SerialTransport:
    """A real serial port (a USB-serial adapter wired to a host running Vigil)."""

    def __init__(self, port: str, baudrate: int = 115200) -> None:
        import serial

        try:
            self._port = serial.serial_for_url(port, baudrate=baudrate, timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot open serial port {port}: {exc}") from exc
        self.path = port
        self.bytes_dropped = 0
        self._serial_error = serial.SerialException

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except self._serial_error:
            self.bytes_dropped += len(data)

    def read(self) -> bytes:
        return self._port.read(self._port.in_waiting or 0)

    def close(self) -> None:
        self._port.close()
