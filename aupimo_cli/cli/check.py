"""``aupimo check RESULTS``: recompute stored results from their recorded inputs and options, and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ._common import QuietOption
from ._errors import EXIT_DIFFERENT, fail

CHECK_EXAMPLES = """\b
Examples:
  aupimo check results/screw
  aupimo check results/patchcore --maps /new/maps --masks /new/mvtec_ad
"""


def check(
    results: Annotated[
        Path, typer.Argument(metavar="RESULTS", help="An `evaluate` or `benchmark` results folder.", show_default=False)
    ],
    maps: Annotated[
        Path | None,
        typer.Option("--maps", help="Where the maps are now, if they moved (MAPS_ROOT for a benchmark folder)."),
    ] = None,
    masks: Annotated[
        Path | None,
        typer.Option("--masks", help="Where the masks are now, if they moved (DATASET_ROOT for a benchmark folder)."),
    ] = None,
    images: Annotated[
        Path | None, typer.Option("--images", help="Where the --images folder is now, if it moved.")
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Recompute stored results from the inputs and options in their provenance.json, and compare.

    Every file is compared byte for byte; where one differs, the differing keys, cells or lines are listed.
    Each summary is also checked against its per-image file, and a benchmark's top-level tables against its
    category folders. Exit code 0 when everything is reproduced, 3 when something differs (listed), 2 when the
    inputs are missing or the folder is not a results folder, 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline.check import MovedInputs, check_results

        report = check_results(results, MovedInputs(maps, masks, images))
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None
    console = Console(highlight=False)
    for folder in report.checked:
        differences = report.differences[folder]
        top_level = len(report.checked) > 1 and folder == report.checked[-1]
        if not differences:
            if not quiet:
                what = "tables agree with the categories" if top_level else "reproduced"
                console.print(f"[green]{what}[/] {escape(str(folder))}")
            continue
        console.print(f"[bold red]differs[/] {escape(str(folder))}:")
        for line in differences:
            console.print(f"  {escape(line)}", soft_wrap=True)
    if not report.reproduced:
        raise typer.Exit(EXIT_DIFFERENT)
