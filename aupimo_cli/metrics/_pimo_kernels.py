"""Numba kernels for PIMO: per-image counts of pixels at or above each threshold of a linspace.

Instead of comparing every pixel with every threshold, each pixel is placed in its threshold bucket in
O(1) (an estimate from the linspace step, corrected against the actual float thresholds, so the result is
exactly ``searchsorted(thresholds, value, side="right")``), and a reverse cumulative sum over the buckets
gives the count at every threshold of the requested range. The work is O(pixels + thresholds).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray


@numba.njit(cache=True, nogil=True, inline="always")
def _num_thresholds_at_or_below(value: Any, thresholds: NDArray[Any]) -> int:
    """``searchsorted(thresholds, value, side="right")`` in O(1) for a (near-)linear spacing.

    The position is estimated from the spacing, then corrected against the actual float thresholds, so the
    result is exact whatever the rounding of the linspace.
    """
    num_thresholds = thresholds.shape[0]
    low = np.float64(thresholds[0])
    step = (np.float64(thresholds[num_thresholds - 1]) - low) / (num_thresholds - 1)
    estimate = (np.float64(value) - low) / step + 1.0
    above = num_thresholds if estimate >= num_thresholds else max(int(estimate), 0)
    while above < num_thresholds and thresholds[above] <= value:
        above += 1
    while above > 0 and thresholds[above - 1] > value:
        above -= 1
    return above


@numba.njit(cache=True, nogil=True)
def masked_counts_at_or_above(
    values: NDArray[Any],
    mask: NDArray[np.bool_],
    thresholds: NDArray[Any],
    first: int,
    last: int,
) -> NDArray[np.int64]:
    """Count, for each threshold index k in [first, last], the masked pixels with ``value >= thresholds[k]``.

    Args:
        values: scores of one image, flattened, shape (P,).
        mask: boolean, shape (P,); only pixels where it is True are counted.
        thresholds: strictly increasing thresholds, shape (K,), an (approximately) linear spacing.
        first, last: the inclusive range of threshold indices to count for, 0 <= first <= last < K.

    Returns:
        int64 counts of shape (last - first + 1,), non-increasing.
    """
    first_threshold = thresholds[first]
    width = last - first + 1
    # hist[j], j in 1..width: pixels whose number of thresholds <= value, capped at last + 1, is first + j.
    hist = np.zeros(width + 1, dtype=np.int64)
    for p in range(values.shape[0]):
        if not mask[p]:
            continue
        value = values[p]
        if value < first_threshold:
            continue
        hist[min(_num_thresholds_at_or_below(value, thresholds), last + 1) - first] += 1
    counts = np.empty(width, dtype=np.int64)
    running = np.int64(0)
    for k in range(width - 1, -1, -1):
        running += hist[k + 1]
        counts[k] = running
    return counts


@numba.njit(cache=True, nogil=True)
def add_to_histogram(values: NDArray[Any], thresholds: NDArray[Any], hist: NDArray[np.int64]) -> None:
    """Add each value to ``hist[number of thresholds <= value]``; `hist` has shape (K + 1,).

    Integer counts add up exactly in any order, so an image can be split across threads, each with its own
    histogram, and the histograms summed.
    """
    for p in range(values.shape[0]):
        hist[_num_thresholds_at_or_below(values[p], thresholds)] += 1


@numba.njit(cache=True, nogil=True)
def add_fpr_from_histograms(
    hist_a: NDArray[np.int64], hist_b: NDArray[np.int64], num_pixels: int, fpr_sum: NDArray[np.float64]
) -> None:
    """Add one normal image's FPR at every threshold to `fpr_sum`, from its two partial histograms.

    ``fpr_sum[k] += count(values >= t_k) / num_pixels``, where the count at threshold k is the number of
    values with more than k thresholds at or below them.
    """
    running = np.int64(0)
    for k in range(fpr_sum.shape[0] - 1, -1, -1):
        running += hist_a[k + 1] + hist_b[k + 1]
        # The same float64 division as the reference's per-image FPR, summed image after image.
        fpr_sum[k] += running / num_pixels
