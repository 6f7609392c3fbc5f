"""Progress lines for the export chain, on stderr so stdout stays machine-readable."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints `vigil export: MODEL: message (elapsed)` lines; silent when disabled.

    One small object instead of logging: export is a foreground command a person watches,
    and a first export (or an engine build) takes long enough that silence looks like a hang.
    """

    def __init__(self, model: str, enabled: bool = True) -> None:
        self.model = model
        self.enabled = enabled
        self._start = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self._start
            print(f"vigil export: {self.model}: {message} ({elapsed:.1f} s)", file=sys.stderr)


def quiet(model: str = "") -> Progress:
    """A progress reporter that prints nothing (the default for steps called alone)."""
    return Progress(model, enabled=False)
