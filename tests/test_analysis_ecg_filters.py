"""ECG filters: the bank's outputs are the floats its filters give one by one, for every lead
at once, however the samples are chunked."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vigil.runtime.analysis import ecg_filters
from vigil.runtime.analysis.ecg_filters import EcgFilterBank, SosChain, bank_design

FIELDS = ("monitor", "envelope", "hf", "lf")  # the bank's outputs, in `separate_filters` order


def ecg_like(leads: int, n: int, seed: int) -> np.ndarray:
    """Wandering baseline, spikes and noise: every filter has something to do."""
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_normal((leads, n)), axis=1) * 0.01
    x[:, ::250] += 1.5
    return x + 0.05 * rng.standard_normal((leads, n)) + 0.3  # an offset to start from


def chunks(n: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    bounds = np.cumsum(rng.integers(1, 400, size=n))
    bounds = [0, *bounds[bounds < n].tolist(), n]
    return list(itertools.pairwise(bounds))


def separate_filters(fs: float, x: np.ndarray) -> list[np.ndarray]:
    """The bank's outputs from one chain per filter, the notch a filter of its own."""
    d, n = bank_design(fs), x.shape[0]
    notch, monitor, band, envelope, hf, lf = (
        SosChain(s, n) for s in (d.notch, d.monitor, d.band, d.envelope, d.hf, d.lf)
    )
    xn = notch(x)
    env = envelope(np.square(band(xn)))
    return [monitor(xn), np.sqrt(np.maximum(env, 0.0)), hf(xn), lf(x)]


@pytest.mark.parametrize("fs", [100.0, 250.0, 360.0, 500.0, 1000.0])
def test_the_bank_in_any_chunks_gives_the_floats_of_its_filters_run_one_by_one(fs):
    x = ecg_like(3, 8000, 1)
    bank = EcgFilterBank(fs, 3)
    parts = [bank(np.ascontiguousarray(x[:, a:b])) for a, b in chunks(x.shape[1], 2)]
    got = [np.concatenate([getattr(p, k) for p in parts], axis=1) for k in FIELDS]
    for name, g, want in zip(FIELDS, got, separate_filters(fs, x), strict=True):
        assert np.array_equal(g, want), name  # bit for bit, not approximately


def test_filtering_every_lead_at_once_equals_filtering_each_lead_alone():
    x = ecg_like(3, 6000, 3)
    together = EcgFilterBank(500.0, 3)
    alone = [EcgFilterBank(500.0, 1) for _ in range(3)]
    for a, b in chunks(x.shape[1], 4):
        block = together(np.ascontiguousarray(x[:, a:b]))
        for k, bank in enumerate(alone):
            one = bank(np.ascontiguousarray(x[k : k + 1, a:b]))
            for name in FIELDS:
                assert np.array_equal(getattr(block, name)[k], getattr(one, name)[0]), name


def test_stages_restart_in_their_own_steady_state_after_a_reset():
    d = bank_design(500.0)
    x = ecg_like(2, 3000, 5)
    staged = SosChain([d.notch, d.monitor], 2)
    notch, monitor = SosChain(d.notch, 2), SosChain(d.monitor, 2)
    for a, b in ((0, 700), (700, 1000), (1000, 3000)):
        if a == 1000:  # a gap: every chain starts again from the samples after it
            for chain in (staged, notch, monitor):
                chain.reset()
        seg = np.ascontiguousarray(x[:, a:b] + (2.0 if a >= 1000 else 0.0))
        assert np.array_equal(staged(seg), monitor(notch(seg)))


def test_scipys_public_sosfilt_gives_the_same_floats_as_its_kernel(monkeypatch):
    x = ecg_like(3, 4000, 6)
    fast = EcgFilterBank(500.0, 3)
    fast_out = [fast(np.ascontiguousarray(x[:, a:b])) for a, b in chunks(x.shape[1], 7)]
    monkeypatch.setattr(ecg_filters, "_kernel", None)  # another scipy layout
    public = EcgFilterBank(500.0, 3)
    for (a, b), want in zip(chunks(x.shape[1], 7), fast_out, strict=True):
        got = public(np.ascontiguousarray(x[:, a:b]))
        for name in FIELDS:
            assert np.array_equal(getattr(got, name), getattr(want, name)), name
