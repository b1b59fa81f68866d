"""Allocation of large working buffers.

On first touch every 4 KiB page of a fresh allocation costs a page fault; on virtual machines that is slow
enough (measured here: 3.4 s for 665 MB) to dominate a sort of the same data. Buffers of many megabytes are
therefore allocated with ``madvise(MADV_HUGEPAGE)``, which lets Linux back them with 2 MiB pages: 512 times
fewer faults (0.2 s for the same buffer). Elsewhere this is a plain ``np.empty``.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

# Below this size the page faults don't matter and numpy's allocator is simpler.
_HUGE_PAGE_THRESHOLD_BYTES = 32 * 2**20


def empty_array(size: int, dtype: DTypeLike) -> NDArray[Any]:
    """An uninitialized 1-D array of `size` elements, backed by huge pages when large and supported."""
    dtype = np.dtype(dtype)
    num_bytes = size * dtype.itemsize
    advise = getattr(mmap, "MADV_HUGEPAGE", None)
    if num_bytes < _HUGE_PAGE_THRESHOLD_BYTES or advise is None:
        return np.empty(size, dtype=dtype)
    buffer = mmap.mmap(-1, num_bytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buffer.madvise(advise)
    # The array keeps the mmap alive; it is unmapped when the array is garbage-collected.
    return np.frombuffer(buffer, dtype=dtype, count=size)


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo, or physical memory where that is unreadable."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def release_free_memory() -> None:
    """Return the heap's free memory to the operating system (glibc's ``malloc_trim``); a no-op elsewhere.

    Arrays of about a megabyte (masks, decoded files) come from the heap, where freeing them leaves holes that
    still count in the process's resident memory; after loading, when the full masks have been replaced by their
    boxes, trimming gives those holes back before the metrics' own peak of memory.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)
