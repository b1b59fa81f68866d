"""Pixel AUROC and AUPRO (MVTec AD's official AU-PRO) from one sort and one merge.

AUPRO follows the official MVTec AD evaluation code to the letter:

- regions are the 8-connected components of each mask (structure ``ones((3, 3))``), never merged across
  images;
- sorting every pixel by score, descending, a normal pixel adds 1 / (number of normal pixels) to the FPR
  and a pixel of region r adds 1 / (|r| * R) to the PRO, where R counts the regions of the whole set;
- one curve point per distinct score, (0, 0) prepended and (1, 1) appended, both rates clipped at 1;
- trapezoid rule up to the FPR limit U, interpolating linearly at U, divided by U.

FPR is accumulated in float64 (the official code keeps it in float32, so the two may differ by ~1e-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._memory import empty_array
from ._inputs import MetricInputError, validate_pair, work_dtype

DEFAULT_FPR_LIMITS: tuple[float, ...] = (0.3, 0.05)


def aupro_key(fpr_limit: float) -> str:
    """Summary key of an AUPRO limit: ``aupro_30`` for 0.3, ``aupro_05`` for 0.05, ``aupro_0p5`` for 0.005.

    The suffix is 100 * U as a two-digit whole percent when it is one, and otherwise the percent with
    ``p`` for the decimal point.
    """
    percent = round(fpr_limit * 100, 9)
    if percent == int(percent):
        return f"aupro_{int(percent):02d}"
    return "aupro_" + format(percent, "g").replace(".", "p")


def _validate_limits(fpr_limits: Sequence[float]) -> NDArray[np.float64]:
    limits = np.asarray(list(fpr_limits), dtype=np.float64).reshape(-1)
    if not np.all((limits > 0) & (limits <= 1)):
        msg = f"Every AUPRO FPR limit must be in (0, 1], got {list(fpr_limits)}."
        raise MetricInputError(msg)
    return limits


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


def _pixel_pass(
    map_list: Sequence[NDArray[Any]],
    mask_list: Sequence[NDArray[np.bool_]],
    fpr_limits: Sequence[float],
    record_curve: bool,
    normal_buffer: NDArray[Any] | None = None,
) -> tuple[float, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Sort once and walk once: returns (pixel AUROC, AUPRO per limit, curve FPR, curve PRO).

    Args:
        map_list, mask_list: validated maps and boolean masks.
        fpr_limits: AUPRO limits; `record_curve` also returns the full PRO curve (else empty arrays).
        normal_buffer: where to gather and sort the normal scores; a new array by default. It may be the
            flat buffer the maps are views of, in order (see `pixel_metrics_in_place`): gathering then moves
            each normal score to a position at or before its own, so the maps are consumed, never misread.
    """
    from ._pixel_kernels import anomalous_score_walk, pro_curve_points, split_by_mask

    limits = _validate_limits(fpr_limits)
    dtype = work_dtype(map_list) if normal_buffer is None else normal_buffer.dtype
    num_pos_per_image = [int(np.count_nonzero(mask)) for mask in mask_list]
    total_pos = sum(num_pos_per_image)
    total_neg = sum(m.size for m in map_list) - total_pos
    if total_pos == 0:
        msg = "No anomalous pixel in any mask: pixel AUROC and AUPRO need at least one anomalous image."
        raise MetricInputError(msg)
    if total_neg == 0:
        msg = "No normal pixel in any mask: pixel AUROC and AUPRO need normal pixels as well."
        raise MetricInputError(msg)

    neg_scores = empty_array(total_neg, dtype) if normal_buffer is None else normal_buffer[:total_neg]
    pos_scores = np.empty(total_pos, dtype=dtype)
    pos_weights = np.empty(total_pos, dtype=np.float64)
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
        if num_pos:
            weights, regions = region_weights(mask)
            pos_weights[pos_at : pos_at + num_pos] = weights
            num_regions += regions
            pos_at += num_pos
        neg_at += num_neg

    neg_a, neg_b = _sort_in_two_halves(neg_scores)
    order = np.argsort(pos_scores, kind="stable")
    pos_scores = pos_scores[order]
    pos_weights = pos_weights[order]
    del order

    if record_curve:
        curve_fpr = np.empty(total_neg + total_pos + 2, dtype=np.float64)
        curve_pro = np.empty_like(curve_fpr)
        num_points = pro_curve_points(neg_a, neg_b, pos_scores, pos_weights, float(num_regions), curve_fpr, curve_pro)
        curve_fpr, curve_pro = curve_fpr[:num_points], curve_pro[:num_points]
    else:
        curve_fpr = curve_pro = np.empty(0, dtype=np.float64)
    twice_auc, areas = anomalous_score_walk(neg_a, neg_b, pos_scores, pos_weights, float(num_regions), limits)
    auroc = float(twice_auc) / (2.0 * float(total_pos) * float(total_neg))
    return auroc, areas / limits, curve_fpr, curve_pro


def _as_result(auroc: float, aupros: NDArray[np.float64], fpr_limits: Sequence[float]) -> dict[str, float]:
    result = {"pixel_auroc": auroc}
    for limit, value in zip(fpr_limits, aupros, strict=True):
        result[aupro_key(limit)] = float(value)
    return result


def pixel_metrics_in_place(
    map_buffer: NDArray[np.float32],
    maps: Sequence[NDArray[np.float32]],
    masks: Any,
    fpr_limits: Sequence[float] = DEFAULT_FPR_LIMITS,
) -> dict[str, float]:
    """`pixel_metrics` that sorts inside the maps' own memory instead of a copy: **it destroys the maps**.

    For callers that own their maps, such as the command line, which computes everything else first. It
    saves a float32 copy of every score (the largest allocation of `pixel_metrics`).

    Args:
        map_buffer: flat float32 buffer of which `maps` are consecutive C-contiguous views, in order from
            its start.
        maps, masks, fpr_limits: as in `pixel_metrics`.
    """
    map_list, mask_list = validate_pair(maps, masks)
    if map_buffer.dtype != np.float32 or map_buffer.ndim != 1:
        raise ValueError("`map_buffer` must be a flat float32 array.")
    base = map_buffer.__array_interface__["data"][0]
    offset = 0
    for index, amap in enumerate(map_list):
        if (
            amap.dtype != np.float32
            or not amap.flags.c_contiguous
            or (amap.__array_interface__["data"][0] != base + 4 * offset)
        ):
            raise ValueError(f"`maps[{index}]` is not the next float32 view of `map_buffer`.")
        offset += amap.size
    if offset > map_buffer.size:
        raise ValueError("`maps` extend past the end of `map_buffer`.")
    auroc, aupros, _, _ = _pixel_pass(map_list, mask_list, fpr_limits, record_curve=False, normal_buffer=map_buffer)
    return _as_result(auroc, aupros, fpr_limits)


def pixel_metrics(maps: Any, masks: Any, fpr_limits: Sequence[float] = DEFAULT_FPR_LIMITS) -> dict[str, float]:
    """Pixel AUROC and the AUPRO at each FPR limit, from one sort and one merge of all pixels.

    Args:
        maps: anomaly maps, float or integer, (N, H, W) or a sequence of N 2-D arrays (shapes may differ
            per image); higher = more anomalous.
        masks: ground truth with the same shapes, bool or integer; nonzero = anomalous.
        fpr_limits: FPR limits U of the AUPRO integrals, each in (0, 1].

    Returns:
        ``{"pixel_auroc": float, "aupro_30": float, "aupro_05": float}`` for the default limits; the key
        of each limit is given by `aupro_key`.

    Raises:
        MetricInputError: invalid shapes or dtypes, a non-finite score, no anomalous or no normal pixel.
    """
    auroc, aupros, _, _ = _pixel_pass(*validate_pair(maps, masks), fpr_limits, record_curve=False)
    return _as_result(auroc, aupros, fpr_limits)


def aupro(maps: Any, masks: Any, fpr_limit: float = 0.3) -> float:
    """Area under the PRO curve up to `fpr_limit`, divided by `fpr_limit` (MVTec AD's AU-PRO).

    See `pixel_metrics` for the arguments; use it directly to get several limits from one pass.
    """
    _, aupros, _, _ = _pixel_pass(*validate_pair(maps, masks), (fpr_limit,), record_curve=False)
    return float(aupros[0])


def pro_curve(maps: Any, masks: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The PRO curve, as in the official MVTec AD evaluation.

    Returns:
        (fpr, pro): float64 arrays of the same length, one point per distinct score in descending score
        order (so ascending FPR), with (0, 0) first and (1, 1) last.
    """
    _, _, fpr, pro = _pixel_pass(*validate_pair(maps, masks), (), record_curve=True)
    return fpr, pro
