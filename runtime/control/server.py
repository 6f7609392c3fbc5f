"""The control socket's server: a Unix stream socket that only its owner can reach.

Safety, in order:
- The parent directory is created 0700 when absent. An existing one must be owned by this
  user (or root) and not writable by group or others unless sticky (like /tmp), so nobody
  else can swap the socket file under us.
- The socket is bound under a umask of 0o177, so it is 0600 from the moment it exists (no
  window between bind and chmod), and the mode is checked with `os.stat` after binding.
- A socket file nobody answers on (a runtime that crashed) is replaced; one that answers
  belongs to another runtime and is left alone (`ControlError`).
- Every caller is named by the kernel (SO_PEERCRED), never by what it says about itself.
- Request lines are bounded (`MAX_REQUEST_BYTES`), idle connections time out, and at most
  `max_connections` are served at once, so a stuck client cannot lock the operator out.
- Malformed requests and failing handlers get an error reply; the server keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.errors import VigilError
from vigil.runtime.control import MAX_REQUEST_BYTES, ControlError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], str], dict[str, Any]]

_ACCEPT_POLL_S = 0.2  # how often the accept loop looks at the stop flag
_PROBE_TIMEOUT_S = 1.0


def peer_actor(conn: socket.socket) -> str:
    """ "socket:uid=U,pid=P" from the peer's kernel credentials (Linux SO_PEERCRED)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # not Linux: the socket's mode still limits callers to the owner
        return "socket:uid=unknown"
    size = struct.calcsize("3i")
    pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, option, size))
    return f"socket:uid={uid},pid={pid}"


class ControlServer:
    """Serves `handle(request, actor)` on a Unix socket at `path` until `stop()`."""

    def __init__(
        self,
        path: Path,
        handle: Handler,
        *,
        idle_timeout_s: float = 10.0,
        max_connections: int = 8,
    ) -> None:
        self.path = Path(path)
        self._handle = handle
        self._idle_timeout_s = idle_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket file
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.requests = 0
        self.errors = 0  # error replies (malformed, refused, failed)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ControlServer:
        if self._sock is not None:
            raise ControlError(f"control socket {self.path} is already being served")
        _prepare_directory(self.path.parent)
        _clear_stale(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old)
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)
            if stat.S_IMODE(st.st_mode) & 0o077:
                self._unlink_own()
                raise ControlError(
                    f"control socket {self.path} came out mode {stat.S_IMODE(st.st_mode):o}, "
                    "not 0600: refusing to serve it"
                )
            sock.listen(8)
            sock.settimeout(_ACCEPT_POLL_S)
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot listen on control socket {self.path}: {exc}") from exc
        except ControlError:
            sock.close()
            raise
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept_loop, name="vigil-control", daemon=True)
        self._thread.start()
        log.info("control socket listening on %s", self.path)
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop accepting, end open connections, close and remove the socket file."""
        self._stop.set()
        if self._thread is not None:  # wake the accept loop now rather than at its next poll
            with (
                contextlib.suppress(OSError),
                socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as wake,
            ):
                wake.settimeout(_ACCEPT_POLL_S)
                wake.connect(str(self.path))
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):  # wakes its reader; its thread closes it
                conn.shutdown(socket.SHUT_RDWR)
        self._unlink_own()

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _unlink_own(self) -> None:
        """Remove the socket file if it is still ours (another runtime may have replaced it)."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (st.st_dev, st.st_ino) == self._identity:
            self.path.unlink(missing_ok=True)
        self._identity = None

    # ------------------------------------------------------------------ threads
    def _accept_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.warning("control socket %s: accept failed: %s", self.path, exc)
                self._stop.wait(_ACCEPT_POLL_S)  # e.g. out of file descriptors: do not spin
                continue
            if self._stop.is_set():  # stop()'s wake-up call
                conn.close()
                return
            if not self._slots.acquire(blocking=False):
                self.errors += 1
                _reply_and_close(conn, _error("too many control connections; try again"))
                continue
            conn.settimeout(self._idle_timeout_s)
            threading.Thread(
                target=self._serve, args=(conn,), name="vigil-control-conn", daemon=True
            ).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)
        try:
            actor = peer_actor(conn)
            with conn.makefile("rb") as reader:
                while not self._stop.is_set():
                    line = reader.readline(MAX_REQUEST_BYTES + 1)
                    if not line:
                        return
                    if len(line) > MAX_REQUEST_BYTES and not line.endswith(b"\n"):
                        self.errors += 1
                        _send(conn, _error(f"request longer than {MAX_REQUEST_BYTES} bytes"))
                        return
                    _send(conn, self._answer(line, actor))
        except OSError:  # timed out, reset by the peer, or shut down by stop()
            return
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            conn.close()
            self._slots.release()

    def _answer(self, line: bytes, actor: str) -> dict[str, Any]:
        self.requests += 1
        reply = self._dispatch(line, actor)
        if not reply.get("ok"):
            self.errors += 1
        return reply

    def _dispatch(self, line: bytes, actor: str) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except UnicodeDecodeError:
            return _error("malformed request: not UTF-8")
        except json.JSONDecodeError as exc:
            return _error(f"malformed request: not JSON ({exc.msg} at column {exc.colno})")
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            return _error(
                'malformed request: expected a JSON object with an "op", e.g. {"op": "alarms"}'
            )
        op = request["op"]
        try:
            reply = self._handle(request, actor)
        except VigilError as exc:
            return _error(str(exc))
        except Exception:  # a bug in the handler: logged in full, the server stays up
            log.exception("control socket %s: handling %r from %s failed", self.path, op, actor)
            return _error(f"internal error handling {op!r}: see the vigil runtime's log")
        if not isinstance(reply, dict):
            log.error("control socket %s: handler returned %r for %r", self.path, reply, op)
            return _error(f"internal error handling {op!r}: see the vigil runtime's log")
        return reply


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def _encode(reply: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(reply, allow_nan=False)
    except (TypeError, ValueError) as exc:
        log.error("control reply cannot be JSON: %s", exc)
        text = json.dumps(_error("internal error: the reply could not be encoded"))
    return text.encode("utf-8") + b"\n"


def _send(conn: socket.socket, reply: dict[str, Any]) -> None:
    conn.sendall(_encode(reply))


def _reply_and_close(conn: socket.socket, reply: dict[str, Any]) -> None:
    with conn, contextlib.suppress(OSError):
        conn.settimeout(1.0)
        _send(conn, reply)


def _prepare_directory(parent: Path) -> None:
    """Create the socket's directory 0700, or check that an existing one is safe to use."""
    try:
        parent.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ControlError(f"cannot create the control socket folder {parent}: {exc}") from exc
    st = os.stat(parent)
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISDIR(st.st_mode):
        raise ControlError(f"control socket folder {parent} is not a folder")
    if st.st_uid not in (os.getuid(), 0):
        raise ControlError(
            f"control socket folder {parent} belongs to uid {st.st_uid}, not to you "
            f"(uid {os.getuid()}): remove it or choose another --socket"
        )
    if mode & 0o022 and not mode & stat.S_ISVTX:
        raise ControlError(
            f"control socket folder {parent} is writable by others (mode {mode:o}): "
            f"`chmod 700 {parent}` or choose another --socket"
        )


def _clear_stale(path: Path) -> None:
    """Remove a socket file that nobody answers on; refuse one a live runtime serves."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlError(
            f"{path} exists and is not a socket: remove it or choose another --socket"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(_PROBE_TIMEOUT_S)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:  # nobody listens: left over from a runtime that died
        log.info("replacing stale control socket %s", path)
        path.unlink(missing_ok=True)
        return
    except FileNotFoundError:
        return
    except TimeoutError:  # listening but its backlog is full: alive
        pass
    except OSError as exc:
        raise ControlError(f"cannot check the existing control socket {path}: {exc}") from exc
    finally:
        probe.close()
    raise ControlError(
        f"another vigil runtime is listening on {path}: stop it, or give this one "
        "another control socket (--socket)"
    )
