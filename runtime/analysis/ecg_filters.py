"""Causal ECG filters whose state carries across chunks, so any chunking gives the same output.

Every filter is a Butterworth (or notch) cascade of second-order sections run sample by sample
with its state carried, which makes the output bit-identical however a record is split into
chunks. A filter starts (and restarts after a gap) in the steady state of its first input
sample, so a DC offset at the start is not mistaken for a QRS.

Cost: scipy's kernel runs one signal at a time and each sample waits for the previous one's
state, so a pass costs about the same for one to four sections. The mains notch therefore runs
inside each filter that needs its output (one pass, `SosChain` stages), not as a pass of its
own; each stage still starts in the steady state of its own input, so every output is the
same float as with separate filters. The designs depend only on the sample rate and are made
once per rate (a bed's ECG start would otherwise spend milliseconds in scipy's design code).

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

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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


@dataclass(frozen=True, slots=True, eq=False)
class Stage:
    """One filter: its second-order sections (k, 6) and their steady state for a unit input
    (k, 2), both read-only, so the filters of many beds share one."""

    sos: np.ndarray
    zi_unit: np.ndarray

    @classmethod
    def of(cls, sos: np.ndarray) -> Stage:
        sos = np.array(sos, dtype=np.float64, order="C").reshape(-1, 6)
        zi_unit = sosfilt_zi(sos) if len(sos) else np.zeros((0, 2))
        sos.flags.writeable = zi_unit.flags.writeable = False
        return cls(sos, zi_unit)


class SosChain:
    """A cascade of second-order sections applied to (channels, n) blocks, state carried.

    `sos` is one filter's sections, or a sequence of filters (stages) run one after the other
    in a single pass; each stage starts in the steady state of the first sample it receives,
    exactly as a chain of its own would."""

    def __init__(
        self, sos: np.ndarray | Stage | Sequence[np.ndarray | Stage], channels: int
    ) -> None:
        parts = [sos] if isinstance(sos, np.ndarray | Stage) else list(sos)
        self._stages = [p if isinstance(p, Stage) else Stage.of(p) for p in parts]
        self.sos = np.concatenate([st.sos for st in self._stages] + [np.zeros((0, 6))])
        self._zi = np.zeros((channels, len(self.sos), 2))
        self._started = False

    def reset(self) -> None:
        """Forget the state; the next block starts in the steady state of its first sample."""
        self._started = False

    def _start(self, x: np.ndarray) -> None:
        """Each stage's state: its steady state for its first input, the previous stage's first
        output (computed on copies, the same floats the previous stage is about to produce)."""
        u = x[:, :1]
        parts = []
        for k, stage in enumerate(self._stages):
            zi = stage.zi_unit[None, :, :] * u[:, :, None]
            parts.append(zi)
            if k + 1 < len(self._stages) and len(stage.sos):
                u = _filtered(stage.sos.copy(), u, zi.copy())  # the kernel wants writable
        self._zi = np.ascontiguousarray(np.concatenate(parts, axis=1))
        self._started = True

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter x (channels, n) float64, C-contiguous; returns a new array."""
        if not len(self.sos) or x.shape[1] == 0:
            return x.copy()
        if not self._started:
            self._start(x)
        return _filtered(self.sos, x, self._zi)


def _filtered(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """x (channels, n) through `sos` from state `zi` (channels, sections, 2), which it
    updates; a new array."""
    y = x.astype(np.float64, order="C")  # always a copy: the kernel works in place
    if _kernel is not None:
        _kernel(sos, y, zi)  # in place on y and on the state
        return y
    y, zf = sosfilt(sos, y, axis=-1, zi=np.moveaxis(zi, 0, 1))  # pragma: no cover
    zi[...] = np.moveaxis(zf, 1, 0)  # pragma: no cover
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


@dataclass(frozen=True, slots=True, eq=False)
class BankDesign:
    """The bank's filters at one sample rate and the monitor signal's delay."""

    notch: Stage
    monitor: Stage
    band: Stage
    envelope: Stage
    hf: Stage
    lf: Stage
    monitor_delay: int


@lru_cache(maxsize=16)
def bank_design(fs: float) -> BankDesign:
    """The filters of `EcgFilterBank` at `fs` Hz, designed once per rate."""
    lo, hi = MONITOR_BAND_HZ
    hi = min(hi, 0.4 * fs)
    mon = np.concatenate([_butter(1, lo, "high", fs), _butter(2, hi, "low", fs)])
    return BankDesign(
        notch=Stage.of(notch_sos(fs)),
        monitor=Stage.of(mon),
        band=Stage.of(_butter(2, QRS_BAND_HZ, "band", fs)),
        envelope=Stage.of(_butter(2, ENVELOPE_HZ, "low", fs)),
        hf=Stage.of(_butter(2, min(HF_CUTOFF_HZ, 0.4 * fs), "high", fs)),
        lf=Stage.of(_butter(2, LF_CUTOFF_HZ, "low", fs)),
        # where the monitor signal shows a sample late (its low-pass), at QRS frequencies
        monitor_delay=round(group_delay_samples(mon, 10.0, fs)),
    )


class EcgFilterBank:
    """All front-end filters for `n_leads` leads at `fs` Hz (fs >= 100). The notch runs as
    the first stage of each filter of its output (monitor, band, hf): see the module's "Cost"."""

    def __init__(self, fs: float, n_leads: int) -> None:
        d = bank_design(float(fs))
        self.monitor = SosChain([d.notch, d.monitor], n_leads)
        self.band = SosChain([d.notch, d.band], n_leads)
        self.envelope = SosChain(d.envelope, n_leads)
        self.hf = SosChain([d.notch, d.hf], n_leads)
        self.lf = SosChain(d.lf, n_leads)
        self.monitor_delay = d.monitor_delay

    def reset(self) -> None:
        for chain in (self.monitor, self.band, self.envelope, self.hf, self.lf):
            chain.reset()

    def __call__(self, x: np.ndarray) -> FilteredBlock:
        """x: (n_leads, n) float64 with no NaN (the caller holds the last value over gaps)."""
        band = self.band(x)
        np.square(band, out=band)
        envelope = self.envelope(band)
        np.sqrt(np.maximum(envelope, 0.0, out=envelope), out=envelope)  # the low-pass rings
        return FilteredBlock(
            monitor=self.monitor(x),
            envelope=envelope,
            hf=self.hf(x),
            lf=self.lf(x),
        )
