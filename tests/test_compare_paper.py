"""Comparing with the AUPIMO paper's published results: their layout, trailing-path matching, Friedman, the
Nemenyi critical difference and the per-dataset rows, each checked against scipy or a table by hand."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import friedmanchisquare, rankdata, wilcoxon

from aupimo_cli.cli import app
from aupimo_cli.compare import compare_results
from aupimo_cli.compare.read import PAPER_SOURCE, read_results, trailing_image_key
from aupimo_cli.compare.stats import friedman_test, nemenyi_critical_difference
from aupimo_cli.errors import InputError
from aupimo_cli.metrics.pimo import AUPIMOResult
from aupimo_cli.synthetic import write_category

from .conftest import invoke
from .paper_layout import paper_paths, write_paper_category, write_paper_model

CATEGORIES = {"bottle": {"broken_large": 5, "contamination": 4}, "screw": {"scratch_head": 6},
              "candle": {"Anomaly": 7}}  # fmt: skip
MODELS = {"patchcore": 0.05, "efficientad": 0.0, "padim": -0.15}

# Demšar (2006), Table 5(a): q_0.05 of the Nemenyi test for k = 2..10 models (rounded to 3 decimals).
DEMSAR_Q05 = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    root = tmp_path_factory.mktemp("paper")
    written = {
        model: write_paper_model(root, model, CATEGORIES, num_normal=4, seed=index, shift=shift)
        for index, (model, shift) in enumerate(MODELS.items())
    }
    return root, written


def test_aupimos_json_with_null_num_threshs_loads(paper):
    root, written = paper
    result = AUPIMOResult.load(root / "patchcore" / "mvtec" / "bottle" / "aupimo" / "aupimos.json")
    assert result.num_points is None and result.num_anomalous_images == 9 and result.num_normal_images == 4
    np.testing.assert_array_equal(result.aupimos[:9], written["patchcore"]["bottle"])


def test_the_published_layout_reads_as_a_model(paper):
    root, written = paper
    results = read_results(root / "patchcore", "patchcore")
    assert sorted(results.categories) == ["bottle", "candle", "screw"]
    bottle = results.categories["bottle"]
    assert bottle.source == PAPER_SOURCE and bottle.dataset_hint == "mvtec"
    assert bottle.summary["aupimo_mean"] == pytest.approx(written["patchcore"]["bottle"].mean(), abs=1e-15)
    assert "pixel_ap" not in bottle.summary  # aupr.json is anomalib's trapezoid AUPR, never AP
    assert results.categories["candle"].summary.get("aupro_05") is None  # not published for that category
    assert bottle.options.fpr_bounds == (1e-5, 1e-4) and bottle.options.num_thresholds is None
    assert set(bottle.aupimos) == {f"{d}/{i:03d}" for d, n in CATEGORIES["bottle"].items() for i in range(n)}
    # One dataset folder, or one category folder, read as well.
    assert sorted(read_results(root / "patchcore" / "mvtec", "p").categories) == ["bottle", "screw"]
    assert list(read_results(root / "patchcore" / "visa" / "candle", "p").categories) == ["candle"]


def test_compare_equals_scipy_by_hand(paper):
    root, written = paper
    comparison = compare_results([root / model for model in MODELS])
    categories = sorted(CATEGORIES)
    assert comparison.categories == categories
    means = np.array([[written[m][c].mean() for m in MODELS] for c in categories])
    for j, model in enumerate(MODELS):
        for i, category in enumerate(categories):
            assert comparison.table[model][category]["aupimo_mean"] == pytest.approx(means[i, j], abs=1e-15)
            assert comparison.table[model][category]["aupimo_std"] == pytest.approx(
                np.std(written[model][category], ddof=1), abs=1e-15
            )
    ranks = rankdata(-means, method="average", axis=1).mean(axis=0)
    assert [comparison.avg_rank[m] for m in MODELS] == pytest.approx(ranks.tolist())
    statistic, pvalue = friedmanchisquare(*means.T)
    assert comparison.friedman is not None
    assert comparison.friedman["statistic"] == pytest.approx(statistic) and comparison.friedman["pvalue"] == pvalue
    assert comparison.critical_difference == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 3)), abs=1e-3)
    for category in categories:
        tests = comparison.tests[category]
        for a in MODELS:
            for b in MODELS:
                if a == b:
                    continue
                d = written[a][category] - written[b][category]
                d[np.abs(d) <= 1e-3] = 0.0
                expected = 1.0 if not d.any() else wilcoxon(d, alternative="greater").pvalue
                assert tests.pvalues[a][b] == pytest.approx(expected, abs=1e-15)
    # MVTec AD and VisA together: a row per dataset.
    assert comparison.datasets == {"bottle": "MVTec AD", "candle": "VisA", "screw": "MVTec AD"}
    for j, model in enumerate(MODELS):
        mvtec = comparison.dataset_means[model]["MVTec AD"]["aupimo_mean"]
        assert mvtec == pytest.approx(np.mean([means[categories.index(c), j] for c in ("bottle", "screw")]))
    assert set(comparison.sources["padim"].values()) == {PAPER_SOURCE}
    assert comparison.provenance["inputs"]["padim"]["options"]["bottle"] == {"fpr_bounds": [1e-5, 1e-4]}


def test_a_new_evaluate_run_compares_with_the_published_models(paper, tmp_path):
    """Our maps are saved as broken_large/000.tiff; the paper lists MVTec/bottle/test/broken_large/000.png."""
    root, written = paper
    data = tmp_path / "data"
    write_category(data, CATEGORIES["bottle"], num_normal=4, mask_shape=(48, 48), map_shape=(48, 48), seed=9,
                   anomaly_strength=(2.0, 6.0))  # fmt: skip
    out = tmp_path / "new" / "bottle"
    code, _, stderr = invoke(app, "evaluate", data / "maps", data / "masks", "--out", out, "--category", "bottle",
                             "--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "-q")  # fmt: skip
    assert code == 0, stderr
    models = [root / "patchcore" / "mvtec" / "bottle", root / "padim" / "mvtec" / "bottle", out]
    # Their FPR bounds differ: refused, naming them, unless allowed.
    with pytest.raises(InputError, match="--fpr-bounds"):
        compare_results(models, names=["patchcore", "padim", "new"])
    comparison = compare_results(models, names=["patchcore", "padim", "new"], allow_option_mismatch=True)
    assert comparison.categories == ["bottle"] and comparison.tests["bottle"].num_images == 9
    assert comparison.table["patchcore"]["bottle"]["aupimo_mean"] == pytest.approx(
        written["patchcore"]["bottle"].mean()
    )
    assert comparison.sources["new"]["bottle"] == "aupimo"


def test_an_ambiguous_trailing_path_is_an_error_naming_both(tmp_path):
    folder = tmp_path / "model" / "bottle"
    paths = ["MVTec/bottle/test/crack/000.png", "other/crack/000.png", "MVTec/bottle/test/good/000.png"]
    write_paper_category(folder, paths, [0.5, 0.6, float("nan")], {"auroc": 0.9})
    with pytest.raises(InputError, match=r"MVTec/bottle/test/crack/000\.png.*other/crack/000\.png"):
        read_results(tmp_path / "model", "m")


def test_trailing_keys():
    assert trailing_image_key("MVTec/bottle/test/broken_large/000.png") == "broken_large/000"
    assert trailing_image_key("VisA/candle/Data/Images/Anomaly/000.JPG") == "Anomaly/000"
    assert trailing_image_key("broken_large/000.tiff") == trailing_image_key("broken_large/000.png.npy")
    assert paper_paths("candle", {"Anomaly": 1}, 0) == ["VisA/candle/Data/Images/Anomaly/000.png"]


@pytest.mark.parametrize("num_models", sorted(set(DEMSAR_Q05) - {2}))
def test_critical_difference_equals_demsar_table(num_models):
    for num_categories in (5, 27):
        cd = nemenyi_critical_difference(num_models, num_categories)
        q_alpha = cd / math.sqrt(num_models * (num_models + 1) / (6 * num_categories))
        assert q_alpha == pytest.approx(DEMSAR_Q05[num_models], abs=1e-3)


def test_friedman_equals_scipy():
    scores = np.random.default_rng(0).uniform(size=(27, 13))
    scores[3, :4] = 0.5  # ties within a category
    statistic, pvalue = friedmanchisquare(*scores.T)
    assert friedman_test(scores) == (pytest.approx(statistic), pytest.approx(pvalue))
    with pytest.raises(ValueError, match="3 models"):
        friedman_test(scores[:, :2])


def test_compare_cli_writes_the_new_records(paper, tmp_path):
    root, _ = paper
    out = tmp_path / "cmp"
    code, stdout, stderr = invoke(app, "compare", *(root / m for m in MODELS), "--out", out)
    assert code == 0, stderr
    record = json.loads((out / "compare.json").read_text())
    assert record["friedman"]["num_models"] == 3 and record["critical_difference"] > 0
    assert record["provenance"]["libraries"]["scipy"]
    assert record["datasets"]["candle"] == "VisA"
    assert "Friedman test over 3 categories" in " ".join(stdout.split())
    assert "mean MVTec AD" in stdout and "mean VisA" in stdout
    markdown = (out / "compare.md").read_text()
    assert "| mean MVTec AD |" in markdown and "† from the AUPIMO paper's published files" in markdown
    # A category known by no name takes the dataset --dataset-of gives it.
    for model in MODELS:
        shutil.copytree(root / model / "visa" / "candle", tmp_path / "solo" / model / "sealed_box")
    folders = [tmp_path / "solo" / model for model in MODELS]
    code, _, stderr = invoke(app, "compare", *folders, "--out", tmp_path / "c2", "--dataset-of",
                             "sealed_box=MVTec AD 2")  # fmt: skip
    assert code == 0, stderr
    assert json.loads((tmp_path / "c2" / "compare.json").read_text())["datasets"] == {"sealed_box": "MVTec AD 2"}
    code, _, stderr = invoke(app, "compare", *folders, "--out", tmp_path / "c3", "--dataset-of", "sealed_box")
    assert code == 2 and "CATEGORY=NAME" in stderr


def test_vectorized_wilcoxon_equals_one_scipy_call_per_pair():
    """scipy picks exact, permutation or normal-approximation per call: the grouped calls must give each pair the
    p-value of its own call (ties, zeros, n <= 13, n <= 50 and n > 50)."""
    from aupimo_cli.compare.stats import ZERO_TOLERANCE, pairwise_pvalues, wilcoxon_pvalue

    # scipy switches method at n = 13 (a permutation test with ties or zeros below: slow, one case) and n = 50.
    sizes = (14, 30, 50, 51, 70)
    for seed in range(31):
        rng = np.random.default_rng(seed)
        aupimos = rng.beta(3, 2, size=(sizes[seed % len(sizes)] if seed < 30 else 6, 3))
        if seed % 3 == 0:
            aupimos = np.round(aupimos, 1)
        if seed % 5 == 0:
            aupimos[:, 1] = aupimos[:, 0]
        matrix = pairwise_pvalues(aupimos)
        for i in range(aupimos.shape[1]):
            for j in range(aupimos.shape[1]):
                if i != j:
                    assert matrix[i, j] == wilcoxon_pvalue(aupimos[:, i], aupimos[:, j], ZERO_TOLERANCE), (seed, i, j)
