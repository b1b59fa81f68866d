"""``aupimo report`` of a screw-sized category, and what the curves it draws cost ``evaluate``, in one run.

Case (written to disk once, shared with bench_evaluate.py): MVTec AD screw-sized, 41 good + 119 defective, maps
256x256 float32 TIFF, masks 1024x1024, test images 1024x1024 PNG (grey texture) for the overlays.

1. ``aupimo evaluate --thresholds`` once (untimed here; bench_evaluate.py times it), then ``aupimo report`` of
   that folder, each run a fresh process: the median wall time and peak RSS of --repeat runs with the default (the
   figures drawn on a thread while the thumbnails are read) and with 2 worker processes, and the size of report.html.
2. The curves of ``curves.parquet`` in-process on the same loaded maps, medians of --repeat: the pixel pass
   with ``curves=True`` against without, AUPIMO with ``keep_curves=True`` against without, and `curve_rows`
   (decimation), so that their sum is the curves' share of ``evaluate``.

    .venv/bin/python benchmarks/bench_report.py [--dir bench_out] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from _common import run_child

from aupimo_cli.synthetic import write_category

DEFECTS = {"defect_a": 60, "defect_b": 59}
NUM_NORMAL = 41
MASK_SHAPE = (1024, 1024)


def write_images(maps: Path, images: Path) -> None:
    """A grey test image per map (same relative path, .png), with a texture, so that overlays have something
    to show and PNG encoding costs what it would on real photographs."""
    rng = np.random.default_rng(0)
    for map_path in sorted(maps.rglob("*.tiff")):
        target = (images / map_path.relative_to(maps)).with_suffix(".png")
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        base = cv2.GaussianBlur(rng.normal(128, 40, MASK_SHAPE).astype(np.float32), (0, 0), 6)
        cv2.imwrite(str(target), np.clip(base, 0, 255).astype(np.uint8))


def median_seconds(repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_curves(folder: Path, repeat: int) -> None:
    from aupimo_cli.io import find_pairs, load_category
    from aupimo_cli.metrics._pass import split_pixel_pass, split_scores
    from aupimo_cli.metrics._warmup import warm_kernels
    from aupimo_cli.metrics.curves import curve_rows
    from aupimo_cli.metrics.pimo import aupimo_of_values

    loaded = load_category(find_pairs(folder / "maps", folder / "masks"))
    split = split_scores(list(loaded.maps), list(loaded.masks))
    limits = [0.3, 0.05]
    anomalous = [None if values.size == 0 else values for values in split.anomalous]

    def pimo(keep: bool) -> Any:
        return aupimo_of_values(split.normal, anomalous, dtype=np.dtype(np.float32), keep_curves=keep)

    warm_kernels(bootstrap=False)  # as evaluate does in the background while it reads the files
    split_pixel_pass(split, limits, curves=True)
    pimo(True)
    pass_plain = median_seconds(repeat, lambda: split_pixel_pass(split, limits))
    pass_curves = median_seconds(repeat, lambda: split_pixel_pass(split, limits, curves=True))
    pimo_plain = median_seconds(repeat, lambda: pimo(False))
    pimo_curves = median_seconds(repeat, lambda: pimo(True))
    pixel, kept = split_pixel_pass(split, limits, curves=True).curves, pimo(True).curves
    paths = [pair.relpath for pair in loaded.pairs]
    # The first call is what evaluate pays (fresh memory is faulted in), the next ones are faster.
    rows_first_s = median_seconds(1, lambda: curve_rows(pixel, max(limits), kept, paths))
    rows_s = median_seconds(repeat, lambda: curve_rows(pixel, max(limits), kept, paths))
    points = sum(block.x.size for block in curve_rows(pixel, max(limits), kept, paths))
    # The differences of two medians can be below the machine's noise (negative): counted as 0.
    extra = max(pass_curves - pass_plain, 0.0) + max(pimo_curves - pimo_plain, 0.0) + rows_s
    print(f"\ncurves in-process (median of {repeat}):")
    print(f"  pixel pass   {pass_plain:6.3f} s, with curves and histograms {pass_curves:6.3f} s")
    print(f"  AUPIMO       {pimo_plain:6.3f} s, keeping the PIMO curves   {pimo_curves:6.3f} s")
    print(f"  curve_rows (decimation of every curve, first call) {rows_first_s:6.3f} s, then {rows_s:6.3f} s; "
          f"{points} points in curves.parquet")  # fmt: skip
    extra += rows_first_s - rows_s
    print(f"  curves' cost (the differences, 0 when negative, plus curve_rows' first call): {extra:.3f} s")
    BENCH_RESULTS["curves_s"] = extra


BENCH_RESULTS: dict[str, float] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("bench_out"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    aupimo = str(Path(sys.executable).parent / "aupimo")
    folder = args.dir / "screw"
    if not (folder / "maps").is_dir():
        write_category(folder, DEFECTS, num_normal=NUM_NORMAL, mask_shape=MASK_SHAPE, map_shape=(256, 256))
    if not (args.dir / "screw_validation" / "maps").is_dir():
        write_category(args.dir / "screw_validation", {}, num_normal=40, mask_shape=MASK_SHAPE, map_shape=(256, 256),
                       seed=1)  # fmt: skip
    images = args.dir / "screw_images"
    write_images(folder / "maps", images)
    out = args.dir / "results_report"
    evaluate = [aupimo, "evaluate", str(folder / "maps"), str(folder / "masks"), "--val-maps",
                str(args.dir / "screw_validation" / "maps"), "--soft-frr", "0.05", "--out", str(out), "--overwrite",
                "--quiet"]  # fmt: skip
    evaluate_s = min(run_child(evaluate)[0] for _ in range(2))
    report = [aupimo, "report", str(out), "--images", str(images), "--overwrite", "--quiet"]
    run_child(report)  # warm: page cache, matplotlib's font cache
    two, one = [], []
    for _ in range(args.repeat):  # interleaved, so that a slow spell of the machine hits both alike
        two.append(run_child([*report, "--workers", "2"]))
        one.append(run_child(report))
    two_s, two_rss = (statistics.median(values) for values in zip(*two, strict=True))
    one_s, one_rss = (statistics.median(values) for values in zip(*one, strict=True))
    size_mb = (out / "report.html").stat().st_size / 1e6
    print(f"cores: {os.cpu_count()}; screw-sized: {NUM_NORMAL} good + {sum(DEFECTS.values())} defective, masks and "
          f"images {MASK_SHAPE[0]}x{MASK_SHAPE[1]}, maps 256x256")  # fmt: skip
    print(f"{'run (median of ' + str(args.repeat) + ')':36s} {'seconds':>8s} {'peak RSS':>12s}")
    print(f"{'aupimo report --images --workers 2':36s} {two_s:8.2f} {two_rss:8.2f} GiB")
    print(f"{'aupimo report --images (default)':36s} {one_s:8.2f} {one_rss:8.2f} GiB")
    print(f"report.html: {size_mb:.2f} MB (runs: 2 workers {' '.join(f'{t:.2f}' for t, _ in two)}; "
          f"1 worker {' '.join(f'{t:.2f}' for t, _ in one)})")  # fmt: skip
    print(f"aupimo evaluate --val-maps --soft-frr (best of 2): {evaluate_s:.2f} s")
    bench_curves(folder, args.repeat)
    print(f"curves' share of evaluate: {BENCH_RESULTS['curves_s'] / evaluate_s:.1%}")


if __name__ == "__main__":
    main()
