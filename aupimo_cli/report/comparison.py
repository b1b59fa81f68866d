"""Writing a model comparison: ``compare.json``, ``compare.csv``, ``compare.md``, ``wilcoxon.csv`` and ``figures/``.

Rendering only: every number comes from `aupimo_cli.compare.Comparison`. Models are listed in the
comparison's ranking, so no file depends on the order in which the folders were given.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..metrics.registry import RANKING_KEY
from .atomic import staged_folder
from .manifest import MANIFEST_FILE, list_files, manifest_record
from .writers import json_text

SPREAD_KEY = "aupimo_std"

if TYPE_CHECKING:
    from ..compare.comparison import Comparison

MEAN_CATEGORY = "mean"
OPTION_MISMATCH_WARNING = "the runs were computed with different result-affecting options (--allow-option-mismatch)"


def metric_title(key: str) -> str:
    """A short title for a compared summary key, from the registry: ``aupro_05`` -> ``AUPRO@5%``."""
    from ..metrics.registry import key_title

    return key_title(key)


def format_float(value: float | None) -> str:
    """A float to 4 decimals, or ``-`` when undefined."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4f}"


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def interval_keys(comparison: Comparison) -> list[str]:
    """The compared keys that have a bootstrap interval in some category for every model, in table order."""
    present = {
        key for by_category in comparison.intervals.values() for by_key in by_category.values() for key in by_key
    }
    return [key for key in comparison.metrics if key in present]


def with_interval(comparison: Comparison, model: str, category: str, key: str) -> str:
    """A table cell: the value, and its bootstrap interval when every model has one, ``0.8123 [0.79, 0.83]``."""
    value = format_float(comparison.table[model][category][key])
    bounds = comparison.intervals.get(model, {}).get(category, {}).get(key)
    return value if bounds is None else f"{value} [{format_float(bounds[0])}, {format_float(bounds[1])}]"


def comparison_csv(comparison: Comparison) -> str:
    """Long CSV: one row per model (ranking order) and category (then ``mean``), with the model's average rank,
    the bootstrap intervals where every model has them (``<key>_ci_low``, ``<key>_ci_high``); a last ``note``
    column says when the runs' options differ."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    with_intervals = interval_keys(comparison)
    bounds_header = [f"{key}{suffix}" for key in with_intervals for suffix in ("_ci_low", "_ci_high")]
    writer.writerow(["model", "category", *comparison.metrics, *bounds_header, "avg_rank", "note"])
    note = OPTION_MISMATCH_WARNING if comparison.option_mismatches else ""
    for model in comparison.ranking:
        for category, values in comparison.table[model].items():
            bounds: list[float | None] = []
            for key in with_intervals:
                pair = comparison.intervals.get(model, {}).get(category, {}).get(key)
                bounds += [None, None] if pair is None else list(pair)
            row = [model, category, *(values[key] for key in comparison.metrics), *bounds,
                   comparison.avg_rank[model], note]  # fmt: skip
            writer.writerow([_csv_cell(cell) for cell in row])
    return buffer.getvalue()


def _md_text(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_text(cell) for cell in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_text(cell) for cell in row) + " |" for row in rows]
    return lines


def pair_rows(comparison: Comparison, category: str) -> list[tuple[str, str, float, float, float | None, float | None]]:
    """Each unordered pair of one category once, the higher-ranked model first: (a, b, confidence that a beats b,
    confidence that b beats a, and the same two Holm-adjusted or None)."""
    tests = comparison.tests[category]
    rows = []
    for position, first in enumerate(tests.order):
        for second in tests.order[position + 1 :]:
            holm = tests.holm
            rows.append(
                (
                    first,
                    second,
                    1.0 - tests.pvalues[first][second],
                    1.0 - tests.pvalues[second][first],
                    None if holm is None else 1.0 - holm[first][second],
                    None if holm is None else 1.0 - holm[second][first],
                )
            )
    return rows


def row_labels(comparison: Comparison) -> list[str]:
    """The rows of the per-category tables: the categories, then one mean per dataset (when there are several),
    then the mean over every category."""
    datasets = sorted({dataset for by_dataset in comparison.dataset_means.values() for dataset in by_dataset})
    return [*comparison.categories, *(f"{MEAN_CATEGORY} {dataset}" for dataset in datasets), MEAN_CATEGORY]


def row_value(comparison: Comparison, model: str, row: str, key: str) -> float | None:
    """A model's value of `key` in a row of `row_labels` (a category, a dataset's mean or the mean)."""
    if row in comparison.table[model]:
        return comparison.table[model][row][key]
    return comparison.dataset_means[model][row.removeprefix(f"{MEAN_CATEGORY} ")][key]


def model_legend(models: Sequence[str]) -> str:
    """``1 = patchcore, 2 = efficientad, ...``: the index of each model in compact tables."""
    return ", ".join(f"{index} = {model}" for index, model in enumerate(models, start=1))


def critical_difference_text(comparison: Comparison, label: Callable[[str], str] = str) -> str:
    """The Friedman test and the Nemenyi critical difference in words (or why they are absent); `label` names
    a model in the groups (its index, in a compact console table)."""
    if comparison.critical_difference is None:
        return (
            "The Friedman test and the Nemenyi critical difference need 3 models or more: with 2, the Wilcoxon "
            "tests below stand alone."
        )
    parts = []
    if comparison.friedman is not None:
        friedman = comparison.friedman
        verdict = "the models differ" if friedman["pvalue"] < 0.05 else "no significant difference"
        parts.append(
            f"Friedman test over {int(friedman['num_categories'])} categories: chi-square = "
            f"{friedman['statistic']:.2f}, p = {friedman['pvalue']:.3g} ({verdict} at alpha = 0.05)."
        )
    cd = comparison.critical_difference
    groups = equivalent_groups(comparison)
    parts.append(
        f"Nemenyi critical difference (alpha = 0.05): CD = {cd:.3f}; models whose average ranks differ by less than "
        "CD are not significantly different"
        + (": " + "; ".join("{" + ", ".join(map(label, group)) + "}" for group in groups) + "." if groups else ".")
    )
    return " ".join(parts)


def equivalent_groups(comparison: Comparison) -> list[list[str]]:
    """The maximal runs of models (best first) whose average ranks lie within the critical difference."""
    if comparison.critical_difference is None:
        return []
    models = sorted(comparison.ranking, key=lambda m: (comparison.avg_rank[m], comparison.ranking.index(m)))
    ranks = [comparison.avg_rank[m] for m in models]
    groups: list[tuple[int, int]] = []
    for start in range(len(models)):
        stop = start
        while stop + 1 < len(models) and ranks[stop + 1] - ranks[start] < comparison.critical_difference:
            stop += 1
        if stop > start and not any(a <= start and stop <= b for a, b in groups):
            groups.append((start, stop))
    return [models[a : b + 1] for a, b in groups]


def _bold_best(cells: list[str], values: list[float | None]) -> list[str]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return cells
    best = max(finite)
    return [f"**{cell}**" if value == best else cell for cell, value in zip(cells, values, strict=True)]


def paper_mark(comparison: Comparison, model: str, key: str) -> str:
    """``†`` after a model's AUROC or AUPRO when it comes from the AUPIMO paper's files (DESIGN section 8)."""
    from ..metrics.registry import metric_of

    metric = metric_of(key)
    if metric is None or metric.name not in ("auroc", "aupro"):
        return ""
    return "†" if model in comparison.paper_models else ""


def comparison_markdown(comparison: Comparison) -> str:
    """``compare.md``: one table of mean AUPIMO leads (best per row in bold, then the average ranks and the
    critical difference); then the spread, the other metrics, the intervals, compact per-category confidence
    matrices (model indices with a legend) and the notes. The flat list of tests is in ``wilcoxon.csv``."""
    models = comparison.ranking
    rows = row_labels(comparison)
    has_intervals = any(by_key for by_category in comparison.intervals.values() for by_key in by_category.values())
    lines = ["# Model comparison", ""]
    if comparison.option_mismatches:
        lines += [f"> **Warning:** {OPTION_MISMATCH_WARNING}: {'; '.join(comparison.option_mismatches)}.", ""]
    datasets = sorted(set(comparison.datasets.values()))
    per_dataset = ", ".join(
        f"{sum(1 for d in comparison.datasets.values() if d == dataset)} {dataset}" for dataset in datasets
    )
    lines += [
        f"{len(models)} models, best first: {', '.join(models)}. {len(comparison.categories)} categories "
        f"({per_dataset}).",
        "",
        "## Mean AUPIMO",
        "",
        "Mean per-image AUPIMO of the anomalous images, per category (best in bold), per dataset and overall; the "
        "last row is each model's average rank (rank 1 is the best mean AUPIMO of a category, ties averaged)."
        + (" Cells show the bootstrap interval [low, high] where every model has one." if has_intervals else ""),
        "",
    ]
    table_rows = []
    for row in rows:
        values = [row_value(comparison, model, row, RANKING_KEY) for model in models]
        cells = [
            with_interval(comparison, model, row, RANKING_KEY) if row in comparison.categories else format_float(v)
            for model, v in zip(models, values, strict=True)
        ]
        table_rows.append([_md_text(row), *_bold_best(cells, values)])
    ranks = [comparison.avg_rank[model] for model in models]
    rank_cells = [format_float(rank) for rank in ranks]
    best_rank = min(ranks)
    table_rows.append(
        ["average rank", *(f"**{c}**" if r == best_rank else c for c, r in zip(rank_cells, ranks, strict=True))]
    )
    lines += _md_table(["category", *models], table_rows)
    lines += ["", critical_difference_text(comparison), ""]
    if comparison.critical_difference is not None:
        lines += ["![critical difference diagram](figures/critical_difference.png)", ""]

    lines += ["## Spread of per-image AUPIMO", "", "Standard deviation (ddof = 1) over the anomalous images.", ""]
    lines += _md_table(
        ["category", *models],
        [[_md_text(row), *(format_float(row_value(comparison, m, row, SPREAD_KEY)) for m in models)] for row in rows],
    )
    others = [key for key in comparison.metrics if key not in (RANKING_KEY, SPREAD_KEY)]
    if others:
        lines += ["", "## Other metrics (mean over categories)", ""]
        lines += _md_table(
            ["model", *(metric_title(key) for key in others)],
            [
                [
                    model,
                    *(
                        format_float(comparison.table[model][MEAN_CATEGORY][key]) + paper_mark(comparison, model, key)
                        for key in others
                    ),
                ]
                for model in models
            ],
        )
        if comparison.paper_models:
            lines += ["", "† from the AUPIMO paper's published files: anomalib (2024), before its AUPRO fix (v2.3)."]
    bootstrapped = [key for key in interval_keys(comparison) if key != RANKING_KEY]
    if bootstrapped:
        lines += ["", "## Bootstrap intervals per category", ""]
        lines += ["Each metric with its bootstrap interval, [low, high], where every model has one.", ""]
        for category in comparison.categories:
            lines += [f"### {_md_text(category)}", ""]
            lines += _md_table(
                ["model", *(metric_title(key) for key in bootstrapped)],
                [
                    [model, *(with_interval(comparison, model, category, key) for key in bootstrapped)]
                    for model in models
                ],
            )
            lines += [""]

    lines += ["", "## Wilcoxon signed-rank tests", ""]
    lines += [
        "One-sided tests on the paired per-image AUPIMO of the anomalous images (differences of at most 0.001 count "
        "as ties). Each matrix gives the confidence, 1 - p-value, that the row model beats the column model; models "
        f"by their index, in the order of the ranking: {_md_text(model_legend(models))}."
        + (" Holm: adjusted over every ordered pair of models of the category." if comparison.holm else "")
        + " Every pair, with p-values, is in `wilcoxon.csv`.",
    ]
    for category in comparison.categories:
        tests = comparison.tests[category]
        lines += ["", f"### {_md_text(category)} ({tests.num_images} images)", ""]
        if len(tests.order) < 2:
            lines += ["One model only: no test."]
            continue
        lines += [
            f"Best first by average per-image rank: {', '.join(str(models.index(m) + 1) for m in tests.order)}.",
            "",
        ]
        for label, matrix in (("confidence", tests.pvalues), ("Holm-adjusted confidence", tests.holm)):
            if matrix is None:
                continue
            header = [label, *(str(i) for i in range(1, len(models) + 1))]
            body = []
            for i, a in enumerate(models, start=1):
                cells = ["·" if a == b else f"{1.0 - matrix[a][b]:.2f}" for b in models]
                body.append([str(i), *cells])
            lines += _md_table(header, body)
            lines += [""]
    if comparison.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in comparison.notes]
    return "\n".join(lines) + "\n"


def wilcoxon_csv(comparison: Comparison) -> str:
    """``wilcoxon.csv``: every test, one row per category and ordered pair of models: the p-value that A beats B,
    its confidence, and their Holm-adjusted values (empty without ``--holm``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["category", "n", "model_a", "model_b", "pvalue", "confidence", "pvalue_holm", "confidence_holm"])
    for category in comparison.categories:
        tests = comparison.tests[category]
        for a in tests.order:
            for b in tests.order:
                if a == b:
                    continue
                p_value = tests.pvalues[a][b]
                holm = None if tests.holm is None else tests.holm[a][b]
                row = [category, tests.num_images, a, b, p_value, 1.0 - p_value, holm,
                       None if holm is None else 1.0 - holm]  # fmt: skip
                writer.writerow([_csv_cell(cell) for cell in row])
    return buffer.getvalue()


FIGURES_FOLDER = "figures"
FIGURE_WORKERS = 2
"""Processes drawing the figures (each pays matplotlib's start-up once, about 1 s)."""


def figure_jobs(comparison: Comparison, folder: Path) -> list[Any]:
    """The comparison's figures as `figures.FigureJob`s, to draw in parallel processes: per category, the boxplots
    of per-image AUPIMO (models sorted by mean AUPIMO, each with its AUROC and AUPRO beside its box) and the
    heatmap of the confidence matrix; the critical-difference diagram over every category, and one per dataset
    when there are several."""
    from .figures import FigureJob

    jobs = []
    shown = [key for key in comparison.metrics if key not in (RANKING_KEY, SPREAD_KEY)][:3]
    for category in comparison.categories:
        models = sorted(comparison.ranking, key=lambda m: (-(comparison.table[m][category][RANKING_KEY] or 0.0), m))
        extra = {
            metric_title(key): [
                format_float(comparison.table[m][category][key]) + paper_mark(comparison, m, key) for m in models
            ]
            for key in shown
        }
        jobs.append(FigureJob("boxplots", {
            "folder": folder / "boxplots", "stem": category, "category": category, "models": models,
            "aupimos": [comparison.per_image[category][m] for m in models], "extra": extra,
        }))  # fmt: skip
        tests = comparison.tests[category]
        if len(models) > 1:
            confidence = np.array(
                [[np.nan if a == b else 1.0 - tests.pvalues[a][b] for b in models] for a in models], dtype=np.float64
            )
            jobs.append(FigureJob("confidence_heatmap", {
                "folder": folder / "confidence", "stem": category, "category": category, "models": models,
                "confidence": confidence,
            }))  # fmt: skip
    if len(comparison.ranking) > 1:
        jobs.append(FigureJob("cd_diagram", {
            "folder": folder, "stem": "critical_difference", "average_ranks": dict(comparison.avg_rank),
            "critical_difference": comparison.critical_difference,
            "title": f"average rank of mean AUPIMO over {len(comparison.categories)} categories (1 is the best)",
        }))  # fmt: skip
    return jobs


def write_comparison(comparison: Comparison, out: Path, *, overwrite: bool, inputs: Sequence[Path] = ()) -> Path:
    """Write ``compare.json``, ``compare.csv``, ``compare.md``, ``wilcoxon.csv``, the figures (`figure_jobs`: PNG at
    200 dpi and SVG, under ``figures/``) and ``manifest.json`` as one atomic set.

    Without matplotlib the figures are skipped (the comparison's notes say so).

    Args:
        comparison: what to write.
        out: the comparison folder.
        overwrite: replace an existing comparison folder (only if aupimo wrote everything in it).
        inputs: the compared result folders, which `out` may never be, hold or lie in.

    Returns:
        The absolute results folder.

    Raises:
        InputError: `out` may not be written, or writing failed (disk full, permissions); then nothing at `out`
            has changed.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        have_matplotlib = False
    else:
        have_matplotlib = True
    try:
        with staged_folder(out, overwrite, inputs) as staging:
            (staging / "compare.json").write_text(json_text(comparison.to_json()), encoding="utf-8")
            (staging / "compare.csv").write_text(comparison_csv(comparison), encoding="utf-8")
            (staging / "compare.md").write_text(comparison_markdown(comparison), encoding="utf-8")
            (staging / "wilcoxon.csv").write_text(wilcoxon_csv(comparison), encoding="utf-8")
            if have_matplotlib:
                from .figures import draw_figures

                draw_figures(figure_jobs(comparison, staging / FIGURES_FOLDER), workers=FIGURE_WORKERS)
            manifest = manifest_record("compare", [*list_files(staging), MANIFEST_FILE])
            (staging / MANIFEST_FILE).write_text(json_text(manifest), encoding="utf-8")
    except OSError as error:
        raise InputError(
            f"could not write the comparison to {out} ({error.strerror or error}); nothing there was changed: free "
            "disk space, fix the permissions, or choose another --out"
        ) from error
    return Path(os.path.abspath(out))
