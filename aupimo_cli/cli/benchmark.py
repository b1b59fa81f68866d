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
    evaluate_options,
    gates_of,
    names,
    parse_memory_size,
    policy_from_flags,
    print_gate_failures,
    statistics_flags,
)
from ._errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_POLICY, fail
from ._tables import chunked_tables

BENCHMARK_EXAMPLES = """\b
Examples:
  aupimo benchmark maps/patchcore mvtec_ad --out results/patchcore
  aupimo benchmark maps/patchcore visa --layout visa --workers 2 --out visa
  aupimo benchmark sample_data/model_a sample_data/mvtec --out results/model_a
  aupimo benchmark maps/patchcore mvtec_ad --out res --val-maps-root maps/patchcore \\
      --frr 0.01 --fail-over image_frr=0.02 --fail-under aupimo_mean=0.6
"""


def dataset_tables(rows: list[dict[str, Any]], out: Path, width: int) -> list[Table]:
    """The dataset table at the console's `width`: one row per category, then the mean row; the compared metrics
    (registry titles) and the image count as columns, split into several tables rather than cut. Errors are
    listed apart (`dataset_errors`)."""
    from ..compare.read import is_mean_row
    from ..metrics.registry import compared_keys, key_title

    keys = compared_keys([key for key in rows[0] if any(row.get(key) is not None for row in rows)])
    keys = [*keys, "num_images"]
    cells = []
    for row in rows:
        cells.append(
            [f"{row[key]:.4f}" if isinstance(row.get(key), float) else escape_cell(row.get(key)) for key in keys]
        )
    titles = [key_title(key) if key != "num_images" else "images" for key in keys]
    labels = [str(row["category"]) for row in rows]
    mean_rows = [str(row["category"]) for row in rows if is_mean_row(row)]
    return chunked_tables(f"benchmark  →  {escape(str(out))}", "category", labels, titles, cells, width, mean_rows)


OPERATING_SHOWN = (
    ("image_frr", "FRR"), ("image_far", "FAR"), ("share_normal_review", "normal review"),
    ("share_anomalous_review", "defective review"), ("seg_f1", "SegF1"), ("pro_at_threshold", "PRO@thr"),
    ("mean_iou", "mean IoU"),
)  # fmt: skip


def operating_tables(rows: list[dict[str, Any]], width: int) -> list[Table]:
    """The operating points of every category at its validation thresholds, with the mean row."""
    from ..compare.read import is_mean_row

    keys = [(key, title) for key, title in OPERATING_SHOWN if any(row.get(key) is not None for row in rows)]
    cells = [
        [f"{row[key]:.4f}" if isinstance(row.get(key), float) else escape_cell(row.get(key)) for key, _ in keys]
        for row in rows
    ]
    labels = [str(row["category"]) for row in rows]
    mean_rows = [label for label, row in zip(labels, rows, strict=True) if is_mean_row(row)]
    title = "test-set operating points at each category's validation thresholds"
    return chunked_tables(title, "category", labels, [title for _, title in keys], cells, width, mean_rows)


# MVTec AD 2's headline metric: AU-PRO up to FPR 0.05.
AD2_HEADLINE_LIMIT = 0.05


def escape_cell(value: Any) -> str:
    """A table cell for a value that is not a float: ``-`` for none."""
    return "-" if value is None else str(value)


def benchmark(
    maps_root: Annotated[
        Path,
        typer.Argument(
            metavar="MAPS_ROOT",
            help="Maps of every category, e.g. MAPS_ROOT/<cat>/test/<defect>/...",
            show_default=False,
        ),
    ],
    dataset_root: Annotated[
        Path,
        typer.Argument(
            metavar="DATASET_ROOT", help="The dataset root, e.g. MVTec AD's folder of categories.", show_default=False
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Results folder: one evaluate folder per category.")],
    layout: Annotated[
        str | None,
        typer.Option(
            "--layout",
            help="mvtec: <cat>/test + <cat>/ground_truth/<defect>/<name>_mask.png; visa: anomalib's converted "
            "VisA (<cat>/test/{good,bad}, <cat>/ground_truth/bad/<name>.png); visa-raw: <cat>/Data/Images and "
            "<cat>/Data/Masks, restricted to split_csv/1cls.csv's test split when present; mvtec-ad2: "
            "<object>/test_public/{good,bad} + test_public/ground_truth/bad/<name>_mask.png; mvtec-loco: "
            "<cat>/test/{good,logical_anomalies,structural_anomalies}, <cat>/ground_truth/<type>/<id>/<k>.png (one "
            "mask per defect) and <cat>/defects_config.json, which adds sPRO (detected in every layout). "
            "[default: mvtec, or the config file's, or mvtec-ad2 with --protocol mvtec-ad2]",
        ),
    ] = None,
    categories: Annotated[
        str | None, typer.Option("--categories", help="Comma-separated categories. Default: every category found.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Categories evaluated in parallel processes (capped by free memory).")
    ] = 1,
    metrics: MetricsOption = None,
    aupro_limits: AuproLimitsOption = None,
    spro_limits: SproLimitsOption = None,
    fpr_bounds: FprBoundsOption = None,
    num_thresholds: NumThresholdsOption = None,
    normal_dirs: NormalDirsOption = None,
    config: ConfigOption = None,
    force: ForceOption = None,
    val_maps_root: Annotated[
        Path | None,
        typer.Option(
            "--val-maps-root",
            help="Validation maps of every category, as <cat>/validation/... (MVTec AD 2) or <cat>/...: each "
            "category's thresholds are chosen on its own (rules: --frr, --soft-frr, --far, --threshold, --pixel...) "
            "and saved in OUT/<cat>/thresholds.json.",
        ),
    ] = None,
    thresholds_root: Annotated[
        Path | None,
        typer.Option(
            "--thresholds-root",
            help="Reuse saved thresholds: <cat>/thresholds.json for each category (e.g. an earlier benchmark's OUT).",
        ),
    ] = None,
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
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="mvtec-ad2: MVTec AD 2's protocol: the mvtec-ad2 layout, AU-PRO at 0.05 (the headline) and 0.3, "
            "the pixel threshold mean + 3 std of each object's validation maps (--val-maps-root, default "
            "MAPS_ROOT: <object>/validation/good/...) and SegF1 at it, plus the default metrics.",
        ),
    ] = None,
    overwrite: OverwriteOption = False,
    max_memory: MaxMemoryOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Evaluate every category of a dataset (MVTec AD, VisA, MVTec AD 2) into OUT/<category>/, then the dataset
    tables.

    Re-running the same command resumes: categories whose results match their inputs and options are skipped.
    One failing category does not stop the others: it gets an error cell in OUT/summary.{csv,json,md}. A
    --fail-under/--fail-over gate applies to every category row and to the mean row. Exit code 0 when every
    category succeeded, 2 if one failed on bad input, 1 if one failed on an internal error, else 4 if a gate
    failed.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline import benchmark as bench
        from ..pipeline.config import layout_of

        if protocol not in (None, "mvtec-ad2"):
            raise InputError(f"--protocol must be mvtec-ad2, not {protocol!r}")
        if protocol == "mvtec-ad2":
            # MVTec AD 2 (Heckler-Kram et al., 2025): AU-PRO at FPR 0.05 is the headline; the segmentation
            # threshold is mean + 3 std of the validation normal pixels; SegF1 is scored at it.
            aupro_limits = aupro_limits or f"{AD2_HEADLINE_LIMIT},0.3"
            layout = layout or "mvtec-ad2"
            if val_maps_root is None and thresholds_root is None:
                val_maps_root = maps_root
            if pixel is None and pixel_fpr is None:
                pixel = "mean+3std"
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
        if policy is not None and val_maps_root is None:
            raise InputError("the threshold rules (--frr, --far, ...) need validation maps: pass --val-maps-root DIR")
        if policy is not None and policy.image_rule in ("far", "f1_adaptive"):
            raise InputError(
                "--far and --f1-adaptive need defective validation images with masks, which --val-maps-root does not "
                "take: run aupimo calibrate VAL_MAPS VAL_MASKS per category, then --thresholds-root"
            )
        source = bench.ThresholdSource(val_maps_root, thresholds_root, policy or bench.ThresholdPolicy())
        layout = layout_of(layout, config_file)
        jobs = bench.find_categories(maps_root, dataset_root, layout, names(categories) if categories else None)
        # Refuse, before any work, an --out this run may not write into (DESIGN section 8).
        inputs = [path for path in (maps_root, dataset_root, val_maps_root, thresholds_root) if path is not None]
        state = bench.prepare_output(out, jobs, options, inputs, overwrite=overwrite, source=source)
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
                source=source,
            )
            recorded = {"maps_root": str(maps_root.absolute()), "dataset_root": str(dataset_root.absolute()),
                        "layout": layout}  # fmt: skip
            rows = bench.finish_benchmark(out, state, outcomes, options, recorded, source)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None

    if as_json:
        from ..report.writers import json_text

        sys.stdout.write(json_text(rows))
        sys.stdout.flush()
    if not quiet:
        console = stderr if as_json else Console(highlight=False)
        for table in dataset_tables(rows, out.absolute(), console.width):
            console.print(table)
        if source.active:
            for table in operating_tables(rows, console.width):
                console.print(table)
        for row in rows:
            if row.get("error"):
                console.print(
                    f"[bold red]{escape(str(row['category']))}:[/] {escape(str(row['error']))}", soft_wrap=True
                )
    from ..compare.read import is_mean_row
    from ..metrics.pro import aupro_key

    if protocol == "mvtec-ad2" and not quiet:
        mean = next((row for row in rows if is_mean_row(row)), None)
        if mean is not None:
            console = stderr if as_json else Console(highlight=False)
            headline = _number(mean.get(aupro_key(AD2_HEADLINE_LIMIT)))
            console.print(f"MVTec AD 2 headline: AU-PRO@5% {headline} (mean over the objects); SegF1 "
                          f"{_number(mean.get('seg_f1'))} at each object's mean + 3 std validation threshold",
                          soft_wrap=True)  # fmt: skip
    from ..pipeline.gates import gate_failures

    # The mean row is gated on the keys it averages; thresholds, spreads and intervals are per category only.
    category_rows = [(str(row["category"]), row) for row in rows if not row.get("error") and not is_mean_row(row)]
    mean_rows = [(str(row["category"]), row) for row in rows if is_mean_row(row)]
    failures = gate_failures(gates, category_rows)
    failures += gate_failures([gate for gate in gates if bench.averages(gate.key)], mean_rows)
    if failures:
        print_gate_failures(stderr, failures)
    if any(outcome.internal for outcome in outcomes):
        raise typer.Exit(EXIT_INTERNAL)
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(EXIT_BAD_INPUT)
    if failures:
        raise typer.Exit(EXIT_POLICY)


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"
