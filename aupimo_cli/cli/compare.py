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

from ._errors import fail

if TYPE_CHECKING:
    from ..compare import Comparison


def _split_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",")]


def comparison_tables(comparison: Comparison, out: Path) -> list[Table]:
    """The rich tables shown after a comparison: mean AUPIMO, pixel metrics, average rank and Wilcoxon tests."""
    from ..compare import MEAN_CATEGORY, METRIC_KEYS, format_float, models_by_rank

    categories = [*comparison.categories, MEAN_CATEGORY]
    aupimo = Table(title=f"mean AUPIMO  →  {out}", title_justify="left")
    aupimo.add_column("model")
    for category in categories:
        aupimo.add_column(escape(category), justify="right")
    for model in comparison.models:
        aupimo.add_row(escape(model), *(format_float(comparison.table[model][c]["aupimo_mean"]) for c in categories))

    pixel = Table(title="pixel metrics (mean over categories)", title_justify="left")
    pixel.add_column("model")
    for header in ("pixel AUROC", "AUPRO@30%", "AUPRO@5%"):
        pixel.add_column(header, justify="right")
    for model in comparison.models:
        pixel.add_row(
            escape(model), *(format_float(comparison.table[model][MEAN_CATEGORY][k]) for k in METRIC_KEYS[1:])
        )

    ranks = Table(title="average rank of mean AUPIMO (1 is the best)", title_justify="left")
    ranks.add_column("model")
    ranks.add_column("average rank", justify="right")
    for model in models_by_rank(comparison):
        ranks.add_row(escape(model), format_float(comparison.avg_rank[model]))

    tests = Table(title="Wilcoxon signed-rank tests on per-image AUPIMO (one-sided)", title_justify="left")
    for header in ("category", "better", "worse"):
        tests.add_column(header)
    for header in ("n", "p-value", "confidence"):
        tests.add_column(header, justify="right")
    for category in comparison.categories:
        for entry in comparison.wilcoxon[category]:
            tests.add_row(
                escape(category),
                escape(entry["better"]),
                escape(entry["worse"]),
                str(entry["n"]),
                format_float(entry["pvalue"]),
                format_float(entry["confidence"]),
            )
    tables = [aupimo, pixel, ranks]
    if tests.row_count:
        tables.append(tests)
    return tables


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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print compare.json to stdout and nothing else there.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No tables.")] = False,
) -> None:
    """Compare models over the categories they all have: mean AUPIMO, pixel AUROC, AUPRO, average ranks.

    Per category, one-sided Wilcoxon signed-rank tests on paired per-image AUPIMO, as in the AUPIMO paper.
    Images are matched by their path without extension.
    Writes compare.json, compare.csv, compare.md and boxplots/<category>.png (needs matplotlib) to --out.
    Exit code 0 on success, 2 for bad input, 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..compare import compare_results, write_comparison
        from ..report.atomic import check_target, recover_and_clean

        # Refuse an existing comparison folder before reading every result.
        recover_and_clean(out.absolute())
        check_target(out.absolute(), overwrite, results)
        comparison = compare_results(results, _split_names(names))
        written = write_comparison(comparison, out, overwrite=overwrite)
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
        for table in comparison_tables(comparison, written):
            console.print(table)
