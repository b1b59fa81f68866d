"""Compare models from their result folders: the code path behind ``aupimo compare``.

Each model is one ``aupimo evaluate`` folder (one category) or one ``aupimo benchmark`` folder (many
categories). `compare_results` reads them and computes, over the categories every model has:

- a table of mean AUPIMO, pixel AUROC, AUPRO@30% and AUPRO@5% per model and category, plus their mean;
- each model's average rank across categories (rank 1 is the best mean AUPIMO; ties are averaged);
- per category, pairwise one-sided Wilcoxon signed-rank tests on the paired per-image AUPIMO of the
  anomalous images, as in the AUPIMO paper (Bertoldo et al., 2024).

`write_comparison` writes ``compare.json``, ``compare.csv``, ``compare.md`` and ``boxplots/<category>.png``
as one atomic set. The statistics live in pure functions on plain arrays (`metric_table`, `average_ranks`,
`order_by_image_rank`, `wilcoxon_pvalue`, `pairwise_wilcoxon`) so they can be checked by hand.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import InputError

METRIC_KEYS: tuple[str, ...] = ("aupimo_mean", "pixel_auroc", "aupro_30", "aupro_05")
"""The per-category summary keys compared, in the order of the table and of ``compare.csv``."""

MEAN_CATEGORY = "mean"
"""The pseudo-category of the table holding each metric's mean over the compared categories."""

ZERO_TOLERANCE = 1e-3
"""Paired AUPIMO differences with an absolute value at most this are set to 0 before the Wilcoxon test."""

MATPLOTLIB_MISSING_NOTE = "matplotlib is not installed: boxplots skipped (pip install 'aupimo-cli[plot]')"

_MAX_LISTED = 5

Table = dict[str, dict[str, dict[str, float | None]]]
"""model -> category (including ``"mean"``) -> metric key -> value, or None where undefined."""


# ----------------------------------------------------------------------------------------------------------
# Pure computations on plain data.
# ----------------------------------------------------------------------------------------------------------


def _finite_or_none(value: Any) -> float | None:
    """`value` as a float, or None when it is missing, None, non-numeric or not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def mean_or_none(values: Sequence[float | None]) -> float | None:
    """The mean of `values`, or None when any of them is None or there are none."""
    if not values or any(value is None for value in values):
        return None
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def metric_table(summaries: Mapping[str, Mapping[str, Mapping[str, Any]]], categories: Sequence[str]) -> Table:
    """The comparison table: each model's `METRIC_KEYS` per category, then their mean over the categories.

    Args:
        summaries: model -> category -> that category's ``summary.json`` object.
        categories: the compared categories, in output order; each model must have all of them.

    Returns:
        model -> category -> {metric key: value}. A value is None where the summary lacks it (or holds
        null). The last category of each model is ``"mean"``: the mean over `categories` of each metric, or
        None when any category's value is None.
    """
    table: Table = {}
    for model, by_category in summaries.items():
        rows: dict[str, dict[str, float | None]] = {}
        for category in categories:
            summary = by_category[category]
            rows[category] = {key: _finite_or_none(summary.get(key)) for key in METRIC_KEYS}
        rows[MEAN_CATEGORY] = {key: mean_or_none([rows[c][key] for c in categories]) for key in METRIC_KEYS}
        table[model] = rows
    return table


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """Each model's rank averaged over categories, where rank 1 is the highest score and ties share ranks.

    Args:
        scores: (num_categories, num_models) scores, higher is better (the models' mean AUPIMO).

    Returns:
        (num_models,) float64: per category, ``scipy.stats.rankdata(-scores, method="average")``, then the
        mean over categories.

    Raises:
        ValueError: `scores` is not 2-D with at least one category, or holds NaN.
    """
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must have shape (num_categories >= 1, num_models), got {scores.shape}.")
    if np.isnan(scores).any():
        raise ValueError("scores must not hold NaN: every model needs a mean AUPIMO in every category.")
    ranks = np.stack([rankdata(-row, method="average") for row in scores])
    return ranks.mean(axis=0)


def image_rank_means(aupimos: np.ndarray) -> np.ndarray:
    """Each model's rank averaged over images: per image, rank 1 is the highest AUPIMO and ties share ranks.

    Args:
        aupimos: (num_images, num_models) per-image AUPIMO of the same anomalous images.

    Returns:
        (num_models,) float64 mean of ``scipy.stats.rankdata(-aupimos[i], method="average")`` over images i.
    """
    from scipy.stats import rankdata

    aupimos = np.asarray(aupimos, dtype=np.float64)
    if aupimos.ndim != 2 or aupimos.shape[0] == 0:
        raise ValueError(f"aupimos must have shape (num_images >= 1, num_models), got {aupimos.shape}.")
    return rankdata(-aupimos, method="average", axis=1).mean(axis=0)


def order_by_image_rank(aupimos: np.ndarray) -> list[int]:
    """Model indices best first: by ascending average per-image rank (`image_rank_means`), ties by index."""
    return [int(index) for index in np.argsort(image_rank_means(aupimos), kind="stable")]


def wilcoxon_pvalue(better: np.ndarray, worse: np.ndarray, tolerance: float = ZERO_TOLERANCE) -> float:
    """One-sided Wilcoxon signed-rank p-value that `better` beats `worse` on paired per-image AUPIMO.

    The differences ``d = better - worse`` with ``|d| <= tolerance`` are set to 0 (as in the AUPIMO paper);
    if every difference is then 0, the p-value is 1. Otherwise it is
    ``scipy.stats.wilcoxon(d, alternative="greater").pvalue`` with the default ``zero_method="wilcox"``,
    which drops the zero differences.

    Args:
        better, worse: (num_images,) AUPIMO of the same images, in the same order.
        tolerance: the largest absolute difference counted as a tie.
    """
    from scipy.stats import wilcoxon

    better = np.asarray(better, dtype=np.float64)
    worse = np.asarray(worse, dtype=np.float64)
    if better.shape != worse.shape or better.ndim != 1:
        raise ValueError(f"better and worse must be 1-D of one length, got {better.shape} and {worse.shape}.")
    differences = better - worse
    differences[np.abs(differences) <= tolerance] = 0.0
    if not differences.any():
        return 1.0
    return float(wilcoxon(differences, alternative="greater").pvalue)


def pairwise_wilcoxon(aupimos: np.ndarray, models: Sequence[str]) -> list[dict[str, Any]]:
    """The AUPIMO paper's pairwise tests within one category.

    The models are ordered by `order_by_image_rank`; for each pair (i, j) with i before j in that order,
    the test asks whether model i (better) has higher per-image AUPIMO than model j (worse).

    Args:
        aupimos: (num_images, num_models) per-image AUPIMO of the same anomalous images.
        models: the model names, one per column.

    Returns:
        One entry per pair, ``{"better", "worse", "pvalue", "confidence", "n"}``, where confidence is
        ``1 - pvalue`` and n the number of images.
    """
    aupimos = np.asarray(aupimos, dtype=np.float64)
    if aupimos.ndim != 2 or aupimos.shape[1] != len(models):
        raise ValueError(f"aupimos must have shape (num_images, {len(models)}), got {aupimos.shape}.")
    order = order_by_image_rank(aupimos)
    entries = []
    for position, better in enumerate(order):
        for worse in order[position + 1 :]:
            pvalue = wilcoxon_pvalue(aupimos[:, better], aupimos[:, worse])
            entries.append(
                {
                    "better": models[better],
                    "worse": models[worse],
                    "pvalue": pvalue,
                    "confidence": 1.0 - pvalue,
                    "n": int(aupimos.shape[0]),
                }
            )
    return entries


def image_key(path: str) -> str:
    """The path of a map without its extension (``"crack/000.tiff"`` -> ``"crack/000"``), to match models."""
    return path[: len(path) - len(PurePosixPath(path).suffix)]


# ----------------------------------------------------------------------------------------------------------
# Reading result folders.
# ----------------------------------------------------------------------------------------------------------


@dataclass
class CategoryResult:
    """One model's results on one category: its summary and its anomalous images' AUPIMO by image key."""

    summary: dict[str, Any]
    aupimos: dict[str, float | None]
    folder: Path


@dataclass
class ModelResults:
    """One model's result folder, read: its successful categories, and notes on the others."""

    name: str
    folder: Path
    categories: dict[str, CategoryResult]
    failed: dict[str, str] = field(default_factory=dict)


def _not_results(folder: Path, why: str) -> InputError:
    return InputError(
        f"{folder} must be an `aupimo evaluate` or `aupimo benchmark` output folder ({why}); pass the folder "
        "that holds summary.json."
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Cannot read {path}: {error}.") from error
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not valid JSON ({error}); re-run the evaluation that wrote it.") from error


def _read_category(folder: Path, expected: str | None = None) -> CategoryResult:
    """Read ``summary.json`` and ``per_image.parquet`` of one evaluate-layout folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise _not_results(folder, "no summary.json")
    summary = _read_json(summary_path)
    if not isinstance(summary, dict) or not isinstance(summary.get("category"), str):
        raise _not_results(folder, f"{summary_path} is not a summary object with a 'category'")
    if expected is not None and summary["category"] != expected:
        raise InputError(
            f"{summary_path} names category {summary['category']!r}, but the benchmark lists it as {expected!r}; "
            "re-run the benchmark."
        )
    parquet_path = folder / "per_image.parquet"
    if not parquet_path.is_file():
        raise _not_results(folder, "no per_image.parquet")
    try:
        table = pq.read_table(parquet_path)
    except (OSError, pa.ArrowException) as error:
        raise InputError(f"Cannot read {parquet_path}: {error}; re-run the evaluation that wrote it.") from error
    missing = [name for name in ("path", "label", "aupimo") if name not in table.column_names]
    if missing:
        raise InputError(f"{parquet_path} lacks the column(s) {', '.join(missing)}; re-run the evaluation.")
    paths = table.column("path").to_pylist()
    labels = table.column("label").to_pylist()
    values = table.column("aupimo").to_pylist()
    aupimos: dict[str, float | None] = {}
    for path, label, value in zip(paths, labels, values, strict=True):
        if label != 1:
            continue
        key = image_key(str(path))
        if key in aupimos:
            raise InputError(f"{parquet_path}: two anomalous images share the path {key!r} without extension.")
        aupimos[key] = _finite_or_none(value)
    return CategoryResult(summary=summary, aupimos=aupimos, folder=folder)


def read_results(folder: Path, name: str) -> ModelResults:
    """Read one model's ``aupimo evaluate`` or ``aupimo benchmark`` output folder.

    A benchmark's ``mean`` row and the rows whose ``error`` is non-empty are left out (the latter are kept
    in `ModelResults.failed`).

    Raises:
        InputError: the folder is neither kind of output, or one of its files is unreadable.
    """
    if not folder.is_dir():
        raise _not_results(folder, "not a folder" if folder.exists() else "it does not exist")
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise _not_results(folder, "no summary.json")
    summary = _read_json(summary_path)
    if isinstance(summary, dict):
        result = _read_category(folder)
        return ModelResults(name, folder, {result.summary["category"]: result})
    if not isinstance(summary, list):
        raise _not_results(folder, f"{summary_path} is neither an object nor a list of rows")
    categories: dict[str, CategoryResult] = {}
    failed: dict[str, str] = {}
    for row in summary:
        if not isinstance(row, dict) or not isinstance(row.get("category"), str):
            raise _not_results(folder, f"{summary_path} holds a row without a 'category'")
        category = row["category"]
        if category == MEAN_CATEGORY:
            continue
        if row.get("error"):
            failed[category] = str(row["error"])
            continue
        sub = folder / category
        if not (sub / "summary.json").is_file():
            raise InputError(
                f"{summary_path} lists category {category!r}, but {sub}/summary.json is missing; re-run the benchmark."
            )
        categories[category] = _read_category(sub, expected=category)
    return ModelResults(name, folder, categories, failed)


def model_names(result_dirs: Sequence[Path], names: Sequence[str] | None) -> list[str]:
    """The model names: `names`, or the folders' basenames.

    Raises:
        InputError: the counts differ, a name is empty or repeated, or two basenames collide.
    """
    if names is not None:
        names = [name.strip() for name in names]
        if len(names) != len(result_dirs):
            raise InputError(
                f"--names: got {len(names)} name(s) for {len(result_dirs)} RESULTS folder(s); give one per folder."
            )
        if any(not name for name in names):
            raise InputError("--names: names must not be empty.")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise InputError(f"--names: {', '.join(repeated)} given more than once; names must be distinct.")
        return list(names)
    basenames = [Path(os.path.abspath(folder)).name for folder in result_dirs]
    for index, name in enumerate(basenames):
        others = [result_dirs[j] for j in range(index + 1, len(basenames)) if basenames[j] == name]
        if others:
            raise InputError(
                f"RESULTS folders {result_dirs[index]} and {others[0]} have the same name {name!r}; "
                "name the models with --names a,b,..."
            )
    return basenames


# ----------------------------------------------------------------------------------------------------------
# The comparison.
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """The comparison of models over their common categories, ready to be written.

    Attributes:
        models: the model names, in the order given.
        categories: the compared categories (those every model has), sorted.
        table: model -> category (then ``"mean"``) -> {``aupimo_mean``, ``pixel_auroc``, ``aupro_30``,
            ``aupro_05``}; None where undefined.
        avg_rank: model -> rank of its mean AUPIMO averaged over `categories` (1 is the best).
        wilcoxon: category -> pairwise test entries ``{"better", "worse", "pvalue", "confidence", "n"}``.
        image_keys: category -> the matched anomalous images (paths without extension), sorted.
        per_image: category -> model -> (num_images,) AUPIMO in the order of `image_keys`.
        order: category -> the models best first, by average per-image rank.
        notes: things the user should know (left-out categories, skipped figures).
    """

    models: list[str]
    categories: list[str]
    table: Table
    avg_rank: dict[str, float]
    wilcoxon: dict[str, list[dict[str, Any]]]
    image_keys: dict[str, list[str]]
    per_image: dict[str, dict[str, np.ndarray]]
    order: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``compare.json`` object (NaN-free once passed through `report.writers.strict`)."""
        return {
            "models": list(self.models),
            "categories": list(self.categories),
            "table": self.table,
            "avg_rank": dict(self.avg_rank),
            "wilcoxon": self.wilcoxon,
        }


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f" and {len(items) - _MAX_LISTED} more"
    return shown


def _common_categories(results: Sequence[ModelResults]) -> tuple[list[str], list[str]]:
    """(categories every model has, sorted; notes on the others)."""
    every = sorted(set().union(*(set(r.categories) | set(r.failed) for r in results)))
    common = [c for c in every if all(c in r.categories for r in results)]
    left_out = []
    for category in every:
        if category in common:
            continue
        reasons = []
        for r in results:
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


def _matched_aupimos(category: str, results: Sequence[ModelResults]) -> tuple[list[str], np.ndarray]:
    """(sorted image keys, (num_images, num_models) AUPIMO) of one category, after checking the sets match."""
    key_sets = [set(r.categories[category].aupimos) for r in results]
    union = set().union(*key_sets)
    unmatched = []
    for key in sorted(union):
        lacking = [r.name for r, keys in zip(results, key_sets, strict=True) if key not in keys]
        if lacking:
            unmatched.append(f"{key} (missing in {', '.join(lacking)})")
    if unmatched:
        raise InputError(
            f"Category {category}: the models' anomalous images differ (matched by path without extension): "
            f"{_listing(unmatched)}; evaluate every model on the same test images."
        )
    keys = sorted(union)
    if not keys:
        raise InputError(f"Category {category} has no anomalous image in {results[0].categories[category].folder}.")
    for r in results:
        category_result = r.categories[category]
        if (
            any(category_result.aupimos[key] is None for key in keys)
            or category_result.summary.get("aupimo_mean") is None
        ):
            raise InputError(
                f"{category_result.folder} has no per-image AUPIMO (evaluated without it?); re-run the evaluation "
                "with aupimo in --metrics."
            )
    matrix = np.array([[r.categories[category].aupimos[key] for r in results] for key in keys], dtype=np.float64)
    return keys, matrix


def _matplotlib_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def compare_results(result_dirs: Sequence[Path], names: Sequence[str] | None = None) -> Comparison:
    """Read the models' result folders and compare them over the categories they all have.

    Args:
        result_dirs: one ``aupimo evaluate`` or ``aupimo benchmark`` output folder per model.
        names: the model names, one per folder; by default the folders' basenames.

    Raises:
        InputError: a folder is not a result folder, names collide or don't fit, no category is common, the
            anomalous images of a category differ between models, or a category lacks per-image AUPIMO.
    """
    if not result_dirs:
        raise InputError("Give at least one RESULTS folder.")
    result_dirs = [Path(folder) for folder in result_dirs]
    models = model_names(result_dirs, names)
    results = [read_results(folder, name) for folder, name in zip(result_dirs, models, strict=True)]
    categories, notes = _common_categories(results)

    table = metric_table({r.name: {c: r.categories[c].summary for c in categories} for r in results}, categories)
    image_keys: dict[str, list[str]] = {}
    per_image: dict[str, dict[str, np.ndarray]] = {}
    order: dict[str, list[str]] = {}
    tests: dict[str, list[dict[str, Any]]] = {}
    for category in categories:
        keys, matrix = _matched_aupimos(category, results)
        image_keys[category] = keys
        per_image[category] = {model: matrix[:, index].copy() for index, model in enumerate(models)}
        order[category] = [models[index] for index in order_by_image_rank(matrix)]
        tests[category] = pairwise_wilcoxon(matrix, models)

    scores = np.array([[table[m][c]["aupimo_mean"] for m in models] for c in categories], dtype=np.float64)
    ranks = average_ranks(scores)
    avg_rank = {model: float(rank) for model, rank in zip(models, ranks, strict=True)}
    if not _matplotlib_available():
        notes.append(MATPLOTLIB_MISSING_NOTE)
    return Comparison(models, categories, table, avg_rank, tests, image_keys, per_image, order, notes)


# ----------------------------------------------------------------------------------------------------------
# Writing.
# ----------------------------------------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = ("model", "category", *METRIC_KEYS, "avg_rank")


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def comparison_csv(comparison: Comparison) -> str:
    """Long CSV: one row per model and category (then ``mean``), with the model's average rank repeated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for model in comparison.models:
        for category, values in comparison.table[model].items():
            row = [model, category, *(values[key] for key in METRIC_KEYS), comparison.avg_rank[model]]
            writer.writerow([_csv_cell(cell) for cell in row])
    return buffer.getvalue()


def format_float(value: float | None) -> str:
    """A float to 4 decimals, or ``-`` when undefined."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4f}"


def _md_text(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_text(cell) for cell in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_text(cell) for cell in row) + " |" for row in rows]
    return lines


def models_by_rank(comparison: Comparison) -> list[str]:
    """The models by ascending average rank (best first), ties in the given order."""
    return sorted(comparison.models, key=lambda model: comparison.avg_rank[model])


def comparison_markdown(comparison: Comparison) -> str:
    """``compare.md``: the comparison as markdown tables, usable as a GitHub job summary as is."""
    categories = [*comparison.categories, MEAN_CATEGORY]
    lines = ["# Model comparison", ""]
    lines += [f"Models: {', '.join(comparison.models)}. Categories: {', '.join(comparison.categories)}.", ""]
    lines += ["## Mean AUPIMO", ""]
    lines += _md_table(
        ["model", *categories],
        [
            [model, *(format_float(comparison.table[model][c]["aupimo_mean"]) for c in categories)]
            for model in comparison.models
        ],
    )
    lines += ["", "## Pixel metrics (mean over categories)", ""]
    lines += _md_table(
        ["model", "pixel AUROC", "AUPRO@30%", "AUPRO@5%"],
        [
            [model, *(format_float(comparison.table[model][MEAN_CATEGORY][k]) for k in METRIC_KEYS[1:])]
            for model in comparison.models
        ],
    )
    lines += ["", "## Average rank", ""]
    lines += [
        "Rank of the mean AUPIMO within each category (1 is the best, ties averaged), averaged over categories.",
        "",
    ]
    lines += _md_table(
        ["model", "average rank"],
        [[model, format_float(comparison.avg_rank[model])] for model in models_by_rank(comparison)],
    )
    lines += ["", "## Wilcoxon signed-rank tests", ""]
    lines += [
        "One-sided tests on the paired per-image AUPIMO of the anomalous images (differences of at most "
        f"{ZERO_TOLERANCE:g} count as ties); confidence = 1 - p-value.",
    ]
    for category in comparison.categories:
        lines += ["", f"### {_md_text(category)}", ""]
        entries = comparison.wilcoxon[category]
        if not entries:
            lines += ["One model only: no test."]
            continue
        lines += _md_table(
            ["better", "worse", "n", "p-value", "confidence"],
            [
                [e["better"], e["worse"], str(e["n"]), format_float(e["pvalue"]), format_float(e["confidence"])]
                for e in entries
            ],
        )
    if comparison.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in comparison.notes]
    return "\n".join(lines) + "\n"


def write_boxplot(path: Path, category: str, data: Sequence[np.ndarray], labels: Sequence[str]) -> None:
    """A PNG of horizontal boxplots of per-image AUPIMO, one per model, the first on top (the paper's Fig. 3c).

    Raises:
        ImportError: matplotlib is not installed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 1.2 + 0.45 * len(labels)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(labels), 0, -1))
    style: dict[str, Any] = {
        "positions": positions,
        "widths": 0.6,
        "showmeans": True,
        "meanprops": {"marker": "d", "markerfacecolor": "white", "markeredgecolor": "black"},
        "flierprops": {"marker": ".", "markersize": 4},
    }
    try:
        axes.boxplot(list(data), orientation="horizontal", **style)
    except TypeError:  # matplotlib < 3.10
        axes.boxplot(list(data), vert=False, **style)
    axes.set_yticks(positions, labels=list(labels))
    axes.set_xlim(-0.02, 1.02)
    axes.set_xlabel("AUPIMO")
    axes.grid(axis="x", alpha=0.3)
    num_images = len(data[0]) if data else 0
    axes.set_title(f"{category}: per-image AUPIMO of {num_images} anomalous images (best model on top)")
    figure.savefig(path, format="png", metadata={"Software": None})


def write_comparison(comparison: Comparison, out: Path, *, overwrite: bool) -> Path:
    """Write ``compare.json``, ``compare.csv``, ``compare.md`` and ``boxplots/<category>.png`` atomically.

    Without matplotlib the boxplots are skipped and `MATPLOTLIB_MISSING_NOTE` is added to the notes.

    Returns:
        The absolute results folder.

    Raises:
        InputError: `out` is a file, or exists without `overwrite`, or can't be written.
    """
    from ..report.atomic import staged_folder
    from ..report.writers import json_text

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        have_matplotlib = False
        if MATPLOTLIB_MISSING_NOTE not in comparison.notes:
            comparison.notes.append(MATPLOTLIB_MISSING_NOTE)
    else:
        have_matplotlib = True

    with staged_folder(out, overwrite) as staging:
        (staging / "compare.json").write_text(json_text(comparison.to_json()), encoding="utf-8")
        (staging / "compare.csv").write_text(comparison_csv(comparison), encoding="utf-8")
        (staging / "compare.md").write_text(comparison_markdown(comparison), encoding="utf-8")
        if have_matplotlib:
            (staging / "boxplots").mkdir()
            for category in comparison.categories:
                models = comparison.order[category]
                data = [comparison.per_image[category][model] for model in models]
                write_boxplot(staging / "boxplots" / f"{category}.png", category, data, models)
    return Path(os.path.abspath(out))
