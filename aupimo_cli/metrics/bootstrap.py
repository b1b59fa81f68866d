"""Exact bootstrap confidence intervals of every metric, without re-sorting a pixel (DESIGN section 7).

**Resampling.** Images are drawn with replacement, the normal ones among the normal and the anomalous ones among
the anomalous (stratified: each replicate keeps both counts), B times, from ``numpy.random.default_rng(seed)``:
for replicate b, ``integers(0, n_normal, n_normal)`` then ``integers(0, n_anomalous, n_anomalous)``, drawn for
all replicates at once, normal first (`Resampling.weights`). A replicate is a multiset: an image drawn twice
counts twice, with its pixels and its regions. It is held as integer weights w (B, N), the times each image
was drawn. The interval is the percentile interval at the level asked for (``np.quantile``, linear).

**Exact replicates.** Every replicate's value equals the metric recomputed on its multiset (tested by brute
force). Only per-image quantities are computed from the pixels, once:

- *Pixel AUROC* is a quadratic form. With U_ij the Mann-Whitney count of anomalous image i's anomalous pixels
  against image j's normal pixels (ties 1/2), a_i and n_j the pixel counts,
  AUROC(w) = sum_ij w_i w_j U_ij / ((sum_i w_i a_i) (sum_j w_j n_j)).
- *AUPRO at a limit L* walks the pooled distinct anomalous scores t_1 > ... > t_G once per image
  (`_bootstrap_kernels.sweep_column`). A replicate's FPR at t_g is sum_j w_j c_j(g) / N_w (c_j: image j's normal
  scores >= t_g) and its PRO sum_i w_i pi_i(g) / R_w (pi_i: image i's PRO sum, R_w the regions counted with
  their weights). Its curve is the pooled one's polyline: at each step a flat part (normal scores strictly
  between thresholds) and a diagonal one (normal scores tied with t_g). First each replicate's cut K, the last
  step whose FPR is <= L, is found (a coarse grid of steps, then bisection; counts by binary search in each
  image's sorted scores). Then one sweep per image, over replicates sorted by their cut, adds that image's
  terms of every replicate's area up to its cut: the area is bilinear in the weights, and summation by parts
  leaves per image only running sums that change at the anomalous scores. The partial step past the cut is
  interpolated linearly, as the trapezoid of the MVTec AD evaluation does.
- *Image AUROC, AP and F1max*: weighted counts over the distinct image scores, per replicate.
- *Mean AUPIMO*: the per-image AUPIMO values of the resampled anomalous images, with the AUPIMO thresholds
  held fixed (those depend on the normal images; recomputing them per replicate is not done).
- *Rates at thresholds* (FRR, FAR, shares, SegF1, PRO at the threshold, mean IoU): weighted sums of per-image
  counts.

Cost per replicate after the per-image pass: O(N A) for the pixel metrics (N images, A anomalous), none of it
proportional to the pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._inputs import MetricInputError
from ._pass import SplitScores, region_weights, validate_limits

GENERATOR = "numpy.random.default_rng(seed), PCG64"
# Images walked together by one sweep (`_bootstrap_kernels.sweep_columns`): the anomalous groups are read once
# per block, so that memory traffic, not arithmetic, stops dominating.
COLUMN_BLOCK = 8


@dataclass(frozen=True)
class Resampling:
    """The stratified bootstrap scheme: B replicates, a seed and the interval's level.

    Examples:
        >>> weights = Resampling(3, seed=0).weights(np.array([0, 0, 1, 1, 1]))
        >>> weights.shape, weights[:, :2].sum(axis=1).tolist(), weights[:, 2:].sum(axis=1).tolist()
        ((3, 5), [2, 2, 2], [3, 3, 3])
    """

    num_replicates: int
    seed: int = 0
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.num_replicates < 1:
            raise MetricInputError(f"The number of bootstrap replicates must be at least 1, got {self.num_replicates}.")
        if not 0 < self.level < 1:
            raise MetricInputError(f"The confidence level must be in (0, 1), got {self.level}.")

    def weights(self, labels: ArrayLike) -> NDArray[np.int64]:
        """(B, N) how many times each image is drawn in each replicate, normal images among the normal ones
        and anomalous among the anomalous (labels (N,) 0/1)."""
        flags = np.asarray(labels).astype(bool).ravel()
        rng = np.random.default_rng(self.seed)
        weights = np.zeros((self.num_replicates, flags.size), dtype=np.int64)
        for stratum in (np.flatnonzero(~flags), np.flatnonzero(flags)):
            if stratum.size == 0:
                continue
            draws = rng.integers(0, stratum.size, size=(self.num_replicates, stratum.size))
            rows = np.repeat(np.arange(self.num_replicates), stratum.size)
            counts = np.bincount(rows * stratum.size + draws.ravel(), minlength=self.num_replicates * stratum.size)
            weights[:, stratum] = counts.reshape(self.num_replicates, stratum.size)
        return weights

    def to_json(self) -> dict[str, Any]:
        """The scheme as ``provenance.json`` records it."""
        return {
            "replicates": self.num_replicates,
            "seed": self.seed,
            "level": self.level,
            "strata": ["normal images", "anomalous images"],
            "generator": GENERATOR,
            "draws": "integers(0, n, size=(replicates, n)) for the normal stratum, then the anomalous one",
            "interval": "percentile, numpy.quantile (linear)",
        }


def percentile_interval(values: NDArray[np.float64], level: float) -> tuple[float | None, float | None]:
    """The percentile interval of replicate values at `level`; None when a replicate is undefined (NaN).

    Examples:
        >>> percentile_interval(np.arange(11.0), 0.5)
        (2.5, 7.5)
    """
    if values.size == 0 or not np.isfinite(values).all():
        return None, None
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------------------
# Image scores.
# ---------------------------------------------------------------------------------------------------------


def image_auroc_replicates(scores: ArrayLike, labels: ArrayLike, weights: NDArray[np.int64]) -> NDArray[np.float64]:
    """(B,) image AUROC of each replicate: the weighted Mann-Whitney statistic (ties 1/2)."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(labels).astype(bool).ravel()
    pos, neg = values[positive], values[~positive]
    twice = 2 * (pos[:, None] > neg[None, :]).astype(np.int64) + (pos[:, None] == neg[None, :])
    w_pos = weights[:, positive].astype(np.float64)
    w_neg = weights[:, ~positive].astype(np.float64)
    numerator = np.einsum("bi,ij,bj->b", w_pos, twice.astype(np.float64), w_neg)
    return numerator / (2.0 * w_pos.sum(axis=1) * w_neg.sum(axis=1))


def image_precision_replicates(
    scores: ArrayLike, labels: ArrayLike, weights: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(B,) image AP and (B,) image F1max of each replicate, a part predicted anomalous when its score is >= the
    threshold: weighted true and false positives at each distinct score, from the highest down."""
    values = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(labels).astype(bool).ravel()
    order = np.argsort(-values, kind="stable")
    distinct_start = np.flatnonzero(np.r_[True, np.diff(values[order]) != 0])
    w = weights[:, order].astype(np.float64)
    tp = np.add.reduceat(w * positive[order], distinct_start, axis=1).cumsum(axis=1)
    fp = np.add.reduceat(w * ~positive[order], distinct_start, axis=1).cumsum(axis=1)
    total_pos = tp[:, -1:]
    recall_steps = np.diff(tp, axis=1, prepend=0.0) / total_pos
    # A distinct score whose images were all left out of a replicate adds no step there (0 / 0 stays out).
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    average_precision = (recall_steps * precision).sum(axis=1)
    f1 = 2.0 * tp / (tp + fp + total_pos)
    return average_precision, f1.max(axis=1)


def mean_replicates(per_image: ArrayLike, chosen: ArrayLike, weights: NDArray[np.int64]) -> NDArray[np.float64]:
    """(B,) the mean of `per_image` (N,) over the images `chosen` (N,) bool of each replicate, each drawn image
    counted as often as drawn: the mean AUPIMO of the anomalous images, or a rate over the normal images.

    Each replicate's mean is ``np.mean`` of its multiset of values, in image order, so that it equals the
    metric's own mean on that multiset bit for bit.
    """
    mask = np.asarray(chosen).astype(bool).ravel()
    values = np.asarray(per_image, dtype=np.float64).ravel()[mask]
    counts = weights[:, mask]
    return np.array([np.mean(np.repeat(values, row)) for row in counts], dtype=np.float64)


def ratio_replicates(numerator: ArrayLike, denominator: ArrayLike, weights: NDArray[np.int64]) -> NDArray[np.float64]:
    """(B,) sum_i w_i numerator_i / sum_i w_i denominator_i of each replicate (pooled rates such as SegF1's
    parts or PRO at a threshold); NaN where the denominator is 0."""
    w = weights.astype(np.float64)
    top = w @ np.asarray(numerator, dtype=np.float64)
    bottom = w @ np.asarray(denominator, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


# ---------------------------------------------------------------------------------------------------------
# Pixel AUROC and AUPRO.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PixelReplicates:
    """Pixel AUROC (B,) and AUPRO (L, B) of each replicate, in the order of the limits."""

    auroc: NDArray[np.float64]
    aupros: NDArray[np.float64]


@dataclass(frozen=True)
class _Groups:
    """The anomalous pixels grouped by distinct score (descending) and image."""

    thresholds: NDArray[Any]
    start: NDArray[np.int64]
    row: NDArray[np.int32]
    count: NDArray[np.int32]
    weight: NDArray[np.float64]


def _groups(split: SplitScores, anomalous_images: NDArray[np.int64]) -> tuple[_Groups, NDArray[np.float64]]:
    """The (distinct score, anomalous image) groups of every anomalous pixel, and each anomalous image's number
    of regions."""
    scores, rows, pro = [], [], []
    regions = np.zeros(anomalous_images.size, dtype=np.float64)
    for row, image in enumerate(anomalous_images):
        values = split.anomalous[image]
        weights, regions[row] = region_weights(split.masks[image])
        scores.append(values)
        rows.append(np.full(values.size, row, dtype=np.int64))
        pro.append(weights)
    all_scores = np.concatenate(scores)
    all_rows = np.concatenate(rows)
    all_pro = np.concatenate(pro)
    # Descending score, then image row: one entry per (score, image).
    order = np.lexsort((all_rows, -all_scores.astype(np.float64)))
    sorted_scores, sorted_rows = all_scores[order], all_rows[order]
    new_entry = np.r_[True, (np.diff(sorted_scores) != 0) | (np.diff(sorted_rows) != 0)]
    entry_start = np.flatnonzero(new_entry)
    new_step = np.r_[True, np.diff(sorted_scores[entry_start]) != 0]
    thresholds = sorted_scores[entry_start][new_step]
    start = np.r_[np.flatnonzero(new_step), entry_start.size].astype(np.int64)
    count = np.diff(np.r_[entry_start, sorted_scores.size]).astype(np.int64)
    weight = np.add.reduceat(all_pro[order], entry_start)
    rows_of_entries = sorted_rows[entry_start].astype(np.int32)
    return _Groups(thresholds, start, rows_of_entries, count.astype(np.int32), weight), regions


@dataclass(frozen=True)
class _StepQueries:
    """Steps g in 0..G+1 at which to count every image's normal scores >= t_g, prepared once for all images:
    the thresholds in ascending order (numpy then starts each binary search from the last one's result)."""

    steps: NDArray[np.int64]
    order: NDArray[np.int64]
    keys: NDArray[Any]

    @classmethod
    def of(cls, thresholds: NDArray[Any], steps: NDArray[np.int64]) -> _StepQueries:
        inside = np.clip(steps, 1, thresholds.size) - 1
        order = np.argsort(-inside, kind="stable")
        return cls(steps, order, thresholds[inside[order]])

    def counts(self, normal: NDArray[Any], num_steps: int) -> NDArray[np.int64]:
        """c(g) at each step: 0 at step 0, every score at G + 1."""
        found = np.empty(self.steps.size, dtype=np.int64)
        found[self.order] = np.searchsorted(normal, self.keys, side="left")
        counts = normal.size - found
        return np.where(self.steps <= 0, 0, np.where(self.steps > num_steps, normal.size, counts))


def _cuts(
    split: SplitScores, thresholds: NDArray[Any], weights: NDArray[np.int64], limits: NDArray[np.float64]
) -> NDArray[np.int64]:
    """(L, B) each replicate's cut at each limit: the last step g in 0..G+1 whose FPR is <= the limit.

    The FPR at step g is sum_j w_j c_j(g) / N_w, nondecreasing in g; a grid of about 4096 steps brackets each
    cut, then bisection finds it, every count an exact binary search in an image's sorted normal scores.
    """
    num_steps = thresholds.size
    w = weights.astype(np.float64)
    num_normal = np.array([values.size for values in split.normal], dtype=np.float64)
    total = w @ num_normal  # (B,) N_w
    grid = np.unique(np.r_[0, np.linspace(0, num_steps + 1, num=min(num_steps + 2, 4097)).astype(np.int64)])
    grid_queries = _StepQueries.of(thresholds, grid)
    grid_counts = np.stack([grid_queries.counts(values, num_steps) for values in split.normal])  # (N, S)
    fpr_numerators = w @ grid_counts.astype(np.float64)  # (B, S)
    cuts = np.empty((limits.size, w.shape[0]), dtype=np.int64)
    for index, limit in enumerate(limits):
        allowed = limit * total
        # The last grid point within the limit, and the next one (beyond it, or the end).
        within = (fpr_numerators <= allowed[:, None]).sum(axis=1) - 1
        low = grid[within]
        high = np.where(within + 1 < grid.size, grid[np.minimum(within + 1, grid.size - 1)], num_steps + 2)
        # Bisection on [low, high): low is within the limit, high is not (or past the end).
        while np.any(high - low > 1):
            active = high - low > 1
            middle = (low + high) // 2
            numerator = np.zeros(w.shape[0])
            queries = _StepQueries.of(thresholds, np.where(active, middle, low))
            for column, values in enumerate(split.normal):
                numerator += w[:, column] * queries.counts(values, num_steps)
            ok = numerator <= allowed
            low = np.where(active & ok, middle, low)
            high = np.where(active & ~ok, middle, high)
        cuts[index] = np.minimum(low, num_steps + 1)
    return cuts


def pixel_replicates(split: SplitScores, weights: NDArray[np.int64], fpr_limits: Sequence[float]) -> PixelReplicates:
    """Pixel AUROC and every AUPRO of each replicate, exactly, from the split scores (see the module docstring).

    Args:
        split: every image's scores split by its mask (normal ones sorted).
        weights: (B, N) the times each image is drawn in each replicate.
        fpr_limits: the AUPRO limits, each in (0, 1].

    Raises:
        MetricInputError: no anomalous pixel, or a limit outside (0, 1].
    """
    from ._bootstrap_kernels import pro_at_steps, sweep_columns

    limits = validate_limits(fpr_limits)
    anomalous_images = np.array([i for i, values in enumerate(split.anomalous) if values.size], dtype=np.int64)
    if anomalous_images.size == 0:
        raise MetricInputError("No anomalous pixel in any mask: the pixel metrics need at least one anomalous image.")
    groups, regions = _groups(split, anomalous_images)
    num_replicates, num_images = weights.shape
    w = weights.astype(np.float64)
    w_anomalous = np.ascontiguousarray(w[:, anomalous_images])
    cuts = _cuts(split, groups.thresholds, weights, limits)  # (L, B)
    event_step = cuts.ravel()
    event_replicate = np.tile(np.arange(num_replicates, dtype=np.int64), limits.size)
    order = np.argsort(event_step, kind="stable")
    event_step, event_replicate = event_step[order], event_replicate[order]

    def sweep(columns: list[int]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        twice_u = np.zeros((anomalous_images.size, num_images), dtype=np.int64)
        terms = np.zeros((event_step.size, 5), dtype=np.float64)
        for block_start in range(0, len(columns), COLUMN_BLOCK):
            block = columns[block_start : block_start + COLUMN_BLOCK]
            # One copy of the block's scores, contiguous, so that the kernel indexes one array.
            normals = np.concatenate([split.normal[column] for column in block])
            offsets = np.cumsum([0] + [split.normal[column].size for column in block]).astype(np.int64)
            block_u = np.zeros((anomalous_images.size, len(block)), dtype=np.int64)
            sweep_columns(normals, offsets, groups.thresholds, groups.start, groups.row, groups.count, groups.weight,
                          event_step, event_replicate, w_anomalous, np.ascontiguousarray(w[:, block]), block_u,
                          terms)  # fmt: skip
            twice_u[:, block] = block_u
        return twice_u, terms

    sizes = [values.size for values in split.normal]
    with ThreadPoolExecutor(max_workers=2) as pool:
        (u_first, terms_first), (u_second, terms_second) = pool.map(sweep, _halves(sizes))
    twice_u = u_first + u_second
    terms = terms_first + terms_second

    num_anomalous_pixels = np.array([split.anomalous[i].size for i in anomalous_images], dtype=np.float64)
    positives = w_anomalous @ num_anomalous_pixels
    negatives = w @ np.array(sizes, dtype=np.float64)
    auroc = np.einsum("bi,ij,bj->b", w_anomalous, twice_u.astype(np.float64), w) / (2.0 * positives * negatives)

    # Each event's PRO sums at K - 1, K and K + 1, then its area.
    queries = np.unique(np.concatenate([event_step - 1, event_step, event_step + 1]))
    snapshots = pro_at_steps(groups.start, groups.row, groups.weight, anomalous_images.size, queries)
    index_of = {int(step): i for i, step in enumerate(queries)}

    def pro_sum(steps: NDArray[np.int64]) -> NDArray[np.float64]:
        rows = np.array([index_of[int(step)] for step in steps])
        sums = np.einsum("qa,qa->q", snapshots[rows], w_anomalous[event_replicate])
        return np.where(steps <= 0, 0.0, sums)

    pro_before, pro_at, pro_after = pro_sum(event_step - 1), pro_sum(event_step), pro_sum(event_step + 1)
    region_totals = w_anomalous @ regions  # (B,) R_w
    event_negatives = negatives[event_replicate]
    event_regions = region_totals[event_replicate]
    full = (terms[:, 0] + (terms[:, 1] + 0.5 * terms[:, 2]) * pro_before + 0.5 * terms[:, 2] * pro_at) / (
        event_negatives * event_regions
    )
    event_limits = np.repeat(limits, num_replicates)[order]
    fpr_at_cut = (terms[:, 1] + terms[:, 2]) / event_negatives
    remaining = np.maximum(event_limits - fpr_at_cut, 0.0)
    flat = terms[:, 3] / event_negatives
    diagonal = terms[:, 4] / event_negatives
    y_at = pro_at / event_regions
    y_after = pro_after / event_regions
    on_flat = np.minimum(remaining, flat)
    along = np.clip(remaining - flat, 0.0, diagonal)
    with np.errstate(invalid="ignore", divide="ignore"):
        y_end = y_at + (y_after - y_at) * np.where(diagonal > 0, along / np.where(diagonal > 0, diagonal, 1.0), 0.0)
    past_end = event_step > groups.thresholds.size
    area = full + np.where(past_end, 0.0, on_flat * y_at + along * (y_at + y_end) / 2.0)
    aupros = np.empty((limits.size, num_replicates), dtype=np.float64)
    aupros.reshape(-1)[order] = area / event_limits
    return PixelReplicates(auroc, aupros)


def pixel_precision_replicates(
    split: SplitScores, weights: NDArray[np.int64], block: int = 2048
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(B,) pixel AP and (B,) pixel F1max of each replicate, exactly: one pass over the distinct anomalous scores
    per replicate (why it is opt-in). Blocks of `block` scores: every image's normal pixels at or above each
    score (a merge), each replicate's weighted false positives as one matrix product, then the replicates'
    AP and F1max advanced step by step (`_bootstrap_kernels.precision_steps`).

    Raises:
        MetricInputError: no anomalous pixel.
    """
    from numba.typed import List

    from ._bootstrap_kernels import counts_at_or_above, precision_steps

    anomalous_images = np.array([i for i, values in enumerate(split.anomalous) if values.size], dtype=np.int64)
    if anomalous_images.size == 0:
        raise MetricInputError("No anomalous pixel in any mask: the pixel metrics need at least one anomalous image.")
    groups, _ = _groups(split, anomalous_images)
    w = weights.astype(np.float64)
    w_anomalous = np.ascontiguousarray(w[:, anomalous_images])
    weights_by_image = np.ascontiguousarray(w.T)  # (N, B)
    positives = w_anomalous @ np.array([split.anomalous[i].size for i in anomalous_images], dtype=np.float64)
    normals = List(split.normal)
    positions = np.array([values.size for values in split.normal], dtype=np.int64)
    num_replicates = weights.shape[0]
    true_positives = np.zeros(num_replicates)
    average_precision = np.zeros(num_replicates)
    f1_max = np.zeros(num_replicates)
    counts = np.empty((block, len(split.normal)), dtype=np.float64)
    for start in range(0, groups.thresholds.size, block):
        stop = min(start + block, groups.thresholds.size)
        size = stop - start
        counts_at_or_above(normals, positions, groups.thresholds[start:stop], counts[:size])
        false_positives = counts[:size] @ weights_by_image  # (S, B), exact: integers below 2^53
        precision_steps(false_positives, groups.start[start : stop + 1], groups.row, groups.count, w_anomalous,
                        positives, true_positives, average_precision, f1_max)  # fmt: skip
    return average_precision, f1_max


def _halves(sizes: Sequence[int]) -> list[list[int]]:
    from ._pass import _balanced_halves

    first, second = _balanced_halves(sizes)
    return [first, second]
