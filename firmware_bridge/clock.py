"""Device time -> host monotonic time: offset and drift fitted on the lower envelope.

A frame's arrival time is its send time plus a delay that is never negative and is often
inflated (OS scheduling, USB polling). So the fit uses, per second of device time, the frame
that met the *least* delay, and fits a line through those minima over a sliding window:
`host = device / time_scale + offset(t)`, with `offset(t) = a + drift * t`. MCU crystals drift
tens of ppm; the fit reports it. The time scale from HELLO is divided out first, so a 4×
replay is not mistaken for drift.

A device time that goes backwards (MCU reset) or arrives earlier than the fit allows by more
than `jump_tolerance_s` (the device clock leapt ahead) is a jump: counted, and the fit
restarts from the new clock.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction

import numpy as np


class ClockFit:
    def __init__(
        self,
        time_scale: Fraction = Fraction(1),
        *,
        window_s: int = 600,
        jump_tolerance_s: float = 0.25,
    ) -> None:
        self.time_scale = float(time_scale)
        self.jump_tolerance_s = jump_tolerance_s
        self.jumps = 0
        self._minima: deque[tuple[float, float]] = deque(maxlen=window_s)
        self._window_s = window_s
        self._reset_state()

    def _reset_state(self) -> None:
        self._minima.clear()
        self._bucket: int | None = None
        self._bucket_min: tuple[float, float] | None = None
        self._last_device_s: float | None = None
        self._a = 0.0
        self._drift = 0.0
        self._fitted = False

    def set_time_scale(self, time_scale: Fraction) -> None:
        """A (new) HELLO declared its time scale: the old fit no longer applies."""
        if float(time_scale) != self.time_scale:
            self.time_scale = float(time_scale)
            self._reset_state()

    def restart(self) -> None:
        """The device reset: forget the fit (not counted as a jump; the caller reports it)."""
        self._reset_state()

    @property
    def ready(self) -> bool:
        return self._fitted

    @property
    def drift_ppm(self) -> float:
        """How fast the device clock runs slow (+) or fast (-) against the host, in ppm."""
        return self._drift * 1e6

    def observe(self, device_us: int, arrival_ns: int) -> bool:
        """Feed one (send time, arrival time) pair; returns True if it revealed a clock jump."""
        device_s = device_us / 1e6 / self.time_scale
        offset = arrival_ns / 1e9 - device_s
        jumped = False
        last = self._last_device_s
        if last is not None and (
            device_s < last - 1e-3
            or (self._fitted and offset < self._predict(device_s) - self.jump_tolerance_s)
        ):
            self.jumps += 1
            self._reset_state()
            jumped = True
        self._last_device_s = device_s
        bucket = int(device_s)
        if bucket != self._bucket:
            if self._bucket_min is not None:
                self._minima.append(self._bucket_min)
                self._refit()
            self._bucket = bucket
            self._bucket_min = (device_s, offset)
        elif offset < self._bucket_min[1]:  # type: ignore[index]
            self._bucket_min = (device_s, offset)
        if not self._fitted:
            self._a, self._drift, self._fitted = offset, 0.0, True
        elif not self._minima and offset < self._a:
            self._a = offset  # young fit: track the lowest offset seen
        return jumped

    def _predict(self, device_s: float) -> float:
        return self._a + self._drift * device_s

    def _refit(self) -> None:
        points = np.array(self._minima)
        if len(points) >= 10 and points[-1, 0] - points[0, 0] >= 10.0:
            drift, a = np.polyfit(points[:, 0], points[:, 1], 1)
            # The line must stay under every minimum: shift it down to the envelope.
            a += min(0.0, float(np.min(points[:, 1] - (a + drift * points[:, 0]))))
            self._a, self._drift = float(a), float(drift)
        else:
            self._a, self._drift = float(points[:, 1].min()), 0.0

    def to_host_ns(self, device_us: float) -> int:
        """Host monotonic time at which the device clock read `device_us`."""
        device_s = device_us / 1e6 / self.time_scale
        return round((device_s + self._predict(device_s)) * 1e9)
