"""End-to-end: ``aupimo evaluate`` against a load-only baseline on the same files, in one run.

Writes an MVTec-AD-screw-sized category to disk (41 good + 119 defective float32 TIFF maps at 256x256,
1024x1024 PNG masks), then runs, each as a fresh process:

- load-only: read every map and resize it to 1024x1024, read every mask (the same thread pool as the tool);
- ``aupimo evaluate`` on the same folders, all metrics;

and prints wall time, peak RSS and the ratio evaluate / load-only. Both runs start warm (numba cache
filled, files in the page cache) after one untimed evaluate.

    .venv/bin/python benchmarks/bench_evaluate.py [--dir bench_out/screw] [--repeat 1]
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

LOAD_ONLY = """
import sys
from pathlib import Path
from aupimo_cli.io import find_pairs, load_category
pairs = find_pairs(Path(sys.argv[1]), Path(sys.argv[2]))
loaded = load_category(pairs)
print(len(loaded.maps), sum(m.nbytes for m in loaded.maps))
"""


def run_child(command: list[str]) -> tuple[float, float]:
    """Run `command`; returns (wall seconds, peak RSS of that child alone in GiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, command)
    return seconds, usage.ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("bench_out/screw"))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    if not (args.dir / "maps").is_dir():
        start = time.perf_counter()
        write_category(
            args.dir, {"defect_a": 60, "defect_b": 59}, num_normal=41, mask_shape=(1024, 1024), map_shape=(256, 256)
        )
        print(f"wrote {args.dir} in {time.perf_counter() - start:.1f} s")
    size = sum(f.stat().st_size for f in args.dir.rglob("*") if f.is_file())
    print(f"category: 41 good + 119 defective, maps 256x256 float32 TIFF, masks 1024x1024 PNG, {size / 2**20:.0f} MiB")

    aupimo = str(Path(sys.executable).parent / "aupimo")
    out = args.dir.parent / "results"
    evaluate = [aupimo, "evaluate", str(args.dir / "maps"), str(args.dir / "masks"), "--out", str(out), "--overwrite",
                "--quiet"]  # fmt: skip
    load_only = [sys.executable, "-c", LOAD_ONLY, str(args.dir / "maps"), str(args.dir / "masks")]
    subprocess.run(evaluate, check=True, stdout=subprocess.DEVNULL)  # warm: numba cache and page cache

    load_times, evaluate_times = [], []
    load_rss = evaluate_rss = 0.0
    for _ in range(args.repeat):
        seconds, load_rss = run_child(load_only)
        load_times.append(seconds)
    for _ in range(args.repeat):
        seconds, evaluate_rss = run_child(evaluate)
        evaluate_times.append(seconds)
    load_s, evaluate_s = min(load_times), min(evaluate_times)
    print(f"cores: {os.cpu_count()}")
    print(f"{'run':40s} {'seconds':>8s} {'peak RSS':>10s}")
    print(f"{'load-only (read + resize + masks)':40s} {load_s:8.2f} {load_rss:8.2f} GiB")
    print(f"{'aupimo evaluate (all metrics)':40s} {evaluate_s:8.2f} {evaluate_rss:8.2f} GiB")
    print(f"ratio evaluate / load-only: {evaluate_s / load_s:.2f}x")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
