"""``aupimo evaluate MAPS MASKS``: one category, from the maps and masks folders to a results folder."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._common import (
    AuproLimitsOption,
    BootstrapOption,
    BootstrapPixelApOption,
    CiLevelOption,
    ConfigOption,
    F1AdaptiveOption,
    FailOverOption,
    FailUnderOption,
    FarOption,
    ForceOption,
    FprBoundsOption,
    FrrOption,
    JsonOption,
    ManualThresholdOption,
    MaxMemoryOption,
    MetricsOption,
    NormalDirsOption,
    NumThresholdsOption,
    OracleRatesOption,
    OverwriteOption,
    PixelFprOption,
    PixelRuleOption,
    QuietOption,
    RichProgress,
    SeedOption,
    SoftFrrOption,
    SproLimitsOption,
    ThresholdsOption,
    ValImagesOption,
    ValMapsOption,
    ValMasksOption,
    evaluate_options,
    gates_of,
    parse_memory_size,
    policy_from_flags,
    print_gate_failures,
    statistics_flags,
    thresholds_from_flags,
)
from ._errors import EXIT_POLICY, fail

EVALUATE_EXAMPLES = """\b
Examples:
  aupimo evaluate maps/screw/test mvtec/screw/ground_truth --out res/screw
  aupimo evaluate MAPS MASKS --metrics auroc,aupro --aupro-limits 0.3,0.01
  aupimo evaluate MAPS MASKS --config aupimo.toml --json | jq .aupimo_mean
  aupimo evaluate MAPS MASKS --val-maps val/screw --frr 0.01 --soft-frr 0.05
  aupimo evaluate MAPS MASKS --thresholds thresholds.json \\
      --fail-over image_frr=0.02 --fail-under image_auroc=0.95
"""


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
    return "-" if value is None else str(value)


def summary_table(summary: dict[str, Any], out: Path, ci_level: float = 0.95) -> Table:
    """The summary as a two-column table (metric titles from the registry, then the counts and bounds); null
    values of metrics left out of --metrics are not shown. A bootstrapped key shows its interval beside its
    value, ``0.9887 [0.9751, 0.9961]``, and DeLong's interval of the image AUROC is one row."""
    from ..metrics.registry import interval_of, key_title, metric_of

    bootstrapped = any(interval_of(key) for key in summary)
    table = Table(title=f"{escape(str(summary['category']))}  →  {escape(str(out))}", title_justify="left")
    table.add_column("metric")
    level = f"{100 * ci_level:g}%"
    table.add_column(f"value [{level} CI]" if bootstrapped else "value", justify="right")
    for key, value in summary.items():
        if key == "category" or interval_of(key) or (value is None and metric_of(key) is not None):
            continue
        if key == "image_auroc_delong_high":
            continue
        if key == "image_auroc_delong_low":
            high = summary.get("image_auroc_delong_high")
            title = f"{key_title(key)} ({level})"
            table.add_row(escape(title), f"[{_format_value(value)}, {_format_value(high)}]")
            continue
        cell = _format_value(value)
        low, high = summary.get(f"{key}_ci_low"), summary.get(f"{key}_ci_high")
        if low is not None and high is not None:
            cell += f" [{_format_value(low)}, {_format_value(high)}]"
        table.add_row(escape(key_title(key)), cell)
    return table


# per_defect.csv also has the image counts (rejected + review + accepted) and the anomalous ones.
PER_DEFECT_SHOWN = (
    ("rejected", "reject"), ("review", "review"), ("accepted", "accept"), ("escaped", "escaped"),
    ("escape_rate", "escape rate"), ("false_reject_rate", "FRR"), ("mean_aupimo", "mean AUPIMO"),
)  # fmt: skip


def per_defect_tables(rows: list[dict[str, Any]], width: int) -> list[Table]:
    """The per-defect operating points (``per_defect.csv``) as console tables fitting `width`."""
    from ._tables import chunked_tables

    cells = [[_format_value(row[key]) for key, _ in PER_DEFECT_SHOWN] for row in rows]
    titles = [title for _, title in PER_DEFECT_SHOWN]
    labels = [str(row["defect"]) for row in rows]
    title = "per defect type: the line's decisions (escaped: defective and accepted)"
    return chunked_tables(title, "defect", labels, titles, cells, width)


def print_results(console: Console, evaluation: Any, written: Path) -> None:
    """The summary table, then the per-defect operating points when thresholds were measured."""
    console.print(summary_table(evaluation.summary, written, evaluation.options.ci_level))
    rows = evaluation.operating_rows
    thresholds = evaluation.options.thresholds
    if rows and thresholds is not None:
        for table in per_defect_tables(rows, console.width):
            console.print(table)
        console.print(escape(thresholds.describe()), soft_wrap=False)
        console.print(
            "The test (oracle) figures PG, PB and test FRR @ FAR choose their threshold on the test set itself: "
            "optimistic, for comparison only.",
            style="dim",
        )


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
            help="Folder of ground truth: MASKS/<defect>/<name>_mask.png (MVTec), <name>.png (VisA) or "
            "<type>/<id>/<k>.png (MVTec LOCO: one mask per defect).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Results folder, written atomically.")] = Path("aupimo_results"),
    metrics: MetricsOption = None,
    aupro_limits: AuproLimitsOption = None,
    spro_limits: SproLimitsOption = None,
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
    defects_config: Annotated[
        Path | None,
        typer.Option(
            "--defects-config",
            help="MVTec LOCO's defects_config.json (the saturation of each defect type). Default: the one beside "
            "MASKS, when MASKS holds LOCO's ground truth (<type>/<id>/<k>.png, one mask per defect).",
        ),
    ] = None,
    thresholds: ThresholdsOption = None,
    val_maps: ValMapsOption = None,
    val_masks: ValMasksOption = None,
    val_images: ValImagesOption = None,
    frr: FrrOption = None,
    soft_frr: SoftFrrOption = None,
    far: FarOption = None,
    f1_adaptive: F1AdaptiveOption = False,
    threshold: ManualThresholdOption = None,
    pixel: PixelRuleOption = None,
    pixel_fpr: PixelFprOption = None,
    oracle_rates: OracleRatesOption = None,
    bootstrap: BootstrapOption = None,
    ci_level: CiLevelOption = None,
    seed: SeedOption = None,
    bootstrap_pixel_ap: BootstrapPixelApOption = None,
    fail_under: FailUnderOption = None,
    fail_over: FailOverOption = None,
    overwrite: OverwriteOption = False,
    max_memory: MaxMemoryOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Evaluate one category: every registered metric (pixel AUROC, AUPRO, AUPIMO, AP, F1max, ...) from saved maps.

    Maps are resized to the masks' full resolution with bilinear interpolation (never cropped). Results go to
    --out as aupimo/aupimos.json, auroc.json, aupro*.json and one <metric>.json per other metric,
    per_image.parquet, summary.{json,csv,md} and provenance.json.

    With --thresholds (from aupimo calibrate) or --val-maps (choose them now, on validation maps, with the rules
    --frr, --soft-frr, --far, --f1-adaptive, --threshold, --pixel, --pixel-fpr), it also measures the operating
    points on the test set: FRR and FAR, the review band, escapes per defect type, SegF1, PRO at the pixel
    threshold and IoU (operating_points.json, per_defect.csv/.md). On MVTec LOCO's ground truth it also computes
    sPRO (logical, structural and their mean; spro_05.json), exactly. Exit code 0 on success, 2 for bad input, 4
    when a --fail-under/--fail-over gate fails (after writing), 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline.evaluate import evaluate_category, with_loco_defects, write_evaluation
        from ..report.atomic import check_target, recover_and_clean

        options, config_file = evaluate_options(
            metrics,
            aupro_limits,
            fpr_bounds,
            num_thresholds,
            normal_dirs,
            force,
            config,
            oracle_rates,
            statistics_flags(bootstrap, ci_level, seed, bootstrap_pixel_ap),
            spro_limits,
        )
        gates = gates_of(fail_under, fail_over, config_file)
        policy = policy_from_flags(frr, soft_frr, far, f1_adaptive, threshold, pixel, pixel_fpr)
        # MVTec LOCO's ground truth (one mask per defect) brings its defect types, and sPRO with them.
        options = with_loco_defects(options, masks, defects_config)
        inputs = [path for path in (maps, masks, images, thresholds, val_maps, val_masks, val_images) if path]
        # Refuse an existing results folder before spending minutes on the metrics.
        recover_and_clean(out.absolute())
        check_target(out.absolute(), overwrite, inputs)
        memory = parse_memory_size(max_memory)
        with RichProgress(stderr, enabled=not quiet and stderr.is_terminal) as progress:
            if val_maps is not None:
                progress.stage("calibrating on validation maps")
            chosen = thresholds_from_flags(
                thresholds, val_maps, val_masks, val_images, policy, maps, masks, options.normal_dirs, memory
            )
            if chosen is not None:
                options = dataclasses.replace(options, thresholds=chosen)
            evaluation = evaluate_category(
                maps,
                masks,
                options,
                images_root=images,
                category=category,
                progress=progress,
                max_memory_bytes=memory,
            )
            written = write_evaluation(evaluation, out, overwrite=overwrite)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None
    from ..pipeline.gates import gate_failures

    failures = gate_failures(gates, [("", evaluation.summary)])

    for note in evaluation.notes:
        stderr.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if as_json:
        from ..report.writers import json_text

        sys.stdout.write(json_text(evaluation.summary))
        sys.stdout.flush()
        if not quiet:
            print_results(stderr, evaluation, written)
    elif not quiet:
        print_results(Console(highlight=False), evaluation, written)
    if failures:
        print_gate_failures(stderr, failures)
        raise typer.Exit(EXIT_POLICY)
