"""The curves a report draws, from the numbers the metrics already compute, and their decimation for drawing.

- Pixel ROC, precision-recall and PRO curves (`PixelCurves`), from the shared pixel pass's counts at each
  distinct anomalous score (`_pass.split_pixel_pass` with ``curves=True``): no second sort. Cumulative sums from
  the top give every point; the areas under the full curves are the pass's pixel AUROC and AUPRO (tested).
- The histograms of the normal and anomalous pixel scores over 100 equal-width bins (`pixel_histograms`).
- PIMO curves (`PIMOCurves`): each anomalous image's TPR against the shared FPR at the thresholds AUPIMO
  integrates (`pimo.aupimo_of_values` with ``keep_curves=True``).
- `decimate`: the points of a curve worth drawing on a 1000 x 1000 pixel canvas, and `curve_rows`: every curve of
  a run, decimated, as the rows of ``curves.parquet``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

HISTOGRAM_BINS = 100
CANVAS_PIXELS = 1000
# A point before a move into a new pixel is kept too when leaving it out moves the drawn line this much.
CORNER_TOLERANCE_PIXELS = 1.0

ROC = "roc"
PR = "pr"
PRO = "pro"
PIMO = "pimo"
HISTOGRAM_NORMAL = "pixel_histogram_normal"
HISTOGRAM_ANOMALOUS = "pixel_histogram_anomalous"


# ----------------------------------------------------------------------------------------------------
# decimation


def _keep_points(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    x_low: float,
    x_scale: float,
    y_low: float,
    y_scale: float,
    log_x: bool,
    tolerance: float,
) -> NDArray[np.bool_]:
    """Which points `decimate` keeps. The pixel coordinates, u = (x - x_low) * x_scale (log10(x) with `log_x`)
    and v = (y - y_low) * y_scale, and their rounded cells are computed point by point: no array of them (a
    category's ROC curve has millions of points, and fresh memory is slow to touch)."""
    size = x.shape[0]
    keep = np.zeros(size, dtype=np.bool_)
    if size == 0:
        return keep
    keep[0] = True
    last = 0
    u0 = ((np.log10(x[0]) if log_x else x[0]) - x_low) * x_scale
    v0 = (y[0] - y_low) * y_scale
    cell_u0 = np.floor(u0 + 0.5)
    cell_v0 = np.floor(v0 + 0.5)
    for i in range(1, size):
        u = ((np.log10(x[i]) if log_x else x[i]) - x_low) * x_scale
        v = (y[i] - y_low) * y_scale
        cell_u = np.floor(u + 0.5)
        cell_v = np.floor(v + 0.5)
        if cell_u == cell_u0 and cell_v == cell_v0:
            continue
        # Point i enters a new pixel. The points since the last kept one all lie in that one's pixel; the last
        # of them is a corner worth keeping when the chord from the last kept point to point i passes at least
        # `tolerance` pixels (vertically) from one of them.
        if i - 1 > last:
            du = u - u0
            dv = v - v0
            low = min(v0, v)
            high = max(v0, v)
            for j in range(last + 1, i):
                uj = ((np.log10(x[j]) if log_x else x[j]) - x_low) * x_scale
                vj = (y[j] - y_low) * y_scale
                # Vertically from the chord; from a vertical chord, how far the point lies outside it.
                distance = abs(vj - (v0 + (uj - u0) * (dv / du))) if du > 0 else max(low - vj, vj - high, 0.0)
                if distance >= tolerance:
                    keep[i - 1] = True
                    break
        keep[i] = True
        last = i
        u0, v0, cell_u0, cell_v0 = u, v, cell_u, cell_v
    keep[size - 1] = True
    return keep


def _roc_points(
    between: NDArray[np.int64], tied: NDArray[np.int64], num_positive: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`PixelCurves.roc` in one pass from the top down, straight into the two output arrays (the curve of a
    whole category has millions of points: no temporary array of that size)."""
    size = num_positive.shape[0]
    num_negative = max(between.sum() + tied.sum(), 1)
    num_anomalous = max(num_positive.sum(), 1)
    fpr = np.empty(2 * size + 2, dtype=np.float64)
    tpr = np.empty(2 * size + 2, dtype=np.float64)
    fpr[0] = 0.0
    tpr[0] = 0.0
    count = 1
    false_positives = between[size]  # normal scores above the highest anomalous one
    true_positives = 0
    for k in range(size - 1, -1, -1):
        if between[k + 1] > 0:  # the end of the horizontal run of the normal scores above distinct[k]
            fpr[count] = false_positives / num_negative
            tpr[count] = true_positives / num_anomalous
            count += 1
        false_positives += tied[k]
        true_positives += num_positive[k]
        fpr[count] = false_positives / num_negative
        tpr[count] = true_positives / num_anomalous
        count += 1
        false_positives += between[k]
    if between[0] > 0:  # the run of the normal scores below every anomalous one, to (1, 1)
        fpr[count] = false_positives / num_negative
        tpr[count] = true_positives / num_anomalous
        count += 1
    return fpr[:count], tpr[:count]


def _pr_points(
    between: NDArray[np.int64], tied: NDArray[np.int64], num_positive: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`PixelCurves.pr` in one pass from the top down, straight into the two output arrays."""
    size = num_positive.shape[0]
    num_anomalous = max(num_positive.sum(), 1)
    recall = np.empty(size, dtype=np.float64)
    precision = np.empty(size, dtype=np.float64)
    false_positives = between[size]
    true_positives = 0
    for at, k in enumerate(range(size - 1, -1, -1)):
        false_positives += tied[k]
        true_positives += num_positive[k]
        recall[at] = true_positives / num_anomalous
        precision[at] = true_positives / (true_positives + false_positives)
        false_positives += between[k]
    return recall, precision


def _pro_points(
    between: NDArray[np.int64], tied: NDArray[np.int64], pro_weight: NDArray[np.float64], num_regions: float,
    limit: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:  # fmt: skip
    """`PixelCurves.pro`'s points from the top down, up to and including the first beyond FPR `limit` (the
    caller cuts there); the PRO a running sum of the weights in the walk's order, so the rates are its own."""
    size = pro_weight.shape[0]
    num_negative = float(between.sum() + tied.sum())
    fpr = np.empty(2 * size + 2, dtype=np.float64)
    pro = np.empty(2 * size + 2, dtype=np.float64)
    fpr[0] = 0.0
    pro[0] = 0.0
    count = 1
    false_positives = between[size]
    weight_sum = 0.0
    last_pro = 0.0
    beyond = False
    for k in range(size - 1, -1, -1):
        if between[k + 1] > 0:  # the end of the flat run of the normal scores above distinct[k]
            fpr[count] = min(false_positives / num_negative, 1.0)
            pro[count] = last_pro
            count += 1
        false_positives += tied[k]
        weight_sum += pro_weight[k]
        last_pro = min(weight_sum / num_regions, 1.0)
        fpr[count] = min(false_positives / num_negative, 1.0)
        pro[count] = last_pro
        count += 1
        false_positives += between[k]
        if fpr[count - 1] > limit:
            beyond = True
            break
    if not beyond and between[0] > 0:  # the flat run of the normal scores below every anomalous one
        fpr[count] = 1.0
        pro[count] = last_pro
        count += 1
    return fpr[:count], pro[:count]


_KERNELS: dict[str, Any] = {}


def _kernel(name: str, function: Any) -> Any:
    """`function` compiled by numba (cached on disk), on first use: importing this module stays cheap."""
    if name not in _KERNELS:
        import numba

        _KERNELS[name] = numba.njit(cache=True, nogil=True)(function)
    return _KERNELS[name]


def _keep_points_kernel() -> Any:
    return _kernel("keep_points", _keep_points)


def _scale(value_range: tuple[float, float], log: bool, pixels: int) -> tuple[float, float]:
    """(low, scale) mapping a plot range onto `pixels` pixels: pixel = (value - low) * scale (log10(value))."""
    low, high = (math.log10(value_range[0]), math.log10(value_range[1])) if log else value_range
    if not high > low:
        msg = f"A plot range must be increasing, got {value_range}."
        raise ValueError(msg)
    return float(low), pixels / (float(high) - float(low))


def decimate(
    x: NDArray[Any],
    y: NDArray[Any],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    *,
    log_x: bool = False,
    pixels: int = CANVAS_PIXELS,
) -> NDArray[np.intp]:
    """The indices of the points of a curve worth drawing on a `pixels` x `pixels` canvas.

    Each point is mapped to pixel coordinates: x and y each scaled so that its plot range spans `pixels` (x in
    log10 with `log_x`). The first and the last points are kept, and so is every point whose rounded pixel
    position differs from the last kept point's. When a point enters a new pixel and the points since the last
    kept one (all in that one's pixel) would be cut, the last of them is kept too if cutting it moves one of them
    at least 1 pixel vertically off the drawn line: corners, such as the top of a jump, stay where they are.

    So the decimated polyline is within 1 pixel, vertically, of the full one at every x: the cut points lie in one
    pixel with the line's ends, or within the 1 pixel tolerance of it. A curve monotone in both coordinates visits
    at most 2 * `pixels` + 1 pixels, so it keeps at most about 2 * `pixels` points plus its corners (at most one
    per pixel of vertical rise, so never more than 3 * `pixels` + 2; real ROC, PRO and PIMO curves keep well
    under 2 * `pixels`).

    Args:
        x: (P,) x of each point, non-decreasing (every curve drawn here is); positive with `log_x`.
        y: (P,) y of each point.
        x_range, y_range: (low, high) of each axis of the plot; points outside are kept as they are.
        log_x: x is drawn on a log scale over `x_range`.
        pixels: canvas size, in pixels, of both axes.

    Returns:
        The ascending indices of the kept points.

    Examples:
        >>> x = np.linspace(0.0, 1.0, 100_001)
        >>> kept = decimate(x, x**2, (0.0, 1.0), (0.0, 1.0))
        >>> int(kept[0]), int(kept[-1]), len(kept) <= 2001
        (0, 100000, True)
        >>> # A step: the corner at (0.5, 0) before the jump is kept.
        >>> decimate(np.array([0.0, 0.2, 0.5, 0.5, 1.0]), np.array([0.0, 0.0, 0.0, 1.0, 1.0]), (0, 1), (0, 1)).tolist()
        [0, 1, 2, 3, 4]
        >>> decimate(np.array([0.0, 1e-5, 2e-5, 1.0]), np.array([0.0, 0.0, 1e-5, 1.0]), (0, 1), (0, 1)).tolist()
        [0, 3]
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        msg = f"x and y must have the same length, got {x.size} and {y.size}."
        raise ValueError(msg)
    keep = _keep_points_kernel()(
        np.ascontiguousarray(x),
        np.ascontiguousarray(y),
        *_scale(x_range, log_x, pixels),
        *_scale(y_range, False, pixels),
        log_x,
        CORNER_TOLERANCE_PIXELS,
    )
    return np.flatnonzero(keep)


# ----------------------------------------------------------------------------------------------------
# pixel curves


@dataclass(frozen=True, eq=False)
class PixelCurves:
    """The pixel ROC, precision-recall and PRO curves and the score histograms of one set of images.

    The curves are kept as the shared pass's counts at each distinct anomalous score (ascending), which the
    methods turn into points: the pass's arrays, not copies, so that nothing is computed that is not drawn.

    Attributes:
        distinct: (M,) the distinct anomalous scores, ascending.
        between: (M + 1,) int64 normal scores strictly between consecutive distinct anomalous scores (below the
            first for index 0, above the last for index M).
        tied: (M,) int64 normal scores equal to each distinct anomalous score.
        num_positive: (M,) int64 anomalous pixels at each distinct score.
        pro_weight: (M,) float64 sum of their PRO weights, 1 / (size of the pixel's region).
        num_regions: number of regions R in the whole set.
        histogram_edges: (101,) float64 edges of the 100 equal-width bins over [min, max] of every pixel score
            (``numpy.histogram``'s, in the scores' dtype).
        histogram_normal, histogram_anomalous: (100,) int64 normal and anomalous pixels in each bin (the last
            bin includes its right edge).
    """

    distinct: NDArray[Any]
    between: NDArray[np.int64]
    tied: NDArray[np.int64]
    num_positive: NDArray[np.int64]
    pro_weight: NDArray[np.float64]
    num_regions: float
    histogram_edges: NDArray[np.float64]
    histogram_normal: NDArray[np.int64]
    histogram_anomalous: NDArray[np.int64]

    @property
    def num_normal(self) -> int:
        """Number of normal pixels."""
        return int(self.between.sum() + self.tied.sum())

    @property
    def num_anomalous(self) -> int:
        """Number of anomalous pixels."""
        return int(self.num_positive.sum())

    def roc(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The pixel ROC curve: (FPR, TPR), from (0, 0) to (1, 1).

        At each distinct anomalous score t, from the top down: the point at the threshold just above t (the
        normal scores between t and the next anomalous score above it moved the FPR alone, a horizontal run),
        when it differs from the previous point, then the point at t (its anomalous and tied normal scores
        move both, a straight segment). These are points of ``sklearn.metrics.roc_curve`` and its whole
        polyline; the trapezoid area under them is the pixel AUROC.
        """
        points: tuple[NDArray[np.float64], NDArray[np.float64]]
        points = _kernel("roc_points", _roc_points)(self.between, self.tied, self.num_positive)
        return points

    def pr(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The pixel precision-recall curve: (recall, precision) at each distinct anomalous score, from the top
        down (recall ascending); a pixel is predicted anomalous when its score is >= the threshold. These are
        points of ``sklearn.metrics.precision_recall_curve``, the ones the pixel AP sums over."""
        points: tuple[NDArray[np.float64], NDArray[np.float64]]
        points = _kernel("pr_points", _pr_points)(self.between, self.tied, self.num_positive)
        return points

    def pro(self, limit: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The PRO curve from (0, 0) up to FPR = `limit`: (FPR, PRO).

        The points of the AUPRO walk (`_pixel_kernels.counts_walk`): at each distinct anomalous score from the
        top down, the end of the flat run of the normal scores above it (when there are any), then the point at
        it (diagonal for its tied normal scores), then the flat run to FPR 1; cut at the first point beyond
        `limit`, where the point interpolated linearly at `limit` ends the curve. The trapezoid area under it is
        the pass's AUPRO at `limit` times `limit`, with the same rates bit for bit.
        """
        x, y = _kernel("pro_points", _pro_points)(
            self.between, self.tied, self.pro_weight, float(self.num_regions), float(limit)
        )
        end = int(np.searchsorted(x, limit, side="right"))
        if end == x.size or x[end - 1] == limit:
            return x[:end], y[:end]
        x0, y0, x1, y1 = x[end - 1], y[end - 1], x[end], y[end]
        y_limit = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
        return np.append(x[:end], limit), np.append(y[:end], y_limit)


def pixel_histograms(
    sorted_normal: Sequence[NDArray[Any]],
    distinct: NDArray[Any],
    num_positive: NDArray[np.int64],
    minimum: float,
    maximum: float,
    bins: int = HISTOGRAM_BINS,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Histograms of the normal and the anomalous pixel scores over the same equal-width bins.

    The bins are ``numpy.histogram``'s for every score together (normal and anomalous): `bins` equal-width bins
    over [min, max], edges in the scores' dtype, each holding the scores >= its left edge and < its right one,
    the last one its right edge too. Counted by binary searches in each image's sorted normal scores and in the
    distinct anomalous scores: no pass over the pixels.

    Args:
        sorted_normal: per image, its normal scores, ascending.
        distinct: (M,) the distinct anomalous scores, ascending; `num_positive` (M,) how many pixels hold each.
        minimum, maximum: the smallest and largest score of every pixel (exact in the scores' dtype).

    Returns:
        (edges (bins + 1,) float64, normal counts (bins,) int64, anomalous counts (bins,) int64).
    """
    dtype = distinct.dtype if distinct.size else (sorted_normal[0].dtype if sorted_normal else np.dtype(np.float64))
    edges = np.histogram_bin_edges(np.array([minimum, maximum], dtype=dtype), bins=bins)
    inner = edges[1:-1]
    below_normal = np.zeros(inner.size, dtype=np.int64)
    total_normal = 0
    for values in sorted_normal:
        below_normal += np.searchsorted(values, inner, side="left")
        total_normal += values.size
    cumulative = np.concatenate(([0], np.cumsum(num_positive)))
    below_anomalous = cumulative[np.searchsorted(distinct, inner, side="left")]

    def counts(below: NDArray[np.int64], total: int) -> NDArray[np.int64]:
        return np.diff(np.concatenate(([0], below, [total]))).astype(np.int64)

    return (
        edges.astype(np.float64),
        counts(below_normal, total_normal),
        counts(below_anomalous, int(cumulative[-1])),
    )


# ----------------------------------------------------------------------------------------------------
# PIMO curves


@dataclass(frozen=True, eq=False)
class PIMOCurves:
    """The PIMO curves that AUPIMO integrates: at each threshold of the integration range whose ln(shared FPR)
    is finite, in ascending shared FPR.

    Attributes:
        shared_fpr: (W,) float64 shared FPR, non-decreasing.
        tprs: (A, W) float64 TPR of each anomalous image.
        image_indices: (A,) the index of each row's image among all images, ascending.
        fpr_bounds: the nominal (lower, upper) shared-FPR bounds of the integral.
    """

    shared_fpr: NDArray[np.float64]
    tprs: NDArray[np.float64]
    image_indices: NDArray[np.intp]
    fpr_bounds: tuple[float, float]


# ----------------------------------------------------------------------------------------------------
# the rows of curves.parquet


@dataclass(frozen=True, eq=False)
class CurveRows:
    """Consecutive rows of ``curves.parquet``: one curve (one image's, for ``pimo``), decimated.

    Attributes:
        curve: ``roc``, ``pr``, ``pro``, ``pimo``, ``pixel_histogram_normal`` or ``pixel_histogram_anomalous``.
        image: the image's path for ``pimo``, else None.
        x, y: (P,) float64 coordinates.
    """

    curve: str
    image: str | None
    x: NDArray[np.float64]
    y: NDArray[np.float64]


def _decimated(
    curve: str, x: NDArray[np.float64], y: NDArray[np.float64], x_range: tuple[float, float], **kwargs: Any
) -> CurveRows:
    kept = decimate(x, y, x_range, (0.0, 1.0), **kwargs)
    return CurveRows(curve, None, x[kept], y[kept])


def curve_rows(
    pixel: PixelCurves | None,
    pro_limit: float | None,
    pimo: PIMOCurves | None,
    paths: Sequence[str],
) -> list[CurveRows]:
    """Every curve of a run, decimated for a 1000-pixel plot (`decimate`), in the order of ``curves.parquet``.

    Args:
        pixel: the pixel curves (None when the pixel pass did not run): the ROC, precision-recall and the two
            histograms, and the PRO curve up to `pro_limit` (the largest AUPRO limit; None when no AUPRO was
            computed).
        pimo: the PIMO curves (None when AUPIMO was not computed), one per anomalous image, named by `paths`
            (every image's path, in image order); x in log scale over the FPR bounds.

    Returns:
        ``roc``, ``pr``, ``pro``, one ``pimo`` per anomalous image in image order, ``pixel_histogram_normal``,
        ``pixel_histogram_anomalous``; those not computed left out.
    """
    lines, histograms = pixel_curve_rows(pixel, pro_limit)
    return [*lines, *pimo_curve_rows(pimo, paths), *histograms]


def pixel_curve_rows(pixel: PixelCurves | None, pro_limit: float | None) -> tuple[list[CurveRows], list[CurveRows]]:
    """The pixel pass's rows of `curve_rows`: (``roc``, ``pr`` and ``pro``; the two histograms)."""
    if pixel is None:
        return [], []
    lines = [_decimated(ROC, *pixel.roc(), (0.0, 1.0)), _decimated(PR, *pixel.pr(), (0.0, 1.0))]
    if pro_limit is not None:
        lines.append(_decimated(PRO, *pixel.pro(pro_limit), (0.0, pro_limit)))
    left_edges = pixel.histogram_edges[:-1]
    histograms = [
        CurveRows(HISTOGRAM_NORMAL, None, left_edges, pixel.histogram_normal.astype(np.float64)),
        CurveRows(HISTOGRAM_ANOMALOUS, None, left_edges, pixel.histogram_anomalous.astype(np.float64)),
    ]
    return lines, histograms


def pimo_curve_rows(pimo: PIMOCurves | None, paths: Sequence[str]) -> list[CurveRows]:
    """The ``pimo`` rows of `curve_rows`, one per anomalous image in image order (none without AUPIMO)."""
    if pimo is None:
        return []
    rows = []
    for index, tprs in zip(pimo.image_indices, pimo.tprs, strict=True):
        kept = decimate(pimo.shared_fpr, tprs, pimo.fpr_bounds, (0.0, 1.0), log_x=True)
        rows.append(CurveRows(PIMO, paths[index], pimo.shared_fpr[kept], tprs[kept]))
    return rows
