"""AP and F1max (pixel and image level) and the score statistics, against scikit-learn, numpy and a brute force
of the definitions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from aupimo_cli.metrics import (
    MetricInputError,
    ThresholdScore,
    image_average_precision,
    image_f1_max,
    pixel_average_precision,
    pixel_f1_max,
    pixel_metrics,
    score_statistics,
)

from .brute_force import brute_force_f1_max
from .conftest import DATA
from .test_metrics_properties import small_sets


def _pooled(maps: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([m.ravel() for m in maps]), np.concatenate([m.ravel() for m in masks]).astype(bool)


def _image_level(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return maps.reshape(len(maps), -1).max(axis=1), masks.reshape(len(masks), -1).any(axis=1).astype(int)


# ---------------------------------------------------------------------------------------------------------
# Reference cases.
# ---------------------------------------------------------------------------------------------------------


def test_pixel_and_image_ap_equal_sklearn_on_the_reference_cases(reference_case):
    _, arrays, _ = reference_case
    scores, labels = _pooled(list(arrays["maps"]), list(arrays["masks"]))
    expected = average_precision_score(labels, scores.astype(np.float64))
    assert pixel_average_precision(arrays["maps"], arrays["masks"]) == pytest.approx(expected, abs=1e-12)
    image_scores, image_labels = _image_level(arrays["maps"], arrays["masks"])
    assert image_average_precision(image_scores, image_labels) == pytest.approx(
        average_precision_score(image_labels, image_scores), abs=1e-12
    )


def test_f1max_equals_the_brute_force_on_the_reference_cases(reference_case):
    _, arrays, _ = reference_case
    result = pixel_f1_max(arrays["maps"], arrays["masks"])
    # A brute force over every distinct score of a 2-million pixel case: count with a sort instead of a loop.
    scores, labels = _pooled(list(arrays["maps"]), list(arrays["masks"]))
    order = np.argsort(-scores.astype(np.float64), kind="stable")
    sorted_scores, sorted_labels = scores[order].astype(np.float64), labels[order]
    last = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), sorted_scores.size - 1]
    tp = np.cumsum(sorted_labels)[last]
    fp = (last + 1) - tp
    f1 = 2.0 * tp / (2 * tp + fp + (labels.sum() - tp))
    best = int(np.flatnonzero(f1 == f1.max())[-1])  # the lowest threshold of the maximum
    assert result == ThresholdScore(float(f1[best]), float(sorted_scores[last][best]))
    image_scores, image_labels = _image_level(arrays["maps"], arrays["masks"])
    value, threshold = brute_force_f1_max(image_scores, image_labels)
    assert image_f1_max(image_scores, image_labels) == ThresholdScore(pytest.approx(value, abs=1e-12), threshold)


@pytest.mark.parametrize("case", ["tiff", "npy_ties"])
def test_f1max_within_1e_6_of_anomalib(case):
    """anomalib's F1Max values, stored with the script that computed them (no test imports torch)."""
    stored = DATA / case / "anomalib_f1max.json"
    if not stored.is_file():
        pytest.skip("anomalib reference values not generated (scripts/anomalib_reference_values.py)")
    anomalib = json.loads(stored.read_text())
    arrays = np.load(DATA / case / "arrays.npz")
    ours = pixel_f1_max(arrays["maps"], arrays["masks"])
    assert ours.value == pytest.approx(anomalib["pixel_f1max"], abs=1e-6)
    image_scores, image_labels = _image_level(arrays["maps"], arrays["masks"])
    image = image_f1_max(image_scores, image_labels)
    assert image.value == pytest.approx(anomalib["image_f1max"], abs=1e-6)
    # The same threshold wherever the maximum beats the runner-up by more than 1e-6 (DESIGN section 5).
    for level, result, threshold in (("pixel", ours, anomalib["pixel_f1max_threshold"]),
                                     ("image", image, anomalib["image_f1max_threshold"])):  # fmt: skip
        margin = anomalib.get(f"{level}_f1max_margin")
        if margin is None or margin > 1e-6:
            assert result.threshold == pytest.approx(threshold, rel=1e-6), level


# ---------------------------------------------------------------------------------------------------------
# Random inputs, ties and degenerate sets.
# ---------------------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(small_sets())
def test_pixel_ap_and_f1max_equal_sklearn_and_the_brute_force(data):
    maps, masks = data
    scores, labels = _pooled(maps, masks)
    values = pixel_metrics(maps, masks, fpr_limits=())
    assert values["pixel_ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    best, threshold = brute_force_f1_max(scores, labels)
    assert values["pixel_f1max"] == pytest.approx(best, abs=1e-12)
    assert values["pixel_f1max_threshold"] == threshold


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=2, max_size=40))
def test_image_ap_and_f1max_equal_sklearn_and_the_brute_force(pairs):
    scores = np.array([p[0] for p in pairs], dtype=np.float64) / 6
    labels = np.array([int(p[1]) for p in pairs])
    if labels.min() == labels.max():
        with pytest.raises(MetricInputError, match="needs both normal and anomalous"):
            image_average_precision(scores, labels)
        return
    assert image_average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    best, threshold = brute_force_f1_max(scores, labels)
    result = image_f1_max(scores, labels)
    assert result.value == pytest.approx(best, abs=1e-12) and result.threshold == threshold


def test_constant_scores():
    maps = [np.full((3, 3), 0.5, np.float32), np.full((2, 2), 0.5, np.float32)]
    masks = [np.eye(3, dtype=bool), np.zeros((2, 2), bool)]
    scores, labels = _pooled(maps, masks)
    assert pixel_average_precision(maps, masks) == pytest.approx(average_precision_score(labels, scores))
    assert pixel_average_precision(maps, masks) == pytest.approx(3 / 13)
    assert pixel_f1_max(maps, masks) == ThresholdScore(2 * 3 / (2 * 3 + 10), 0.5)
    assert image_f1_max([1.0, 1.0], [0, 1]) == ThresholdScore(2 / 3, 1.0)


def test_ties_at_the_maximum_take_the_lowest_threshold():
    # Thresholds 3 and 1 both give F1 = 2/3 (TP=1, FP=0, FN=1 and TP=2, FP=2, FN=0); anomalib keeps the lower.
    scores = np.array([3.0, 2.0, 1.0, 1.0, 0.0])
    labels = np.array([1, 0, 1, 0, 0])
    f1_at = {t: 2 * ((scores >= t) & (labels == 1)).sum() / (((scores >= t).sum()) + labels.sum()) for t in (3, 1)}
    assert f1_at[3] == f1_at[1] == pytest.approx(2 / 3)
    assert image_f1_max(scores, labels) == ThresholdScore(pytest.approx(2 / 3), 1.0)
    maps = [scores.reshape(1, 5).astype(np.float32), np.zeros((1, 3), np.float32) - 1]
    masks = [labels.reshape(1, 5).astype(bool), np.zeros((1, 3), bool)]
    assert pixel_f1_max(maps, masks).threshold == 1.0


def test_anomalib_shape_n_1_h_w_is_accepted(reference_case):
    _, arrays, _ = reference_case
    four_d = arrays["maps"][:, None]
    assert pixel_metrics(four_d, arrays["masks"][:, None]) == pixel_metrics(arrays["maps"], arrays["masks"])


# ---------------------------------------------------------------------------------------------------------
# Score statistics.
# ---------------------------------------------------------------------------------------------------------


def test_score_statistics_equal_numpy(reference_case):
    _, arrays, _ = reference_case
    maps, masks = arrays["maps"], arrays["masks"].astype(bool)
    stats = score_statistics(maps, masks)
    image_scores, labels = _image_level(maps, masks)
    normal_pixels = maps[~masks].astype(np.float64)
    anomalous_pixels = maps[masks].astype(np.float64)
    expected = {
        "image_score_normal_mean": image_scores[labels == 0].astype(np.float64).mean(),
        "image_score_normal_std": image_scores[labels == 0].astype(np.float64).std(ddof=1),
        "image_score_anomalous_mean": image_scores[labels == 1].astype(np.float64).mean(),
        "image_score_anomalous_std": image_scores[labels == 1].astype(np.float64).std(ddof=1),
        "image_score_normal_min": image_scores[labels == 0].min(),
        "image_score_normal_max": image_scores[labels == 0].max(),
        "pixel_score_normal_mean": normal_pixels.mean(),
        "pixel_score_normal_std": normal_pixels.std(ddof=1),
        "pixel_score_anomalous_mean": anomalous_pixels.mean(),
        "pixel_score_anomalous_std": anomalous_pixels.std(ddof=1),
        "pixel_score_normal_min": normal_pixels.min(),
        "pixel_score_normal_max": normal_pixels.max(),
    }
    assert list(stats) == list(expected)
    for key, value in expected.items():
        assert stats[key] == pytest.approx(float(value), rel=1e-12, abs=1e-12), key


def test_score_statistics_with_a_shifted_scale_stay_accurate():
    # Scores around 1e4 with a spread of 1e-3: the naive sum of squares loses every digit of the variance.
    rng = np.random.default_rng(0)
    maps = [(1e4 + rng.normal(scale=1e-3, size=(50, 60))).astype(np.float64) for _ in range(3)]
    masks = [np.zeros((50, 60), bool) for _ in range(3)]
    masks[0][10:20, 10:20] = True
    stats = score_statistics(maps, masks)
    normal = np.concatenate([m[~k] for m, k in zip(maps, masks, strict=True)])
    assert stats["pixel_score_normal_std"] == pytest.approx(normal.std(ddof=1), rel=1e-9)
    assert stats["image_score_anomalous_std"] is None  # a single anomalous image
