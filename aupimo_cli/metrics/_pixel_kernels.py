"""Numba kernel for the one-pass pixel metrics: pixel AUROC and every AUPRO limit from one merge.

The caller sorts the normal pixels' scores (values only, in two halves sorted in parallel) and the
anomalous pixels' scores together with their PRO weights, all ascending. The kernel walks the three
sorted arrays from the top score down, merging tied scores into one curve point, exactly as the
MVTec AD evaluation and scikit-learn do, and integrates as it goes.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray


@numba.njit(cache=True, nogil=True)
def merge_walk(
    neg_a: NDArray[Any],
    neg_b: NDArray[Any],
    pos_scores: NDArray[Any],
    pos_weights: NDArray[np.float64],
    num_regions: float,
    fpr_limits: NDArray[np.float64],
    curve_fpr: NDArray[np.float64],
    curve_pro: NDArray[np.float64],
) -> tuple[int, NDArray[np.float64], int]:
    """Walk the merged score order once, descending, one point per distinct score.

    Args:
        neg_a, neg_b: scores of normal pixels, each sorted ascending, shapes (A,) and (B,).
        pos_scores: scores of anomalous pixels sorted ascending, shape (P,).
        pos_weights: PRO weight of each anomalous pixel, 1 / (size of its region), aligned with `pos_scores`.
        num_regions: number of connected anomalous regions in the whole set (R).
        fpr_limits: FPR limits U of the AUPRO integrals, shape (L,), each in (0, 1].
        curve_fpr, curve_pro: float64 outputs of shape (A + B + P + 2,) to record the PRO curve, or
            shape (0,) not to record it.

    Returns:
        (twice_auc_numerator, pro_areas, num_curve_points): the pixel AUROC is
        twice_auc_numerator / (2 * P * (A + B)), as an int64 Mann-Whitney sum with ties counted 1/2;
        pro_areas (L,) are the un-normalized areas under the PRO curve up to each limit (divide by U);
        num_curve_points is how many points were written to the curve arrays.
    """
    num_neg = neg_a.shape[0] + neg_b.shape[0]
    record = curve_fpr.shape[0] > 0
    ia = neg_a.shape[0] - 1
    ib = neg_b.shape[0] - 1
    ip = pos_scores.shape[0] - 1
    num_limits = fpr_limits.shape[0]
    areas = np.zeros(num_limits, dtype=np.float64)
    done = np.zeros(num_limits, dtype=np.bool_)
    fp = 0
    tp = 0
    pro_sum = 0.0
    twice_auc = np.int64(0)
    x_prev = 0.0
    y_prev = 0.0
    num_points = 0
    if record:
        curve_fpr[0] = 0.0
        curve_pro[0] = 0.0
        num_points = 1
    while ia >= 0 or ib >= 0 or ip >= 0:
        # The next curve point is at the largest score not consumed yet.
        first = True
        value = 0.0
        if ia >= 0:
            value = neg_a[ia]
            first = False
        if ib >= 0 and (first or neg_b[ib] > value):
            value = neg_b[ib]
            first = False
        if ip >= 0 and (first or pos_scores[ip] > value):
            value = pos_scores[ip]
        d_fp = 0
        while ia >= 0 and neg_a[ia] == value:
            ia -= 1
            d_fp += 1
        while ib >= 0 and neg_b[ib] == value:
            ib -= 1
            d_fp += 1
        d_tp = 0
        d_pro = 0.0
        while ip >= 0 and pos_scores[ip] == value:
            d_pro += pos_weights[ip]
            ip -= 1
            d_tp += 1
        # ROC trapezoid between the previous and this point, in integer counts (exact).
        twice_auc += np.int64(d_fp) * np.int64(2 * tp + d_tp)
        fp += d_fp
        tp += d_tp
        pro_sum += d_pro
        # The official MVTec code clips both rates at 1 against rounding in the cumulative sums.
        x = min(fp / num_neg, 1.0)
        y = min(pro_sum / num_regions, 1.0)
        for j in range(num_limits):
            if done[j]:
                continue
            limit = fpr_limits[j]
            if x <= limit:
                areas[j] += 0.5 * (y + y_prev) * (x - x_prev)
            else:
                # The limit falls between the previous point and this one: interpolate y at the limit.
                y_at_limit = y_prev + (y - y_prev) * (limit - x_prev) / (x - x_prev)
                areas[j] += 0.5 * (y_at_limit + y_prev) * (limit - x_prev)
                done[j] = True
        if record:
            curve_fpr[num_points] = x
            curve_pro[num_points] = y
            num_points += 1
        x_prev = x
        y_prev = y
    # The official curve ends with an appended (1, 1) point.
    for j in range(num_limits):
        if not done[j]:
            areas[j] += 0.5 * (1.0 + y_prev) * (min(1.0, fpr_limits[j]) - x_prev)
    if record:
        curve_fpr[num_points] = 1.0
        curve_pro[num_points] = 1.0
        num_points += 1
    return twice_auc, areas, num_points
