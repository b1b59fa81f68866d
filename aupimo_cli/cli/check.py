"""``aupimo check RESULTS``: recompute stored results from their recorded inputs and options, and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ._common import QuietOption
from ._errors import EXIT_DIFFERENT, fail


def check(
    results: Annotated[Path, typer.Argument(help="An `evaluate` or `benchmark` results folder.")],
    quiet: QuietOption = False,
) -> None:
    """Recompute stored results from the inputs and options in their provenance.json, and compare.

    Exit code 0 when every file is reproduced byte for byte, 3 when something differs (listed), 2 when the
    inputs are missing or the folder is not a results folder, 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline.check import check_results

        report = check_results(results)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None
    console = Console(highlight=False)
    for folder in report.checked:
        differences = report.differences[folder]
        if not differences:
            if not quiet:
                console.print(f"[green]reproduced[/] {escape(str(folder))}")
            continue
        console.print(f"[bold red]differs[/] {escape(str(folder))}:")
        for line in differences:
            console.print(f"  {escape(line)}", soft_wrap=True)
    if not report.reproduced:
        raise typer.Exit(EXIT_DIFFERENT)
