"""Causal ECG filters whose state carries across chunks, so any chunking gives the same output.

Every filter is a Butterworth (or notch) cascade of second-order sections run sample by sample
with its state carried, which makes the output bit-identical however a record is split into
chunks. A filter starts (and restarts after a gap) in the steady state of its first input
sample, so a DC offset at the start is not mistaken for a QRS.

`EcgFilterBank` turns raw leads into the four signals the front end works on:

- `monitor`: 0.5-40 Hz after the mains notches, the clinician's "monitor mode" view; QRS
  amplitude and the R-peak position are measured on it.
- `envelope`: the 5-15 Hz QRS band squared, smoothed (8 Hz) into one hump per complex and
  square-rooted back to mV: the detection feature (Pan-Tompkins' band, an IIR low-pass in
  place of the moving integrator).
- `hf`: above 35 Hz after the notches: muscle noise, measured for lead quality.
- `lf`: below 0.7 Hz: baseline wander, measured for lead quality.

Mains (50 and 60 Hz) is notched first, as monitors do, so interference does not count as
muscle noise nor inflate QRS amplitudes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, iirnotch, sosfilt, sosfilt_zi, tf2sos

try:  # scipy's own C kernel, without sosfilt's per-call validation (~50 us per call)
    from scipy.signal._sosfilt import _sosfilt as _kernel
except ImportError:  # pragma: no cover - other scipy layouts: the public function
    _kernel = None

MAINS_HZ = (50.0, 60.0)
NOTCH_Q = 30.0
MONITOR_BAND_HZ = (0.5, 40.0)
QRS_BAND_HZ = (5.0, 15.0)
ENVELOPE_HZ = 8.0
HF_CUTOFF_HZ = 35.0
LF_CUTOFF_HZ = 0.7


class SosChain:
    """A cascade of second-order sections applied to (channels, n) blocks, state carried."""

    def __init__(self, sos: np.ndarray, channels: int) -> None:
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self._zi_unit = sosfilt_zi(self.sos) if len(self.sos) else np.zeros((0, 2))
        self._zi = np.zeros((channels, len(self.sos), 2))
        self._started = False

    def reset(self) -> None:
        """Forget the state; the next block starts in the steady state of its first sample."""
        self._started = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter x (channels, n) float64, C-contiguous; returns a new array."""
        if not len(self.sos) or x.shape[1] == 0:
            return x.copy()
        if not self._started:
            self._zi = self._zi_unit[None, :, :] * x[:, :1, None]
            self._started = True
        y = np.array(x, dtype=np.float64, order="C")
        if _kernel is not None:
            _kernel(self.sos, y, self._zi)  # in place on y and on the state
            return y
        y, zi = sosfilt(self.sos, y, axis=-1, zi=np.moveaxis(self._zi, 0, 1))  # pragma: no cover
        self._zi = np.ascontiguousarray(np.moveaxis(zi, 1, 0))  # pragma: no cover
        return y  # pragma: no cover


def _butter(order: int, cutoff: float | tuple[float, float], kind: str, fs: float) -> np.ndarray:
    return np.asarray(butter(order, cutoff, btype=kind, fs=fs, output="sos"))


def notch_sos(fs: float) -> np.ndarray:
    """Notches at 50 and 60 Hz, each only where it lies well below Nyquist."""
    sections = [tf2sos(*iirnotch(f0, NOTCH_Q, fs=fs)) for f0 in MAINS_HZ if f0 < 0.45 * fs]
    return np.concatenate(sections) if sections else np.zeros((0, 6))


def group_delay_samples(sos: np.ndarray, freq_hz: float, fs: float) -> float:
    """Group delay of `sos` at `freq_hz` in samples (for aligning features with R peaks)."""
    from scipy.signal import group_delay, sos2tf

    b, a = sos2tf(sos)
    _, gd = group_delay((b, a), w=[freq_hz], fs=fs)
    return float(gd[0])


@dataclass(frozen=True, slots=True)
class FilteredBlock:
    """The bank's outputs for one block, each (n_leads, n) float64."""

    monitor: np.ndarray
    envelope: np.ndarray
    hf: np.ndarray
    lf: np.ndarray


class EcgFilterBank:
    """All front-end filters for `n_leads` leads at `fs` Hz (fs >= 100)."""

    def __init__(self, fs: float, n_leads: int) -> None:
        lo, hi = MONITOR_BAND_HZ
        hi = min(hi, 0.4 * fs)
        self.notch = SosChain(notch_sos(fs), n_leads)
        mon = np.concatenate([_butter(1, lo, "high", fs), _butter(2, hi, "low", fs)])
        self.monitor = SosChain(mon, n_leads)
        self.band = SosChain(_butter(2, QRS_BAND_HZ, "band", fs), n_leads)
        self.envelope = SosChain(_butter(2, ENVELOPE_HZ, "low", fs), n_leads)
        self.hf = SosChain(_butter(2, min(HF_CUTOFF_HZ, 0.4 * fs), "high", fs), n_leads)
        self.lf = SosChain(_butter(2, LF_CUTOFF_HZ, "low", fs), n_leads)
        # where the monitor signal shows a sample late (its low-pass), at QRS frequencies
        self.monitor_delay = round(group_delay_samples(mon, 10.0, fs))

    def reset(self) -> None:
        for chain in (self.notch, self.monitor, self.band, self.envelope, self.hf, self.lf):
            chain.reset()

    def __call__(self, x: np.ndarray) -> FilteredBlock:
        """x: (n_leads, n) float64 with no NaN (the caller holds the last value over gaps)."""
        xn = self.notch(x)
        band = self.band(xn)
        np.square(band, out=band)
        envelope = self.envelope(band)
        np.sqrt(np.maximum(envelope, 0.0, out=envelope), out=envelope)  # the low-pass rings
        return FilteredBlock(
            monitor=self.monitor(xn),
            envelope=envelope,
            hf=self.hf(xn),
            lf=self.lf(x),
        )
