"""Proof, before an analysis window closes, that the QRS detector will accept no complex in
part of it.

The detector decides a window's candidates only once the window has closed: its feature
weights and usable leads depend on the whole window (qrs_detector.py). A beatless span
(asystole) need not wait for that. A candidate becomes a QRS only if its feature prominence
clears the threshold (the detector's rule 2) and its amplitude clears the floor (rule 3);
both are bounded here from what is known while the window is still open, for every weighting
and every set of usable leads the window may get:

1. The feature is a weighted mean of the channels' envelopes over their levels, the weights
   summing to 1, so it is at most the largest envelope/level over all channels. A level can
   drop only by one decay (`SCALE_DECAY`) when the window closes, and never below
   `SCALE_FLOOR_MV`. The prominence is at most the feature. The threshold is at least
   `SEARCH_BACK_FACTOR` times its value with NPK at min(NPK, `MIN_PROMINENCE`) (a rejected
   candidate pulls NPK towards its prominence, itself at least `MIN_PROMINENCE`), and at least
   `MIN_PROMINENCE`.
2. The amplitude is measured around the R peak that the detector places on the lead with the
   widest deflection among the usable leads. Taking each lead in turn as that lead, the R
   peak is where the detector would put it, and the amplitude at most the largest among the
   leads whose deflection is no wider. Under `QRS_FLOOR_MV`, or under `WIDE_QRS_FLOOR_MV`
   with that lead's deflection wider than `NARROW_WIDTH_S` (as wide as a P wave), no choice
   of usable leads makes the candidate a QRS.

A position that either bound clears cannot become a QRS, so the front end may report that no
R peak lies before it. Early in an asystole the first bound clears most positions (the levels
of the last complexes stand far above the noise); as the levels decay, and on a lead whose
complexes were small, noise passes it and the second does the work, first as a cheap ceiling
(no deflection of 0.15 mV on any lead near the candidate), then lead by lead. P waves pass the
first bound and are cleared by the width test, as the detector itself rejects them. Rule 2's
other tests (refractory period, detector restart) only reject more. The bounds read the
detector's own R placement and width measure, so they follow it.

The bounds hold at every position, not only where the feature will peak, and that is their
price: noise just beside a P wave can make a narrow deflection of the P wave's height, which
the detector would accept were the feature to peak there; such a position stops the quiet
span until the window closes. On the accuracy benchmark's patients (P waves 0.07-0.21 mV,
muscle noise 0.01-0.03 mV) that is 4 % of the windows checked in P-wave asystole; 10 % with
P waves of 0.21 mV.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from vigil.runtime.analysis.qrs_detector import (
    MIN_PROMINENCE,
    QRS_FLOOR_MV,
    SCALE_DECAY,
    SCALE_FLOOR_MV,
    SEARCH_BACK_FACTOR,
    THRESHOLD_FRACTION,
    WIDE_QRS_FLOOR_MV,
    QrsDetector,
    dominant_turns,
    half_width,
)

EXACT_BATCH = (4, 64)  # candidates measured lead by lead at once: first, most


class QrsAbsence:
    """The two bounds for one window still open, fixed from the detector's state when the
    previous window has been decided (the detector changes nothing until this one closes)."""

    def __init__(self, det: QrsDetector) -> None:
        self._det = det
        npk = min(det.npk, MIN_PROMINENCE)
        threshold = SEARCH_BACK_FACTOR * (npk + THRESHOLD_FRACTION * (det.spk - npk))
        self.threshold = max(MIN_PROMINENCE, threshold)
        levels = [
            SCALE_FLOOR_MV if v is None else max(SCALE_DECAY * v, SCALE_FLOOR_MV)
            for v in det.scales.levels
        ]
        self._inverse = 1.0 / np.array(levels)[:, None]  # per channel, as the envelope rows

    @property
    def reach_after(self) -> int:
        """Samples of the monitor signal past a candidate's envelope index that the amplitude
        bound reads (beyond the signal's own delay)."""
        det = self._det
        return det.search + det.half - det.delay

    def suspects(self, envelope: np.ndarray) -> np.ndarray:
        """Mask over the samples of `envelope` (both detection envelopes, rows as the
        detector's channels) where the feature might clear the threshold."""
        return (envelope * self._inverse).max(axis=0) >= self.threshold

    def first_possible_qrs(
        self, js: np.ndarray, monitor: np.ndarray, monitor_first: int, monitor_delay: int
    ) -> int | None:
        """The first of the envelope indices `js` (ascending) whose amplitude might clear the
        floor for some choice of usable leads, or None. `monitor` (n_leads, m) from
        `monitor_first` must cover each candidate's measuring span."""
        det = self._det
        s, h = det.search, det.half
        first = js - det.delay + monitor_delay - monitor_first - s - h
        # first a ceiling for every candidate at once: the largest peak-to-peak amplitude
        # over 2 h + 1 samples on any lead, around any R peak position the search may choose
        spread = maximum_filter1d(monitor, 2 * h + 1) - minimum_filter1d(monitor, 2 * h + 1)
        ceiling = maximum_filter1d(spread.max(axis=0), 2 * s + 1)[first + h + s]
        over = np.flatnonzero(ceiling >= QRS_FLOOR_MV)
        k, size = 0, EXACT_BATCH[0]
        while k < len(over):  # in growing batches: a QRS usually ends the search at once
            batch = over[k : k + size]
            maybe = self._may_be_qrs(first[batch], monitor)
            if maybe.any():
                return int(js[batch[np.argmax(maybe)]])
            k, size = k + size, min(2 * size, EXACT_BATCH[1])
        return None

    def _may_be_qrs(self, first: np.ndarray, monitor: np.ndarray) -> np.ndarray:
        """`first_possible_qrs`'s test, as a mask, for the candidates whose measuring spans
        start at `first` in `monitor`, each lead taken in turn as the one measured on."""
        det = self._det
        s, h = det.search, det.half
        n = monitor.shape[0]
        wide = monitor[:, first[:, None] + np.arange(2 * (s + h) + 1)].transpose(1, 0, 2)
        spread = wide.max(axis=2) - wide.min(axis=2)  # (candidates, leads), as `best` picks
        # the R peak on each lead as the measured one: (candidates, leads)
        r = h + dominant_turns(wide[:, :, h : h + 2 * s + 1].reshape(-1, 2 * s + 1))
        r = r.reshape(len(first), n)
        # every lead's samples around each of those R peaks: (candidates, R lead, lead, 2h+1)
        at = (r[:, :, None] + np.arange(-h, h + 1))[:, :, None, :]
        qrs = np.take_along_axis(wide[:, None, :, :], at, axis=3)
        amps = qrs.max(axis=3) - qrs.min(axis=3)
        no_wider = spread[:, None, :] <= spread[:, :, None]  # lead no wider than the R lead
        amp = np.where(no_wider, amps, 0.0).max(axis=2)
        ok = amp >= QRS_FLOOR_MV
        widths: dict[tuple[int, int], bool] = {}  # (lead, R) -> wider than a narrow QRS
        for c, lead in zip(*np.nonzero(ok & (amp < WIDE_QRS_FLOOR_MV)), strict=True):
            key = (int(lead), int(first[c] + r[c, lead]))
            if key not in widths:
                widths[key] = half_width(qrs[c, lead, lead], h) > det.narrow
            ok[c, lead] = not widths[key]
        return ok.any(axis=1)
