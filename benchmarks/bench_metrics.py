"""Time each metric of the core on an MVTec-AD-screw-sized synthetic category held in memory.

41 normal + 119 anomalous images at 1024x1024 (smooth maps, blob masks). Prints wall time and peak RSS per
metric; numba compile (or cache load) time is measured apart on a tiny input first.

    .venv/bin/python benchmarks/bench_metrics.py [--normal 41] [--anomalous 119] [--size 1024]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import gib, measure

from aupimo_cli.synthetic import synthetic_category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--normal", type=int, default=41)
    parser.add_argument("--anomalous", type=int, default=119)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()

    start = time.perf_counter()
    import aupimo_cli.metrics as metrics

    import_seconds = time.perf_counter() - start
    tiny_maps, tiny_masks = synthetic_category(2, 2, (64, 64), seed=1)
    with measure() as compile_pixel:
        metrics.pixel_metrics(tiny_maps, tiny_masks)
    with measure() as compile_pimo, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        metrics.aupimo(tiny_maps, tiny_masks, fpr_bounds=(1e-2, 1e-1), num_thresholds=1000)

    with measure() as generate:
        maps, masks = synthetic_category(args.normal, args.anomalous, (args.size, args.size))
    maps_bytes = sum(m.nbytes for m in maps)
    print(
        f"data: {args.normal} normal + {args.anomalous} anomalous at {args.size}x{args.size}, "
        f"maps {gib(maps_bytes)} float32, anomalous pixels "
        f"{sum(int(m.sum()) for m in masks) / sum(m.size for m in masks):.2%} (generated in {generate.seconds:.1f} s)"
    )

    rows = []
    every_score = np.concatenate([m.ravel() for m in maps])
    with measure() as floor:
        every_score.sort()
    del every_score
    rows.append(("floor: in-place np.sort of every score, 1 thread", floor))
    with measure() as pixel:
        values = metrics.pixel_metrics(maps, masks)
    rows.append(("pixel_metrics: AUROC + AUPRO@30% + AUPRO@5%", pixel))
    with measure() as pimo, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = metrics.aupimo(maps, masks)
    rows.append(("aupimo (300k thresholds)", pimo))
    with measure() as image:
        scores = np.array([m.max() for m in maps])
        labels = np.array([int(m.any()) for m in masks])
        image_value = metrics.image_auroc(scores, labels)
    rows.append(("image_auroc (max of each map)", image))

    print(f"import aupimo_cli.metrics: {import_seconds:.2f} s")
    print(
        "numba first call (compile, or load from cache): "
        f"pixel {compile_pixel.seconds:.2f} s, pimo {compile_pimo.seconds:.2f} s"
    )
    print(f"{'stage':48s} {'seconds':>8s} {'peak RSS':>10s} {'+RSS':>10s} {'+RSS/maps':>9s}")
    for name, stage in rows:
        print(
            f"{name:48s} {stage.seconds:8.2f} {gib(stage.rss_peak):>10s} {gib(stage.rss_increase):>10s} "
            f"{stage.rss_increase / maps_bytes:9.2f}"
        )
    total = pixel.seconds + pimo.seconds + image.seconds
    print(f"{'total metrics':48s} {total:8.2f}")
    print(
        f"values: pixel AUROC {values['pixel_auroc']:.6f}, AUPRO@30% {values['aupro_30']:.6f}, "
        f"AUPRO@5% {values['aupro_05']:.6f}, AUPIMO mean {np.nanmean(result.aupimos):.6f} "
        f"({result.num_points} points), image AUROC {image_value:.6f}"
    )


if __name__ == "__main__":
    main()
