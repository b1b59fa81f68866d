"""Reading the result folders `compare` takes, one per model, of any of these kinds, mixed freely:

- an ``aupimo evaluate`` folder (one category) or an ``aupimo benchmark`` folder (many);
- a folder in the AUPIMO paper's published layout: ``<category>/aupimo/aupimos.json`` with the ``{"value": ...}``
  files ``auroc.json``, ``aupro.json`` (and ``aupro_05.json``), possibly under dataset folders
  (``<model>/mvtec/bottle/...``), or one such category folder itself;
- a folder of dataset folders, each an ``evaluate``/``benchmark`` folder or in the paper's layout.

Every category of ours is checked: its summary must agree with its per-image file (`consistency`), and its
result-affecting options are read from its ``provenance.json`` (`options.RunOptions`). A folder in the paper's
layout has no provenance (DESIGN section 8): its FPR bounds come from ``aupimos.json`` and the rest is *not
recorded*; its ``aupr.json`` (anomalib's trapezoid AUPR) is never read as AP, and its AUROC and AUPRO carry
their source (anomalib, 2024, before its AUPRO fix).

Images are matched across models by their trailing ``<defect>/<name>`` without extension
(`trailing_image_key`), so the paper's ``MVTec/bottle/test/broken_large/000.png`` matches our
``broken_large/000.tiff``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.discovery import image_key
from ..metrics.registry import PER_IMAGE_AUPIMO
from .consistency import summary_disagreements
from .options import RunOptions

PAPER_SOURCE = "AUPIMO paper (anomalib, 2024)"
"""The source of the values read from a folder in the AUPIMO paper's layout (DESIGN section 8)."""

OUR_SOURCE = "aupimo"

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
        options: its result-affecting options, from ``provenance.json`` (or ``aupimos.json`` in the paper's
            layout).
        source: where its values come from: `OUR_SOURCE`, or `PAPER_SOURCE` for the paper's layout.
        dataset_hint: the name of the dataset folder it was found in (``mvtec``), if any.
        paths: the anomalous images' original paths by image key, for messages.
    """

    summary: dict[str, Any]
    aupimos: dict[str, float | None]
    folder: Path
    options: RunOptions = field(default_factory=RunOptions)
    source: str = OUR_SOURCE
    dataset_hint: str | None = None
    paths: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelResults:
    """One model's result folder, read: its categories with results, and the ones that failed."""

    name: str
    folder: Path
    categories: dict[str, CategoryResult]
    failed: dict[str, str] = field(default_factory=dict)


def _not_results(folder: Path, why: str) -> InputError:
    return InputError(
        f"{folder} must be an `aupimo evaluate` or `aupimo benchmark` output folder, or a folder in the AUPIMO "
        f"paper's layout (<category>/aupimo/aupimos.json) ({why}); pass the folder that holds summary.json or "
        "the category folders."
    )


def trailing_image_key(path: str) -> str:
    """The key that matches an image across models: its trailing ``<defect>/<name>``, without extension.

    Examples:
        >>> trailing_image_key("MVTec/bottle/test/broken_large/000.png")
        'broken_large/000'
        >>> trailing_image_key("broken_large/000.tiff"), trailing_image_key("Anomaly/000.JPG.npy")
        ('broken_large/000', 'Anomaly/000')
    """
    parts = image_key(path.replace("\\", "/")).split("/")
    return "/".join(parts[-2:])


def _add_image(aupimos: dict[str, float | None], paths: dict[str, str], path: str, value: Any, where: Path) -> None:
    key = trailing_image_key(path)
    if key in aupimos:
        raise InputError(
            f"{where}: the anomalous images {paths[key]!r} and {path!r} both end in {key!r}, so images cannot be "
            "matched across models by their <defect>/<name>; rename one of them"
        )
    aupimos[key] = _finite_or_none(value)
    paths[key] = path


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
    paths: dict[str, str] = {}
    for path, label, value in zip(columns["path"], columns["label"], columns[PER_IMAGE_AUPIMO], strict=True):
        if label == 1:
            _add_image(aupimos, paths, str(path), value, parquet_path)
    provenance_path = folder / "provenance.json"
    provenance = _read_json(provenance_path) if provenance_path.is_file() else {}
    options = RunOptions.from_provenance(provenance if isinstance(provenance, dict) else {})
    return CategoryResult(summary=summary, aupimos=aupimos, folder=folder, options=options, paths=paths)


PAPER_VALUE_FILES = {"pixel_auroc": "auroc.json", "aupro_30": "aupro.json", "aupro_05": "aupro_05.json"}
"""The paper layout's value files and the summary keys they fill; ``aupr.json`` is anomalib's trapezoid AUPR, not
AP, and is not read (DESIGN section 8)."""


def is_paper_category(folder: Path) -> bool:
    """Whether `folder` is a category in the AUPIMO paper's layout (it holds ``aupimo/aupimos.json``)."""
    return (folder / "aupimo" / "aupimos.json").is_file() and not (folder / "summary.json").exists()


def read_paper_category(folder: Path, dataset_hint: str | None = None) -> CategoryResult:
    """Read one category in the AUPIMO paper's published layout: ``aupimo/aupimos.json`` (its ``num_threshs`` may
    be null) and the ``{"value": ...}`` files of `PAPER_VALUE_FILES` that exist.

    Raises:
        InputError: a file is unreadable or malformed, ``aupimos.json`` has no ``paths``, or two anomalous
            images end in the same ``<defect>/<name>``.
    """
    from ..metrics import MetricInputError
    from ..metrics.pimo import AUPIMOResult, aupimo_statistics

    path = folder / "aupimo" / "aupimos.json"
    try:
        result = AUPIMOResult.load(path)
    except (MetricInputError, ValueError, TypeError, OSError) as error:
        raise InputError(f"{path} cannot be read as an aupimos.json file ({error})") from None
    if result.paths is None:
        raise InputError(f"{path} has no 'paths', so its images cannot be matched with other models' images")
    labels = np.asarray(result.image_classes)
    summary: dict[str, Any] = {"category": folder.name, **aupimo_statistics(result.aupimos, labels)}
    for key, name in PAPER_VALUE_FILES.items():
        value_path = folder / name
        if value_path.is_file():
            record = _read_json(value_path)
            summary[key] = _finite_or_none(record.get("value") if isinstance(record, dict) else None)
    summary.update(
        num_images=result.num_images,
        num_normal=result.num_normal_images,
        num_anomalous=result.num_anomalous_images,
        fpr_lower_bound=result.fpr_bounds[0],
        fpr_upper_bound=result.fpr_bounds[1],
        thresh_lower_bound=result.thresh_bounds[0],
        thresh_upper_bound=result.thresh_bounds[1],
    )
    aupimos: dict[str, float | None] = {}
    paths: dict[str, str] = {}
    for image_path, label, value in zip(result.paths, labels, result.aupimos, strict=True):
        if label == 1:
            _add_image(aupimos, paths, image_path, value, path)
    # Only the FPR bounds are recorded; the number of thresholds (null) and the AUPRO limits are not.
    options = RunOptions(fpr_bounds=result.fpr_bounds)
    return CategoryResult(summary, aupimos, folder, options, PAPER_SOURCE, dataset_hint, paths)


def is_mean_row(row: Any) -> bool:
    """Whether a row of a benchmark's ``summary.json`` is its mean row (``mean``, or ``mean (3 of 4)``)."""
    category = row.get("category") if isinstance(row, dict) else None
    return isinstance(category, str) and (category == MEAN_CATEGORY or category.startswith(MEAN_CATEGORY + " ("))


def read_results(folder: Path, name: str) -> ModelResults:
    """Read one model's results: an ``aupimo evaluate`` or ``aupimo benchmark`` folder, a folder in the AUPIMO
    paper's layout (or one of its category folders), or a folder of dataset folders of any of these kinds.

    A benchmark's mean row and the rows whose ``error`` is non-empty are left out (the latter are kept in
    `ModelResults.failed`).

    Raises:
        InputError: the folder is none of these, one of its files is unreadable or inconsistent, or two of its
            dataset folders hold a category of the same name.
    """
    if not folder.is_dir():
        raise _not_results(folder, "not a folder" if folder.exists() else "it does not exist")
    if (folder / "summary.json").is_file():
        return _read_ours(folder, name)
    if is_paper_category(folder):
        category = read_paper_category(folder)
        return ModelResults(name, folder, {category.summary["category"]: category})
    categories: dict[str, CategoryResult] = {}
    failed: dict[str, str] = {}

    def add(found: CategoryResult, hint: str) -> None:
        category = found.summary["category"]
        if category in categories:
            raise InputError(
                f"{folder} holds category {category!r} twice ({categories[category].folder} and {found.folder}); "
                "compare one of them at a time"
            )
        found.dataset_hint = found.dataset_hint or hint
        categories[category] = found

    for child in _subfolders(folder):
        if (child / "summary.json").is_file():
            inner = _read_ours(child, name)
            # A benchmark folder is a dataset folder; an evaluate folder is a category of this folder's dataset.
            hint = child.name if isinstance(_read_json(child / "summary.json"), list) else folder.name
            for found in inner.categories.values():
                add(found, hint)
            failed.update(inner.failed)
        elif is_paper_category(child):
            add(read_paper_category(child), folder.name)
        else:
            for grandchild in _subfolders(child):
                if is_paper_category(grandchild):
                    add(read_paper_category(grandchild), child.name)
    if not categories and not failed:
        raise _not_results(folder, "no summary.json, and no <category>/aupimo/aupimos.json in it or one level below")
    return ModelResults(name, folder, categories, failed)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))


def _read_ours(folder: Path, name: str) -> ModelResults:
    """Read an ``aupimo evaluate`` or ``aupimo benchmark`` output folder."""
    summary_path = folder / "summary.json"
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
