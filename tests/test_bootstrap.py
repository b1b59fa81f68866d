"""Bootstrap confidence intervals (DESIGN section 7): every replicate's value equals the metric recomputed by
brute force on that replicate's multiset of images, and the intervals are the percentiles of the replicates.

The brute force materializes each multiset (an image drawn twice is there twice, with its pixels and regions)
and computes each metric by an independent implementation: scikit-learn for AUROC and AP, the MVTec AD
evaluation's algorithm for AUPRO (`tests/brute_force.py`), a loop over every threshold for F1max, numpy and
scipy for the rates at thresholds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from aupimo_cli.cli import app
from aupimo_cli.metrics import MetricInputError
from aupimo_cli.metrics._pass import split_scores
from aupimo_cli.metrics.bootstrap import (
    Resampling,
    image_auroc_replicates,
    image_precision_replicates,
    mean_replicates,
    percentile_interval,
    pixel_precision_replicates,
    pixel_replicates,
)
from aupimo_cli.synthetic import write_category

from .brute_force import brute_force_f1_max, official_aupro
from .conftest import invoke

F32 = np.float32


def multiset(items: list, counts: np.ndarray) -> list:
    """The replicate's multiset: item i repeated counts[i] times, in order."""
    return [item for item, count in zip(items, counts, strict=True) for _ in range(int(count))]


@st.composite
def categories(draw: st.DrawFn) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A few small maps and masks: normal images and anomalous ones (one or more regions), scores continuous
    or on a few levels (heavy ties, normal and anomalous scores tied)."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    num_normal = draw(st.integers(1, 3))
    num_anomalous = draw(st.integers(1, 4))
    quantized = draw(st.booleans())
    maps, masks = [], []
    for index in range(num_normal + num_anomalous):
        shape = (int(rng.integers(3, 8)), int(rng.integers(3, 8)))
        amap = (rng.integers(0, 6, size=shape) / 4) if quantized else rng.normal(size=shape)
        amap = amap.astype(F32)
        mask = np.zeros(shape, dtype=bool)
        if index >= num_normal:
            mask |= rng.random(shape) < 0.3
            mask[int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1]))] = True
            amap[mask] += F32(rng.integers(0, 4) / 4)
        maps.append(amap)
        masks.append(mask)
    return maps, masks


def test_resampling_is_stratified_and_documented():
    labels = np.array([0, 1, 0, 1, 1, 0, 1])
    weights = Resampling(25, seed=7).weights(labels)
    assert weights.shape == (25, 7)
    assert (weights[:, labels == 0].sum(axis=1) == 3).all() and (weights[:, labels == 1].sum(axis=1) == 4).all()
    # The documented draws, by hand: normal stratum first, then the anomalous one, one generator.
    rng = np.random.default_rng(7)
    normal_draws = rng.integers(0, 3, size=(25, 3))
    anomalous_draws = rng.integers(0, 4, size=(25, 4))
    for b in range(25):
        assert weights[b, labels == 0].tolist() == np.bincount(normal_draws[b], minlength=3).tolist()
        assert weights[b, labels == 1].tolist() == np.bincount(anomalous_draws[b], minlength=4).tolist()
    assert (Resampling(25, seed=7).weights(labels) == weights).all()
    assert not (Resampling(25, seed=8).weights(labels) == weights).all()
    with pytest.raises(MetricInputError):
        Resampling(0)
    with pytest.raises(MetricInputError):
        Resampling(10, level=1.0)


def test_percentile_interval_is_numpy_quantile():
    values = np.random.default_rng(0).normal(size=1000)
    for level in (0.9, 0.95, 0.99):
        tail = (1 - level) / 2
        assert percentile_interval(values, level) == tuple(np.quantile(values, [tail, 1 - tail]))
    assert percentile_interval(np.array([0.1, np.nan]), 0.95) == (None, None)


@settings(max_examples=60, deadline=None)
@given(categories(), st.integers(0, 1000))
def test_pixel_replicates_equal_brute_force_on_each_multiset(category, seed):
    maps, masks = category
    labels = np.array([int(mask.any()) for mask in masks])
    weights = Resampling(8, seed=seed).weights(labels)
    limits = (0.3, 0.05, 1.0)
    replicates = pixel_replicates(split_scores(maps, masks), weights, limits)
    ap, f1 = pixel_precision_replicates(split_scores(maps, masks), weights, block=3)
    for b, counts in enumerate(weights):
        drawn_maps, drawn_masks = multiset(maps, counts), multiset(masks, counts)
        scores = np.concatenate([m.ravel() for m in drawn_maps]).astype(np.float64)
        truth = np.concatenate([k.ravel() for k in drawn_masks])
        if truth.all():
            continue  # no normal pixel in this multiset: the pixel metrics are undefined
        assert replicates.auroc[b] == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
        for index, limit in enumerate(limits):
            assert replicates.aupros[index, b] == pytest.approx(
                official_aupro(drawn_maps, drawn_masks, limit), abs=1e-9
            )
        assert ap[b] == pytest.approx(average_precision_score(truth, scores), abs=1e-12)
        assert f1[b] == pytest.approx(brute_force_f1_max(scores, truth)[0], abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=4, max_size=30), st.integers(0, 1000))
def test_image_replicates_equal_brute_force(values, seed):
    scores = np.array(values, dtype=np.float64) / 4
    labels = np.array([i % 2 for i in range(scores.size)])
    weights = Resampling(10, seed=seed).weights(labels)
    auroc = image_auroc_replicates(scores, labels, weights)
    ap, f1 = image_precision_replicates(scores, labels, weights)
    for b, counts in enumerate(weights):
        drawn, truth = np.repeat(scores, counts), np.repeat(labels, counts)
        assert auroc[b] == pytest.approx(roc_auc_score(truth, drawn), abs=1e-12)
        assert ap[b] == pytest.approx(average_precision_score(truth, drawn), abs=1e-12)
        assert f1[b] == pytest.approx(brute_force_f1_max(drawn, truth)[0], abs=1e-12)


def test_mean_replicates_are_the_mean_of_each_multiset_exactly():
    rng = np.random.default_rng(3)
    aupimos = np.where(np.arange(40) % 3 == 0, np.nan, rng.uniform(size=40))
    anomalous = ~np.isnan(aupimos)
    weights = Resampling(200, seed=1).weights(anomalous)
    means = mean_replicates(aupimos, anomalous, weights)
    for b, counts in enumerate(weights):
        assert means[b] == np.mean(np.repeat(aupimos[anomalous], counts[anomalous]))  # bit for bit


# ---------------------------------------------------------------------------------------------------------
# From the command line.
# ---------------------------------------------------------------------------------------------------------

SMALL = ("--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "--quiet")


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a category's folder, its evaluate --bootstrap 200 results with thresholds)."""
    root = tmp_path_factory.mktemp("bootstrap")
    write_category(root, {"crack": 4, "hole": 4}, num_normal=8, mask_shape=(48, 48), map_shape=(48, 48), seed=3,
                   anomaly_strength=(1.0, 5.0))  # fmt: skip
    write_category(root / "val", {}, num_normal=10, mask_shape=(48, 48), map_shape=(48, 48), seed=4)
    code, _, stderr = invoke(app, "evaluate", root / "maps", root / "masks", "--out", root / "out", *SMALL,
                             "--bootstrap", "200", "--seed", "5", "--ci-level", "0.9", "--val-maps",
                             root / "val" / "maps", "--soft-frr", "0.3")  # fmt: skip
    assert code == 0, stderr
    return root, root / "out"


def test_intervals_are_the_percentiles_of_the_stored_replicates(bootstrapped):
    _, out = bootstrapped
    summary = json.loads((out / "summary.json").read_text())
    table = pq.read_table(out / "bootstrap.parquet").to_pydict()
    assert table["replicate"] == list(range(200))
    expected = {"pixel_auroc", "aupro_30", "aupro_05", "aupimo_mean", "image_auroc", "image_ap", "image_f1max",
                "image_frr", "image_far", "seg_f1", "pro_at_threshold", "mean_iou"}  # fmt: skip
    assert expected <= set(table) and "pixel_ap" not in table
    for key, values in table.items():
        if key == "replicate":
            continue
        tail = (1 - 0.9) / 2  # the level's tails, as the tool computes them
        low, high = np.quantile(values, [tail, 1 - tail])
        assert summary[f"{key}_ci_low"] == low and summary[f"{key}_ci_high"] == high, key
        assert low <= summary[key] + 1e-12 or key.startswith("share_") or key in ("image_frr", "image_far")
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["resampling"]["replicates"] == 200 and provenance["resampling"]["seed"] == 5
    assert provenance["options"]["ci_level"] == 0.9
    assert "bootstrap.parquet" in provenance["manifest"]["files"]


def test_the_replicates_are_the_metric_on_each_multiset_end_to_end(bootstrapped):
    """The CLI's weights are the documented draws: image AUROC of replicate b is sklearn's on its multiset."""
    _, out = bootstrapped
    per_image = pq.read_table(out / "per_image.parquet").to_pydict()
    table = pq.read_table(out / "bootstrap.parquet").to_pydict()
    labels = np.array(per_image["label"])
    scores = np.array(per_image["image_score"])
    weights = Resampling(200, seed=5, level=0.9).weights(labels)
    rejected = np.array(per_image["rejected"], dtype=bool)
    for b in (0, 17, 199):
        drawn, truth = np.repeat(scores, weights[b]), np.repeat(labels, weights[b])
        assert table["image_auroc"][b] == pytest.approx(roc_auc_score(truth, drawn), abs=1e-12)
        normal_drawn = np.repeat(rejected[labels == 0], weights[b][labels == 0])
        assert table["image_frr"][b] == normal_drawn.mean()


def test_check_reproduces_the_bootstrap(bootstrapped):
    _, out = bootstrapped
    code, stdout, stderr = invoke(app, "check", out)
    assert code == 0, stdout + stderr


def test_delong_keys_equal_the_delong_module(bootstrapped):
    from aupimo_cli.metrics.delong import delong_auroc

    _, out = bootstrapped
    summary = json.loads((out / "summary.json").read_text())
    per_image = pq.read_table(out / "per_image.parquet").to_pydict()
    result = delong_auroc(per_image["image_score"], per_image["label"])
    assert summary["image_auroc_delong_se"] == result.std_error
    assert (summary["image_auroc_delong_low"], summary["image_auroc_delong_high"]) == result.interval(0.9)


def test_bootstrap_options_from_flags_and_config(bootstrapped, tmp_path):
    root, _ = bootstrapped
    maps, masks = root / "maps", root / "masks"
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "r", *SMALL, "--bootstrap-pixel-ap")
    assert code == 2 and "--bootstrap B" in stderr
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "r", *SMALL, "--ci-level", "1.5")
    assert code == 2 and "--ci-level" in stderr
    config = tmp_path / "aupimo.toml"
    config.write_text("bootstrap = 30\nseed = 2\nbootstrap_pixel_ap = true\n")
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "c", *SMALL, "--config", config)
    assert code == 0, stderr
    from_config = json.loads((tmp_path / "c" / "summary.json").read_text())
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "f", *SMALL, "--bootstrap", "30",
                             "--seed", "2", "--bootstrap-pixel-ap")  # fmt: skip
    assert code == 0, stderr
    assert json.loads((tmp_path / "f" / "summary.json").read_text()) == from_config
    assert from_config["pixel_ap_ci_low"] is not None and from_config["pixel_f1max_ci_high"] is not None
    config.write_text('bootstrap = "many"\n')
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "x", *SMALL, "--config", config)
    assert code == 2 and "bootstrap must be a whole number" in stderr
    # Without --bootstrap there are no interval keys, and no bootstrap.parquet.
    code, _, _ = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "plain", *SMALL)
    plain = json.loads((tmp_path / "plain" / "summary.json").read_text())
    assert not any(key.endswith(("_ci_low", "_ci_high")) for key in plain)
    assert not (tmp_path / "plain" / "bootstrap.parquet").exists()


def test_compare_shows_intervals_only_where_every_run_has_them(bootstrapped, tmp_path):
    root, out = bootstrapped
    maps, masks = root / "maps", root / "masks"
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "other", *SMALL, "--bootstrap", "50")
    assert code == 0, stderr
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "plain", *SMALL)
    assert code == 0, stderr
    code, stdout, stderr = invoke(app, "compare", out, tmp_path / "other", "--out", tmp_path / "cmp")
    assert code == 0, stderr
    comparison = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    category = summary["category"]
    bounds = comparison["intervals"]["out"][category]["aupimo_mean"]
    assert bounds == [summary["aupimo_mean_ci_low"], summary["aupimo_mean_ci_high"]]
    assert "aupimo_mean_ci_low" in (tmp_path / "cmp" / "compare.csv").read_text().splitlines()[0]
    assert "Bootstrap intervals per category" in (tmp_path / "cmp" / "compare.md").read_text()
    assert f"[{bounds[0]:.4f}, {bounds[1]:.4f}]" in stdout
    # A run without intervals: none shown for anyone.
    code, _, stderr = invoke(app, "compare", out, tmp_path / "plain", "--out", tmp_path / "cmp2")
    assert code == 0, stderr
    comparison = json.loads((tmp_path / "cmp2" / "compare.json").read_text())
    assert all(not by_key for by_model in comparison["intervals"].values() for by_key in by_model.values())
    assert "_ci_low" not in (tmp_path / "cmp2" / "compare.csv").read_text()
