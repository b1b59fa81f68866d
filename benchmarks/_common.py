"""Shared pieces of the benchmarks: a timer with a peak-RSS sampler."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

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


def gib(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:.2f} GiB"


def run_child(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run `command` (with `env` as its environment, if given); returns (wall seconds, peak RSS of that child
    alone in GiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), command)
    return seconds, usage.ru_maxrss / 2**20
