"""Writing a model comparison: ``compare.json``, ``compare.csv``, ``compare.md`` and ``boxplots/<category>.png``.

Rendering only: every number comes from `aupimo_cli.compare.Comparison`. Models are listed in the
comparison's ranking, so no file depends on the order in which the folders were given.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from ..metrics.registry import RANKING_KEY
from .atomic import staged_folder
from .manifest import MANIFEST_FILE, list_files, manifest_record
from .writers import json_text

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


def comparison_markdown(comparison: Comparison) -> str:
    """``compare.md``: the comparison as markdown tables, usable as a GitHub job summary as is."""
    categories = [*comparison.categories, MEAN_CATEGORY]
    lines = ["# Model comparison", ""]
    if comparison.option_mismatches:
        lines += [f"> **Warning:** {OPTION_MISMATCH_WARNING}: {'; '.join(comparison.option_mismatches)}.", ""]
    lines += [
        f"Models, best first: {', '.join(comparison.ranking)}. Categories: {', '.join(comparison.categories)}.",
        "",
    ]
    lines += ["## Mean AUPIMO", ""]
    if RANKING_KEY in interval_keys(comparison):
        lines += ["With its bootstrap interval, [low, high], where every model has one.", ""]
    lines += _md_table(
        ["model", *categories],
        [
            [model, *(with_interval(comparison, model, c, RANKING_KEY) for c in categories)]
            for model in comparison.ranking
        ],
    )
    others = [key for key in comparison.metrics if key != RANKING_KEY]
    lines += ["", "## Other metrics (mean over categories)", ""]
    lines += _md_table(
        ["model", *(metric_title(key) for key in others)],
        [
            [model, *(format_float(comparison.table[model][MEAN_CATEGORY][key]) for key in others)]
            for model in comparison.ranking
        ],
    )
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
                    for model in comparison.ranking
                ],
            )
            lines += [""]
    lines += ["", "## Average rank", ""]
    lines += [
        "Rank of the mean AUPIMO within each category (1 is the best, ties averaged), averaged over categories; "
        "equal average ranks are ordered by the mean AUPIMO, then by name.",
        "",
    ]
    lines += _md_table(
        ["model", "average rank"], [[model, format_float(comparison.avg_rank[model])] for model in comparison.ranking]
    )
    lines += ["", "## Wilcoxon signed-rank tests", ""]
    lines += [
        "One-sided tests on the paired per-image AUPIMO of the anomalous images, in both directions (differences "
        "of at most 0.001 count as ties); confidence = 1 - p-value. Within a category, models are ordered by their "
        "average per-image rank."
        + (" Holm: adjusted over every ordered pair of models of the category." if comparison.holm else ""),
    ]
    for category in comparison.categories:
        tests = comparison.tests[category]
        lines += ["", f"### {_md_text(category)} ({tests.num_images} images)", ""]
        rows = pair_rows(comparison, category)
        if not rows:
            lines += ["One model only: no test."]
            continue
        header = ["A", "B", "confidence A > B", "confidence B > A"]
        if comparison.holm:
            header += ["Holm A > B", "Holm B > A"]
        lines += _md_table(
            header,
            [
                [a, b, format_float(ab), format_float(ba)]
                + ([format_float(holm_ab), format_float(holm_ba)] if comparison.holm else [])
                for a, b, ab, ba, holm_ab, holm_ba in rows
            ],
        )
    if comparison.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in comparison.notes]
    return "\n".join(lines) + "\n"


def write_boxplot(path: Path, category: str, data: Sequence[NDArray[np.float64]], labels: Sequence[str]) -> None:
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


def write_comparison(comparison: Comparison, out: Path, *, overwrite: bool, inputs: Sequence[Path] = ()) -> Path:
    """Write ``compare.json``, ``compare.csv``, ``compare.md``, ``boxplots/<category>.png`` and ``manifest.json``
    as one atomic set.

    Without matplotlib the boxplots are skipped (the comparison's notes say so).

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
            if have_matplotlib:
                (staging / "boxplots").mkdir()
                for category in comparison.categories:
                    models = comparison.tests[category].order
                    data = [comparison.per_image[category][model] for model in models]
                    write_boxplot(staging / "boxplots" / f"{category}.png", category, data, models)
            manifest = manifest_record("compare", [*list_files(staging), MANIFEST_FILE])
            (staging / MANIFEST_FILE).write_text(json_text(manifest), encoding="utf-8")
    except OSError as error:
        raise InputError(
            f"could not write the comparison to {out} ({error.strerror or error}); nothing there was changed: free "
            "disk space, fix the permissions, or choose another --out"
        ) from error
    return Path(os.path.abspath(out))
