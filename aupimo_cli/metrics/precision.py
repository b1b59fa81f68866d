"""Average precision and F1max, exact, at pixel level (all pixels pooled) and at image level.

Prediction is ``score >= t``. Over the distinct thresholds t in decreasing order, with TP and FP the anomalous
and normal items at or above t, P the anomalous items and R_k = TP_k / P the recall:

- **AP** = sum over k of (R_k - R_{k-1}) * TP_k / (TP_k + FP_k), with R_0 = 0. It equals
  ``sklearn.metrics.average_precision_score``. anomalib's ``AUPR`` integrates the precision-recall curve with
  the trapezoid rule instead, which is optimistic (scikit-learn's documentation explains why).
- **F1max** = the maximum over the thresholds of F1 = 2 TP / (2 TP + FP + FN), from exact integer counts and
  float64 division, with the lowest threshold that reaches it (anomalib's ``F1Max`` takes the ``argmax`` over
  ascending thresholds). anomalib builds its curve in float32, so it may differ from the exact value by about
  1e-7.

The pixel versions come from the shared pixel pass (`_pass.pixel_pass`), which sorts the pixels once for
every pixel metric. Scores are used raw: no sigmoid, no clamping, no binning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._inputs import MapsLike, MasksLike, validate_pair, validate_scores_labels
from ._pass import pixel_pass


@dataclass(frozen=True)
class ThresholdScore:
    """A score reached at a threshold: F1max and the lowest threshold (``score >= threshold``) reaching it."""

    value: float
    threshold: float


def _counts_at_distinct_thresholds(
    scores: NDArray[np.float64], positive: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """(distinct thresholds in decreasing order, TP at each, FP at each), counting ``score >= threshold``."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    last_of_each = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), sorted_scores.size - 1]
    true_positives = np.cumsum(positive[order], dtype=np.int64)[last_of_each]
    false_positives = (last_of_each + 1) - true_positives
    return sorted_scores[last_of_each], true_positives, false_positives


def image_average_precision(scores: ArrayLike, labels: ArrayLike) -> float:
    """Average precision of image-level scores (the MVTec evaluation uses the maximum of each map).

    Args:
        scores: shape (N,), real and finite, higher = more anomalous.
        labels: shape (N,), 0 (normal) or 1 (anomalous), both present.

    Returns:
        AP in [0, 1], equal to ``sklearn.metrics.average_precision_score(labels, scores)``.

    Raises:
        MetricInputError: mismatched shapes, non-finite scores, labels other than 0/1, or a single class.

    References:
        scikit-learn, ``sklearn.metrics.average_precision_score``.

    Examples:
        >>> image_average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.8333333333333333
    """
    values, positive = validate_scores_labels(scores, labels, "Image AP")
    _, true_positives, false_positives = _counts_at_distinct_thresholds(values, positive)
    num_pos = int(positive.sum())
    recall_steps = np.diff(true_positives, prepend=0) / num_pos
    precision = true_positives / (true_positives + false_positives)
    return float(np.sum(recall_steps * precision))


def image_f1_max(scores: ArrayLike, labels: ArrayLike) -> ThresholdScore:
    """The largest F1 of image-level scores over every threshold, and the lowest threshold reaching it.

    Args:
        scores: shape (N,), real and finite, higher = more anomalous.
        labels: shape (N,), 0 (normal) or 1 (anomalous), both present.

    Returns:
        `ThresholdScore`: F1 = 2 TP / (2 TP + FP + FN) in float64 from exact counts, and its threshold (an
        image is predicted anomalous when its score is >= the threshold).

    Raises:
        MetricInputError: mismatched shapes, non-finite scores, labels other than 0/1, or a single class.

    Examples:
        >>> image_f1_max([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        ThresholdScore(value=0.8, threshold=0.35)
    """
    values, positive = validate_scores_labels(scores, labels, "Image F1max")
    thresholds, true_positives, false_positives = _counts_at_distinct_thresholds(values, positive)
    num_pos = int(positive.sum())
    f1 = 2.0 * true_positives / (true_positives + false_positives + num_pos)
    # Thresholds are decreasing: the last index reaching the maximum is the lowest threshold.
    best = f1.size - 1 - int(np.argmax(f1[::-1]))
    return ThresholdScore(float(f1[best]), float(thresholds[best]))


def pixel_average_precision(maps: MapsLike, masks: MasksLike) -> float:
    """Average precision over all pixels of all images pooled together (normal images included).

    Args:
        maps: anomaly maps, (N, H, W), (N, 1, H, W) or a sequence of N 2-D arrays; higher = more anomalous.
        masks: ground truth with the same shapes, bool or integer; nonzero = anomalous.

    Returns:
        AP in [0, 1], equal to ``sklearn.metrics.average_precision_score`` on the pooled pixels.

    Raises:
        MetricInputError: invalid shapes or dtypes, a non-finite score, no anomalous or no normal pixel.

    Examples:
        >>> maps = np.array([[[0.1, 0.9], [0.2, 0.3]], [[0.1, 0.2], [0.95, 0.4]]], dtype=np.float32)
        >>> masks = np.array([[[0, 1], [0, 0]], [[0, 0], [0, 0]]])
        >>> pixel_average_precision(maps, masks)
        0.5
    """
    return pixel_pass(*validate_pair(maps, masks), ()).average_precision


def pixel_f1_max(maps: MapsLike, masks: MasksLike) -> ThresholdScore:
    """The largest pixel F1 over every threshold, and the lowest threshold reaching it.

    Args:
        maps: anomaly maps, (N, H, W), (N, 1, H, W) or a sequence of N 2-D arrays; higher = more anomalous.
        masks: ground truth with the same shapes, bool or integer; nonzero = anomalous.

    Returns:
        `ThresholdScore`: F1 = 2 TP / (2 TP + FP + FN) over all pixels pooled, in float64 from exact counts,
        and its threshold (a pixel is predicted anomalous when its score is >= the threshold).

    Raises:
        MetricInputError: invalid shapes or dtypes, a non-finite score, no anomalous or no normal pixel.

    Examples:
        >>> maps = np.array([[[0.1, 0.9], [0.2, 0.3]], [[0.1, 0.2], [0.95, 0.4]]], dtype=np.float32)
        >>> masks = np.array([[[0, 1], [0, 0]], [[0, 0], [0, 0]]])
        >>> result = pixel_f1_max(maps, masks)
        >>> round(result.value, 6), round(result.threshold, 6)
        (0.666667, 0.9)
    """
    result = pixel_pass(*validate_pair(maps, masks), ())
    return ThresholdScore(result.f1_max, result.f1_max_threshold)
