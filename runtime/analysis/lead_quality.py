"""Per-lead signal quality over one 1 s analysis window, and the device's leads-off timeline.

A lead is unusable in a window for the first reason that applies, in this order:

- "missing": a sample did not arrive or is not finite (NaN, inf): missing data, not a value.
- "leads_off": the device STATUS flags the lead off at any sample of the window.
- "flat": peak-to-peak under `FLAT_MV`; a real ECG always carries some noise, a flat line
  is a disconnected electrode or a stuck amplifier.
- "saturated": the signal sits at its window extreme for `SATURATION_RUN_S` on end (an
  amplifier railed by electrode offset or motion; clipped complexes have no shape).
- "noise": high-frequency (> 35 Hz, mains notched) RMS above `NOISE_MV`. The RMS is robust
  (median absolute value), so QRS complexes, which are brief, do not count as noise. The
  limit lets muscle noise at 6 dB SNR through (0.45-0.75 mV RMS for R of 0.9-1.5 mV), which
  the detector handles, and rejects a lead buried in noise.
- "wander": the baseline (< 0.7 Hz) moves more than `WANDER_MV` within the window, far more
  than breathing moves it (0.6 mV RMS wander, i.e. 6 dB, stays under it).

Everything here is computed from complete spans of samples, so the result does not depend on
how they were chunked: 1 s windows, and for a quiet span (ecg_front_end.py) the first quarters
of a window still open, judged on that part alone with the same limits.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from vigil.runtime.analysis.events import LeadQuality

FLAT_MV = 0.01
SATURATION_RUN_S = 0.04
NOISE_MV = 1.0
WANDER_MV = 4.0
ROBUST_RMS = 1.4826  # median |x| of Gaussian noise times this is its RMS


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Per-lead statistics of consecutive windows, each array (n_leads, n_windows); computed
    for several windows at once when a long chunk closes many (exact: no sums involved)."""

    noise: np.ndarray  # robust high-frequency RMS, mV
    wander: np.ndarray  # baseline peak-to-peak, mV
    top: np.ndarray
    bottom: np.ndarray
    at_top: np.ndarray  # samples equal to the window maximum
    at_bottom: np.ndarray
    missing: np.ndarray  # any sample missing


def window_stats(
    length: int, *, raw: np.ndarray, missing: np.ndarray, hf: np.ndarray, lf: np.ndarray
) -> WindowStats:
    """Statistics of the windows of `length` samples that the arrays (n_leads, k * length)
    cover: raw samples (missing ones held at the last value), the missing mask, and the hf
    and lf filter outputs (see `ecg_filters`)."""
    n, k = raw.shape[0], raw.shape[1] // length
    raw = raw.reshape(n, k, length)
    half = (length - 1) // 2
    top = raw.max(axis=2)
    bottom = raw.min(axis=2)
    lf = lf.reshape(n, k, length)
    return WindowStats(
        noise=ROBUST_RMS * np.partition(np.abs(hf.reshape(n, k, length)), half, axis=2)[..., half],
        wander=lf.max(axis=2) - lf.min(axis=2),
        top=top,
        bottom=bottom,
        at_top=np.count_nonzero(raw == top[..., None], axis=2),
        at_bottom=np.count_nonzero(raw == bottom[..., None], axis=2),
        missing=missing.reshape(n, k, length).any(axis=2),
    )


def assess_window(
    leads: Sequence[str],
    start: int,
    stop: int,
    fs: float,
    *,
    stats: WindowStats,
    column: int,
    raw: np.ndarray,
    off: Sequence[bool],
) -> tuple[LeadQuality, ...]:
    """Quality of each lead over [start, stop), from column `column` of `stats` and the raw
    samples of the window (n_leads, stop - start), scanned only to time a saturation."""
    run = max(2, round(SATURATION_RUN_S * fs))
    noise = stats.noise[:, column].tolist()
    wander = stats.wander[:, column].tolist()
    top = stats.top[:, column].tolist()
    bottom = stats.bottom[:, column].tolist()
    out = []
    for i, lead in enumerate(leads):
        if stats.missing[i, column]:
            reason = "missing"
        elif off[i]:
            reason = "leads_off"
        elif top[i] - bottom[i] < FLAT_MV:
            reason = "flat"
        elif (stats.at_top[i, column] >= run and _longest_run(raw[i], top[i]) >= run) or (
            stats.at_bottom[i, column] >= run and _longest_run(raw[i], bottom[i]) >= run
        ):
            reason = "saturated"
        elif noise[i] > NOISE_MV:
            reason = "noise"
        elif wander[i] > WANDER_MV:
            reason = "wander"
        else:
            reason = ""
        out.append(LeadQuality(lead, start, stop, not reason, reason, noise[i], wander[i]))
    return tuple(out)


def missing_window(leads: Sequence[str], start: int, stop: int) -> tuple[LeadQuality, ...]:
    """A window in which no (or not all) samples arrived: every lead "missing"."""
    nan = float("nan")
    return tuple(LeadQuality(lead, start, stop, False, "missing", nan, nan) for lead in leads)


def _longest_run(x: np.ndarray, value: float) -> int:
    """Longest run of samples exactly equal to `value`."""
    hits = x == value
    edges = np.flatnonzero(np.diff(np.concatenate(([0], hits.view(np.int8), [0]))))
    return int(np.max(edges[1::2] - edges[::2]))


class LeadsOffTimeline:
    """The device's leads-off flags as a step function of the sample index."""

    def __init__(self, leads: Sequence[str]) -> None:
        self._leads = tuple(leads)
        self._at: list[int] = [0]
        self._flags: list[tuple[bool, ...]] = [(False,) * len(self._leads)]

    def set(self, index: int, leads_off: Collection[str]) -> None:
        """From `index` on, exactly `leads_off` are off (names of other leads are ignored:
        the device reports every lead, the front end analyses only its own)."""
        flags = tuple(lead in leads_off for lead in self._leads)
        pos = bisect_right(self._at, index)
        # a later-indexed entry is superseded: status arrives in device-time order
        del self._at[pos:], self._flags[pos:]
        if not self._flags or self._flags[-1] != flags:
            self._at.append(index)
            self._flags.append(flags)

    def off_during(self, start: int, stop: int) -> tuple[bool, ...]:
        """Per lead: flagged off at any sample of [start, stop)."""
        lo = max(bisect_right(self._at, start) - 1, 0)
        hi = max(bisect_right(self._at, stop - 1), lo + 1)
        spans = self._flags[lo:hi]
        return tuple(any(f[i] for f in spans) for i in range(len(self._leads)))

    def forget_before(self, index: int) -> None:
        """Drop steps that no window from `index` on can see (bounded memory)."""
        pos = bisect_right(self._at, index) - 1
        if pos > 0:
            del self._at[:pos], self._flags[:pos]
