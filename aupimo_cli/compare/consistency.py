"""Summary values that the per-image file determines, recomputed from it to check a results folder.

A ``summary.json`` that disagrees with its ``per_image.parquet`` was edited or damaged after it was written;
`compare` refuses it and `check` reports it (DESIGN section 8).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..metrics.registry import PER_IMAGE_AUPIMO


def image_level_keys() -> list[str]:
    """The summary keys that the image scores and labels determine; null in a summary where not requested.
    DeLong's interval is left out: it also depends on the confidence level, an option."""
    from ..metrics.registry import METRICS, image_level_metrics, key_params

    keys = [key for name in image_level_metrics() for key in METRICS[name].keys(key_params())]
    return [key for key in keys if key not in LEVEL_DEPENDENT_KEYS]


LEVEL_DEPENDENT_KEYS = frozenset({"image_auroc_delong_low", "image_auroc_delong_high"})


SUMMARY_TOLERANCE = 1e-12
"""Largest absolute difference between a stored summary value and its recomputation from the per-image file."""


def summary_from_per_image(columns: Mapping[str, Sequence[Any]]) -> dict[str, float | int | None]:
    """The summary values the per-image columns determine: the image counts, the AUPIMO statistics over the
    anomalous images, and the image AUROC of the image scores.

    Args:
        columns: ``per_image.parquet`` as columns: at least ``label`` (0/1), ``aupimo`` (None for normal
            images or when AUPIMO was not computed) and ``image_score``.

    Returns:
        ``num_images``, ``num_normal``, ``num_anomalous``, ``aupimo_mean``, ``aupimo_std``, ``aupimo_q1``,
        ``aupimo_median``, ``aupimo_q3`` (None when no image has an AUPIMO) and the image-level metrics
        (`image_level_keys`: None unless there are normal and anomalous images).

    Examples:
        >>> values = summary_from_per_image(
        ...     {"label": [0, 1, 1], "aupimo": [None, 0.25, 0.75], "image_score": [0.1, 0.9, 0.05]}
        ... )
        >>> values["num_anomalous"], values["aupimo_mean"], values["image_auroc"]
        (2, 0.5, 0.5)
    """
    from ..metrics import aupimo_statistics
    from ..metrics.registry import PassResults, image_level_metrics, metric_values

    labels = np.asarray(columns["label"], dtype=np.int64)
    aupimos = columns[PER_IMAGE_AUPIMO]
    values: dict[str, float | int | None] = {
        "num_images": int(labels.size),
        "num_normal": int(np.count_nonzero(labels == 0)),
        "num_anomalous": int(np.count_nonzero(labels == 1)),
    }
    has_aupimo = any(value is not None for value in aupimos)
    array = np.array([math.nan if value is None else value for value in aupimos], dtype=np.float64)
    values.update(aupimo_statistics(array if has_aupimo else None, labels))
    scores = np.asarray(columns["image_score"], dtype=np.float64)
    num_anomalous = int(np.count_nonzero(labels == 1))
    names = image_level_metrics()
    if 0 < num_anomalous < labels.size and np.isfinite(scores).all():
        computed = metric_values(names, PassResults(scores, labels.astype(np.int32)))
        values.update({key: value for key, value in computed.items() if key not in LEVEL_DEPENDENT_KEYS})
    else:
        values.update(dict.fromkeys(image_level_keys()))
    return values


def summary_disagreements(summary: Mapping[str, Any], columns: Mapping[str, Sequence[Any]]) -> list[str]:
    """The summary keys whose stored value disagrees with the per-image file, as ``key: stored X, per-image
    file gives Y`` lines (empty when they agree to `SUMMARY_TOLERANCE`).

    The image-level metrics are checked only where the summary holds them (they are null when not requested);
    the AUPIMO statistics are checked whenever either file holds them.
    """
    recomputed = summary_from_per_image(columns)
    image_level = set(image_level_keys())
    lines = []
    for key, fresh in recomputed.items():
        if key not in summary:
            continue
        stored = summary[key]
        if key in image_level and stored is None:
            continue
        if stored is None and fresh is None:
            continue
        if (
            stored is not None
            and fresh is not None
            and not isinstance(stored, bool)
            and isinstance(stored, int | float)
            and abs(float(stored) - float(fresh)) <= SUMMARY_TOLERANCE
        ):
            continue
        lines.append(f"{key}: stored {stored!r}, per-image file gives {fresh!r}")
    return lines
