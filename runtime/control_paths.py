"""Where the local control socket lives unless configured: a per-user directory, so the
socket's 0600 mode and its directory's 0700 keep every other user out."""

from __future__ import annotations

import os
from pathlib import Path


def default_control_socket() -> Path:
    """`$XDG_RUNTIME_DIR/vigil/control.sock` (systemd's per-user tmpfs), else
    `/tmp/vigil-UID/control.sock`."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime_dir) / "vigil" if runtime_dir else Path(f"/tmp/vigil-{os.getuid()}")
    return base / "control.sock"
