"""Measurement noise, each kind with a stated level so SNR is explicit.

Levels are per lead: a lead is the difference of two electrodes, so each electrode carries
independent noise of level/√2 and the lead sees `level`. SNR of a kind in dB is
20·log10(R amplitude in lead II / level) (with the default R ≈ 1.2 mV and EMG 0.012 mV RMS,
EMG SNR ≈ 40 dB).

- Baseline wander: three sinusoids per electrode with fixed random frequencies in
  0.05-0.5 Hz and phases; `baseline_mv` is the lead RMS.
- Muscle (EMG): white Gaussian noise band-passed to 20-150 Hz (clipped below Nyquist);
  `emg_mv` is the lead RMS.
- Electrode motion: bursts arriving as a Poisson process (`motion_per_min`), each 0.5-2 s
  long with a Hann envelope over 0.3-8 Hz noise; `motion_mv` is the burst peak level (RMS of
  the carrier at envelope peak).
- Mains: a sinusoid at `mains_hz` (50 or 60 Hz) on each electrode with amplitude
  `mains_mv`·U(0.6, 1) and a random phase, so a lead sees up to 2·`mains_mv` (the phasor
  difference). Its phase is computed in integers, so it stays exact after days.

Filters carry their state from frame to frame, so noise is continuous across blocks.
"""

from __future__ import annotations

import math
from collections import deque
from fractions import Fraction

import numpy as np
from scipy.signal import butter, lfilter

from vigil.models.synthetic.timebase import cycle_phase

MAX_MOTION_BURSTS = 64


Filter = tuple[np.ndarray, np.ndarray]  # (b, a): low-order Butterworth, so well conditioned


def _unit_gain(filt: Filter) -> float:
    """RMS gain of the filter for unit white noise."""
    impulse = np.zeros(1 << 16)
    impulse[0] = 1.0
    return float(np.sqrt(np.sum(lfilter(*filt, impulse) ** 2)))


class FilteredNoise:
    """Unit-RMS filtered Gaussian noise on `channels` rows, continuous across calls."""

    def __init__(self, rng: np.random.Generator, filt: Filter, channels: int) -> None:
        self._rng = rng
        self._b, self._a = filt
        self._gain = _unit_gain(filt)
        self._zi = np.zeros((channels, len(self._a) - 1))  # filters start at rest
        self._channels = channels

    def render(self, n: int) -> np.ndarray:
        w = self._rng.standard_normal((self._channels, n))
        y, self._zi = lfilter(self._b, self._a, w, axis=-1, zi=self._zi)
        return y / self._gain


def lowpass(fs: float, cutoff: float) -> Filter:
    return butter(2, min(cutoff, 0.45 * fs), btype="low", fs=fs)


def bandpass(fs: float, low: float, high: float) -> Filter:
    return butter(2, [low, min(high, 0.45 * fs)], btype="band", fs=fs)


class EcgNoise:
    """Electrode noise (RA, LA, LL rows) for each ECG frame."""

    def __init__(self, rng: np.random.Generator, fs: Fraction) -> None:
        self._rng = rng
        self._fs = fs
        f = float(fs)
        self._wander_f = rng.uniform(0.05, 0.5, size=(3, 3))
        self._wander_ph = rng.uniform(0, 2 * math.pi, size=(3, 3))
        amps = rng.uniform(0.5, 1.0, size=(3, 3))
        # each electrode's sum of sinusoids has unit RMS
        self._wander_a = amps / np.sqrt(np.sum(amps**2 / 2, axis=1, keepdims=True))
        self._emg = FilteredNoise(rng, bandpass(f, 20.0, 150.0), 3)
        self._motion = FilteredNoise(rng, bandpass(f, 0.3, 8.0), 3)
        self._bursts: deque[tuple[float, float, float]] = deque()  # (start, duration, level)
        self._mains_a = rng.uniform(0.6, 1.0, size=3)
        self._mains_ph = rng.uniform(0, 2 * math.pi, size=3)

    def render(
        self,
        first: int,
        stop: int,
        times: np.ndarray,
        frame_start: float,
        *,
        baseline_mv: float,
        emg_mv: float,
        motion_mv: float,
        motion_per_min: float,
        mains_mv: float,
        mains_hz: int,
    ) -> np.ndarray:
        n = stop - first
        out = np.zeros((3, n))
        per_electrode = 1.0 / math.sqrt(2.0)
        if baseline_mv > 0:
            arg = 2 * math.pi * self._wander_f[:, :, None] * times[None, None, :]
            arg += self._wander_ph[:, :, None]
            out += (
                baseline_mv * per_electrode * np.einsum("ek,ekn->en", self._wander_a, np.sin(arg))
            )
        if emg_mv > 0:
            out += emg_mv * per_electrode * self._emg.render(n)
        # motion: new bursts in this frame, then the active ones
        if motion_per_min > 0 and motion_mv > 0:
            count = int(self._rng.poisson(motion_per_min / 60.0))
            for start in np.sort(self._rng.uniform(frame_start, frame_start + 1.0, size=count)):
                if len(self._bursts) < MAX_MOTION_BURSTS:
                    level = motion_mv * float(self._rng.uniform(0.5, 1.0))
                    self._bursts.append((float(start), float(self._rng.uniform(0.5, 2.0)), level))
        while self._bursts and self._bursts[0][0] + self._bursts[0][1] < frame_start:
            self._bursts.popleft()
        if self._bursts and n:
            envelope = np.zeros(n)
            for start, dur, level in self._bursts:
                tau = (times - start) / dur
                inside = (tau >= 0) & (tau < 1)
                envelope[inside] += level * np.sin(math.pi * tau[inside]) ** 2
            out += per_electrode * envelope * self._motion.render(n)
        if mains_mv > 0 and n:
            phase = 2 * math.pi * cycle_phase(first, stop, self._fs, mains_hz)
            out += (
                mains_mv * self._mains_a[:, None] * np.sin(phase[None, :] + self._mains_ph[:, None])
            )
        return out

    def footprint(self) -> int:
        return len(self._bursts)
