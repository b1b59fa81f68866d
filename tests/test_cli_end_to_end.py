"""``aupimo evaluate`` from files to result files, on the reference cases and on bad inputs."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tifffile

from aupimo_cli.cli import app
from aupimo_cli.metrics import AUPIMOResult

from .conftest import DATA, REFERENCE_CASES, invoke

SUMMARY_KEYS = [
    "category", "pixel_auroc", "aupro_30", "aupro_05", "aupimo_mean", "aupimo_std", "aupimo_q1", "aupimo_median",
    "aupimo_q3", "image_auroc", "image_auroc_delong_se", "image_auroc_delong_low", "image_auroc_delong_high",
    "pixel_ap", "pixel_f1max", "pixel_f1max_threshold", "image_ap", "image_f1max", "image_f1max_threshold", "pg_01",
    "pg_05", "pb_01", "pb_05", "test_frr_at_far_01", "test_frr_at_far_05", "image_threshold", "image_frr",
    "image_far", "image_soft_threshold", "share_normal_reject", "share_normal_review", "share_normal_accept",
    "share_anomalous_reject", "share_anomalous_review", "share_anomalous_accept", "pixel_threshold", "seg_f1",
    "pro_at_threshold", "mean_iou", "image_score_normal_mean", "image_score_normal_std",
    "image_score_anomalous_mean", "image_score_anomalous_std", "image_score_normal_min", "image_score_normal_max",
    "pixel_score_normal_mean", "pixel_score_normal_std", "pixel_score_anomalous_mean", "pixel_score_anomalous_std",
    "pixel_score_normal_min", "pixel_score_normal_max", "num_images", "num_normal", "num_anomalous",
    "fpr_lower_bound", "fpr_upper_bound", "thresh_lower_bound", "thresh_upper_bound", "version",
]  # fmt: skip
PER_IMAGE_COLUMNS = [
    "path",
    "defect",
    "label",
    "image_score",
    "aupimo",
    "mask_pixels",
    "num_regions",
    "height",
    "width",
    "rejected",
    "decision",
    "iou",
]


def run(*args: str | Path) -> tuple[int, str, str]:
    return invoke(app, *args)


def leftovers(out: Path) -> list[str]:
    """Everything a run left beside `out`: staging folders must never remain."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Evaluate each reference case once from its maps/ and masks/ folders."""
    outputs = {}
    for case in REFERENCE_CASES:
        out = tmp_path_factory.mktemp(case) / "results"
        code, _, stderr = run("evaluate", DATA / case / "maps", DATA / case / "masks", "--out", out, "--quiet")
        assert code == 0, stderr
        outputs[case] = out
    return outputs


@pytest.mark.parametrize("case", REFERENCE_CASES)
def test_reference_values_end_to_end(reference_runs, case):
    out = reference_runs[case]
    expected = json.loads((DATA / case / "expected.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == SUMMARY_KEYS
    assert summary["category"] == "maps"
    for key in ("pixel_auroc", "aupro_30", "aupro_05", "image_auroc", "aupimo_mean"):
        assert summary[key] == pytest.approx(expected[key], abs=1e-4), key
    assert summary["thresh_lower_bound"] == pytest.approx(expected["thresh_lower_bound"], abs=1e-4)
    assert summary["thresh_upper_bound"] == pytest.approx(expected["thresh_upper_bound"], abs=1e-4)
    num_normal = sum(v is None for v in expected["aupimos"])
    assert (summary["num_images"], summary["num_normal"]) == (len(expected["paths"]), num_normal)
    assert json.loads((out / "auroc.json").read_text()) == {"value": summary["pixel_auroc"]}
    assert json.loads((out / "aupro.json").read_text()) == {"value": summary["aupro_30"]}
    assert json.loads((out / "aupro_05.json").read_text()) == {"value": summary["aupro_05"]}

    text = (out / "aupimo" / "aupimos.json").read_text()
    payload = json.loads(text)
    assert payload["paths"] == expected["paths"]
    expected_aupimos = [math.nan if v is None else v for v in expected["aupimos"]]
    np.testing.assert_allclose(payload["aupimos"], expected_aupimos, atol=1e-4, rtol=0)
    assert [math.isnan(v) for v in payload["aupimos"]] == [v is None for v in expected["aupimos"]]
    loaded = AUPIMOResult.load(out / "aupimo" / "aupimos.json")
    assert loaded.num_normal_images == num_normal

    table = pq.read_table(out / "per_image.parquet")
    assert table.column_names == PER_IMAGE_COLUMNS
    rows = table.to_pylist()
    assert [r["path"] for r in rows] == expected["paths"]
    assert [r["label"] for r in rows] == [0 if v is None else 1 for v in expected["aupimos"]]
    assert [r["aupimo"] is None for r in rows] == [v is None for v in expected["aupimos"]]
    assert all(r["defect"] == r["path"].split("/")[0] for r in rows)
    masks = np.load(DATA / case / "arrays.npz")["masks"]
    assert [r["mask_pixels"] for r in rows] == [int(m.sum()) for m in masks]
    assert {(r["height"], r["width"]) for r in rows} == {masks.shape[1:]}

    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["fingerprint"].startswith("sha256:")
    assert provenance["inputs"]["maps"] == os.path.abspath(DATA / case / "maps")
    assert provenance["options"]["num_thresholds"] == 300_000
    assert (out / "summary.csv").read_text().splitlines()[0] == ",".join(SUMMARY_KEYS)
    assert (out / "summary.md").read_text().startswith("| category | pixel_auroc |")
    assert leftovers(out) == []


def test_same_inputs_give_the_same_bytes(reference_runs, tmp_path):
    first = reference_runs["tiff"]
    out = tmp_path / "again"
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "--quiet")
    assert code == 0, stderr
    for name in ("aupimo/aupimos.json", "summary.json", "per_image.parquet", "provenance.json", "summary.csv"):
        assert (out / name).read_bytes() == (first / name).read_bytes(), name


def test_console_script_with_json_prints_only_the_summary(tmp_path):
    script = Path(sys.executable).parent / "aupimo"
    out = tmp_path / "results"
    completed = subprocess.run(
        [script, "evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "--json",
         "--category", "demo"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["category"] == "demo"
    assert summary == json.loads((out / "summary.json").read_text())


def test_version_and_help():
    code, stdout, _ = run("--version")
    assert code == 0 and stdout.startswith("aupimo-cli ")
    code, stdout, _ = run("evaluate", "--help")
    assert code == 0
    assert run("evaluate", "-h")[1] == stdout
    assert "Usage: aupimo evaluate [OPTIONS] MAPS MASKS" in stdout
    assert "Examples:\n    aupimo evaluate maps/screw/test mvtec/screw/ground_truth" in stdout
    assert max(len(line) for line in stdout.splitlines()) <= 80
    for option in (
        "--aupro-limits",
        "--fpr-bounds",
        "--num-thresholds",
        "--normal-dirs",
        "--images",
        "--json",
        "--force",
        "--metrics",
        "--category",
        "--quiet",
        "--overwrite",
        "0.3,0.05",
        "1e-5,1e-4",
        "300000",
    ):
        assert option in stdout, option


def test_category_defaults_to_the_parent_of_a_test_folder(tmp_path):
    maps = tmp_path / "screw" / "test"
    shutil.copytree(DATA / "tiff" / "maps", maps)
    code, stdout, stderr = run("evaluate", maps, DATA / "tiff" / "masks", "--out", tmp_path / "o", "--json", "-q")
    assert code == 0, stderr
    assert json.loads(stdout)["category"] == "screw"


def test_metrics_subset_writes_only_its_files(tmp_path):
    out = tmp_path / "results"
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "-q",
                          "--metrics", "auroc")  # fmt: skip
    assert code == 0, stderr
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == ["auroc.json", "curves.parquet", "per_image.parquet", "provenance.json", "summary.csv",
                     "summary.json", "summary.md"]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pixel_auroc"] is not None
    assert all(summary[k] is None for k in ("aupro_30", "aupro_05", "aupimo_mean", "image_auroc", "thresh_lower_bound"))


def test_other_aupro_limits(tmp_path):
    out = tmp_path / "results"
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "-q",
                          "--metrics", "aupro", "--aupro-limits", "0.3,0.1,0.005")  # fmt: skip
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [k for k in summary if k.startswith("aupro")] == ["aupro_30", "aupro_10", "aupro_0p5"]
    assert {p.name for p in out.glob("aupro*.json")} == {"aupro.json", "aupro_10.json", "aupro_0p5.json"}


def test_bound_unreachable_exits_2_with_the_fix_and_writes_nothing(tmp_path):
    case = DATA / "errors" / "bound_unreachable"
    out = tmp_path / "results"
    code, _, stderr = run("evaluate", case / "maps", case / "masks", "--out", out)
    assert code == 2
    message = " ".join(stderr.split())
    assert "lower FPR bound 1e-05 cannot be reached" in message
    assert "6.944e-05" in message
    assert "--fpr-bounds" in message and "more normal images" in message and "without rounding" in message
    assert "Traceback" not in stderr
    assert not out.exists() and leftovers(out) == []


# ---------------------------------------------------------------------------------------------------------------
# bad inputs: exit code 2, one clear message, no partial outputs


def _copy_case(tmp_path: Path, case: str = "tiff") -> tuple[Path, Path]:
    maps, masks = tmp_path / "maps", tmp_path / "masks"
    shutil.copytree(DATA / case / "maps", maps)
    shutil.copytree(DATA / case / "masks", masks)
    return maps, masks


def _expect_bad_input(tmp_path: Path, maps: Path, masks: Path, *needles: str, extra: tuple[str, ...] = ()) -> None:
    out = tmp_path / "results"
    code, stdout, stderr = run("evaluate", maps, masks, "--out", out, *extra)
    assert code == 2, (stdout, stderr)
    message = " ".join(stderr.split())
    for needle in needles:
        assert needle in message, (needle, message)
    assert "Traceback" not in stderr
    assert not out.exists() and leftovers(out) == []


def test_missing_mask_outside_normal_folders(tmp_path):
    maps, masks = _copy_case(tmp_path)
    (masks / "crack" / "002_mask.png").unlink()
    _expect_bad_input(tmp_path, maps, masks, "crack/002", "mask")


def test_mask_without_map(tmp_path):
    maps, masks = _copy_case(tmp_path)
    (maps / "scratch" / "004.tiff").unlink()
    _expect_bad_input(tmp_path, maps, masks, "scratch/004_mask.png")


def test_nan_in_a_map(tmp_path):
    maps, masks = _copy_case(tmp_path)
    amap = tifffile.imread(maps / "good" / "003.tiff")
    amap[:2, :3] = np.nan
    tifffile.imwrite(maps / "good" / "003.tiff", amap)
    _expect_bad_input(tmp_path, maps, masks, "good/003.tiff", "6")


def test_corrupt_tiff(tmp_path):
    maps, masks = _copy_case(tmp_path)
    path = maps / "crack" / "001.tiff"
    path.write_bytes(path.read_bytes()[:100])
    _expect_bad_input(tmp_path, maps, masks, "crack/001.tiff")


def test_masks_of_two_resolutions_need_images(tmp_path):
    import cv2

    maps, masks = _copy_case(tmp_path)
    mask = cv2.imread(str(masks / "crack" / "000_mask.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(masks / "crack" / "000_mask.png"), cv2.resize(mask, (128, 128), interpolation=cv2.INTER_NEAREST))
    _expect_bad_input(tmp_path, maps, masks, "--images")


def test_empty_maps_folder(tmp_path):
    maps, masks = tmp_path / "maps", tmp_path / "masks"
    maps.mkdir()
    shutil.copytree(DATA / "tiff" / "masks", masks)
    _expect_bad_input(tmp_path, maps, masks, str(maps.name))


def test_existing_results_need_overwrite_and_survive_a_failed_run(tmp_path, reference_runs):
    out = tmp_path / "results"
    shutil.copytree(reference_runs["tiff"], out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out)
    assert code == 2
    assert "--overwrite" in stderr and str(out.name) in stderr
    # A failing run with --overwrite keeps the old results too.
    maps, masks = _copy_case(tmp_path / "bad")
    (masks / "crack" / "002_mask.png").unlink()
    code, _, _ = run("evaluate", maps, masks, "--out", out, "--overwrite")
    assert code == 2
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    # And a good run with --overwrite replaces them.
    code, _, stderr = run("evaluate", DATA / "npy_ties" / "maps", DATA / "npy_ties" / "masks", "--out", out,
                          "--overwrite", "-q")  # fmt: skip
    assert code == 0, stderr
    assert json.loads((out / "aupimo" / "aupimos.json").read_text())["paths"][0] == "bent/000.npy"
    assert leftovers(out) == []


def test_only_anomalous_images_points_to_metrics(tmp_path):
    maps, masks = _copy_case(tmp_path)
    shutil.rmtree(maps / "good")
    fallback = "auroc,aupro,pixel_ap,pixel_f1max,score_stats"
    for given, suggested in ((None, fallback), ("auroc,aupimo,image_auroc", "auroc")):
        extra = () if given is None else ("--metrics", given)
        code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "refused", *extra)
        message = " ".join(stderr.split())
        assert code == 2 and "aupimo, image_auroc" in message and "need normal images" in message, message
        # The suggestion is the requested metrics that work without normal images, and it does work.
        assert message.endswith(f"--metrics {suggested}."), message
        out = tmp_path / f"ok-{suggested}"
        code, _, stderr = run("evaluate", maps, masks, "--out", out, "-q", "--metrics", suggested)
        assert code == 0, stderr
        assert json.loads((out / "summary.json").read_text())["num_normal"] == 0


def test_bad_option_values(tmp_path):
    maps, masks = DATA / "tiff" / "maps", DATA / "tiff" / "masks"
    _expect_bad_input(tmp_path, maps, masks, "--metrics", extra=("--metrics", "auroc,iou"))
    _expect_bad_input(tmp_path, maps, masks, "--fpr-bounds", extra=("--fpr-bounds", "1e-4,1e-5"))
    _expect_bad_input(tmp_path, maps, masks, "--aupro-limits", extra=("--aupro-limits", "0.3,abc"))


def test_max_memory_refuses_before_reading_maps(tmp_path):
    _expect_bad_input(tmp_path, DATA / "tiff" / "maps", DATA / "tiff" / "masks", "needs about", "--max-memory",
                      extra=("--max-memory", "100M"))  # fmt: skip
    _expect_bad_input(tmp_path, DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--max-memory",
                      extra=("--max-memory", "lots"))  # fmt: skip
    out = tmp_path / "ok"
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "-q",
                          "--max-memory", "2G")  # fmt: skip
    assert code == 0, stderr


def test_memory_sizes_parse():
    from aupimo_cli.cli._common import parse_memory_size

    assert parse_memory_size("8G") == 8 * 2**30
    assert parse_memory_size("512M") == 512 * 2**20
    assert parse_memory_size("1.5GiB") == int(1.5 * 2**30)
    assert parse_memory_size("1000000") == 1_000_000
    assert parse_memory_size(None) > 0


def test_score_statistics_of_the_cli_equal_numpy_on_the_loaded_maps(reference_runs):
    """The CLI computes the statistics inside the maps' own buffer (which it sorts): check them against numpy on
    the same loaded maps, so that the in-place path can never read a value it has overwritten."""
    from aupimo_cli.io import find_pairs, load_category

    loaded = load_category(find_pairs(DATA / "tiff" / "maps", DATA / "tiff" / "masks"))
    summary = json.loads((reference_runs["tiff"] / "summary.json").read_text())
    normal = np.concatenate([m[~k] for m, k in zip(loaded.maps, loaded.masks, strict=True)]).astype(np.float64)
    anomalous = np.concatenate([m[k] for m, k in zip(loaded.maps, loaded.masks, strict=True)]).astype(np.float64)
    scores = np.array([m.max() for m in loaded.maps], dtype=np.float64)
    labels = np.array([k.any() for k in loaded.masks])
    expected = {
        "pixel_score_normal_mean": normal.mean(),
        "pixel_score_normal_std": normal.std(ddof=1),
        "pixel_score_anomalous_mean": anomalous.mean(),
        "pixel_score_anomalous_std": anomalous.std(ddof=1),
        "pixel_score_normal_min": normal.min(),
        "pixel_score_normal_max": normal.max(),
        "image_score_normal_mean": scores[~labels].mean(),
        "image_score_anomalous_std": scores[labels].std(ddof=1),
    }
    for key, value in expected.items():
        assert summary[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_the_console_script_exits_with_the_commands_code_and_its_files_written(tmp_path):
    """`main` ends the process without the interpreter's teardown: the exit code and the files must be intact."""
    import sys

    from aupimo_cli.synthetic import write_category

    write_category(tmp_path / "cat", {"crack": 3}, num_normal=3, mask_shape=(40, 40), map_shape=(20, 20), seed=2)
    run = [sys.executable, "-c", "import sys; from aupimo_cli.cli import main; sys.argv[0] = 'aupimo'; main()"]
    maps, masks = tmp_path / "cat" / "maps", tmp_path / "cat" / "masks"
    done = subprocess.run([*run, "evaluate", maps, masks, "--out", tmp_path / "out", "--fpr-bounds", "1e-3,1e-2",
                           "--json", "--quiet"], capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads((tmp_path / "out" / "summary.json").read_text())
    code, _, stderr = invoke(app, "check", tmp_path / "out")
    assert code == 0, stderr
    bad = subprocess.run([*run, "evaluate", maps, tmp_path / "missing", "--out", tmp_path / "o2"], capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "does not exist" in bad.stderr and not (tmp_path / "o2").exists()
    gated = [*run, "evaluate", maps, masks, "--out", tmp_path / "o3", "--fpr-bounds", "1e-3,1e-2", "--fail-under",
             "pixel_auroc=1.01", "--quiet"]  # fmt: skip
    gate = subprocess.run(gated, capture_output=True, text=True, check=False)
    assert gate.returncode == 4 and (tmp_path / "o3" / "summary.json").is_file()
