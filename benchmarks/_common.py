"""Shared pieces of the benchmarks: MVTec-sized synthetic categories and a peak-RSS sampler."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import numpy as np

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def current_rss_bytes() -> int:
    """Resident set size of this process, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


@dataclass
class StageMeasure:
    """Wall time (s), RSS before the stage and peak RSS during it (bytes)."""

    seconds: float = 0.0
    rss_before: int = 0
    rss_peak: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rss_increase(self) -> int:
        return self.rss_peak - self.rss_before


@contextmanager
def measure(interval_s: float = 0.002) -> Iterator[StageMeasure]:
    """Time a block and sample its peak RSS from a background thread."""
    result = StageMeasure(rss_before=current_rss_bytes())
    result.rss_peak = result.rss_before
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result.rss_peak = max(result.rss_peak, current_rss_bytes())
            time.sleep(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
        result.rss_peak = max(result.rss_peak, current_rss_bytes())


def synthetic_category(
    num_normal: int = 41,
    num_anomalous: int = 119,
    shape: tuple[int, int] = (1024, 1024),
    map_shape: tuple[int, int] | None = None,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A synthetic category: smooth float32 maps and 0/1 uint8 blob masks (normal images first).

    Args:
        num_normal, num_anomalous: image counts (MVTec AD screw has 41 and 119).
        shape: (H, W) of the masks.
        map_shape: (H, W) of the maps; the masks' shape when None. Smaller maps mimic model outputs.
        seed: random seed; the data is deterministic.

    Returns:
        (maps, masks): lists of float32 maps of `map_shape` and uint8 masks of `shape`.
    """
    rng = np.random.default_rng(seed)
    map_shape = map_shape or shape
    height, width = shape
    maps, masks = [], []
    for index in range(num_normal + num_anomalous):
        coarse = rng.normal(size=(32, 32)).astype(np.float32)
        amap = cv2.resize(coarse, (map_shape[1], map_shape[0]), interpolation=cv2.INTER_CUBIC)
        amap += rng.normal(scale=0.05, size=map_shape).astype(np.float32)
        mask = np.zeros(shape, dtype=np.uint8)
        if index >= num_normal:
            for _ in range(int(rng.integers(1, 4))):
                center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
                axes = (int(rng.integers(2, max(3, width // 12))), int(rng.integers(2, max(3, height // 12))))
                cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            bump = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigmaX=width / 64)
            bump = cv2.resize(bump, (map_shape[1], map_shape[0]), interpolation=cv2.INTER_AREA)
            amap += float(rng.uniform(0.5, 4.0)) * bump / max(float(bump.max()), 1e-6)
        maps.append(amap.astype(np.float32))
        masks.append(mask)
    return maps, masks


def gib(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:.2f} GiB"
