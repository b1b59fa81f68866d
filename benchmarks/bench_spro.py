"""What sPRO adds to the shared pixel pass on a MVTec LOCO-sized category, measured side by side in one process.

A synthetic LOCO-sized category: 100 good, 75 logical and 75 structural images at 1100x1600 (LOCO's
screw_bag resolution; 250 images, 0.44 G pixels, 1.64 GiB of float32 maps), each anomalous image with one or
two defects (large rectangles for the logical ones, ellipses for the structural ones, overlapping where there
are two), saturations relative and absolute as `synthetic.LOCO_DEFECT_TYPES`. The maps are split and sorted
once (`split_scores`, as the loader does while reading); then `split_pixel_pass` runs interleaved without and
with the defects (pixel AUROC, AUPRO at 0.3 and 0.05, AP, F1max; plus sPRO at 0.05 for both evaluations), and
the script prints each run, the medians and the ratio of the added time to the pass's.

    .venv/bin/python benchmarks/bench_spro.py [--repeat 5] [--images 100,75,75] [--shape 1100,1600]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import cv2
import numpy as np

from aupimo_cli.metrics._pass import split_pixel_pass, split_scores
from aupimo_cli.metrics.spro import DefectSets, saturation_area
from aupimo_cli.synthetic import LOCO_DEFECT_TYPES


def loco_sized(counts: tuple[int, int, int], shape: tuple[int, int], seed: int = 0) -> tuple[list, list, DefectSets]:
    """Maps, union masks and `DefectSets` of a synthetic LOCO-sized category (good images first)."""
    rng = np.random.default_rng(seed)
    height, width = shape
    maps, unions = [], []
    image, positions, saturation, groups = [], [], [], []
    for kind, count in enumerate(counts):
        for _ in range(count):
            coarse = rng.normal(size=(64, 80)).astype(np.float32)
            amap = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
            union = np.zeros(shape, dtype=bool)
            defects = []
            if kind:
                for _ in range(int(rng.integers(1, 3))):
                    defect = np.zeros(shape, dtype=np.uint8)
                    if kind == 1:
                        top, left = int(rng.integers(0, height // 2)), int(rng.integers(0, width // 2))
                        cv2.rectangle(defect, (left, top), (left + width // 6, top + height // 6), 1, -1)
                    else:
                        center = (
                            int(rng.integers(width // 4, 3 * width // 4)),
                            int(rng.integers(height // 4, 3 * height // 4)),
                        )
                        cv2.ellipse(defect, center, (width // 40, height // 30), 30.0, 0, 360, 1, -1)
                    if defects:
                        row, col = np.argwhere(defects[0])[0]
                        cv2.circle(defect, (int(col), int(row)), 20, 1, -1)
                    defects.append(defect.astype(bool))
                    union |= defects[-1]
                amap[union] += np.float32(rng.uniform(0.5, 3.0))
            for defect in defects:
                entry = LOCO_DEFECT_TYPES[2 * (kind - 1) + int(rng.integers(0, 2))]
                area = int(defect.sum())
                image.append(len(maps))
                positions.append(np.flatnonzero(defect[union]).astype(np.int64))
                saturation.append(saturation_area(area, entry["saturation_threshold"], entry["relative_saturation"]))  # type: ignore[arg-type]
            groups.append(kind)
            maps.append(amap)
            unions.append(union)
    defect_sets = DefectSets(
        np.array(image, dtype=np.int64),
        positions,
        np.array(saturation, dtype=np.int64),
        np.array(groups, dtype=np.int64),
        {"logical": (0, 1), "structural": (0, 2)},
    )
    return maps, unions, defect_sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--images", default="100,75,75", help="good, logical, structural")
    parser.add_argument("--shape", default="1100,1600", help="H,W after resizing")
    args = parser.parse_args()
    counts = tuple(int(v) for v in args.images.split(","))
    shape = tuple(int(v) for v in args.shape.split(","))
    maps, unions, defects = loco_sized(counts, shape)  # type: ignore[arg-type]
    num_pixels = sum(m.size for m in maps)
    num_anomalous = sum(int(u.sum()) for u in unions)
    print(f"{len(maps)} images at {shape[0]}x{shape[1]}: {num_pixels / 1e6:.0f} M pixels, {num_anomalous / 1e6:.1f} M "
          f"anomalous ({100 * num_anomalous / num_pixels:.1f}%), {defects.image.size} defects")  # fmt: skip
    split = split_scores(maps, unions, in_place=True)
    del maps
    # numba: load the kernels' cache outside the timings.
    small = split_scores([np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)], [np.array([[False, True], [False, False]])])
    tiny = DefectSets(np.array([0]), [np.array([0])], np.array([1]), np.array([0]), {"all": (0,)})
    split_pixel_pass(small, (0.3,), defects=tiny, spro_limits=(0.05,))
    without, with_spro = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        plain = split_pixel_pass(split, (0.3, 0.05))
        without.append(time.perf_counter() - start)
        start = time.perf_counter()
        loco = split_pixel_pass(split, (0.3, 0.05), defects=defects, spro_limits=(0.05,))
        with_spro.append(time.perf_counter() - start)
    assert plain.auroc == loco.auroc and np.array_equal(plain.aupros, loco.aupros)
    base, full = statistics.median(without), statistics.median(with_spro)
    print(f"pixel pass without sPRO: median {base:.2f} s ({' '.join(f'{t:.2f}' for t in without)})")
    print(f"pixel pass with sPRO:    median {full:.2f} s ({' '.join(f'{t:.2f}' for t in with_spro)})")
    print(f"sPRO adds {full - base:.2f} s = {(full - base) / base:.2f}x the pass's time; "
          f"sPRO@5% logical {loco.spro['logical'][0]:.4f}, structural {loco.spro['structural'][0]:.4f}")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.2f} GiB; the maps' float32 size {4 * num_pixels / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
