"""Trust: a run never destroys what it did not write, and `compare` never ranks unlike runs (DESIGN section 8).

Each scenario below was a way the tool lost data or drew a wrong conclusion with exit code 0. Every test
hashes the trees before and after, so "nothing changed" is checked byte for byte.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aupimo_cli.cli import app
from aupimo_cli.compare.consistency import summary_from_per_image
from aupimo_cli.report.writers import write_json, write_per_image, write_summary
from aupimo_cli.synthetic import write_category

from .conftest import invoke

SMALL = ("--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "--quiet")


def run(*args: str | Path) -> tuple[int, str, str]:
    return invoke(app, *args)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file and folder under `folder` (relative path -> bytes; folders -> b"<dir>")."""
    return {
        path.relative_to(folder).as_posix(): b"<dir>" if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


def one_line(stderr: str) -> str:
    return " ".join(stderr.split())


@pytest.fixture
def category(tmp_path: Path) -> tuple[Path, Path]:
    write_category(tmp_path / "data", {"crack": 3, "hole": 3}, num_normal=6, mask_shape=(96, 96),
                   map_shape=(32, 32), seed=4, anomaly_strength=(2.0, 6.0))  # fmt: skip
    return tmp_path / "data" / "maps", tmp_path / "data" / "masks"


def make_mvtec(root: Path, categories: tuple[str, ...] = ("bottle", "gear")) -> tuple[Path, Path]:
    maps_root, dataset_root = root / "model", root / "mvtec"
    for seed, name in enumerate(categories):
        write_category(root / "tmp" / name, {"crack": 3, "hole": 3}, num_normal=6, mask_shape=(96, 96),
                       map_shape=(32, 32), seed=seed, anomaly_strength=(2.0, 6.0))  # fmt: skip
        shutil.move(root / "tmp" / name / "maps", maps_root / name / "test")
        shutil.move(root / "tmp" / name / "masks", dataset_root / name / "ground_truth")
    shutil.rmtree(root / "tmp")
    return maps_root, dataset_root


# ----------------------------------------------------------------------------------------------------------
# 1. Nothing but our own results is ever deleted.
# ----------------------------------------------------------------------------------------------------------


def test_out_is_the_maps_folder(tmp_path, category):
    maps, masks = category
    before = snapshot(tmp_path)
    code, _, stderr = run("evaluate", maps, masks, "--out", maps, "--overwrite", "-q")
    assert code == 2, stderr
    assert f"--out {maps} is the input {maps}" in one_line(stderr) and "nothing was changed" in stderr
    assert snapshot(tmp_path) == before


def test_out_holds_an_input_or_lies_inside_one(tmp_path, category):
    maps, masks = category
    before = snapshot(tmp_path)
    code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "data", "--overwrite", "-q")
    assert code == 2 and "holds the input" in one_line(stderr)
    code, _, stderr = run("evaluate", maps, masks, "--out", maps / "results", "-q")
    assert code == 2 and "lies inside the input folder" in one_line(stderr)
    assert snapshot(tmp_path) == before


def test_out_holding_a_users_files_is_not_replaced(tmp_path, category):
    maps, masks = category
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "train.py").write_text("print('my model')\n")
    before = snapshot(tmp_path)
    code, _, stderr = run("evaluate", maps, masks, "--out", project, "--overwrite", "-q")
    assert code == 2
    assert "holds 1 file(s) that aupimo did not write: src/train.py" in one_line(stderr)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["cwd", "home", "root"])
def test_out_is_the_current_home_or_root_folder(tmp_path, category, monkeypatch, where):
    maps, masks = category
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("keep me\n")
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HOME", str(workdir))
    out = {"cwd": Path("."), "home": workdir, "root": Path("/")}[where]
    before = snapshot(tmp_path)
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "--overwrite", "-q")
    assert code == 2, stderr
    assert "Traceback" not in stderr and "nothing was changed" in stderr
    assert snapshot(tmp_path) == before


def _as_version_0_1_0(out: Path) -> None:
    """Turn a results folder into what version 0.1.0 wrote: no manifest, and none of the later metric files."""
    provenance = json.loads((out / "provenance.json").read_text())
    del provenance["manifest"]
    (out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    for name in (
        "pixel_ap.json",
        "pixel_f1max.json",
        "image_ap.json",
        "image_f1max.json",
        "score_stats.json",
        "curves.parquet",
    ):
        (out / name).unlink()


def test_our_own_results_are_replaced_including_version_0_1_0_folders(tmp_path, category):
    maps, masks = category
    out = tmp_path / "results"
    assert run("evaluate", maps, masks, "--out", out, *SMALL)[0] == 0
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["manifest"]["kind"] == "evaluate"
    assert sorted(provenance["manifest"]["files"]) == sorted(p for p in snapshot(out) if p != "aupimo")
    assert run("evaluate", maps, masks, "--out", out, "--overwrite", *SMALL)[0] == 0
    _as_version_0_1_0(out)
    assert run("evaluate", maps, masks, "--out", out, "--overwrite", *SMALL)[0] == 0
    _as_version_0_1_0(out)
    (out / "my_notes.md").write_text("mine\n")
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "--overwrite", *SMALL)
    assert code == 2 and "is an aupimo evaluate folder and holds 1 file(s) that aupimo did not write: my_notes.md" in (
        one_line(stderr)
    )


def test_benchmark_overwrite_keeps_a_users_file_in_a_category_folder(tmp_path):
    maps_root, dataset_root = make_mvtec(tmp_path)
    out = tmp_path / "OUT"
    assert run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)[0] == 0
    (out / "gear" / "notes.txt").write_text("observations\n")
    before = snapshot(tmp_path)
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, "--overwrite", *SMALL)
    assert code == 2
    assert "gear/notes.txt" in one_line(stderr) and "nothing was changed" in stderr
    assert snapshot(tmp_path) == before


def test_benchmark_refuses_an_out_that_is_not_a_benchmark_folder(tmp_path):
    maps_root, dataset_root = make_mvtec(tmp_path, ("gear",))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text("x = 1\n")
    before = snapshot(tmp_path)
    for extra in ((), ("--overwrite",)):
        code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", project, *extra, *SMALL)
        assert code == 2 and "not a benchmark results folder" in one_line(stderr)
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", maps_root, "--overwrite", *SMALL)
    assert code == 2 and "is the input" in one_line(stderr)
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------
# 2. A refused re-run changes nothing.
# ----------------------------------------------------------------------------------------------------------


def test_benchmark_rerun_with_other_options_is_refused_and_changes_nothing(tmp_path):
    maps_root, dataset_root = make_mvtec(tmp_path)
    out = tmp_path / "OUT"
    assert run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)[0] == 0
    before = snapshot(tmp_path)
    other = ("--fpr-bounds", "2e-3,2e-2", "--num-thresholds", "20000", "--quiet")
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, *other)
    message = one_line(stderr)
    assert code == 2
    assert "--fpr-bounds 0.001,0.01 (now 0.002,0.02)" in message and "--overwrite" in message
    assert snapshot(tmp_path) == before
    # The folder is still whole: compare reads it and check reproduces it.
    assert run("compare", out, out, "--names", "x,y", "--out", tmp_path / "cmp", "-q")[0] == 0
    code, stdout, _ = run("check", out)
    assert code == 0 and "tables agree" in stdout
    # --overwrite on only some categories would mix two sets of options: refused too.
    before = snapshot(out)
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, "--overwrite", "--categories",
                          "gear", *other)  # fmt: skip
    assert code == 2 and "leaving bottle with the old options" in one_line(stderr)
    assert snapshot(out) == before
    # Every category with the new options: accepted.
    assert run("benchmark", maps_root, dataset_root, "--out", out, "--overwrite", *other)[0] == 0
    assert json.loads((out / "manifest.json").read_text())["options"]["fpr_bounds"] == [2e-3, 2e-2]


def test_benchmark_tables_write_error_changes_no_table(tmp_path, monkeypatch):
    import aupimo_cli.pipeline.benchmark as bench

    maps_root, dataset_root = make_mvtec(tmp_path, ("gear",))
    out = tmp_path / "OUT"
    assert run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)[0] == 0
    tables = {name: (out / name).read_bytes() for name in ("summary.json", "summary.csv", "manifest.json")}

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bench, "open", full_disk, raising=False)
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, "--overwrite", *SMALL)
    assert code == 2 and "the tables were not changed" in one_line(stderr) and "Traceback" not in stderr
    assert {name: (out / name).read_bytes() for name in tables} == tables
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_check_fails_when_the_top_level_tables_disagree_with_the_categories(tmp_path):
    maps_root, dataset_root = make_mvtec(tmp_path)
    out = tmp_path / "OUT"
    assert run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)[0] == 0
    rows = json.loads((out / "summary.json").read_text())
    rows[1]["aupimo_mean"] = 0.123
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    code, stdout, _ = run("check", out)
    text = one_line(stdout)
    assert code == 3
    assert "top-level tables disagree with the category folders: summary.json [gear].aupimo_mean" in text


# ----------------------------------------------------------------------------------------------------------
# 3. compare knows what it compares.
# ----------------------------------------------------------------------------------------------------------


def test_compare_refuses_runs_with_other_fpr_bounds(tmp_path, category):
    maps, masks = category
    default, other = tmp_path / "default", tmp_path / "other"
    assert run("evaluate", maps, masks, "--out", default, *SMALL)[0] == 0
    assert run("evaluate", maps, masks, "--out", other, "--fpr-bounds", "2e-3,2e-2", "--num-thresholds", "20000",
               "--aupro-limits", "0.3", "-q")[0] == 0  # fmt: skip
    out = tmp_path / "cmp"
    code, _, stderr = run("compare", default, other, "--out", out)
    message = one_line(stderr)
    assert code == 2 and not out.exists()
    assert f"--fpr-bounds 0.001,0.01 in {default}; 0.002,0.02 in {other}" in message
    assert f"--aupro-limits 0.3 in {other}; 0.3,0.05 in {default}" in message
    assert "--allow-option-mismatch" in message
    code, stdout, stderr = run("compare", default, other, "--out", out, "--allow-option-mismatch")
    assert code == 0, stderr
    assert one_line(stdout).count("(options differ: see the notes)") == 4
    assert "> **Warning:** the runs were computed with different" in (out / "compare.md").read_text()
    assert "different result-affecting options" in (out / "compare.csv").read_text().splitlines()[1]
    assert json.loads((out / "compare.json").read_text())["option_mismatches"]
    # The AUPRO limit one run lacks is named in a note, never a silent blank.
    assert "aupro_05 is missing in other" in one_line(stderr)


def test_compare_notes_a_metric_one_run_did_not_compute(tmp_path, category):
    maps, masks = category
    full, partial = tmp_path / "full", tmp_path / "partial"
    assert run("evaluate", maps, masks, "--out", full, *SMALL)[0] == 0
    assert run("evaluate", maps, masks, "--out", partial, "--metrics", "auroc,aupimo", *SMALL)[0] == 0
    code, _, stderr = run("compare", full, partial, "--out", tmp_path / "cmp", "-q")
    message = one_line(stderr)
    assert code == 0
    for key in ("aupro_30", "aupro_05", "image_auroc"):
        assert f"{key} is missing in partial" in message


def test_compare_refuses_a_tampered_summary_and_check_reports_it(tmp_path, category):
    maps, masks = category
    good, tampered = tmp_path / "good", tmp_path / "tampered"
    for out in (good, tampered):
        assert run("evaluate", maps, masks, "--out", out, *SMALL)[0] == 0
    summary = json.loads((tampered / "summary.json").read_text())
    true_mean = summary["aupimo_mean"]
    summary["aupimo_mean"] = 0.123
    (tampered / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    code, _, stderr = run("compare", good, tampered, "--out", tmp_path / "cmp")
    message = one_line(stderr)
    assert code == 2
    assert f"{tampered / 'summary.json'} disagrees with per_image.parquet" in message
    assert f"aupimo_mean: stored 0.123, per-image file gives {true_mean!r}" in message
    code, stdout, _ = run("check", tampered)
    assert code == 3 and "summary.json disagrees with per_image.parquet: aupimo_mean" in one_line(stdout)


# ----------------------------------------------------------------------------------------------------------
# 4. Order independence and both directions.
# ----------------------------------------------------------------------------------------------------------


def _result_folder(folder: Path, category: str, aupimos: list[float]) -> None:
    """A consistent evaluate folder holding these anomalous images' AUPIMO (and two normal images)."""
    paths = ["good/000.tiff", "good/001.tiff", *[f"crack/{i:03d}.tiff" for i in range(len(aupimos))]]
    labels = [0, 0, *[1] * len(aupimos)]
    columns = {
        "path": paths,
        "defect": [p.split("/")[0] for p in paths],
        "label": labels,
        "image_score": [0.1, 0.2, *[0.5 + 0.01 * i for i in range(len(aupimos))]],
        "aupimo": [None, None, *aupimos],
        "mask_pixels": [0, 0, *[10] * len(aupimos)],
        "num_regions": [0, 0, *[1] * len(aupimos)],
        "height": [8] * len(paths),
        "width": [8] * len(paths),
    }
    folder.mkdir(parents=True)
    write_per_image(folder, columns)
    summary = {"category": category, "pixel_auroc": 0.9, "aupro_30": 0.8, "aupro_05": 0.7}
    summary.update(summary_from_per_image(columns))
    write_summary(folder, summary)
    options = {"metrics": ["auroc", "aupro", "aupimo", "image_auroc"], "aupro_limits": [0.3, 0.05],
               "fpr_bounds": [1e-5, 1e-4], "num_thresholds": 300000, "normal_dirs": ["good"],
               "force": False}  # fmt: skip
    write_json(folder / "provenance.json", {"tool": {"name": "aupimo-cli"}, "options": options})


def test_reversing_the_arguments_changes_nothing_but_the_listed_order(tmp_path):
    # x and y each win two of the four images: a tie in average per-image rank, broken by the mean AUPIMO.
    # y and z are identical: a tie in everything, broken by the name.
    _result_folder(tmp_path / "x", "screw", [0.9, 0.8, 0.1, 0.1])
    _result_folder(tmp_path / "y", "screw", [0.1, 0.1, 0.3, 0.3])
    _result_folder(tmp_path / "z", "screw", [0.1, 0.1, 0.3, 0.3])
    outputs = {}
    for name, order in (("forward", ("x", "y", "z")), ("reverse", ("z", "y", "x"))):
        out = tmp_path / name
        code, _, stderr = run("compare", *(tmp_path / m for m in order), "--out", out, "--holm", "-q")
        assert code == 0, stderr
        outputs[name] = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    forward, reverse = (json.loads(outputs[k].pop("compare.json")) for k in ("forward", "reverse"))
    assert forward.pop("models") == ["x", "y", "z"] and reverse.pop("models") == ["z", "y", "x"]
    assert json.dumps(forward) == json.dumps(reverse)
    for name in ("compare.csv", "compare.md"):
        assert outputs["forward"][name] == outputs["reverse"][name], name
    tests = forward["wilcoxon"]["screw"]
    assert tests["order"] == ["x", "y", "z"] and forward["ranking"] == ["x", "y", "z"]
    # Both directions of every pair, as the paper's confidence matrix.
    assert set(tests["pvalue"]) == {"x", "y", "z"} and all(len(row) == 2 for row in tests["pvalue"].values())
    assert tests["pvalue"]["y"]["z"] == tests["pvalue"]["z"]["y"] == 1.0
    assert set(tests["pvalue_holm"]) == {"x", "y", "z"}


# ----------------------------------------------------------------------------------------------------------
# 6. Bad input and bugs are told apart by type.
# ----------------------------------------------------------------------------------------------------------


def test_a_value_error_inside_the_metric_core_is_a_bug(tmp_path, category, monkeypatch):
    import aupimo_cli.metrics._pass as shared_pass

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("an index went wrong in the kernel")

    monkeypatch.setattr(shared_pass, "split_pixel_pass", broken)
    maps, masks = category
    code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "out", *SMALL)
    assert code == 1
    assert "internal error" in stderr and "Traceback" in stderr and "an index went wrong" in stderr
    assert not (tmp_path / "out").exists()


def test_compare_write_error_is_bad_input_and_changes_nothing(tmp_path, category, monkeypatch):
    import aupimo_cli.report.comparison as rendering

    maps, masks = category
    for name in ("a", "b"):
        assert run("evaluate", maps, masks, "--out", tmp_path / name, *SMALL)[0] == 0
    out = tmp_path / "cmp"
    assert run("compare", tmp_path / "a", tmp_path / "b", "--out", out, "-q")[0] == 0
    before = snapshot(out)

    def full_disk(comparison: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rendering, "comparison_csv", full_disk)
    code, _, stderr = run("compare", tmp_path / "a", tmp_path / "b", "--out", out, "--overwrite", "-q")
    assert code == 2 and "nothing there was changed" in one_line(stderr) and "Traceback" not in stderr
    assert snapshot(out) == before


# ----------------------------------------------------------------------------------------------------------
# 7. check: every file kind, and moved inputs.
# ----------------------------------------------------------------------------------------------------------


def test_check_lists_parquet_and_csv_differences(tmp_path, category):
    maps, masks = category
    out = tmp_path / "out"
    assert run("evaluate", maps, masks, "--out", out, *SMALL)[0] == 0
    table = pq.read_table(out / "per_image.parquet")
    scores = table.column("image_score").to_pylist()
    scores[3] = 99.0
    table = table.set_column(table.column_names.index("image_score"), "image_score", pa.array(scores))
    pq.write_table(table, out / "per_image.parquet", compression="zstd")
    (out / "summary.csv").write_text((out / "summary.csv").read_text().replace(",6,", ",7,", 1))
    code, stdout, _ = run("check", out)
    text = one_line(stdout)
    path = table.column("path").to_pylist()[3]
    assert code == 3
    assert f"per_image.parquet image_score, row 3 ({path}): stored 99.0, recomputed" in text
    assert "summary.csv num_" in text and "stored '7', recomputed '6'" in text


def test_check_finds_moved_inputs(tmp_path):
    maps_root, dataset_root = make_mvtec(tmp_path)
    out = tmp_path / "OUT"
    assert run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)[0] == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(maps_root, moved / "model")
    shutil.move(dataset_root, moved / "mvtec")
    code, _, stderr = run("check", out)
    assert code == 2 and "--maps" in stderr
    code, stdout, stderr = run("check", out, "--maps", moved / "model", "--masks", moved / "mvtec")
    assert code == 0, stdout + stderr
    assert stdout.count("reproduced") == 2
    code, stdout, stderr = run("check", out / "gear", "--maps", moved / "model" / "gear" / "test",
                               "--masks", moved / "mvtec" / "gear" / "ground_truth",
                               "--images", moved / "mvtec" / "gear" / "test")  # fmt: skip
    assert code == 0, stdout + stderr


def test_mean_row_counts_the_categories_it_averages(tmp_path):
    maps_root, dataset_root = make_mvtec(tmp_path, ("bottle", "cable", "gear"))
    (dataset_root / "cable" / "ground_truth" / "hole" / "001_mask.png").unlink()
    out = tmp_path / "OUT"
    assert run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)[0] == 2
    mean = json.loads((out / "summary.json").read_text())[-1]
    assert mean["category"] == "mean (2 of 3)"
    assert mean["aupimo_std"] is None and mean["aupimo_median"] is None
    assert mean["aupimo_mean"] == pytest.approx(
        np.mean([json.loads((out / c / "summary.json").read_text())["aupimo_mean"] for c in ("bottle", "gear")])
    )
    assert "| mean (2 of 3) |" in (out / "summary.md").read_text()
