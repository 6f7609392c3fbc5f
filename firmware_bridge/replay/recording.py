"""The value types every replay reader returns, and the bounds they all enforce.

A recording is untrusted input: a header can claim any rate or length. Every reader checks
the claim against the bounds here *before* it allocates, so a hostile or corrupt file costs
an error message, not the bedside box's memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import SupportsFloat

import numpy as np

from vigil.errors import ReplayError

MAX_RATE = Fraction(100_000)
"""Highest sample rate accepted (Hz): pacer-detection front ends run at tens of kHz."""

MAX_SAMPLES = 100_000_000
"""Most samples one recording may hold, all signals together (800 MB as float64).

24 hours of a two-signal MIT-BIH-style record at 360 Hz is 62 million samples.
"""

MAX_SIGNALS = 64
"""Most signals one recording may hold; bedside monitors carry a handful."""

RATE_DENOMINATOR = 1000
"""A rate written as a decimal becomes the nearest fraction with at most this denominator."""


def as_rate(value: Fraction | SupportsFloat | str, *, source: str) -> Fraction:
    """Turn a stated sample rate into an exact, bounded `Fraction`.

    Files store rates as decimals (WFDB `62.5`, a NumPy scalar); the protocol's channels
    declare exact rationals, and sample indices are computed as `ceil(t * rate)`, so the rate
    must be exact: 62.5 becomes 125/2, 333.333 becomes 1000/3. `source` names where the rate
    came from, for the error message.
    """
    if isinstance(value, Fraction):
        rate = value
    elif isinstance(value, int | np.integer):
        rate = Fraction(int(value))
    else:
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ReplayError(f"{source}: sample rate {value!r} is not a number") from exc
        if not math.isfinite(number):
            raise ReplayError(f"{source}: sample rate {number} is not finite")
        rate = Fraction(str(number)).limit_denominator(RATE_DENOMINATOR)
    if rate <= 0:
        raise ReplayError(f"{source}: sample rate {float(rate):g} Hz must be positive")
    if rate > MAX_RATE:
        raise ReplayError(
            f"{source}: sample rate {float(rate):g} Hz is above the {int(MAX_RATE)} Hz Vigil "
            "accepts; check the file's header or the rate you passed"
        )
    return rate


def check_sample_count(total: int, *, source: str) -> None:
    """Refuse a recording whose stated size is absurd, before reading it."""
    if total > MAX_SAMPLES:
        raise ReplayError(
            f"{source}: {total} samples is more than the {MAX_SAMPLES} Vigil replays at once; "
            "cut the recording into shorter pieces"
        )


def check_signal_count(count: int, *, source: str) -> None:
    """Refuse a recording with more signals than any bedside monitor carries."""
    if count > MAX_SIGNALS:
        raise ReplayError(f"{source}: {count} signals is more than the {MAX_SIGNALS} Vigil accepts")


def physical_samples(values: np.ndarray, *, source: str) -> np.ndarray:
    """Return `values` as a read-only 1-D float64 array, refusing infinities.

    NaN is kept: it is how WFDB marks an invalid sample (a lead off, a gap), and the
    replay passes that on rather than inventing a value. An infinity is never a reading.
    """
    samples = np.array(values, dtype=np.float64, copy=True)
    if samples.ndim != 1:
        raise ReplayError(f"{source}: expected a 1-D signal, got shape {samples.shape}")
    if np.isinf(samples).any():
        index = int(np.flatnonzero(np.isinf(samples))[0])
        raise ReplayError(f"{source}: sample {index} is infinite; fix or remove it")
    samples.flags.writeable = False
    return samples


@dataclass(frozen=True, slots=True, eq=False)
class RecordedSignal:
    """One signal as the file holds it, in physical units at the file's own rate.

    `eq=False`: a dataclass `==` over an ndarray field would raise; compare `samples`
    with numpy when you need to. `samples` is read-only, float64, 1-D; NaN marks a sample
    the recording itself flags invalid.
    """

    name: str
    rate: Fraction
    samples: np.ndarray
    units: str = ""

    def __post_init__(self) -> None:
        # Callers other than the readers (tests, the simulator) get the same guarantees:
        # an exact bounded rate and read-only 1-D float64 samples. The readers already
        # hand over such arrays, so nothing is copied twice.
        source = f"signal {self.name!r}"
        object.__setattr__(self, "rate", as_rate(self.rate, source=source))
        samples = self.samples
        if not (
            isinstance(samples, np.ndarray)
            and samples.dtype == np.float64
            and samples.ndim == 1
            and not samples.flags.writeable
        ):
            object.__setattr__(self, "samples", physical_samples(samples, source=source))

    @property
    def duration(self) -> Fraction:
        """Seconds the signal covers: its last sample's time plus one sample period."""
        return Fraction(len(self.samples)) / self.rate


@dataclass(frozen=True, slots=True)
class Recording:
    """Every signal read from one file; names are unique within it."""

    path: Path
    signals: tuple[RecordedSignal, ...]

    def __post_init__(self) -> None:
        names = [signal.name for signal in self.signals]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ReplayError(
                f"{self.path}: signal names must be unique, {duplicates} repeat; rename them"
            )
        if not self.signals:
            raise ReplayError(f"{self.path}: the recording holds no signals")

    @property
    def names(self) -> tuple[str, ...]:
        """The signals' names in file order."""
        return tuple(signal.name for signal in self.signals)

    def signal(self, name: str) -> RecordedSignal:
        """The signal called `name` (exact match)."""
        for signal in self.signals:
            if signal.name == name:
                return signal
        raise ReplayError(f"{self.path}: no signal {name!r}; it holds {list(self.names)}")


def split_units(label: str) -> tuple[str, str]:
    """Split a column label such as `ECG_II [mV]` or `SpO2 (%)` into name and units.

    CSV headers and `.npz` keys have nowhere else to state units, so both use this
    convention; a label without brackets has unknown units ('').
    """
    text = label.strip()
    for opening, closing in (("[", "]"), ("(", ")")):
        if text.endswith(closing) and opening in text:
            cut = text.rindex(opening)
            name = text[:cut].strip()
            if name:
                return name, text[cut + 1 : -1].strip()
    return text, ""
