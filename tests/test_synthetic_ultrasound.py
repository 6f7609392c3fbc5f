"""B-mode phantoms: geometry, speckle physics, masks as ground truth, determinism, cine."""

from dataclasses import fields, replace

import numpy as np
import pytest
from scipy import ndimage

from vigil.models.synthetic.ultrasound import (
    EVAL_RANGES,
    RAYLEIGH_MEAN_OVER_STD,
    TRAIN_RANGES,
    PhantomRanges,
    PhantomStream,
    _geometry,
    _polar,
    draw_params,
    phantom,
    phantom_batch,
)


def _homogeneous(rng: np.random.Generator):
    """Tissue only: no structures, no texture, attenuation fully compensated."""
    p = draw_params(rng)
    return replace(p, n_anechoic=0, n_hyper=0, n_hypo=0, texture=0.0, tgc=1.0, noise_db=-80.0)


def test_frame_shape_range_and_dtypes_at_default_and_custom_size():
    for size in (256, 128):
        f = phantom(np.random.default_rng(1), size=size)
        assert f.image.shape == f.mask.shape == (size, size)
        assert f.image.dtype == np.float32
        assert f.mask.dtype == np.uint8
        assert f.image.min() >= 0.0
        assert f.image.max() <= 1.0
        assert set(np.unique(f.mask)) <= {0, 1}


def test_outside_the_sector_is_black_and_the_fan_is_scanned():
    for seed in range(4):
        f = phantom(np.random.default_rng(seed))
        assert np.all(f.image[~f.sector] == 0.0)
        assert np.all(f.mask[~f.sector] == 0)
        assert 0.4 < f.sector.mean() < 0.9  # a fan, not the whole square
        assert f.image[0, 0] == 0.0
        assert f.image[0, -1] == 0.0
        assert np.median(f.image[f.sector]) > 0.2


def test_masks_are_exactly_the_listed_anechoic_regions():
    seen = 0
    for seed in range(12):
        f = phantom(np.random.default_rng(seed), ranges=EVAL_RANGES)
        labels, count = ndimage.label(f.mask)
        # regions never touch, so each is one connected component of the mask
        assert count == len(f.regions)
        assert int(f.mask.sum()) == sum(r.area_px for r in f.regions)
        component_areas = sorted(np.bincount(labels.ravel())[1:].tolist())
        assert component_areas == sorted(r.area_px for r in f.regions)
        for r in f.regions:
            cy, cx = (round(v) for v in r.centre)
            assert f.mask[cy, cx] == 1, f"seed {seed}: centre of {r.kind} not in the mask"
        seen += len(f.regions)
    assert seen >= 12  # eval ranges always draw at least one region per frame


def test_anechoic_regions_are_darker_than_surrounding_tissue():
    checked = 0
    for seed in range(6):
        f = phantom(np.random.default_rng(seed), ranges=EVAL_RANGES)
        labels, count = ndimage.label(f.mask)
        for i in range(1, count + 1):
            inside = labels == i
            if inside.sum() < 500:  # small ones fill in with the beam's blur, as on a scanner
                continue
            ring = ndimage.binary_dilation(inside, iterations=12)
            ring &= ~ndimage.binary_dilation(f.mask > 0, iterations=4) & f.sector
            assert f.image[inside].mean() < 0.5 * f.image[ring].mean()
            checked += 1
    assert checked >= 8


def test_homogeneous_speckle_envelope_is_rayleigh():
    ratios = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        f = phantom(rng, params=_homogeneous(rng))
        # away from the fan's edges, where interpolation mixes in the zero outside
        core = ndimage.binary_erosion(f.sector, iterations=6)
        env = f.envelope[core].astype(np.float64)
        ratios.append(env.mean() / env.std())
        # Rayleigh: squared envelope is exponential, so its mean equals its SD
        e2 = env**2
        assert e2.std() / e2.mean() == pytest.approx(1.0, abs=0.12)
    assert np.mean(ratios) == pytest.approx(RAYLEIGH_MEAN_OVER_STD, abs=0.1)


def test_attenuation_without_gain_compensation_darkens_with_depth():
    rng = np.random.default_rng(5)
    p = replace(_homogeneous(rng), tgc=0.0, attenuation_np=3.0)
    f = phantom(rng, params=p)
    col = slice(100, 156)
    near = f.envelope[60:90, col][f.sector[60:90, col]].mean()
    far = f.envelope[210:240, col][f.sector[210:240, col]].mean()
    assert far < 0.6 * near


def _patch_mean(f, g, radius: float, phi: float) -> float:
    """Mean envelope of an 11x7 patch at (radius, angle) from the apex."""
    yy = round(g.apex_y + radius * np.cos(phi))
    xx = round(g.apex_x + radius * np.sin(phi))
    return float(f.envelope[yy - 5 : yy + 6, xx - 3 : xx + 4].mean())


def test_fluid_brightens_the_tissue_behind_it_posterior_enhancement():
    ratios = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        p = replace(
            _homogeneous(rng), n_anechoic=1, anechoic_radius=0.1, tgc=0.3, attenuation_np=3.0
        )
        f = phantom(rng, params=p)
        g = _geometry(256, p)
        (region,) = f.regions
        cy, cx = (np.array(v) for v in region.centre)
        r_c, phi_c = (float(v) for v in _polar(g, cy, cx))
        r_behind = r_c + 0.1 * 256 * 1.6 + 8  # past the far wall (radius x up to 1.3, lobes)
        side = phi_c - 0.35 if phi_c > 0 else phi_c + 0.35  # same depth, beside it
        if r_behind < g.r1 - 8 and abs(side) < g.half_angle - 0.05:
            ratios.append(_patch_mean(f, g, r_behind, phi_c) / _patch_mean(f, g, r_behind, side))
    assert len(ratios) >= 2
    assert np.mean(ratios) > 1.2


def test_same_seed_same_frame_and_different_seed_different_frame():
    a = phantom(np.random.default_rng(42))
    b = phantom(np.random.default_rng(42))
    c = phantom(np.random.default_rng(43))
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.mask, b.mask)
    assert a.regions == b.regions
    assert not np.array_equal(a.image, c.image)
    x1, m1 = phantom_batch(7, 3, size=128)
    x2, m2 = phantom_batch(7, 2, size=128)
    assert np.array_equal(x1[:2], x2)
    assert np.array_equal(m1[:2], m2)


def test_train_and_eval_ranges_differ():
    assert TRAIN_RANGES != EVAL_RANGES
    differing = [
        f.name
        for f in fields(PhantomRanges)
        if getattr(TRAIN_RANGES, f.name) != getattr(EVAL_RANGES, f.name)
    ]
    assert len(differing) >= 5
    assert EVAL_RANGES.n_anechoic[0] >= 1  # every evaluation frame has a target
    with pytest.raises(ValueError, match="tgc"):
        PhantomRanges(tgc=(0.9, 0.1))


def test_stream_is_deterministic_random_access_and_continuous():
    s1 = PhantomStream(seed=3, size=128, fps=20.0)
    s2 = PhantomStream(seed=3, size=128, fps=20.0)
    f5 = s1.frame(5)
    assert np.array_equal(f5.image, s2.frame(5).image)  # same (seed, k): same frame
    assert np.array_equal(f5.image, next(s1.frames(start=5)).image)  # in any order
    frames = list(s2.frames(0, 41))
    assert all(len(f.regions) == len(frames[0].regions) >= 1 for f in frames)

    def iou(a, b):
        return (a & b).sum() / max((a | b).sum(), 1)

    steps = [iou(frames[k].mask > 0, frames[k + 1].mask > 0) for k in range(40)]
    assert min(steps) > 0.8  # shapes move a little between consecutive frames
    assert not np.array_equal(frames[0].mask, frames[40].mask)  # ...but they do move
    for k in range(40):
        for r0, r1 in zip(frames[k].regions, frames[k + 1].regions, strict=True):
            assert r0.kind == r1.kind
            assert np.hypot(r0.centre[0] - r1.centre[0], r0.centre[1] - r1.centre[1]) < 1.5
    # speckle is correlated frame to frame (a still probe), not frozen
    sec = frames[0].sector
    c01 = np.corrcoef(frames[0].envelope[sec], frames[1].envelope[sec])[0, 1]
    assert 0.3 < c01 < 0.99
    with pytest.raises(ValueError, match="negative"):
        s1.frame(-1)
