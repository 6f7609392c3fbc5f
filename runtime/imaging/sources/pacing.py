"""Play a recorded stream at its own frame rate, on a schedule that never drifts.

Frame k is due at `start + k * interval` on the monotonic clock, where `start` is when frame 0
was due. Sleeping "one interval after the previous frame" would add every frame's read and
decode time to the schedule and a 30 fps cine would play at 27; a fixed schedule keeps the
average rate exact. A frame that is already late is not slept for, and the schedule is not
moved: after a stall the source catches up at full speed, as a scanner's output would have
gone on while the reader was away. Indices, not a counter, set the due time, so a source that
skips a frame keeps its place.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """`wait(k)` returns when frame k is due. Unpaced (`interval_s` None or `enabled` False)
    it returns at once. `clock` (ns) and `sleep` (s) are injectable for tests."""

    def __init__(
        self,
        interval_s: float | None,
        *,
        enabled: bool = True,
        clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval_s is not None and not interval_s > 0.0:
            raise ValueError(f"Pacer: frame interval {interval_s!r} s must be positive")
        self.interval_ns = round(interval_s * 1e9) if interval_s and enabled else None
        self._clock = clock
        self._sleep = sleep
        self._start_ns: int | None = None
        self._first_k = 0

    def due_ns(self, k: int) -> int | None:
        """When frame k is due (monotonic ns), or None before the first frame or unpaced."""
        if self.interval_ns is None or self._start_ns is None:
            return None
        return self._start_ns + (k - self._first_k) * self.interval_ns

    def wait(self, k: int) -> None:
        if self.interval_ns is None:
            return
        if self._start_ns is None:  # the first frame sets the schedule and is due now
            self._start_ns, self._first_k = self._clock(), k
            return
        due = self._start_ns + (k - self._first_k) * self.interval_ns
        late = self._clock() - due
        if late < 0:
            self._sleep(-late / 1e9)
