"""The curves of ``curves.parquet``: decimation (1-pixel fidelity, point count), the pixel ROC, precision-recall
and PRO curves against scikit-learn and against the pass's own AUROC and AUPRO, the PIMO curves against AUPIMO,
the histograms against numpy, and ``aupimo evaluate`` writing the file that ``aupimo check`` reproduces."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from aupimo_cli.cli import app
from aupimo_cli.metrics._pass import pixel_pass, split_pixel_pass, split_scores
from aupimo_cli.metrics.curves import PixelCurves, curve_rows, decimate
from aupimo_cli.metrics.pimo import aupimo
from aupimo_cli.report.writers import curves_schema, write_curves
from aupimo_cli.synthetic import synthetic_category, write_category

from .conftest import invoke

PIXELS = 1000
LIMITS = (0.3, 0.05, 0.01, 1.0)


def _random_set(seed: int, decimals: int | None = None, dtype: type = np.float32, shape: tuple[int, int] = (40, 56)):
    """Small maps and masks: 4 normal and 5 anomalous images, blobs raised by a random amount; `decimals` rounds
    the scores (many ties)."""
    rng = np.random.default_rng(seed)
    maps, masks = [], []
    for index in range(9):
        amap = rng.normal(size=shape)
        mask = np.zeros(shape, dtype=bool)
        if index >= 4:
            for _ in range(int(rng.integers(1, 4))):
                row, col = int(rng.integers(0, shape[0] - 6)), int(rng.integers(0, shape[1] - 6))
                mask[row : row + int(rng.integers(2, 7)), col : col + int(rng.integers(2, 7))] = True
            amap[mask] += rng.uniform(0.5, 3.0)
        maps.append((np.round(amap, decimals) if decimals is not None else amap).astype(dtype))
        masks.append(mask)
    return maps, masks


def _pooled(maps, masks):
    return np.concatenate([m.ravel() for m in maps]), np.concatenate([m.ravel() for m in masks])


CASES = [(0, None), (1, 1), (2, 0), (3, 2)]


@pytest.fixture(scope="module", params=CASES, ids=[f"seed{s}-round{d}" for s, d in CASES])
def pixel_case(request):
    seed, decimals = request.param
    maps, masks = _random_set(seed, decimals)
    return maps, masks, pixel_pass(maps, masks, LIMITS, curves=True)


# ----------------------------------------------------------------------------------------------------------
# Decimation.
# ----------------------------------------------------------------------------------------------------------


def _interval(xs: np.ndarray, ys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertical extent (low, high) of the polyline (xs non-decreasing) at each query x inside its x range: the
    limits from the left and the right, and every point exactly at that x."""
    size = xs.size
    low = np.full(queries.shape, np.inf)
    high = np.full(queries.shape, -np.inf)
    left = np.searchsorted(xs, queries, side="left")
    right = np.searchsorted(xs, queries, side="right")
    for index, inside in ((left, (left > 0) & (left < size)), (right, (right > 0) & (right < size))):
        i = index[inside]
        with np.errstate(invalid="ignore", divide="ignore"):
            value = ys[i - 1] + (ys[i] - ys[i - 1]) * (queries[inside] - xs[i - 1]) / (xs[i] - xs[i - 1])
        value = np.where(xs[i] == xs[i - 1], ys[i - 1], value)  # only where the query is that x
        low[inside] = np.minimum(low[inside], value)
        high[inside] = np.maximum(high[inside], value)
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    run_low, run_high = np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts)
    at = right > left
    run = np.searchsorted(starts, left[at], side="right") - 1
    low[at] = np.minimum(low[at], run_low[run])
    high[at] = np.maximum(high[at], run_high[run])
    return low, high


def _pixels(values, value_range, log=False):
    low, high = (np.log10(value_range[0]), np.log10(value_range[1])) if log else value_range
    return ((np.log10(values) if log else values) - low) * PIXELS / (high - low)


def _vertical_gap(x, y, kept, x_range, y_range, log_x=False) -> float:
    """The largest vertical distance, in pixels, between the full polyline and the decimated one at every x of the
    full one: each full point to the decimated extent there, and the decimated extent to the full one."""
    u, v = _pixels(np.asarray(x, float), x_range, log_x), _pixels(np.asarray(y, float), y_range)
    low_kept, high_kept = _interval(u[kept], v[kept], u)
    low_full, high_full = _interval(u, v, u)
    gaps = [
        np.maximum(low_kept - v, v - high_kept),
        low_full - low_kept,
        high_kept - high_full,
    ]
    return float(max(np.max(gap) for gap in gaps))


def _check_decimation(x, y, x_range, y_range=(0.0, 1.0), log_x=False, monotone=True):
    kept = decimate(x, y, x_range, y_range, log_x=log_x)
    assert kept[0] == 0 and kept[-1] == len(x) - 1 and np.all(np.diff(kept) > 0)
    assert _vertical_gap(x, y, kept, x_range, y_range, log_x) <= 1.0 + 1e-9
    if monotone:
        # At most one point per pixel visited (2 * PIXELS + 1 for a monotone curve), plus the few corners.
        assert kept.size <= 2 * PIXELS + 1 + 9
    return kept


def test_decimation_is_within_a_pixel_of_smooth_and_step_curves():
    x = np.linspace(0.0, 1.0, 200_001)
    for y in (x**2, np.sqrt(x), x**0.05, np.minimum(x * 50, 1.0)):
        _check_decimation(x, y, (0.0, 1.0))
    rng = np.random.default_rng(0)
    # A staircase: many tiny steps, some large jumps (ties), and long flat runs.
    steps_x = np.where(rng.random(100_000) < 0.5, 0.0, rng.exponential(size=100_000))
    steps_y = np.where(steps_x == 0.0, rng.exponential(size=100_000) * (rng.random(100_000) < 0.01) * 300, 0.0)
    steps_y += (steps_x > 0) * rng.exponential(size=100_000) * 0.2
    x, y = np.r_[0.0, np.cumsum(steps_x)], np.r_[0.0, np.cumsum(steps_y)]
    kept = _check_decimation(x / x[-1], y / y[-1], (0.0, 1.0))
    assert kept.size < x.size / 20


def test_decimation_keeps_every_corner_that_moves_a_pixel():
    # A jump of 100 pixels after a flat run inside one pixel: the flat run's end is kept.
    x = np.array([0.0, 0.0001, 0.0002, 0.0003, 0.0003, 1.0])
    y = np.array([0.0, 0.0, 0.0, 0.0, 0.1, 0.1])
    assert decimate(x, y, (0.0, 1.0), (0.0, 1.0)).tolist() == [0, 3, 4, 5]
    # Within a pixel and on the line: nothing in between is kept.
    line = np.array([0.0, 0.0001, 0.0002, 0.5])
    assert decimate(line, line, (0, 1), (0, 1)).tolist() == [0, 3]
    assert decimate(np.array([]), np.array([]), (0, 1), (0, 1)).tolist() == []
    assert decimate(np.array([0.5]), np.array([0.5]), (0, 1), (0, 1)).tolist() == [0]


def test_decimation_point_count_is_bounded_even_for_a_worst_case_staircase():
    # Rises of exactly one pixel after runs inside a pixel: every run's end is a corner, two points per rise.
    rises = np.arange(PIXELS + 1, dtype=float)
    x = np.repeat(rises * 1e-4, 3)[1:]
    y = np.repeat(rises / PIXELS, 3)[:-1]
    x = np.r_[x, np.linspace(x[-1], 1.0, 50_000)]
    y = np.r_[y, np.full(50_000, y[-1])]
    kept = decimate(x, y, (0.0, 1.0), (0.0, 1.0))
    assert _vertical_gap(x, y, kept, (0.0, 1.0), (0.0, 1.0)) <= 1.0 + 1e-9
    assert 2 * PIXELS < kept.size <= 3 * PIXELS + 2


@pytest.mark.parametrize("decimals", [None, 2])
def test_decimation_of_pixel_curves(decimals):
    # 4 images of 300 x 300, half of two of them anomalous: 90,000 anomalous scores, 270,000 normal ones.
    rng = np.random.default_rng(11)
    maps = [rng.normal(size=(300, 300)).astype(np.float32) for _ in range(4)]
    masks = [np.zeros((300, 300), dtype=bool) for _ in range(4)]
    for index in (2, 3):
        masks[index][:150] = True
        maps[index][:150] += np.linspace(0.0, 3.0, 300, dtype=np.float32)
    if decimals is not None:
        maps = [np.round(amap, decimals) for amap in maps]
    curves = pixel_pass(maps, masks, (0.3,), curves=True).curves
    kept = _check_decimation(*curves.roc(), (0.0, 1.0))
    assert kept.size < curves.roc()[0].size / (20 if decimals is None else 1)
    _check_decimation(*curves.pr(), (0.0, 1.0), monotone=False)
    for limit in (0.3, 0.01, 1.0):
        _check_decimation(*curves.pro(limit), (0.0, limit))


def test_decimation_in_log_x_of_pimo_curves(pimo_case):
    result = pimo_case[2]
    for tprs in result.curves.tprs:
        _check_decimation(result.curves.shared_fpr, tprs, result.fpr_bounds, log_x=True)


# ----------------------------------------------------------------------------------------------------------
# Pixel curves: ROC, precision-recall and PRO from the pass's counts.
# ----------------------------------------------------------------------------------------------------------


def test_curves_leave_the_metrics_unchanged(pixel_case):
    maps, masks, with_curves = pixel_case
    without = pixel_pass(maps, masks, LIMITS)
    assert without.curves is None
    for name in ("auroc", "average_precision", "f1_max", "f1_max_threshold"):
        assert getattr(with_curves, name) == getattr(without, name)
    assert np.array_equal(with_curves.aupros, without.aupros)


def test_roc_is_sklearns_curve_and_its_area_is_the_auroc(pixel_case):
    maps, masks, result = pixel_case
    fpr, tpr = result.curves.roc()
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert abs(np.trapezoid(tpr, fpr) - result.auroc) <= 1e-12
    scores, labels = _pooled(maps, masks)
    sk_fpr, sk_tpr, sk_thresholds = roc_curve(labels, scores, drop_intermediate=False)
    # Our points at the distinct anomalous scores are sklearn's points at those thresholds.
    distinct = result.curves.distinct
    at = np.searchsorted(-sk_thresholds, -distinct[::-1].astype(sk_thresholds.dtype))
    assert np.array_equal(sk_thresholds[at], distinct[::-1])
    ours = set(zip(fpr.tolist(), tpr.tolist(), strict=True))
    assert set(zip(sk_fpr[at].tolist(), sk_tpr[at].tolist(), strict=True)) <= ours
    # Every point of ours is one of sklearn's, and the others lie inside our horizontal runs: the same polyline.
    sklearn_points = set(zip(sk_fpr.tolist(), sk_tpr.tolist(), strict=True))
    assert ours <= sklearn_points
    others = np.array(sorted(sklearn_points - ours)).reshape(-1, 2)
    k = np.searchsorted(fpr, others[:, 0])
    assert np.all((fpr[k - 1] < others[:, 0]) & (others[:, 0] < fpr[k]))
    assert np.all((tpr[k - 1] == others[:, 1]) & (tpr[k] == others[:, 1]))


def test_pr_points_are_sklearns_at_the_distinct_anomalous_scores(pixel_case):
    maps, masks, result = pixel_case
    recall, precision = result.curves.pr()
    distinct = result.curves.distinct[::-1]
    assert recall.size == distinct.size and np.all(np.diff(recall) > 0) and recall[-1] == 1.0
    scores, labels = _pooled(maps, masks)
    sk_precision, sk_recall, sk_thresholds = precision_recall_curve(labels, scores)
    at = np.searchsorted(sk_thresholds, distinct)
    assert np.array_equal(sk_thresholds[at], distinct)
    np.testing.assert_allclose(recall, sk_recall[at], rtol=0, atol=1e-15)
    np.testing.assert_allclose(precision, sk_precision[at], rtol=0, atol=1e-15)
    # The AP is the sum over these points.
    assert abs(np.sum(np.diff(np.r_[0.0, recall]) * precision) - result.average_precision) <= 1e-12


def test_pro_area_up_to_each_limit_is_the_aupro(pixel_case):
    _, _, result = pixel_case
    for limit, value in zip(LIMITS, result.aupros, strict=True):
        fpr, pro = result.curves.pro(limit)
        assert (fpr[0], pro[0], fpr[-1]) == (0.0, 0.0, limit)
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(pro) >= 0)
        assert abs(np.trapezoid(pro, fpr) - value * limit) <= 1e-12


def test_pro_points_lie_on_the_full_pro_curve(pixel_case):
    maps, masks, result = pixel_case
    full = pixel_pass(maps, masks, (0.3,), record_curve=True)
    fpr, pro = result.curves.pro(1.0)
    # The full curve has a point at every distinct score; ours at the anomalous ones and the ends of the flat runs.
    rows = np.searchsorted(full.curve_fpr, fpr, side="left")
    matched = [np.any(np.abs(full.curve_pro[r : np.searchsorted(full.curve_fpr, f, side="right")] - p) <= 1e-12)
               for r, f, p in zip(rows, fpr, pro, strict=True)]  # fmt: skip
    assert all(matched)


def test_float64_scores_and_a_single_image():
    maps, masks = _random_set(5, None, np.float64)
    result = pixel_pass(maps, masks, (0.3,), curves=True)
    assert result.curves.distinct.dtype == np.float64
    assert abs(np.trapezoid(*result.curves.roc()[::-1]) - result.auroc) <= 1e-12
    one = pixel_pass(maps[4:5], masks[4:5], (0.3,), curves=True)
    assert abs(np.trapezoid(*one.curves.roc()[::-1]) - one.auroc) <= 1e-12


# ----------------------------------------------------------------------------------------------------------
# Histograms.
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decimals", [None, 1])
def test_histograms_are_numpys(dtype, decimals):
    maps, masks = _random_set(7, decimals, dtype)
    curves = pixel_pass(maps, masks, (0.3,), curves=True).curves
    scores, labels = _pooled(maps, masks)
    counts, edges = np.histogram(scores, bins=100)
    assert np.array_equal(curves.histogram_edges, edges.astype(np.float64))
    assert np.array_equal(curves.histogram_normal, np.histogram(scores[~labels], bins=edges)[0])
    assert np.array_equal(curves.histogram_anomalous, np.histogram(scores[labels], bins=edges)[0])
    assert np.array_equal(curves.histogram_normal + curves.histogram_anomalous, counts)


def test_histograms_with_every_score_on_an_edge():
    # Integer scores 0..100: the 100 bins' edges are the integers, and the last bin holds 99 and 100.
    rng = np.random.default_rng(3)
    maps = [rng.integers(0, 101, size=(30, 30)).astype(np.float32) for _ in range(4)]
    maps[0][0, 0], maps[0][0, 1] = 0, 100
    masks = [np.zeros((30, 30), dtype=bool) for _ in range(4)]
    masks[3][10:20, 5:15] = True
    curves = pixel_pass(maps, masks, (0.3,), curves=True).curves
    scores, labels = _pooled(maps, masks)
    _, edges = np.histogram(scores, bins=100)
    assert np.array_equal(curves.histogram_normal, np.histogram(scores[~labels], bins=edges)[0])
    assert np.array_equal(curves.histogram_anomalous, np.histogram(scores[labels], bins=edges)[0])


# ----------------------------------------------------------------------------------------------------------
# PIMO curves.
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pimo_case():
    maps, masks = synthetic_category(num_normal=8, num_anomalous=6, shape=(64, 64), seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kwargs = {"fpr_bounds": (1e-3, 1e-2), "num_thresholds": 20_000}
        return maps, masks, aupimo(maps, masks, keep_curves=True, **kwargs), aupimo(maps, masks, **kwargs)


def test_pimo_curves_integrate_to_each_aupimo(pimo_case):
    _, masks, result, without = pimo_case
    assert without.curves is None
    assert np.array_equal(result.aupimos, without.aupimos, equal_nan=True)
    assert result.to_json() == without.to_json()
    curves = result.curves
    anomalous = np.flatnonzero([mask.any() for mask in masks])
    assert np.array_equal(curves.image_indices, anomalous)
    assert curves.tprs.shape == (anomalous.size, curves.shared_fpr.size) == (anomalous.size, result.num_points)
    assert np.all(np.diff(curves.shared_fpr) >= 0) and curves.fpr_bounds == result.fpr_bounds
    normalization = math.log(result.fpr_bounds[1] / result.fpr_bounds[0])
    for index, tprs in zip(curves.image_indices, curves.tprs, strict=True):
        area = np.clip(np.trapezoid(tprs, x=np.log(curves.shared_fpr)) / normalization, 0.0, 1.0)
        assert abs(area - result.aupimos[index]) <= 1e-12


# ----------------------------------------------------------------------------------------------------------
# The rows of curves.parquet.
# ----------------------------------------------------------------------------------------------------------


def test_curve_rows_order_and_omissions(pixel_case, pimo_case):
    curves = pixel_case[2].curves
    pimo_result = pimo_case[2]
    paths = [f"image_{i}" for i in range(pimo_result.num_images)]
    rows = curve_rows(curves, 0.3, pimo_result.curves, paths)
    names = [block.curve for block in rows]
    num_anomalous = pimo_result.num_anomalous_images
    histograms = ["pixel_histogram_normal", "pixel_histogram_anomalous"]
    assert names == ["roc", "pr", "pro", *["pimo"] * num_anomalous, *histograms]
    assert [block.image for block in rows[3:-2]] == [paths[i] for i in pimo_result.curves.image_indices]
    assert rows[2].x[-1] == 0.3
    assert [block.curve for block in curve_rows(curves, None, None, [])] == ["roc", "pr", *histograms]
    assert curve_rows(None, None, None, []) == []
    assert isinstance(curves, PixelCurves)


def test_write_curves_with_no_curve_writes_the_schema(tmp_path):
    write_curves(tmp_path, [])
    table = pq.read_table(tmp_path / "curves.parquet")
    assert table.schema.equals(curves_schema()) and table.num_rows == 0


def test_split_pixel_pass_without_walk_has_no_curves():
    maps, masks = _random_set(0)
    assert split_pixel_pass(split_scores(maps, masks), (0.3,), walk=False, curves=True).curves is None


# ----------------------------------------------------------------------------------------------------------
# From the command line.
# ----------------------------------------------------------------------------------------------------------

SMALL = ("--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "--quiet")


@pytest.fixture(scope="module")
def category(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("curves")
    write_category(root, {"crack": 3, "hole": 3}, num_normal=8, mask_shape=(48, 48), map_shape=(48, 48), seed=21,
                   anomaly_strength=(1.0, 5.0))  # fmt: skip
    return root / "maps", root / "masks"


def test_evaluate_writes_curves_that_check_reproduces(category, tmp_path):
    maps, masks = category
    out = tmp_path / "out"
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", out, "--aupro-limits", "0.05,0.3", *SMALL)
    assert code == 0, stderr
    table = pq.read_table(out / "curves.parquet")
    assert table.schema.equals(pa.schema([("curve", pa.string()), ("image", pa.string()), ("x", pa.float64()),
                                          ("y", pa.float64())]))  # fmt: skip
    columns = table.to_pydict()
    per_image = pq.read_table(out / "per_image.parquet").to_pydict()
    anomalous = [path for path, label in zip(per_image["path"], per_image["label"], strict=True) if label == 1]
    order = list(dict.fromkeys(zip(columns["curve"], columns["image"], strict=True)))
    assert order == [("roc", None), ("pr", None), ("pro", None), *(("pimo", path) for path in anomalous),
                     ("pixel_histogram_normal", None), ("pixel_histogram_anomalous", None)]  # fmt: skip
    x, y, curve = np.array(columns["x"]), np.array(columns["y"]), np.array(columns["curve"])
    roc = curve == "roc"
    assert (x[roc][0], y[roc][0], x[roc][-1], y[roc][-1]) == (0.0, 0.0, 1.0, 1.0)
    assert x[curve == "pro"][-1] == 0.3  # the largest limit
    assert (curve == "pixel_histogram_normal").sum() == (curve == "pixel_histogram_anomalous").sum() == 100
    pimo = curve == "pimo"
    assert np.all((x[pimo] > 0.5e-3) & (x[pimo] < 2e-2))
    assert "curves.parquet" in (out / "provenance.json").read_text()
    code, stdout, stderr = invoke(app, "check", out)
    assert code == 0, stdout + stderr


def test_curves_of_metrics_left_out_are_omitted(category, tmp_path):
    maps, masks = category
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "auroc", "--metrics", "auroc", *SMALL)
    assert code == 0, stderr
    curves = set(pq.read_table(tmp_path / "auroc" / "curves.parquet").column("curve").to_pylist())
    assert curves == {"roc", "pr", "pixel_histogram_normal", "pixel_histogram_anomalous"}
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "image", "--metrics", "image_auroc",
                             *SMALL)  # fmt: skip
    assert code == 0, stderr
    table = pq.read_table(tmp_path / "image" / "curves.parquet")
    assert table.num_rows == 0 and table.schema.equals(curves_schema())
