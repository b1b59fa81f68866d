"""``aupimo sweep``: M models x D datasets x their categories as independent tasks, then the comparisons.

A sweep's output folder holds, for each model and dataset, ``OUT/<model>/<dataset>/`` in exactly the layout
``aupimo benchmark`` writes (byte-identical to running it per model and dataset, because the same functions
write it: `benchmark.run_category` per task, `benchmark.finish_benchmark` per benchmark folder), then
``OUT/compare/<dataset>/`` per dataset and ``OUT/compare/all/`` over every dataset (with 2 datasets or more),
and ``OUT/manifest.json``, the sweep's manifest (DESIGN section 8).

The tasks (one category of one model on one dataset) run on an `Executor`:

- `LocalExecutor`: a pool of spawned processes on this machine, reused across tasks, so the start-up (Python,
  numba's kernels) is paid once per worker. A worker that dies (killed, out of memory) breaks the pool: it is
  rebuilt and the tasks it was running are tried once more.
- `DaskExecutor` (`dask_executor`): each task a ``dask.distributed`` task on an existing cluster or a
  ``LocalCluster``, declaring its memory estimate as the resource ``MEMORY``. Dask itself retries the tasks of a
  worker that died.

A task that fails on an internal error (or whose worker dies) is retried once; one that fails on bad input is
not (it would fail the same way). A re-run skips the categories whose results are up to date (same input
fingerprint and options), as ``benchmark`` does.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import InputError, listing
from ..report.manifest import MANIFEST_FILE, manifest_record, ownership, refuse_unsafe_target
from .benchmark import (
    LAYOUTS,
    BenchmarkFolder,
    CategoryJob,
    CategoryOutcome,
    estimate_category_bytes,
    find_categories,
    finish_benchmark,
    prepare_output,
    run_category,
)
from .config import parse_config, resolve_options
from .evaluate import EvaluateOptions

COMPARE_FOLDER = "compare"
ALL_DATASETS = "all"
DASK_MISSING = "--executor dask needs dask.distributed: pip install 'aupimo-cli[dask]'"
# The test hook that makes "the middle of a task" deterministic: the task whose key is AUPIMO_TEST_PAUSE_TASK
# writes AUPIMO_TEST_PAUSE_DIR/started (holding its process id) on its first attempt, then waits there until
# the test kills its worker.
PAUSE_TASK_VARIABLE = "AUPIMO_TEST_PAUSE_TASK"
PAUSE_DIR_VARIABLE = "AUPIMO_TEST_PAUSE_DIR"


@dataclass(frozen=True)
class SweepDataset:
    """A dataset of the sweep: its name (the folder name under each model and under ``OUT/<model>/``), its root
    (DATASET_ROOT of a benchmark) and its layout (`benchmark.LAYOUTS`: ``mvtec``, ``visa``, ``mvtec-loco``...)."""

    name: str
    root: Path
    layout: str = "mvtec"


@dataclass(frozen=True)
class SweepModel:
    """A model of the sweep: its name and, per dataset name, its maps (MAPS_ROOT of a benchmark)."""

    name: str
    maps_roots: dict[str, Path]


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep evaluates: every model on every dataset, with one set of options."""

    models: tuple[SweepModel, ...]
    datasets: tuple[SweepDataset, ...]
    options: EvaluateOptions

    def inputs(self) -> list[Path]:
        """Every input folder (never to be written into)."""
        return [*(d.root for d in self.datasets), *(root for m in self.models for root in m.maps_roots.values())]


def _check_names(kind: str, names: Sequence[str]) -> None:
    for name in names:
        if not name or name.startswith(".") or "/" in name or "\\" in name:
            raise InputError(f"{kind} name {name!r} cannot name a folder; rename it")
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise InputError(f"{kind} names must differ: {listing(twice)} appear twice")


def plan_from_roots(
    models_root: Path, dataset_roots: Sequence[Path], layout: str, options: EvaluateOptions
) -> SweepPlan:
    """The short form ``aupimo sweep MODELS_ROOT DATASET_ROOT...``: each subfolder of `models_root` is a model;
    each dataset is named by its root's folder name, and a model's maps for it are ``MODELS_ROOT/<model>/<dataset>``
    (or, with one dataset, ``MODELS_ROOT/<model>`` itself when that subfolder does not exist).

    Raises:
        InputError: a missing folder, no model, repeated names, or a model without maps for a dataset.
    """
    if not models_root.is_dir():
        raise InputError(f"MODELS_ROOT {models_root} is not a folder")
    if not dataset_roots:
        raise InputError("give at least one DATASET_ROOT after MODELS_ROOT")
    datasets = tuple(SweepDataset(root.name, root, layout) for root in dataset_roots)
    _check_names("dataset", [dataset.name for dataset in datasets])
    model_folders = sorted(
        child for child in models_root.iterdir() if child.is_dir() and not child.name.startswith(".")
    )
    if not model_folders:
        raise InputError(f"MODELS_ROOT {models_root} holds no model folder (one subfolder per model)")
    models = []
    for folder in model_folders:
        roots = {}
        for dataset in datasets:
            nested = folder / dataset.name
            if nested.is_dir():
                roots[dataset.name] = nested
            elif len(datasets) == 1:
                roots[dataset.name] = folder
            else:
                raise InputError(
                    f"model {folder.name} has no maps for dataset {dataset.name}: {nested} is not a folder (with "
                    "several datasets, MODELS_ROOT holds <model>/<dataset>/<category>/test/...)"
                )
        models.append(SweepModel(folder.name, roots))
    return _checked(SweepPlan(tuple(models), datasets, options))


def _checked(plan: SweepPlan) -> SweepPlan:
    _check_names("model", [model.name for model in plan.models])
    if COMPARE_FOLDER in (model.name for model in plan.models):
        raise InputError(f"a model may not be named {COMPARE_FOLDER!r}: OUT/{COMPARE_FOLDER}/ holds the comparisons")
    for dataset in plan.datasets:
        if dataset.layout not in LAYOUTS:
            raise InputError(
                f"dataset {dataset.name}: layout must be one of {', '.join(LAYOUTS)}, not {dataset.layout!r}"
            )
    return plan


def read_sweep_file(path: Path, flags: dict[str, Any]) -> SweepPlan:
    """A plan from a ``sweep.toml``; relative paths are taken from the file's folder.

    ```toml
    [datasets.mvtec_ad]
    root = "/data/mvtec_ad"
    layout = "mvtec"                  # mvtec (default), visa or visa-raw

    [models.patchcore]
    maps = "/maps/patchcore"          # holds <dataset>/<category>/test/... (one dataset: <category>/test/...)

    [models.efficientad.maps]         # or one maps root per dataset
    mvtec_ad = "/maps/efficientad_mvtec"

    [options]                         # the keys of a config file (aupimo.toml)
    fpr_bounds = [1e-5, 1e-4]
    ```

    `flags` (the command line's options, None when not given) override ``[options]``.

    Raises:
        InputError: unreadable TOML, unknown keys, missing folders, naming the file and the key.
    """
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InputError(f"cannot read {path} ({error}); a sweep file is TOML: see aupimo sweep --help") from None
    unknown = sorted(set(table) - {"datasets", "models", "options"})
    if unknown:
        raise InputError(
            f"{path}: unknown table(s) {listing(unknown)}; a sweep file has [datasets], [models], [options]"
        )
    base = path.parent

    def folder(value: Any, where: str) -> Path:
        if not isinstance(value, str) or not value:
            raise InputError(f"{path}: {where} must be a folder path (a string)")
        return (base / value) if not Path(value).is_absolute() else Path(value)

    raw_datasets = table.get("datasets")
    if not isinstance(raw_datasets, dict) or not raw_datasets:
        raise InputError(f"{path}: no [datasets.<name>] table with a root")
    datasets = []
    for name, entry in raw_datasets.items():
        if not isinstance(entry, dict) or set(entry) - {"root", "layout"}:
            raise InputError(f'{path}: [datasets.{name}] holds root = "..." and optionally layout = "..."')
        datasets.append(SweepDataset(name, folder(entry.get("root"), f"datasets.{name}.root"),
                                     str(entry.get("layout", "mvtec"))))  # fmt: skip
    raw_models = table.get("models")
    if not isinstance(raw_models, dict) or not raw_models:
        raise InputError(f"{path}: no [models.<name>] table with maps")
    models = []
    for name, entry in raw_models.items():
        maps = entry.get("maps") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or set(entry) - {"maps"} or maps is None:
            raise InputError(f'{path}: [models.{name}] holds maps = "..." or a [models.{name}.maps] table')
        if isinstance(maps, dict):
            missing = [dataset.name for dataset in datasets if dataset.name not in maps]
            if missing:
                raise InputError(f"{path}: [models.{name}.maps] names no maps for {listing(missing)}")
            roots = {
                dataset.name: folder(maps[dataset.name], f"models.{name}.maps.{dataset.name}") for dataset in datasets
            }
        else:
            root = folder(maps, f"models.{name}.maps")
            roots = {dataset.name: root / dataset.name if len(datasets) > 1 or (root / dataset.name).is_dir() else root
                     for dataset in datasets}  # fmt: skip
        models.append(SweepModel(name, roots))
    config = parse_config(table.get("options") or {}, f"{path} [options]")
    return _checked(SweepPlan(tuple(models), tuple(datasets), resolve_options(flags, config)))


# ---------------------------------------------------------------------------------------------------------------
# tasks


@dataclass(frozen=True)
class SweepTask:
    """One category of one model on one dataset, evaluated into ``out/<category>`` (``out`` the benchmark folder
    ``OUT/<model>/<dataset>``)."""

    model: str
    dataset: str
    job: CategoryJob
    out: Path
    memory_bytes: int

    @property
    def key(self) -> str:
        """``<model>/<dataset>/<category>``: the task's name in messages, progress and Dask."""
        return f"{self.model}/{self.dataset}/{self.job.name}"


def _pause_for_tests(key: str) -> None:
    """The test hook (`PAUSE_TASK_VARIABLE`): only when the environment names this task."""
    if os.environ.get(PAUSE_TASK_VARIABLE) != key or not os.environ.get(PAUSE_DIR_VARIABLE):
        return
    folder = Path(os.environ[PAUSE_DIR_VARIABLE])
    started = folder / "started"
    if started.exists():  # a retry: run
        return
    started.write_text(str(os.getpid()))
    while not (folder / "release").exists():
        time.sleep(0.05)


def run_task(
    task: SweepTask, options: EvaluateOptions, overwrite: bool, max_memory_bytes: int | None
) -> CategoryOutcome:
    """Evaluate one task in this process (a worker's entry point); never raises (`benchmark.run_category`)."""
    _pause_for_tests(task.key)
    return run_category(task.job, options, task.out, overwrite, max_memory_bytes)


@dataclass
class SweepEvents:
    """What the executors report as tasks start and end; the command line draws it as a progress bar."""

    on_update: Callable[[SweepStatus], None] | None = None
    on_done: Callable[[SweepTask, CategoryOutcome], None] | None = None


@dataclass
class SweepStatus:
    """Tasks done, running (with when each was first seen running) and failed, out of `total`."""

    total: int
    done: int = 0
    failed: int = 0
    retried: int = 0
    running: dict[str, float] = field(default_factory=dict)

    def finish(
        self, task: SweepTask, outcome: CategoryOutcome, outcomes: dict[str, CategoryOutcome], events: SweepEvents
    ) -> None:
        """Record a task's final outcome in `outcomes` and tell `events`."""
        outcomes[task.key] = outcome
        self.done += 1
        self.failed += outcome.status == "failed"
        self.running.pop(task.key, None)
        if events.on_done is not None:
            events.on_done(task, outcome)

    def slowest(self) -> tuple[str, float] | None:
        """The running task started first, and its seconds so far."""
        if not self.running:
            return None
        key = min(self.running, key=lambda name: (self.running[name], name))
        return key, time.monotonic() - self.running[key]


class Executor(Protocol):
    """Runs the tasks; returns each task's outcome by key."""

    def run(
        self, tasks: Sequence[SweepTask], options: EvaluateOptions, overwrite: bool, events: SweepEvents
    ) -> dict[str, CategoryOutcome]: ...


def _retry_worthy(outcome: CategoryOutcome) -> bool:
    """Whether a failed outcome may succeed on a second try: internal errors (a bug, a flaky disk), not bad
    input, which fails the same way each time."""
    return outcome.status == "failed" and outcome.internal


def _died(task: SweepTask, attempts: int) -> CategoryOutcome:
    return CategoryOutcome(
        task.job.name,
        "failed",
        error=f"internal error: the worker process evaluating {task.key} died {attempts} times (killed, or out of "
        "memory: lower --workers or --max-memory)",
        internal=True,
    )


@dataclass
class LocalExecutor:
    """A pool of `workers` spawned processes on this machine, reused across tasks; a broken pool (a worker
    died) is rebuilt, and the tasks that were running are tried once more."""

    workers: int
    max_memory_bytes: int | None = None

    def run(
        self, tasks: Sequence[SweepTask], options: EvaluateOptions, overwrite: bool, events: SweepEvents
    ) -> dict[str, CategoryOutcome]:
        status = SweepStatus(len(tasks))
        outcomes: dict[str, CategoryOutcome] = {}
        attempts = {task.key: 0 for task in tasks}
        order = {task.key: index for index, task in enumerate(tasks)}
        context = multiprocessing.get_context("spawn")  # not fork: the parent holds threads (rich, numba)

        queue = list(tasks)
        while queue:
            lost: list[SweepTask] = []  # the tasks of a pool that broke (a worker died)
            with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
                pending: dict[Future[CategoryOutcome], SweepTask] = {}

                def submit(
                    task: SweepTask, pool: ProcessPoolExecutor = pool, pending: dict[Any, SweepTask] = pending
                ) -> None:
                    attempts[task.key] += 1
                    pending[pool.submit(run_task, task, options, overwrite, self.max_memory_bytes)] = task

                for task in queue:
                    submit(task)
                while pending and not lost:
                    finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    # The pool marks a task running when it queues it for a worker, one ahead: at most `workers`
                    # of them, the first marked, are on a worker.
                    for future, task in pending.items():
                        if len(status.running) < self.workers and future.running() and task.key not in status.running:
                            status.running[task.key] = time.monotonic()
                    for future in finished:
                        task = pending.pop(future)
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:
                            lost.append(task)
                            continue
                        status.running.pop(task.key, None)
                        if _retry_worthy(outcome) and attempts[task.key] < 2:
                            status.retried += 1
                            submit(task)
                        else:
                            status.finish(task, outcome, outcomes, events)
                    if events.on_update is not None:
                        events.on_update(status)
                lost += pending.values()
            # Every task of a broken pool comes back. One that had started used an attempt (the worker that died
            # may have been its own); one still queued did not.
            queue = []
            for task in sorted(lost, key=lambda t: order[t.key]):
                if task.key not in status.running:
                    attempts[task.key] -= 1
                if attempts[task.key] >= 2:
                    status.finish(task, _died(task, attempts[task.key]), outcomes, events)
                else:
                    status.retried += attempts[task.key] > 0
                    queue.append(task)
            status.running.clear()
        return outcomes


@contextmanager
def dask_client(scheduler: str | None, workers: int, memory_per_worker: int, largest_task: int = 0) -> Iterator[Any]:
    """A ``dask.distributed`` client: of the cluster at `scheduler`, or of a ``LocalCluster`` of `workers`
    single-threaded worker processes, each declaring `memory_per_worker` bytes of the resource ``MEMORY``.

    Raises:
        InputError: dask is not installed, or no worker of the cluster declares the resource ``MEMORY``, or none
            declares at least `largest_task` bytes of it (the tasks would wait forever).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(DASK_MISSING) from None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               resources={"MEMORY": memory_per_worker}, dashboard_address=None)  # fmt: skip
        client = Client(cluster)
    else:
        cluster = None
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as error:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({error}); check --scheduler") from None
    try:
        info = client.scheduler_info()
        declared = [
            worker for worker in info.get("workers", {}).values() if "MEMORY" in (worker.get("resources") or {})
        ]
        if not declared:
            raise InputError(
                f"no worker of the Dask cluster at {scheduler} declares the resource MEMORY, so no task could ever "
                "start: start the workers with --resources MEMORY=<bytes>, e.g. dask worker "
                f"{scheduler} --nthreads 1 --resources MEMORY=16e9"
            )
        most = max(float(worker["resources"]["MEMORY"]) for worker in declared)
        if most < largest_task:
            raise InputError(
                f"the largest category needs about {largest_task / 2**30:.1f} GiB, and no worker of the Dask cluster "
                f"declares that much MEMORY (the most is {most / 2**30:.1f} GiB), so its task could never start: "
                "start workers with a larger --resources MEMORY=<bytes>"
            )
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class DaskExecutor:
    """Each task a ``dask.distributed`` task of `client`, with its memory estimate as the resource ``MEMORY``.
    The results folder must be on storage every worker sees (they write their results there, atomically).
    Dask retries the tasks of a worker that died; a task that fails on an internal error is retried once."""

    client: Any
    max_memory_bytes: int | None = None

    def run(
        self, tasks: Sequence[SweepTask], options: EvaluateOptions, overwrite: bool, events: SweepEvents
    ) -> dict[str, CategoryOutcome]:
        from distributed import as_completed

        status = SweepStatus(len(tasks))
        outcomes: dict[str, CategoryOutcome] = {}

        def submit(task: SweepTask, attempt: int) -> Any:
            return self.client.submit(
                run_task, task, options, overwrite, self.max_memory_bytes, key=f"aupimo-{task.key}-{attempt}",
                resources={"MEMORY": task.memory_bytes}, pure=False, retries=1,
            )  # fmt: skip

        by_key = {}
        futures = []
        for task in tasks:
            future = submit(task, 1)
            by_key[future.key] = (task, 1)
            futures.append(future)
        queue = as_completed(futures)
        for future in queue:
            task, attempt = by_key[future.key]
            try:
                outcome = future.result()
            except Exception as error:  # the task's worker died more often than Dask allows, or it was lost
                outcome = CategoryOutcome(task.job.name, "failed", error=f"internal error: {error!r}", internal=True)
            if _retry_worthy(outcome) and attempt < 2:
                status.retried += 1
                again = submit(task, attempt + 1)
                by_key[again.key] = (task, attempt + 1)
                queue.add(again)
                continue
            status.finish(task, outcome, outcomes, events)
            # The tasks the scheduler has on a worker now, first seen now (the client hears of nothing between
            # two completions).
            now = time.monotonic()
            processing = {str(key) for keys in self.client.processing().values() for key in keys}
            running = [by_key[key][0].key for key in processing if key in by_key]
            status.running = {name: status.running.get(name, now) for name in running if name not in outcomes}
            if events.on_update is not None:
                events.on_update(status)
        return outcomes


# ---------------------------------------------------------------------------------------------------------------
# the sweep


@dataclass
class SweepResult:
    """What a sweep did: every task's outcome by key, each benchmark folder's rows, the comparisons written and
    the notes (comparisons that could not be made)."""

    outcomes: dict[str, CategoryOutcome]
    rows: dict[tuple[str, str], list[dict[str, Any]]]
    comparisons: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compare_failed: bool = False


def benchmark_folder(out: Path, model: str, dataset: str) -> Path:
    return out / model / dataset


def recorded_inputs(maps_root: Path, dataset: SweepDataset) -> dict[str, str]:
    """What a benchmark folder's manifest records as its inputs (as ``aupimo benchmark`` does)."""
    return {"maps_root": str(maps_root.absolute()), "dataset_root": str(dataset.root.absolute()),
            "layout": dataset.layout}  # fmt: skip


def _sweep_manifest(plan: SweepPlan) -> dict[str, Any]:
    return manifest_record(
        "sweep",
        [MANIFEST_FILE],
        models=[model.name for model in plan.models],
        datasets=[dataset.name for dataset in plan.datasets],
    )


def prepare_sweep(
    plan: SweepPlan, out: Path, *, overwrite: bool
) -> tuple[list[SweepTask], dict[tuple[str, str], BenchmarkFolder]]:
    """Check before any work that the sweep may write into `out`, and list its tasks.

    `out` is never an input (`refuse_unsafe_target`); an existing one is empty or a sweep folder aupimo wrote;
    each ``OUT/<model>/<dataset>`` passes the checks of ``benchmark`` (`benchmark.prepare_output`).

    Raises:
        InputError: naming the folder and the fix; nothing was changed.
    """
    refuse_unsafe_target(out, plan.inputs())
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder; choose another --out.")
    held = ownership(out)
    if held.kind not in (None, "sweep") or (held.kind is None and held.foreign):
        what = f"an aupimo {held.kind} folder" if held.kind else f"not empty ({listing(held.foreign)})"
        raise InputError(
            f"--out {out} is {what}, not a sweep folder; choose a new or empty --out (nothing was changed)"
        )
    if held.kind == "sweep" and held.foreign:
        raise InputError(
            f"--out {out} is a sweep folder holding {len(held.foreign)} file(s) aupimo did not write "
            f"({listing(held.foreign)}); move them away or choose another --out (nothing was changed)"
        )
    tasks = []
    states = {}
    for model in plan.models:
        for dataset in plan.datasets:
            maps_root = model.maps_roots[dataset.name]
            jobs = find_categories(maps_root, dataset.root, dataset.layout)
            folder = benchmark_folder(out, model.name, dataset.name)
            states[(model.name, dataset.name)] = prepare_output(
                folder, jobs, plan.options, [maps_root, dataset.root], overwrite=overwrite
            )
            for job in jobs:
                tasks.append(
                    SweepTask(model.name, dataset.name, job, folder, estimate_category_bytes(job, plan.options))
                )
    return tasks, states


def write_sweep_manifest(plan: SweepPlan, out: Path) -> None:
    """``OUT/manifest.json``, written before any work so that an interrupted sweep is still recognised as ours."""
    from ..report.atomic import write_file_atomically
    from ..report.writers import json_text

    out.mkdir(parents=True, exist_ok=True)
    write_file_atomically(out / MANIFEST_FILE, json_text(_sweep_manifest(plan)).encode("utf-8"))


def finish_sweep(
    plan: SweepPlan,
    out: Path,
    tasks: Sequence[SweepTask],
    states: dict[tuple[str, str], BenchmarkFolder],
    outcomes: dict[str, CategoryOutcome],
) -> SweepResult:
    """Write each benchmark folder's tables (`benchmark.finish_benchmark`), then the comparisons: per dataset in
    ``OUT/compare/<dataset>`` and, with several datasets, over all of them in ``OUT/compare/all``."""
    from ..compare import compare_results
    from ..report.comparison import write_comparison

    result = SweepResult(outcomes, {})
    for model in plan.models:
        for dataset in plan.datasets:
            mine = [outcomes[task.key] for task in tasks if (task.model, task.dataset) == (model.name, dataset.name)]
            folder = benchmark_folder(out, model.name, dataset.name)
            inputs = recorded_inputs(model.maps_roots[dataset.name], dataset)
            result.rows[(model.name, dataset.name)] = finish_benchmark(
                folder, states[(model.name, dataset.name)], mine, plan.options, inputs
            )
    if len(plan.models) < 2:
        result.notes.append("one model: no comparison written")
        return result
    names = [model.name for model in plan.models]
    targets = [
        (dataset.name, [benchmark_folder(out, name, dataset.name) for name in names]) for dataset in plan.datasets
    ]
    if len(plan.datasets) > 1:
        targets.append((ALL_DATASETS, [out / name for name in names]))
    for target_name, folders in targets:
        target = out / COMPARE_FOLDER / target_name
        try:
            comparison = compare_results(folders, names)
            write_comparison(comparison, target, overwrite=True, inputs=folders)
        except InputError as error:
            result.notes.append(f"compare/{target_name} not written: {' '.join(str(error).split())}")
            result.compare_failed = True
            continue
        result.comparisons.append(target)
        result.notes.extend(f"compare/{target_name}: {note}" for note in comparison.notes)
    return result
