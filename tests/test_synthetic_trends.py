"""1 Hz numerics trends: bounds, determinism, deterioration direction, normal stays normal."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.models.synthetic import (
    DETERIORATIONS,
    TREND_VITALS,
    TrendRanges,
    generate_trends,
    trend_record,
)
from vigil.models.synthetic.trends import BOUNDS, DIA, HR, RR, SPO2, SYS

NORMAL = generate_trends(7, 300, 1800)


def news2_partial(values: np.ndarray) -> np.ndarray:
    """NEWS2 points of RR, SpO2 (scale 1), systolic BP and pulse (CLINICAL.md)."""
    hr, spo2, rr, sys_ = (values[..., i] for i in (HR, SPO2, RR, SYS))
    rr_pts = np.select([rr <= 8, rr <= 11, rr <= 20, rr <= 24], [3, 1, 0, 2], 3)
    spo2_pts = np.select([spo2 <= 91, spo2 <= 93, spo2 <= 95], [3, 2, 1], 0)
    sys_pts = np.select([sys_ <= 90, sys_ <= 100, sys_ <= 110, sys_ <= 219], [3, 2, 1, 0], 3)
    hr_pts = np.select([hr <= 40, hr <= 50, hr <= 90, hr <= 110, hr <= 130], [3, 1, 0, 1, 2], 3)
    return rr_pts + spo2_pts + sys_pts + hr_pts


def test_values_are_integers_within_physiological_bounds_nan_only_for_dropouts() -> None:
    v = NORMAL.values
    assert v.shape == (300, 1800, len(TREND_VITALS))
    finite = np.isfinite(v)
    assert np.all(finite | NORMAL.artefact)  # NaN only where an artefact put it
    for k, (lo, hi) in enumerate(BOUNDS):
        col = v[..., k][finite[..., k]]
        assert col.min() >= lo
        assert col.max() <= hi
    assert np.array_equal(v[finite], np.round(v[finite]))
    assert np.all(v[..., DIA][finite[..., DIA]] < v[..., SYS][finite[..., DIA]])


def test_same_seed_same_records_and_other_seed_differs() -> None:
    a = generate_trends(3, 20, 600, "sepsis", ranges=TrendRanges())
    b = generate_trends(3, 20, 600, "sepsis", ranges=TrendRanges())
    c = generate_trends(4, 20, 600, "sepsis", ranges=TrendRanges())
    assert np.array_equal(a.values, b.values, equal_nan=True)
    assert np.array_equal(a.onset_s, b.onset_s)
    assert not np.array_equal(a.values, c.values, equal_nan=True)


def test_normal_records_score_news2_zero_to_two_almost_always() -> None:
    clean = np.where(NORMAL.artefact, np.nan, NORMAL.values)
    minute = np.nanmedian(clean.reshape(300, 30, 60, 5), axis=2)  # one value per minute
    scores = news2_partial(minute)
    assert np.mean(scores <= 2) > 0.95
    assert np.mean(scores >= 5) < 0.005


def test_normal_records_drift_slowly_and_have_short_artefacts() -> None:
    hr = NORMAL.values[..., HR]
    step = np.abs(np.diff(hr, axis=1))
    assert np.nanmedian(step) <= 1.0  # second to second, HR changes by a beat or less
    assert 1.0 < np.nanstd(hr[:, :600], axis=1).mean() < 8.0  # but it does wander
    assert 0.05 < NORMAL.artefact.any(axis=(1, 2)).mean() < 0.9
    assert NORMAL.artefact.mean() < 0.02  # artefacts are short
    assert np.all(np.isnan(NORMAL.onset_s))


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("sepsis", {HR: +1, RR: +1, SYS: -1}),
        ("respiratory_failure", {SPO2: -1, RR: +1}),
        ("haemorrhage", {HR: +1, SYS: -1}),
        ("opioid", {RR: -1, SPO2: -1}),
        ("bradycardia", {HR: -1, SYS: -1}),
    ],
)
def test_deterioration_moves_the_right_vitals_the_right_way_after_onset(
    pattern: str, expected: dict[int, int]
) -> None:
    onset, duration = 1200.0, 5400
    batch = generate_trends(11, 40, duration, pattern, onset)
    assert batch.pattern == (pattern,) * 40
    assert np.all(batch.onset_s == onset)
    before = np.nanmedian(batch.values[:, 600:1200], axis=1)  # (40, 5)
    after = np.nanmedian(batch.values[:, -600:], axis=1)
    change = after - before
    for vital, sign in expected.items():
        assert np.mean(np.sign(change[:, vital]) == sign) > 0.9, (pattern, vital)
        size = abs(DETERIORATIONS[pattern].deltas[vital]) * 0.6  # severity >= 0.6
        assert np.median(sign * change[:, vital]) > 0.5 * size, (pattern, vital)


def test_nothing_moves_before_onset() -> None:
    same_seed = dict(seed=5, n=30, duration_s=2400)
    normal = generate_trends(**same_seed)
    sepsis = generate_trends(**same_seed, pattern="sepsis", onset_s=1800.0)
    a, b = normal.values[:, :1800], sepsis.values[:, :1800]
    assert np.array_equal(a, b, equal_nan=True)
    assert not np.array_equal(normal.values[:, 1900:], sepsis.values[:, 1900:], equal_nan=True)


def test_default_onset_puts_the_window_end_after_onset() -> None:
    ranges = TrendRanges(onset_progress=(0.5, 1.5))
    batch = generate_trends(2, 50, 300, "haemorrhage", ranges=ranges)
    lo, hi = DETERIORATIONS["haemorrhage"].ramp_s
    lag = 300 - batch.onset_s
    assert np.all(lag >= 0.5 * lo - 1e-9)
    assert np.all(lag <= 1.5 * hi + 1e-9)


def test_long_record_and_unknown_pattern() -> None:
    record = trend_record(1, 7200, "opioid")
    assert record.values.shape == (1, 7200, 5)
    assert record.onset_s[0] == 2400.0
    with pytest.raises(ValueError, match="unknown trend pattern"):
        generate_trends(0, 1, 60, "stroke")
    with pytest.raises(ValueError, match="low"):
        TrendRanges(hr=(90.0, 60.0))


def test_cuff_pressure_is_held_between_readings_and_arterial_is_not() -> None:
    batch = generate_trends(9, 200, 900, ranges=TrendRanges(nibp_interval_s=(120.0, 120.0)))
    sys_ = np.where(batch.artefact[..., SYS], np.nan, batch.values[..., SYS])
    changes = (np.diff(sys_, axis=1) != 0).sum(axis=1)
    assert np.all(changes[~batch.arterial] <= 900 // 120 + 1)
    assert np.all(changes[batch.arterial] > 100)
