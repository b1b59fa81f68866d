"""``aupimo drift`` over 30 periods of 200 parts (256x256 float32 TIFF maps), resized to 1024x1024 as the
thresholds record, against reading the same files alone, in one run.

The data (6000 maps, 1.6 GB) is written once under --dir; the thresholds are chosen once by ``aupimo calibrate``
on 100 more maps (untimed). Each run is a fresh process, the two interleaved; medians of --repeat runs.

    .venv/bin/python benchmarks/bench_drift.py [--dir bench_out/drift] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile
from _common import run_child

READ_ONLY = """
import sys
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from aupimo_cli.io.readers import read_map
paths = sorted(Path(sys.argv[1]).rglob("*.tiff"))
with ThreadPoolExecutor(2) as pool:
    print(sum(1 for _ in pool.map(read_map, paths)))
"""
PERIODS, PARTS = 30, 200


def write_data(root: Path) -> None:
    if (root / "done").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    folders = {"validation": 100, **{f"prod/2026-11-{day:02d}": PARTS for day in range(1, PERIODS + 1)}}
    for name, count in folders.items():
        folder = root / name
        folder.mkdir(parents=True)
        shift = 0.5 if name.endswith("-25") else 0.0
        for i in range(count):
            amap = rng.normal(shift, 1.0, (256, 256)).astype(np.float32)
            tifffile.imwrite(folder / f"{i:03d}.tiff", amap)
    (root / "done").touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("bench_out/drift"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    aupimo = str(Path(sys.executable).parent / "aupimo")
    write_data(args.dir)
    thresholds = args.dir / "thresholds.json"
    subprocess.run([aupimo, "calibrate", str(args.dir / "validation"), "--resolution", "1024x1024", "--frr", "0.01",
                    "--soft-frr", "0.05", "--out", str(thresholds), "--overwrite", "--quiet"], check=True)  # fmt: skip
    prod = args.dir / "prod"
    drift = [aupimo, "drift", "--baseline", str(prod / "2026-11-0*"), "--runs", str(prod / "2026-11-[123]*"),
             "--thresholds", str(thresholds), "--out", str(args.dir / "out"), "--overwrite", "--quiet"]  # fmt: skip
    read_only = [sys.executable, "-c", READ_ONLY, str(prod)]
    run_child(drift)  # warm: page cache
    drifts, reads = [], []
    for _ in range(args.repeat):
        reads.append(run_child(read_only))
        drifts.append(run_child(drift))
    drift_s, drift_rss = (statistics.median(values) for values in zip(*drifts, strict=True))
    read_s, read_rss = (statistics.median(values) for values in zip(*reads, strict=True))
    print(f"cores: {os.cpu_count()}; {PERIODS} periods x {PARTS} parts, maps 256x256 float32 TIFF resized to 1024x1024")
    print(f"{'run (median of ' + str(args.repeat) + ')':44s} {'seconds':>8s} {'peak RSS':>12s}")
    print(f"{'read every map (2 threads, no resize)':44s} {read_s:8.2f} {read_rss:8.2f} GiB")
    print(f"{'aupimo drift (9 baseline + 21 run periods)':44s} {drift_s:8.2f} {drift_rss:8.2f} GiB")
    print(f"ratio drift / read: {drift_s / read_s:.2f}x (runs: drift {' '.join(f'{t:.2f}' for t, _ in drifts)})")


if __name__ == "__main__":
    main()
