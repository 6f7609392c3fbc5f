"""The control socket's client: one request, one reply, errors that say what to do."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from vigil.runtime.control import MAX_REPLY_BYTES, ControlError


def send_request(path: Path, request: dict[str, Any], timeout_s: float = 2.0) -> dict[str, Any]:
    """Send `request` to the runtime listening on `path` and return its reply object."""
    path = Path(path)
    line = json.dumps(request, allow_nan=False).encode("utf-8") + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ControlError(
                f"no vigil runtime is listening on {path} (is `vigil run` or `vigil demo` running?)"
            ) from exc
        except PermissionError as exc:
            raise ControlError(
                f"permission denied on control socket {path}: it is mode 0600 for the user "
                "who runs vigil; run this command as that user"
            ) from exc
        except TimeoutError as exc:
            raise ControlError(
                f"the vigil runtime on {path} did not accept within {timeout_s:g} s"
            ) from exc
        except OSError as exc:
            raise ControlError(f"cannot reach the control socket {path}: {exc}") from exc
        try:
            sock.sendall(line)
            with sock.makefile("rb") as reader:
                raw = reader.readline(MAX_REPLY_BYTES + 1)
        except TimeoutError as exc:
            raise ControlError(
                f"the vigil runtime on {path} did not answer within {timeout_s:g} s"
            ) from exc
        except OSError as exc:
            raise ControlError(f"the control socket {path} failed: {exc}") from exc
    if not raw.endswith(b"\n"):
        what = "too long" if len(raw) > MAX_REPLY_BYTES else "cut short"
        raise ControlError(f"the reply from {path} was {what}")
    try:
        reply = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ControlError(f"the reply from {path} is not JSON: {exc}") from exc
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise ControlError(f'the reply from {path} is not an object with "ok": {raw[:200]!r}')
    return reply
