"""The ``aupimo`` command line: a thin typer layer over `aupimo_cli.evaluate` (no metric logic here).

Heavy modules (numba kernels, opencv, pyarrow) are imported inside the commands so that ``aupimo --help``
starts fast.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .errors import InputError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="aupimo",
    help="Exact, fast evaluation of anomaly localization: pixel AUROC, AUPRO and per-image AUPIMO from saved maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"aupimo-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Exact, fast evaluation of anomaly localization from saved anomaly maps."""


def _floats(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"{option}: expected comma-separated numbers, got {text!r}.") from None
    if not values:
        raise InputError(f"{option}: expected at least one number, got {text!r}.")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


class RichProgress:
    """Progress bars on stderr, one line per stage; invisible when stderr is not a terminal or with --quiet."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._task: Any = None

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish_task()
        self._progress.__exit__(None, None, None)

    def _finish_task(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            self._progress.update(self._task, total=task.total or 1, completed=task.total or 1)

    def stage(self, description: str, total: int | None = None) -> None:
        self._finish_task()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, steps)


def _summary_table(summary: dict[str, Any], out: Path) -> Table:
    table = Table(title=f"{summary['category']}  →  {out}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key == "category":
            continue
        if isinstance(value, float):
            text = f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
        else:
            text = "-" if value is None else str(value)
        table.add_row(key, text)
    return table


@app.command()
def evaluate(
    maps: Annotated[Path, typer.Argument(help="Folder of anomaly maps: MAPS/<defect>/<name>.{tiff,tif,npy,npz,png}.")],
    masks: Annotated[
        Path,
        typer.Argument(help="Folder of ground truth: MASKS/<defect>/<name>_mask.png (MVTec) or <name>.png (VisA)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Results folder, written atomically.")] = Path("aupimo_results"),
    aupro_limits: Annotated[
        str, typer.Option("--aupro-limits", help="Comma-separated FPR limits of the AUPRO integrals.")
    ] = "0.3,0.05",
    fpr_bounds: Annotated[
        str, typer.Option("--fpr-bounds", help="Lower,upper shared-FPR bounds of the AUPIMO integral.")
    ] = "1e-5,1e-4",
    num_thresholds: Annotated[
        int, typer.Option("--num-thresholds", help="Number of AUPIMO thresholds (linspace over normal scores).")
    ] = 300_000,
    normal_dirs: Annotated[
        str, typer.Option("--normal-dirs", help="Comma-separated folder names whose maps are normal images.")
    ] = "good,Normal,ok",
    images: Annotated[
        Path | None,
        typer.Option("--images", help="The dataset's test images, to size normal images when masks disagree."),
    ] = None,
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma-separated metrics to compute; left-out ones write no file.")
    ] = "auroc,aupro,aupimo,image_auroc",
    category: Annotated[
        str | None,
        typer.Option("--category", help="Category name [default: MAPS folder name, or its parent if it is 'test']."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Compute AUPIMO even with 30 or fewer integration points.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing results folder.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary JSON to stdout and nothing else there.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no table.")] = False,
) -> None:
    """Evaluate one category: pixel AUROC, AUPRO, per-image AUPIMO and image AUROC from saved anomaly maps.

    Maps are resized to the masks' full resolution with bilinear interpolation (never cropped). Results go to
    --out as aupimo/aupimos.json, auroc.json, aupro*.json, per_image.parquet, summary.{json,csv,md} and
    provenance.json. Exit code 0 on success, 2 for bad input, 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from .evaluate import EvaluateOptions, evaluate_category, write_evaluation
        from .report.atomic import check_target, recover_and_clean

        bounds = _floats(fpr_bounds, "--fpr-bounds")
        if len(bounds) != 2:
            raise InputError(f"--fpr-bounds: expected two numbers 'lower,upper', got {fpr_bounds!r}.")
        options = EvaluateOptions(
            metrics=_names(metrics),
            aupro_limits=_floats(aupro_limits, "--aupro-limits"),
            fpr_bounds=(bounds[0], bounds[1]),
            num_thresholds=num_thresholds,
            normal_dirs=_names(normal_dirs),
            force=force,
        )
        # Refuse an existing results folder before spending minutes on the metrics.
        recover_and_clean(out.absolute())
        check_target(out.absolute(), overwrite)
        with RichProgress(stderr, enabled=not quiet and stderr.is_terminal) as progress:
            evaluation = evaluate_category(
                maps, masks, options, images_root=images, category=category, progress=progress
            )
            written = write_evaluation(evaluation, out, overwrite=overwrite)
    except InputError as error:
        stderr.print(f"[bold red]error:[/] {error}", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        stderr.print("[bold red]interrupted[/]: no results were written or changed.")
        raise typer.Exit(130) from None
    except Exception:
        stderr.print("[bold red]internal error[/] (please report it with the traceback below):")
        stderr.print(traceback.format_exc(), markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERNAL) from None

    for note in evaluation.notes:
        stderr.print(f"[yellow]note:[/] {note}", soft_wrap=True)
    if as_json:
        from .report.writers import json_text

        sys.stdout.write(json_text(evaluation.summary))
        sys.stdout.flush()
        if not quiet:
            stderr.print(_summary_table(evaluation.summary, written))
    elif not quiet:
        Console(highlight=False).print(_summary_table(evaluation.summary, written))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
