"""Properties on random inputs: the fast core against brute-force versions of the definitions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from aupimo_cli.metrics import aupimo, image_auroc, pimo_curves, pixel_metrics, pro_curve

from .brute_force import (
    mann_whitney_auroc,
    official_aupro,
    official_pro_curve,
    reference_aupimo,
    reference_pimo,
)


@st.composite
def small_sets(draw: st.DrawFn, max_images: int = 4) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A few images of random shapes; scores from a small set of levels so that ties are common."""
    num_images = draw(st.integers(2, max_images))
    levels = draw(st.integers(2, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    maps, masks = [], []
    for i in range(num_images):
        shape = (int(rng.integers(1, 7)), int(rng.integers(1, 7)))
        maps.append(rng.integers(0, levels, size=shape).astype(np.float64) / levels)
        # The first image is anomalous, the second normal; the rest random.
        if i == 0:
            mask = rng.random(shape) < 0.5
            mask.flat[int(rng.integers(mask.size))] = True
            if mask.all() and mask.size > 1:
                mask.flat[0] = False
        elif i == 1:
            mask = np.zeros(shape, dtype=bool)
        else:
            mask = rng.random(shape) < 0.3
        masks.append(mask)
    if not any((~m).any() for m in masks[:1]) and masks[1].size == 0:
        pass
    return maps, masks


@settings(max_examples=150, deadline=None)
@given(small_sets())
def test_pixel_auroc_is_the_mann_whitney_statistic(data):
    maps, masks = data
    scores = np.concatenate([m.ravel() for m in maps])
    labels = np.concatenate([m.ravel() for m in masks])
    result = pixel_metrics(maps, masks, fpr_limits=())["pixel_auroc"]
    assert result == pytest.approx(mann_whitney_auroc(scores, labels), abs=1e-12)
    assert result == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(small_sets(), st.sampled_from([0.3, 0.05, 0.5, 1.0, 0.123]))
def test_aupro_and_pro_curve_match_the_official_algorithm(data, limit):
    maps, masks = data
    fpr, pro = pro_curve(maps, masks)
    expected_fpr, expected_pro = official_pro_curve(maps, masks)
    np.testing.assert_allclose(fpr, expected_fpr, atol=1e-12)
    np.testing.assert_allclose(pro, expected_pro, atol=1e-12)
    result = pixel_metrics(maps, masks, fpr_limits=(limit,))
    assert next(v for k, v in result.items() if k.startswith("aupro")) == pytest.approx(
        official_aupro(maps, masks, limit), abs=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(small_sets(), st.integers(0, 2**32 - 1))
def test_auroc_and_aupro_are_invariant_under_increasing_transforms(data, seed):
    maps, masks = data
    rng = np.random.default_rng(seed)
    scale, shift = float(rng.uniform(0.1, 100.0)), float(rng.uniform(-50, 50))

    def transform(m: np.ndarray) -> np.ndarray:
        return np.exp(m.astype(np.float64)) * scale + shift

    transformed = [transform(m) for m in maps]
    # The transform must keep distinct scores distinct (float rounding could merge them).
    before = np.unique(np.concatenate([m.ravel() for m in maps]))
    after = np.unique(np.concatenate([m.ravel() for m in transformed]))
    assert before.size == after.size
    original = pixel_metrics(maps, masks, fpr_limits=(0.3, 0.05))
    moved = pixel_metrics(transformed, masks, fpr_limits=(0.3, 0.05))
    for key in original:
        if key.endswith("_threshold"):  # the threshold moves with the scores
            expected = transform(np.array([original[key]], dtype=maps[0].dtype))[0]
            assert moved[key] == pytest.approx(expected, rel=1e-12)
        else:
            assert moved[key] == pytest.approx(original[key], abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40))
def test_image_auroc_is_the_mann_whitney_statistic(pairs):
    scores = np.array([p[0] for p in pairs], dtype=np.float64)
    labels = np.array([p[1] for p in pairs], dtype=int)
    if labels.all() or not labels.any():
        with pytest.raises(ValueError, match="both normal and anomalous"):
            image_auroc(scores, labels)
        return
    assert image_auroc(scores, labels) == pytest.approx(mann_whitney_auroc(scores, labels), abs=1e-12)


def _random_pimo_set(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    maps, masks = [], []
    for i in range(6):
        shape = (int(rng.integers(20, 40)), int(rng.integers(20, 40)))
        amap = rng.normal(size=shape).astype(np.float32)
        mask = np.zeros(shape, dtype=bool)
        if i >= 3:
            mask[5:15, 5:12] = True
            amap[mask] += np.float32(rng.uniform(0.5, 3))
        if i == 5:
            amap = np.round(amap, 1)  # ties
        maps.append(amap)
        masks.append(mask)
    return maps, masks


@pytest.mark.parametrize("seed", range(5))
def test_pimo_curves_match_comparing_every_pixel_with_every_threshold(seed):
    maps, masks = _random_pimo_set(seed)
    thresholds, shared, tprs = reference_pimo(maps, masks, 2000)
    curves = pimo_curves(maps, masks, num_thresholds=2000)
    np.testing.assert_array_equal(curves.thresholds, thresholds)
    np.testing.assert_array_equal(curves.shared_fpr, shared)
    np.testing.assert_array_equal(curves.per_image_tprs, tprs)


@pytest.mark.parametrize("seed", range(5))
def test_aupimo_matches_the_reference_algorithm(seed):
    maps, masks = _random_pimo_set(seed)
    bounds = (1e-2, 1e-1)
    expected, num_points, thresh_bounds = reference_aupimo(maps, masks, 3000, bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = aupimo(maps, masks, num_thresholds=3000, fpr_bounds=bounds)
    np.testing.assert_allclose(result.aupimos, expected, atol=1e-12, rtol=0)
    assert result.num_points == num_points
    assert result.thresh_bounds == thresh_bounds


def test_float64_maps_keep_scores_that_float32_would_merge():
    # 1 + 1e-12 and 1 are equal in float32 but distinct in float64: the core must not round them together.
    maps = [np.array([[1.0 + 1e-12, 1.0]]), np.array([[1.0, 0.0]])]
    masks = [np.array([[1, 0]]), np.array([[0, 0]])]
    assert pixel_metrics(maps, masks, fpr_limits=())["pixel_auroc"] == pytest.approx(1.0)
