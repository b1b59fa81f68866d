"""The metric core against the values the reference implementations computed on tests/data/*/arrays.npz."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from aupimo_cli.metrics import aupimo, aupro, image_auroc, pixel_auroc, pixel_metrics


def test_pixel_metrics_match_sklearn_and_mvtec(reference_case):
    _, arrays, expected = reference_case
    result = pixel_metrics(arrays["maps"], arrays["masks"])
    assert set(result) == {"pixel_auroc", "aupro_30", "aupro_05", "pixel_ap", "pixel_f1max", "pixel_f1max_threshold"}
    assert result["pixel_auroc"] == pytest.approx(expected["pixel_auroc"], abs=1e-9)
    assert result["aupro_30"] == pytest.approx(expected["aupro_30"], abs=1e-6)
    assert result["aupro_05"] == pytest.approx(expected["aupro_05"], abs=1e-6)


def test_single_metric_wrappers_agree_with_the_one_pass(reference_case):
    _, arrays, expected = reference_case
    assert pixel_auroc(arrays["maps"], arrays["masks"]) == pytest.approx(expected["pixel_auroc"], abs=1e-9)
    assert aupro(arrays["maps"], arrays["masks"]) == pytest.approx(expected["aupro_30"], abs=1e-6)
    assert aupro(arrays["maps"], arrays["masks"], 0.05) == pytest.approx(expected["aupro_05"], abs=1e-6)


def test_image_auroc_of_map_maxima(reference_case):
    _, arrays, expected = reference_case
    scores = arrays["maps"].reshape(len(arrays["maps"]), -1).max(axis=1)
    labels = arrays["masks"].reshape(len(arrays["masks"]), -1).any(axis=1).astype(int)
    assert image_auroc(scores, labels) == pytest.approx(expected["image_auroc"], abs=1e-9)


def test_aupimo_matches_the_paper_code(reference_case):
    _, arrays, expected = reference_case
    with warnings.catch_warnings():
        # Both cases reach the 1e-5 bound only within ~13%: the reference warns too.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = aupimo(arrays["maps"], arrays["masks"], paths=[str(p) for p in arrays["paths"]])
    expected_aupimos = np.array([np.nan if v is None else v for v in expected["aupimos"]])
    assert np.array_equal(np.isnan(result.aupimos), np.isnan(expected_aupimos))
    np.testing.assert_allclose(result.aupimos, expected_aupimos, atol=1e-6, rtol=0)
    assert np.nanmean(result.aupimos) == pytest.approx(expected["aupimo_mean"], abs=1e-6)
    assert result.num_points == expected["num_points"]
    assert result.thresh_bounds[0] == pytest.approx(expected["thresh_lower_bound"], rel=1e-6)
    assert result.thresh_bounds[1] == pytest.approx(expected["thresh_upper_bound"], rel=1e-6)
    assert result.fpr_bounds == (1e-5, 1e-4)
    assert list(result.paths) == expected["paths"]
    assert result.num_normal_images == int(np.isnan(expected_aupimos).sum())


def test_aupimo_warns_when_a_bound_is_not_reached_closely(reference_case):
    _, arrays, _ = reference_case
    with pytest.warns(RuntimeWarning, match="1e-05 is reached only approximately") as caught:
        aupimo(arrays["maps"], arrays["masks"])
    message = str(caught[0].message)
    assert "comparable" in message and "at most" in message and "Act only if" in message


def test_bound_missed_message_bounds_the_effect_on_aupimo():
    from aupimo_cli.metrics.pimo import _bound_missed_message

    # Shared FPR falling in steps of 4e-7 around the bound 1e-5: one normal pixel in 2.5 million each.
    shared_fpr = np.array([1.058e-5, 1.018e-5, 0.978e-5])
    message = _bound_missed_message(shared_fpr, 1, 1e-5, (1e-5, 1e-4), 2_500_000)
    achieved = shared_fpr[1]
    assert f"{achieved:.4g}" in message and "+1.8%" in message
    assert f"at most {abs(np.log(achieved / 1e-5)) / np.log(10):.2g}" in message
    assert "2,500,000 normal pixels" in message and "more normal images" in message
    # Jumps of several pixels at once: the thresholds are too coarse.
    assert "--num-thresholds" in _bound_missed_message(shared_fpr, 1, 1e-5, (1e-5, 1e-4), 250_000_000)


def test_sequences_of_images_give_the_same_values(reference_case):
    _, arrays, expected = reference_case
    maps = [m for m in arrays["maps"]]
    masks = [m.astype(bool) for m in arrays["masks"]]
    result = pixel_metrics(maps, masks)
    assert result["aupro_05"] == pytest.approx(expected["aupro_05"], abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = aupimo(maps, masks).aupimos
    expected_aupimos = np.array([np.nan if v is None else v for v in expected["aupimos"]])
    np.testing.assert_allclose(scores, expected_aupimos, atol=1e-6, rtol=0)


def test_inputs_are_not_modified(reference_case):
    _, arrays, _ = reference_case
    maps = arrays["maps"].copy()
    masks = arrays["masks"].copy()
    maps.setflags(write=False)
    masks.setflags(write=False)
    pixel_metrics(maps, masks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        aupimo(maps, masks)
    np.testing.assert_array_equal(maps, arrays["maps"])
    np.testing.assert_array_equal(masks, arrays["masks"])


def test_the_pixel_pass_reads_the_maps_and_never_writes_them(reference_case):
    _, arrays, expected = reference_case
    maps = np.array(arrays["maps"], dtype=np.float32)
    maps.setflags(write=False)  # any write into the maps raises
    masks = list(arrays["masks"].astype(bool))
    first = pixel_metrics(list(maps), masks)
    assert first == pixel_metrics(maps.copy(), arrays["masks"])
    assert first["aupro_05"] == pytest.approx(expected["aupro_05"], abs=1e-6)
    np.testing.assert_array_equal(maps, arrays["maps"])
