"""Time the shared pixel pass (`pixel_metrics`) alone on the screw-sized case, several times, for A/B runs.

Runs `pixel_metrics` on 41 normal + 119 anomalous synthetic images at 1024x1024 (as `bench_metrics.py`) and
prints every run's time, the median, and the keys it returned. Point PYTHONPATH at another checkout to time
that version on the same data, interleaving the two:

    for i in 1 2 3; do
        PYTHONPATH=/tmp/old .venv/bin/python benchmarks/bench_pixel_pass.py --repeat 3 --label old
        .venv/bin/python benchmarks/bench_pixel_pass.py --repeat 3 --label new
    done
"""

from __future__ import annotations

import argparse
import statistics
import time

import aupimo_cli
from aupimo_cli.metrics import pixel_metrics
from aupimo_cli.synthetic import synthetic_category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--label", default="")
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    maps, masks = synthetic_category(41, 119, (args.size, args.size))
    pixel_metrics([maps[0], maps[-1]], [masks[0], masks[-1]])  # numba: load its cache outside the timings
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        values = pixel_metrics(maps, masks)
        times.append(time.perf_counter() - start)
    shown = " ".join(f"{t:.2f}" for t in times)
    print(
        f"{args.label or aupimo_cli.__file__}: median {statistics.median(times):.2f} s over {args.repeat} runs "
        f"({shown}); keys: {', '.join(values)}"
    )


if __name__ == "__main__":
    main()
