"""``aupimo benchmark MAPS_ROOT DATASET_ROOT``: every category of a dataset, then the dataset tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import InputError
from ._common import (
    AuproLimitsOption,
    ForceOption,
    FprBoundsOption,
    JsonOption,
    MaxMemoryOption,
    MetricsOption,
    NormalDirsOption,
    NumThresholdsOption,
    OverwriteOption,
    QuietOption,
    RichProgress,
    evaluate_options,
    names,
    parse_memory_size,
)
from ._errors import EXIT_BAD_INPUT, EXIT_INTERNAL, fail


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
        from ..pipeline import benchmark as bench

        options = evaluate_options(metrics, aupro_limits, fpr_bounds, num_thresholds, normal_dirs, force)
        jobs = bench.find_categories(maps_root, dataset_root, layout, names(categories) if categories else None)
        # Refuse, before any work, an --out this run may not write into (DESIGN section 8).
        state = bench.prepare_output(out, jobs, options, [maps_root, dataset_root], overwrite=overwrite)
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
            inputs = {"maps_root": str(maps_root.absolute()), "dataset_root": str(dataset_root.absolute()),
                      "layout": layout}  # fmt: skip
            rows = bench.finish_benchmark(out, state, outcomes, options, inputs)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None

    if as_json:
        from ..report.writers import json_text

        sys.stdout.write(json_text(rows))
        sys.stdout.flush()
    if not quiet:
        (stderr if as_json else Console(highlight=False)).print(_dataset_table(rows, out.absolute()))
    if any(outcome.internal for outcome in outcomes):
        raise typer.Exit(EXIT_INTERNAL)
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(EXIT_BAD_INPUT)
