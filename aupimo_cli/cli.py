"""The ``aupimo`` command line: a thin typer layer over `aupimo_cli.evaluate` (no metric logic here).

Heavy modules (numba kernels, opencv, pyarrow) are imported inside the commands so that ``aupimo --help``
starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .cli_compare import compare
from .cli_errors import EXIT_BAD_INPUT, EXIT_DIFFERENT, EXIT_INTERNAL, fail
from .errors import InputError

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


# Options shared by `evaluate` and `benchmark`: the ones that affect results, then output behaviour.
AuproLimitsOption = Annotated[
    str, typer.Option("--aupro-limits", help="Comma-separated FPR limits of the AUPRO integrals.")
]
FprBoundsOption = Annotated[
    str, typer.Option("--fpr-bounds", help="Lower,upper shared-FPR bounds of the AUPIMO integral.")
]
NumThresholdsOption = Annotated[
    int, typer.Option("--num-thresholds", help="Number of AUPIMO thresholds (linspace over normal scores).")
]
NormalDirsOption = Annotated[
    str, typer.Option("--normal-dirs", help="Comma-separated folder names whose maps are normal images.")
]
MetricsOption = Annotated[
    str, typer.Option("--metrics", help="Comma-separated metrics to compute; left-out ones write no file.")
]
ForceOption = Annotated[bool, typer.Option("--force", help="Compute AUPIMO even with 30 or fewer integration points.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace existing results.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary JSON to stdout and nothing else there.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no table.")]
MaxMemoryOption = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        help="Memory the evaluation may use, e.g. 8G, 512M or a number of bytes; a category estimated to need "
        "more is refused before its maps are read. Default: 75% of the memory available at start.",
    ),
]

_SIZE_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory_size(text: str | None) -> int:
    """Bytes of a ``--max-memory`` value (``8G``, ``512M``, ``1.5G``, ``1000000``); None gives the default,
    75% of the memory available now."""
    if text is None:
        from .benchmark import available_memory_bytes

        return int(0.75 * available_memory_bytes())
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = cleaned[-1:] if cleaned[-1:] in _SIZE_UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)]
    try:
        size = float(number) * _SIZE_UNITS[unit]
    except ValueError:
        raise InputError(f"--max-memory: expected a size such as 8G, 512M or 1000000, got {text!r}.") from None
    if size <= 0:
        raise InputError(f"--max-memory must be positive, got {text!r}.")
    return int(size)


def _evaluate_options(
    metrics: str, aupro_limits: str, fpr_bounds: str, num_thresholds: int, normal_dirs: str, force: bool
) -> Any:
    from .evaluate import EvaluateOptions

    bounds = _floats(fpr_bounds, "--fpr-bounds")
    if len(bounds) != 2:
        raise InputError(f"--fpr-bounds: expected two numbers 'lower,upper', got {fpr_bounds!r}.")
    return EvaluateOptions(
        metrics=_names(metrics),
        aupro_limits=_floats(aupro_limits, "--aupro-limits"),
        fpr_bounds=(bounds[0], bounds[1]),
        num_thresholds=num_thresholds,
        normal_dirs=_names(normal_dirs),
        force=force,
    )


@app.command()
def evaluate(
    maps: Annotated[Path, typer.Argument(help="Folder of anomaly maps: MAPS/<defect>/<name>.{tiff,tif,npy,npz,png}.")],
    masks: Annotated[
        Path,
        typer.Argument(help="Folder of ground truth: MASKS/<defect>/<name>_mask.png (MVTec) or <name>.png (VisA)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Results folder, written atomically.")] = Path("aupimo_results"),
    aupro_limits: AuproLimitsOption = "0.3,0.05",
    fpr_bounds: FprBoundsOption = "1e-5,1e-4",
    num_thresholds: NumThresholdsOption = 300_000,
    normal_dirs: NormalDirsOption = "good,Normal,ok",
    images: Annotated[
        Path | None,
        typer.Option("--images", help="The dataset's test images, to size normal images when masks disagree."),
    ] = None,
    metrics: MetricsOption = "auroc,aupro,aupimo,image_auroc",
    category: Annotated[
        str | None,
        typer.Option(
            "--category", help="Category name. Default: the MAPS folder name, or its parent's if MAPS is called 'test'."
        ),
    ] = None,
    force: ForceOption = False,
    overwrite: OverwriteOption = False,
    max_memory: MaxMemoryOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Evaluate one category: pixel AUROC, AUPRO, per-image AUPIMO and image AUROC from saved anomaly maps.

    Maps are resized to the masks' full resolution with bilinear interpolation (never cropped). Results go to
    --out as aupimo/aupimos.json, auroc.json, aupro*.json, per_image.parquet, summary.{json,csv,md} and
    provenance.json. Exit code 0 on success, 2 for bad input, 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from .evaluate import evaluate_category, write_evaluation
        from .report.atomic import check_target, recover_and_clean

        options = _evaluate_options(metrics, aupro_limits, fpr_bounds, num_thresholds, normal_dirs, force)
        # Refuse an existing results folder before spending minutes on the metrics.
        recover_and_clean(out.absolute())
        check_target(out.absolute(), overwrite)
        with RichProgress(stderr, enabled=not quiet and stderr.is_terminal) as progress:
            evaluation = evaluate_category(
                maps,
                masks,
                options,
                images_root=images,
                category=category,
                progress=progress,
                max_memory_bytes=parse_memory_size(max_memory),
            )
            written = write_evaluation(evaluation, out, overwrite=overwrite)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None

    for note in evaluation.notes:
        stderr.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if as_json:
        from .report.writers import json_text

        sys.stdout.write(json_text(evaluation.summary))
        sys.stdout.flush()
        if not quiet:
            stderr.print(_summary_table(evaluation.summary, written))
    elif not quiet:
        Console(highlight=False).print(_summary_table(evaluation.summary, written))


def _column_title(key: str) -> str:
    """Short console titles for summary keys (the files keep the full keys)."""
    if key.startswith("aupro_"):
        percent = key.removeprefix("aupro_")
        return "AUPRO@" + (percent.replace("p", ".") if "p" in percent else str(int(percent))) + "%"
    return {"pixel_auroc": "pixel AUROC", "aupimo_mean": "AUPIMO", "image_auroc": "image AUROC",
            "num_images": "images"}.get(key, key)  # fmt: skip


def _dataset_table(rows: list[dict[str, Any]], out: Path) -> Table:
    columns = ["category", "pixel_auroc", *[k for k in rows[0] if k.startswith("aupro_")], "aupimo_mean",
               "image_auroc", "num_images", "error"]  # fmt: skip
    table = Table(title=f"benchmark  →  {out}", title_justify="left")
    for column in columns:
        if column == "error":
            table.add_column("error", overflow="fold", min_width=8)
        else:
            table.add_column(_column_title(column), justify="left" if column == "category" else "right", no_wrap=True)
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, float):
                cells.append(f"{value:.4f}")
            else:
                cells.append("-" if value is None else escape(str(value)))
        table.add_row(*cells, style="bold" if row["category"] == "mean" else None)
    return table


@app.command()
def benchmark(
    maps_root: Annotated[Path, typer.Argument(help="Maps of every category, e.g. MAPS_ROOT/<cat>/test/<defect>/...")],
    dataset_root: Annotated[Path, typer.Argument(help="The dataset root, e.g. MVTec AD's folder of categories.")],
    out: Annotated[Path, typer.Option("--out", help="Results folder: one evaluate folder per category.")],
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="mvtec: <cat>/test + <cat>/ground_truth/<defect>/<name>_mask.png; visa: anomalib's converted "
            "VisA (<cat>/test/{good,bad}, <cat>/ground_truth/bad/<name>.png); visa-raw: <cat>/Data/Images and "
            "<cat>/Data/Masks, restricted to split_csv/1cls.csv's test split when present.",
        ),
    ] = "mvtec",
    categories: Annotated[
        str | None, typer.Option("--categories", help="Comma-separated categories. Default: every category found.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Categories evaluated in parallel processes (capped by free memory).")
    ] = 1,
    aupro_limits: AuproLimitsOption = "0.3,0.05",
    fpr_bounds: FprBoundsOption = "1e-5,1e-4",
    num_thresholds: NumThresholdsOption = 300_000,
    normal_dirs: NormalDirsOption = "good,Normal,ok",
    metrics: MetricsOption = "auroc,aupro,aupimo,image_auroc",
    force: ForceOption = False,
    overwrite: OverwriteOption = False,
    max_memory: MaxMemoryOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Evaluate every category of a dataset (MVTec AD, VisA) into OUT/<category>/, then the dataset tables.

    Re-running the same command resumes: categories whose results match their inputs and options are skipped.
    One failing category does not stop the others: it gets an error cell in OUT/summary.{csv,json,md}. Exit
    code 0 when every category succeeded, 2 if one failed on bad input, 1 if one failed on an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from . import benchmark as bench

        options = _evaluate_options(metrics, aupro_limits, fpr_bounds, num_thresholds, normal_dirs, force)
        jobs = bench.find_categories(maps_root, dataset_root, layout, _names(categories) if categories else None)
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out} is a file, not a folder; choose another --out.")
        memory = parse_memory_size(max_memory)
        allowed = workers
        if workers > 1:
            estimates = [bench.estimate_category_bytes(job, options) for job in jobs]
            allowed = bench.plan_workers(workers, estimates, memory)
            if allowed < workers:
                stderr.print(
                    f"[yellow]note:[/] running {allowed} worker(s), not {workers}: the largest category needs about "
                    f"{max(estimates) / 2**30:.1f} GiB of the {memory / 2**30:.1f} GiB allowed (--max-memory)."
                )
        elif workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}.")
        with RichProgress(stderr, enabled=not quiet and stderr.is_terminal) as progress:
            progress.stage(f"{len(jobs)} categories", total=len(jobs))

            def done(outcome: Any) -> None:
                progress.advance(1)
                if outcome.status == "failed":
                    stderr.print(
                        f"[bold red]{escape(outcome.name)} failed:[/] {escape(outcome.error or '')}", soft_wrap=True
                    )
                    if outcome.internal:
                        stderr.print("".join(outcome.notes), markup=False, highlight=False)
                elif not quiet:
                    for note in outcome.notes:
                        stderr.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)

            outcomes = bench.run_categories(
                jobs,
                options,
                out,
                overwrite=overwrite,
                workers=allowed,
                max_memory_bytes=memory // allowed,
                on_done=done,
            )
            rows = bench.dataset_rows(out, outcomes, options)
            bench.write_dataset_tables(out, rows, outcomes)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None

    if as_json:
        from .report.writers import json_text

        sys.stdout.write(json_text(rows))
        sys.stdout.flush()
    if not quiet:
        (stderr if as_json else Console(highlight=False)).print(_dataset_table(rows, out.absolute()))
    if any(outcome.internal for outcome in outcomes):
        raise typer.Exit(EXIT_INTERNAL)
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(EXIT_BAD_INPUT)


app.command("compare")(compare)


@app.command()
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
        from .check import check_results

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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
