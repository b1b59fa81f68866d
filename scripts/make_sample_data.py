"""Make sample_data/: a small synthetic MVTec-style dataset with two categories and two models (seeded).

    sample_data/mvtec/<category>/ground_truth/<defect>/<NNN>_mask.png   0/255 masks at 1024x1024
    sample_data/model_a/<category>/test/<defect>/<NNN>.tiff              float32 maps at 64x64
    sample_data/model_b/<category>/test/<defect>/<NNN>.tiff              model_a's maps plus noise
    sample_data/model_<x>/<category>/validation/good/<NNN>.tiff          validation maps of normal images
    sample_data/mvtec_ad2/, sample_data/model_ad2/                         a tiny MVTec AD 2-style object
    sample_data/mvtec_loco/, sample_data/model_loco/                       a tiny MVTec LOCO-style category

Each category has 10 good images and two defect types of 5 images, and a validation set of 20 normal images
(as MVTec AD 2's), from which `aupimo calibrate` chooses the thresholds. model_b is model_a with Gaussian noise
added, so it is the weaker model. Nothing here comes from a real dataset.

    python scripts/make_sample_data.py [--out sample_data]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np
import tifffile

from aupimo_cli.synthetic import write_category, write_loco_category

CATEGORIES = {"gear": ("crack", "scratch"), "widget": ("dent", "hole")}
NOISE_STD = 0.6
NUM_VALIDATION = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "sample_data")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    rng = np.random.default_rng(2026)
    for seed, (category, defects) in enumerate(CATEGORIES.items(), start=2026):
        staging = args.out / ".staging" / category
        write_category(staging, dict.fromkeys(defects, 5), num_normal=10, mask_shape=(1024, 1024), map_shape=(64, 64),
                       seed=seed, anomaly_strength=(2.0, 8.0), border_fade=0.15)  # fmt: skip
        shutil.move(staging / "masks", args.out / "mvtec" / category / "ground_truth")
        shutil.move(staging / "maps", args.out / "model_a" / category / "test")
        # Held-out normal images of the same model, another seed: the thresholds are chosen on them, never on test.
        validation = args.out / ".staging" / f"{category}-validation"
        write_category(validation, {}, num_normal=NUM_VALIDATION, mask_shape=(1024, 1024), map_shape=(64, 64),
                       seed=seed + 100, border_fade=0.15)  # fmt: skip
        shutil.move(validation / "maps", args.out / "model_a" / category / "validation")
        model_a = args.out / "model_a" / category
        # The validation maps' noise has its own generator, so that the test maps stay as they were without them.
        for split, noise in (("test", rng), ("validation", np.random.default_rng(seed + 100))):
            for path in sorted((model_a / split).rglob("*.tiff")):
                noisy = tifffile.imread(path) + noise.normal(scale=NOISE_STD, size=(64, 64)).astype(np.float32)
                target = args.out / "model_b" / category / path.relative_to(model_a)
                target.parent.mkdir(parents=True, exist_ok=True)
                tifffile.imwrite(target, noisy)
    write_mvtec_ad2(args.out)
    # MVTec LOCO-style (its own seed, so the data above does not change): one mask per defect, defects_config.json.
    write_loco_category(args.out / "mvtec_loco" / "splicer", args.out / "model_loco" / "splicer" / "test",
                        counts=(8, 6, 6), mask_shape=(256, 320), map_shape=(64, 80), seed=2200)  # fmt: skip
    shutil.rmtree(args.out / ".staging")
    print(f"wrote {args.out}")


def write_mvtec_ad2(out: Path) -> None:
    """A tiny MVTec AD 2-style object, in that dataset's layout, with one model's maps (its own seed, so the
    MVTec AD-style data above does not change):

        mvtec_ad2/bracket/test_public/{good,bad}/<NNN>_regular.png             grey test images, 256x256
        mvtec_ad2/bracket/test_public/ground_truth/bad/<NNN>_regular_mask.png  0/255 masks
        model_ad2/bracket/test_public/{good,bad}/<NNN>_regular.tiff            float32 maps at 64x64
        model_ad2/bracket/validation/good/<NNN>_regular.tiff                   validation maps (normal images)
    """
    staging = out / ".staging" / "bracket"
    write_category(staging, {"bad": 6}, num_normal=6, mask_shape=(256, 256), map_shape=(64, 64), seed=2100,
                   anomaly_strength=(2.0, 8.0), border_fade=0.15)  # fmt: skip
    write_category(out / ".staging" / "bracket-validation", {}, num_normal=10, mask_shape=(256, 256),
                   map_shape=(64, 64), seed=2101, border_fade=0.15)  # fmt: skip
    dataset = out / "mvtec_ad2" / "bracket" / "test_public"
    maps = out / "model_ad2" / "bracket"
    grey = np.full((256, 256), 128, dtype=np.uint8)
    for path in sorted((staging / "maps").rglob("*.tiff")):
        folder = path.parent.name
        name = f"{path.stem}_regular"
        (maps / "test_public" / folder).mkdir(parents=True, exist_ok=True)
        shutil.move(path, maps / "test_public" / folder / f"{name}.tiff")
        (dataset / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dataset / folder / f"{name}.png"), grey)
    for path in sorted((staging / "masks" / "bad").glob("*_mask.png")):
        (dataset / "ground_truth" / "bad").mkdir(parents=True, exist_ok=True)
        shutil.move(path, dataset / "ground_truth" / "bad" / path.name.replace("_mask.png", "_regular_mask.png"))
    for path in sorted((out / ".staging" / "bracket-validation" / "maps").rglob("*.tiff")):
        (maps / "validation" / "good").mkdir(parents=True, exist_ok=True)
        shutil.move(path, maps / "validation" / "good" / f"{path.stem}_regular.tiff")


if __name__ == "__main__":
    main()
