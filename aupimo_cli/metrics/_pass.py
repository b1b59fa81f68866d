"""The shared pixel pass: one sort per image and one walk give every pixel metric (DESIGN section 4).

Each image's scores are split by its mask, and its normal scores sorted (a radix sort, in place, image by image
on two threads; the command line does it while loading, as each map arrives). The anomalous pixels (a few
percent) are sorted with their PRO weights; each image's sorted normal scores are merged with the distinct
anomalous scores to count how many lie between and at them, and one numba walk over the distinct anomalous
scores gives pixel AUROC, every AUPRO limit, AP and F1max. Never sort the pixels twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._masks import MaskLike, tight_crop
from .._memory import empty_array
from ._inputs import MetricInputError, work_dtype

if TYPE_CHECKING:
    from .curves import PixelCurves
    from .spro import DefectSets


def _label_regions(cropped_mask: NDArray[np.bool_]) -> tuple[NDArray[np.int32], int]:
    """8-connected labels (1..R, 0 = background) of a mask cropped to its bounding box, and their number R.

    Labelling the bounding box alone gives the same components as the whole mask, much faster. OpenCV's
    labelling gives the same components as ``scipy.ndimage.label(mask, structure=ones((3, 3)))``, the
    official code's call (tested), and spares importing scipy.ndimage (0.3 s).
    """
    import cv2

    num_labels, labels = cv2.connectedComponents(np.ascontiguousarray(cropped_mask).view(np.uint8), connectivity=8)
    return np.asarray(labels, dtype=np.int32), int(num_labels) - 1


def count_regions(mask: MaskLike) -> int:
    """Number of 8-connected anomalous regions in one boolean mask (H, W), or its boxed form; 0 for a normal
    mask."""
    if not mask.any():
        return 0
    return _label_regions(tight_crop(mask))[1]


def region_weights(mask: MaskLike) -> tuple[NDArray[np.float64], int]:
    """PRO weight of each anomalous pixel of one non-empty mask, and the mask's number of regions.

    Args:
        mask: boolean mask (H, W), True = anomalous, with at least one anomalous pixel; or its boxed form.

    Returns:
        weights: float64 (number of anomalous pixels,), 1 / (size of the pixel's 8-connected region), in
            the row-major order of ``mask[mask]``;
        num_regions: number of 8-connected regions in the mask.
    """
    cropped = tight_crop(mask)
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
        curves: the ROC, precision-recall and PRO curves and the score histograms, when asked for
            (``curves=True``), else None.
        spro: MVTec LOCO's AU-sPRO by evaluation name, at each of the pass's sPRO limits, when defects were
            given (`spro.DefectSets`); else empty.
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
    curves: PixelCurves | None = None
    spro: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)


def validate_limits(fpr_limits: Sequence[float]) -> NDArray[np.float64]:
    """The AUPRO FPR limits as a float64 array, each checked to be in (0, 1]."""
    limits = np.asarray(list(fpr_limits), dtype=np.float64).reshape(-1)
    if not np.all((limits > 0) & (limits <= 1)):
        msg = f"Every AUPRO FPR limit must be in (0, 1], got {list(fpr_limits)}."
        raise MetricInputError(msg)
    return limits


@dataclass(frozen=True)
class SplitScores:
    """Each image's scores split by its mask: the normal ones sorted ascending, the anomalous ones in row-major
    mask order (aligned with `region_weights` of the mask). What every pixel metric and AUPIMO need, and less
    than the maps: their spatial layout is gone.

    Attributes:
        normal: per image, (normal pixels,) scores, ascending.
        anomalous: per image, (anomalous pixels,) scores, in the row-major order of ``mask[mask]``.
        masks: per image, the (H, W) boolean mask, or its boxed form (`_masks.BoxedMask`) once split.
        image_scores: (N,) float64 maximum of each map.
    """

    normal: list[NDArray[Any]]
    anomalous: list[NDArray[Any]]
    masks: list[MaskLike]
    image_scores: NDArray[np.float64]


class ImageSplitter:
    """Splits and sorts one image's scores in place (`split_image`); one per thread, as it owns a work space."""

    def __init__(self) -> None:
        self._scratch: NDArray[Any] = np.empty(0, dtype=np.float32)

    def _work_space(self, size: int, dtype: np.dtype[Any]) -> NDArray[Any]:
        if self._scratch.size < size or self._scratch.dtype != dtype:
            self._scratch = np.empty(size, dtype=dtype)
        return self._scratch

    def split_image(self, values: NDArray[Any], mask: NDArray[np.bool_]) -> int:
        """Reorder a flat, writable array of one image's scores in place: its normal scores first, sorted
        ascending, then its anomalous scores in row-major order; returns the number of normal scores."""
        from ._pixel_kernels import split_and_sort

        scratch = self._work_space(values.size, values.dtype)
        if values.dtype == np.float32:
            return int(split_and_sort(values, mask.ravel(), scratch))
        # float64 work (maps not exact in float32): numpy's partition and sort.
        flat_mask = mask.ravel()
        anomalous = values[flat_mask]
        num_normal = values.size - anomalous.size
        values[:num_normal] = np.sort(values[~flat_mask])
        values[num_normal:] = anomalous
        return num_normal


def split_scores(
    map_list: Sequence[NDArray[Any]], mask_list: Sequence[NDArray[np.bool_]], *, in_place: bool = False
) -> SplitScores:
    """Split and sort every image's scores (`ImageSplitter`), on two threads.

    Args:
        map_list, mask_list: validated maps and boolean masks.
        in_place: reorder the maps themselves (each must be a writable C-contiguous array of the work dtype);
            otherwise the maps are copied first and never modified.
    """
    dtype = work_dtype(map_list)
    image_scores = np.array([float(amap.max()) for amap in map_list], dtype=np.float64)
    if in_place:
        flats = [amap.reshape(-1) for amap in map_list]
    else:
        buffer = empty_array(sum(amap.size for amap in map_list), dtype)
        offsets = np.cumsum([0] + [amap.size for amap in map_list])
        flats = [buffer[offsets[i] : offsets[i + 1]] for i in range(len(map_list))]
        for flat, amap in zip(flats, map_list, strict=True):
            flat[:] = np.asarray(amap, dtype=dtype).ravel()
    splitters = (ImageSplitter(), ImageSplitter())

    def split_group(group: tuple[int, list[int]]) -> list[tuple[int, int]]:
        splitter = splitters[group[0]]
        return [(index, splitter.split_image(flats[index], mask_list[index])) for index in group[1]]

    num_normal = [0] * len(map_list)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for part in pool.map(split_group, enumerate(_balanced_halves([m.size for m in map_list]))):
            for index, count in part:
                num_normal[index] = count
    return split_from_flats(flats, num_normal, list(mask_list), image_scores)


def split_from_flats(
    flats: Sequence[NDArray[Any]],
    num_normal: Sequence[int],
    masks: list[MaskLike],
    image_scores: NDArray[np.float64],
) -> SplitScores:
    """The `SplitScores` of images already reordered by `ImageSplitter.split_image` (e.g. while loading)."""
    return SplitScores(
        [flat[:count] for flat, count in zip(flats, num_normal, strict=True)],
        [flat[count:] for flat, count in zip(flats, num_normal, strict=True)],
        masks,
        image_scores,
    )


def _balanced_halves(sizes: Sequence[int]) -> tuple[list[int], list[int]]:
    """Image indices in two groups of about equal pixel counts (largest first, each to the lighter group)."""
    groups: tuple[list[int], list[int]] = ([], [])
    loads = [0, 0]
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lighter = 0 if loads[0] <= loads[1] else 1
        groups[lighter].append(index)
        loads[lighter] += sizes[index]
    return sorted(groups[0]), sorted(groups[1])


def pixel_pass(
    map_list: Sequence[NDArray[Any]],
    mask_list: Sequence[NDArray[np.bool_]],
    fpr_limits: Sequence[float],
    *,
    record_curve: bool = False,
    walk: bool = True,
    curves: bool = False,
) -> PixelPass:
    """Every pixel metric of validated maps and masks, which are never modified: `split_scores` on a copy, then
    `split_pixel_pass`. `record_curve` also returns the full PRO curve (`pro_curve`); `curves` the curves and
    histograms of `split_pixel_pass`."""
    if record_curve:
        num_pos_per_image = [int(np.count_nonzero(mask)) for mask in mask_list]
        _check_classes(sum(num_pos_per_image), sum(m.size for m in map_list) - sum(num_pos_per_image))
        return _sorted_pass(map_list, mask_list, validate_limits(fpr_limits), num_pos_per_image)
    return split_pixel_pass(split_scores(map_list, mask_list), fpr_limits, walk=walk, curves=curves)


def _check_classes(total_pos: int, total_neg: int) -> None:
    if total_pos == 0:
        msg = "No anomalous pixel in any mask: the pixel metrics need at least one anomalous image."
        raise MetricInputError(msg)
    if total_neg == 0:
        msg = "No normal pixel in any mask: the pixel metrics need normal pixels as well."
        raise MetricInputError(msg)


def split_pixel_pass(
    split: SplitScores,
    fpr_limits: Sequence[float],
    *,
    walk: bool = True,
    curves: bool = False,
    defects: DefectSets | None = None,
    spro_limits: Sequence[float] = (),
) -> PixelPass:
    """Every pixel metric from the split scores: one merge per image and one walk.

    The anomalous pixels (a few percent) are sorted with their PRO weights and grouped by distinct score. Each
    image's sorted normal scores are merged with the distinct anomalous scores to count how many lie between
    and at them (two threads, `_pixel_kernels.merge_count`); one walk over the distinct anomalous scores then
    gives pixel AUROC, every AUPRO, AP and F1max (`_pixel_kernels.counts_walk`). Only those counts matter to
    these metrics: between two distinct anomalous scores the ROC and PRO curves are straight or flat, recall is
    constant, and F1 only falls. A pass over each sorted array gives the moments.

    With `curves` (and `walk`), the result also holds the ROC, precision-recall and PRO curves from the same
    counts, and the histograms of the normal and anomalous scores (`curves.PixelCurves`); the metrics are the
    same bit for bit.

    With `defects` (MVTec LOCO's, and `walk`), the merge also counts each group of images apart, and each of
    their evaluations gets its AU-sPRO at every `spro_limits` (`spro.spro_areas`) from the same counts: no
    second sort and no second merge.

    Raises:
        MetricInputError: no anomalous or no normal pixel (when walking), an FPR limit outside (0, 1], or an
            sPRO evaluation without normal pixels.
    """
    from ._pixel_kernels import counts_walk, distinct_index_of, group_anomalous, merge_count

    limits = validate_limits(fpr_limits)
    total_pos = sum(values.size for values in split.anomalous)
    total_neg = sum(values.size for values in split.normal)
    if walk:
        _check_classes(total_pos, total_neg)
    dtype = split.normal[0].dtype if split.normal else np.dtype(np.float32)
    pos_scores = np.concatenate(split.anomalous) if split.anomalous else np.empty(0, dtype=dtype)
    anomalous_moments = moments_of(pos_scores)
    halves = _balanced_halves([values.size for values in split.normal])

    def normal_moments_of(indices: list[int]) -> Moments:
        moments = EMPTY_MOMENTS
        for index in indices:
            moments = moments.merge(moments_of(split.normal[index], is_sorted=True))
        return moments

    empty = np.empty(0, dtype=np.float64)
    if not walk:
        with ThreadPoolExecutor(max_workers=2) as pool:
            first, second = pool.map(normal_moments_of, halves)
        nan = float("nan")
        moments = first.merge(second)
        return PixelPass(nan, np.full(limits.size, nan), nan, nan, nan, moments, anomalous_moments, empty, empty)

    pos_weights = np.empty(total_pos, dtype=np.float64)
    num_regions = 0
    pos_at = 0
    for values, mask in zip(split.anomalous, split.masks, strict=True):
        if values.size:
            weights, regions = region_weights(mask)
            pos_weights[pos_at : pos_at + values.size] = weights
            num_regions += regions
            pos_at += values.size
    order = np.argsort(pos_scores, kind="stable")
    sorted_scores = pos_scores[order]
    distinct, num_positive, pro_weight = group_anomalous(sorted_scores, pos_weights[order])
    # sPRO finds each defect pixel's place among the distinct scores from this one sort.
    distinct_index = distinct_index_of(sorted_scores, order) if defects is not None else None
    del order, pos_scores, pos_weights, sorted_scores
    # Each group of images (sPRO's evaluations pool some of them) is counted apart; one group otherwise.
    image_group = defects.image_group if defects is not None else np.zeros(len(split.normal), dtype=np.int64)
    num_groups = defects.num_groups if defects is not None else 1

    def count(indices: list[int]) -> tuple[NDArray[np.int64], NDArray[np.int64], Moments]:
        between = np.zeros((num_groups, distinct.size + 1), dtype=np.int64)
        tied = np.zeros((num_groups, distinct.size), dtype=np.int64)
        for index in indices:
            group = image_group[index]
            merge_count(split.normal[index], distinct, between[group], tied[group])
        return between, tied, normal_moments_of(indices)

    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(count, halves))
    (group_between, group_tied, first_moments), (second_between, second_tied, second_moments) = parts
    group_between += second_between
    group_tied += second_tied
    del parts, second_between, second_tied
    between = group_between[0] if num_groups == 1 else group_between.sum(axis=0)
    tied = group_tied[0] if num_groups == 1 else group_tied.sum(axis=0)
    normal_moments = first_moments.merge(second_moments)
    twice_auc, areas, average_precision, f1_max, f1_threshold = counts_walk(
        between, tied, num_positive, pro_weight, distinct, float(num_regions), limits
    )
    auroc = float(twice_auc) / (2.0 * float(total_pos) * float(total_neg))
    spro_values: dict[str, NDArray[np.float64]] = {}
    if defects is not None:
        from .spro import spro_areas

        assert distinct_index is not None
        anomalous_offsets = np.zeros(len(split.anomalous) + 1, dtype=np.int64)
        np.cumsum([values.size for values in split.anomalous], out=anomalous_offsets[1:])
        spro_values = spro_areas(
            defects, anomalous_offsets, distinct_index, group_between, group_tied, validate_limits(spro_limits)
        )
        del distinct_index
    del group_between, group_tied
    pixel_curves = None
    if curves:
        from .curves import PixelCurves, pixel_histograms

        edges, normal_counts, anomalous_counts = pixel_histograms(
            split.normal,
            distinct,
            num_positive,
            min(normal_moments.minimum, anomalous_moments.minimum),
            max(normal_moments.maximum, anomalous_moments.maximum),
        )
        pixel_curves = PixelCurves(
            distinct,
            between,
            tied,
            num_positive,
            pro_weight,
            float(num_regions),
            edges,
            normal_counts,
            anomalous_counts,
        )
    return PixelPass(
        auroc,
        areas / limits,
        float(average_precision),
        float(f1_max),
        float(f1_threshold),
        normal_moments,
        anomalous_moments,
        empty,
        empty,
        pixel_curves,
        spro_values,
    )


def _sorted_pass(
    map_list: Sequence[NDArray[Any]],
    mask_list: Sequence[NDArray[np.bool_]],
    limits: NDArray[np.float64],
    num_pos_per_image: Sequence[int],
) -> PixelPass:
    """The PRO curve with one point per distinct score, normal ones included (`pro_curve`): every score is
    split by the masks and sorted, then merged from the top down. The other metrics come from `pixel_pass`."""
    from ._pixel_kernels import pro_curve_points, split_by_mask

    dtype = work_dtype(map_list)
    total_pos = sum(num_pos_per_image)
    total_neg = sum(m.size for m in map_list) - total_pos
    neg_scores = empty_array(total_neg, dtype)
    pos_scores = np.empty(total_pos, dtype=dtype)
    pos_weights = np.empty(total_pos, dtype=np.float64)
    num_regions = 0
    neg_at = pos_at = 0
    for amap, mask, num_pos in zip(map_list, mask_list, num_pos_per_image, strict=True):
        num_neg = amap.size - num_pos
        split_by_mask(
            np.ascontiguousarray(amap, dtype=dtype).ravel(),
            np.ascontiguousarray(mask).ravel(),
            neg_scores[neg_at : neg_at + num_neg],
            pos_scores[pos_at : pos_at + num_pos],
        )
        if num_pos:
            weights, regions = region_weights(mask)
            pos_weights[pos_at : pos_at + num_pos] = weights
            num_regions += regions
        pos_at += num_pos
        neg_at += num_neg
    neg_a, neg_b = _sort_in_two_halves(neg_scores)
    order = np.argsort(pos_scores, kind="stable")
    pos_scores, pos_weights = pos_scores[order], pos_weights[order]
    curve_fpr = np.empty(total_neg + total_pos + 2, dtype=np.float64)
    curve_pro = np.empty_like(curve_fpr)
    num_points = pro_curve_points(neg_a, neg_b, pos_scores, pos_weights, float(num_regions), curve_fpr, curve_pro)
    result = pixel_pass(map_list, mask_list, limits.tolist())
    return PixelPass(
        result.auroc,
        result.aupros,
        result.average_precision,
        result.f1_max,
        result.f1_max_threshold,
        result.normal_moments,
        result.anomalous_moments,
        curve_fpr[:num_points],
        curve_pro[:num_points],
    )
