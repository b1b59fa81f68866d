"""The ``aupimo compare`` command: a thin typer layer over `aupimo_cli.compare` (no statistics here).

`aupimo_cli.cli` registers it with ``app.command("compare")(compare)``. Heavy modules (scipy, pyarrow,
matplotlib) are imported inside the command so that ``aupimo --help`` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ..metrics.registry import RANKING_KEY
from ._errors import fail
from ._tables import chunked_tables

if TYPE_CHECKING:
    from ..compare import Comparison


def _split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",")]


def _fits(row_labels: list[str], headers: list[str], cells: list[list[str]], width: int) -> bool:
    """Whether a table of these labels, headers and cells fits `width` columns in one part (rich's default box:
    one border and one space of padding on each side of a cell)."""
    label_width = max(len(label) for label in row_labels) + 3
    widths = [max(len(header), *(len(row[i]) for row in cells)) + 3 for i, header in enumerate(headers)]
    return label_width + sum(widths) + 1 <= width


def _wrap_entries(entries: list[str], width: int, prefix: str = "") -> str:
    """`entries` separated by three spaces, wrapped between entries (never inside one) to `width` columns."""
    lines: list[str] = []
    line = ""
    for entry in entries:
        start = prefix if not lines else " " * len(prefix)
        candidate = f"{line}   {entry}" if line else f"{start}{entry}"
        if len(candidate) > width and line:
            lines.append(line)
            line = " " * len(prefix) + entry
        else:
            line = candidate
    lines.append(line)
    return "\n".join(lines)


def comparison_tables(comparison: Comparison, out: Path, width: int = 80) -> list[Any]:
    """The console renderables of a comparison, each split to fit `width` rather than cut: mean AUPIMO per
    category (and per dataset), the average ranks with the other metrics, the Friedman test and critical
    difference, and the Wilcoxon tests (as pairs for up to 4 models; beyond, compare.md holds the matrices).

    Models are listed best first (the comparison's ranking), never in the order they were given. A model name is
    never cut: when the names do not fit as column headers, the columns are the models' indices, with a legend.
    """
    from ..report.comparison import (
        MEAN_CATEGORY,
        critical_difference_text,
        format_float,
        metric_title,
        model_legend,
        pair_rows,
        paper_mark,
        row_labels,
        row_value,
        with_interval,
    )

    # Every table says when the runs' options differ (--allow-option-mismatch).
    flag = "  [bold yellow](options differ: see the notes)[/]" if comparison.option_mismatches else ""
    models = comparison.ranking
    rows = row_labels(comparison)
    cells = [
        [
            with_interval(comparison, m, row, RANKING_KEY)
            if row in comparison.categories
            else format_float(row_value(comparison, m, row, RANKING_KEY))
            for m in models
        ]
        for row in rows
    ]
    renderables: list[Any] = []
    headers = list(models)
    label: Callable[[str], str] = str
    if not _fits(rows, headers, cells, width):
        # Names as headers would split the table: number the models instead, with a legend wrapped by entry.
        headers = [str(index) for index in range(1, len(models) + 1)]
        renderables.append(Text(_wrap_entries(model_legend(models).split(", "), width, prefix="models: ")))
        index_of = {model: str(index) for index, model in enumerate(models, start=1)}
        label = index_of.__getitem__
    title = f"mean AUPIMO (models best first)  →  {escape(str(out))}{flag}"
    means_rows = {row for row in rows if row.startswith("mean")}
    renderables += chunked_tables(title, "category", rows, headers, cells, width, sorted(means_rows))

    others = [key for key in comparison.metrics if key not in (RANKING_KEY,)]
    metric_cells = [
        [format_float(comparison.avg_rank[m]),
         *(format_float(comparison.table[m][MEAN_CATEGORY][k]) + paper_mark(comparison, m, k) for k in others)]
        for m in models
    ]  # fmt: skip
    titles = ["avg rank", *(metric_title(key) for key in others)]
    renderables += chunked_tables(f"average rank of mean AUPIMO, and the mean of the other metrics{flag}", "model",
                                  models, titles, metric_cells, width)  # fmt: skip
    renderables.append(Text(critical_difference_text(comparison, label)))

    if len(models) <= 4:
        labels, pair_cells = [], []
        for category in comparison.categories:
            for a, b, ab, ba, holm_ab, holm_ba in pair_rows(comparison, category):
                labels.append(f"{category}: {a} vs {b}")
                row = [str(comparison.tests[category].num_images), format_float(ab), format_float(ba)]
                if comparison.holm:
                    row += [format_float(holm_ab), format_float(holm_ba)]
                pair_cells.append(row)
        if labels:
            titles = ["n", "A > B", "B > A"] + (["Holm A > B", "Holm B > A"] if comparison.holm else [])
            renderables += chunked_tables(
                f"Wilcoxon tests on per-image AUPIMO: confidence that A beats B, and B beats A{flag}",
                "category: A vs B",
                labels,
                titles,
                pair_cells,
                width,
            )
    else:
        num_pairs = sum(len(t.order) * (len(t.order) - 1) for t in comparison.tests.values())
        renderables.append(
            Text(
                f"Wilcoxon tests: {num_pairs} ordered pairs over {len(comparison.categories)} categories; confidence "
                f"matrices in {out / 'compare.md'}, every pair in {out / 'wilcoxon.csv'}."
            )
        )
    return renderables


COMPARE_EXAMPLES = """\b
Examples:
  aupimo compare results/patchcore results/efficientad --out results/cmp
  aupimo compare res/a res/b res/c --names a,b,c --holm --out res/compare
"""


def compare(
    results: Annotated[
        list[Path],
        typer.Argument(
            metavar="RESULTS",
            help="One result folder per model: an `aupimo evaluate` or `aupimo benchmark` --out folder.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Comparison folder, written atomically.")],
    names: Annotated[
        str | None,
        typer.Option(
            "--names", help="Comma-separated model names, one per RESULTS folder (default: the folder names)."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing comparison folder.")] = False,
    allow_option_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-option-mismatch",
            help="Compare runs computed with different FPR bounds, thresholds or AUPRO limits; every table says so.",
        ),
    ] = False,
    holm: Annotated[
        bool,
        typer.Option("--holm", help="Also give Holm-adjusted confidences, over every pair of models per category."),
    ] = False,
    dataset_of: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset-of",
            metavar="CATEGORY=NAME",
            help="The dataset of a category not known by name (MVTec AD's and VisA's are), for the per-dataset "
            "rows. Repeatable.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print compare.json to stdout and nothing else there.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables.")] = False,
) -> None:
    """Compare models over the categories they all have: mean AUPIMO, every metric they share, average ranks.

    RESULTS are evaluate or benchmark folders, or folders in the AUPIMO paper's published layout
    (<model>/<dataset>/<category>/aupimo/aupimos.json), mixed freely. Across categories: average ranks, the
    Friedman test and the Nemenyi critical difference (3 models or more), per-dataset means. Per category,
    one-sided Wilcoxon signed-rank tests on paired per-image AUPIMO in both directions, as in the AUPIMO paper;
    images are matched by their trailing <defect>/<name> without extension. Runs computed with other FPR bounds,
    thresholds or AUPRO limits are refused (see --allow-option-mismatch), and every summary of ours is checked
    against its per-image file. Results do not depend on the order of RESULTS. Writes compare.json,
    compare.csv, compare.md, wilcoxon.csv and figures/ (needs matplotlib) to --out. Exit code 0 on success, 2
    for bad input, 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..compare import compare_results
        from ..report.atomic import check_target, recover_and_clean
        from ..report.comparison import write_comparison

        # Refuse an existing comparison folder before reading every result.
        recover_and_clean(out.absolute())
        check_target(out.absolute(), overwrite, results)
        from ..compare.datasets import parse_dataset_of

        comparison = compare_results(
            results,
            _split_names(names),
            allow_option_mismatch=allow_option_mismatch,
            holm=holm,
            dataset_of=parse_dataset_of(dataset_of or []),
        )
        written = write_comparison(comparison, out, overwrite=overwrite, inputs=results)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None

    for note in comparison.notes:
        stderr.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if as_json:
        from ..report.writers import json_text

        sys.stdout.write(json_text(comparison.to_json()))
        sys.stdout.flush()
    if not quiet:
        console = stderr if as_json else Console(highlight=False)
        for renderable in comparison_tables(comparison, written, console.width):
            console.print(renderable)
