"""LeadAligner: leads arriving as separate chunks come out aligned, holes as NaN."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.runtime.analysis.lead_alignment import LeadAligner

LEADS = ("I", "II", "III")


def _signal(n: int) -> np.ndarray:
    return np.arange(3 * n, dtype=np.float32).reshape(3, n)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_any_interleaving_of_lead_chunks_releases_the_same_aligned_samples(sizes, rnd):
    signal = _signal(sum(sizes))
    chunks = []
    for k in range(3):
        start = 0
        for size in sizes if k != 1 else list(reversed(sizes)):
            chunks.append((k, start, signal[k, start : start + size]))
            start += size
    # each lead's chunks stay in order, leads interleave arbitrarily
    queues = [[c for c in chunks if c[0] == k] for k in range(3)]
    aligner = LeadAligner(LEADS, 0, max_lag=10_000)
    out = []
    while any(queues):
        k = rnd.choice([i for i in range(3) if queues[i]])
        lead, first, samples = queues[k].pop(0)
        aligner.add(LEADS[lead], first, samples)
        if (block := aligner.take()) is not None:
            out.append(block)
    firsts = [b[0] for b in out]
    assert firsts == sorted(firsts)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in out], axis=1), signal)


def test_a_silent_lead_is_released_as_missing_after_the_lag_limit():
    aligner = LeadAligner(LEADS, 0, max_lag=100)
    x = _signal(300)
    for start in range(0, 300, 30):  # the wire's short chunks; lead II stays silent
        for k in (0, 2):
            aligner.add(LEADS[k], start, x[k, start : start + 30])
    first, block = aligner.take()
    assert (first, block.shape) == (0, (3, 200))
    assert np.isnan(block[1]).all()
    np.testing.assert_array_equal(block[0], x[0, :200])
    assert aligner.filled_samples == 200


def test_lost_samples_become_nan_and_repeated_ones_are_dropped_and_counted():
    aligner = LeadAligner(("II",), 0, max_lag=1000)
    aligner.add("II", 0, np.ones(10, np.float32))
    aligner.add("II", 15, np.ones(5, np.float32))  # 10..14 lost
    aligner.add("II", 18, np.full(4, 2.0, np.float32))  # 18, 19 repeated
    _, block = aligner.take()
    assert block.shape == (1, 22)
    assert np.isnan(block[0, 10:15]).all()
    assert aligner.overlapped_samples == 2
    np.testing.assert_array_equal(block[0, 20:], [2.0, 2.0])
