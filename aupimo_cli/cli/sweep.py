"""``aupimo sweep``: models x datasets x categories as independent tasks, locally or on Dask, then the
comparisons."""

from __future__ import annotations

from contextlib import ExitStack
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
    FailOverOption,
    FailUnderOption,
    ForceOption,
    FprBoundsOption,
    MaxMemoryOption,
    MetricsOption,
    NormalDirsOption,
    NumThresholdsOption,
    OracleRatesOption,
    OverwriteOption,
    QuietOption,
    RichProgress,
    SeedOption,
    SproLimitsOption,
    evaluate_flags,
    gates_of,
    parse_memory_size,
    print_gate_failures,
    statistics_flags,
)
from ._errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_POLICY, fail

SWEEP_EXAMPLES = """\b
Examples:
  aupimo sweep maps/ mvtec_ad/ visa/ --out sweep --layout mvtec
  aupimo sweep sweep.toml --out sweep --workers 2
  aupimo sweep sweep.toml --out /shared/sweep --executor dask --scheduler tcp://10.0.0.5:8786
  aupimo sweep sample_data/models sample_data/mvtec --out results/sweep
"""
EXECUTORS = ("local", "dask")


def sweep(
    sources: Annotated[
        list[Path],
        typer.Argument(
            metavar="SWEEP_TOML | MODELS_ROOT DATASET_ROOT",
            help="A sweep.toml ([datasets.<name>] root and layout, [models.<name>] maps, [options]), or MODELS_ROOT "
            "(one subfolder per model, holding <dataset>/<category>/test/..., or <category>/test/... with one "
            "dataset) and the dataset roots (each named by its folder name).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Results folder: OUT/<model>/<dataset>/ as `benchmark` writes it, OUT/compare/<dataset>/ and "
            "OUT/compare/all/. With Dask, on storage every worker sees.",
        ),
    ],
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="The datasets' layout in the short form: mvtec, visa, visa-raw, mvtec-ad2 or mvtec-loco.",
        ),
    ] = "mvtec",
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local: a pool of processes on this machine, reused across tasks. dask: a dask.distributed "
            "cluster (--scheduler), or a LocalCluster of --workers processes (needs pip install "
            "'aupimo-cli[dask]').",
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="The Dask scheduler's address (tcp://host:8786). Its workers must declare the resource MEMORY "
            "(dask worker ADDRESS --nthreads 1 --resources MEMORY=16e9): each task asks for its estimate.",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, help="Worker processes (local, or the LocalCluster); capped by memory."),
    ] = 2,
    metrics: MetricsOption = None,
    aupro_limits: AuproLimitsOption = None,
    spro_limits: SproLimitsOption = None,
    fpr_bounds: FprBoundsOption = None,
    num_thresholds: NumThresholdsOption = None,
    normal_dirs: NormalDirsOption = None,
    config: ConfigOption = None,
    force: ForceOption = None,
    oracle_rates: OracleRatesOption = None,
    bootstrap: BootstrapOption = None,
    ci_level: CiLevelOption = None,
    seed: SeedOption = None,
    bootstrap_pixel_ap: BootstrapPixelApOption = None,
    fail_under: FailUnderOption = None,
    fail_over: FailOverOption = None,
    overwrite: OverwriteOption = False,
    max_memory: MaxMemoryOption = None,
    quiet: QuietOption = False,
) -> None:
    """Evaluate every model on every category of every dataset, then compare the models per dataset and overall.

    Each category of each model is one task. Re-running the same command resumes: tasks whose results match
    their inputs and options are skipped. A task that fails on an internal error, or whose worker dies, is tried
    once more; one that fails again, or fails on bad input, gets an error cell in its benchmark's tables, and
    the sweep goes on. A --fail-under/--fail-over gate applies to every category row and mean row of every model
    and dataset. Exit code 0 when every task and comparison succeeded, 1 if one failed on an internal error,
    else 2 if one failed on bad input, else 4 if a gate failed.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline import sweep as sweeping
        from ..pipeline.benchmark import plan_workers
        from ..pipeline.config import read_config, resolve_options

        if executor not in EXECUTORS:
            raise InputError(f"--executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
        if scheduler is not None and executor != "dask":
            raise InputError("--scheduler is for --executor dask")
        statistics = statistics_flags(bootstrap, ci_level, seed, bootstrap_pixel_ap)
        flags = evaluate_flags(metrics, aupro_limits, fpr_bounds, num_thresholds, normal_dirs, force, oracle_rates,
                               statistics, spro_limits)  # fmt: skip
        if len(sources) == 1 and sources[0].is_file():
            if config is not None:
                raise InputError("a sweep file holds its options in [options]: --config is for the short form")
            plan = sweeping.read_sweep_file(sources[0], flags)
            config_file = None
        else:
            config_file = read_config(config)
            plan = sweeping.plan_from_roots(sources[0], sources[1:], layout, resolve_options(flags, config_file))
        gates = gates_of(fail_under, fail_over, config_file)
        tasks, states = sweeping.prepare_sweep(plan, out, overwrite=overwrite)
        memory = parse_memory_size(max_memory)
        allowed = plan_workers(workers, [task.memory_bytes for task in tasks], memory)
        if allowed < workers:
            stderr.print(
                f"[yellow]note:[/] running {allowed} worker(s), not {workers}: the largest category needs about "
                f"{max(task.memory_bytes for task in tasks) / 2**30:.1f} GiB of the {memory / 2**30:.1f} GiB "
                "allowed (--max-memory)."
            )
        with ExitStack() as stack:
            # Connect (and check the cluster's resources) before anything is written.
            client = None
            if executor == "dask":
                largest = max((task.memory_bytes for task in tasks), default=0)
                client = stack.enter_context(sweeping.dask_client(scheduler, allowed, memory // allowed, largest))
            sweeping.write_sweep_manifest(plan, out)
            with RichProgress(stderr, enabled=not quiet and stderr.is_terminal) as progress:
                progress.stage(f"{len(tasks)} tasks", total=len(tasks))
                events = sweeping.SweepEvents(
                    on_update=lambda status: progress.describe(_status_line(status)),
                    on_done=lambda task, outcome: _done(stderr, progress, quiet, task, outcome),
                )
                runner: Any = (
                    sweeping.LocalExecutor(allowed, memory // allowed)
                    if client is None
                    else sweeping.DaskExecutor(client)
                )
                outcomes = runner.run(tasks, plan.options, overwrite, events)
                progress.stage("comparisons")
                result = sweeping.finish_sweep(plan, out, tasks, states, outcomes)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None

    for note in result.notes:
        stderr.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if not quiet:
        console = Console(highlight=False)
        console.print(_mean_table(result.rows, [m.name for m in plan.models], [d.name for d in plan.datasets], out))
        counts = {
            status: sum(o.status == status for o in outcomes.values()) for status in ("computed", "skipped", "failed")
        }
        console.print(f"{len(tasks)} tasks: {counts['computed']} computed, {counts['skipped']} up to date, "
                      f"{counts['failed']} failed")  # fmt: skip
        for path in result.comparisons:
            console.print(f"wrote {escape(str(path / 'compare.md'))}")
    failures = _gate_failures(gates, result.rows)
    if failures:
        print_gate_failures(stderr, failures)
    if any(outcome.internal for outcome in outcomes.values()):
        raise typer.Exit(EXIT_INTERNAL)
    if result.compare_failed or any(outcome.status == "failed" for outcome in outcomes.values()):
        raise typer.Exit(EXIT_BAD_INPUT)
    if failures:
        raise typer.Exit(EXIT_POLICY)


def _gate_failures(gates: list[Any], rows: dict[tuple[str, str], list[dict[str, Any]]]) -> list[str]:
    """The gates over every benchmark's category rows, and over its mean row for the keys a mean averages (as
    ``benchmark`` gates them), each named ``<model>/<dataset>/<category>``."""
    from ..compare.read import is_mean_row
    from ..pipeline.benchmark import averages
    from ..pipeline.gates import gate_failures

    failures = []
    for (model, dataset), table in rows.items():
        named = [(f"{model}/{dataset}/{row['category']}", row) for row in table if not row.get("error")]
        failures += gate_failures(gates, [(where, row) for where, row in named if not is_mean_row(row)])
        failures += gate_failures([gate for gate in gates if averages(gate.key)],
                                  [(where, row) for where, row in named if is_mean_row(row)])  # fmt: skip
    return failures


def _status_line(status: Any) -> str:
    """``12/54 done · 2 running · 1 failed · slowest: model/dataset/category 41 s``."""
    line = f"{status.done}/{status.total} done · {len(status.running)} running · {status.failed} failed"
    if status.retried:
        line += f" · {status.retried} retried"
    slowest = status.slowest()
    if slowest is not None:
        line += f" · slowest: {escape(slowest[0])} {slowest[1]:.0f} s"
    return line


def _done(stderr: Console, progress: RichProgress, quiet: bool, task: Any, outcome: Any) -> None:
    progress.advance(1)
    if outcome.status == "failed":
        stderr.print(f"[bold red]{escape(task.key)} failed:[/] {escape(outcome.error or '')}", soft_wrap=True)
        if outcome.internal and outcome.notes:
            stderr.print("".join(outcome.notes), markup=False, highlight=False)
    elif not quiet:
        for note in outcome.notes:
            stderr.print(f"[yellow]note:[/] {escape(task.model)}/{escape(task.dataset)}/{escape(note)}", soft_wrap=True)


def _mean_table(
    rows: dict[tuple[str, str], list[dict[str, Any]]], models: list[str], datasets: list[str], out: Path
) -> Table:
    """Mean AUPIMO of each model (rows) on each dataset (columns), from each benchmark's mean row."""
    from ..compare.read import is_mean_row

    table = Table(title=f"sweep  →  {escape(str(out))}\nmean AUPIMO per dataset", title_justify="left")
    table.add_column("model")
    for dataset in datasets:
        table.add_column(escape(dataset), justify="right")
    for model in models:
        cells = []
        for dataset in datasets:
            mean = next((row for row in rows.get((model, dataset), []) if is_mean_row(row)), None)
            value = None if mean is None else mean.get("aupimo_mean")
            label = "" if mean is None or mean["category"] == "mean" else f" ({mean['category'][5:-1]})"
            cells.append("-" if value is None else f"{value:.4f}{label}")
        table.add_row(escape(model), *cells)
    return table
