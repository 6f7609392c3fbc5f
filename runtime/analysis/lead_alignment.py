"""Join the ECG leads of one bed, which arrive as separate chunks, into aligned blocks.

The bridge delivers each lead as its own `WaveformChunk`, interleaved with the other leads
and channels; the QRS detector wants all leads for the same sample indices at once. This
buffers each lead and releases the index range every lead has reached. A lead that lags more
than `max_lag` samples (or twice the longest chunk seen, so that a file read in long chunks
is never mistaken for a silent lead) behind the furthest one (its channel went quiet, or the
device stopped sending it) is released as NaN for the missing part, which the front end
treats as missing data (lead quality "missing"), so one silent lead never stalls the others.
A jump forward in a lead's indices (lost frames) is filled with NaN the same way; an overlap
(indices already received) is dropped and counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class LeadAligner:
    """Aligned release of several leads' samples on one index grid."""

    def __init__(self, leads: Sequence[str], first_index: int, max_lag: int) -> None:
        self.leads = tuple(leads)
        self._released = first_index  # every index below this has been released
        self._pending: list[list[np.ndarray]] = [[] for _ in self.leads]
        self._end = [first_index] * len(self.leads)  # next index each lead expects
        self._max_lag = max_lag
        self.overlapped_samples = 0
        self.filled_samples = 0
        self._longest_chunk = 0

    @property
    def released(self) -> int:
        return self._released

    def add(self, lead: str, first_index: int, samples: np.ndarray) -> None:
        k = self.leads.index(lead)
        end = self._end[k]
        if first_index < end:  # overlap: keep only the new part
            skip = min(end - first_index, len(samples))
            self.overlapped_samples += skip
            samples = samples[skip:]
            first_index += skip
        if first_index > end:  # lost samples: NaN marks them missing
            self._pending[k].append(np.full(first_index - end, np.nan, dtype=np.float32))
            self.filled_samples += first_index - end
        if len(samples):
            self._pending[k].append(np.asarray(samples, dtype=np.float32))
            self._longest_chunk = max(self._longest_chunk, len(samples))
        self._end[k] = first_index + len(samples)

    def take(self) -> tuple[int, np.ndarray] | None:
        """The next aligned block (first index, (n_leads, n) float32), or None if no lead
        has anything every other lead has too (after filling laggards)."""
        front, stop = max(self._end), min(self._end)
        max_lag = max(self._max_lag, 2 * self._longest_chunk)
        if front - stop > max_lag:  # some lead lags: fill it (the others are untouched)
            for k, end in enumerate(self._end):
                if front - end > max_lag:
                    fill = front - max_lag - end
                    self._pending[k].append(np.full(fill, np.nan, dtype=np.float32))
                    self._end[k] += fill
                    self.filled_samples += fill
            stop = min(self._end)
        n = stop - self._released
        if n <= 0:
            return None
        block = np.empty((len(self.leads), n), dtype=np.float32)
        for k in range(len(self.leads)):
            block[k] = _pop(self._pending[k], n)
        first = self._released
        self._released = stop
        return first, block


def _pop(parts: list[np.ndarray], n: int) -> np.ndarray:
    """Remove and return the first n samples of a list of arrays."""
    if len(parts[0]) == n:
        return parts.pop(0)
    joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
    head, tail = joined[:n], joined[n:]
    parts.clear()
    if len(tail):
        parts.append(tail)
    return head
