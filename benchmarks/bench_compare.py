"""``aupimo compare`` at the AUPIMO paper's scale: 13 models x 27 categories (MVTec AD's 15 and VisA's 12).

Writes the models once in the paper's published layout (``<model>/<dataset>/<category>/aupimo/aupimos.json``
with ``"num_threshs": null``, ``auroc.json``, ``aupro.json``), with synthetic per-image AUPIMO (beta
distributions, one shift per model) and the paper's image counts (about 60 to 100 anomalous images per
category), then times ``aupimo compare`` on them, figures included, in a fresh process (median of --repeat),
and prints the stages of one in-process run.

    .venv/bin/python benchmarks/bench_compare.py [--dir bench_out/compare] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MVTEC = "bottle cable capsule carpet grid hazelnut leather metal_nut pill screw tile toothbrush transistor wood zipper"
VISA = "candle capsules cashew chewinggum fryum macaroni1 macaroni2 pcb1 pcb2 pcb3 pcb4 pipe_fryum"
MODELS = [
    "patchcore_wr50", "patchcore_wr101", "efficientad_wr101_s_ext", "efficientad_wr101_m_ext", "rd++_wr50_ext",
    "simplenet_wr50_ext", "uflow_ext", "fastflow_cait_m48_448", "padim_r18", "padim_wr50", "pyramidflow_fnf_ext",
    "pyramidflow_r18_ext", "rd_wr50_ext",
]  # fmt: skip


def write_models(root: Path, num_models: int = 13) -> None:
    rng = np.random.default_rng(0)
    for index, model in enumerate(MODELS[:num_models]):
        shift = 0.2 - 0.03 * index
        for dataset, names in (("mvtec", MVTEC.split()), ("visa", VISA.split())):
            for position, category in enumerate(names):
                counts = np.random.default_rng(position + (100 if dataset == "visa" else 0))  # same for every model
                num_anomalous = int(counts.integers(60, 100))
                num_normal = int(counts.integers(20, 60))
                prefix = f"MVTec/{category}/test" if dataset == "mvtec" else f"VisA/{category}/Data/Images"
                paths = [f"{prefix}/defect_{i % 4}/{i:03d}.png" for i in range(num_anomalous)]
                paths += [f"{prefix}/good/{i:03d}.png" for i in range(num_normal)]
                values = np.clip(rng.beta(5, 2, size=num_anomalous) + shift, 0, 1).tolist()
                folder = root / model / dataset / category
                (folder / "aupimo").mkdir(parents=True, exist_ok=True)
                payload = {"shared_fpr_metric": "mean-per-image-fpr", "fpr_lower_bound": 1e-5,
                           "fpr_upper_bound": 1e-4, "num_threshs": None, "thresh_lower_bound": 0.1,
                           "thresh_upper_bound": 0.2, "aupimos": values + [float("nan")] * num_normal,
                           "paths": paths}  # fmt: skip
                (folder / "aupimo" / "aupimos.json").write_text(json.dumps(payload, indent=4, allow_nan=True))
                for name, low in (("auroc", 0.9), ("aupro", 0.8)):
                    (folder / f"{name}.json").write_text(json.dumps({"value": float(rng.uniform(low, 1.0))}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("bench_out/compare"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    models_root = args.dir / "models"
    if not models_root.is_dir():
        write_models(models_root)
    folders = [str(models_root / model) for model in MODELS]
    aupimo = str(Path(sys.executable).parent / "aupimo")
    out = args.dir / "out"
    command = [aupimo, "compare", *folders, "--out", str(out), "--overwrite", "--quiet"]
    subprocess.run(command, check=True)  # warm: page cache, numba and matplotlib font cache
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True)
        times.append(time.perf_counter() - start)
    print(f"13 models x 27 categories: aupimo compare, figures included: median {statistics.median(times):.2f} s "
          f"(runs: {' '.join(f'{t:.2f}' for t in times)})")  # fmt: skip

    from aupimo_cli.compare import compare_results
    from aupimo_cli.report.comparison import write_comparison

    start = time.perf_counter()
    comparison = compare_results([Path(folder) for folder in folders])
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    write_comparison(comparison, args.dir / "out_inprocess", overwrite=True)
    write_s = time.perf_counter() - start
    print(f"in process: read and test {read_s:.2f} s, write (tables and figures) {write_s:.2f} s")


if __name__ == "__main__":
    main()
