"""Score distributions: the mean, spread and range of image scores and of pixel scores, by class (DESIGN §5).

These are this tool's own summary keys. anomalib's ``MinMax`` (the normalisation range) and
``AnomalyScoreDistribution`` (class-wise means and spreads) track related but different things, so no
equivalence is claimed. Means and standard deviations (ddof = 1) accumulate in float64; a key is None where
its class has too few items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._inputs import MapsLike, MasksLike, validate_pair
from ._pass import EMPTY_MOMENTS, Moments, pixel_pass

SCORE_STATISTICS_KEYS: tuple[str, ...] = (
    "image_score_normal_mean",
    "image_score_normal_std",
    "image_score_anomalous_mean",
    "image_score_anomalous_std",
    "image_score_normal_min",
    "image_score_normal_max",
    "pixel_score_normal_mean",
    "pixel_score_normal_std",
    "pixel_score_anomalous_mean",
    "pixel_score_anomalous_std",
    "pixel_score_normal_min",
    "pixel_score_normal_max",
)
"""The summary keys of the score statistics, in summary order."""


def _moments(values: ArrayLike) -> Moments:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return EMPTY_MOMENTS
    mean = float(array.mean())
    return Moments(int(array.size), mean, float(np.sum((array - mean) ** 2)), float(array.min()), float(array.max()))


def _or_none(value: float, count: int, needed: int) -> float | None:
    return float(value) if count >= needed else None


def statistics_from_moments(
    image_scores: ArrayLike, labels: ArrayLike, normal_pixels: Moments, anomalous_pixels: Moments
) -> dict[str, float | None]:
    """The score statistics from image scores, image labels (1 = anomalous) and the pixel moments by class.

    Returns:
        Every key of `SCORE_STATISTICS_KEYS`; a mean, min or max is None for an empty class, a std for a
        class of fewer than two items.
    """
    scores = np.asarray(image_scores, dtype=np.float64)
    anomalous = np.asarray(labels).astype(bool)
    normal_images, anomalous_images = _moments(scores[~anomalous]), _moments(scores[anomalous])
    values: dict[str, float | None] = {}
    for prefix, normal, abnormal in (
        ("image_score", normal_images, anomalous_images),
        ("pixel_score", normal_pixels, anomalous_pixels),
    ):
        values[f"{prefix}_normal_mean"] = _or_none(normal.mean, normal.count, 1)
        values[f"{prefix}_normal_std"] = _or_none(normal.std, normal.count, 2)
        values[f"{prefix}_anomalous_mean"] = _or_none(abnormal.mean, abnormal.count, 1)
        values[f"{prefix}_anomalous_std"] = _or_none(abnormal.std, abnormal.count, 2)
        values[f"{prefix}_normal_min"] = _or_none(normal.minimum, normal.count, 1)
        values[f"{prefix}_normal_max"] = _or_none(normal.maximum, normal.count, 1)
    return {key: values[key] for key in SCORE_STATISTICS_KEYS}


def score_statistics(maps: MapsLike, masks: MasksLike) -> dict[str, Any]:
    """Mean and std (ddof = 1) of the image scores (max of each map) and of the pixel scores, by class, and the
    range of the normal ones.

    Args:
        maps: anomaly maps, (N, H, W), (N, 1, H, W) or a sequence of N 2-D arrays.
        masks: ground truth with the same shapes; an image is anomalous when its mask has a nonzero pixel, and
            a pixel when it is nonzero (every pixel of a normal image is normal).

    Returns:
        The keys of `SCORE_STATISTICS_KEYS` (see `statistics_from_moments`).

    Examples:
        >>> maps = np.array([[[0.0, 4.0], [1.0, 1.0]], [[0.0, 1.0], [2.0, 1.0]]], dtype=np.float32)
        >>> masks = np.array([[[0, 1], [0, 0]], [[0, 0], [0, 0]]])
        >>> stats = score_statistics(maps, masks)
        >>> stats["image_score_anomalous_mean"], stats["pixel_score_normal_max"]
        (4.0, 2.0)
        >>> round(stats["pixel_score_normal_mean"], 9)  # 6 / 7
        0.857142857
    """
    map_list, mask_list = validate_pair(maps, masks)
    result = pixel_pass(map_list, mask_list, (), walk=False)
    image_scores = [float(amap.max()) for amap in map_list]
    labels = [bool(mask.any()) for mask in mask_list]
    return statistics_from_moments(image_scores, labels, result.normal_moments, result.anomalous_moments)
