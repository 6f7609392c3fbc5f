"""Region measurement: what each processed frame's mask becomes before tracking."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.runtime.imaging.findings import find_regions
from vigil.runtime.imaging.frame import Spacing


def _frame() -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((120, 160), dtype=bool)
    image = np.full((120, 160), 200, dtype=np.uint8)
    mask[10:30, 20:60] = True  # 800 px, a rectangle
    image[10:30, 20:60] = 12
    for k in range(12):  # a diagonal line: one region only when diagonals connect
        mask[60 + k, 100 + k] = True
    mask[90:93, 5:8] = True  # a 9 px speckle
    mask[100:110, 130:150] = True  # 200 px, touching nothing
    mask[100, 129] = True  # one pixel more, joined to it on the left
    return mask, image


def test_regions_are_eight_connected_measured_and_largest_first():
    mask, image = _frame()
    regions = find_regions(mask, image, min_area_px=1)
    assert [r.area_px for r in regions] == [800, 201, 12, 9]
    big, right, line, speck = regions
    assert big.bbox == (20, 10, 60, 30)  # x0, y0, x1, y1, exclusive
    assert big.centroid == pytest.approx((39.5, 19.5))
    assert big.mean_intensity == pytest.approx(12.0)
    assert big.mask.shape == (20, 40)
    assert big.mask.all()
    assert right.bbox == (129, 100, 150, 110)
    ys, xs = np.nonzero(mask[100:110, 129:150])
    assert right.centroid == pytest.approx((xs.mean() + 129, ys.mean() + 100))
    assert right.mean_intensity == pytest.approx(200.0)
    assert line.bbox == (100, 60, 112, 72)
    assert int(line.mask.sum()) == 12
    assert speck.bbox == (5, 90, 8, 93)


def test_regions_smaller_than_the_minimum_are_left_out():
    mask, image = _frame()
    assert [r.area_px for r in find_regions(mask, image, min_area_px=16)] == [800, 201]


def test_an_empty_mask_has_no_regions():
    image = np.zeros((64, 64), dtype=np.uint8)
    assert find_regions(np.zeros((64, 64), dtype=bool), image) == []


def test_area_is_in_cm2_only_where_the_spacing_holds():
    mask, image = _frame()
    spacing = Spacing(dx_cm=0.05, dy_cm=0.04, region=(0, 0, 80, 60))
    big, right = find_regions(mask, image, spacing, min_area_px=16)
    assert big.area == pytest.approx((800 * 0.05 * 0.04, "cm2"))
    assert right.area == (201.0, "px")  # outside the region where the spacing is known


def test_a_region_reaching_the_last_row_and_column_of_the_spacing_region_is_in_cm2():
    """DICOM's region bounds are inclusive: pixel (59, 29) is inside (0, 0, 59, 29)."""
    mask, image = _frame()
    spacing = Spacing(dx_cm=0.05, dy_cm=0.04, region=(20, 10, 59, 29))
    big = find_regions(mask, image, spacing, min_area_px=16)[0]
    assert big.area_cm2 == pytest.approx(800 * 0.05 * 0.04)
    assert find_regions(mask, image, Spacing(0.05, 0.04, (20, 10, 58, 29)))[0].area_cm2 is None
