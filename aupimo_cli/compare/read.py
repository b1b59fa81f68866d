"""Reading the result folders `compare` takes: one ``evaluate`` folder or one ``benchmark`` folder per model.

Every category read is checked: its summary must agree with its per-image file (`consistency`), and its
result-affecting options are read from its ``provenance.json`` (`options.RunOptions`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.discovery import image_key
from ..metrics.registry import PER_IMAGE_AUPIMO
from .consistency import summary_disagreements
from .options import RunOptions

MEAN_CATEGORY = "mean"
"""The pseudo-category of the tables holding each metric's mean over the compared categories, and the first word
of a benchmark's mean row."""


@dataclass
class CategoryResult:
    """One model's results on one category.

    Attributes:
        summary: its ``summary.json`` object.
        aupimos: the anomalous images' AUPIMO by image key (`image_key` of the path), None where missing.
        folder: the category's folder.
        options: its result-affecting options, from ``provenance.json``.
    """

    summary: dict[str, Any]
    aupimos: dict[str, float | None]
    folder: Path
    options: RunOptions = field(default_factory=RunOptions)


@dataclass
class ModelResults:
    """One model's result folder, read: its categories with results, and the ones that failed."""

    name: str
    folder: Path
    categories: dict[str, CategoryResult]
    failed: dict[str, str] = field(default_factory=dict)


def _not_results(folder: Path, why: str) -> InputError:
    return InputError(
        f"{folder} must be an `aupimo evaluate` or `aupimo benchmark` output folder ({why}); pass the folder "
        "that holds summary.json."
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Cannot read {path}: {error}.") from error
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not valid JSON ({error}); re-run the evaluation that wrote it.") from error


def _finite_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def read_category(folder: Path, expected: str | None = None) -> CategoryResult:
    """Read and check one evaluate-layout folder: ``summary.json``, ``per_image.parquet``, ``provenance.json``.

    Raises:
        InputError: a file is missing or unreadable, the category name is not the expected one, two anomalous
            images share a key, or the summary disagrees with the per-image file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise _not_results(folder, "no summary.json")
    summary = _read_json(summary_path)
    if not isinstance(summary, dict) or not isinstance(summary.get("category"), str):
        raise _not_results(folder, f"{summary_path} is not a summary object with a 'category'")
    if expected is not None and summary["category"] != expected:
        raise InputError(
            f"{summary_path} names category {summary['category']!r}, but the benchmark lists it as {expected!r}; "
            "re-run the benchmark."
        )
    parquet_path = folder / "per_image.parquet"
    if not parquet_path.is_file():
        raise _not_results(folder, "no per_image.parquet")
    try:
        columns = pq.read_table(parquet_path).to_pydict()
    except (OSError, pa.ArrowException) as error:
        raise InputError(f"Cannot read {parquet_path}: {error}; re-run the evaluation that wrote it.") from error
    missing = [name for name in ("path", "label", PER_IMAGE_AUPIMO, "image_score") if name not in columns]
    if missing:
        raise InputError(f"{parquet_path} lacks the column(s) {', '.join(missing)}; re-run the evaluation.")
    disagreements = summary_disagreements(summary, columns)
    if disagreements:
        raise InputError(
            f"{summary_path} disagrees with {parquet_path.name}: {'; '.join(disagreements)}; the folder was edited "
            "or damaged after it was written: re-run the evaluation (aupimo check tells what else differs)"
        )
    aupimos: dict[str, float | None] = {}
    for path, label, value in zip(columns["path"], columns["label"], columns[PER_IMAGE_AUPIMO], strict=True):
        if label != 1:
            continue
        key = image_key(str(path))
        if key in aupimos:
            raise InputError(f"{parquet_path}: two anomalous images share the path {key!r} without extension.")
        aupimos[key] = _finite_or_none(value)
    provenance_path = folder / "provenance.json"
    provenance = _read_json(provenance_path) if provenance_path.is_file() else {}
    options = RunOptions.from_provenance(provenance if isinstance(provenance, dict) else {})
    return CategoryResult(summary=summary, aupimos=aupimos, folder=folder, options=options)


def is_mean_row(row: Any) -> bool:
    """Whether a row of a benchmark's ``summary.json`` is its mean row (``mean``, or ``mean (3 of 4)``)."""
    category = row.get("category") if isinstance(row, dict) else None
    return isinstance(category, str) and (category == MEAN_CATEGORY or category.startswith(MEAN_CATEGORY + " ("))


def read_results(folder: Path, name: str) -> ModelResults:
    """Read one model's ``aupimo evaluate`` or ``aupimo benchmark`` output folder.

    A benchmark's mean row and the rows whose ``error`` is non-empty are left out (the latter are kept in
    `ModelResults.failed`).

    Raises:
        InputError: the folder is neither kind of output, or one of its files is unreadable or inconsistent.
    """
    if not folder.is_dir():
        raise _not_results(folder, "not a folder" if folder.exists() else "it does not exist")
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise _not_results(folder, "no summary.json")
    summary = _read_json(summary_path)
    if isinstance(summary, dict):
        result = read_category(folder)
        return ModelResults(name, folder, {result.summary["category"]: result})
    if not isinstance(summary, list):
        raise _not_results(folder, f"{summary_path} is neither an object nor a list of rows")
    categories: dict[str, CategoryResult] = {}
    failed: dict[str, str] = {}
    for row in summary:
        if not isinstance(row, dict) or not isinstance(row.get("category"), str):
            raise _not_results(folder, f"{summary_path} holds a row without a 'category'")
        if is_mean_row(row):
            continue
        category = row["category"]
        if row.get("error"):
            failed[category] = str(row["error"])
            continue
        sub = folder / category
        if not (sub / "summary.json").is_file():
            raise InputError(
                f"{summary_path} lists category {category!r}, but {sub}/summary.json is missing; re-run the benchmark."
            )
        categories[category] = read_category(sub, expected=category)
    return ModelResults(name, folder, categories, failed)


def model_names(result_dirs: Sequence[Path], names: Sequence[str] | None) -> list[str]:
    """The model names: `names`, or the folders' basenames.

    Raises:
        InputError: the counts differ, a name is empty or repeated, or two basenames collide.
    """
    if names is not None:
        names = [name.strip() for name in names]
        if len(names) != len(result_dirs):
            raise InputError(
                f"--names: got {len(names)} name(s) for {len(result_dirs)} RESULTS folder(s); give one per folder."
            )
        if any(not name for name in names):
            raise InputError("--names: names must not be empty.")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise InputError(f"--names: {', '.join(repeated)} given more than once; names must be distinct.")
        return list(names)
    basenames = [Path(os.path.abspath(folder)).name for folder in result_dirs]
    for index, name in enumerate(basenames):
        others = [result_dirs[j] for j in range(index + 1, len(basenames)) if basenames[j] == name]
        if others:
            raise InputError(
                f"RESULTS folders {result_dirs[index]} and {others[0]} have the same name {name!r}; "
                "name the models with --names a,b,..."
            )
    return basenames
