"""Evaluate every category of a dataset: the code path behind ``aupimo benchmark``.

Each category runs the same evaluation as ``aupimo evaluate`` (`evaluate_category` + `write_evaluation`)
into ``OUT/<category>/``. Runs are resumable: a category whose results exist with the same input
fingerprint and options is skipped. One failing category never loses the others; it gets an ``error`` cell
in the dataset tables, which are rebuilt from the per-category files on every run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import traceback
from functools import partial
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.discovery import find_pairs, split_filter
from ..io.readers import read_image_size
from .evaluate import EvaluateOptions, evaluate_category, input_fingerprint, summary_keys, write_evaluation

LAYOUTS: tuple[str, ...] = ("mvtec", "visa", "visa-raw")
# Summary columns that are counts: summed in the dataset's mean row.
COUNT_KEYS = ("num_images", "num_normal", "num_anomalous")
# Summary columns left empty in the mean row: they are not comparable across categories.
NO_MEAN_KEYS = ("thresh_lower_bound", "thresh_upper_bound", "version")
# Memory a worker process needs besides its maps: the interpreter, numba, opencv, pyarrow (bytes).
WORKER_BASE_BYTES = 400 * 2**20
# Bytes per full-resolution pixel at the peak of `evaluate`: the float32 map, the bool mask, and the
# anomalous-pixel side data and sort work space, measured about 1.6x the maps' float32 size.
BYTES_PER_PIXEL = 7


@dataclass(frozen=True)
class CategoryJob:
    """Where one category's inputs are, for a given layout."""

    name: str
    maps_root: Path
    masks_root: Path
    images_root: Path | None
    split_csv: Path | None = None

    def keep(self) -> Callable[[str], bool] | None:
        """The filter of image keys for `find_pairs` (VisA's test split), or None for every image."""
        return None if self.split_csv is None else split_filter(self.split_csv, self.name)


@dataclass
class CategoryOutcome:
    """What happened to one category: ``computed``, ``skipped`` (results up to date) or ``failed``."""

    name: str
    status: str
    error: str | None = None
    internal: bool = False
    notes: list[str] = field(default_factory=list)


def _job(maps_root: Path, dataset_root: Path, layout: str, name: str) -> CategoryJob:
    if layout in ("mvtec", "visa"):
        return CategoryJob(
            name,
            maps_root / name / "test",
            dataset_root / name / "ground_truth",
            dataset_root / name / "test",
        )
    return CategoryJob(
        name,
        maps_root / name / "Data" / "Images",
        dataset_root / name / "Data" / "Masks",
        dataset_root / name / "Data" / "Images",
        split_csv if (split_csv := dataset_root / "split_csv" / "1cls.csv").is_file() else None,
    )


def find_categories(
    maps_root: Path, dataset_root: Path, layout: str, categories: Sequence[str] | None = None
) -> list[CategoryJob]:
    """The categories to evaluate, sorted by name: `categories` if given, else every category folder of MAPS_ROOT.

    Raises:
        InputError: unknown layout, missing roots, or no category found.
    """
    if layout not in LAYOUTS:
        raise InputError(f"--layout must be one of {', '.join(LAYOUTS)}, not {layout!r}.")
    for root, what in ((maps_root, "MAPS_ROOT"), (dataset_root, "DATASET_ROOT")):
        if not root.is_dir():
            raise InputError(f"{what} {root} is not a folder.")
    marker = ("test",) if layout in ("mvtec", "visa") else ("Data", "Images")
    if categories:
        names = sorted(set(categories))
    else:
        names = sorted(
            entry.name
            for entry in maps_root.iterdir()
            if entry.is_dir() and not entry.name.startswith(".") and entry.joinpath(*marker).is_dir()
        )
    if not names:
        expected = "<category>/test/<defect>/<name>.<ext>" if layout != "visa-raw" else "<category>/Data/Images/..."
        raise InputError(
            f"no category found in {maps_root} for layout {layout}: expected folders {expected} "
            "(choose the layout with --layout)."
        )
    return [_job(maps_root, dataset_root, layout, name) for name in names]


def _stored_provenance(folder: Path) -> dict[str, Any] | None:
    try:
        provenance = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
        json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return provenance if isinstance(provenance, dict) else None


def run_category(
    job: CategoryJob, options: EvaluateOptions, out: Path, overwrite: bool, max_memory_bytes: int | None = None
) -> CategoryOutcome:
    """Evaluate one category into ``out/<name>``, or skip it when its stored results are up to date.

    Never raises: failures are returned as the outcome, ``internal`` telling a bug from bad input.
    """
    folder = out / job.name
    try:
        if folder.exists() and not overwrite:
            stored = _stored_provenance(folder)
            pairs = find_pairs(job.maps_root, job.masks_root, options.normal_dirs, keep=job.keep())
            fingerprint, _ = input_fingerprint(job.maps_root, job.masks_root, pairs)
            if (
                stored is not None
                and stored.get("fingerprint") == fingerprint
                and stored.get("options") == options.to_json()
            ):
                return CategoryOutcome(job.name, "skipped", notes=[f"{job.name}: results are up to date, skipped"])
            raise InputError(
                f"{folder} holds results of other inputs or options (or incomplete ones); pass --overwrite to "
                "recompute them"
            )
        evaluation = evaluate_category(
            job.maps_root,
            job.masks_root,
            options,
            images_root=job.images_root,
            category=job.name,
            split_csv=job.split_csv,
            max_memory_bytes=max_memory_bytes,
        )
        write_evaluation(evaluation, folder, overwrite=overwrite)
        return CategoryOutcome(job.name, "computed", notes=[f"{job.name}: {note}" for note in evaluation.notes])
    except InputError as error:
        return CategoryOutcome(job.name, "failed", error=" ".join(str(error).split()))
    except Exception as error:
        return CategoryOutcome(
            job.name, "failed", error=f"internal error: {error!r}", internal=True, notes=[traceback.format_exc()]
        )


def estimate_category_bytes(job: CategoryJob, options: EvaluateOptions) -> int:
    """Peak memory of evaluating `job`, estimated from the number of maps and one mask's header size."""
    try:
        pairs = find_pairs(job.maps_root, job.masks_root, options.normal_dirs, keep=job.keep())
        mask = next(pair.mask_path for pair in pairs if pair.mask_path is not None)
        height, width = read_image_size(mask)
    except (InputError, StopIteration):
        return WORKER_BASE_BYTES  # it will fail fast, or has no mask to size it by
    return WORKER_BASE_BYTES + len(pairs) * height * width * BYTES_PER_PIXEL


def plan_workers(requested: int, estimates: Sequence[int], available: int) -> int:
    """How many categories may run at once: at most `requested`, and only as many of the largest as fit."""
    if requested < 1:
        raise InputError(f"--workers must be at least 1, got {requested}.")
    largest = max(estimates, default=WORKER_BASE_BYTES)
    return max(1, min(requested, len(estimates) or 1, available // max(largest, 1)))


def run_categories(
    jobs: Sequence[CategoryJob],
    options: EvaluateOptions,
    out: Path,
    *,
    overwrite: bool,
    workers: int,
    max_memory_bytes: int | None = None,
    on_done: Callable[[CategoryOutcome], None] | None = None,
) -> list[CategoryOutcome]:
    """Run every job, `workers` at a time in separate processes; outcomes keep the order of `jobs`.

    `max_memory_bytes` bounds each category (see `evaluate_category`).
    """
    out.mkdir(parents=True, exist_ok=True)
    outcomes: list[CategoryOutcome] = []
    if workers <= 1:
        for job in jobs:
            outcomes.append(run_category(job, options, out, overwrite, max_memory_bytes))
            if on_done is not None:
                on_done(outcomes[-1])
        return outcomes
    # spawn, not fork: the parent may hold threads (rich, numba) that fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_category, job, options, out, overwrite, max_memory_bytes) for job in jobs]
        for future in futures:
            outcomes.append(future.result())
            if on_done is not None:
                on_done(outcomes[-1])
    return outcomes


def _mean_row(keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``mean`` row: metrics averaged over the succeeded categories, counts summed, the rest empty."""
    succeeded = [row for row in rows if not row.get("error")]
    mean: dict[str, Any] = {}
    for key in keys:
        values = [row[key] for row in succeeded if isinstance(row.get(key), int | float)]
        if key == "category":
            mean[key] = "mean"
        elif key in NO_MEAN_KEYS or key == "error" or not values:
            mean[key] = None
        elif key in COUNT_KEYS:
            mean[key] = int(sum(values))
        else:
            mean[key] = float(np.mean(values))
    return mean


def dataset_rows(out: Path, outcomes: Sequence[CategoryOutcome], options: EvaluateOptions) -> list[dict[str, Any]]:
    """One row per category (sorted by name) from its ``summary.json``, an error row where it failed, then the
    ``mean`` row. Columns: the per-category summary keys in order, then ``error``."""
    keys = [*summary_keys(options.aupro_limits), "error"]
    rows = []
    for outcome in sorted(outcomes, key=lambda o: o.name):
        row: dict[str, Any] = dict.fromkeys(keys)
        row["category"] = outcome.name
        if outcome.status == "failed":
            row["error"] = outcome.error
        else:
            summary = json.loads((out / outcome.name / "summary.json").read_text(encoding="utf-8"))
            row.update({key: summary.get(key) for key in keys if key not in ("category", "error")})
        rows.append(row)
    return [*rows, _mean_row(keys, rows)]


def write_dataset_tables(out: Path, rows: Sequence[dict[str, Any]], outcomes: Sequence[CategoryOutcome]) -> None:
    """``summary.json``/``.csv``/``.md`` and the all-category ``per_image.parquet``, each replaced atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..report.writers import json_text, summary_csv, summary_markdown

    def replace(name: str, write: Callable[[Path], object]) -> None:
        temporary = out / f".{name}.tmp-{os.getpid()}"
        try:
            write(temporary)
            os.replace(temporary, out / name)
        finally:
            temporary.unlink(missing_ok=True)

    texts = {"summary.json": json_text(list(rows)), "summary.csv": summary_csv(rows), "summary.md": summary_markdown(rows)}
    for name, text in texts.items():
        replace(name, partial(Path.write_text, data=text, encoding="utf-8"))
    tables = []
    for outcome in sorted(outcomes, key=lambda o: o.name):
        if outcome.status == "failed":
            continue
        table = pq.read_table(out / outcome.name / "per_image.parquet")
        tables.append(table.add_column(0, "category", pa.array([outcome.name] * table.num_rows, pa.string())))
    if tables:
        replace("per_image.parquet", lambda path: pq.write_table(pa.concat_tables(tables), path, compression="zstd"))
    else:
        (out / "per_image.parquet").unlink(missing_ok=True)
