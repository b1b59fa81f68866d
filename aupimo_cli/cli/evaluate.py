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
    ConfigOption,
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

EVALUATE_EXAMPLES = """\b
Examples:
  aupimo evaluate maps/screw/test mvtec/screw/ground_truth --out res/screw
  aupimo evaluate MAPS MASKS --metrics auroc,aupro --aupro-limits 0.3,0.01
  aupimo evaluate MAPS MASKS --config aupimo.toml --json | jq .aupimo_mean
"""


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
    return "-" if value is None else str(value)


def summary_table(summary: dict[str, Any], out: Path) -> Table:
    """The summary as a two-column table (metric titles from the registry, then the counts and bounds); null
    values of metrics left out of --metrics are not shown."""
    from ..metrics.registry import key_title, metric_of

    table = Table(title=f"{escape(str(summary['category']))}  →  {escape(str(out))}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key == "category" or (value is None and metric_of(key) is not None):
            continue
        table.add_row(escape(key_title(key)), _format_value(value))
    return table


def evaluate(
    maps: Annotated[
        Path,
        typer.Argument(
            metavar="MAPS",
            help="Folder of anomaly maps: MAPS/<defect>/<name>.{tiff,tif,npy,npz,png}.",
            show_default=False,
        ),
    ],
    masks: Annotated[
        Path,
        typer.Argument(
            metavar="MASKS",
            help="Folder of ground truth: MASKS/<defect>/<name>_mask.png (MVTec) or <name>.png (VisA).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Results folder, written atomically.")] = Path("aupimo_results"),
    metrics: MetricsOption = None,
    aupro_limits: AuproLimitsOption = None,
    fpr_bounds: FprBoundsOption = None,
    num_thresholds: NumThresholdsOption = None,
    normal_dirs: NormalDirsOption = None,
    config: ConfigOption = None,
    images: Annotated[
        Path | None,
        typer.Option("--images", help="The dataset's test images, to size normal images when masks disagree."),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(
            "--category", help="Category name. Default: the MAPS folder name, or its parent's if MAPS is called 'test'."
        ),
    ] = None,
    force: ForceOption = None,
    overwrite: OverwriteOption = False,
    max_memory: MaxMemoryOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Evaluate one category: every registered metric (pixel AUROC, AUPRO, AUPIMO, AP, F1max, ...) from saved maps.

    Maps are resized to the masks' full resolution with bilinear interpolation (never cropped). Results go to
    --out as aupimo/aupimos.json, auroc.json, aupro*.json and one <metric>.json per other metric,
    per_image.parquet, summary.{json,csv,md} and provenance.json. Exit code 0 on success, 2 for bad input, 1 for
    an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline.evaluate import evaluate_category, write_evaluation
        from ..report.atomic import check_target, recover_and_clean

        options, _ = evaluate_options(metrics, aupro_limits, fpr_bounds, num_thresholds, normal_dirs, force, config)
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
            stderr.print(summary_table(evaluation.summary, written))
    elif not quiet:
        Console(highlight=False).print(summary_table(evaluation.summary, written))
