"""Evaluate every category of a dataset: the code path behind ``aupimo benchmark``.

Each category runs the same evaluation as ``aupimo evaluate`` (`evaluate_category` + `write_evaluation`)
into ``OUT/<category>/``. Runs are resumable: a category whose results exist with the same input
fingerprint and options is skipped. One failing category never loses the others; it gets an ``error`` cell
in the dataset tables, which are rebuilt from the per-category files on every run.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..compare.read import MEAN_CATEGORY, is_mean_row
from ..errors import InputError, listing
from ..io.discovery import split_filter
from ..io.readers import read_image_size
from ..metrics.registry import DELONG_KEYS, interval_of
from ..report.manifest import MANIFEST_FILE, Ownership, manifest_record, ownership, refuse_unsafe_target
from .calibrate import ThresholdPolicy, Thresholds, calibrate_folders, common_mask_shape, refuse_overlap
from .evaluate import (
    EvaluateOptions,
    evaluate_category,
    find_category_pairs,
    input_fingerprint,
    summary_keys,
    with_loco_defects,
    write_evaluation,
)

LAYOUTS: tuple[str, ...] = ("mvtec", "visa", "visa-raw", "mvtec-ad2", "mvtec-loco")
# Summary columns that are counts: summed in the dataset's mean row.
COUNT_KEYS = ("num_images", "num_normal", "num_anomalous")
# Summary columns left empty in the mean row: they are not comparable across categories.
NO_MEAN_KEYS = (
    "aupimo_std", "aupimo_q1", "aupimo_median", "aupimo_q3", "thresh_lower_bound", "thresh_upper_bound", "version",
    "pixel_f1max_threshold", "image_f1max_threshold", "image_threshold", "image_soft_threshold", "pixel_threshold",
)  # fmt: skip
# The command-line flag of each recorded option, for messages.
OPTION_FLAGS = {
    "metrics": "--metrics", "aupro_limits": "--aupro-limits", "fpr_bounds": "--fpr-bounds",
    "num_thresholds": "--num-thresholds", "normal_dirs": "--normal-dirs", "force": "--force",
    "oracle_rates": "--oracle-rates", "thresholds": "--val-maps-root/--thresholds-root and their rules",
}  # fmt: skip
# Memory a worker process needs besides its maps: the interpreter, numba, opencv, pyarrow (bytes).
WORKER_BASE_BYTES = 400 * 2**20
# Bytes per full-resolution pixel at the peak of `evaluate`: the float32 map, the bool mask, and the
# anomalous-pixel side data and sort work space, measured about 1.6x the maps' float32 size.
BYTES_PER_PIXEL = 7


@dataclass(frozen=True)
class CategoryJob:
    """Where one category's inputs are, for a given layout; `loco`: its ground truth must be MVTec LOCO's (one
    mask per defect, ``defects_config.json`` beside it), which every layout detects anyway."""

    name: str
    maps_root: Path
    masks_root: Path
    images_root: Path | None
    split_csv: Path | None = None
    loco: bool = False

    def keep(self) -> Callable[[str], bool] | None:
        """The filter of image keys for `find_pairs` (VisA's test split), or None for every image."""
        return None if self.split_csv is None else split_filter(self.split_csv, self.name)


@dataclass(frozen=True)
class ThresholdSource:
    """Where each category of a benchmark takes its thresholds from (DESIGN section 6): chosen now on its own
    validation maps (``--val-maps-root``, with `policy`), or read from a saved ``thresholds.json``
    (``--thresholds-root``, e.g. an earlier benchmark's folder); neither: no operating points."""

    val_maps_root: Path | None = None
    thresholds_root: Path | None = None
    policy: ThresholdPolicy = field(default_factory=ThresholdPolicy)

    def __post_init__(self) -> None:
        if self.val_maps_root is not None and self.thresholds_root is not None:
            raise InputError("give either --val-maps-root or --thresholds-root, not both")

    @property
    def active(self) -> bool:
        return self.val_maps_root is not None or self.thresholds_root is not None

    def to_json(self) -> dict[str, Any] | None:
        """What the benchmark's manifest records; None without thresholds."""
        if self.thresholds_root is not None:
            return {"thresholds_root": os.path.abspath(self.thresholds_root)}
        if self.val_maps_root is not None:
            return {"val_maps_root": os.path.abspath(self.val_maps_root), "policy": self.policy.to_json()}
        return None

    def validation_maps(self, job: CategoryJob) -> Path:
        """A category's validation maps: ``<root>/<category>/validation`` if it exists (MVTec AD 2's layout),
        else ``<root>/<category>``."""
        assert self.val_maps_root is not None
        folder = self.val_maps_root / job.name
        return folder / "validation" if (folder / "validation").is_dir() else folder

    def thresholds_for(self, job: CategoryJob, max_memory_bytes: int | None = None) -> Thresholds | None:
        """The category's thresholds, or None without a source.

        Raises:
            InputError: missing or bad validation maps or thresholds file, naming them.
        """
        if self.thresholds_root is not None:
            path = self.thresholds_root / job.name / "thresholds.json"
            if not path.is_file():
                raise InputError(
                    f"no thresholds for {job.name}: {path} does not exist (--thresholds-root holds "
                    "<category>/thresholds.json, as a benchmark folder run with --val-maps-root does)"
                )
            return Thresholds.load(path)
        if self.val_maps_root is None:
            return None
        val_maps = self.validation_maps(job)
        if not val_maps.is_dir():
            raise InputError(
                f"no validation maps for {job.name}: {val_maps} is not a folder (--val-maps-root holds "
                "<category>/validation/... or <category>/...)"
            )
        refuse_overlap(val_maps, job.maps_root)
        shape = common_mask_shape(job.masks_root)
        return calibrate_folders(
            val_maps,
            None,
            self.policy,
            default_shape=shape,
            resolution_source="" if shape is None else f"the test masks' ({shape[0]}x{shape[1]})",
            max_memory_bytes=max_memory_bytes,
        )


def benchmark_options(options: EvaluateOptions, source: ThresholdSource) -> dict[str, Any]:
    """The one set of options a benchmark folder holds: the evaluate options, with the thresholds' source in
    place of each category's own thresholds."""
    return {**options.to_json(), "thresholds": source.to_json()}


@dataclass
class CategoryOutcome:
    """What happened to one category: ``computed``, ``skipped`` (results up to date) or ``failed``."""

    name: str
    status: str
    error: str | None = None
    internal: bool = False
    notes: list[str] = field(default_factory=list)


def _job(maps_root: Path, dataset_root: Path, layout: str, name: str) -> CategoryJob:
    if layout == "mvtec-ad2":
        # MVTec AD 2's public test set: <object>/test_public/{good,bad}/<name>.png, the masks under
        # <object>/test_public/ground_truth/bad/<name>_mask.png; the maps mirror test_public.
        return CategoryJob(
            name,
            maps_root / name / "test_public",
            dataset_root / name / "test_public" / "ground_truth",
            dataset_root / name / "test_public",
        )
    if layout in ("mvtec", "visa", "mvtec-loco"):
        # MVTec LOCO: <category>/test/{good,logical_anomalies,structural_anomalies}/<id>.png, the ground truth as
        # <category>/ground_truth/<type>/<id>/<k>.png and <category>/defects_config.json.
        return CategoryJob(
            name,
            maps_root / name / "test",
            dataset_root / name / "ground_truth",
            dataset_root / name / "test",
            loco=layout == "mvtec-loco",
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
    marker = {"mvtec-ad2": ("test_public",), "visa-raw": ("Data", "Images")}.get(layout, ("test",))
    if categories:
        names = sorted(set(categories))
    else:
        names = sorted(
            entry.name
            for entry in maps_root.iterdir()
            if entry.is_dir() and not entry.name.startswith(".") and entry.joinpath(*marker).is_dir()
        )
    if not names:
        expected = {
            "visa-raw": "<category>/Data/Images/...",
            "mvtec-ad2": "<object>/test_public/{good,bad}/<name>.<ext>",
            "mvtec-loco": "<category>/test/{good,logical_anomalies,structural_anomalies}/<id>.<ext>",
        }.get(layout, "<category>/test/<defect>/<name>.<ext>")
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
    job: CategoryJob,
    options: EvaluateOptions,
    out: Path,
    overwrite: bool,
    max_memory_bytes: int | None = None,
    source: ThresholdSource | None = None,
) -> CategoryOutcome:
    """Evaluate one category into ``out/<name>``, or skip it when its stored results are up to date; with a
    threshold `source`, at the category's own thresholds.

    Never raises: failures are returned as the outcome, ``internal`` telling a bug from bad input.
    """
    folder = out / job.name
    try:
        thresholds = None if source is None else source.thresholds_for(job, max_memory_bytes)
        if thresholds is not None:
            options = dataclasses.replace(options, thresholds=thresholds)
        options = with_loco_defects(options, job.masks_root, required=job.loco)
        if folder.exists() and not overwrite:
            stored = _stored_provenance(folder)
            pairs = find_category_pairs(job.maps_root, job.masks_root, options, job.keep())
            fingerprint, _ = input_fingerprint(job.maps_root, job.masks_root, pairs)
            if (
                stored is not None
                and stored.get("fingerprint") == fingerprint
                and stored.get("options") == options.to_json()
            ):
                return CategoryOutcome(job.name, "skipped", notes=[f"{job.name}: results are up to date, skipped"])
            raise InputError(
                f"{folder} holds results of other inputs (the maps or masks changed since), or incomplete ones; its "
                "results are kept: pass --overwrite to recompute them"
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
        pairs = find_category_pairs(
            job.maps_root, job.masks_root, with_loco_defects(options, job.masks_root), job.keep()
        )
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
    source: ThresholdSource | None = None,
) -> list[CategoryOutcome]:
    """Run every job, `workers` at a time in separate processes; outcomes keep the order of `jobs`.

    `max_memory_bytes` bounds each category (see `evaluate_category`); `source` gives each its thresholds.
    """
    out.mkdir(parents=True, exist_ok=True)
    outcomes: list[CategoryOutcome] = []
    if workers <= 1:
        for job in jobs:
            outcomes.append(run_category(job, options, out, overwrite, max_memory_bytes, source))
            if on_done is not None:
                on_done(outcomes[-1])
        return outcomes
    # spawn, not fork: the parent may hold threads (rich, numba) that fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_category, job, options, out, overwrite, max_memory_bytes, source) for job in jobs]
        for future in futures:
            outcomes.append(future.result())
            if on_done is not None:
                on_done(outcomes[-1])
    return outcomes


def averages(key: str) -> bool:
    """Whether the mean row averages (or sums) `key`; thresholds, AUPIMO's spread, intervals and the version are
    left empty there."""
    return not (key in NO_MEAN_KEYS or key in DELONG_KEYS or interval_of(key) or key in ("error", "category"))


def _mean_row(keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The last row: metrics averaged over the categories with results, counts summed, the rest empty.

    Its category reads ``mean`` when every category has results, and ``mean (3 of 4)`` when it averages
    only some of them. The spread and quartiles of AUPIMO, the thresholds, the confidence intervals (an
    interval of the mean is not the mean of intervals) and the version do not average.
    """
    succeeded = [row for row in rows if not row.get("error")]
    mean: dict[str, Any] = {}
    for key in keys:
        values = [row[key] for row in succeeded if isinstance(row.get(key), int | float)]
        if key == "category":
            mean[key] = (
                MEAN_CATEGORY if len(succeeded) == len(rows) else f"{MEAN_CATEGORY} ({len(succeeded)} of {len(rows)})"
            )
        elif not averages(key) or not values:
            mean[key] = None
        elif key in COUNT_KEYS:
            mean[key] = int(sum(values))
        else:
            mean[key] = float(np.mean(values))
    return mean


def dataset_rows(
    out: Path, categories: Sequence[str], failed: dict[str, str], options: EvaluateOptions
) -> list[dict[str, Any]]:
    """The dataset table: one row per category (sorted by name) from ``out/<category>/summary.json``, an error
    row for each category of `failed` without results, then the mean row (`_mean_row`).

    Columns: the per-category summary keys in order, then ``error``.
    """
    summaries = {name: json.loads((out / name / "summary.json").read_text(encoding="utf-8")) for name in categories}
    params = options.key_params()
    # MVTec LOCO's categories (detected per category) add the sPRO keys of the options' limits.
    loco_params = {**params, "spro_limits": options.spro_limits}
    present = {key for summary in summaries.values() for key in summary}
    if any(key in present for key in set(summary_keys(loco_params)) - set(summary_keys(params))):
        params = loco_params
    keys = [*summary_keys(params), "error"]
    rows = []
    for name in sorted({*categories, *failed}):
        row: dict[str, Any] = dict.fromkeys(keys)
        row["category"] = name
        if name in categories:
            summary = summaries[name]
            row.update({key: summary.get(key) for key in keys if key not in ("category", "error")})
        else:
            row["error"] = failed[name]
        rows.append(row)
    return [*rows, _mean_row(keys, rows)]


def dataset_tables(out: Path, rows: Sequence[dict[str, Any]], categories: Sequence[str]) -> dict[str, bytes]:
    """The contents of the top-level tables: ``summary.json``/``.csv``/``.md`` from `rows`, and
    ``per_image.parquet`` (each category's rows, with a ``category`` column first) when some category has
    results. Deterministic: the same category folders give the same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..report.writers import json_text, summary_csv, summary_markdown

    tables = {
        "summary.json": json_text(list(rows)).encode(),
        "summary.csv": summary_csv(rows).encode(),
        "summary.md": summary_markdown(rows).encode(),
    }
    per_image = []
    for name in sorted(categories):
        table = pq.read_table(out / name / "per_image.parquet")
        per_image.append(table.add_column(0, "category", pa.array([name] * table.num_rows, pa.string())))
    if per_image:
        sink = pa.BufferOutputStream()
        pq.write_table(pa.concat_tables(per_image), sink, compression="zstd")
        tables["per_image.parquet"] = sink.getvalue().to_pybytes()
    return tables


def write_dataset_tables(out: Path, tables: dict[str, bytes], manifest: dict[str, Any]) -> None:
    """Replace the top-level tables and ``manifest.json`` of a benchmark folder.

    Every file is first written beside its target; only when all are written are they renamed into place,
    the manifest last, and a ``per_image.parquet`` this run has no rows for is removed.

    Raises:
        InputError: a file could not be written (disk full, permissions); then no table has changed.
    """
    from ..report.writers import json_text

    contents = {**tables, MANIFEST_FILE: json_text(manifest).encode()}
    temporary = {name: out / f".{name}.tmp-{os.getpid()}" for name in contents}
    try:
        for name, data in contents.items():
            with open(temporary[name], "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as error:
        for path in temporary.values():
            path.unlink(missing_ok=True)
        raise InputError(
            f"could not write the dataset tables in {out} ({error.strerror or error}); the tables were not changed, "
            "and each category folder holds its own results: free disk space or fix the permissions, then re-run "
            "(categories already up to date are skipped)"
        ) from error
    for name in contents:
        if name != MANIFEST_FILE:
            os.replace(temporary[name], out / name)
    if "per_image.parquet" not in contents:
        (out / "per_image.parquet").unlink(missing_ok=True)
    os.replace(temporary[MANIFEST_FILE], out / MANIFEST_FILE)


def benchmark_manifest(
    tables: Sequence[str],
    categories: Sequence[str],
    failed: dict[str, str],
    options: dict[str, Any],
    inputs: dict[str, str],
) -> dict[str, Any]:
    """The top-level ``manifest.json``: its table files, its category folders (each with a manifest of its own),
    the categories that failed without results, and the one set of options every category was computed with."""
    return manifest_record(
        "benchmark",
        [*tables, MANIFEST_FILE],
        categories=sorted(categories),
        failed=dict(sorted(failed.items())),
        options=options,
        inputs=inputs,
    )


@dataclass
class BenchmarkFolder:
    """What a benchmark folder held before this run: its categories with results and its failed categories."""

    categories: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] | None = None


def _stored_state(out: Path, held: Ownership) -> BenchmarkFolder:
    """The categories, failures and options a benchmark folder records (version 0.1.0: from its rows)."""
    if held.manifest is not None:
        return BenchmarkFolder(
            [str(name) for name in held.manifest.get("categories") or []],
            {str(k): str(v) for k, v in (held.manifest.get("failed") or {}).items()},
            held.manifest.get("options"),
        )
    state = BenchmarkFolder()
    try:
        rows = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        rows = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or not isinstance(row.get("category"), str) or is_mean_row(row):
            continue
        if row.get("error"):
            state.failed[row["category"]] = str(row["error"])
        elif _stored_provenance(out / row["category"]) is not None:
            state.categories.append(row["category"])
    for name in state.categories:
        stored = _stored_provenance(out / name)
        if stored is not None:
            state.options = stored.get("options")
            break
    return state


def _option_differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [
        f"{OPTION_FLAGS.get(key, key)} {_format_option(stored.get(key))} (now {_format_option(wanted.get(key))})"
        for key in wanted
        if stored.get(key) != wanted.get(key)
    ]


def _format_option(value: Any) -> str:
    if isinstance(value, dict):
        # The thresholds' source and its policy: the values set, flattened.
        parts = [_format_option(item) if key == "policy" else f"{key}={_format_option(item)}"
                 for key, item in value.items() if item not in (None, False)]  # fmt: skip
        return " ".join(parts)
    if isinstance(value, list):
        return ",".join(f"{item:g}" if isinstance(item, float) else str(item) for item in value)
    return str(value)


def prepare_output(
    out: Path,
    jobs: Sequence[CategoryJob],
    options: EvaluateOptions,
    inputs: Sequence[Path],
    *,
    overwrite: bool,
    source: ThresholdSource | None = None,
) -> BenchmarkFolder:
    """Check, before any work, that this run may write into `out`; returns what the folder held.

    - `out` is never an input, a folder holding one, the current, home or root folder (`refuse_unsafe_target`);
    - an existing `out` must be empty or a benchmark folder written by aupimo;
    - a benchmark folder holds one set of options: other options are refused without `overwrite`, and with it
      when categories outside this run would keep the old ones;
    - with `overwrite`, every category folder this run replaces must hold nothing but aupimo's results.

    Raises:
        InputError: naming the folder, what is in the way, and the fix; nothing has been changed.
    """
    refuse_unsafe_target(out, inputs)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder; choose another --out.")
    held = ownership(out)
    if held.kind is None and held.foreign:
        raise InputError(
            f"--out {out} is not a benchmark results folder: it holds {len(held.foreign)} file(s) that aupimo did not "
            f"write ({listing(held.foreign)}); choose a new or empty --out (nothing was changed)"
        )
    if held.kind not in (None, "benchmark"):
        raise InputError(
            f"--out {out} is an aupimo {held.kind} folder, not a benchmark folder; choose another --out (nothing was "
            "changed)"
        )
    state = _stored_state(out, held) if held.kind == "benchmark" else BenchmarkFolder()
    wanted = benchmark_options(options, source or ThresholdSource())
    # A folder of version 0.2.0 records no thresholds: the same as none.
    if state.options is not None and {"thresholds": None, **state.options} != wanted:
        differences = "; ".join(_option_differences(state.options, wanted))
        if not overwrite:
            raise InputError(
                f"{out} holds results computed with other options: {differences}. A benchmark folder holds one set of "
                "options: pass --overwrite to recompute every category with the new ones, or choose another --out "
                "(nothing was changed)"
            )
        kept = sorted(set(state.categories) - {job.name for job in jobs})
        if kept:
            raise InputError(
                f"{out} holds results computed with other options ({differences}), and --overwrite would recompute "
                f"only some categories, leaving {listing(kept)} with the old options: run every category (drop "
                "--categories) or choose another --out (nothing was changed)"
            )
    if overwrite:
        in_the_way = []
        for job in jobs:
            sub = ownership(out / job.name)
            in_the_way += [f"{job.name}/{name}" for name in sub.foreign]
        if in_the_way:
            raise InputError(
                f"--overwrite would replace category folders in {out} that hold files aupimo did not write: "
                f"{listing(sorted(in_the_way))}; move them away or choose another --out (nothing was changed)"
            )
    return state


def has_results(folder: Path) -> bool:
    """Whether `folder` holds a complete evaluate result set (its provenance and summary are readable)."""
    return _stored_provenance(folder) is not None and (folder / "per_image.parquet").is_file()


def finish_benchmark(
    out: Path,
    state: BenchmarkFolder,
    outcomes: Sequence[CategoryOutcome],
    options: EvaluateOptions,
    inputs: dict[str, str],
    source: ThresholdSource | None = None,
) -> list[dict[str, Any]]:
    """Rebuild and write the top-level tables and manifest after a run; returns the rows.

    A category that failed in this run but holds earlier results (with the same options) keeps them and its
    row; one that failed without results gets an error row. Categories this run did not touch keep their rows.
    """
    categories = set(state.categories)
    failed = dict(state.failed)
    for outcome in outcomes:
        if has_results(out / outcome.name):
            categories.add(outcome.name)
            failed.pop(outcome.name, None)
        else:
            categories.discard(outcome.name)
            failed[outcome.name] = outcome.error or "failed"
    categories = {name for name in categories if has_results(out / name)}
    rows = dataset_rows(out, sorted(categories), failed, options)
    tables = dataset_tables(out, rows, sorted(categories))
    recorded = benchmark_options(options, source or ThresholdSource())
    write_dataset_tables(out, tables, benchmark_manifest(list(tables), sorted(categories), failed, recorded, inputs))
    return rows
