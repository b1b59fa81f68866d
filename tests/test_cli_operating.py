"""The operating points from the command line: ``aupimo calibrate``, ``evaluate --thresholds`` and
``--val-maps``, ``benchmark --val-maps-root`` and ``--thresholds-root``, and the CI gates (exit code 4).

Maps are written at the masks' resolution, so that the tool's resize is the identity and every expected value
is computed here from the files themselves.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tifffile

from aupimo_cli.cli import app
from aupimo_cli.metrics import threshold_at_frr
from aupimo_cli.metrics.operating import float32_at_or_above
from aupimo_cli.synthetic import write_category

from .conftest import invoke

SHAPE = (48, 48)
SMALL = ("--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "--quiet")
F32 = np.float32


def run(*args: str | Path) -> tuple[int, str, str]:
    return invoke(app, *args)


def _category(root: Path, seed: int) -> tuple[Path, Path, Path]:
    """(test maps, test masks, validation maps of 10 normal images) of a synthetic category."""
    write_category(root / "test", {"crack": 4, "hole": 4}, num_normal=8, mask_shape=SHAPE, map_shape=SHAPE,
                   seed=seed, anomaly_strength=(1.0, 5.0))  # fmt: skip
    write_category(root / "val", {}, num_normal=10, mask_shape=SHAPE, map_shape=SHAPE, seed=seed + 100)
    return root / "test" / "maps", root / "test" / "masks", root / "val" / "maps"


def _maps(folder: Path) -> list[np.ndarray]:
    return [tifffile.imread(path) for path in sorted(folder.rglob("*.tiff"))]


@pytest.fixture(scope="module")
def category(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return _category(tmp_path_factory.mktemp("operating"), seed=11)


def test_calibrate_writes_the_thresholds_of_the_policy(category, tmp_path):
    _, masks, val = category
    out = tmp_path / "thresholds.json"
    code, stdout, stderr = run("calibrate", val, "--test-masks", masks, "--frr", "0.1", "--soft-frr", "0.3",
                               "--out", out)  # fmt: skip
    assert code == 0, stderr
    assert "hard" in stdout and "soft" in stdout and str(out) in stdout
    record = json.loads(out.read_text())
    val_maps = _maps(val)
    scores = np.array([m.max() for m in val_maps], dtype=F32)
    pixels = np.concatenate([m.ravel() for m in val_maps]).astype(np.float64)
    assert record["rule"] == ">="
    assert record["image_threshold"] == threshold_at_frr(scores, 0.1)
    assert record["image_soft_threshold"] == threshold_at_frr(scores, 0.3)
    assert record["pixel_threshold"] == float32_at_or_above(pixels.mean() + 3 * pixels.std())
    assert record["policy"]["image"] == "frr" and record["policy"]["soft_frr"] == 0.3
    validation = record["validation"]
    assert validation["num_images"] == validation["num_normal"] == 10
    assert validation["rates"]["image_frr"] == 0.1 and validation["rates"]["image_soft_frr"] == 0.3
    assert validation["fingerprint"].startswith("sha256:") and "48x48" in validation["resolution"]
    # The same file again: refused without --overwrite, replaced with it; a file of someone else's never.
    code, _, stderr = run("calibrate", val, "--resolution", "48x48", "--out", out)
    assert code == 2 and "--overwrite" in stderr
    assert run("calibrate", val, "--resolution", "48x48", "--out", out, "--overwrite")[0] == 0
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"mine": true}')
    code, _, stderr = run("calibrate", val, "--resolution", "48x48", "--out", foreign, "--overwrite")
    assert code == 2 and "not a thresholds file" in stderr and foreign.read_text() == '{"mine": true}'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--far", "0.1"), "--far needs defective validation images"),
        (("--f1-adaptive",), "--f1-adaptive needs defective validation images"),
        (("--frr", "1"), "must be in [0, 1)"),
        (("--frr", "0.01", "--far", "0.01"), "one rule"),
        (("--pixel", "fpr"), "--pixel-fpr"),
    ],
)
def test_calibrate_refuses_impossible_policies(category, tmp_path, args, message):
    _, masks, val = category
    code, _, stderr = run("calibrate", val, "--test-masks", masks, "--out", tmp_path / "t.json", *args)
    assert code == 2 and message in " ".join(stderr.split())
    assert not (tmp_path / "t.json").exists()


def test_calibrate_needs_a_resolution_for_mask_less_maps(category, tmp_path):
    _, _, val = category
    code, _, stderr = run("calibrate", val, "--out", tmp_path / "t.json")
    assert code == 2 and "--resolution" in stderr and "--test-masks" in stderr


def test_validation_maps_may_not_be_the_test_maps(category, tmp_path):
    maps, masks, _ = category
    code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "r", "--val-maps", maps / "good", *SMALL)
    assert code == 2 and "overlap the test maps" in " ".join(stderr.split())
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def measured(category, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(evaluate --val-maps results, the same from a saved thresholds.json)."""
    maps, masks, val = category
    root = tmp_path_factory.mktemp("measured")
    policy = ("--frr", "0.1", "--soft-frr", "0.3")
    code, _, stderr = run("evaluate", maps, masks, "--out", root / "one_go", "--val-maps", val, *policy, *SMALL)
    assert code == 0, stderr
    code, _, stderr = run("calibrate", val, "--test-masks", masks, *policy, "--out", root / "t.json")
    assert code == 0, stderr
    code, _, stderr = run("evaluate", maps, masks, "--out", root / "saved", "--thresholds", root / "t.json", *SMALL)
    assert code == 0, stderr
    return root / "one_go", root / "saved"


def test_evaluate_measures_the_operating_points_at_the_thresholds(measured):
    one_go, saved = measured
    summary = json.loads((one_go / "summary.json").read_text())
    thresholds = json.loads((one_go / "thresholds.json").read_text())
    assert json.loads((saved / "summary.json").read_text()) == summary
    table = pq.read_table(one_go / "per_image.parquet").to_pydict()
    scores = np.array(table["image_score"], dtype=F32)
    labels = np.array(table["label"])
    hard, soft = F32(thresholds["image_threshold"]), F32(thresholds["image_soft_threshold"])
    rejected = scores >= hard
    review = ~rejected & (scores >= soft)
    assert summary["image_threshold"] == thresholds["image_threshold"]
    assert summary["image_frr"] == rejected[labels == 0].mean()
    assert summary["image_far"] == (~rejected[labels == 1]).mean()
    assert summary["share_normal_review"] == review[labels == 0].mean()
    assert table["rejected"] == [int(r) for r in rejected]
    expected = ["reject" if r else "review" if v else "accept" for r, v in zip(rejected, review, strict=True)]
    assert table["decision"] == expected
    assert [iou is None for iou in table["iou"]] == [label == 0 for label in labels]
    ious = [iou for iou in table["iou"] if iou is not None]
    assert summary["mean_iou"] == pytest.approx(np.mean(ious), abs=1e-12)
    # per_defect.csv: one row per defect folder, counts from the per-image decisions.
    with open(one_go / "per_defect.csv", newline="") as handle:
        rows = {row["defect"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["crack", "good", "hole"]
    for defect, row in rows.items():
        chosen = np.array(table["defect"]) == defect
        assert int(row["images"]) == chosen.sum()
        assert int(row["rejected"]) == (rejected & chosen).sum()
        assert int(row["escaped"]) == (chosen & ~rejected & ~review & (labels == 1)).sum()
    assert "Hard image threshold" in (one_go / "per_defect.md").read_text()
    record = json.loads((one_go / "operating_points.json").read_text())
    assert set(record) == {"thresholds", "test", "per_defect", "oracle_optimistic"}
    assert "pg_05" in record["oracle_optimistic"] and "pg_05" not in record["test"]
    manifest = json.loads((one_go / "provenance.json").read_text())["manifest"]["files"]
    assert {"operating_points.json", "per_defect.csv", "per_defect.md", "thresholds.json"} <= set(manifest)


def test_check_reproduces_results_with_thresholds(measured):
    one_go, _ = measured
    code, stdout, stderr = run("check", one_go)
    assert code == 0, stderr + stdout


def test_thresholds_flags_that_do_not_go_together(category, tmp_path, measured):
    maps, masks, val = category
    saved = measured[0] / "thresholds.json"
    for args, message in (
        (("--thresholds", saved, "--val-maps", val), "not both"),
        (("--thresholds", saved, "--frr", "0.1"), "apply to --val-maps"),
        (("--frr", "0.1"), "pass --val-maps"),
        (("--metrics", "auroc,operating_points"), "needs thresholds"),
        (("--thresholds", tmp_path / "missing.json"), "does not exist"),
    ):
        code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "r", *args, *SMALL)
        assert code == 2 and message in " ".join(stderr.split()), (args, stderr)


# ---------------------------------------------------------------------------------------------------------
# CI gates.
# ---------------------------------------------------------------------------------------------------------


def test_gates_exit_4_after_writing_and_name_each_failure(category, tmp_path):
    maps, masks, val = category
    out = tmp_path / "r"
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "--val-maps", val, *SMALL,
                          "--fail-under", "image_auroc=1.5", "--fail-over", "image_frr=2",
                          "--fail-under", "imag_auroc=0.5")  # fmt: skip
    assert code == 4
    text = " ".join(stderr.split())
    assert "2 gate(s) failed" in text
    assert "image_auroc = " in text and "is under 1.5" in text
    assert "imag_auroc=0.5: no such key in the summary (did you mean image_auroc" in text
    assert "image_frr" not in text  # that gate passed
    assert (out / "summary.json").is_file()  # the results are written first


def test_a_null_key_fails_its_gate(category, tmp_path):
    maps, masks, _ = category
    code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "r", *SMALL, "--fail-under", "seg_f1=0.1")
    assert code == 4 and "seg_f1 is null" in " ".join(stderr.split())


def test_gates_from_the_config_file_and_bad_gates(category, tmp_path):
    maps, masks, _ = category
    config = tmp_path / "aupimo.toml"
    config.write_text("fail_under = { pixel_auroc = 1.1 }\n")
    code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "r", *SMALL, "--config", config)
    assert code == 4 and "pixel_auroc" in stderr
    code, _, _ = run("evaluate", maps, masks, "--out", tmp_path / "r2", *SMALL, "--fail-under", "pixel_auroc=0.5")
    assert code == 0
    code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "r3", *SMALL, "--fail-under", "auroc")
    assert code == 2 and "KEY=VALUE" in stderr and not (tmp_path / "r3").exists()
    config.write_text('fail_under = { pixel_auroc = "high" }\n')
    code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "r4", *SMALL, "--config", config)
    assert code == 2 and "fail_under" in stderr


# ---------------------------------------------------------------------------------------------------------
# Benchmarks with thresholds.
# ---------------------------------------------------------------------------------------------------------


def test_benchmark_calibrates_each_category_and_gates_every_row(tmp_path):
    maps_root, dataset_root, val_root = tmp_path / "model", tmp_path / "mvtec", tmp_path / "val"
    for seed, name in enumerate(("bottle", "screw")):
        maps, masks, val = _category(tmp_path / "tmp" / name, seed)
        shutil.move(maps, maps_root / name / "test")
        shutil.move(masks, dataset_root / name / "ground_truth")
        shutil.move(val, val_root / name / "validation")
    out = tmp_path / "bench"
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, "--val-maps-root", val_root,
                          "--frr", "0.1", *SMALL, "--fail-under", "image_auroc=1.01")  # fmt: skip
    assert code == 4, stderr
    text = " ".join(stderr.split())
    for row in ("bottle:", "screw:", "mean:"):
        assert row in text
    for name in ("bottle", "screw"):
        own = json.loads((out / name / "thresholds.json").read_text())
        scores = np.array([m.max() for m in _maps(val_root / name / "validation")], dtype=F32)
        assert own["image_threshold"] == threshold_at_frr(scores, 0.1)
    rows = json.loads((out / "summary.json").read_text())
    assert rows[-1]["image_threshold"] is None  # thresholds do not average
    assert rows[-1]["image_frr"] == pytest.approx(np.mean([row["image_frr"] for row in rows[:-1]]))
    # Reusing the saved thresholds gives the same operating points.
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", tmp_path / "again", "--thresholds-root",
                          out, *SMALL)  # fmt: skip
    assert code == 0, stderr
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert [row["image_frr"] for row in again] == [row["image_frr"] for row in rows]
    # The folder holds one set of options: without thresholds it is refused.
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)
    assert code == 2 and "--val-maps-root" in stderr


def test_benchmark_gates_intervals_per_category_not_on_the_mean_row(tmp_path):
    maps_root, dataset_root = tmp_path / "model", tmp_path / "mvtec"
    for seed, name in enumerate(("bottle", "screw")):
        maps, masks, _ = _category(tmp_path / "tmp" / name, seed)
        shutil.move(maps, maps_root / name / "test")
        shutil.move(masks, dataset_root / name / "ground_truth")
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", tmp_path / "out", *SMALL, "--bootstrap",
                          "40", "--fail-under", "image_auroc_ci_low=1.01")  # fmt: skip
    text = " ".join(stderr.split())
    assert code == 4 and "bottle: image_auroc_ci_low" in text and "screw: image_auroc_ci_low" in text
    assert "mean" not in text  # the mean row has no interval, by design: not gated on it
