"""sPRO, MVTec LOCO AD's localization metric (the saturated per-region overlap), exact over every threshold.

This follows the official MVTec LOCO evaluation code (``src/metrics.py``, ``src/aggregation.py``,
``evaluate_experiment.py``):

- each ground-truth defect is its own mask file (not a connected component), with the saturation area of its
  type from ``defects_config.json``: ``int(s * area)`` for a relative saturation s, ``min(s, area)`` for an
  absolute one (`saturation_area`);
- sPRO(t) is the mean over every defect of the set of min(overlap_d(t) / saturation_d, 1), where overlap_d(t)
  counts the defect's pixels predicted anomalous;
- the FPR pools the pixels of every image of the set that lie outside the union of that image's defects;
- the area under the sPRO-FPR curve up to the limit U (trapezoid rule, the curve interpolated at U), divided by
  U;
- the headline is the mean of two such evaluations: the logical anomalies with the good images, and the
  structural anomalies with the good images.

Two departures, both documented in the README. The official code evaluates a finite set of thresholds, refined
until neighbouring curve points are close (its ``--curve_max_distance``), so its numbers are approximate (off by
about 1e-4) and slow; here the curve has a point at every distinct score, from one sort and one merge shared
with the other pixel metrics, so it is exact. The official code counts a pixel when ``a > t``, this tool when
``a >= t``: over every distinct threshold both give the same curve points (``a > t`` at one distinct score is
``a >= t`` at the next), so the same areas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._inputs import MapsLike, MetricInputError, validate_maps
from .pro import percent_suffix

DEFAULT_SPRO_LIMITS: tuple[float, ...] = (0.05,)
"""MVTec LOCO's headline FPR limit of the sPRO integral."""

SPRO_EVALUATIONS: tuple[str, ...] = ("logical", "structural")
"""The two evaluations whose mean is the headline, each one of LOCO's anomaly folders with the good images."""


def spro_key(fpr_limit: float, evaluation: str | None = None) -> str:
    """Summary key of an sPRO limit: ``spro_05`` (the mean of the evaluations), ``spro_logical_05``.

    >>> spro_key(0.05), spro_key(0.3, "structural")
    ('spro_05', 'spro_structural_30')
    """
    return "spro_" + (f"{evaluation}_" if evaluation else "") + percent_suffix(fpr_limit)


def saturation_area(defect_area: int, saturation_threshold: float, relative: bool) -> int:
    """The saturation area of one defect in pixels, as the official code computes it: ``int(s * area)`` for a
    relative saturation s, else ``min(s, area)``.

    >>> saturation_area(17, 0.5, True), saturation_area(17, 100, False), saturation_area(170, 100, False)
    (8, 17, 100)
    """
    if relative:
        return int(saturation_threshold * defect_area)
    return int(min(saturation_threshold, defect_area))


@dataclass(frozen=True)
class DefectSets:
    """The ground-truth defects of a set of images, and which images each evaluation pools (for `split_pixel_pass`).

    Attributes:
        image: (D,) int64, the image of each defect.
        positions: D arrays of int64, each defect's pixels as indices into its image's anomalous scores
            (`_pass.SplitScores.anomalous`: the union of the image's defects, in row-major order).
        saturation: (D,) int64, each defect's saturation area (`saturation_area`), >= 1.
        image_group: (N,) int64, the group of each image (0 for the good images, say, 1 and 2 for the anomaly
            folders); an evaluation pools groups.
        evaluations: evaluation name -> the groups it pools, e.g. ``{"logical": (0, 1), "structural": (0, 2)}``.
    """

    image: NDArray[np.int64]
    positions: Sequence[NDArray[np.int64]]
    saturation: NDArray[np.int64]
    image_group: NDArray[np.int64]
    evaluations: Mapping[str, tuple[int, ...]]

    @property
    def num_groups(self) -> int:
        return int(self.image_group.max()) + 1 if self.image_group.size else 1


def spro_areas(
    defects: DefectSets,
    anomalous_offsets: NDArray[np.int64],
    distinct_index: NDArray[np.int64],
    group_between: NDArray[np.int64],
    group_tied: NDArray[np.int64],
    fpr_limits: NDArray[np.float64],
) -> dict[str, NDArray[np.float64]]:
    """Each evaluation's AU-sPRO at each limit, from the shared pixel pass's counts.

    Args:
        defects: the defects and evaluations.
        anomalous_offsets: (N + 1,) where each image's anomalous pixels start among all of them, in image order.
        distinct_index: each anomalous pixel's index among the distinct anomalous scores.
        group_between, group_tied: (G, M + 1) and (G, M), the normal scores of each group's images between and
            at the distinct anomalous scores (`_pixel_kernels.merge_count`).
        fpr_limits: the FPR limits, each in (0, 1].

    Returns:
        evaluation name -> (limits,) AU-sPRO, normalized by each limit; NaN for an evaluation without a defect.

    Raises:
        MetricInputError: an evaluation without normal pixels.
    """
    from ._pixel_kernels import overlap_areas, saturated_overlap_weights

    num_distinct = group_tied.shape[1]
    results: dict[str, NDArray[np.float64]] = {}
    for name, groups in defects.evaluations.items():
        chosen = np.flatnonzero(np.isin(defects.image_group[defects.image], groups))
        if chosen.size == 0:
            results[name] = np.full(fpr_limits.size, np.nan)
            continue
        between = group_between[list(groups)].sum(axis=0)
        tied = group_tied[list(groups)].sum(axis=0)
        if int(between.sum()) + int(tied.sum()) == 0:
            raise MetricInputError(f"sPRO ({name}): no normal pixel in its images, so its FPR is undefined.")
        pixels = [anomalous_offsets[defects.image[d]] + defects.positions[d] for d in chosen.tolist()]
        offsets = np.zeros(chosen.size + 1, dtype=np.int64)
        np.cumsum([p.size for p in pixels], out=offsets[1:])
        weights = saturated_overlap_weights(
            distinct_index, offsets, np.concatenate(pixels), defects.saturation[chosen], num_distinct
        )
        results[name] = overlap_areas(between, tied, weights, float(chosen.size), fpr_limits) / fpr_limits
    return results


def spro(
    maps: MapsLike,
    defect_masks: Sequence[Sequence[NDArray[np.bool_]]],
    saturation_areas: Sequence[Sequence[int]],
    fpr_limits: Sequence[float] = DEFAULT_SPRO_LIMITS,
) -> NDArray[np.float64]:
    """The area under the sPRO curve up to each FPR limit, divided by the limit (MVTec LOCO's AU-sPRO), over one
    set of images: exact, at every distinct score.

    Args:
        maps: N anomaly maps, as for every metric ((N, H, W) or a sequence of 2-D arrays).
        defect_masks: per image, its defects' boolean masks in the map's shape (none for a good image); defects
            of one image may overlap.
        saturation_areas: per image, each defect's saturation area in pixels (`saturation_area`), >= 1.
        fpr_limits: FPR limits, each in (0, 1].

    Returns:
        (limits,) float64.

    Raises:
        MetricInputError: mismatched shapes or counts, a saturation area < 1, no defect, or no normal pixel.

    Examples:
        One defect of 2 pixels saturating at 1: it is saturated as soon as its best pixel (0.9) is in, before
        any normal pixel.

        >>> maps = np.array([[[0.1, 0.9], [0.8, 0.3]]], dtype=np.float32)
        >>> defect = np.array([[False, True], [True, False]])
        >>> spro(maps, [[defect]], [[1]], fpr_limits=(1.0,)).tolist()
        [1.0]
    """
    from ._pass import split_pixel_pass, split_scores

    map_list = validate_maps(maps)
    if len(defect_masks) != len(map_list) or len(saturation_areas) != len(map_list):
        raise MetricInputError(
            f"spro needs one list of defect masks and one of saturation areas per map: got {len(map_list)} maps, "
            f"{len(defect_masks)} and {len(saturation_areas)} lists."
        )
    unions: list[NDArray[np.bool_]] = []
    image: list[int] = []
    positions: list[NDArray[np.int64]] = []
    saturation: list[int] = []
    for index, (amap, masks, areas) in enumerate(zip(map_list, defect_masks, saturation_areas, strict=True)):
        bool_masks = [np.asarray(mask, dtype=bool) for mask in masks]
        if len(bool_masks) != len(areas) or any(mask.shape != amap.shape for mask in bool_masks):
            raise MetricInputError(f"image {index}: each defect needs a mask of the map's shape and a saturation area.")
        union = np.zeros(amap.shape, dtype=bool)
        for mask in bool_masks:
            union |= mask
        unions.append(union)
        for mask, area in zip(bool_masks, areas, strict=True):
            if int(area) < 1:
                raise MetricInputError(f"image {index}: a saturation area must be at least 1 pixel, got {area}.")
            image.append(index)
            positions.append(np.flatnonzero(mask[union]).astype(np.int64))
            saturation.append(int(area))
    if not image:
        raise MetricInputError("spro needs at least one defect.")
    defects = DefectSets(
        np.array(image, dtype=np.int64),
        positions,
        np.array(saturation, dtype=np.int64),
        np.zeros(len(map_list), dtype=np.int64),
        {"all": (0,)},
    )
    result = split_pixel_pass(split_scores(map_list, unions), (), defects=defects, spro_limits=fpr_limits)
    return result.spro["all"]
