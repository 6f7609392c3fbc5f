"""The anomaly score rule and the threshold that ships inside the weights file.

The threshold is calibrated when the weights are trained, so it is stored in the
safetensors header's metadata of those weights: a threshold can never be paired with
weights it was not calibrated for. Reading it parses only the JSON header (bounded), so
importing the package needs neither torch nor the safetensors library.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

TRIM_BINS = 6
"""Worst-reconstructed bins left out of the score: transients up to 60 s do not alarm."""
THRESHOLD_QUANTILE = 0.99
"""The threshold is this quantile of held-out normal scores: a 1 % false-positive rate per
window on the calibration population, by construction."""
_MAX_HEADER = 1 << 20


def score_from_reconstruction(vitals: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """(N, T, F) input and reconstruction -> (N,) score, the rule the graph computes."""
    per_bin = np.mean((np.asarray(reconstruction) - np.asarray(vitals)) ** 2, axis=2)
    kept = np.sort(per_bin, axis=1)[:, : per_bin.shape[1] - TRIM_BINS]
    return kept.mean(axis=1)


def weights_metadata(path: Path) -> dict[str, str]:
    """The `__metadata__` of a safetensors file ({} if absent), read without loading it."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than its header size)")
        (size,) = struct.unpack("<Q", raw)
        if size > _MAX_HEADER:
            raise ValueError(f"{path}: safetensors header of {size} bytes exceeds {_MAX_HEADER}")
        header = json.loads(f.read(size))
    meta = header.get("__metadata__", {})
    return {str(k): str(v) for k, v in meta.items()}


def shipped_threshold(path: Path) -> float:
    """The threshold calibrated with the weights at `path`; NaN if they are not there yet
    (a fresh checkout before `vigil train vitals_ae`), so importing never fails."""
    try:
        return float(weights_metadata(path)["threshold"])
    except (OSError, KeyError):
        return math.nan
