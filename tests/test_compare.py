"""``aupimo compare``: tables, average ranks and Wilcoxon tests from real ``evaluate`` result folders."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.stats
import tifffile
import typer

from aupimo_cli.cli.compare import compare
from aupimo_cli.compare.comparison import MATPLOTLIB_MISSING_NOTE, compare_results
from aupimo_cli.compare.stats import (
    average_ranks,
    holm_adjust,
    order_by_image_rank,
    pairwise_pvalues,
    wilcoxon_pvalue,
)
from aupimo_cli.errors import InputError
from aupimo_cli.io.discovery import image_key
from aupimo_cli.pipeline.evaluate import EvaluateOptions, evaluate_category, write_evaluation
from aupimo_cli.report.comparison import write_comparison
from aupimo_cli.synthetic import write_category

from .conftest import invoke

OPTIONS = EvaluateOptions(fpr_bounds=(1e-3, 1e-2), num_thresholds=20_000)
METRIC_KEYS = ["aupimo_mean", "aupimo_std", "pixel_auroc", "aupro_30", "aupro_05", "image_auroc", "pixel_ap",
               "pixel_f1max", "image_ap", "image_f1max"]  # fmt: skip
DEFECTS = {"crack": 4, "hole": 4}
SEEDS = {"alpha": 1, "beta": 2, "gamma": 3}


def _evaluate(maps: Path, masks: Path, out: Path, category: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        evaluation = evaluate_category(maps, masks, OPTIONS, category=category)
    write_evaluation(evaluation, out, overwrite=False)
    return evaluation.summary


def _noisy_copy(source: Path, target: Path, seed: int, scale: float = 0.4) -> None:
    """Model B: model A's maps plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    for path in sorted(source.rglob("*.tiff")):
        amap = tifffile.imread(path)
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(destination, (amap + rng.normal(scale=scale, size=amap.shape)).astype(np.float32))


def _write_benchmark_summary(folder: Path, summaries: list[dict], failed: tuple[str, ...] = ()) -> None:
    """What ``aupimo benchmark`` writes as DIR/summary.json: sorted rows, failed ones with an error, a mean row."""
    keys = list(summaries[0])
    rows = [{**summary, "error": None} for summary in summaries]
    rows += [{**dict.fromkeys(keys), "category": name, "error": "bad input: something"} for name in failed]
    rows.sort(key=lambda row: row["category"])
    mean = {key: None for key in keys} | {"category": "mean", "error": None}
    mean["aupimo_mean"] = float(np.mean([s["aupimo_mean"] for s in summaries]))
    rows.append(mean)
    (folder / "summary.json").write_text(json.dumps(rows, indent=2))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Result folders: benchmarks A (alpha, beta, gamma) and B (alpha, beta; gamma failed), and evaluate folders.

    ``C_npy`` is model A on alpha with its maps saved as .npy; ``D_missing`` is model A on alpha without the
    anomalous image crack/001.
    """
    data = tmp_path_factory.mktemp("data")
    root = tmp_path_factory.mktemp("runs")
    summaries: dict[str, list[dict]] = {"A": [], "B": []}
    for category, seed in SEEDS.items():
        write_category(data / category, DEFECTS, 6, (128, 128), (32, 32), seed=seed)
        summaries["A"].append(
            _evaluate(data / category / "maps", data / category / "masks", root / "A" / category, category)
        )
        if category != "gamma":
            _noisy_copy(data / category / "maps", data / category / "maps_b", seed=10 + seed)
            summaries["B"].append(
                _evaluate(data / category / "maps_b", data / category / "masks", root / "B" / category, category)
            )
    _write_benchmark_summary(root / "A", summaries["A"])
    _write_benchmark_summary(root / "B", summaries["B"], failed=("gamma",))

    alpha = data / "alpha"
    for path in sorted((alpha / "maps").rglob("*.tiff")):
        destination = alpha / "maps_npy" / path.relative_to(alpha / "maps").with_suffix(".npy")
        destination.parent.mkdir(parents=True, exist_ok=True)
        np.save(destination, tifffile.imread(path))
    _evaluate(alpha / "maps_npy", alpha / "masks", root / "C_npy", "alpha")

    shutil.copytree(alpha / "maps", alpha / "maps_d")
    shutil.copytree(alpha / "masks", alpha / "masks_d")
    (alpha / "maps_d" / "crack" / "001.tiff").unlink()
    (alpha / "masks_d" / "crack" / "001_mask.png").unlink()
    _evaluate(alpha / "maps_d", alpha / "masks_d", root / "D_missing", "alpha")
    return {"A": root / "A", "B": root / "B", "C_npy": root / "C_npy", "D_missing": root / "D_missing"}


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def _anomalous_aupimos(folder: Path) -> dict[str, float]:
    table = pq.read_table(folder / "per_image.parquet").to_pydict()
    return {
        image_key(path): value
        for path, label, value in zip(table["path"], table["label"], table["aupimo"], strict=True)
        if label == 1
    }


# ---------------------------------------------------------------------------------------------------------
# Pure functions.
# ---------------------------------------------------------------------------------------------------------


def test_average_ranks_with_ties_by_hand():
    scores = np.array([[0.5, 0.5, 0.2], [0.1, 0.3, 0.2]])
    # category 1: ranks 1.5, 1.5, 3; category 2: ranks 3, 1, 2
    np.testing.assert_array_equal(average_ranks(scores), [2.25, 1.25, 2.5])
    with pytest.raises(ValueError, match="NaN"):
        average_ranks(np.array([[0.5, np.nan]]))


def test_order_by_image_rank_breaks_ties_by_mean_then_name():
    # Equal per-image ranks and equal means: the name decides, whatever the column order.
    assert order_by_image_rank(np.array([[0.5, 0.5], [0.2, 0.2]]), ["b", "a"]) == [1, 0]
    assert order_by_image_rank(np.array([[0.5, 0.5], [0.2, 0.2]]), ["a", "b"]) == [0, 1]
    assert order_by_image_rank(np.array([[0.1, 0.9], [0.2, 0.8]]), ["a", "b"]) == [1, 0]
    # Model 0 wins most images although model 2 has the higher mean: the per-image rank decides.
    aupimos = np.array([[0.6, 0.5, 0.0], [0.6, 0.5, 1.0], [0.6, 0.5, 1.0], [0.6, 0.5, 0.1]])
    assert order_by_image_rank(aupimos, ["x", "y", "z"]) == [0, 2, 1]
    # Equal average per-image rank (each wins two images), different means: the higher mean first.
    tied = np.array([[0.9, 0.1], [0.8, 0.1], [0.1, 0.3], [0.1, 0.3]])
    assert order_by_image_rank(tied, ["a", "b"]) == [0, 1]
    assert order_by_image_rank(tied[:, ::-1], ["b", "a"]) == [1, 0]


def test_wilcoxon_pvalue_zeroes_small_differences():
    worse = np.linspace(0.1, 0.9, 9)
    assert wilcoxon_pvalue(worse + 0.0009, worse) == 1.0
    assert wilcoxon_pvalue(worse, worse) == 1.0
    better = worse + np.array([0.2, 0.0005, 0.1, -0.05, 0.3, -0.0008, 0.02, 0.15, 0.07])
    expected = np.array([0.2, 0.0, 0.1, -0.05, 0.3, 0.0, 0.02, 0.15, 0.07])
    d = better - worse
    d[np.abs(d) <= 1e-3] = 0
    np.testing.assert_allclose(d, expected, atol=1e-12)
    assert wilcoxon_pvalue(better, worse) == scipy.stats.wilcoxon(d, alternative="greater").pvalue


def test_pairwise_pvalues_both_directions_equal_scipy():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, size=20)
    aupimos = np.stack([base, base + rng.normal(0.1, 0.05, 20), base - 0.2], axis=1)
    pvalues = pairwise_pvalues(aupimos)
    assert np.isnan(np.diag(pvalues)).all()
    for i in range(3):
        for j in range(3):
            if i == j:
                continue
            d = aupimos[:, i] - aupimos[:, j]
            d[np.abs(d) <= 1e-3] = 0
            assert pvalues[i, j] == scipy.stats.wilcoxon(d, alternative="greater").pvalue


def test_holm_by_hand():
    # Sorted p: 0.01 (x3), 0.02 (x2), 0.04 (x1): 0.03, max(0.03, 0.04), max(0.04, 0.04).
    np.testing.assert_allclose(holm_adjust(np.array([0.04, 0.01, 0.02])), [0.04, 0.03, 0.04])
    np.testing.assert_allclose(holm_adjust(np.array([[np.nan, 0.9], [0.5, np.nan]]))[0, 1], 1.0)
    assert np.isnan(holm_adjust(np.array([[np.nan, 0.9], [0.5, np.nan]]))[0, 0])


# ---------------------------------------------------------------------------------------------------------
# compare_results on real result folders.
# ---------------------------------------------------------------------------------------------------------


def test_table_equals_the_category_summaries(runs):
    comparison = compare_results([runs["A"], runs["B"]])
    assert comparison.models == ["A", "B"]
    assert comparison.categories == ["alpha", "beta"]
    for model in ("A", "B"):
        assert list(comparison.table[model]) == ["alpha", "beta", "mean"]
        for category in comparison.categories:
            summary = _summary(runs[model] / category)
            assert comparison.table[model][category] == {key: summary[key] for key in METRIC_KEYS}
        for key in METRIC_KEYS:
            values = [comparison.table[model][c][key] for c in comparison.categories]
            assert comparison.table[model]["mean"][key] == float(np.mean(values))
    assert len(comparison.notes) == 1
    assert "gamma" in comparison.notes[0] and "failed in B" in comparison.notes[0]


def test_average_ranks_of_two_models_by_hand(runs):
    comparison = compare_results([runs["A"], runs["B"]])
    ranks = {"A": [], "B": []}
    for category in comparison.categories:
        a, b = (_summary(runs[m] / category)["aupimo_mean"] for m in ("A", "B"))
        ranks["A"].append(1.0 if a > b else 2.0 if a < b else 1.5)
        ranks["B"].append(1.0 if b > a else 2.0 if b < a else 1.5)
    assert comparison.avg_rank == {model: sum(r) / len(r) for model, r in ranks.items()}


def test_wilcoxon_equals_scipy_by_hand(runs):
    comparison = compare_results([runs["A"], runs["B"]])
    nontrivial = 0
    for category in comparison.categories:
        a_by_key, b_by_key = (_anomalous_aupimos(runs[m] / category) for m in ("A", "B"))
        keys = sorted(a_by_key)
        assert keys == sorted(b_by_key) == comparison.image_keys[category]
        a = np.array([a_by_key[k] for k in keys])
        b = np.array([b_by_key[k] for k in keys])
        np.testing.assert_array_equal(comparison.per_image[category]["A"], a)
        np.testing.assert_array_equal(comparison.per_image[category]["B"], b)
        tests = comparison.tests[category]
        assert tests.num_images == 8
        # Both directions, each the one-sided test of scipy.
        for first, second, x, y in (("A", "B", a, b), ("B", "A", b, a)):
            d = x - y
            d[np.abs(d) <= 1e-3] = 0
            nontrivial += bool(d.any())
            pvalue = scipy.stats.wilcoxon(d, alternative="greater").pvalue if d.any() else 1.0
            assert tests.pvalues[first][second] == pvalue
        # Two models: the one that wins more images first; on equal counts the higher mean, then the name.
        wins_a, wins_b = np.sum(a > b), np.sum(a < b)
        a_first = wins_a > wins_b or (wins_a == wins_b and (a.mean(), "B") > (b.mean(), "A"))
        assert tests.order == (["A", "B"] if a_first else ["B", "A"])
    assert nontrivial == 2 * len(comparison.categories)


def test_identical_models_and_npy_maps_give_p_one(runs):
    # An evaluate folder (A's alpha) against the same maps saved as .npy: images match without extension.
    paths = pq.read_table(runs["C_npy"] / "per_image.parquet").column("path").to_pylist()
    assert all(path.endswith(".npy") for path in paths)
    comparison = compare_results([runs["A"] / "alpha", runs["C_npy"]])
    assert comparison.models == ["alpha", "C_npy"]
    assert comparison.ranking == ["C_npy", "alpha"]  # a perfect tie: by name
    assert comparison.categories == ["alpha"]
    np.testing.assert_array_equal(comparison.per_image["alpha"]["alpha"], comparison.per_image["alpha"]["C_npy"])
    tests = comparison.tests["alpha"]
    assert tests.pvalues == {"C_npy": {"alpha": 1.0}, "alpha": {"C_npy": 1.0}}
    assert comparison.avg_rank == {"alpha": 1.5, "C_npy": 1.5}


def test_name_collision_asks_for_names(runs):
    with pytest.raises(InputError, match="--names"):
        compare_results([runs["A"], runs["A"]])
    comparison = compare_results([runs["A"], runs["A"]], names=["x", "y"])
    assert comparison.models == ["x", "y"]
    assert comparison.categories == ["alpha", "beta", "gamma"]
    assert comparison.notes in ([], [MATPLOTLIB_MISSING_NOTE])
    assert all(p == 1.0 for tests in comparison.tests.values() for row in tests.pvalues.values() for p in row.values())


def test_names_must_fit_the_folders(runs):
    with pytest.raises(InputError, match="3 name"):
        compare_results([runs["A"], runs["B"]], names=["x", "y", "z"])
    with pytest.raises(InputError, match="distinct"):
        compare_results([runs["A"], runs["B"]], names=["x", "x"])


def test_mismatched_images_name_the_paths(runs):
    with pytest.raises(InputError, match=r"alpha.*crack/001 \(missing in D_missing\)"):
        compare_results([runs["A"] / "alpha", runs["D_missing"]])


def test_no_common_category(runs):
    with pytest.raises(InputError, match="No category is in every model"):
        compare_results([runs["A"] / "alpha", runs["B"] / "beta"])


def test_not_a_results_folder(tmp_path, runs):
    with pytest.raises(InputError, match="must be an `aupimo evaluate` or `aupimo benchmark` output folder"):
        compare_results([runs["A"], tmp_path])
    (tmp_path / "summary.json").write_text("3")
    with pytest.raises(InputError, match=f"{tmp_path} must be an `aupimo evaluate` or `aupimo benchmark`"):
        compare_results([runs["A"], tmp_path])


# ---------------------------------------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------------------------------------


def _reject_constant(token: str) -> None:
    raise ValueError(f"non-strict JSON token {token}")


def test_write_comparison_files(tmp_path, runs):
    comparison = compare_results([runs["A"], runs["B"]])
    out = write_comparison(comparison, tmp_path / "cmp", overwrite=False)
    assert out == tmp_path / "cmp"
    written = json.loads((out / "compare.json").read_text(), parse_constant=_reject_constant)
    assert list(written) == [
        "models", "ranking", "categories", "metrics", "option_mismatches", "table", "avg_rank", "wilcoxon", "holm",
        "zero_tolerance", "notes", "datasets", "dataset_means", "friedman", "critical_difference", "sources",
        "provenance", "intervals",
    ]  # fmt: skip
    assert written["models"] == ["A", "B"] and written["categories"] == ["alpha", "beta"]
    assert written["metrics"] == METRIC_KEYS
    assert written["table"] == comparison.table
    assert written["avg_rank"] == comparison.avg_rank
    for category in comparison.categories:
        entry = written["wilcoxon"][category]
        tests = comparison.tests[category]
        assert entry["order"] == tests.order and entry["n"] == 8 and entry["pvalue"] == tests.pvalues
        for first, row in tests.pvalues.items():
            for second, pvalue in row.items():
                assert entry["confidence"][first][second] == 1 - pvalue
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "compare" and "compare.json" in manifest["files"]

    rows = list(csv.DictReader(io.StringIO((out / "compare.csv").read_text())))
    assert list(rows[0]) == ["model", "category", *METRIC_KEYS, "avg_rank", "note"]
    assert [(r["model"], r["category"]) for r in rows] == [
        (m, c) for m in comparison.ranking for c in ("alpha", "beta", "mean")
    ]
    for row in rows:
        assert float(row["aupimo_mean"]) == comparison.table[row["model"]][row["category"]]["aupimo_mean"]
        assert float(row["avg_rank"]) == comparison.avg_rank[row["model"]]
        assert row["note"] == ""

    markdown = (out / "compare.md").read_text()
    assert "| category | A | B |" in markdown  # models best first, as columns
    alpha = [f"{comparison.table[m]['alpha']['aupimo_mean']:.4f}" for m in ("A", "B")]
    best = 0 if comparison.table["A"]["alpha"]["aupimo_mean"] >= comparison.table["B"]["alpha"]["aupimo_mean"] else 1
    alpha[best] = f"**{alpha[best]}**"
    assert f"| alpha | {alpha[0]} | {alpha[1]} |" in markdown
    assert "| average rank |" in markdown and "need 3 models or more" in markdown
    assert "| confidence | 1 | 2 |" in markdown and "in the order of the ranking: 1 = " in markdown
    assert "### alpha (8 images)" in markdown and "### beta" in markdown
    assert "gamma" in markdown  # the note
    pairs = list(csv.DictReader(io.StringIO((out / "wilcoxon.csv").read_text())))
    assert len(pairs) == 2 * 2  # two categories, both ordered pairs
    for pair in pairs:
        pvalue = comparison.tests[pair["category"]].pvalues[pair["model_a"]][pair["model_b"]]
        assert float(pair["pvalue"]) == pvalue and float(pair["confidence"]) == 1 - pvalue

    with pytest.raises(InputError, match="--overwrite"):
        write_comparison(comparison, out, overwrite=False)
    write_comparison(comparison, out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]


def test_boxplots(tmp_path, runs):
    pytest.importorskip("matplotlib")
    comparison = compare_results([runs["A"], runs["B"]])
    out = write_comparison(comparison, tmp_path / "cmp", overwrite=False)
    figures = out / "figures"
    for kind in ("boxplots", "confidence"):
        assert sorted(p.name for p in (figures / kind).iterdir()) == ["alpha.png", "alpha.svg", "beta.png", "beta.svg"]
    assert sorted(p.name for p in figures.iterdir() if p.is_file()) == [
        "critical_difference.png",
        "critical_difference.svg",
    ]
    assert (figures / "boxplots" / "alpha.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Byte-identical when drawn again.
    again = write_comparison(comparison, tmp_path / "again", overwrite=False)
    for path in sorted(figures.rglob("*.*")):
        assert (again / "figures" / path.relative_to(figures)).read_bytes() == path.read_bytes(), path


def test_without_matplotlib_boxplots_are_skipped_with_a_note(tmp_path, runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    comparison = compare_results([runs["A"], runs["B"]])
    assert MATPLOTLIB_MISSING_NOTE in comparison.notes
    out = write_comparison(comparison, tmp_path / "cmp", overwrite=False)
    assert not (out / "figures").exists()
    assert comparison.notes.count(MATPLOTLIB_MISSING_NOTE) == 1
    assert MATPLOTLIB_MISSING_NOTE in (out / "compare.md").read_text()


# ---------------------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------------------

app = typer.Typer()


@app.callback()
def _main() -> None:
    """A multi-command app, as ``aupimo`` is."""


app.command("compare")(compare)


def run(*args: str | Path) -> tuple[int, str, str]:
    return invoke(app, *args)


def test_cli_writes_the_comparison(tmp_path, runs):
    out = tmp_path / "cmp"
    code, stdout, stderr = run("compare", runs["A"], runs["B"], "--names", "patchcore,efficientad", "--out", out)
    assert code == 0, stderr
    assert {p.name for p in out.iterdir()} >= {"compare.json", "compare.csv", "compare.md"}
    assert json.loads((out / "compare.json").read_text())["models"] == ["patchcore", "efficientad"]
    assert "mean AUPIMO" in stdout and "patchcore" in stdout
    assert "note:" in stderr and "gamma" in stderr
    code, _, stderr = run("compare", runs["A"], runs["B"], "--out", out)
    assert code == 2 and "--overwrite" in stderr


def test_cli_bad_folder_exits_2(tmp_path, runs):
    out = tmp_path / "cmp"
    code, stdout, stderr = run("compare", runs["A"], tmp_path / "nothing", "--out", out)
    assert code == 2
    assert stderr.startswith("error:") and "must be an `aupimo evaluate` or `aupimo benchmark`" in stderr
    assert stdout == ""
    assert not out.exists()


def test_cli_json_prints_only_json(tmp_path, runs):
    out = tmp_path / "cmp"
    code, stdout, stderr = run("compare", runs["A"], runs["B"], "--out", out, "--json")
    assert code == 0, stderr
    assert stdout == (out / "compare.json").read_text()
    assert json.loads(stdout)["categories"] == ["alpha", "beta"]
    assert "mean AUPIMO" in stderr
