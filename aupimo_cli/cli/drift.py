"""``aupimo drift``: the production dashboard of image scores over dated periods against a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._common import OverwriteOption, QuietOption, RichProgress
from ._errors import EXIT_POLICY, fail

if TYPE_CHECKING:
    from ..metrics.drift import DriftTable

DRIFT_EXAMPLES = """\b
Examples:
  aupimo drift --baseline 'prod/2026-11-0*' --runs 'prod/2026-11-1*' \\
      --thresholds results/screw/thresholds.json --out drift
  aupimo drift --baseline week1/mon --baseline week1/tue --runs 'prod/*' \\
      --thresholds thresholds.json --out drift --sigma 3 --fail-on-drift
"""


def drift(
    baseline: Annotated[
        list[str],
        typer.Option(
            "--baseline",
            metavar="DIR|GLOB",
            help="A baseline period's folder of maps, or a glob of them (repeatable; at least 2 periods).",
            show_default=False,
        ),
    ],
    runs: Annotated[
        list[str],
        typer.Option(
            "--runs",
            metavar="DIR|GLOB",
            help="The periods to watch: folders or globs (repeatable), sorted by folder name (prod/2026-11-23).",
            show_default=False,
        ),
    ],
    thresholds: Annotated[
        Path,
        typer.Option("--thresholds", help="The thresholds.json of `aupimo calibrate` (or of an evaluate folder)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Results folder: drift.csv, drift.json, drift.md, the figure.")],
    sigma: Annotated[
        float, typer.Option("--sigma", help="Flag a series that moves more than this many baseline σ.")
    ] = 2.0,
    resolution: Annotated[
        str | None,
        typer.Option(
            "--resolution",
            help="HxW the maps are resized to. Default: the resolution thresholds.json records.",
        ),
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 4 when the last period is flagged (after writing).")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Threads reading and resizing maps.")] = 2,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Track a production line's image scores over periods against a baseline, at saved thresholds.

    For each period (a folder of that day's or shift's maps, no masks): the number of parts, the mean and 95th
    percentile image score, the reject and review rates at the thresholds, and the divergence from the pooled
    baseline (two-sample Kolmogorov-Smirnov statistic and p-value, population stability index over the
    baseline's deciles). Each baseline period is scored leave-one-out against the others, which gives each
    series its baseline mean and σ; a run period is flagged where a series moves more than --sigma σ. Exit
    code 0, 2 for bad input, 1 for an internal error, 4 with --fail-on-drift when the last period is flagged.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..errors import InputError
        from ..metrics._inputs import MetricInputError
        from ..metrics.drift import drift_table
        from ..pipeline.calibrate import Thresholds
        from ..pipeline.drift import expand_periods, period_scores, resolution_of, write_drift

        saved = Thresholds.load(thresholds)
        shape = resolution_of(saved.validation, resolution, thresholds)
        assert shape is not None
        baseline_folders = expand_periods(baseline, "--baseline")
        run_folders = expand_periods(runs, "--runs")
        overlap = sorted({f.name for f in baseline_folders} & {f.name for f in run_folders})
        if overlap:
            raise InputError(
                f"{', '.join(overlap)} are both --baseline and --runs periods; a period is one or the other"
            )
        folders = [*baseline_folders, *run_folders]
        with RichProgress(stderr, enabled=not quiet and stderr.is_terminal) as progress:
            scores = []
            for folder in folders:
                progress.stage(f"period {escape(folder.name)}")
                scores.append(period_scores(folder, shape, workers, on_map=progress.advance)[0])
        count = len(baseline_folders)
        try:
            table = drift_table([(f.name, s) for f, s in zip(baseline_folders, scores[:count], strict=True)],
                                [(f.name, s) for f, s in zip(run_folders, scores[count:], strict=True)],
                                saved.image, saved.soft, sigma)  # fmt: skip
        except MetricInputError as error:
            raise InputError(str(error)) from error
        record = {
            "thresholds": {"file": str(thresholds.absolute()), "image": saved.image, "soft": saved.soft},
            "resolution": f"{shape[0]}x{shape[1]}",
            "inputs": {folder.name: str(folder.absolute()) for folder in folders},
        }
        written, notes = write_drift(table, record, saved.describe(), out, overwrite=overwrite, inputs=folders)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None
    for note in notes:
        stderr.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if not quiet:
        console = Console(highlight=False)
        console.print(_console_table(table, written))
    if fail_on_drift and table.last_flagged:
        last = [p for p in table.periods if p.role == "run"][-1]
        stderr.print(f"[bold red]drift:[/] the last period, {escape(last.name)}, is flagged on "
                     f"{escape(', '.join(last.flagged))}")  # fmt: skip
        raise typer.Exit(EXIT_POLICY)


def _console_table(table: DriftTable, out: Path) -> Table:
    """Periods as rows, the watched series as columns; flagged cells in bold red."""
    from ..metrics.drift import SERIES

    short = {"mean_score": "mean", "p95_score": "p95", "reject_rate": "reject", "review_rate": "review",
             "ks_statistic": "KS", "psi": "PSI"}  # fmt: skip
    result = Table(title=f"drift  →  {escape(str(out))}", title_justify="left")
    result.add_column("period")
    result.add_column("n", justify="right")
    for series in SERIES:
        result.add_column(short[series], justify="right")
    for period in table.periods:
        cells = []
        for series in SERIES:
            value = period.value(series)
            text = "-" if value is None else f"{value:.4g}"
            cells.append(f"[bold red]{text}![/]" if series in period.flagged else text)
        name = escape(period.name) if period.role == "run" else f"[dim]{escape(period.name)}[/]"
        result.add_row(name, str(period.num_parts), *cells)
    return result
