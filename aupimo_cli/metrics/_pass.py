"""The shared pixel pass: one split, one sort and one walk give every pixel metric (DESIGN section 4).

Each image's scores are split by its mask into the normal and the anomalous pixels, the normal scores are
sorted (values only, in two halves sorted in parallel), the anomalous scores are sorted with their PRO weights,
and one numba walk over the distinct anomalous scores gives pixel AUROC, every AUPRO limit, AP and F1max; a
pass over each sorted array gives the scores' moments. Never sort the pixels twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._memory import empty_array
from ._inputs import MetricInputError, work_dtype


def _bounding_box(mask: NDArray[np.bool_]) -> tuple[slice, slice]:
    """The smallest (rows, cols) slices holding every True pixel of a non-empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _label_regions(cropped_mask: NDArray[np.bool_]) -> tuple[NDArray[np.int32], int]:
    """8-connected labels (1..R, 0 = background) of a mask cropped to its bounding box, and their number R.

    Labelling the bounding box alone gives the same components as the whole mask, much faster. OpenCV's
    labelling gives the same components as ``scipy.ndimage.label(mask, structure=ones((3, 3)))``, the
    official code's call (tested), and spares importing scipy.ndimage (0.3 s).
    """
    import cv2

    num_labels, labels = cv2.connectedComponents(np.ascontiguousarray(cropped_mask).view(np.uint8), connectivity=8)
    return np.asarray(labels, dtype=np.int32), int(num_labels) - 1


def count_regions(mask: NDArray[np.bool_]) -> int:
    """Number of 8-connected anomalous regions in one boolean mask (H, W); 0 for a normal mask."""
    if not mask.any():
        return 0
    return _label_regions(mask[_bounding_box(mask)])[1]


def region_weights(mask: NDArray[np.bool_]) -> tuple[NDArray[np.float64], int]:
    """PRO weight of each anomalous pixel of one non-empty mask, and the mask's number of regions.

    Args:
        mask: boolean mask (H, W), True = anomalous, with at least one anomalous pixel.

    Returns:
        weights: float64 (number of anomalous pixels,), 1 / (size of the pixel's 8-connected region), in
            the row-major order of ``mask[mask]``;
        num_regions: number of 8-connected regions in the mask.
    """
    cropped = mask[_bounding_box(mask)]
    labels, num_regions = _label_regions(cropped)
    region_labels = labels[cropped]
    sizes = np.bincount(region_labels, minlength=num_regions + 1)
    inverse_sizes = np.zeros(num_regions + 1, dtype=np.float64)
    inverse_sizes[1:] = 1.0 / sizes[1:]
    return inverse_sizes[region_labels], num_regions


def _sort_in_two_halves(values: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Sort the two halves of `values` in place, in parallel (numpy's sort releases the GIL)."""
    half = values.shape[0] // 2
    halves = (values[:half], values[half:])
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(np.ndarray.sort, halves))
    return halves


@dataclass(frozen=True)
class Moments:
    """Count, mean, sum of squared deviations, minimum and maximum of a set of scores (float64)."""

    count: int
    mean: float
    m2: float
    minimum: float
    maximum: float

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof = 1); NaN for fewer than two scores."""
        return float(np.sqrt(self.m2 / (self.count - 1))) if self.count > 1 else float("nan")

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets together (Chan et al.'s pairwise update, exact in exact arithmetic)."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        return Moments(count, mean, m2, min(self.minimum, other.minimum), max(self.maximum, other.maximum))


EMPTY_MOMENTS = Moments(0, 0.0, 0.0, float("inf"), float("-inf"))


def moments_of(values: NDArray[Any], is_sorted: bool = False) -> Moments:
    """The `Moments` of a 1-D array of scores, in float64, shifted by its middle element for accuracy."""
    from ._pixel_kernels import shifted_moments

    count = int(values.shape[0])
    if count == 0:
        return EMPTY_MOMENTS
    shift = float(values[count // 2])
    total, squares, minimum, maximum = shifted_moments(values, shift, is_sorted)
    mean_shifted = total / count
    return Moments(count, shift + mean_shifted, max(squares - total * mean_shifted, 0.0), minimum, maximum)


@dataclass(frozen=True)
class PixelPass:
    """Everything the shared pixel pass computes.

    Attributes:
        auroc: pixel AUROC.
        aupros: AUPRO at each FPR limit, in the order of the limits.
        average_precision: pixel AP (sklearn's ``average_precision_score`` over all pixels).
        f1_max: the largest pixel F1 over all thresholds, and `f1_max_threshold` the lowest threshold reaching
            it.
        normal_moments, anomalous_moments: the pixel scores' moments, split by the masks.
        curve_fpr, curve_pro: the full PRO curve when asked for, else empty.
    """

    auroc: float
    aupros: NDArray[np.float64]
    average_precision: float
    f1_max: float
    f1_max_threshold: float
    normal_moments: Moments
    anomalous_moments: Moments
    curve_fpr: NDArray[np.float64]
    curve_pro: NDArray[np.float64]


def validate_limits(fpr_limits: Sequence[float]) -> NDArray[np.float64]:
    """The AUPRO FPR limits as a float64 array, each checked to be in (0, 1]."""
    limits = np.asarray(list(fpr_limits), dtype=np.float64).reshape(-1)
    if not np.all((limits > 0) & (limits <= 1)):
        msg = f"Every AUPRO FPR limit must be in (0, 1], got {list(fpr_limits)}."
        raise MetricInputError(msg)
    return limits


def pixel_pass(
    map_list: Sequence[NDArray[Any]],
    mask_list: Sequence[NDArray[np.bool_]],
    fpr_limits: Sequence[float],
    *,
    record_curve: bool = False,
    walk: bool = True,
    normal_buffer: NDArray[Any] | None = None,
) -> PixelPass:
    """Split once, sort once and walk once over validated maps and masks.

    Args:
        map_list, mask_list: validated maps and boolean masks.
        fpr_limits: AUPRO limits.
        record_curve: also return the full PRO curve.
        walk: sort and walk; when False only the moments are computed (the metric values are NaN).
        normal_buffer: where to gather and sort the normal scores; a new array by default. It may be the
            flat buffer the maps are views of, in order (see `pro.pixel_metrics_in_place`): gathering then
            moves each normal score to a position at or before its own, so the maps are consumed, never
            misread.

    Raises:
        MetricInputError: no anomalous or no normal pixel (when walking), or an FPR limit outside (0, 1].
    """
    from ._pixel_kernels import anomalous_score_walk, pro_curve_points, split_by_mask

    limits = validate_limits(fpr_limits)
    dtype = work_dtype(map_list) if normal_buffer is None else normal_buffer.dtype
    num_pos_per_image = [int(np.count_nonzero(mask)) for mask in mask_list]
    total_pos = sum(num_pos_per_image)
    total_neg = sum(m.size for m in map_list) - total_pos
    if walk and total_pos == 0:
        msg = "No anomalous pixel in any mask: the pixel metrics need at least one anomalous image."
        raise MetricInputError(msg)
    if walk and total_neg == 0:
        msg = "No normal pixel in any mask: the pixel metrics need normal pixels as well."
        raise MetricInputError(msg)

    neg_scores = empty_array(total_neg, dtype) if normal_buffer is None else normal_buffer[:total_neg]
    pos_scores = np.empty(total_pos, dtype=dtype)
    pos_weights = np.empty(total_pos if walk else 0, dtype=np.float64)
    num_regions = 0
    neg_at = 0
    pos_at = 0
    for amap, mask, num_pos in zip(map_list, mask_list, num_pos_per_image, strict=True):
        num_neg = amap.size - num_pos
        split_by_mask(
            np.ascontiguousarray(amap, dtype=dtype).ravel(),
            np.ascontiguousarray(mask).ravel(),
            neg_scores[neg_at : neg_at + num_neg],
            pos_scores[pos_at : pos_at + num_pos],
        )
        if num_pos and walk:
            weights, regions = region_weights(mask)
            pos_weights[pos_at : pos_at + num_pos] = weights
            num_regions += regions
        pos_at += num_pos
        neg_at += num_neg
    empty = np.empty(0, dtype=np.float64)
    if not walk:
        nan = float("nan")
        normal_moments, anomalous_moments = moments_of(neg_scores), moments_of(pos_scores)
        return PixelPass(nan, np.full(limits.size, nan), nan, nan, nan, normal_moments, anomalous_moments, empty, empty)

    neg_a, neg_b = _sort_in_two_halves(neg_scores)
    order = np.argsort(pos_scores, kind="stable")
    pos_scores = pos_scores[order]
    pos_weights = pos_weights[order]
    del order
    # After the sort: one pass over each half (shifted by its median), on two threads.
    with ThreadPoolExecutor(max_workers=2) as pool:
        halves = list(pool.map(lambda half: moments_of(half, is_sorted=True), (neg_a, neg_b)))
    normal_moments = halves[0].merge(halves[1])
    anomalous_moments = moments_of(pos_scores, is_sorted=True)

    curve_fpr = curve_pro = empty
    if record_curve:
        curve_fpr = np.empty(total_neg + total_pos + 2, dtype=np.float64)
        curve_pro = np.empty_like(curve_fpr)
        num_points = pro_curve_points(neg_a, neg_b, pos_scores, pos_weights, float(num_regions), curve_fpr, curve_pro)
        curve_fpr, curve_pro = curve_fpr[:num_points], curve_pro[:num_points]
    twice_auc, areas, average_precision, f1_max, f1_threshold = anomalous_score_walk(
        neg_a, neg_b, pos_scores, pos_weights, float(num_regions), limits
    )
    auroc = float(twice_auc) / (2.0 * float(total_pos) * float(total_neg))
    return PixelPass(
        auroc,
        areas / limits,
        float(average_precision),
        float(f1_max),
        float(f1_threshold),
        normal_moments,
        anomalous_moments,
        curve_fpr,
        curve_pro,
    )
