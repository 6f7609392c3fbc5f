"""The feed contract every streaming stage enforces (docs/analysis.md, "Conventions").

A stage's `feed(first_index, samples)` continues exactly where its previous call ended; a
discontinuity goes through `gap(next_index)` first. One check, one wording, for every stage,
so a caller's bug reads the same wherever it surfaces.
"""

from __future__ import annotations

import numpy as np


def check_feed(
    stage: str, expected: int | None, first_index: int, samples: np.ndarray, rows: int | None
) -> None:
    """Refuse samples of the wrong shape (`rows` None: 1-D; else (rows, n)) and a feed that
    does not continue at `expected` (None: the stage has not been fed yet)."""
    if rows is None and samples.ndim != 1:
        raise ValueError(f"{stage}.feed needs 1-D samples, got shape {samples.shape}")
    if rows is not None and (samples.ndim != 2 or samples.shape[0] != rows):
        raise ValueError(
            f"{stage}.feed needs samples of shape ({rows}, n), one row per lead "
            f"(n_leads={rows}), got shape {samples.shape}"
        )
    if expected is not None and first_index != expected:
        raise ValueError(
            f"{stage}.feed starts at {first_index}, expected {expected}; "
            "call gap(next_index) first at a discontinuity"
        )
