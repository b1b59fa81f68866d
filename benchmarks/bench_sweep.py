"""``aupimo sweep`` of 13 models x 27 categories (15 MVTec AD-like, 12 VisA-like) at reduced resolution, in one run:

- the loop a CI script runs today: ``aupimo benchmark`` once per model and dataset (26 processes, one category
  at a time each), then ``aupimo compare`` per dataset and over both;
- ``aupimo sweep --executor local --workers 2``: 351 tasks on one pool of 2 processes, comparisons included;
- ``aupimo sweep --executor dask --workers 2``: the same on a 2-worker ``LocalCluster``.

Each category: 10 good + 20 defective images (more than 13, so that compare's Wilcoxon tests take
scipy's fast path, as on the real datasets), masks 256x256, maps 64x64 float32 TIFF (written once, the masks
shared by every model). Every run starts from an empty output folder; the numba cache is warm. It prints each
run's wall time, the per-task cost (wall time x workers / tasks) and the ratios.

    .venv/bin/python benchmarks/bench_sweep.py [--dir bench_out/sweep] [--models 13] [--full bench_out/screw]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from aupimo_cli.synthetic import write_category

MVTEC = ("bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut", "pill", "screw", "tile",
         "toothbrush", "transistor", "wood", "zipper")  # fmt: skip
VISA = ("candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1", "macaroni2", "pcb1", "pcb2", "pcb3",
        "pcb4", "pipe_fryum")  # fmt: skip
SMALL = ["--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "--quiet"]


def write_data(root: Path, num_models: int) -> tuple[Path, dict[str, Path]]:
    """MODELS_ROOT/<model>/<dataset>/<category>/test/... and the dataset roots (masks once per category)."""
    models_root = root / "models"
    datasets = {"mvtec": root / "data" / "mvtec", "visa": root / "data" / "visa"}
    if (root / "done").exists():
        return models_root, datasets
    shutil.rmtree(root, ignore_errors=True)
    for dataset, categories in (("mvtec", MVTEC), ("visa", VISA)):
        for c, category in enumerate(categories):
            for m in range(num_models):
                scratch = root / "scratch"
                write_category(scratch, {"defect": 20}, num_normal=10, mask_shape=(256, 256), map_shape=(64, 64),
                               seed=c, anomaly_strength=(0.5 + 0.1 * m, 4.0))  # fmt: skip
                shutil.move(scratch / "maps", models_root / f"model_{m:02d}" / dataset / category / "test")
                if m == 0:
                    shutil.move(scratch / "masks", datasets[dataset] / category / "ground_truth")
                shutil.rmtree(scratch)
    (root / "done").touch()
    return models_root, datasets


def timed(commands: list[list[str]]) -> float:
    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("bench_out/sweep"))
    parser.add_argument("--models", type=int, default=13)
    parser.add_argument(
        "--full", type=Path, default=None, help="bench_evaluate.py's screw folder: also time 8 full-resolution tasks"
    )
    args = parser.parse_args()
    aupimo = str(Path(sys.executable).parent / "aupimo")
    start = time.perf_counter()
    models_root, datasets = write_data(args.dir, args.models)
    print(f"data: {time.perf_counter() - start:.1f} s to write (once)")
    models = sorted(path.name for path in models_root.iterdir())
    tasks = len(models) * (len(MVTEC) + len(VISA))
    out = args.dir / "out"

    shutil.rmtree(out, ignore_errors=True)
    loop = [[aupimo, "benchmark", str(models_root / model / dataset), str(root), "--out", str(out / model / dataset),
             *SMALL] for model in models for dataset, root in datasets.items()]  # fmt: skip
    names = ["--names", ",".join(models)]
    loop += [[aupimo, "compare", *(str(out / model / dataset) for model in models), *names, "--out",
              str(out / "compare" / dataset), "--quiet"] for dataset in datasets]  # fmt: skip
    loop += [[aupimo, "compare", *(str(out / model) for model in models), *names, "--out", str(out / "compare" / "all"),
              "--quiet"]]  # fmt: skip
    loop_s = timed(loop[:-3])
    compare_s = timed(loop[-3:])
    loop_s += compare_s

    sweep = [aupimo, "sweep", str(models_root), *(str(root) for root in datasets.values()), *SMALL, "--workers", "2"]
    results = {}
    for executor in ("local", "dask"):
        shutil.rmtree(out, ignore_errors=True)
        results[executor] = timed([[*sweep, "--out", str(out), "--executor", executor]])
    shutil.rmtree(out, ignore_errors=True)

    print(f"cores: {os.cpu_count()}; {len(models)} models x {len(MVTEC)} + {len(VISA)} categories = {tasks} tasks "
          "(30 images each, masks 256x256, maps 64x64)")  # fmt: skip
    print(f"{'run':52s} {'seconds':>8s} {'s/task':>7s}")
    print(f"{'loop: benchmark x ' + str(len(loop) - 3) + ', compare x 3 (one process each)':52s} {loop_s:8.1f} "
          f"{loop_s / tasks:7.3f}")  # fmt: skip
    print(f"  of which the 3 compare calls: {compare_s:.1f} s")
    for executor, seconds in results.items():
        label = f"sweep --executor {executor} --workers 2 (+ 3 comparisons)"
        print(f"{label:52s} {seconds:8.1f} {seconds * 2 / tasks:7.3f}  (per task and worker)")
    print(f"ratio loop / sweep local: {loop_s / results['local']:.2f}x; loop / sweep dask: "
          f"{loop_s / results['dask']:.2f}x")  # fmt: skip
    if args.full is not None:
        full_resolution(aupimo, args.full, args.dir / "full")


def full_resolution(aupimo: str, category: Path, root: Path) -> None:
    """The per-task cost at full resolution: 2 models x 4 categories, each a link to one screw-sized category
    (bench_evaluate.py's ``screw``: 160 images, masks 1024x1024), swept with 1 worker and with 2."""
    models_root, data = root / "models", root / "data" / "mvtec"
    if not models_root.exists():
        for name in ("bottle", "cable", "capsule", "screw"):
            (data / name).mkdir(parents=True)
            (data / name / "ground_truth").symlink_to((category / "masks").absolute())
            for model in ("model_a", "model_b"):
                (models_root / model / name).mkdir(parents=True)
                (models_root / model / name / "test").symlink_to((category / "maps").absolute())
    out = root / "out"
    sweep = [aupimo, "sweep", str(models_root), str(data), "--out", str(out), "--quiet"]
    seconds = {}
    for workers in (1, 2):
        shutil.rmtree(out, ignore_errors=True)
        seconds[workers] = timed([[*sweep, "--workers", str(workers)]])
    shutil.rmtree(out, ignore_errors=True)
    print("\nfull resolution: 2 models x 4 screw-sized categories (160 images, 1024x1024) = 8 tasks")
    for workers, wall in seconds.items():
        print(f"  sweep --workers {workers}: {wall:6.1f} s, {wall / 8:5.2f} s per task (wall time / tasks)")
    print(f"  speed-up of the second worker: {seconds[1] / seconds[2]:.2f}x")


if __name__ == "__main__":
    main()
