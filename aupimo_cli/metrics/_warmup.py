"""Load the numba kernels ahead of time, so that their one-off start-up overlaps other work.

The first numba call of a process initialises LLVM and loads the cached machine code (about 0.5 s here,
plus the import of numba, 0.3 s). The command line starts this in a background thread while it reads the
files, instead of paying it when the metrics start.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


def warm_kernels(dtype: Any = np.float32) -> None:
    """Call every kernel the command line uses once, on tiny arrays of the types it will pass."""
    from ._pass import pixel_pass
    from ._pimo_kernels import add_fpr_from_histograms, add_to_histogram, masked_counts_at_or_above

    values = np.linspace(0, 1, 8, dtype=dtype)
    mask = np.zeros(8, dtype=np.bool_)
    mask[::2] = True
    # Every kernel of the shared pixel pass, with the types of the command line (float32 maps, bool masks).
    pixel_pass([values.reshape(2, 4)], [mask.reshape(2, 4)], (0.3, 0.05))
    thresholds = np.linspace(0, 1, 4, dtype=dtype)
    hist = np.zeros(5, dtype=np.int64)
    add_to_histogram(values, thresholds, hist)
    add_fpr_from_histograms(hist, hist, 8, np.zeros(4))
    masked_counts_at_or_above(values, mask, thresholds, 0, 3)


def warm_kernels_in_background() -> threading.Thread:
    """Start `warm_kernels` in a daemon thread; join it before timing-sensitive work, or not at all."""
    thread = threading.Thread(target=warm_kernels, name="aupimo-numba-warmup", daemon=True)
    thread.start()
    return thread
