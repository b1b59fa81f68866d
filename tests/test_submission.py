"""``aupimo check-submission``: a valid MVTec AD 2 submission passes; each kind of defect (wrong dtype, missing
file, extra file, NaN, 3 channels, wrong shape, non-binary thresholded map, missing folder) is named, all at
once, with exit 3."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

import aupimo_cli.pipeline.submission as submission
from aupimo_cli.cli import app

from .conftest import invoke

COUNTS = {"can": 3, "rice": 2}
SHAPES = {"can": (12, 16), "rice": (10, 10)}


def write_dataset(root: Path) -> Path:
    """<object>/test_private/NNN_regular.png and test_private_mixed/NNN_mixed.png images."""
    for name, count in COUNTS.items():
        for folder, suffix in submission.PRIVATE_SETS.items():
            (root / name / folder).mkdir(parents=True)
            for index in range(count):
                cv2.imwrite(
                    str(root / name / folder / f"{index:03d}_{suffix}.png"), np.zeros((*SHAPES[name], 3), np.uint8)
                )
    return root


def write_submission(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name, count in COUNTS.items():
        for folder, suffix in submission.PRIVATE_SETS.items():
            maps = root / "anomaly_images" / name / folder
            binary = root / "anomaly_images_thresholded" / name / folder
            maps.mkdir(parents=True)
            binary.mkdir(parents=True)
            for index in range(count):
                amap = rng.random(SHAPES[name]).astype(np.float16)
                tifffile.imwrite(maps / f"{index:03d}_{suffix}.tiff", amap)
                cv2.imwrite(str(binary / f"{index:03d}_{suffix}.png"), np.where(amap > 0.5, 255, 0).astype(np.uint8))
    return root


@pytest.fixture
def small_counts(monkeypatch):
    monkeypatch.setattr(submission, "OBJECT_IMAGE_COUNTS", COUNTS)


def test_the_published_counts():
    names = submission.expected_files(None)
    assert len(names) == 2 * sum(submission.OBJECT_IMAGE_COUNTS.values()) == 2 * 2045
    assert names[0].stem == "can/test_private/000_regular" and names[321].stem == "can/test_private_mixed/000_mixed"


def test_a_valid_submission_passes(tmp_path, small_counts):
    folder = write_submission(tmp_path / "sub")
    code, stdout, stderr = invoke(app, "check-submission", folder)
    assert code == 0, stdout + stderr
    assert "is ready to upload: 10 maps and 10 thresholded maps checked" in " ".join(stdout.split())
    code, stdout, stderr = invoke(app, "check-submission", folder, "--dataset", write_dataset(tmp_path / "data"))
    assert code == 0, stdout + stderr


def test_every_defect_is_named_at_once(tmp_path, small_counts):
    folder = write_submission(tmp_path / "sub")
    maps = folder / "anomaly_images"
    tifffile.imwrite(maps / "can/test_private/000_regular.tiff", np.zeros((12, 16), np.float32))  # wrong dtype
    (maps / "can/test_private/001_regular.tiff").unlink()  # missing file
    (maps / "can/test_private/notes.txt").write_text("mine")  # extra file
    nan = np.zeros((12, 16), np.float16)
    nan[3, 4] = np.nan
    tifffile.imwrite(maps / "can/test_private_mixed/000_mixed.tiff", nan)  # NaN
    tifffile.imwrite(maps / "can/test_private_mixed/001_mixed.tiff", np.zeros((12, 16, 3), np.float16),
                     photometric="rgb")  # 3 channels  # fmt: skip
    tifffile.imwrite(maps / "rice/test_private/000_regular.tiff", np.zeros((10, 12), np.float16))  # wrong shape
    shutil.rmtree(maps / "rice/test_private_mixed")  # a whole folder
    binary = folder / "anomaly_images_thresholded"
    cv2.imwrite(str(binary / "can/test_private/002_regular.png"), np.full((12, 16), 128, np.uint8))  # not binary
    code, stdout, stderr = invoke(app, "check-submission", folder, "--dataset", write_dataset(tmp_path / "data"))
    assert code == 3
    lines = stdout.strip().splitlines()
    expected = {
        "anomaly_images/can/test_private/000_regular.tiff: is float32, not float16",
        "anomaly_images/can/test_private/001_regular.tiff: missing",
        "anomaly_images/can/test_private/notes.txt: unexpected file",
        "anomaly_images/can/test_private_mixed/000_mixed.tiff: holds 1 NaN or infinite score(s)",
        "anomaly_images/can/test_private_mixed/001_mixed.tiff: has shape (12, 16, 3): not a single-channel image",
        "anomaly_images/rice/test_private/000_regular.tiff: is 10x12, its image 10x10",
        "anomaly_images/rice/test_private_mixed/: missing (2 files expected)",
        "anomaly_images_thresholded/can/test_private/002_regular.png: holds values other than 0 and 255 (128",
    }
    for fragment in expected:
        assert sum(line.startswith(fragment) for line in lines) == 1, (fragment, lines)
    assert len(lines) == len(expected)
    assert "8 problem(s)" in stderr


def test_without_thresholded_maps_a_note_and_a_missing_folder(tmp_path, small_counts):
    folder = write_submission(tmp_path / "sub")
    shutil.rmtree(folder / "anomaly_images_thresholded")
    code, stdout, stderr = invoke(app, "check-submission", folder)
    assert code == 0 and "no anomaly_images_thresholded/" in stderr
    shutil.rmtree(folder / "anomaly_images")
    code, stdout, _ = invoke(app, "check-submission", folder)
    assert code == 3 and stdout.startswith("anomaly_images/: missing")
    code, _, stderr = invoke(app, "check-submission", tmp_path / "nothing")
    assert code == 2 and "is not a folder" in stderr
