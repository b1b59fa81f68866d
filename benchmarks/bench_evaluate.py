"""End-to-end: ``aupimo evaluate`` against a load-only baseline on the same files, in one run.

Cases, written to disk once (float32 TIFF maps, 0/255 PNG masks):
- ``screw``: MVTec AD screw-sized, 41 good + 119 defective, maps 256x256, masks 1024x1024;
- ``visa``: VisA-sized, 100 good + 100 defective, maps 256x256, masks 1000x1500 (H x W).

For each case, each run a fresh process, the two interleaved (load-only, evaluate, load-only, ...):
- load-only: read every map and resize it to full resolution, read every mask (the tool's own loader,
  ``load_category(find_pairs(...))``);
- ``aupimo evaluate`` on the same folders, with the default metrics (every registered one);
- ``aupimo evaluate --thresholds``: the same, plus the operating points at thresholds chosen once (by
  ``aupimo calibrate``, untimed) on a validation set of 40 normal maps;
- ``aupimo evaluate --bootstrap 1000``: the same as ``evaluate``, plus the bootstrap intervals of the image
  metrics, mean AUPIMO, pixel AUROC and both AUPROs; and once, ``--bootstrap-pixel-ap`` on top of it;

and it prints the median wall time and peak RSS of --repeat runs of each, the maps' float32 size (N * H * W * 4
bytes at full resolution), the ratio of the medians evaluate / load-only and the cost of the operating points
(evaluate --thresholds / evaluate) and of the intervals (evaluate --bootstrap 1000 / evaluate). Both start warm
(numba cache filled, files in the page cache) after one untimed evaluate.
It also times ``aupimo --help`` and the cold start: ``evaluate`` on the sample data right after the numba
cache is deleted, as in a fresh venv, against the same run warm.

With ``--baseline DIR`` (a checkout of another version, e.g. ``git worktree add /tmp/old <commit>``), each round
also runs that version's ``aupimo evaluate`` (``PYTHONPATH=DIR``), interleaved with the others, and prints its
median and the ratio of the two versions.

    .venv/bin/python benchmarks/bench_evaluate.py [--cases screw,visa] [--dir bench_out] [--repeat 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from _common import run_child

import aupimo_cli
from aupimo_cli.synthetic import write_category

LOAD_ONLY = """
import sys
from pathlib import Path
from aupimo_cli.io import find_pairs, load_category
loaded = load_category(find_pairs(Path(sys.argv[1]), Path(sys.argv[2])))
print(len(loaded.maps))
"""
CASES = {
    "screw": {"defects": {"defect_a": 60, "defect_b": 59}, "num_normal": 41, "mask_shape": (1024, 1024)},
    "visa": {"defects": {"bad": 100}, "num_normal": 100, "mask_shape": (1000, 1500)},
}
REPO = Path(__file__).resolve().parent.parent


def clear_numba_cache() -> int:
    """Delete the cached numba kernels of the package, as in a fresh install; returns the files removed."""
    files = [*Path(aupimo_cli.__file__).parent.rglob("*.nbi"), *Path(aupimo_cli.__file__).parent.rglob("*.nbc")]
    for file in files:
        file.unlink()
    return len(files)


def bench_case(name: str, root: Path, aupimo: str, repeat: int, baseline: Path | None = None) -> None:
    spec = CASES[name]
    folder = root / name
    if not (folder / "maps").is_dir():
        write_category(folder, spec["defects"], num_normal=spec["num_normal"], mask_shape=spec["mask_shape"],
                       map_shape=(256, 256))  # fmt: skip
    if not (root / f"{name}_validation" / "maps").is_dir():
        write_category(root / f"{name}_validation", {}, num_normal=40, mask_shape=spec["mask_shape"],
                       map_shape=(256, 256), seed=1)  # fmt: skip
    thresholds = root / f"{name}_thresholds.json"
    subprocess.run([aupimo, "calibrate", str(root / f"{name}_validation" / "maps"), "--test-masks",
                    str(folder / "masks"), "--soft-frr", "0.05", "--out", str(thresholds), "--overwrite", "--quiet"],
                   check=True)  # fmt: skip
    num_images = spec["num_normal"] + sum(spec["defects"].values())
    height, width = spec["mask_shape"]
    maps_gib = num_images * height * width * 4 / 2**30
    out = root / f"results_{name}"
    evaluate = [aupimo, "evaluate", str(folder / "maps"), str(folder / "masks"), "--out", str(out), "--overwrite",
                "--quiet"]  # fmt: skip
    load_only = [sys.executable, "-c", LOAD_ONLY, str(folder / "maps"), str(folder / "masks")]
    subprocess.run(evaluate, check=True, stdout=subprocess.DEVNULL)  # warm: numba cache and page cache
    with_thresholds = [*evaluate, "--thresholds", str(thresholds)]
    subprocess.run(with_thresholds, check=True, stdout=subprocess.DEVNULL)
    bootstrapped = [*evaluate, "--bootstrap", "1000"]
    subprocess.run(bootstrapped, check=True, stdout=subprocess.DEVNULL)
    baseline_env = None if baseline is None else {**os.environ, "PYTHONPATH": str(baseline.resolve())}
    if baseline_env is not None:
        subprocess.run(evaluate, check=True, stdout=subprocess.DEVNULL, env=baseline_env)  # its numba cache
    loads, evaluates, operating, intervals, baselines = [], [], [], [], []
    for _ in range(repeat):  # interleaved, so that a slow spell of the machine hits all alike
        loads.append(run_child(load_only))
        if baseline_env is not None:
            baselines.append(run_child(evaluate, baseline_env))
        evaluates.append(run_child(evaluate))
        operating.append(run_child(with_thresholds))
        intervals.append(run_child(bootstrapped))
    pixel_ap_s, pixel_ap_rss = run_child([*bootstrapped, "--bootstrap-pixel-ap"])
    load_s, load_rss = (statistics.median(values) for values in zip(*loads, strict=True))
    evaluate_s, evaluate_rss = (statistics.median(values) for values in zip(*evaluates, strict=True))
    operating_s, operating_rss = (statistics.median(values) for values in zip(*operating, strict=True))
    intervals_s, intervals_rss = (statistics.median(values) for values in zip(*intervals, strict=True))
    print(f"\n{name}: {num_images} images, masks {height}x{width}, maps 256x256; full-resolution maps "
          f"{maps_gib:.2f} GiB float32")  # fmt: skip
    print(f"{'run (median of ' + str(repeat) + ')':40s} {'seconds':>8s} {'peak RSS':>12s} {'RSS/maps':>9s}")
    print(f"{'load-only (read + resize + masks)':40s} {load_s:8.2f} {load_rss:8.2f} GiB {load_rss / maps_gib:9.2f}")
    print(f"{'aupimo evaluate (default metrics)':40s} {evaluate_s:8.2f} {evaluate_rss:8.2f} GiB "
          f"{evaluate_rss / maps_gib:9.2f}")  # fmt: skip
    print(f"{'aupimo evaluate --thresholds':40s} {operating_s:8.2f} {operating_rss:8.2f} GiB "
          f"{operating_rss / maps_gib:9.2f}")  # fmt: skip
    print(f"{'aupimo evaluate --bootstrap 1000':40s} {intervals_s:8.2f} {intervals_rss:8.2f} GiB "
          f"{intervals_rss / maps_gib:9.2f}")  # fmt: skip
    print(f"{'  ... --bootstrap-pixel-ap (one run)':40s} {pixel_ap_s:8.2f} {pixel_ap_rss:8.2f} GiB "
          f"{pixel_ap_rss / maps_gib:9.2f}")  # fmt: skip
    load_runs = " ".join(f"{t:.2f}" for t, _ in loads)
    evaluate_runs = " ".join(f"{t:.2f}" for t, _ in evaluates)
    operating_runs = " ".join(f"{t:.2f}" for t, _ in operating)
    print(f"ratio evaluate / load-only: {evaluate_s / load_s:.2f}x  (runs: load {load_runs}; evaluate {evaluate_runs})")
    if baselines:
        base_s, base_rss = (statistics.median(values) for values in zip(*baselines, strict=True))
        base_runs = " ".join(f"{t:.2f}" for t, _ in baselines)
        print(f"baseline {baseline}: evaluate {base_s:.2f} s ({base_s / load_s:.2f}x load-only; runs {base_runs}), "
              f"peak RSS {base_rss:.2f} GiB ({base_rss / maps_gib:.2f}x the maps); this version / baseline: "
              f"{evaluate_s / base_s:.3f}x")  # fmt: skip
    print(f"ratio evaluate --thresholds / evaluate: {operating_s / evaluate_s:.3f}x  (runs: {operating_runs})")
    interval_runs = " ".join(f"{t:.2f}" for t, _ in intervals)
    print(
        f"intervals: (evaluate --bootstrap 1000 - evaluate) / evaluate = {intervals_s / evaluate_s - 1:.2f}x  "
        f"(runs: {interval_runs}); with --bootstrap-pixel-ap {pixel_ap_s / evaluate_s - 1:.2f}x"
    )
    shutil.rmtree(out, ignore_errors=True)


def bench_start(aupimo: str, root: Path) -> None:
    help_s = min(run_child([aupimo, "--help"])[0] for _ in range(3))
    sample = [aupimo, "evaluate", str(REPO / "sample_data/model_a/gear/test"),
              str(REPO / "sample_data/mvtec/gear/ground_truth"), "--out", str(root / "results_sample"), "--overwrite",
              "--quiet"]  # fmt: skip
    removed = clear_numba_cache()
    cold_s = run_child(sample)[0]
    warm_s = statistics.median(run_child(sample)[0] for _ in range(3))
    print(f"\naupimo --help (warm): {help_s:.2f} s")
    print(
        f"evaluate on sample_data (20 images at 1024x1024): cold start {cold_s:.2f} s (numba cache of {removed} "
        f"files deleted first, so every kernel compiles), warm {warm_s:.2f} s; compile cost {cold_s - warm_s:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("bench_out"))
    parser.add_argument("--cases", default="screw,visa")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to time side by side")
    args = parser.parse_args()
    aupimo = str(Path(sys.executable).parent / "aupimo")
    print(f"cores: {os.cpu_count()}, RAM: {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")
    for name in args.cases.split(","):
        bench_case(name, args.dir, aupimo, args.repeat, args.baseline)
    bench_start(aupimo, args.dir)


if __name__ == "__main__":
    main()
