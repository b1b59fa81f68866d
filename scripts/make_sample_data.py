"""Make sample_data/: a small synthetic MVTec-style category (seeded, deterministic).

Two defect types (crack, scratch) with 5 images each, 10 good images, float32 TIFF maps at 128x128 and
0/255 PNG masks at 512x512, as a model's low-resolution output next to full-resolution ground truth.

    python scripts/make_sample_data.py [--out sample_data]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from aupimo_cli.synthetic import write_category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "sample_data")
    args = parser.parse_args()
    for sub in ("maps", "masks"):
        shutil.rmtree(args.out / sub, ignore_errors=True)
    write_category(
        args.out,
        {"crack": 5, "scratch": 5},
        num_normal=10,
        mask_shape=(512, 512),
        map_shape=(128, 128),
        seed=2026,
        anomaly_strength=(2.0, 8.0),
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
