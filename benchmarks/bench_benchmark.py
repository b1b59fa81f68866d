"""Wall time of ``aupimo benchmark`` over a synthetic 15-category MVTec-shaped tree, 1 worker against 2.

Each category has 20 good and 2 x 15 defective images, 64x64 float32 TIFF maps and 256x256 PNG masks.
Both runs are fresh processes into fresh output folders, measured in the same run of this script.

    .venv/bin/python benchmarks/bench_benchmark.py [--dir bench_out/dataset]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from aupimo_cli.synthetic import write_category

NUM_CATEGORIES = 15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("bench_out/dataset"))
    args = parser.parse_args()
    maps_root, dataset_root = args.dir / "model", args.dir / "mvtec"
    if not maps_root.is_dir():
        for index in range(NUM_CATEGORIES):
            name = f"category_{index:02d}"
            staging = args.dir / "staging" / name
            write_category(staging, {"crack": 15, "hole": 15}, num_normal=20, mask_shape=(256, 256),
                           map_shape=(64, 64), seed=index, anomaly_strength=(2.0, 6.0))  # fmt: skip
            shutil.move(staging / "maps", maps_root / name / "test")
            shutil.move(staging / "masks", dataset_root / name / "ground_truth")
        shutil.rmtree(args.dir / "staging")
    aupimo = str(Path(sys.executable).parent / "aupimo")
    print(f"{NUM_CATEGORIES} categories x 50 images, 64x64 maps, 256x256 masks")
    timings = {}
    for workers in (1, 2):
        out = args.dir / f"results_{workers}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([aupimo, "benchmark", str(maps_root), str(dataset_root), "--out", str(out), "--quiet",
                        "--workers", str(workers)], check=True)  # fmt: skip
        timings[workers] = time.perf_counter() - start
        print(f"--workers {workers}: {timings[workers]:.1f} s")
    same = (args.dir / "results_1" / "summary.json").read_bytes() == (
        args.dir / "results_2" / "summary.json"
    ).read_bytes()
    print(f"speed-up with 2 workers: {timings[1] / timings[2]:.2f}x; identical summaries: {same}")


if __name__ == "__main__":
    main()
