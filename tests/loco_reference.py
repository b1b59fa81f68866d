"""A port of MVTec LOCO AD's official sPRO evaluation, evaluated at every distinct threshold (test reference).

Ported from the official evaluation code by Kilian Batzner, Paul Bergmann, Michael Fauser and David Sattlegger
(MVTec Software GmbH, 2022), as vendored in the public repository M-3LAB/open-iad under ``metric/mvtec_loco/``:

- ``src/image.py``: ``GroundTruthChannel.get_saturation_area`` (``int(s * area)`` relative, ``min(s, area)``
  absolute) and ``AnomalyMap.get_binary_images`` (a pixel is positive when ``a > t``);
- ``src/metrics.py``: ``get_spros_for_thresholds`` (min(tp_area / saturation_area, 1) per defect and threshold),
  ``get_fp_areas_for_thresholds`` and ``get_tn_areas_for_thresholds`` (a false positive is positive and outside
  the OR over the image's channels), ``get_fp_rates`` (total FP over total FP + TN);
- ``src/aggregation.py``: ``ThresholdMetrics.get_mean_spros`` (the mean over every defect channel of the set);
- ``src/util.py``: ``get_auc_for_max_fpr`` and ``trapz`` (the trapezoid rule up to x_max with the interpolated
  correction term, divided by max_fpr);
- ``evaluate_experiment.py``: ``get_auc_spros_per_subdir`` (each anomaly folder with the good images) and the mean
  of the logical and structural values.

The official code evaluates a finite, iteratively refined set of thresholds; this port evaluates every distinct
score of the set, plus one above the maximum and one below the minimum (as the official initial thresholds do,
with its epsilon), which is the exact curve the tool computes. Brute force: (thresholds, H, W) boolean stacks.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def official_saturation_area(defect_area: int, saturation_threshold: float, relative: bool) -> int:
    """``GroundTruthChannel.get_saturation_area``."""
    if relative:
        return int(saturation_threshold * defect_area)
    return int(np.minimum(saturation_threshold, defect_area))


def official_trapz(x: NDArray[np.float64], y: NDArray[np.float64], x_max: float) -> float:
    """``util.trapz`` with an upper limit (every point is finite here)."""
    x = np.array(x)
    y = np.array(y)
    correction = 0.0
    if x_max not in x:
        ins = bisect(x, x_max)
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + ((y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1]))
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x = x[mask]
    y = y[mask]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def official_auc_spro(
    maps: Sequence[NDArray[np.float32]],
    defect_masks: Sequence[Sequence[NDArray[np.bool_]]],
    saturation_areas: Sequence[Sequence[int]],
    max_fpr: float,
) -> float:
    """AU-sPRO up to `max_fpr`, scaled to one, of one set of images (good images have no defect masks)."""
    scores = np.concatenate([np.asarray(m, dtype=np.float64).ravel() for m in maps])
    distinct = np.unique(scores)[::-1]
    thresholds = np.concatenate([[distinct[0] + 1.0], distinct, [distinct[-1] - 1.0]])
    total_fp = np.zeros(thresholds.size, dtype=np.int64)
    total_tn = np.zeros(thresholds.size, dtype=np.int64)
    spros_of_defects = []
    for amap, masks, areas in zip(maps, defect_masks, saturation_areas, strict=True):
        binary = np.greater(np.asarray(amap)[np.newaxis], thresholds[:, np.newaxis, np.newaxis])
        if masks:
            combined = np.sum(np.stack(masks), axis=0).astype(bool)
            fp = np.sum(np.logical_and(binary, np.logical_not(combined)), axis=(1, 2))
            tn = np.sum(np.logical_not(combined)) - fp
        else:
            fp = np.sum(binary, axis=(1, 2))
            tn = np.sum(np.logical_not(binary), axis=(1, 2))
        total_fp += fp
        total_tn += tn
        for mask, saturation in zip(masks, areas, strict=True):
            tp_areas = np.sum(np.logical_and(binary, mask), axis=(1, 2))
            spros_of_defects.append(np.minimum(tp_areas / saturation, 1.0))
    mean_spros = np.mean(spros_of_defects, axis=0)
    fp_rates = total_fp / (total_tn + total_fp)
    assert fp_rates[0] == 0 and fp_rates[-1] == 1
    return official_trapz(fp_rates, mean_spros, max_fpr) / max_fpr
