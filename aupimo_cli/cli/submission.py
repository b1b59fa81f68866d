"""``aupimo check-submission DIR``: an MVTec AD 2 submission, checked before its upload."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ._common import QuietOption
from ._errors import EXIT_DIFFERENT, fail

CHECK_SUBMISSION_EXAMPLES = """\b
Examples:
  aupimo check-submission submission/
  aupimo check-submission submission/ --dataset mvtec_ad_2/
"""


def check_submission(
    submission: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="The submission folder: anomaly_images/<object>/{test_private,test_private_mixed}/*.tiff and, "
            "optionally, anomaly_images_thresholded/ with the binarised maps as PNG.",
            show_default=False,
        ),
    ],
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset",
            help="Your MVTec AD 2 root: the names and counts come from its <object>/test_private(_mixed) images, and "
            "each map must have its image's size. Default: the names and counts MVTec's utilities publish.",
        ),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Check an MVTec AD 2 submission before uploading it: the layout, every file's name, the count per object
    and private test set, float16 single-channel TIFF maps without NaN or infinite scores, {0, 255}
    single-channel PNG thresholded maps, and with --dataset each map's size. Every problem is listed, one line
    each. Exit code 0 when the submission is ready, 3 when something is wrong, 2 for bad input.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline.submission import check_submission as check

        report = check(submission, dataset)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None
    console = Console(highlight=False, soft_wrap=True)
    for line in report.problems:
        console.print(escape(line))
    if not quiet:
        for note in report.notes:
            stderr.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if report.problems:
        stderr.print(
            f"[bold red]{len(report.problems)} problem(s)[/] in {escape(str(submission))}: fix them before uploading "
            f"({report.num_maps} maps and {report.num_thresholded} thresholded maps read)",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_DIFFERENT)
    if not quiet:
        console.print(
            f"{escape(str(submission))} is ready to upload: {report.num_maps} maps"
            + (f" and {report.num_thresholded} thresholded maps" if report.num_thresholded else "")
            + " checked."
        )
