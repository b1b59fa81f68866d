"""Numba kernels for the pixel metrics: AUROC, every AUPRO limit, AP and F1max in one pass, and the PRO curve.

The caller sorts the normal pixels' scores (values only, in two halves sorted in parallel) and the
anomalous pixels' scores together with their PRO weights, all ascending. Tied scores form one curve point,
exactly as the MVTec AD evaluation and scikit-learn do.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray


@numba.njit(cache=True, nogil=True)
def pro_curve_points(
    neg_a: NDArray[Any],
    neg_b: NDArray[Any],
    pos_scores: NDArray[Any],
    pos_weights: NDArray[np.float64],
    num_regions: float,
    curve_fpr: NDArray[np.float64],
    curve_pro: NDArray[np.float64],
) -> int:
    """Write the PRO curve, one point per distinct score, by merging all sorted scores from the top down.

    Args:
        neg_a, neg_b: scores of normal pixels, each sorted ascending, shapes (A,) and (B,).
        pos_scores: scores of anomalous pixels sorted ascending, shape (P,).
        pos_weights: PRO weight of each anomalous pixel, 1 / (size of its region), aligned with `pos_scores`.
        num_regions: number of connected anomalous regions in the whole set (R).
        curve_fpr, curve_pro: float64 outputs of shape (A + B + P + 2,).

    Returns:
        The number of points written: (0, 0), one per distinct score, then (1, 1).
    """
    num_neg = neg_a.shape[0] + neg_b.shape[0]
    ia = neg_a.shape[0] - 1
    ib = neg_b.shape[0] - 1
    ip = pos_scores.shape[0] - 1
    fp = 0
    pro_sum = 0.0
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
        while ia >= 0 and neg_a[ia] == value:
            ia -= 1
            fp += 1
        while ib >= 0 and neg_b[ib] == value:
            ib -= 1
            fp += 1
        while ip >= 0 and pos_scores[ip] == value:
            pro_sum += pos_weights[ip]
            ip -= 1
        # The official MVTec code clips both rates at 1 against rounding in the cumulative sums.
        curve_fpr[num_points] = min(fp / num_neg, 1.0)
        curve_pro[num_points] = min(pro_sum / num_regions, 1.0)
        num_points += 1
    curve_fpr[num_points] = 1.0
    curve_pro[num_points] = 1.0
    return num_points + 1


@numba.njit(cache=True, nogil=True)
def _add_segment(
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    fpr_limits: NDArray[np.float64],
    areas: NDArray[np.float64],
    done: NDArray[np.bool_],
) -> None:
    """Add the trapezoid from (x0, y0) to (x1, y1) to each open AUPRO integral, interpolating at its limit."""
    for j in range(fpr_limits.shape[0]):
        if done[j]:
            continue
        limit = fpr_limits[j]
        if x1 <= limit:
            areas[j] += 0.5 * (y1 + y0) * (x1 - x0)
        else:
            y_at_limit = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            areas[j] += 0.5 * (y_at_limit + y0) * (limit - x0)
            done[j] = True


@numba.njit(cache=True, nogil=True)
def _count_above(sorted_values: NDArray[Any], value: float, inclusive: bool, previous: int) -> int:
    """Number of elements > `value` (>= if `inclusive`) in an ascending array, by galloping search.

    `previous` is the count for a larger query value, so the answer is at least `previous`: the search
    gallops down from there, which costs O(log distance) and touches memory close to the last query.
    """
    size = sorted_values.shape[0]
    # Find the first index `hi` such that every element from `hi` on is above the value.
    hi = size - previous
    step = 1
    lo = hi - step
    while lo >= 0 and (sorted_values[lo] >= value if inclusive else sorted_values[lo] > value):
        hi = lo
        step *= 2
        lo = hi - step
    lo = max(lo, -1)
    # Invariant: sorted_values[lo] is not above the value (or lo == -1), sorted_values[hi:] are all above.
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if sorted_values[mid] >= value if inclusive else sorted_values[mid] > value:
            hi = mid
        else:
            lo = mid
    return size - hi


@numba.njit(cache=True, nogil=True)
def anomalous_score_walk(
    neg_a: NDArray[Any],
    neg_b: NDArray[Any],
    pos_scores: NDArray[Any],
    pos_weights: NDArray[np.float64],
    num_regions: float,
    fpr_limits: NDArray[np.float64],
) -> tuple[np.int64, NDArray[np.float64], float, float, float]:
    """Pixel AUROC, AUPRO areas, AP and F1max from the distinct anomalous scores alone.

    Between two distinct anomalous scores the PRO curve is flat while the FPR grows, so its area there is
    width * height whatever the normal scores in between: only the numbers of normal pixels above and tied
    with each anomalous score matter, found by galloping search in the sorted normal scores. This visits the
    P anomalous pixels (plus O(log) per distinct score) instead of every pixel.

    The same counts give the precision-recall quantities at each distinct anomalous score t, where
    TP = anomalous pixels >= t and FP = normal pixels >= t. Recall changes only there, so average precision
    is the sum over them of (recall step) * precision. F1 = 2 TP / (TP + FP + P) is also maximal at one of
    them: between two of them TP is constant while FP only grows as the threshold falls.

    Args:
        neg_a, neg_b: scores of normal pixels, each sorted ascending.
        pos_scores: scores of anomalous pixels sorted ascending, with `pos_weights` (1 / region size) aligned.
        num_regions: number of regions R in the whole set.
        fpr_limits: AUPRO FPR limits, each in (0, 1].

    Returns:
        (twice_auc_numerator, pro_areas, average_precision, f1_max, f1_max_threshold): pixel AUROC =
        twice_auc_numerator / (2 * P * num_normal); the un-normalized PRO areas up to each limit (divide by
        the limit); AP in float64; the largest F1 and the lowest threshold reaching it.
    """
    num_neg = neg_a.shape[0] + neg_b.shape[0]
    num_pos = pos_scores.shape[0]
    num_limits = fpr_limits.shape[0]
    areas = np.zeros(num_limits, dtype=np.float64)
    done = np.zeros(num_limits, dtype=np.bool_)
    twice_auc = np.int64(0)
    pro_sum = 0.0
    x_prev = 0.0
    y_prev = 0.0
    at_or_above_a = 0
    at_or_above_b = 0
    average_precision = 0.0
    f1_best = -1.0
    f1_threshold = 0.0
    true_positives = 0
    ip = num_pos - 1
    while ip >= 0:
        value = pos_scores[ip]
        d_tp = 0
        d_pro = 0.0
        while ip >= 0 and pos_scores[ip] == value:
            d_pro += pos_weights[ip]
            ip -= 1
            d_tp += 1
        above_a = _count_above(neg_a, value, False, at_or_above_a)
        above_b = _count_above(neg_b, value, False, at_or_above_b)
        at_or_above_a = _count_above(neg_a, value, True, above_a)
        at_or_above_b = _count_above(neg_b, value, True, above_b)
        above = above_a + above_b
        at_or_above = at_or_above_a + at_or_above_b
        tied = at_or_above - above
        # Mann-Whitney: each normal pixel below counts 2 (one pair), each tied one counts 1 (half a pair).
        twice_auc += np.int64(d_tp) * np.int64(2 * (num_neg - at_or_above) + tied)
        # Precision and recall at this threshold, from exact integer counts.
        true_positives += d_tp
        average_precision += (d_tp / num_pos) * (true_positives / (true_positives + at_or_above))
        f1 = 2.0 * true_positives / (true_positives + at_or_above + num_pos)
        if f1 >= f1_best:  # >=: on ties, the lower threshold met later wins, as anomalib's argmax does
            f1_best = f1
            f1_threshold = np.float64(value)
        # The curve runs flat from the previous point to the normal pixels above this score, then steps to
        # the point of this score (normal pixels tied with it move it right, anomalous ones up).
        x_above = min(above / num_neg, 1.0)
        _add_segment(x_prev, y_prev, x_above, y_prev, fpr_limits, areas, done)
        pro_sum += d_pro
        x = min(at_or_above / num_neg, 1.0)
        y = min(pro_sum / num_regions, 1.0)
        _add_segment(x_above, y_prev, x, y, fpr_limits, areas, done)
        x_prev = x
        y_prev = y
    # Flat to the last real point (1, y), then the appended (1, 1) adds no area.
    _add_segment(x_prev, y_prev, 1.0, y_prev, fpr_limits, areas, done)
    return twice_auc, areas, average_precision, f1_best, f1_threshold


@numba.njit(cache=True, nogil=True)
def split_by_mask(
    values: NDArray[Any], mask: NDArray[np.bool_], normal_out: NDArray[Any], anomalous_out: NDArray[Any]
) -> None:
    """Copy the scores of one image into `normal_out` (mask False) and `anomalous_out` (mask True), in order.

    Args:
        values, mask: one image's scores and mask, flattened, shape (P,).
        normal_out, anomalous_out: outputs of exactly the number of normal and anomalous pixels.
    """
    num_normal = 0
    num_anomalous = 0
    for p in range(values.shape[0]):
        if mask[p]:
            anomalous_out[num_anomalous] = values[p]
            num_anomalous += 1
        else:
            normal_out[num_normal] = values[p]
            num_normal += 1


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def shifted_moments(values: NDArray[Any], shift: float, is_sorted: bool) -> tuple[float, float, float, float]:
    """Sum of (x - shift), sum of (x - shift)^2, minimum and maximum of `values` (shape (P,), P >= 1), in float64.

    A shift near the mean keeps the sum of squares accurate. The sums may be reassociated (``fastmath`` only
    allows that), so that they run as vector operations near memory speed, and they are taken in blocks, each
    added to the total when full, so that the rounding error grows with the block size plus the number of
    blocks, not with the number of values (about 1e-13 relative for 1e8 values). For sorted `values` the
    extremes are the ends.
    """
    size = values.shape[0]
    total = squares = 0.0
    block = 4096
    for start in range(0, size, block):
        block_total = block_squares = 0.0
        for p in range(start, min(start + block, size)):
            centred = np.float64(values[p]) - shift
            block_total += centred
            block_squares += centred * centred
        total += block_total
        squares += block_squares
    if is_sorted:
        return total, squares, np.float64(values[0]), np.float64(values[size - 1])
    minimum = np.float64(values[0])
    maximum = np.float64(values[0])
    for p in range(size):
        value = np.float64(values[p])
        minimum = min(minimum, value)
        maximum = max(maximum, value)
    return total, squares, minimum, maximum
