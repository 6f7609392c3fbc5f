"""Exact rational resampling of a recorded signal onto a channel's declared rate.

The monitor's channels declare exact rates (500, 125, 125/2 Hz) and recordings come at
their own (MIT-BIH 360 Hz). Resampling by the reduced ratio `up/down = to_rate/from_rate`
with a polyphase filter keeps every output sample on the exact grid `i / to_rate`: no
accumulated timing drift, which matters when hours of ECG and pleth are replayed side by
side.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from vigil.errors import ReplayError

MAX_RATIO_TERM = 10_000
"""Largest `up` or `down` accepted. The filter has about `20 * max(up, down)` taps, so a
ratio like 99991/100000 Hz would build a two-million-tap filter; such a pair of rates is
almost certainly a mistake in a header."""

PADTYPE = "edge"
"""How the filter sees past the ends: the first and last values held (see `resample`)."""


def output_length(n: int, from_rate: Fraction, to_rate: Fraction) -> int:
    """Number of output samples for `n` input samples: `ceil(n * to_rate / from_rate)`.

    That is exactly the count of indices `i >= 0` whose time `i / to_rate` falls within the
    input's duration `n / from_rate` (strictly before its end). It is also the length
    `scipy.signal.resample_poly` returns, which the tests check.
    """
    ratio = Fraction(to_rate) / Fraction(from_rate)
    return math.ceil(n * ratio)


def resample(samples: np.ndarray, from_rate: Fraction, to_rate: Fraction) -> np.ndarray:
    """Resample a 1-D signal from `from_rate` to `to_rate` exactly (both in Hz).

    Length: `output_length(n, from_rate, to_rate)`, i.e. one sample for every time
    `i / to_rate` with `0 <= i / to_rate < n / from_rate`; sample `i` is the signal at that
    time (the filter is linear-phase and its delay is compensated).

    Equal rates return a float64 copy unchanged. Otherwise, with `up/down` the reduced
    ratio `to_rate / from_rate`, the result is::

        m + scipy.signal.resample_poly(x - m, up, down, padtype="edge")

    where `m` is the mean of the finite samples. The anti-alias filter is scipy's default:
    a Kaiser-windowed (beta 5) FIR low-pass with cutoff at half the lower of the two rates
    and `2 * 10 * max(up, down) + 1` taps at the rate `from_rate * up`, i.e. it reaches
    about `10 * max(up, down) / up` input samples either side.

    Why the mean: the polyphase branches of that filter differ in DC gain by up to about
    0.1 %, so an offset (a pleth around 50 %, a baseline of 1 mV) would come out rippled;
    subtracting it first passes the offset exactly. Why `edge`: past its ends the signal is
    taken to hold its first and last values, so the edges show no step toward zero (scipy's
    default pads zeros). NaN (an invalid sample) stays local: it makes NaN the outputs
    within the filter's reach, nothing else.

    Raises `ReplayError` when either rate is not positive or the reduced ratio needs a
    filter longer than `MAX_RATIO_TERM` allows.
    """
    from_rate, to_rate = Fraction(from_rate), Fraction(to_rate)
    if from_rate <= 0 or to_rate <= 0:
        raise ReplayError(
            f"cannot resample from {float(from_rate):g} Hz to {float(to_rate):g} Hz: "
            "rates must be positive"
        )
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"resample expects a 1-D signal, got shape {x.shape}")
    if from_rate == to_rate:
        return x.copy()
    ratio = to_rate / from_rate
    up, down = ratio.numerator, ratio.denominator
    if max(up, down) > MAX_RATIO_TERM:
        raise ReplayError(
            f"resampling {float(from_rate):g} Hz to {float(to_rate):g} Hz needs the ratio "
            f"{up}/{down}, beyond the {MAX_RATIO_TERM} Vigil filters; check the recording's "
            "rate, or resample the file to a rate closer to the channel's first"
        )
    if x.size == 0:
        return np.zeros(0, dtype=np.float64)
    finite = x[np.isfinite(x)]
    offset = float(finite.mean()) if finite.size else 0.0
    y = resample_poly(x - offset, up, down, padtype=PADTYPE) + offset
    return np.asarray(y, dtype=np.float64)
