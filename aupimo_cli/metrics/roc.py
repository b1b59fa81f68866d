"""Exact AUROC: pixel-level (all pixels of all images pooled) and image-level.

Both equal ``sklearn.metrics.roc_auc_score``: every distinct score is a threshold, tied scores form one
curve point, and the trapezoid rule integrates the curve, which is the Mann-Whitney U statistic with ties
counted 1/2. Scores are used as they are: no sigmoid and no clamping (torchmetrics applies a sigmoid to
scores outside [0, 1], which is why it reports 0.5 on 16-bit PNG maps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._inputs import MetricInputError
from .pro import pixel_metrics


def pixel_auroc(maps: Any, masks: Any) -> float:
    """Pixel AUROC over all pixels of all images pooled together.

    Args:
        maps: anomaly maps, (N, H, W) or a sequence of N 2-D arrays; higher = more anomalous.
        masks: ground truth with the same shapes, bool or integer; nonzero = anomalous.

    Returns:
        The area under the ROC curve, in [0, 1].
    """
    return pixel_metrics(maps, masks, fpr_limits=())["pixel_auroc"]


def image_auroc(scores: Any, labels: Any) -> float:
    """AUROC of image-level scores (the MVTec evaluation uses the maximum of each map).

    Args:
        scores: shape (N,), real and finite, higher = more anomalous.
        labels: shape (N,), 0 (normal) or 1 (anomalous).

    Returns:
        The area under the ROC curve, in [0, 1], computed as the Mann-Whitney U statistic (ties count 1/2).

    Raises:
        MetricInputError: mismatched shapes, non-finite scores, labels other than 0/1, or a single class.
    """
    scores_array = np.asarray(scores)
    labels_array = np.asarray(labels)
    if scores_array.ndim != 1 or labels_array.shape != scores_array.shape:
        msg = f"`scores` and `labels` must both have shape (N,), got {scores_array.shape} and {labels_array.shape}."
        raise MetricInputError(msg)
    if scores_array.dtype.kind not in "fiu" or not np.isfinite(scores_array).all():
        msg = "`scores` must be finite real numbers."
        raise MetricInputError(msg)
    if labels_array.dtype.kind not in "biuf" or not np.isin(labels_array, (0, 1)).all():
        msg = "`labels` must be 0 (normal) or 1 (anomalous)."
        raise MetricInputError(msg)
    positive = labels_array.astype(bool)
    num_pos = int(positive.sum())
    num_neg = positive.size - num_pos
    if num_pos == 0 or num_neg == 0:
        msg = f"Image AUROC needs both normal and anomalous images, got {num_neg} normal and {num_pos} anomalous."
        raise MetricInputError(msg)
    # Ranks 1..N with tied scores sharing their average rank, which counts ties 1/2 (scipy's rankdata
    # "average", without importing scipy.stats, which alone takes a second to import).
    _, tie_group, group_sizes = np.unique(scores_array.astype(np.float64), return_inverse=True, return_counts=True)
    last_ranks = np.cumsum(group_sizes)
    average_ranks = last_ranks - (group_sizes - 1) / 2.0
    ranks = average_ranks[tie_group]
    u_statistic = ranks[positive].sum() - num_pos * (num_pos + 1) / 2.0
    return float(u_statistic / (num_pos * num_neg))
