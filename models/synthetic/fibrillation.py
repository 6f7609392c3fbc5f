"""Ventricular fibrillation: a chaotic 4-8 Hz waveform with no organised QRS.

Model: an oscillator whose instantaneous frequency, amplitude and heart-vector direction
each follow an Ornstein-Uhlenbeck process: frequency f0 ± 0.7 Hz (clipped to 4-8 Hz,
τ = 1.5 s), amplitude log-normal around 0.5 mV (clipped to 0.2-1.0 mV, τ = 1.2 s), direction
60° ± 35° (τ = 0.8 s). A weaker second harmonic makes the waves irregular. State carries
across frames, so the waveform is continuous and streamable.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import lfilter

from vigil.models.synthetic.patient import PatientParams


class FibrillationGenerator:
    """Advances only over frames that contain VF; cost O(samples)."""

    def __init__(self, rng: np.random.Generator, patient: PatientParams, fs: Fraction) -> None:
        self._rng = rng
        self._f0 = patient.vf_freq_hz
        self._fs = float(fs)
        dt = 1.0 / self._fs
        self._a = np.array([math.exp(-dt / 1.5), math.exp(-dt / 1.2), math.exp(-dt / 0.8)])
        self._b = np.sqrt(1.0 - self._a**2)
        self._x = rng.standard_normal(3)  # stationary start
        self._phase = float(rng.uniform(0, 2 * math.pi))

    def render(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Next n samples of the heart vector (Hx, Hy) in mV."""
        w = self._rng.standard_normal((3, n))
        x = np.empty_like(w)
        for k in range(3):
            x[k], _ = lfilter([self._b[k]], [1.0, -self._a[k]], w[k], zi=[self._a[k] * self._x[k]])
        if n:
            self._x = x[:, -1].copy()
        freq = np.clip(self._f0 + 0.7 * x[0], 4.0, 8.0)
        amp = np.clip(0.5 * np.exp(0.45 * x[1]), 0.2, 1.0)
        direction = math.radians(60.0) + math.radians(35.0) * x[2]
        phase = self._phase + (2 * math.pi / self._fs) * np.cumsum(freq)
        if n:
            self._phase = float(phase[-1] % (2 * math.pi))
        v = amp * (np.sin(phase) + 0.2 * np.sin(2 * phase + 1.1))
        return v * np.cos(direction), v * np.sin(direction)
