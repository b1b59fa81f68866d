"""``aupimo evaluate MAPS MASKS``: one category, from the maps and masks folders to a results folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
    parse_memory_size,
)
from ._errors import fail


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
        from ..pipeline.evaluate import evaluate_category, write_evaluation
        from ..report.atomic import check_target, recover_and_clean

        options = evaluate_options(metrics, aupro_limits, fpr_bounds, num_thresholds, normal_dirs, force)
        # Refuse an existing results folder before spending minutes on the metrics.
        recover_and_clean(out.absolute())
        check_target(out.absolute(), overwrite, [path for path in (maps, masks, images) if path is not None])
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
        from ..report.writers import json_text

        sys.stdout.write(json_text(evaluation.summary))
        sys.stdout.flush()
        if not quiet:
            stderr.print(_summary_table(evaluation.summary, written))
    elif not quiet:
        Console(highlight=False).print(_summary_table(evaluation.summary, written))
