"""Exact AUROC: pixel-level (all pixels of all images pooled) and image-level.

Both equal ``sklearn.metrics.roc_auc_score``: every distinct score is a threshold, tied scores form one
curve point, and the trapezoid rule integrates the curve, which is the Mann-Whitney U statistic with ties
counted 1/2. Scores are used as they are: no sigmoid and no clamping (torchmetrics applies a sigmoid to
scores outside [0, 1], which is why it reports 0.5 on 16-bit PNG maps).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._inputs import MapsLike, MasksLike, validate_pair, validate_scores_labels
from ._pass import pixel_pass


def pixel_auroc(maps: MapsLike, masks: MasksLike) -> float:
    """Pixel AUROC over all pixels of all images pooled together.

    Args:
        maps: anomaly maps, (N, H, W), (N, 1, H, W) or a sequence of N 2-D arrays; higher = more anomalous.
        masks: ground truth with the same shapes, bool or integer; nonzero = anomalous.

    Returns:
        The area under the ROC curve, in [0, 1]: ``sklearn.metrics.roc_auc_score`` on the pooled pixels.

    Examples:
        >>> maps = np.array([[[0.1, 0.9], [0.2, 0.3]], [[0.1, 0.2], [0.95, 0.4]]], dtype=np.float32)
        >>> masks = np.array([[[0, 1], [0, 0]], [[0, 0], [0, 0]]])
        >>> pixel_auroc(maps, masks)
        0.8571428571428571
    """
    return pixel_pass(*validate_pair(maps, masks), ()).auroc


def image_auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """AUROC of image-level scores (the MVTec evaluation uses the maximum of each map).

    Args:
        scores: shape (N,), real and finite, higher = more anomalous.
        labels: shape (N,), 0 (normal) or 1 (anomalous).

    Returns:
        The area under the ROC curve, in [0, 1], computed as the Mann-Whitney U statistic (ties count 1/2).

    Raises:
        MetricInputError: mismatched shapes, non-finite scores, labels other than 0/1, or a single class.

    Examples:
        >>> image_auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
        0.75
    """
    scores_array, positive = validate_scores_labels(scores, labels, "Image AUROC")
    num_pos = int(positive.sum())
    num_neg = positive.size - num_pos
    # Ranks 1..N with tied scores sharing their average rank, which counts ties 1/2 (scipy's rankdata
    # "average", without importing scipy.stats, which alone takes a second to import).
    _, tie_group, group_sizes = np.unique(scores_array.astype(np.float64), return_inverse=True, return_counts=True)
    last_ranks = np.cumsum(group_sizes)
    average_ranks = last_ranks - (group_sizes - 1) / 2.0
    ranks = average_ranks[tie_group]
    u_statistic = ranks[positive].sum() - num_pos * (num_pos + 1) / 2.0
    return float(u_statistic / (num_pos * num_neg))
