"""Exact sample indexing: sample i of a channel at `rate` is at time i / rate, exactly.

Index ranges use Fraction arithmetic so that block boundaries such as 0.04 s at 62.5 Hz
never round differently in two partitions of the same span.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def as_time(t: Fraction | int | str | float) -> Fraction:
    """A time in seconds as an exact Fraction; floats are read by their decimal repr so
    0.04 means 1/25, not the nearest binary double."""
    if isinstance(t, float):
        return Fraction(repr(t))
    return Fraction(t)


def index_range(t0: Fraction, t1: Fraction, rate: Fraction) -> tuple[int, int]:
    """First and stop index of the samples with t0 <= i / rate < t1."""
    return math.ceil(t0 * rate), math.ceil(t1 * rate)


def sample_times(first: int, stop: int, rate: Fraction) -> np.ndarray:
    """Float64 times of samples [first, stop): one rounding of the exact i / rate."""
    idx = np.arange(first, stop, dtype=np.int64)
    return (idx * rate.denominator) / rate.numerator


def cycle_phase(first: int, stop: int, rate: Fraction, hz: int) -> np.ndarray:
    """Fractional part of hz * i / rate, computed in integers so that a mains sinusoid stays
    exact after days of streaming."""
    idx = np.arange(first, stop, dtype=np.int64)
    num = (idx * (hz * rate.denominator)) % rate.numerator
    return num / rate.numerator
