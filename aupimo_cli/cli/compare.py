"""The ``aupimo compare`` command: a thin typer layer over `aupimo_cli.compare` (no statistics here).

`aupimo_cli.cli` registers it with ``app.command("compare")(compare)``. Heavy modules (scipy, pyarrow,
matplotlib) are imported inside the command so that ``aupimo --help`` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..metrics.registry import RANKING_KEY
from ._errors import fail
from ._tables import chunked_tables

if TYPE_CHECKING:
    from ..compare import Comparison


def _split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",")]


def comparison_tables(comparison: Comparison, out: Path, width: int = 80) -> list[Table]:
    """The console tables of a comparison, each split to fit `width` rather than cut: mean AUPIMO per category,
    the other metrics, the average rank, and the Wilcoxon tests in both directions.

    Models are listed best first (the comparison's ranking), never in the order they were given. Mean AUPIMO
    puts the categories in rows when they outnumber the models.
    """
    from ..report.comparison import MEAN_CATEGORY, format_float, metric_title, pair_rows, with_interval

    # Every table says when the runs' options differ (--allow-option-mismatch).
    flag = "  [bold yellow](options differ: see the notes)[/]" if comparison.option_mismatches else ""
    models = comparison.ranking
    categories = [*comparison.categories, MEAN_CATEGORY]
    # With its bootstrap interval where every model has one (runs made with --bootstrap).
    means = {(m, c): with_interval(comparison, m, c, RANKING_KEY) for m in models for c in categories}
    title = f"mean AUPIMO  →  {escape(str(out))}{flag}"
    if len(categories) > len(models):
        cells = [[means[m, c] for m in models] for c in categories]
        tables = chunked_tables(title, "category", categories, models, cells, width, [MEAN_CATEGORY])
    else:
        cells = [[means[m, c] for c in categories] for m in models]
        tables = chunked_tables(title, "model", models, categories, cells, width)

    others = [key for key in comparison.metrics if key != RANKING_KEY]
    cells = [
        [format_float(comparison.avg_rank[m]), *(format_float(comparison.table[m][MEAN_CATEGORY][k]) for k in others)]
        for m in models
    ]
    titles = ["avg rank", *(metric_title(key) for key in others)]
    tables += chunked_tables(f"average rank of mean AUPIMO, and the mean of the other metrics{flag}", "model", models,
                             titles, cells, width)  # fmt: skip

    labels, cells = [], []
    for category in comparison.categories:
        for a, b, ab, ba, holm_ab, holm_ba in pair_rows(comparison, category):
            labels.append(f"{category}: {a} vs {b}")
            row = [str(comparison.tests[category].num_images), format_float(ab), format_float(ba)]
            if comparison.holm:
                row += [format_float(holm_ab), format_float(holm_ba)]
            cells.append(row)
    if labels:
        titles = ["n", "A > B", "B > A"] + (["Holm A > B", "Holm B > A"] if comparison.holm else [])
        tables += chunked_tables(
            f"Wilcoxon tests on per-image AUPIMO: confidence that A beats B, and B beats A{flag}",
            "category: A vs B",
            labels,
            titles,
            cells,
            width,
        )
    return tables


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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print compare.json to stdout and nothing else there.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables.")] = False,
) -> None:
    """Compare models over the categories they all have: mean AUPIMO, pixel AUROC, AUPRO, average ranks.

    Per category, one-sided Wilcoxon signed-rank tests on paired per-image AUPIMO in both directions, as in the
    AUPIMO paper. Images are matched by their path without extension. Runs computed with other FPR bounds,
    thresholds or AUPRO limits are refused (see --allow-option-mismatch), and every summary is checked against
    its per-image file. Results do not depend on the order of RESULTS. Writes compare.json, compare.csv,
    compare.md and boxplots/<category>.png (needs matplotlib) to --out. Exit code 0 on success, 2 for bad
    input, 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..compare import compare_results
        from ..report.atomic import check_target, recover_and_clean
        from ..report.comparison import write_comparison

        # Refuse an existing comparison folder before reading every result.
        recover_and_clean(out.absolute())
        check_target(out.absolute(), overwrite, results)
        comparison = compare_results(
            results, _split_names(names), allow_option_mismatch=allow_option_mismatch, holm=holm
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
        for table in comparison_tables(comparison, written, console.width):
            console.print(table)
