"""Window -> model input: the preprocessing the runtime must repeat, kept torch-free.

A raw window is 300 one-second samples of the five trend vitals (NaN = no valid value). The
model sees 30 bins of 10 s: the median of each bin's valid samples (a median, not a mean,
so a 3-10 s artefact such as a motion spike or an arterial-line flush barely moves a bin),
missing bins filled forward then backward (an SpO2 dropout or leads-off is not evidence of
deterioration), a vital missing for the whole window set to its mean, then each vital
normalised by fixed means and standard deviations and clipped to +-CLIP.

Every constant here is written into `REFERENCE.meta` so a runtime without this package can
reproduce the input exactly.
"""

from __future__ import annotations

import warnings

import numpy as np

from vigil.models.synthetic.trends import UNITS, VITALS

FEATURES = VITALS
FEATURE_UNITS = UNITS
WINDOW_S = 300
BIN_S = 10
STEPS = WINDOW_S // BIN_S
MEAN = np.array([75.0, 97.0, 15.0, 125.0, 80.0])
"""Fixed normalisation (about the centre of adult resting values), in `FEATURE_UNITS`."""
STD = np.array([12.0, 2.0, 3.0, 15.0, 12.0])
"""Fixed scales: roughly the spread of resting values across patients, so a clinically
meaningful change (HR +15, SpO2 -4, RR +6, systolic -30) is 1-2 units in every vital."""
CLIP = 10.0


def bin_medians(raw: np.ndarray) -> np.ndarray:
    """(n, WINDOW_S, F) samples -> (n, STEPS, F) medians of each bin's valid samples, NaN
    where a bin has none."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[1] != WINDOW_S or raw.shape[2] != len(FEATURES):
        raise ValueError(f"expected (n, {WINDOW_S}, {len(FEATURES)}) samples, got {raw.shape}")
    bins = raw.reshape(raw.shape[0], STEPS, BIN_S, raw.shape[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins give NaN, handled below
        return np.nanmedian(bins, axis=2)


def fill_missing(binned: np.ndarray) -> np.ndarray:
    """Forward-fill then backward-fill NaN bins along time; all-NaN series take the mean."""
    x = binned.copy()
    t = x.shape[1]
    valid = ~np.isnan(x)
    idx = np.where(valid, np.arange(t)[None, :, None], -1)
    idx = np.maximum.accumulate(idx, axis=1)  # last valid index at or before each bin
    first = np.argmax(valid, axis=1)  # first valid bin (0 if none)
    idx = np.where(idx < 0, first[:, None, :], idx)
    x = np.take_along_axis(x, idx, axis=1)
    return np.where(np.isnan(x), MEAN[None, None, :], x)


def preprocess(raw: np.ndarray) -> np.ndarray:
    """(n, WINDOW_S, F) vitals in physical units -> (n, STEPS, F) float32 model input."""
    x = fill_missing(bin_medians(raw))
    return np.clip((x - MEAN) / STD, -CLIP, CLIP).astype(np.float32)
