"""MVTec AD 2: the ``mvtec-ad2`` layout on a generated tree, and ``--protocol mvtec-ad2``'s pixel threshold (mean +
3 std of the validation pixels) and SegF1 against brute force."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from aupimo_cli.cli import app
from aupimo_cli.io.discovery import find_pairs
from aupimo_cli.pipeline.benchmark import find_categories
from aupimo_cli.synthetic import write_category

from .conftest import invoke

MASK = (96, 80)  # H x W, not square, to catch a swapped axis


@pytest.fixture(scope="module")
def ad2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """DATA/<object>/test_public/{good,bad}/<NNN>_regular.png + test_public/ground_truth/bad/<NNN>_regular_mask.png,
    and MAPS/<object>/test_public/{good,bad}/<NNN>_regular.tiff + MAPS/<object>/validation/good/*.tiff."""
    root = tmp_path_factory.mktemp("ad2")
    data, maps = root / "data", root / "maps"
    for seed, name in enumerate(("can", "vial")):
        staging = root / "staging" / name
        write_category(staging, {"bad": 4}, num_normal=3, mask_shape=MASK, map_shape=(24, 20), seed=seed,
                       anomaly_strength=(1.0, 5.0))  # fmt: skip
        write_category(root / "staging" / f"{name}-val", {}, num_normal=5, mask_shape=MASK, map_shape=(24, 20),
                       seed=seed + 50)  # fmt: skip
        for path in sorted((staging / "maps").rglob("*.tiff")):
            folder = path.parent.name
            for target in (maps / name / "test_public" / folder, data / name / "test_public" / folder):
                target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, maps / name / "test_public" / folder / f"{path.stem}_regular.tiff")
            cv2.imwrite(
                str(data / name / "test_public" / folder / f"{path.stem}_regular.png"), np.zeros(MASK, np.uint8)
            )
        (data / name / "test_public" / "ground_truth" / "bad").mkdir(parents=True)
        for path in sorted((staging / "masks" / "bad").glob("*_mask.png")):
            shutil.copy(
                path, data / name / "test_public" / "ground_truth" / "bad" / path.name.replace("_mask", "_regular_mask")
            )
        (maps / name / "validation" / "good").mkdir(parents=True)
        for path in sorted((root / "staging" / f"{name}-val" / "maps").rglob("*.tiff")):
            shutil.copy(path, maps / name / "validation" / "good" / f"{path.stem}_regular.tiff")
    return maps, data


def test_the_layout_pairs_maps_masks_and_normal_images(ad2):
    maps, data = ad2
    jobs = find_categories(maps, data, "mvtec-ad2")
    assert [job.name for job in jobs] == ["can", "vial"]
    job = jobs[0]
    assert (job.maps_root, job.masks_root) == (
        maps / "can" / "test_public",
        data / "can" / "test_public" / "ground_truth",
    )
    pairs = find_pairs(job.maps_root, job.masks_root)
    assert sorted(pair.relpath for pair in pairs if pair.mask_path is None) == [
        f"good/{i:03d}_regular.tiff" for i in range(3)
    ]
    anomalous = sorted((pair.relpath, pair.mask_path) for pair in pairs if pair.mask_path is not None)
    truth = data / "can" / "test_public" / "ground_truth" / "bad"
    assert anomalous == [(f"bad/{i:03d}_regular.tiff", truth / f"{i:03d}_regular_mask.png") for i in range(4)]


def float32_at_or_above(value: float) -> float:
    """The smallest float32 >= value."""
    candidate = np.float32(value)
    return float(candidate if float(candidate) >= value else np.nextafter(candidate, np.float32(np.inf)))


def test_the_protocols_threshold_and_segf1_are_the_brute_forces(ad2, tmp_path):
    maps, data = ad2
    out = tmp_path / "out"
    code, stdout, stderr = invoke(app, "benchmark", maps, data, "--protocol", "mvtec-ad2", "--out", out,
                                  "--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000")  # fmt: skip
    assert code == 0, stderr
    assert "MVTec AD 2 headline: AU-PRO@5%" in " ".join(stdout.split())
    for name in ("can", "vial"):
        resized = [cv2.resize(tifffile.imread(path), (MASK[1], MASK[0]), interpolation=cv2.INTER_LINEAR)
                   for path in sorted((maps / name / "validation").rglob("*.tiff"))]  # fmt: skip
        pixels = np.concatenate([r.reshape(-1) for r in resized]).astype(np.float64)
        expected = float32_at_or_above(pixels.mean() + 3 * pixels.std())  # ddof 0, as MVTec AD 2's baseline
        thresholds = json.loads((out / name / "thresholds.json").read_text())
        assert thresholds["pixel_threshold"] == expected
        tp = fp = fn = 0
        for path in sorted((maps / name / "test_public").rglob("*.tiff")):
            score = cv2.resize(tifffile.imread(path), (MASK[1], MASK[0]), interpolation=cv2.INTER_LINEAR)
            mask_path = data / name / "test_public" / "ground_truth" / "bad" / f"{path.stem}_mask.png"
            if path.parent.name == "bad":
                truth = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 0
            else:
                truth = np.zeros(MASK, bool)
            predicted = score >= np.float32(expected)
            tp += int(np.sum(predicted & truth))
            fp += int(np.sum(predicted & ~truth))
            fn += int(np.sum(~predicted & truth))
        summary = json.loads((out / name / "summary.json").read_text())
        assert abs(summary["seg_f1"] - 2 * tp / (2 * tp + fp + fn)) < 1e-12
        assert summary["aupro_05"] is not None and summary["aupro_30"] is not None


def test_a_wrong_protocol_is_refused(ad2, tmp_path):
    maps, data = ad2
    code, _, stderr = invoke(app, "benchmark", maps, data, "--protocol", "mvtec-ad3", "--out", tmp_path / "o")
    assert code == 2 and "--protocol must be mvtec-ad2" in stderr
