"""``aupimo check DIR``: recompute stored results from the inputs and options in their provenance.json.

Every result file is regenerated into a temporary folder with the recorded options and compared byte for
byte with the stored one; where they differ, the differing keys, rows or lines are listed, for every kind of
file. Each summary is also checked against its per-image file. A benchmark folder is checked category by
category, and its top-level tables against its category folders. Inputs that moved since the results were
computed are given with `maps`, `masks` and `images` (the roots a benchmark was run with, for a benchmark).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..compare.consistency import summary_disagreements
from ..compare.read import is_mean_row
from ..errors import InputError
from ..io.loco import DefectsConfig
from ..metrics.registry import DEFAULT_ORACLE_RATES, PER_IMAGE_AUPIMO
from ..metrics.spro import DEFAULT_SPRO_LIMITS
from ..report.manifest import PROVENANCE_FILE, read_manifest
from .calibrate import Thresholds
from .evaluate import EvaluateOptions, evaluate_category, write_evaluation

_MAX_SHOWN = 5
# The provenance entries that name where the inputs were; they change when the inputs move.
_INPUT_ROOTS = ("maps", "masks", "images", "split_csv")


@dataclass
class CheckReport:
    """What `check_results` found: the folders checked and, per folder, what differs (empty: reproduced)."""

    checked: list[Path] = field(default_factory=list)
    differences: dict[Path, list[str]] = field(default_factory=dict)

    @property
    def reproduced(self) -> bool:
        """Whether nothing differs anywhere."""
        return not any(self.differences.values())


@dataclass(frozen=True)
class MovedInputs:
    """Where inputs are now, if they moved since the results were computed (None: where recorded).

    For an evaluate folder, the MAPS, MASKS and images folders; for a benchmark folder, its MAPS_ROOT and
    DATASET_ROOT (`masks`), under which every category's folders are found as they were.
    """

    maps: Path | None = None
    masks: Path | None = None
    images: Path | None = None

    @property
    def any(self) -> bool:
        """Whether some input moved."""
        return any(path is not None for path in (self.maps, self.masks, self.images))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} is missing: {path.parent} is not a complete aupimo results folder") from None
    except (OSError, ValueError) as error:
        raise InputError(f"{path} cannot be read ({error}): the results folder is damaged") from None


def _options(provenance: dict[str, Any], path: Path) -> EvaluateOptions:
    try:
        stored = provenance["options"]
        # Results of version 0.2.0 have no oracle rates (nor the metric) and no thresholds.
        thresholds = stored.get("thresholds")
        defects = stored.get("defects_config")
        return EvaluateOptions(
            metrics=tuple(stored["metrics"]),
            aupro_limits=tuple(stored["aupro_limits"]),
            fpr_bounds=(stored["fpr_bounds"][0], stored["fpr_bounds"][1]),
            num_thresholds=int(stored["num_thresholds"]),
            normal_dirs=tuple(stored["normal_dirs"]),
            force=bool(stored["force"]),
            oracle_rates=tuple(stored.get("oracle_rates", DEFAULT_ORACLE_RATES)),
            # The thresholds recorded are reused as they are: check recomputes, it does not recalibrate.
            thresholds=None if thresholds is None else Thresholds.from_json(thresholds, str(path)),
            # The bootstrap's scheme (replicates, seed, level) reproduces its replicates exactly.
            bootstrap=int(stored.get("bootstrap", 0)),
            ci_level=float(stored.get("ci_level", 0.95)),
            seed=int(stored.get("seed", 0)),
            bootstrap_pixel_ap=bool(stored.get("bootstrap_pixel_ap", False)),
            # MVTec LOCO's results record the sPRO limits and the defect types they were computed with.
            spro_limits=tuple(stored.get("spro_limits", DEFAULT_SPRO_LIMITS)),
            defects=None if defects is None else DefectsConfig.from_json(defects, f"{path} (defects_config)"),
        )
    except (KeyError, TypeError, IndexError) as error:
        raise InputError(f"{path} has no complete 'options' record ({error}): it was not written by aupimo") from None


def _files(folder: Path, ignore: Sequence[str] = ()) -> dict[str, bytes]:
    return {
        name: path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and (name := path.relative_to(folder).as_posix()) not in ignore
    }


# ----------------------------------------------------------------------------------------------------------
# What differs between two versions of a file.
# ----------------------------------------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested JSON as dotted keys; a list of rows with a ``category`` is keyed by category, other lists by index."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value and all(isinstance(row, dict) and "category" in row for row in value):
        flat = {}
        for row in value:
            flat.update(_flatten(row, f"{prefix}[{row['category']}]"))
        return flat
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        flat = {}
        for index, item in enumerate(value):
            flat.update(_flatten(item, f"{prefix}[{index}]"))
        return flat
    return {prefix: value}


def _limited(lines: list[str], name: str) -> list[str]:
    if len(lines) > _MAX_SHOWN:
        return [*lines[:_MAX_SHOWN], f"{name}: and {len(lines) - _MAX_SHOWN} more differences"]
    return lines


def _json_differences(name: str, stored: bytes, fresh: bytes) -> list[str]:
    try:
        old, new = _flatten(json.loads(stored)), _flatten(json.loads(fresh))
    except ValueError:
        return _text_differences(name, stored, fresh)
    lines = [
        f"{name} {key}: stored {old.get(key)!r}, recomputed {new.get(key)!r}"
        for key in dict.fromkeys([*old, *new])
        if old.get(key) != new.get(key) or (key in old) != (key in new)
    ]
    return _limited(lines, name) or [f"{name}: same values, but the bytes differ (formatting)"]


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def _parquet_differences(name: str, stored: bytes, fresh: bytes) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        old = pq.read_table(pa.BufferReader(stored)).to_pydict()
    except (OSError, pa.ArrowException) as error:
        return [f"{name}: the stored file cannot be read ({error})"]
    new = pq.read_table(pa.BufferReader(fresh)).to_pydict()
    lines = []
    if list(old) != list(new):
        lines.append(f"{name} columns: stored {list(old)}, recomputed {list(new)}")
    rows_old = len(next(iter(old.values()), []))
    rows_new = len(next(iter(new.values()), []))
    if rows_old != rows_new:
        lines.append(f"{name}: stored {rows_old} rows, recomputed {rows_new}")
    labels = new.get("path") or [str(index) for index in range(rows_new)]
    for column in new:
        if column not in old:
            continue
        for index, (a, b) in enumerate(zip(old[column], new[column], strict=False)):
            if not _same(a, b):
                lines.append(f"{name} {column}, row {index} ({labels[index]}): stored {a!r}, recomputed {b!r}")
    return _limited(lines, name) or [f"{name}: same values, but the bytes differ (encoding)"]


def _csv_differences(name: str, stored: bytes, fresh: bytes) -> list[str]:
    old = list(csv.reader(io.StringIO(stored.decode("utf-8", errors="replace"))))
    new = list(csv.reader(io.StringIO(fresh.decode("utf-8", errors="replace"))))
    if not old or not new or old[0] != new[0]:
        return _text_differences(name, stored, fresh)
    header = new[0]
    lines = []
    for index in range(1, max(len(old), len(new))):
        a = old[index] if index < len(old) else []
        b = new[index] if index < len(new) else []
        row = (b or a)[0] if (b or a) else str(index)
        for column, key in enumerate(header):
            cell_a = a[column] if column < len(a) else None
            cell_b = b[column] if column < len(b) else None
            if cell_a != cell_b:
                lines.append(f"{name} {key} (row {row}): stored {cell_a!r}, recomputed {cell_b!r}")
    return _limited(lines, name) or [f"{name}: same cells, but the bytes differ (formatting)"]


def _text_differences(name: str, stored: bytes, fresh: bytes) -> list[str]:
    old = stored.decode("utf-8", errors="replace").splitlines()
    new = fresh.decode("utf-8", errors="replace").splitlines()
    lines = [
        f"{name} line {index + 1}: stored {a!r}, recomputed {b!r}"
        for index in range(max(len(old), len(new)))
        if (a := old[index] if index < len(old) else None) != (b := new[index] if index < len(new) else None)
    ]
    return _limited(lines, name) or [f"{name}: bytes differ (line endings)"]


_DESCRIBERS: dict[str, Callable[[str, bytes, bytes], list[str]]] = {
    ".json": _json_differences,
    ".parquet": _parquet_differences,
    ".csv": _csv_differences,
    ".md": _text_differences,
}


def describe_differences(name: str, stored: bytes, fresh: bytes) -> list[str]:
    """What differs between the stored and the recomputed version of a result file, one line per difference
    (JSON keys, Parquet cells, CSV cells, text lines; at most five per file, then a count)."""
    if stored == fresh:
        return []
    describe = _DESCRIBERS.get(os.path.splitext(name)[1])
    return describe(name, stored, fresh) if describe else [f"{name}: bytes differ"]


def compare_files(stored: dict[str, bytes], fresh: dict[str, bytes]) -> list[str]:
    """Every difference between two sets of result files (relative name -> bytes)."""
    differences = []
    for name in sorted(set(stored) | set(fresh)):
        if name not in fresh:
            differences.append(f"{name}: stored, but not produced by the recomputation")
        elif name not in stored:
            differences.append(f"{name}: missing from the stored results")
        else:
            differences += describe_differences(name, stored[name], fresh[name])
    return differences


# ----------------------------------------------------------------------------------------------------------
# Checking folders.
# ----------------------------------------------------------------------------------------------------------


def _consistency(folder: Path) -> list[str]:
    """Where ``summary.json`` disagrees with ``per_image.parquet`` of one evaluate folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    summary = _read_json(folder / "summary.json")
    try:
        columns = pq.read_table(folder / "per_image.parquet").to_pydict()
    except (OSError, pa.ArrowException) as error:
        return [f"per_image.parquet cannot be read ({error})"]
    if not isinstance(summary, dict) or not {"label", PER_IMAGE_AUPIMO, "image_score"} <= set(columns):
        return ["summary.json or per_image.parquet lacks the values a summary is checked with"]
    return [
        f"summary.json disagrees with per_image.parquet: {line}" for line in summary_disagreements(summary, columns)
    ]


def _without_added(provenance: dict[str, Any], forget_roots: bool) -> dict[str, Any]:
    """A provenance record without what may legitimately change: files added later, and moved input roots."""
    record = json.loads(json.dumps(provenance))
    if isinstance(record.get("manifest"), dict):
        record["manifest"].pop("added", None)
    if forget_roots and isinstance(record.get("inputs"), dict):
        for key in _INPUT_ROOTS:
            record["inputs"].pop(key, None)
    return record


def check_category(folder: Path, moved: MovedInputs | None = None) -> list[str]:
    """Recompute one evaluate folder; returns what differs (empty when every file is byte-identical and the
    summary agrees with the per-image file).

    Args:
        folder: the evaluate results folder.
        moved: where the inputs are now, if they moved (the recorded roots otherwise).

    Raises:
        InputError: the folder is not a results folder, or the inputs are missing or unreadable.
    """
    moved = moved or MovedInputs()
    provenance = _read_json(folder / PROVENANCE_FILE)
    summary = _read_json(folder / "summary.json")
    options = _options(provenance, folder / PROVENANCE_FILE)
    inputs = provenance.get("inputs", {})
    roots: dict[str, str | None] = {key: inputs.get(key) for key in _INPUT_ROOTS}
    for key in ("maps", "masks", "images"):
        if getattr(moved, key) is not None:
            roots[key] = os.path.abspath(getattr(moved, key))
    for key, option in (("maps", "--maps"), ("masks", "--masks")):
        root = roots[key]
        if not root or not Path(root).is_dir():
            raise InputError(
                f"the {key} folder recorded in {folder / PROVENANCE_FILE} ({root}) is missing: if the inputs moved, "
                f"give their new place with {option} (and --images if one was used)"
            )

    def optional(key: str) -> Path | None:
        root = roots[key]
        return Path(root) if root else None

    evaluation = evaluate_category(
        Path(str(roots["maps"])),
        Path(str(roots["masks"])),
        options,
        images_root=optional("images"),
        category=summary.get("category") if isinstance(summary, dict) else None,
        split_csv=optional("split_csv"),
    )
    manifest = read_manifest(folder) or {}
    added = [str(name) for name in manifest.get("added") or []]
    with tempfile.TemporaryDirectory(prefix="aupimo-check-") as scratch:
        fresh_folder = write_evaluation(evaluation, Path(scratch) / "results", overwrite=False)
        fresh = _files(fresh_folder)
    stored = _files(folder, ignore=added)
    # provenance.json may differ only where the inputs moved, or by files added to the manifest later.
    fresh_provenance = json.loads(fresh.pop(PROVENANCE_FILE))
    stored_provenance = stored.pop(PROVENANCE_FILE, b"")
    differences = compare_files(stored, fresh)
    try:
        stored_record = json.loads(stored_provenance)
    except ValueError:
        stored_record = None
    if not isinstance(stored_record, dict):
        differences.append(f"{PROVENANCE_FILE}: missing or unreadable in the stored results")
    else:
        old = _without_added(stored_record, moved.any)
        new = _without_added(fresh_provenance, moved.any)
        if old != new:
            differences += _json_differences(PROVENANCE_FILE, json.dumps(old).encode(), json.dumps(new).encode())
    differences += _consistency(folder)
    return differences


def _rebased(path: str | None, old_root: str | None, new_root: Path | None) -> Path | None:
    """`path` moved from under `old_root` to under `new_root` (unchanged when no new root is given)."""
    if path is None or new_root is None:
        return None
    if old_root is None or not Path(path).is_relative_to(old_root):
        raise InputError(
            f"cannot tell where {path} is under the new root {new_root}: the benchmark folder does not record its "
            "roots (written by aupimo 0.1.0); re-run the benchmark with this version, or check each category folder "
            "with its own --maps and --masks"
        )
    return new_root / Path(path).relative_to(old_root)


def _benchmark_state(folder: Path) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """(categories with results, failed categories with their errors, recorded roots) of a benchmark folder."""
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("kind") == "benchmark":
        failed = {str(k): str(v) for k, v in (manifest.get("failed") or {}).items()}
        return [str(c) for c in manifest.get("categories") or []], failed, dict(manifest.get("inputs") or {})
    rows = _read_json(folder / "summary.json")
    categories = [row["category"] for row in rows if not is_mean_row(row) and not row.get("error")]
    failed = {row["category"]: str(row["error"]) for row in rows if not is_mean_row(row) and row.get("error")}
    return categories, failed, {}


def check_benchmark_tables(folder: Path, categories: Sequence[str], failed: dict[str, str]) -> list[str]:
    """Where the top-level tables of a benchmark folder disagree with its category folders."""
    from .benchmark import dataset_rows, dataset_tables

    try:
        provenance = _read_json(folder / categories[0] / PROVENANCE_FILE) if categories else {}
        options = _options(provenance, folder / categories[0] / PROVENANCE_FILE) if categories else EvaluateOptions()
        rows = dataset_rows(folder, categories, failed, options)
        fresh = dataset_tables(folder, rows, categories)
    except (OSError, ValueError, KeyError) as error:
        return [f"the top-level tables cannot be rebuilt from the category folders ({error})"]
    stored = {name: (folder / name).read_bytes() for name in fresh if (folder / name).is_file()}
    if not categories and (folder / "per_image.parquet").is_file():
        stored["per_image.parquet"] = (folder / "per_image.parquet").read_bytes()
    lines = compare_files(stored, fresh)
    return [f"top-level tables disagree with the category folders: {line}" for line in lines]


def check_results(folder: Path, moved: MovedInputs | None = None) -> CheckReport:
    """Check an evaluate folder, or every category and the top-level tables of a benchmark folder.

    Raises:
        InputError: the folder is not a results folder, or inputs are missing (see `check_category`).
    """
    moved = moved or MovedInputs()
    summary = _read_json(folder / "summary.json")
    report = CheckReport()
    if not isinstance(summary, list):
        report.checked.append(folder)
        report.differences[folder] = check_category(folder, moved)
        return report
    categories, failed, roots = _benchmark_state(folder)
    for name in categories:
        category_folder = folder / name
        category_moved = moved
        if moved.any:
            inputs = _read_json(category_folder / PROVENANCE_FILE).get("inputs", {})
            category_moved = MovedInputs(
                _rebased(inputs.get("maps"), roots.get("maps_root"), moved.maps),
                _rebased(inputs.get("masks"), roots.get("dataset_root"), moved.masks),
                _rebased(inputs.get("images"), roots.get("dataset_root"), moved.masks),
            )
        report.checked.append(category_folder)
        report.differences[category_folder] = check_category(category_folder, category_moved)
    report.checked.append(folder)
    report.differences[folder] = check_benchmark_tables(folder, categories, failed)
    return report
