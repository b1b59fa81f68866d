"""``aupimo report RESULTS``: one self-contained HTML page of an evaluate, benchmark or compare folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ._common import RichProgress
from ._errors import fail

REPORT_EXAMPLES = """\b
Examples:
  aupimo report results/screw
  aupimo report results/screw --images mvtec/screw/test --worst 10
  aupimo report results/compare --out compare.html
"""


def report(
    results: Annotated[
        Path,
        typer.Argument(
            metavar="RESULTS", help="An `evaluate`, `benchmark` or `compare` --out folder.", show_default=False
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The HTML file. Default: RESULTS/report.html (added to RESULTS' manifest)."),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="The dataset's test images, for the thumbnails (DATASET_ROOT for a benchmark). Default: the "
            "recorded --images folder, if it exists; without images the thumbnails show the map and the mask.",
        ),
    ] = None,
    maps: Annotated[
        Path | None,
        typer.Option("--maps", help="Where the maps are now, if they moved (MAPS_ROOT for a benchmark)."),
    ] = None,
    masks: Annotated[
        Path | None,
        typer.Option("--masks", help="Where the masks are now, if they moved (DATASET_ROOT for a benchmark)."),
    ] = None,
    worst: Annotated[
        int, typer.Option("--worst", help="How many worst anomalous and highest-scoring normal images to show.")
    ] = 6,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes drawing the figures side by side. Default: 2 for a benchmark; 1 (a thread, while the "
            "thumbnails are read) for one category, where starting processes costs more than it saves.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report aupimo wrote.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no message.")] = False,
) -> None:
    """Write one HTML page of a results folder, to look at rather than read: figures, tables and thumbnails.

    For an evaluate folder: the headline table (with intervals), the operating points, ROC, PR and PRO curves,
    the PIMO curves, AUPIMO per defect type, score histograms with the thresholds, and the worst anomalous images
    and highest-scoring normal images as image, map overlay and mask contour. A benchmark gets one such section
    per category; a comparison its tables and figures. The page holds everything inline and opens offline. Needs
    the report extra (pip install 'aupimo-cli[report]'). Exit code 0 on success, 2 for bad input, 1 for an
    internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline.report import REPORT_FILE, build_page, render, write_report

        target = out if out is not None else results / REPORT_FILE
        with RichProgress(stderr, enabled=not quiet and stderr.is_terminal) as progress:
            progress.stage("drawing the report")
            page = build_page(results, maps=maps, masks=masks, images=images, worst=worst, workers=workers)
            written = write_report(render(page), target, results, overwrite=overwrite)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None
    if not quiet:
        Console(highlight=False).print(f"wrote {escape(str(written))}")
