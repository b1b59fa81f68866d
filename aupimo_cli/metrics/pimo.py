"""PIMO curves and per-image AUPIMO, as defined in the AUPIMO paper (sections 3.2-3.3).

- Thresholds: ``np.linspace(lo, hi, K)`` in the maps' float dtype (float32 for float32 maps), where lo and
  hi are the min and max over the **normal images' maps only**, taken as Python floats so that numpy
  computes the linspace in float64 before casting (with float32 scalars NumPy 2 computes it in float32 and
  about a third of the thresholds move by one ulp).
- Per image: FPR_i(t) = |a >= t and not y| / |not y| and TPR_i(t) = |a >= t and y| / |y|.
- Shared FPR(t): the mean of FPR_i(t) over the normal images.
- The integration range is the pair of threshold indices whose shared FPR is closest to each bound
  (``argmin |shared_fpr - bound|``, the lowest index on ties), with no interpolation.
- AUPIMO_i: trapezoid of TPR_i over ln(shared FPR) in that range, divided by ln(U / L) with the nominal
  bounds, clipped to [0, 1]. NaN for normal images.

The results equal the paper's reference code, but the work is O(pixels): the normal images' counts are
bucketed once over all thresholds, and the anomalous images' TPRs are counted only for the thresholds
inside the integration range.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._inputs import MetricInputError, image_classes_of, validate_pair, work_dtype
from .curves import PIMOCurves

SHARED_FPR_METRIC = "mean-per-image-fpr"
DEFAULT_FPR_BOUNDS: tuple[float, float] = (1e-5, 1e-4)
DEFAULT_NUM_THRESHOLDS = 300_000
# Fewer integration points than this is an error (unless forced), fewer than the second a warning.
MIN_POINTS_ERROR = 30
MIN_POINTS_WARNING = 300
# The reference warns when the FPR reached at a bound is not within this relative tolerance of it.
BOUND_RTOL = 1e-2


class FPRBoundUnreachableError(MetricInputError):
    """An FPR bound lies outside the range of shared FPRs that the normal images can produce."""

    def __init__(self, message: str, *, bound: float, smallest_fpr: float, largest_fpr: float) -> None:
        super().__init__(message)
        self.bound = bound
        self.smallest_fpr = smallest_fpr
        self.largest_fpr = largest_fpr


def _readonly(array: NDArray[Any]) -> NDArray[Any]:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class PIMOResult:
    """PIMO curves of a set of images.

    Attributes:
        thresholds: (K,) strictly increasing thresholds, in the maps' float dtype.
        shared_fpr: (K,) float64 mean per-image FPR of the normal images at each threshold (non-increasing).
        per_image_tprs: (N, K) float64 TPR of each image at each threshold; rows of normal images are NaN.
        image_classes: (N,) int32, 0 = normal, 1 = anomalous.
    """

    thresholds: NDArray[np.floating[Any]]
    shared_fpr: NDArray[np.float64]
    per_image_tprs: NDArray[np.float64]
    image_classes: NDArray[np.int32]

    def __post_init__(self) -> None:
        for name in ("thresholds", "shared_fpr", "per_image_tprs", "image_classes"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))


@dataclass(frozen=True, eq=False)
class AUPIMOResult:
    """Per-image AUPIMO scores and how they were integrated.

    Attributes:
        aupimos: (N,) float64 AUPIMO of each image, in [0, 1]; NaN for normal images.
        fpr_bounds: (lower, upper) nominal shared-FPR bounds of the integral.
        thresh_bounds: (lower, upper) thresholds of the integration range; the lower threshold is the one
            at the upper FPR bound.
        num_points: number of curve points in the integral (None when a loaded file does not record it).
        image_classes: (N,) int32, 0 = normal, 1 = anomalous.
        paths: optional (N,) image paths, in the same order as `aupimos`.
        shared_fpr_metric: how the shared FPR is built (only ``"mean-per-image-fpr"``).
        curves: the PIMO curves that were integrated, when asked for (``keep_curves``); never saved or loaded.
    """

    aupimos: NDArray[np.float64]
    fpr_bounds: tuple[float, float]
    thresh_bounds: tuple[float, float]
    num_points: int | None
    image_classes: NDArray[np.int32]
    paths: tuple[str, ...] | None = None
    shared_fpr_metric: str = field(default=SHARED_FPR_METRIC)
    curves: PIMOCurves | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aupimos", _readonly(np.asarray(self.aupimos, dtype=np.float64)))
        object.__setattr__(self, "image_classes", _readonly(np.asarray(self.image_classes, dtype=np.int32)))
        object.__setattr__(self, "fpr_bounds", (float(self.fpr_bounds[0]), float(self.fpr_bounds[1])))
        object.__setattr__(self, "thresh_bounds", (float(self.thresh_bounds[0]), float(self.thresh_bounds[1])))
        if self.paths is not None:
            object.__setattr__(self, "paths", tuple(str(p) for p in self.paths))
            if len(self.paths) != self.aupimos.shape[0]:
                msg = f"Got {len(self.paths)} paths for {self.aupimos.shape[0]} AUPIMO scores."
                raise MetricInputError(msg)
        if self.image_classes.shape != self.aupimos.shape:
            msg = "`image_classes` and `aupimos` must have the same shape (N,)."
            raise MetricInputError(msg)

    @property
    def num_images(self) -> int:
        """Number of images, normal and anomalous."""
        return int(self.aupimos.shape[0])

    @property
    def num_normal_images(self) -> int:
        """Number of normal images (their AUPIMO is NaN)."""
        return int((self.image_classes == 0).sum())

    @property
    def num_anomalous_images(self) -> int:
        """Number of anomalous images."""
        return int((self.image_classes == 1).sum())

    def to_dict(self) -> dict[str, Any]:
        """The official ``aupimos.json`` payload, keys in the reference's order (NaN for normal images)."""
        payload: dict[str, Any] = {
            "shared_fpr_metric": self.shared_fpr_metric,
            "fpr_lower_bound": self.fpr_bounds[0],
            "fpr_upper_bound": self.fpr_bounds[1],
            "num_threshs": self.num_points,
            "thresh_lower_bound": self.thresh_bounds[0],
            "thresh_upper_bound": self.thresh_bounds[1],
            "aupimos": [float(v) for v in self.aupimos],
        }
        if self.paths is not None:
            payload["paths"] = list(self.paths)
        return payload

    def to_json(self) -> str:
        """The ``aupimos.json`` text: indented like the reference, with bare ``NaN`` tokens as it writes them."""
        return json.dumps(self.to_dict(), indent=4, allow_nan=True) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the official ``aupimos.json`` format to `path` atomically (temporary file, then rename)."""
        target = Path(path)
        temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            temporary.write_text(self.to_json(), encoding="utf-8")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AUPIMOResult:
        """Read an ``aupimos.json`` file (ours, or one written by the AUPIMO paper's code).

        Image classes are deduced from the scores: NaN = normal image. ``num_threshs`` may be null, as in every
        file the AUPIMO paper published: `num_points` is then None (not recorded).
        """
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        required = (
            "fpr_lower_bound",
            "fpr_upper_bound",
            "num_threshs",
            "thresh_lower_bound",
            "thresh_upper_bound",
            "aupimos",
        )
        missing = [key for key in required if key not in payload] if isinstance(payload, dict) else required
        if missing:
            msg = f"{path} is not an aupimos.json file: missing key(s) {', '.join(missing)}."
            raise MetricInputError(msg)
        aupimos = np.array([math.nan if v is None else v for v in payload["aupimos"]], dtype=np.float64)
        paths = payload.get("paths")
        return cls(
            aupimos=aupimos,
            fpr_bounds=(payload["fpr_lower_bound"], payload["fpr_upper_bound"]),
            thresh_bounds=(payload["thresh_lower_bound"], payload["thresh_upper_bound"]),
            # The AUPIMO paper's published files hold "num_threshs": null: not recorded.
            num_points=None if payload["num_threshs"] is None else int(payload["num_threshs"]),
            image_classes=(~np.isnan(aupimos)).astype(np.int32),
            paths=None if paths is None else tuple(paths),
            shared_fpr_metric=payload.get("shared_fpr_metric", SHARED_FPR_METRIC),
        )


# ----------------------------------------------------------------------------------------------------
# building blocks


def _validate_num_thresholds(num_thresholds: int) -> int:
    if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int | np.integer) or num_thresholds < 2:
        msg = f"`num_thresholds` must be an integer >= 2, got {num_thresholds!r}."
        raise MetricInputError(msg)
    return int(num_thresholds)


def _validate_fpr_bounds(fpr_bounds: Sequence[float]) -> tuple[float, float]:
    bounds = tuple(float(b) for b in fpr_bounds)
    if len(bounds) != 2 or not (0.0 < bounds[0] < bounds[1] <= 1.0):
        msg = f"`fpr_bounds` must be (lower, upper) with 0 < lower < upper <= 1, got {tuple(fpr_bounds)}."
        raise MetricInputError(msg)
    return bounds[0], bounds[1]


def linspace_thresholds(normal_maps: Sequence[NDArray[Any]], num_thresholds: int, dtype: np.dtype[Any]) -> NDArray[Any]:
    """K thresholds linearly spaced from the min to the max score of the normal images' maps.

    The bounds are taken as Python floats so numpy computes in float64 and casts once to `dtype`.

    Raises:
        MetricInputError: all normal maps share one constant value, or rounding to `dtype` makes two thresholds
            equal (the score range is too narrow for K distinct thresholds).
    """
    low = min(m.min().item() for m in normal_maps)
    high = max(m.max().item() for m in normal_maps)
    if not low < high:
        msg = (
            f"Every normal image's map has the same constant score {low!r}: there is no threshold range "
            "to build the PIMO curves on. Check that the maps were saved correctly."
        )
        raise MetricInputError(msg)
    thresholds = np.linspace(low, high, num_thresholds, dtype=dtype)
    if not np.all(thresholds[1:] > thresholds[:-1]):
        msg = (
            f"The {num_thresholds} thresholds over the normal scores' range [{low!r}, {high!r}] are not "
            f"strictly increasing once rounded to {np.dtype(dtype).name}: the range is too narrow for that "
            "many thresholds. Use fewer thresholds (num_thresholds / --num-thresholds) or save the maps "
            "with a wider score range."
        )
        raise MetricInputError(msg)
    return thresholds


def _shared_fpr(normal_maps: Sequence[NDArray[Any]], thresholds: NDArray[Any]) -> NDArray[np.float64]:
    """Mean over the normal images of their FPR at every threshold, shape (K,), float64.

    Summed image by image in order and then divided, which is how ``ndarray.mean(axis=0)`` reduces the
    reference's (N_normal, K) array, so the values agree to the last bit. Each image's pixels are bucketed
    by two threads into two integer histograms (exact in any order), reused from image to image.
    """
    from ._pimo_kernels import add_fpr_from_histograms, add_to_histogram

    num_thresholds = thresholds.shape[0]
    hist_a = np.empty(num_thresholds + 1, dtype=np.int64)
    hist_b = np.empty(num_thresholds + 1, dtype=np.int64)
    fpr_sum = np.zeros(num_thresholds, dtype=np.float64)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for amap in normal_maps:
            values = np.ascontiguousarray(amap, dtype=thresholds.dtype).ravel()
            half = values.shape[0] // 2
            hist_a[:] = 0
            hist_b[:] = 0
            other_half = pool.submit(add_to_histogram, values[half:], thresholds, hist_b)
            add_to_histogram(values[:half], thresholds, hist_a)
            other_half.result()
            add_fpr_from_histograms(hist_a, hist_b, values.shape[0], fpr_sum)
    return fpr_sum / len(normal_maps)


def thresh_index_at_fpr(shared_fpr: NDArray[np.float64], fpr_level: float, bound_name: str = "FPR") -> int:
    """Index of the threshold whose shared FPR is closest to `fpr_level` (the lowest index on ties).

    Raises:
        FPRBoundUnreachableError: `fpr_level` is outside [min, max] of `shared_fpr`.
    """
    smallest = float(shared_fpr.min())
    largest = float(shared_fpr.max())
    if fpr_level < smallest:
        msg = (
            f"The {bound_name} {fpr_level:g} cannot be reached: the smallest shared FPR these normal images "
            f"reach is {smallest:.4g}, at the top threshold, because too few normal pixels lie above the rest "
            "or the top normal scores tie. More thresholds cannot help. Fix: evaluate with more normal "
            f"images, raise the lower bound to at least {smallest:.2g} (fpr_bounds / --fpr-bounds), or save "
            "the maps without rounding."
        )
        raise FPRBoundUnreachableError(msg, bound=fpr_level, smallest_fpr=smallest, largest_fpr=largest)
    if fpr_level > largest:
        msg = (
            f"The {bound_name} {fpr_level:g} cannot be reached: the largest shared FPR is {largest:.4g}. "
            "Lower it (fpr_bounds / --fpr-bounds)."
        )
        raise FPRBoundUnreachableError(msg, bound=fpr_level, smallest_fpr=smallest, largest_fpr=largest)
    return int(np.argmin(np.abs(shared_fpr - fpr_level)))


def _per_image_tprs(
    anomalous_values: Sequence[NDArray[Any] | None], thresholds: NDArray[Any], first: int, last: int
) -> NDArray[np.float64]:
    """TPRs (N, last - first + 1) of every image for thresholds first..last; NaN rows for normal images.

    Args:
        anomalous_values: per image, its anomalous pixels' scores (any order), or None for a normal image.

    Anomalous images run on two threads (the kernel releases the GIL).
    """
    from ._pimo_kernels import masked_counts_at_or_above

    def tpr(index: int) -> NDArray[np.float64]:
        values = np.ascontiguousarray(anomalous_values[index], dtype=thresholds.dtype).ravel()
        counts = masked_counts_at_or_above(values, np.ones(values.size, dtype=np.bool_), thresholds, first, last)
        return counts.astype(np.float64) / float(values.size)

    tprs = np.full((len(anomalous_values), last - first + 1), np.nan, dtype=np.float64)
    anomalous = [index for index, values in enumerate(anomalous_values) if values is not None]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for index, image_tpr in zip(anomalous, pool.map(tpr, anomalous), strict=True):
            tprs[index] = image_tpr
    return tprs


def _anomalous_values(
    map_list: Sequence[NDArray[Any]], mask_list: Sequence[NDArray[np.bool_]], image_classes: NDArray[np.int32]
) -> list[NDArray[Any] | None]:
    """Each anomalous image's anomalous scores (``map[mask]``), None for normal images."""
    return [
        amap[mask] if image_class == 1 else None
        for amap, mask, image_class in zip(map_list, mask_list, image_classes, strict=True)
    ]


def _split_classes(
    maps: Any, masks: Any, need_anomalous: bool
) -> tuple[list[NDArray[Any]], list[NDArray[np.bool_]], NDArray[np.int32], np.dtype[Any]]:
    map_list, mask_list = validate_pair(maps, masks)
    image_classes = image_classes_of(mask_list)
    if not (image_classes == 0).any():
        msg = (
            "PIMO/AUPIMO needs at least one normal image (a mask with no anomalous pixel): the shared FPR "
            "is measured on normal images only."
        )
        raise MetricInputError(msg)
    if need_anomalous and not (image_classes == 1).any():
        msg = "AUPIMO needs at least one anomalous image (a mask with an anomalous pixel), but found none."
        raise MetricInputError(msg)
    return map_list, mask_list, image_classes, work_dtype(map_list)


# ----------------------------------------------------------------------------------------------------
# public API


def _bound_missed_message(
    shared_fpr: NDArray[np.float64],
    index: int,
    bound: float,
    fpr_bounds: tuple[float, float],
    num_normal_pixels: int,
) -> str:
    """What it means that the threshold closest to an FPR bound misses it by more than `BOUND_RTOL`, and when to act.

    AUPIMO integrates TPR (at most 1) over ln(shared FPR) and divides by ln(U / L), so starting the integral
    at `achieved` instead of `bound` moves an image's AUPIMO by at most |ln(achieved / bound)| / ln(U / L).
    """
    achieved = float(shared_fpr[index])
    neighbours = [shared_fpr[i] for i in (index - 1, index + 1) if 0 <= i < shared_fpr.size]
    jump = max(abs(float(value) - achieved) for value in neighbours) if neighbours else 0.0
    impact = abs(math.log(achieved / bound)) / math.log(fpr_bounds[1] / fpr_bounds[0]) if achieved > 0 else 1.0
    pixel_step = 1.0 / num_normal_pixels
    if jump <= 1.5 * pixel_step:
        cause = (
            f"the {num_normal_pixels:,} normal pixels move the shared FPR in steps of about {pixel_step:.2g}, and only "
            "more normal pixels (more normal images, or masks at a higher resolution) make them finer"
        )
    else:
        cause = "more thresholds (--num-thresholds) make the steps finer, unless the top normal scores tie"
    return (
        f"The shared FPR bound {bound:g} is reached only approximately: the closest threshold gives {achieved:.4g} "
        f"({achieved / bound - 1:+.1%}; the shared FPR jumps by {jump:.2g} between neighbouring thresholds there). "
        "AUPIMO integrates from that point, as the AUPIMO paper's code does, so the scores stay comparable with it; "
        f"the gap moves each image's AUPIMO by at most {impact:.2g}. Act only if that matters: {cause}."
    )


def pimo_curves(maps: Any, masks: Any, *, num_thresholds: int = DEFAULT_NUM_THRESHOLDS) -> PIMOResult:
    """Full PIMO curves: shared FPR and per-image TPR at each of `num_thresholds` thresholds.

    Args:
        maps: anomaly maps, (N, H, W) or a sequence of N 2-D arrays; higher = more anomalous.
        masks: ground truth with the same shapes; nonzero = anomalous. At least one image must be normal.
        num_thresholds: K, the number of linearly spaced thresholds over the normal images' score range.

    Returns:
        A `PIMOResult`; memory is O(N * K) for the TPR curves (use `aupimo` for the scores alone).
    """
    num_thresholds = _validate_num_thresholds(num_thresholds)
    map_list, mask_list, image_classes, dtype = _split_classes(maps, masks, need_anomalous=False)
    normal_maps = [m for m, c in zip(map_list, image_classes, strict=True) if c == 0]
    thresholds = linspace_thresholds(normal_maps, num_thresholds, dtype)
    shared_fpr = _shared_fpr(normal_maps, thresholds)
    tprs = _per_image_tprs(_anomalous_values(map_list, mask_list, image_classes), thresholds, 0, num_thresholds - 1)
    return PIMOResult(thresholds=thresholds, shared_fpr=shared_fpr, per_image_tprs=tprs, image_classes=image_classes)


def aupimo(
    maps: Any,
    masks: Any,
    *,
    fpr_bounds: tuple[float, float] = DEFAULT_FPR_BOUNDS,
    num_thresholds: int = DEFAULT_NUM_THRESHOLDS,
    force: bool = False,
    paths: Sequence[str] | None = None,
    keep_curves: bool = False,
) -> AUPIMOResult:
    """Per-image AUPIMO: area under each anomalous image's PIMO curve between two shared-FPR bounds.

    Args:
        maps: anomaly maps, (N, H, W) or a sequence of N 2-D arrays; higher = more anomalous.
        masks: ground truth with the same shapes; nonzero = anomalous. Needs normal and anomalous images.
        fpr_bounds: (L, U), the shared-FPR integration range, 0 < L < U <= 1.
        num_thresholds: K, the number of linearly spaced thresholds over the normal images' score range.
        force: compute even when the integral has <= 30 points (otherwise an error).
        paths: optional image paths stored in the result, in the order of `maps`.
        keep_curves: also return the curves that were integrated (`AUPIMOResult.curves`, a `PIMOCurves`): the
            shared FPR and each anomalous image's TPR at the thresholds of the integral, in ascending FPR.

    Returns:
        An `AUPIMOResult`; ``aupimos`` is NaN for normal images.

    Raises:
        FPRBoundUnreachableError: a bound outside the reachable shared FPRs.
        MetricInputError: invalid inputs, constant normal maps, too few integration points without `force`.

    Warns:
        RuntimeWarning: a bound is not reached within a relative 1e-2, non-finite log-FPR points were
        dropped, or the integral has fewer than 300 points.
    """
    map_list, mask_list, image_classes, dtype = _split_classes(maps, masks, need_anomalous=True)
    normal_maps = [m for m, c in zip(map_list, image_classes, strict=True) if c == 0]
    return aupimo_of_values(
        normal_maps,
        _anomalous_values(map_list, mask_list, image_classes),
        dtype,
        fpr_bounds=fpr_bounds,
        num_thresholds=num_thresholds,
        force=force,
        paths=paths,
        keep_curves=keep_curves,
    )


def aupimo_of_values(
    normal_images: Sequence[NDArray[Any]],
    anomalous_values: Sequence[NDArray[Any] | None],
    dtype: np.dtype[Any],
    *,
    fpr_bounds: tuple[float, float] = DEFAULT_FPR_BOUNDS,
    num_thresholds: int = DEFAULT_NUM_THRESHOLDS,
    force: bool = False,
    paths: Sequence[str] | None = None,
    keep_curves: bool = False,
) -> AUPIMOResult:
    """`aupimo` from the scores alone, in any order: what it needs of the maps and masks.

    Args:
        normal_images: the scores of every pixel of each normal image (at least one), in image order.
        anomalous_values: per image (normal ones included, in order), its anomalous pixels' scores, or None
            for a normal image.
        dtype: the float dtype of the thresholds (the maps' work dtype).
        fpr_bounds, num_thresholds, force, paths, keep_curves: as in `aupimo`. The curves take
            (anomalous images) x (points of the integral) float64: on an MVTec AD screw-sized set, 119 x 17,487
            points, 17 MB.

    Raises:
        FPRBoundUnreachableError, MetricInputError: as `aupimo`.
    """
    num_thresholds = _validate_num_thresholds(num_thresholds)
    lower_bound, upper_bound = _validate_fpr_bounds(fpr_bounds)
    image_classes = np.array([values is not None for values in anomalous_values], dtype=np.int32)
    if paths is not None and len(paths) != len(anomalous_values):
        msg = f"Got {len(paths)} paths for {len(anomalous_values)} images."
        raise MetricInputError(msg)
    normal_maps = list(normal_images)
    thresholds = linspace_thresholds(normal_maps, num_thresholds, dtype)
    shared_fpr = _shared_fpr(normal_maps, thresholds)

    # The upper FPR bound gives the lower threshold, and vice versa.
    first = thresh_index_at_fpr(shared_fpr, upper_bound, "upper FPR bound")
    last = thresh_index_at_fpr(shared_fpr, lower_bound, "lower FPR bound")
    num_normal_pixels = sum(m.size for m in normal_maps)
    for bound, index in ((lower_bound, last), (upper_bound, first)):
        if not np.isclose(shared_fpr[index], bound, rtol=BOUND_RTOL):
            warnings.warn(
                _bound_missed_message(shared_fpr, index, bound, (lower_bound, upper_bound), num_normal_pixels),
                RuntimeWarning,
                stacklevel=2,
            )
    if first >= last:
        msg = (
            f"The FPR bounds {lower_bound:g} and {upper_bound:g} fall on the same threshold (index {first}): "
            "the normal scores are too coarse between them. Use more thresholds (num_thresholds / "
            "--num-thresholds) or wider bounds."
        )
        raise MetricInputError(msg)

    # Ascending FPR order, as the reference integrates.
    log_fpr = np.log(shared_fpr[first : last + 1][::-1])
    finite = np.isfinite(log_fpr)
    if not finite.any():
        msg = "Every shared FPR in the integration range is zero or invalid; AUPIMO cannot be computed."
        raise MetricInputError(msg)
    if not finite.all():
        warnings.warn(
            f"Dropped {int((~finite).sum())} non-finite ln(shared FPR) point(s) from the AUPIMO integral.",
            RuntimeWarning,
            stacklevel=2,
        )
    log_fpr = log_fpr[finite]
    num_points = int(log_fpr.shape[0])
    if num_points <= MIN_POINTS_ERROR:
        msg = (
            f"The AUPIMO integral has only {num_points} point(s) (more than {MIN_POINTS_ERROR} are needed): "
            "the shared FPR changes in too few steps between the bounds. Use more thresholds "
            "(num_thresholds / --num-thresholds), more normal images, or force=True / --force."
        )
        if not force:
            raise MetricInputError(msg)
        warnings.warn(msg + " Computing anyway (forced).", RuntimeWarning, stacklevel=2)
    if num_points < MIN_POINTS_WARNING:
        warnings.warn(
            f"The AUPIMO integral has only {num_points} points (fewer than {MIN_POINTS_WARNING}); the "
            "scores may be inaccurate. Consider more thresholds (num_thresholds / --num-thresholds).",
            RuntimeWarning,
            stacklevel=2,
        )

    tprs = _per_image_tprs(anomalous_values, thresholds, first, last)
    normalization = math.log(upper_bound / lower_bound)
    aupimos = np.full(len(anomalous_values), np.nan, dtype=np.float64)
    for i in np.flatnonzero(image_classes == 1):
        tpr_ascending_fpr = tprs[i, ::-1][finite]
        aupimos[i] = np.trapezoid(tpr_ascending_fpr, x=log_fpr) / normalization
    aupimos = np.clip(aupimos, 0.0, 1.0)
    curves = None
    if keep_curves:
        # The rows and columns integrated above: anomalous images, ascending FPR, finite ln(FPR).
        anomalous = np.flatnonzero(image_classes == 1)
        columns = np.arange(tprs.shape[1])[::-1][finite]
        curves = PIMOCurves(
            shared_fpr=shared_fpr[first : last + 1][::-1][finite],
            tprs=tprs[np.ix_(anomalous, columns)],
            image_indices=anomalous,
            fpr_bounds=(lower_bound, upper_bound),
        )
    return AUPIMOResult(
        aupimos=aupimos,
        fpr_bounds=(lower_bound, upper_bound),
        thresh_bounds=(float(thresholds[first]), float(thresholds[last])),
        num_points=num_points,
        image_classes=image_classes,
        paths=None if paths is None else tuple(paths),
        curves=curves,
    )


def aupimo_statistics(aupimos: NDArray[np.float64] | None, image_classes: NDArray[Any]) -> dict[str, float | None]:
    """The summary statistics of per-image AUPIMO over the anomalous images (DESIGN section 3).

    Args:
        aupimos: (N,) AUPIMO per image (NaN for normal images), or None when AUPIMO was not computed.
        image_classes: (N,) 1 for an anomalous image, 0 for a normal one.

    Returns:
        ``aupimo_mean``, ``aupimo_std`` (ddof = 1; None for a single image), ``aupimo_q1``,
        ``aupimo_median`` and ``aupimo_q3`` (``np.percentile``, linear interpolation); all None when
        `aupimos` is None.

    Examples:
        >>> stats = aupimo_statistics(np.array([np.nan, 0.2, 0.4, 0.9]), np.array([0, 1, 1, 1]))
        >>> round(stats["aupimo_mean"], 6), stats["aupimo_median"]
        (0.5, 0.4)
    """
    keys = ("aupimo_mean", "aupimo_std", "aupimo_q1", "aupimo_median", "aupimo_q3")
    if aupimos is None:
        return dict.fromkeys(keys)
    scores = np.asarray(aupimos, dtype=np.float64)[np.asarray(image_classes) == 1]
    if scores.size == 0:
        return dict.fromkeys(keys)
    q1, median, q3 = np.percentile(scores, [25, 50, 75])
    std = float(np.std(scores, ddof=1)) if scores.size > 1 else None
    return dict(zip(keys, (float(scores.mean()), std, float(q1), float(median), float(q3)), strict=True))
