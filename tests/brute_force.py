"""Slow, obviously-correct implementations written straight from the metric definitions, for tests only.

They follow the reference algorithms step by step (argsort of every pixel, every threshold compared with
every pixel) so the fast core can be checked against them on small random inputs.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def mann_whitney_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score_pos > score_neg) + 1/2 P(tie), by comparing every pair."""
    pos = scores[labels.astype(bool)].astype(np.float64)
    neg = scores[~labels.astype(bool)].astype(np.float64)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def official_pro_curve(maps: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The MVTec AD PRO curve, in float64: argsort of all pixels, per-pixel FPR and PRO increments."""
    fp_changes, pro_changes, scores = [], [], []
    num_ok, num_regions = 0, 0
    for amap, mask in zip(maps, masks, strict=True):
        labels, n = ndimage.label(mask != 0, structure=np.ones((3, 3), dtype=int))
        num_regions += n
        ok = labels == 0
        num_ok += int(ok.sum())
        pro = np.zeros(amap.shape, dtype=np.float64)
        for k in range(1, n + 1):
            region = labels == k
            pro[region] = 1.0 / region.sum()
        fp_changes.append(ok.ravel().astype(np.float64))
        pro_changes.append(pro.ravel())
        scores.append(amap.ravel().astype(np.float64))
    score = np.concatenate(scores)
    order = np.argsort(score, kind="stable")[::-1]
    score = score[order]
    fpr = np.cumsum(np.concatenate(fp_changes)[order]) / num_ok
    pro = np.cumsum(np.concatenate(pro_changes)[order]) / num_regions
    keep = np.append(np.diff(score) != 0, True)
    fpr = np.clip(fpr[keep], None, 1.0)
    pro = np.clip(pro[keep], None, 1.0)
    return np.concatenate(([0.0], fpr, [1.0])), np.concatenate(([0.0], pro, [1.0]))


def official_trapezoid(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid rule up to x_max with linear interpolation at x_max, as the MVTec AD code integrates."""
    correction = 0.0
    if x_max not in x:
        ins = int(np.searchsorted(x, x_max, side="right"))
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    keep = x <= x_max
    x, y = x[keep], y[keep]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def official_aupro(maps: list[np.ndarray], masks: list[np.ndarray], limit: float) -> float:
    fpr, pro = official_pro_curve(maps, masks)
    return official_trapezoid(fpr, pro, limit) / limit


def reference_pimo(
    maps: list[np.ndarray], masks: list[np.ndarray], num_thresholds: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds, shared FPR and per-image TPRs by comparing every pixel with every threshold."""
    classes = np.array([bool((m != 0).any()) for m in masks])
    normal = [a for a, c in zip(maps, classes, strict=True) if not c]
    low = min(a.min().item() for a in normal)
    high = max(a.max().item() for a in normal)
    thresholds = np.linspace(low, high, num_thresholds, dtype=maps[0].dtype)
    fprs, tprs = [], []
    for amap, mask in zip(maps, masks, strict=True):
        anomalous = (mask != 0).ravel()
        values = amap.ravel()
        above = values[None, :] >= thresholds[:, None]
        fprs.append(above[:, ~anomalous].sum(axis=1) / (~anomalous).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            tprs.append(above[:, anomalous].sum(axis=1) / anomalous.sum())
    shared = np.stack([f for f, c in zip(fprs, classes, strict=True) if not c]).mean(axis=0)
    return thresholds, shared, np.stack(tprs)


def reference_aupimo(
    maps: list[np.ndarray], masks: list[np.ndarray], num_thresholds: int, bounds: tuple[float, float]
) -> tuple[np.ndarray, int, tuple[float, float]]:
    thresholds, shared, tprs = reference_pimo(maps, masks, num_thresholds)
    first = int(np.argmin(np.abs(shared - bounds[1])))
    last = int(np.argmin(np.abs(shared - bounds[0])))
    log_fpr = np.log(shared[first : last + 1][::-1])
    aucs = np.trapezoid(tprs[:, first : last + 1][:, ::-1], x=log_fpr, axis=1)
    aucs = np.clip(aucs / np.log(bounds[1] / bounds[0]), 0, 1)
    return aucs, int(log_fpr.size), (float(thresholds[first]), float(thresholds[last]))


def brute_force_f1_max(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(max F1, lowest threshold reaching it): every distinct score t as a threshold, counts of scores >= t,
    F1 = 2 TP / (2 TP + FP + FN) in float64, thresholds visited in ascending order with a strict > (so the
    first, lowest threshold of a maximum is kept)."""
    scores = scores.astype(np.float64).ravel()
    positive = labels.astype(bool).ravel()
    best, best_threshold = -1.0, float("nan")
    for threshold in np.unique(scores):
        predicted = scores >= threshold
        tp = int(np.sum(predicted & positive))
        fp = int(np.sum(predicted & ~positive))
        fn = int(np.sum(~predicted & positive))
        f1 = 2.0 * tp / (2 * tp + fp + fn)
        if f1 > best:
            best, best_threshold = f1, float(threshold)
    return best, best_threshold
