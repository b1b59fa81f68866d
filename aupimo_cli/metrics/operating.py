"""Operating points: thresholds chosen on validation scores, and the rates they give (DESIGN section 6).

A part is *rejected* when its score is ``>=`` the threshold, every comparison made in float32 (the maps'
dtype). FRR, the false reject rate, is the share of normal parts rejected; FAR, the false accept (escape) rate,
the share of defective parts accepted.

- `threshold_at_frr`: the lowest float32 threshold that rejects at most floor(f * n) of n validation normal
  scores (the smallest float32 strictly above the (k + 1)-th largest), ties all on one side.
- `threshold_at_far`: the highest threshold that accepts at most floor(f * m) of m defective scores (the
  (k + 1)-th smallest).
- k = floor(f * n) is computed exactly, from the decimal f as written (``fractions.Fraction(str(f))``), so that
  0.29 * 100 gives 29, not 28.
- `pg_n` and `pb_n` are anomalib's PGn and PBn (test-set, oracle figures), with torch's quantile arithmetic
  reproduced exactly (torch 2.14 on a CPU with AVX2, see `_torch_quantile32`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._masks import MaskLike
from ._inputs import MapsLike, MasksLike, MetricInputError, validate_pair, validate_scores_labels
from ._select_kernels import kth_smallest32


def allowed_count(rate: float, count: int, what: str = "rate") -> int:
    """floor(rate * count), exactly: the number of items a rate allows, from the decimal rate as written.

    Raises:
        MetricInputError: `rate` outside [0, 1) (1 would allow every item: use a manual threshold instead).

    Examples:
        >>> 0.29 * 100, allowed_count(0.29, 100)
        (28.999999999999996, 29)
        >>> allowed_count(0.07, 10**8)
        7000000
    """
    if not (isinstance(rate, int | float) and 0 <= rate < 1) or isinstance(rate, bool):
        msg = f"The {what} must be in [0, 1), got {rate!r}; for a fixed threshold, give the threshold itself."
        raise MetricInputError(msg)
    return math.floor(Fraction(str(float(rate))) * count)


def _kth_smallest(scores: ArrayLike, k_of: Callable[[int], int], what: str) -> np.float32:
    """The k-th smallest (0-based) of the scores as float32, k = `k_of`(number of scores).

    Raises:
        MetricInputError: no scores, or scores that are not finite real numbers.
    """
    array = np.asarray(scores)
    if array.size == 0:
        raise MetricInputError(f"No {what}: a threshold needs at least one.")
    if array.dtype.kind not in "fiu":
        raise MetricInputError(f"The {what} must be finite real numbers.")
    # Scores are float32, the maps' dtype: thresholds are float32 values and every comparison is made in float32.
    value, finite = kth_smallest32(array, k_of(array.size))
    if not finite:
        raise MetricInputError(f"The {what} must be finite real numbers.")
    return value


def next_float32_above(value: float) -> float:
    """The smallest float32 strictly above float32 `value`."""
    return float(np.nextafter(np.float32(value), np.float32(np.inf)))


def float32_at_or_above(value: float) -> float:
    """The smallest float32 >= `value` (a float64 threshold such as mean + 3 std, rounded up)."""
    rounded = np.float32(value)
    return float(rounded) if float(rounded) >= value else next_float32_above(float(rounded))


def threshold_at_frr(normal_scores: ArrayLike, frr: float) -> float:
    """The threshold that rejects at most a share `frr` of these normal scores, and the lowest such one.

    With n scores and k = floor(frr * n) (exact), it is the smallest float32 strictly above the (k + 1)-th
    largest score: at most k scores are >= it, and any lower threshold rejects more. Tied scores fall all on the
    same side.

    Args:
        normal_scores: (n,) float32 scores of normal parts (or normal pixels), n >= 1.
        frr: the false reject rate allowed, in [0, 1).

    Returns:
        The threshold, a float32 value (as a Python float); parts with score >= it are rejected.

    Examples:
        >>> threshold_at_frr([0.1, 0.2, 0.3, 0.4], 0.25) > 0.3  # rejects only 0.4
        True
        >>> threshold_at_frr([0.1, 0.2, 0.4, 0.4], 0.25) > 0.4  # the tied 0.4 cannot be split: rejects none
        True
    """
    # The (k + 1)-th largest is at ascending position n - 1 - k.
    kth = _kth_smallest(normal_scores, lambda n: n - 1 - allowed_count(frr, n, "FRR"), "normal scores")
    return next_float32_above(float(kth))


def threshold_at_far(anomalous_scores: ArrayLike, far: float) -> float:
    """The threshold that accepts at most a share `far` of these defective scores, and the highest such one.

    With m scores and k = floor(far * m) (exact), it is the (k + 1)-th smallest score: at most k scores are
    below it, and any higher threshold accepts more.

    Args:
        anomalous_scores: (m,) float32 scores of defective parts, m >= 1.
        far: the false accept (escape) rate allowed, in [0, 1).

    Returns:
        The threshold, a float32 value; parts with score >= it are rejected.

    Examples:
        >>> threshold_at_far([0.5, 0.7, 0.9, 0.95], 0.25)  # accepts only 0.5
        0.699999988079071
    """
    return float(_kth_smallest(anomalous_scores, lambda m: allowed_count(far, m, "FAR"), "defective scores"))


def image_rates(scores: ArrayLike, labels: ArrayLike, threshold: float) -> tuple[float, float]:
    """(FRR, FAR) of image scores at a threshold: the share of normal images with score >= threshold, and the
    share of anomalous images below it, compared in float32.

    Examples:
        >>> image_rates([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.4)
        (0.5, 0.5)
    """
    values, positive = validate_scores_labels(scores, labels, "Image FRR and FAR")
    rejected = values.astype(np.float32) >= np.float32(threshold)
    return float(rejected[~positive].mean()), float((~rejected[positive]).mean())


def _round_to_float32(value: Fraction) -> np.float32:
    """The float32 nearest to the exact rational `value`, ties to even: one rounding, as a hardware FMA."""
    guess = np.float32(float(value))
    candidates = (np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf)))
    return min(candidates, key=lambda c: (abs(Fraction(float(c)) - value), int(np.float32(c).view(np.uint32)) & 1))


def _fused_multiply_add32(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    """a * b + c on float32 values, rounded once to float32 (math.fma is Python 3.13+)."""
    return _round_to_float32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


def _torch_quantile32(values: NDArray[np.float32], q: np.float32) -> np.float32:
    """``torch.quantile(values, q)`` (linear interpolation) for float32 values and a float32 q, as torch 2.14
    computes it on CPU: the rank q * (n - 1) in float64, the weight w = rank - floor(rank) rounded to float32,
    and torch's float32 lerp of the two neighbours a and b, d = b - a: ``fma(w, d, a)`` for w < 0.5 and
    ``fma(w - 1, d, b)`` otherwise, each rounded once (the AVX2 and AVX-512 kernels; the baseline kernel of
    CPUs without AVX2 rounds the product first, and can differ by one float32 step)."""
    ordered = np.sort(values.astype(np.float32))
    rank = float(np.float32(q)) * (ordered.size - 1)  # exact in float64: 24-bit q times an integer
    below, above = math.floor(rank), math.ceil(rank)
    weight = np.float32(rank - below)
    low, high = ordered[below], ordered[above]
    difference = np.float32(high - low)
    if abs(weight) < np.float32(0.5):
        return _fused_multiply_add32(weight, difference, low)
    return _fused_multiply_add32(np.float32(weight - np.float32(1)), difference, high)


def pg_n(scores: ArrayLike, labels: ArrayLike, fnr: float = 0.05) -> float:
    """PGn, "presorted good" (anomalib's ``PGn``): the share of normal parts below the threshold that misses
    a share `fnr` of the defective ones: the TNR at a fixed FNR, on the test set (an oracle figure).

    The threshold is anomalib's: ``torch.quantile`` of the defective scores at float32(fnr), reproduced in
    float32 arithmetic; normal scores are compared with ``<`` in float32.

    Examples:
        >>> pg_n([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], fnr=0.2)
        1.0
    """
    values, positive = validate_scores_labels(scores, labels, "PGn")
    if not 0 <= fnr <= 1:
        raise MetricInputError(f"The FNR of PGn must be in [0, 1], got {fnr!r}.")
    values32 = values.astype(np.float32)
    threshold = _torch_quantile32(values32[positive], np.float32(fnr))
    return float(np.mean(values32[~positive] < threshold))


def pb_n(scores: ArrayLike, labels: ArrayLike, fpr: float = 0.05) -> float:
    """PBn, "presorted bad" (anomalib's ``PBn``): the share of defective parts above the threshold that lets
    a share `fpr` of the normal ones through: the TPR at a fixed FPR, on the test set (an oracle figure).

    The threshold is anomalib's: ``torch.quantile`` of the normal scores at float32(1) - float32(fpr),
    reproduced in float32 arithmetic; defective scores are compared with ``>`` in float32.

    Examples:
        >>> pb_n([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], fpr=0.2)
        1.0
    """
    values, positive = validate_scores_labels(scores, labels, "PBn")
    if not 0 <= fpr <= 1:
        raise MetricInputError(f"The FPR of PBn must be in [0, 1], got {fpr!r}.")
    values32 = values.astype(np.float32)
    threshold = _torch_quantile32(values32[~positive], np.float32(1) - np.float32(fpr))
    return float(np.mean(values32[positive] > threshold))


@dataclass(frozen=True)
class PixelCounts:
    """Pixel counts at a threshold, per image: TP (anomalous >= t), FP (normal >= t), and the anomalous pixels.

    Attributes:
        true_positives, false_positives, anomalous: (N,) int64.
        pro: the mean over every 8-connected region of the share of its pixels >= t (anomalib's ``PRO``).
        overlap: (N,) per image, the sum over its regions of the share of their pixels >= t; regions: (N,) its
            number of regions (pro = overlap.sum() / regions.sum()).
    """

    true_positives: NDArray[np.int64]
    false_positives: NDArray[np.int64]
    anomalous: NDArray[np.int64]
    pro: float
    overlap: NDArray[np.float64]
    regions: NDArray[np.int64]

    @property
    def seg_f1(self) -> float:
        """Pooled 2 TP / (2 TP + FP + FN) over every pixel (MVTec AD 2's SegF1); 0 when nothing is predicted
        or present."""
        tp = int(self.true_positives.sum())
        fp = int(self.false_positives.sum())
        fn = int(self.anomalous.sum()) - tp
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0

    def ious(self) -> NDArray[np.float64]:
        """(N,) per-image IoU of the predicted and the true anomalous pixels; NaN for normal images."""
        union = (self.anomalous + self.false_positives).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = self.true_positives / union
        return np.where(self.anomalous > 0, ratio, np.nan)


def pixel_counts_at(
    normal_sorted: list[NDArray[Any]],
    anomalous: list[NDArray[Any]],
    masks: Sequence[MaskLike],
    threshold: float,
) -> PixelCounts:
    """`PixelCounts` from split scores (each image's normal scores sorted ascending, its anomalous scores in
    row-major mask order), comparing in float32."""
    from ._pass import region_weights

    threshold32 = np.float32(threshold)
    false_positives = np.array(
        [values.size - int(np.searchsorted(values, threshold32, side="left")) for values in normal_sorted],
        dtype=np.int64,
    )
    true_positives = np.array([int(np.count_nonzero(values >= threshold32)) for values in anomalous], dtype=np.int64)
    sizes = np.array([values.size for values in anomalous], dtype=np.int64)
    overlap = np.zeros(len(anomalous), dtype=np.float64)
    regions = np.zeros(len(anomalous), dtype=np.int64)
    for index, (values, mask) in enumerate(zip(anomalous, masks, strict=True)):
        if values.size:
            weights, regions[index] = region_weights(mask)
            overlap[index] = float(weights[values >= threshold32].sum())
    num_regions = int(regions.sum())
    pro = float(overlap.sum()) / num_regions if num_regions else math.nan
    return PixelCounts(true_positives, false_positives, sizes, pro, overlap, regions)


def _split(maps: MapsLike, masks: MasksLike) -> tuple[list[NDArray[Any]], list[NDArray[Any]], list[NDArray[np.bool_]]]:
    map_list, mask_list = validate_pair(maps, masks)
    normal = [np.sort(np.asarray(m, dtype=np.float32)[~k]) for m, k in zip(map_list, mask_list, strict=True)]
    anomalous = [np.asarray(m, dtype=np.float32)[k] for m, k in zip(map_list, mask_list, strict=True)]
    return normal, anomalous, mask_list


def seg_f1(maps: MapsLike, masks: MasksLike, threshold: float) -> float:
    """SegF1 (MVTec AD 2): 2 TP / (2 TP + FP + FN) over every pixel of every image, a pixel being predicted
    anomalous when its score is >= `threshold` (in float32).

    Examples:
        >>> seg_f1(np.array([[[0.1, 0.9], [0.6, 0.3]]], dtype=np.float32), np.array([[[0, 1], [1, 0]]]), 0.5)
        1.0
    """
    return pixel_counts_at(*_split(maps, masks), threshold).seg_f1


def pro_at_threshold(maps: MapsLike, masks: MasksLike, threshold: float) -> float:
    """The mean over every 8-connected region of every mask of the share of its pixels >= `threshold`
    (anomalib's ``PRO``, which uses ``>``: the two differ only where a score equals the threshold).

    Raises:
        MetricInputError: no anomalous region.

    Examples:
        >>> maps = np.array([[[0.9, 0.1, 0.0, 0.0], [0.0, 0.0, 0.0, 0.8]]], dtype=np.float32)
        >>> pro_at_threshold(maps, np.array([[[1, 1, 0, 0], [0, 0, 0, 1]]]), 0.5)  # half of one, all of the other
        0.75
    """
    counts = pixel_counts_at(*_split(maps, masks), threshold)
    if math.isnan(counts.pro):
        raise MetricInputError("No anomalous region in any mask: PRO at a threshold needs one.")
    return counts.pro
