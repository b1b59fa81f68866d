"""Compare models from their result folders: the computation behind ``aupimo compare``.

Each model is one ``aupimo evaluate`` folder (one category) or one ``aupimo benchmark`` folder (many
categories). `compare_results` reads them (`read`), refuses runs made with other result-affecting options
(`options`), and computes over the categories every model has:

- a table of every metric all runs have, per model and category, plus their mean over the categories;
- each model's average rank across categories (rank 1 is the best mean AUPIMO; ties are averaged);
- per category, the AUPIMO paper's full matrix of one-sided Wilcoxon signed-rank tests on the paired
  per-image AUPIMO of the anomalous images, optionally Holm-adjusted (`stats`).

Nothing depends on the order of the folders given: models are ordered by rank, then mean AUPIMO, then name.
The files are written by `aupimo_cli.report.comparison`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, listing
from ..metrics.registry import RANKING_KEY
from .datasets import dataset_of as dataset_of_category
from .options import option_mismatches
from .read import MEAN_CATEGORY, PAPER_SOURCE, ModelResults, model_names, read_results
from .stats import (
    ZERO_TOLERANCE,
    average_ranks,
    friedman_test,
    holm_adjust,
    nemenyi_critical_difference,
    order_by_image_rank,
    order_models,
    pairwise_pvalues,
)

MATPLOTLIB_MISSING_NOTE = "matplotlib is not installed: figures skipped (pip install 'aupimo-cli[plot]')"


Table = dict[str, dict[str, dict[str, float | None]]]
"""model -> category (then ``"mean"``) -> metric key -> value, or None where undefined."""

Intervals = dict[str, dict[str, dict[str, tuple[float, float]]]]
"""model -> category -> metric key -> its bootstrap interval (low, high)."""


def common_intervals(
    summaries: dict[str, dict[str, dict[str, Any]]], categories: Sequence[str], keys: Sequence[str]
) -> Intervals:
    """The bootstrap intervals of the compared `keys` where every model has one for the category (runs made
    with ``--bootstrap``): model -> category -> key -> (low, high). An interval of a mean over categories is not
    the mean of their intervals, so there is none for the mean."""
    from ..metrics.registry import CI_SUFFIXES

    low_suffix, high_suffix = CI_SUFFIXES
    intervals: Intervals = {model: {category: {} for category in categories} for model in summaries}
    for category in categories:
        for key in keys:
            bounds = {
                model: (
                    _finite_or_none(by[category].get(key + low_suffix)),
                    _finite_or_none(by[category].get(key + high_suffix)),
                )
                for model, by in summaries.items()
            }
            if all(low is not None and high is not None for low, high in bounds.values()):
                for model, (low, high) in bounds.items():
                    intervals[model][category][key] = (float(low), float(high))  # type: ignore[arg-type]
    return intervals


SPREAD_KEY = "aupimo_std"
"""The spread of per-image AUPIMO (ddof = 1), shown beside its mean."""


def metric_keys(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """The compared summary keys, in table order: every registered metric's compared keys that some summary
    holds (`registry.compared_keys`), mean AUPIMO first, then the std of per-image AUPIMO."""
    from ..metrics.registry import compared_keys

    present = [key for summary in summaries for key, value in summary.items() if value is not None]
    keys = compared_keys(present)
    return [RANKING_KEY, SPREAD_KEY, *(key for key in keys if key != RANKING_KEY)]


def _finite_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def mean_or_none(values: Sequence[float | None]) -> float | None:
    """The mean of `values`, or None when any of them is None or there are none."""
    if not values or any(value is None for value in values):
        return None
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def metric_table(
    summaries: dict[str, dict[str, dict[str, Any]]], categories: Sequence[str], keys: Sequence[str]
) -> Table:
    """The comparison table: each model's `keys` per category, then their mean over the categories.

    Args:
        summaries: model -> category -> that category's ``summary.json`` object.
        categories: the compared categories, in output order; each model must have all of them.
        keys: the summary keys to compare.

    Returns:
        model -> category -> {key: value}; a value is None where the summary lacks it. The last category of
        each model is ``"mean"``: the mean over `categories`, or None when any category's value is None.
    """
    table: Table = {}
    for model, by_category in summaries.items():
        rows: dict[str, dict[str, float | None]] = {}
        for category in categories:
            rows[category] = {key: _finite_or_none(by_category[category].get(key)) for key in keys}
        rows[MEAN_CATEGORY] = {key: mean_or_none([rows[c][key] for c in categories]) for key in keys}
        table[model] = rows
    return table


@dataclass
class CategoryTests:
    """The pairwise Wilcoxon tests of one category.

    Attributes:
        order: the models best first, by average per-image rank (ties: mean AUPIMO, then name).
        num_images: the number of paired anomalous images.
        pvalues: model i -> model j -> one-sided p-value that i beats j (every ordered pair, i != j).
        holm: the same, Holm-adjusted over every ordered pair of the category, or None when not asked for.
    """

    order: list[str]
    num_images: int
    pvalues: dict[str, dict[str, float]]
    holm: dict[str, dict[str, float]] | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry of ``compare.json``: confidences are ``1 - p``."""
        entry: dict[str, Any] = {
            "order": list(self.order),
            "n": self.num_images,
            "pvalue": self.pvalues,
            "confidence": {i: {j: 1.0 - p for j, p in row.items()} for i, row in self.pvalues.items()},
        }
        if self.holm is not None:
            entry["pvalue_holm"] = self.holm
            entry["confidence_holm"] = {i: {j: 1.0 - p for j, p in row.items()} for i, row in self.holm.items()}
        return entry


@dataclass
class Comparison:
    """The comparison of models over their common categories, ready to be written.

    Attributes:
        models: the model names, in the order given on the command line.
        ranking: the models best first: by average rank, then mean of mean AUPIMO, then name. Every other
            listing of models (tables, files) follows this order, so no output depends on the given order.
        categories: the compared categories (those every model has), sorted.
        metrics: the compared summary keys (`metric_keys`).
        table: model -> category (then ``"mean"``) -> {metric key: value}; None where undefined.
        avg_rank: model -> rank of its mean AUPIMO averaged over `categories` (1 is the best).
        tests: category -> its pairwise Wilcoxon tests.
        image_keys: category -> the matched anomalous images (paths without extension), sorted.
        per_image: category -> model -> (num_images,) AUPIMO in the order of `image_keys`.
        option_mismatches: how the runs' result-affecting options differ (empty unless allowed).
        notes: things the user should know (left-out categories, missing metrics, skipped figures).
        intervals: model -> category -> key -> bootstrap interval, where every model has one.
        datasets: category -> its dataset (`datasets.dataset_of`).
        dataset_means: model -> dataset -> {key: mean over that dataset's categories}, when the categories
            span two datasets or more (else empty).
        friedman: the Friedman test over the categories ({statistic, pvalue, num_models, num_categories}), or
            None with fewer than 3 models or 2 categories.
        critical_difference: the Nemenyi critical difference of average ranks at alpha = 0.05, or None.
        sources: model -> category -> where its values come from (`read.OUR_SOURCE` or `read.PAPER_SOURCE`).
        provenance: the tool, its libraries and every input folder with its recorded options.
    """

    models: list[str]
    ranking: list[str]
    categories: list[str]
    metrics: list[str]
    table: Table
    avg_rank: dict[str, float]
    tests: dict[str, CategoryTests]
    image_keys: dict[str, list[str]]
    per_image: dict[str, dict[str, NDArray[np.float64]]]
    option_mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    holm: bool = False
    intervals: Intervals = field(default_factory=dict)
    datasets: dict[str, str] = field(default_factory=dict)
    dataset_means: Table = field(default_factory=dict)
    friedman: dict[str, float] | None = None
    critical_difference: float | None = None
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def paper_models(self) -> list[str]:
        """The models some of whose values come from the AUPIMO paper's published files."""
        from .read import PAPER_SOURCE

        return [m for m in self.ranking if PAPER_SOURCE in self.sources.get(m, {}).values()]

    def to_json(self) -> dict[str, Any]:
        """The ``compare.json`` object (NaN-free once passed through `report.writers.strict`)."""
        return {
            "models": list(self.models),
            "ranking": list(self.ranking),
            "categories": list(self.categories),
            "metrics": list(self.metrics),
            "option_mismatches": list(self.option_mismatches),
            "table": {model: self.table[model] for model in self.ranking},
            "avg_rank": {model: self.avg_rank[model] for model in self.ranking},
            "wilcoxon": {category: self.tests[category].to_json() for category in self.categories},
            "holm": self.holm,
            "zero_tolerance": ZERO_TOLERANCE,
            "notes": list(self.notes),
            "datasets": dict(self.datasets),
            "dataset_means": {
                model: self.dataset_means[model] for model in self.ranking if model in self.dataset_means
            },
            "friedman": self.friedman,
            "critical_difference": self.critical_difference,
            "sources": {model: self.sources.get(model, {}) for model in self.ranking},
            "provenance": self.provenance,
            "intervals": {
                model: {
                    c: {k: list(bounds) for k, bounds in by_key.items()} for c, by_key in self.intervals[model].items()
                }
                for model in self.ranking
                if model in self.intervals
            },
        }


def _common_categories(results: Sequence[ModelResults]) -> tuple[list[str], list[str]]:
    """(categories every model has, sorted; notes on the others)."""
    every = sorted(set().union(*(set(r.categories) | set(r.failed) for r in results)))
    common = [c for c in every if all(c in r.categories for r in results)]
    left_out = []
    for category in every:
        if category in common:
            continue
        reasons = []
        for r in sorted(results, key=lambda r: r.name):
            if category in r.failed:
                reasons.append(f"failed in {r.name}")
            elif category not in r.categories:
                reasons.append(f"missing in {r.name}")
        left_out.append(f"{category} ({', '.join(reasons)})")
    notes = []
    if left_out and common:
        notes.append(f"categories not compared, as not every model has them: {'; '.join(left_out)}.")
    if not common:
        detail = "; ".join(f"{r.name}: {', '.join(sorted(r.categories)) or 'none'}" for r in results)
        raise InputError(f"No category is in every model's results ({detail}); compare results of the same categories.")
    if MEAN_CATEGORY in common:
        raise InputError(
            f"A category is named {MEAN_CATEGORY!r}, which the comparison table uses for the mean over "
            "categories; re-run that evaluation with another --category."
        )
    return common, notes


def _matched_aupimos(category: str, results: Sequence[ModelResults]) -> tuple[list[str], NDArray[np.float64]]:
    """(sorted image keys, (num_images, num_models) AUPIMO) of one category, after checking the sets match."""
    key_sets = [set(r.categories[category].aupimos) for r in results]
    union = set().union(*key_sets)
    unmatched = []
    for key in sorted(union):
        lacking = [r.name for r, keys in zip(results, key_sets, strict=True) if key not in keys]
        if lacking:
            unmatched.append(f"{key} (missing in {', '.join(sorted(lacking))})")
    if unmatched:
        raise InputError(
            f"Category {category}: the models' anomalous images differ (matched by their <defect>/<name> without "
            "extension): "
            f"{listing(unmatched)}; evaluate every model on the same test images."
        )
    keys = sorted(union)
    if not keys:
        raise InputError(f"Category {category} has no anomalous image in {results[0].categories[category].folder}.")
    for r in results:
        category_result = r.categories[category]
        if (
            any(category_result.aupimos[key] is None for key in keys)
            or category_result.summary.get(RANKING_KEY) is None
        ):
            raise InputError(
                f"{category_result.folder} has no per-image AUPIMO (evaluated without it?); re-run the evaluation "
                "with aupimo in --metrics."
            )
    matrix = np.array([[r.categories[category].aupimos[key] for r in results] for key in keys], dtype=np.float64)
    return keys, matrix


def _check_options(results: Sequence[ModelResults], categories: Sequence[str], allow_mismatch: bool) -> list[str]:
    """How the runs' result-affecting options differ; refuses when they do unless `allow_mismatch`."""
    runs = {
        str(r.categories[category].folder): r.categories[category].options
        for r in sorted(results, key=lambda r: r.name)
        for category in categories
    }
    mismatches = option_mismatches(runs)
    if mismatches and not allow_mismatch:
        raise InputError(
            "the runs were computed with different result-affecting options, so their numbers are not comparable: "
            f"{'; and '.join(mismatches)}; compare runs made with the same options, or pass --allow-option-mismatch "
            "to compare them anyway (every table then says so)"
        )
    return mismatches


def _missing_metric_notes(
    table: Table, ranking: Sequence[str], categories: Sequence[str], keys: Sequence[str]
) -> list[str]:
    """A note per metric that some runs lack, naming the models and categories (never a silent blank)."""
    notes = []
    for key in keys:
        lacking = []
        for model in ranking:
            missing = [c for c in categories if table[model][c][key] is None]
            if missing:
                lacking.append(f"{model} ({', '.join(missing)})" if len(missing) < len(categories) else model)
        if lacking:
            notes.append(
                f"{key} is missing in {'; '.join(lacking)}: not computed in that run (see its --metrics and "
                "--aupro-limits), so it is shown as '-' there and has no mean over the categories."
            )
    return notes


def _matplotlib_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def compare_results(
    result_dirs: Sequence[Path],
    names: Sequence[str] | None = None,
    *,
    allow_option_mismatch: bool = False,
    holm: bool = False,
    dataset_of: dict[str, str] | None = None,
) -> Comparison:
    """Read the models' result folders and compare them over the categories they all have.

    Args:
        result_dirs: one ``aupimo evaluate`` or ``aupimo benchmark`` output folder per model.
        names: the model names, one per folder; by default the folders' basenames.
        allow_option_mismatch: compare runs whose result-affecting options differ, saying so in every table.
        holm: also give Holm-adjusted p-values, over every ordered pair of models within each category.
        dataset_of: the dataset of categories not known by name (``--dataset-of``).

    Raises:
        InputError: a folder is not a result folder or is inconsistent, names collide or don't fit, no
            category is common, the runs' options differ (unless allowed), the anomalous images of a category
            differ between models, or a category lacks per-image AUPIMO.
    """
    if not result_dirs:
        raise InputError("Give at least one RESULTS folder.")
    result_dirs = [Path(folder) for folder in result_dirs]
    models = model_names(result_dirs, names)
    results = [read_results(folder, name) for folder, name in zip(result_dirs, models, strict=True)]
    categories, notes = _common_categories(results)
    mismatches = _check_options(results, categories, allow_option_mismatch)

    keys = metric_keys([r.categories[c].summary for r in results for c in categories])
    summaries = {r.name: {c: r.categories[c].summary for c in categories} for r in results}
    table = metric_table(summaries, categories, keys)
    intervals = common_intervals(summaries, categories, keys)
    scores = np.array([[table[m][c][RANKING_KEY] for m in models] for c in categories], dtype=np.float64)
    ranks = average_ranks(scores)
    avg_rank = {model: float(rank) for model, rank in zip(models, ranks, strict=True)}
    overall = scores.mean(axis=0)
    ranking = [models[i] for i in order_models(ranks.tolist(), overall.tolist(), models)]

    image_keys: dict[str, list[str]] = {}
    per_image: dict[str, dict[str, NDArray[np.float64]]] = {}
    tests: dict[str, CategoryTests] = {}
    for category in categories:
        keys_of_images, matrix = _matched_aupimos(category, results)
        order = order_by_image_rank(matrix, models)
        ordered = matrix[:, order]
        names_in_order = [models[i] for i in order]
        pvalues = pairwise_pvalues(ordered)
        adjusted = holm_adjust(pvalues) if holm else None

        def as_dict(values: NDArray[np.float64], names: list[str] = names_in_order) -> dict[str, dict[str, float]]:
            return {a: {b: float(values[i, j]) for j, b in enumerate(names) if i != j} for i, a in enumerate(names)}

        image_keys[category] = keys_of_images
        per_image[category] = {model: ordered[:, index].copy() for index, model in enumerate(names_in_order)}
        tests[category] = CategoryTests(
            names_in_order, len(keys_of_images), as_dict(pvalues), None if adjusted is None else as_dict(adjusted)
        )

    datasets = {
        c: dataset_of_category(c, next((r.categories[c].dataset_hint for r in results), None), dataset_of or {})
        for c in categories
    }
    dataset_means: Table = {}
    if len(set(datasets.values())) > 1:
        for model in models:
            dataset_means[model] = {
                dataset: {
                    key: mean_or_none([table[model][c][key] for c in categories if datasets[c] == dataset])
                    for key in keys
                }
                for dataset in sorted(set(datasets.values()))
            }
    friedman = None
    critical_difference = None
    if len(models) >= 3:
        critical_difference = nemenyi_critical_difference(len(models), len(categories))
        if len(categories) >= 2:
            statistic, pvalue = friedman_test(scores)
            friedman = {"statistic": statistic, "pvalue": pvalue, "num_models": len(models),
                        "num_categories": len(categories)}  # fmt: skip
    sources = {r.name: {c: r.categories[c].source for c in categories} for r in results}
    notes += _missing_metric_notes(table, ranking, categories, keys)
    if mismatches:
        notes.insert(
            0, f"the runs' options differ (compared anyway, --allow-option-mismatch): {'; '.join(mismatches)}."
        )
    if not _matplotlib_available():
        notes.append(MATPLOTLIB_MISSING_NOTE)
    if any(PAPER_SOURCE in by_category.values() for by_category in sources.values()):
        notes.append(
            "values marked † come from the AUPIMO paper's published files: their AUROC and AUPRO were computed by "
            "anomalib in 2024, before its AUPRO fix (v2.3, issue #3718), so AUPRO may differ from the MVTec "
            "reference; their per-image AUPIMO is the paper's. Their aupr.json is anomalib's trapezoid AUPR, not "
            "AP, and is not shown."
        )
    provenance = comparison_provenance(results, categories)
    return Comparison(
        models, ranking, categories, keys, table, avg_rank, tests, image_keys, per_image, mismatches, notes, holm,
        intervals, datasets, dataset_means, friedman, critical_difference, sources, provenance,
    )  # fmt: skip


def comparison_provenance(results: Sequence[ModelResults], categories: Sequence[str]) -> dict[str, Any]:
    """What ``compare.json`` records of its making: the tool and library versions, and each input folder with its
    source and the options its categories recorded ("not recorded" where they recorded none)."""
    import importlib.metadata

    import scipy

    from .. import __version__

    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    inputs = {}
    for r in sorted(results, key=lambda r: r.name):
        options: dict[str, Any] = {}
        for category in categories:
            recorded = r.categories[category].options
            values = {
                name: list(value) if isinstance(value, tuple) else value
                for name, value in vars(recorded).items()
                if value is not None
            }
            options[category] = values or "not recorded"
        inputs[r.name] = {
            "folder": os.path.abspath(r.folder),
            "sources": sorted({r.categories[c].source for c in categories}),
            "options": options,
        }
    return {
        "tool": {"name": "aupimo-cli", "version": __version__},
        "libraries": {"numpy": np.__version__, "scipy": scipy.__version__, "matplotlib": version("matplotlib")},
        "inputs": inputs,
    }
