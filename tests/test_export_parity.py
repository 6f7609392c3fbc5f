"""Parity's comparison rule, on its own: |onnx - torch| <= atol + rtol * |torch|, and a
report that points at the element furthest past its bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vigil.export.parity import ATOL, RTOL, ParityReport, compare_outputs, random_inputs


def test_bounds_are_the_issue_s_1e4_absolute_plus_1e4_relative():
    assert (ATOL, RTOL) == (1e-4, 1e-4)


def test_an_error_exactly_at_the_bound_passes_and_just_past_it_fails():
    ref = np.array([0.0, 100.0])
    at = compare_outputs({"y": ref}, {"y": ref + np.array([1e-4, 1e-4 + 1e-2])}, case="c")
    assert at[0].passed
    past = compare_outputs({"y": ref}, {"y": ref + np.array([0, 1.02e-2])}, case="c")
    assert not past[0].passed
    assert past[0].worst_index == (1,)


def test_the_worst_index_is_largest_error_over_its_bound_not_largest_error():
    ref = np.array([[1000.0, 0.0]])
    got = ref + np.array([[0.05, 0.0002]])  # 0.05 is within 1e-4 + 0.1; 0.0002 is twice its bound
    (r,) = compare_outputs({"logits": ref}, {"logits": got}, case="random, batch 1")
    assert (r.output, r.case, r.worst_index) == ("logits", "random, batch 1", (0, 1))
    assert r.abs_error == pytest.approx(2e-4)
    assert r.rel_error == float("inf")  # torch's value is 0 there
    assert not r.passed
    report = ParityReport("m", ATOL, RTOL, (r,))
    assert not report.passed
    assert report.worst is r
    assert "output 'logits' (random, batch 1) at index [0, 1]" in report.summary()


def test_shape_mismatch_missing_output_and_lone_nan_fail():
    ref = {"a": np.zeros((2, 3)), "b": np.zeros(2), "c": np.array([np.nan, 1.0])}
    got = {"a": np.zeros((3, 2)), "c": np.array([np.nan, np.nan])}
    a, b, c = compare_outputs(ref, got, case="x")
    assert not a.passed
    assert "shape (3, 2)" in a.case
    assert not b.passed
    assert "missing" in b.case
    assert not c.passed
    assert c.worst_index == (1,)
    both_nan = compare_outputs({"c": np.array([np.nan])}, {"c": np.array([np.nan])}, case="x")
    assert both_nan[0].passed


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(max_dims=3, max_side=6),
        elements=st.floats(-1e4, 1e4, width=32),
    ),
    st.floats(0, 0.99),
)
def test_any_error_within_the_bound_passes(ref, fraction):
    b = ref.astype(np.float64)
    got = b + fraction * (ATOL + RTOL * np.abs(b))
    (r,) = compare_outputs({"y": b}, {"y": got}, case="p")
    assert r.passed


def test_random_inputs_put_the_batch_first_and_repeat_by_seed():
    specs = [("x", ("batch", 1, 8), "float32"), ("mask", ("batch", 8), "int64")]
    one = random_inputs(specs, 4, seed=3)
    assert one["x"].shape == (4, 1, 8)
    assert one["x"].dtype == np.float32
    assert one["mask"].dtype == np.int64
    np.testing.assert_array_equal(one["x"], random_inputs(specs, 4, seed=3)["x"])
