"""Cases small enough to compute by hand."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from aupimo_cli.metrics import AUPIMOResult, aupimo, aupro, aupro_key, pimo_curves, pixel_metrics, pro_curve


def _pro_case() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One anomalous image (a single 4-pixel region scored 4, 3, 2, 1) and one normal image of 10 pixels."""
    maps = [
        np.array([[4.0, 3.0, 2.0, 1.0]], dtype=np.float32),
        np.array([[3.5, 2.5, 0, 0, 0, 0, 0, 0, 0, 0]], dtype=np.float32),
    ]
    masks = [np.ones((1, 4), dtype=np.uint8), np.zeros((1, 10), dtype=np.uint8)]
    return maps, masks


def test_pro_curve_by_hand():
    fpr, pro = pro_curve(*_pro_case())
    np.testing.assert_allclose(fpr, [0, 0, 0.1, 0.1, 0.2, 0.2, 0.2, 1.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(pro, [0, 0.25, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.0], atol=1e-15)


def test_aupro_by_hand_with_interpolation_at_the_limit():
    maps, masks = _pro_case()
    # Up to 0.3: 0.1*0.25 + 0.1*0.5 + (0.3-0.2)*1.0 (interpolated at 0.3 on the segment to (1, 1)).
    assert aupro(maps, masks, 0.3) == pytest.approx(0.175 / 0.3, abs=1e-12)
    # Up to 0.05: half of the first flat segment at PRO 0.25.
    assert aupro(maps, masks, 0.05) == pytest.approx(0.25, abs=1e-12)
    # Up to 0.15: 0.1*0.25 + 0.05*0.5.
    assert aupro(maps, masks, 0.15) == pytest.approx(0.05 / 0.15, abs=1e-12)
    # A limit exactly on a curve point needs no interpolation: 0.1*0.25 + 0.1*0.5.
    assert aupro(maps, masks, 0.2) == pytest.approx(0.075 / 0.2, abs=1e-12)
    # Up to 1: 0.025 + 0.05 + 0.8 * 1.0; with a single region the PRO curve is the ROC curve.
    assert aupro(maps, masks, 1.0) == pytest.approx(0.875, abs=1e-12)


def test_pixel_auroc_by_hand():
    maps, masks = _pro_case()
    # Pairs (anomalous > normal): 10 + 9 + 8 + 8 = 35 of 40.
    assert pixel_metrics(maps, masks, fpr_limits=())["pixel_auroc"] == pytest.approx(35 / 40, abs=1e-15)


def test_regions_are_weighted_by_their_size_and_count():
    # Two regions, one per image: 1 pixel scored 5 and 3 pixels scored 1; one normal pixel scored 2 per image.
    maps = [np.array([[5.0, 2.0]]), np.array([[1.0, 1.0, 1.0, 2.0]])]
    masks = [np.array([[1, 0]]), np.array([[1, 1, 1, 0]])]
    fpr, pro = pro_curve(maps, masks)
    # Points: 5 -> (0, 0.5); 2 (both normals) -> (1, 0.5); 1 -> (1, 1.0).
    np.testing.assert_allclose(fpr, [0, 0, 1, 1, 1])
    np.testing.assert_allclose(pro, [0, 0.5, 0.5, 1, 1])


def test_regions_are_eight_connected():
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal neighbours: one region of 2 under 8-connectivity
    mask[3, 3] = True  # a second region of 1
    amap = np.zeros((4, 4))
    amap[0, 0] = 3.0  # the top score covers half of the 2-pixel region
    amap[3, 3] = 1.0
    _, pro = pro_curve([amap], [mask])
    # After the top score: 0.5 (half of region 1) / 2 regions = 0.25; 4-connectivity would give 1/3.
    assert pro[1] == pytest.approx(0.25)


def test_aupro_keys():
    assert aupro_key(0.3) == "aupro_30"
    assert aupro_key(0.05) == "aupro_05"
    assert aupro_key(0.1) == "aupro_10"
    assert aupro_key(0.005) == "aupro_0p5"
    assert aupro_key(1.0) == "aupro_100"
    assert set(pixel_metrics(*_pro_case(), fpr_limits=(0.3, 0.005))) == {
        "pixel_auroc",
        "aupro_30",
        "aupro_0p5",
        "pixel_ap",
        "pixel_f1max",
        "pixel_f1max_threshold",
    }


def _pimo_case() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Shared FPR and TPRs at exact powers of ten, with 4 thresholds: 0, 1, 2, 3.

    The normal image has 100,000 pixels: one scored 3, nine scored 2, the rest 0, so its FPR is 1 at t=0,
    1e-4 at t=1 and t=2, and 1e-5 at t=3. Anomalous image A has its 10 mask pixels at 3 (TPR 1 everywhere);
    image B has 2 mask pixels at 3, 3 at 2 and 5 at 0.5 (TPR 1, 0.5, 0.5, 0.2).
    """
    normal = np.zeros((100, 1000), dtype=np.float32)
    normal[0, 0] = 3.0
    normal[0, 1:10] = 2.0
    image_a = np.zeros((10, 10), dtype=np.float32)
    image_a[0, :] = 3.0
    mask_a = np.zeros((10, 10), dtype=bool)
    mask_a[0, :] = True
    image_b = np.zeros((10, 10), dtype=np.float32)
    image_b[0, :] = [3, 3, 2, 2, 2, 0.5, 0.5, 0.5, 0.5, 0.5]
    mask_b = mask_a.copy()
    return [normal, image_a, image_b], [np.zeros_like(normal, dtype=bool), mask_a, mask_b]


def test_pimo_curves_by_hand():
    maps, masks = _pimo_case()
    curves = pimo_curves(maps, masks, num_thresholds=4)
    np.testing.assert_array_equal(curves.thresholds, np.array([0, 1, 2, 3], dtype=np.float32))
    np.testing.assert_array_equal(curves.shared_fpr, [1.0, 1e-4, 1e-4, 1e-5])
    assert np.isnan(curves.per_image_tprs[0]).all()
    np.testing.assert_array_equal(curves.per_image_tprs[1], [1, 1, 1, 1])
    np.testing.assert_array_equal(curves.per_image_tprs[2], [1, 0.5, 0.5, 0.2])
    np.testing.assert_array_equal(curves.image_classes, [0, 1, 1])


def test_aupimo_by_hand_takes_the_lowest_index_on_a_flat_shared_fpr():
    maps, masks = _pimo_case()
    with pytest.warns(RuntimeWarning, match="only 3 points"):
        result = aupimo(maps, masks, num_thresholds=4, force=True)
    # The shared FPR is exactly 1e-4 at indices 1 and 2: the lowest one (threshold 1) bounds the range.
    assert result.thresh_bounds == (1.0, 3.0)
    assert result.num_points == 3
    # ln-FPR points: ln 1e-5, ln 1e-4, ln 1e-4; only the first step has width ln 10 = the normalization.
    assert math.isnan(result.aupimos[0])
    assert result.aupimos[1] == pytest.approx(1.0, abs=1e-12)
    assert result.aupimos[2] == pytest.approx((0.2 + 0.5) / 2, abs=1e-12)


def test_aupimo_with_too_few_points_is_an_error_unless_forced():
    maps, masks = _pimo_case()
    with pytest.raises(ValueError, match=r"only 3 point\(s\).*--num-thresholds.*--force"):
        aupimo(maps, masks, num_thresholds=4)


def test_aupimo_result_round_trips_through_the_official_json(tmp_path):
    maps, masks = _pimo_case()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = aupimo(maps, masks, num_thresholds=4, force=True, paths=["good/0.tiff", "a/0.tiff", "b/0.tiff"])
    path = tmp_path / "aupimos.json"
    result.save(path)
    text = path.read_text()
    assert "NaN" in text
    payload = json.loads(text)
    assert list(payload) == [
        "shared_fpr_metric",
        "fpr_lower_bound",
        "fpr_upper_bound",
        "num_threshs",
        "thresh_lower_bound",
        "thresh_upper_bound",
        "aupimos",
        "paths",
    ]
    assert payload["shared_fpr_metric"] == "mean-per-image-fpr"
    assert payload["num_threshs"] == 3
    loaded = AUPIMOResult.load(path)
    np.testing.assert_array_equal(loaded.aupimos, result.aupimos)
    np.testing.assert_array_equal(loaded.image_classes, [0, 1, 1])
    assert loaded.thresh_bounds == result.thresh_bounds
    assert loaded.fpr_bounds == result.fpr_bounds
    assert loaded.paths == result.paths
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_aupimo_result_is_immutable():
    maps, masks = _pimo_case()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = aupimo(maps, masks, num_thresholds=4, force=True)
    with pytest.raises(AttributeError):
        result.num_points = 5  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.aupimos[1] = 0.0
