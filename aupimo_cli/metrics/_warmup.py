"""Load the numba kernels ahead of time, so that their one-off start-up overlaps other work.

The first numba call of a process initialises LLVM and loads the cached machine code (about 0.5 s here,
plus the import of numba, 0.3 s). The command line starts this in a background thread while it reads the
files, instead of paying it when the metrics start.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np


def warm_kernels(dtype: Any = np.float32, *, bootstrap: bool = True, spro: bool = True) -> None:
    """Call every kernel the command line uses once, on tiny arrays of the types it will pass; the bootstrap's
    only with `bootstrap`, sPRO's only with `spro` (the background warm-up of every run leaves them out: most runs
    use neither)."""
    from ._bootstrap_kernels import counts_at_or_above, precision_steps, pro_at_steps, sweep_columns
    from ._pimo_kernels import add_fpr_from_histograms, add_to_histogram, masked_counts_at_or_above
    from ._pixel_kernels import (
        counts_walk,
        group_anomalous,
        merge_count,
        shifted_moments,
        split_and_sort,
    )
    from ._select_kernels import kth_smallest_key
    from .curves import PixelCurves, decimate

    values = np.linspace(0, 1, 8, dtype=dtype)
    mask = np.zeros(8, dtype=np.bool_)
    mask[::2] = True
    scratch = np.empty(8, dtype=dtype)
    num_normal = split_and_sort(values, mask, scratch)
    shifted_moments(values, 0.5, True)
    distinct, counts, weights = group_anomalous(values[num_normal:], np.ones(8 - num_normal))
    between = np.zeros(distinct.size + 1, dtype=np.int64)
    tied = np.zeros(distinct.size, dtype=np.int64)
    merge_count(values[:num_normal], distinct, between, tied)
    counts_walk(between, tied, counts, weights, distinct, 1.0, np.array([0.3, 0.05]))
    thresholds = np.linspace(0, 1, 4, dtype=dtype)
    hist = np.zeros(5, dtype=np.int64)
    add_to_histogram(values, thresholds, hist)
    add_fpr_from_histograms(hist, hist, 8, np.zeros(4))
    masked_counts_at_or_above(values, mask, thresholds, 0, 3)
    kth_smallest_key(np.linspace(0, 1, 8, dtype=np.float32).view(np.uint32), 3)
    decimate(np.linspace(0, 1, 8), np.linspace(0, 1, 8), (0.0, 1.0), (0.0, 1.0))
    no_histogram = np.zeros(1, dtype=np.int64)
    curves = PixelCurves(distinct, between, tied, counts, weights, 1.0, np.zeros(2), no_histogram, no_histogram)
    curves.roc(), curves.pr(), curves.pro(0.3)
    if bootstrap:
        _warm_bootstrap(sweep_columns, pro_at_steps, counts_at_or_above, precision_steps)
    if spro:
        from ._pixel_kernels import distinct_index_of, saturated_overlap_weights

        index = distinct_index_of(np.sort(values[num_normal:]), np.arange(8 - num_normal, dtype=np.int64))
        saturated_overlap_weights(index, np.array([0, 2], dtype=np.int64), np.array([0, 1], dtype=np.int64),
                                  np.array([1], dtype=np.int64), distinct.size)  # fmt: skip


def _warm_bootstrap(sweep_columns: Any, pro_at_steps: Any, counts_at_or_above: Any, precision_steps: Any) -> None:
    """The bootstrap's kernels on two images of two pixels, one replicate."""
    from numba.typed import List

    normal = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    thresholds = np.array([0.35, 0.15], dtype=np.float32)
    start = np.array([0, 1, 2], dtype=np.int64)
    row = np.zeros(2, dtype=np.int32)
    count = np.ones(2, dtype=np.int32)
    weight = np.full(2, 0.5)
    steps = np.array([1], dtype=np.int64)
    replicate = np.zeros(1, dtype=np.int64)
    weights = np.ones((1, 1))
    sweep_columns(normal, np.array([0, 2, 4], dtype=np.int64), thresholds, start, row, count, weight, steps,
                  replicate, weights, np.ones((1, 2)), np.zeros((1, 2), dtype=np.int64), np.zeros((1, 5)))  # fmt: skip
    pro_at_steps(start, row, weight, 1, steps)
    counts = np.zeros((2, 1))
    counts_at_or_above(List([normal]), np.array([4], dtype=np.int64), thresholds, counts)
    precision_steps(counts, start, row, count, weights, np.ones(1), np.zeros(1), np.zeros(1), np.zeros(1))


def _warm_quietly() -> None:
    # Only a head start: a kernel that fails here fails again, reported, where the metrics call it.
    with contextlib.suppress(Exception):
        warm_kernels(bootstrap=False, spro=False)


def warm_kernels_in_background() -> threading.Thread:
    """Start `warm_kernels` in a daemon thread; join it before timing-sensitive work, or not at all."""
    thread = threading.Thread(target=_warm_quietly, name="aupimo-numba-warmup", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":  # `python -m aupimo_cli.metrics._warmup`: fill the numba cache, as `make` does at install
    warm_kernels()
