"""``aupimo benchmark`` over small multi-category trees in the MVTec, VisA and VisA-raw layouts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from aupimo_cli.cli import app
from aupimo_cli.pipeline.benchmark import plan_workers
from aupimo_cli.synthetic import write_category

from .conftest import invoke

# Small images: bounds and thresholds that small normal sets can reach.
SMALL = ("--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "--quiet")


def run(*args: str | Path) -> tuple[int, str, str]:
    return invoke(app, *args)


def _category(tmp: Path, seed: int) -> tuple[Path, Path]:
    """A synthetic category: (maps folder with good/ + 2 defects, masks folder with *_mask.png)."""
    write_category(tmp, {"crack": 3, "hole": 3}, num_normal=6, mask_shape=(96, 96), map_shape=(32, 32), seed=seed,
                   anomaly_strength=(2.0, 6.0))  # fmt: skip
    return tmp / "maps", tmp / "masks"


def make_mvtec(root: Path, categories: tuple[str, ...] = ("bottle", "screw")) -> tuple[Path, Path]:
    maps_root, dataset_root = root / "model", root / "mvtec"
    for seed, name in enumerate(categories):
        maps, masks = _category(root / "tmp" / name, seed)
        shutil.move(maps, maps_root / name / "test")
        shutil.move(masks, dataset_root / name / "ground_truth")
    return maps_root, dataset_root


def make_visa(root: Path) -> tuple[Path, Path]:
    maps_root, dataset_root = root / "model", root / "visa"
    for seed, name in enumerate(("candle", "pcb1")):
        tmp = root / "tmp" / name
        write_category(tmp, {"bad": 5}, num_normal=6, mask_shape=(80, 120), map_shape=(64, 64), seed=seed,
                       anomaly_strength=(2.0, 6.0))  # fmt: skip
        for mask in (tmp / "masks" / "bad").glob("*_mask.png"):
            mask.rename(mask.with_name(mask.name.replace("_mask", "")))
        shutil.move(tmp / "maps", maps_root / name / "test")
        shutil.move(tmp / "masks", dataset_root / name / "ground_truth")
    return maps_root, dataset_root


def make_visa_raw(root: Path) -> tuple[Path, Path]:
    maps_root, dataset_root = root / "model", root / "VisA_20220922"
    lines = ["object,split,label,image,mask"]
    for seed, name in enumerate(("candle", "pcb1")):
        tmp = root / "tmp" / name
        write_category(tmp, {"Anomaly": 5}, num_normal=7, mask_shape=(80, 80), map_shape=(40, 40), seed=seed,
                       anomaly_strength=(2.0, 6.0))  # fmt: skip
        (tmp / "maps" / "good").rename(tmp / "maps" / "Normal")
        for mask in (tmp / "masks" / "Anomaly").glob("*_mask.png"):
            mask.rename(mask.with_name(mask.name.replace("_mask", "")))
        shutil.move(tmp / "maps", maps_root / name / "Data" / "Images")
        shutil.move(tmp / "masks", dataset_root / name / "Data" / "Masks")
        # Normal/006 is a training image: the split restricts the evaluation to the other 11.
        for index in range(7):
            split = "train" if index == 6 else "test"
            lines.append(f"{name},{split},normal,{name}/Data/Images/Normal/{index:03d}.JPG,")
        for index in range(5):
            lines.append(
                f"{name},test,anomaly,{name}/Data/Images/Anomaly/{index:03d}.JPG,{name}/Data/Masks/Anomaly/{index:03d}.png"
            )
    (dataset_root / "split_csv").mkdir(parents=True)
    (dataset_root / "split_csv" / "1cls.csv").write_text("\n".join(lines) + "\n")
    return maps_root, dataset_root


@pytest.fixture(scope="module")
def mvtec_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("mvtec")
    maps_root, dataset_root = make_mvtec(root)
    out = root / "results"
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)
    assert code == 0, stderr
    return maps_root, dataset_root, out


def test_each_category_equals_evaluate_alone(mvtec_run, tmp_path):
    maps_root, dataset_root, out = mvtec_run
    for name in ("bottle", "screw"):
        alone = tmp_path / name
        code, _, stderr = run("evaluate", maps_root / name / "test", dataset_root / name / "ground_truth",
                              "--out", alone, *SMALL)  # fmt: skip
        assert code == 0, stderr
        for file in ("summary.json", "aupimo/aupimos.json", "per_image.parquet", "auroc.json", "aupro_05.json"):
            assert (out / name / file).read_bytes() == (alone / file).read_bytes(), (name, file)
        assert json.loads((out / name / "summary.json").read_text())["category"] == name


def test_dataset_tables_and_mean_row(mvtec_run):
    _, _, out = mvtec_run
    rows = json.loads((out / "summary.json").read_text())
    assert [row["category"] for row in rows] == ["bottle", "screw", "mean"]
    first = json.loads((out / "bottle" / "summary.json").read_text())
    assert list(rows[0]) == [*first, "error"]
    assert rows[0] == {**first, "error": None}
    second = json.loads((out / "screw" / "summary.json").read_text())
    mean = rows[2]
    for key in ("pixel_auroc", "aupro_30", "aupro_05", "aupimo_mean", "image_auroc"):
        assert mean[key] == pytest.approx((first[key] + second[key]) / 2, abs=1e-15)
    assert mean["num_images"] == first["num_images"] + second["num_images"]
    assert mean["thresh_lower_bound"] is None and mean["version"] is None and mean["error"] is None
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == list(rows[0])
    assert csv_lines[3].startswith("mean,")
    assert (out / "summary.md").read_text().count("\n") == 5
    table = pq.read_table(out / "per_image.parquet")
    assert table.column_names[:2] == ["category", "path"]
    assert table.num_rows == first["num_images"] + second["num_images"]
    assert table.column("path").to_pylist()[0] == "crack/000.tiff"


def test_resume_skips_up_to_date_categories_and_refuses_changed_ones(tmp_path):
    maps_root, dataset_root = make_mvtec(tmp_path)
    out = tmp_path / "results"
    assert run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)[0] == 0
    before = (out / "bottle" / "summary.json").stat().st_mtime_ns
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, *SMALL[:-1])
    assert code == 0, stderr
    assert "bottle: results are up to date, skipped" in " ".join(stderr.split())
    assert (out / "bottle" / "summary.json").stat().st_mtime_ns == before
    # A changed input is not silently replaced: that category fails and points to --overwrite, and the
    # folder keeps its previous results and rows, byte for byte.
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    (maps_root / "screw" / "test" / "good" / "000.tiff").write_bytes(
        (maps_root / "screw" / "test" / "good" / "001.tiff").read_bytes()
    )
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)
    assert code == 2
    assert "screw failed" in stderr and "--overwrite" in stderr
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before
    assert run("benchmark", maps_root, dataset_root, "--out", out, "--overwrite", *SMALL)[0] == 0


def test_a_broken_category_does_not_stop_the_others(tmp_path):
    maps_root, dataset_root = make_mvtec(tmp_path, ("bottle", "cable", "screw"))
    (dataset_root / "cable" / "ground_truth" / "hole" / "001_mask.png").unlink()
    out = tmp_path / "results"
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, *SMALL)
    assert code == 2
    rows = json.loads((out / "summary.json").read_text())
    assert [row["category"] for row in rows] == ["bottle", "cable", "screw", "mean (2 of 3)"]
    assert rows[0]["error"] is None and rows[2]["error"] is None
    assert "hole/001" in rows[1]["error"] and rows[1]["pixel_auroc"] is None
    assert rows[3]["pixel_auroc"] == pytest.approx((rows[0]["pixel_auroc"] + rows[2]["pixel_auroc"]) / 2)
    # The spread and quartiles of AUPIMO do not average over categories: left empty.
    assert [rows[3][key] for key in ("aupimo_std", "aupimo_q1", "aupimo_median", "aupimo_q3")] == [None] * 4
    assert not (out / "cable").exists()
    assert "cable failed" in stderr


def test_visa_converted_layout(tmp_path):
    maps_root, dataset_root = make_visa(tmp_path)
    out = tmp_path / "results"
    code, stdout, stderr = run("benchmark", maps_root, dataset_root, "--out", out, "--layout", "visa", "--json",
                               *SMALL)  # fmt: skip
    assert code == 0, stderr
    rows = json.loads(stdout)
    assert [(r["category"], r["num_normal"], r["num_anomalous"]) for r in rows[:2]] == [
        ("candle", 6, 5),
        ("pcb1", 6, 5),
    ]
    assert rows == json.loads((out / "summary.json").read_text())


def test_visa_raw_layout_keeps_the_test_split(tmp_path):
    maps_root, dataset_root = make_visa_raw(tmp_path)
    out = tmp_path / "results"
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", out, "--layout", "visa-raw",
                          "--categories", "pcb1", *SMALL)  # fmt: skip
    assert code == 0, stderr
    rows = json.loads((out / "summary.json").read_text())
    assert [(r["category"], r["num_normal"], r["num_anomalous"]) for r in rows] == [("pcb1", 6, 5), ("mean", 6, 5)]
    paths = pq.read_table(out / "pcb1" / "per_image.parquet").column("path").to_pylist()
    assert "Normal/006.tiff" not in paths and "Anomaly/000.tiff" in paths


def test_two_workers_give_the_same_results(mvtec_run, tmp_path):
    maps_root, dataset_root, out = mvtec_run
    parallel = tmp_path / "parallel"
    code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", parallel, "--workers", "2", *SMALL)
    assert code == 0, stderr
    for file in ("summary.json", "per_image.parquet", "bottle/aupimo/aupimos.json", "screw/per_image.parquet"):
        assert (parallel / file).read_bytes() == (out / file).read_bytes(), file


def test_bad_roots_and_layouts(tmp_path):
    code, _, stderr = run("benchmark", tmp_path / "nope", tmp_path, "--out", tmp_path / "o")
    assert code == 2 and "MAPS_ROOT" in stderr
    (tmp_path / "maps").mkdir()
    code, _, stderr = run("benchmark", tmp_path / "maps", tmp_path, "--out", tmp_path / "o", "--layout", "kolektor")
    assert code == 2 and "--layout" in stderr
    code, _, stderr = run("benchmark", tmp_path / "maps", tmp_path, "--out", tmp_path / "o")
    assert code == 2 and "no category found" in stderr


def test_worker_planning_respects_memory():
    gib = 2**30
    assert plan_workers(4, [2 * gib, 3 * gib], available=7 * gib) == 2
    assert plan_workers(4, [5 * gib] * 10, available=11 * gib) == 2
    assert plan_workers(2, [30 * gib], available=8 * gib) == 1
    assert plan_workers(1, [gib] * 3, available=100 * gib) == 1


def test_compare_two_real_benchmark_runs(mvtec_run, tmp_path):
    """Model B is model A plus noise: benchmark both, compare, and check the statistics by hand."""
    import numpy as np
    import tifffile
    from scipy.stats import rankdata, wilcoxon

    maps_root, dataset_root, out_a = mvtec_run
    noisy_root = tmp_path / "model_b"
    shutil.copytree(maps_root, noisy_root)
    rng = np.random.default_rng(7)
    for path in sorted(noisy_root.rglob("*.tiff")):
        amap = tifffile.imread(path)
        tifffile.imwrite(path, amap + rng.normal(scale=0.8, size=amap.shape).astype(np.float32))
    out_b = tmp_path / "results_b"
    assert run("benchmark", noisy_root, dataset_root, "--out", out_b, *SMALL)[0] == 0
    out = tmp_path / "compare"
    code, stdout, stderr = run("compare", out_a, out_b, "--names", "a,b", "--out", out, "--json", "--quiet")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report == json.loads((out / "compare.json").read_text())
    means = {m: [json.loads((o / c / "summary.json").read_text())["aupimo_mean"] for c in ("bottle", "screw")]
             for m, o in (("a", out_a), ("b", out_b))}  # fmt: skip
    expected_ranks = np.mean([rankdata([-means["a"][i], -means["b"][i]]) for i in range(2)], axis=0)
    assert [report["avg_rank"]["a"], report["avg_rank"]["b"]] == pytest.approx(list(expected_ranks))
    for category in ("bottle", "screw"):
        tables = [pq.read_table(o / category / "per_image.parquet").to_pylist() for o in (out_a, out_b)]
        scores = [np.array([r["aupimo"] for r in rows if r["label"] == 1]) for rows in tables]
        entry = report["wilcoxon"][category]
        assert entry["n"] == len(scores[0])
        for first, second in ((0, 1), (1, 0)):
            differences = scores[first] - scores[second]
            differences[np.abs(differences) <= 1e-3] = 0
            expected_p = 1.0 if not differences.any() else wilcoxon(differences, alternative="greater").pvalue
            names = ("a", "b")
            assert entry["pvalue"][names[first]][names[second]] == pytest.approx(expected_p, abs=1e-12)
            assert entry["confidence"][names[first]][names[second]] == pytest.approx(1 - expected_p, abs=1e-12)
        assert (
            report["table"]["a"][category]["aupimo_mean"]
            == json.loads((out_a / category / "summary.json").read_text())["aupimo_mean"]
        )


def test_check_reproduces_every_category_of_a_benchmark(mvtec_run):
    _, _, out = mvtec_run
    code, stdout, stderr = run("check", out)
    assert code == 0, stderr
    assert stdout.count("reproduced") == 2 and "bottle" in stdout and "screw" in stdout
    assert "tables agree with the categories" in stdout
