"""The 1 Hz numerics and status a monitor would display, derived from the ground truth.

Semantics of the sample at whole second s (computed from what happened before s):
- hr: 60 / mean RR of the QRS complexes in [s-8, s) (RR over 8 s ignored), rounded. 0.0
  when no QRS for 4 s (asystole, VF). NaN while lead II is off, during a device fault, or
  in the first seconds before two beats are seen.
- pulse_rate: the same from pleth pulse peaks (pulses with stroke ≥ 0.15). NaN while the
  probe is off.
- spo2: the scenario trend at s plus N(0, 0.4) %, rounded. NaN while the probe is off or
  when no pulse has been seen for 4 s (no pulsatile signal to measure).
- resp_rate: 60 / mean of the last 4 breath intervals in [s-40, s), rounded to 0.1. 0.0 when
  no breath for 20 s (apnea). NaN while lead I (the impedance electrodes RA-LA) is off.
- nibp_sys/dia/mean: measured at nibp_first_s and every nibp_interval_s (the first numerics
  sample at or after that time shows it); the cuff inflates for 30 s before
  (`nibp_in_progress`). Value = trend ± N(0, 2) mmHg; mean = dia + (sys - dia)/3. Held until
  the next measurement; NaN before the first, or when the measurement fails (no pulse).
- temp_c: trend + N(0, 0.03), rounded to 0.1.
A device fault makes every numeric NaN.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from vigil.models.synthetic.records import NumericsSample, StatusSample
from vigil.models.synthetic.scenario import Scenario
from vigil.models.synthetic.timeline import Timeline

NAN = math.nan
HR_WINDOW_S = 8.0
NO_BEAT_S = 4.0
RESP_WINDOW_S = 40.0
NO_BREATH_S = 20.0
NIBP_INFLATION_S = 30.0


class RateMeter:
    """Rate (/min) from event times; events may be added ahead of time (future ones are
    ignored until their time comes)."""

    def __init__(self, window: float, silence: float, last_n: int | None = None) -> None:
        self.window = window
        self.silence = silence
        self.last_n = last_n
        self.events: deque[tuple[float, float]] = deque()  # (time, interval before it)
        self._last: float | None = None

    def add(self, t: float) -> None:
        self.events.append((t, NAN if self._last is None else t - self._last))
        self._last = t

    def rate(self, s: float) -> float:
        while self.events and self.events[0][0] < s - self.window:
            self.events.popleft()
        recent = [(t, i) for t, i in self.events if t < s]
        if recent and s - recent[-1][0] < self.silence:
            intervals = [i for _, i in recent if i <= self.window]  # NaN compares False
            if self.last_n is not None:
                intervals = intervals[-self.last_n :]
            return 60.0 / float(np.mean(intervals)) if intervals else NAN
        return 0.0 if s >= self.silence else NAN


class NumericsTracker:
    """Owns the rate meters, the NIBP cycle and the measurement noise."""

    def __init__(self, scenario: Scenario, timeline: Timeline, rng: np.random.Generator) -> None:
        self._tl = timeline
        self._rng = rng
        self.beats = RateMeter(HR_WINDOW_S, NO_BEAT_S)
        self.pulses = RateMeter(HR_WINDOW_S, NO_BEAT_S)
        self.breaths = RateMeter(RESP_WINDOW_S, NO_BREATH_S, last_n=4)
        self._nibp_first = scenario.nibp_first_s
        self._nibp_interval = scenario.nibp_interval_s
        self._nibp_k = 0
        self._nibp = (NAN, NAN, NAN)

    def _nibp_due(self) -> float:
        return self._nibp_first + self._nibp_k * self._nibp_interval

    def sample(self, s: float) -> tuple[NumericsSample, StatusSample]:
        tl = self._tl
        leads = tuple(bool(x) for x in tl.value("leads_off", s))
        probe_off = bool(tl.value("probe_off", s))
        fault = bool(tl.value("device_fault", s))
        spo2_noise = float(self._rng.normal(0.0, 0.4))
        temp_noise = float(self._rng.normal(0.0, 0.03))
        hr = self.beats.rate(s)
        pr = self.pulses.rate(s)
        rr = self.breaths.rate(s)
        while s >= self._nibp_due():
            due = self._nibp_due()
            self._nibp_k += 1
            d_sys, d_dia = (float(x) for x in self._rng.normal(0.0, 2.0, size=2))
            if pr == 0.0:
                self._nibp = (NAN, NAN, NAN)  # no pulse: the oscillometric measurement fails
                continue
            sys_ = float(round(tl.value("nibp_sys", due) + d_sys))
            dia = float(min(round(tl.value("nibp_dia", due) + d_dia), sys_ - 5))
            self._nibp = (sys_, dia, float(round(dia + (sys_ - dia) / 3.0)))
        in_progress = s >= self._nibp_due() - NIBP_INFLATION_S
        spo2 = NAN
        if not probe_off and pr != 0.0 and not math.isnan(pr):
            spo2 = float(min(round(tl.value("spo2", s) + spo2_noise), 100))
        numerics = NumericsSample(
            t_s=float(s),
            hr=NAN if leads[1] else float(round(hr)) if not math.isnan(hr) else NAN,
            spo2=spo2,
            pulse_rate=NAN if probe_off or math.isnan(pr) else float(round(pr)),
            nibp_sys=self._nibp[0],
            nibp_dia=self._nibp[1],
            nibp_mean=self._nibp[2],
            resp_rate=NAN if leads[0] or math.isnan(rr) else round(rr, 1),
            temp_c=round(tl.value("temp_c", s) + temp_noise, 1),
        )
        if fault:
            numerics = NumericsSample(float(s), *([NAN] * 8))
        status = StatusSample(
            t_s=float(s),
            leads_off=(leads[0], leads[1], leads[2]),
            probe_off=probe_off,
            nibp_in_progress=bool(in_progress),
            battery_pct=round(tl.value("battery_pct", s)),
            device_fault=fault,
        )
        return numerics, status

    def footprint(self) -> int:
        return len(self.beats.events) + len(self.pulses.events) + len(self.breaths.events)
