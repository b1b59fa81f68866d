"""``aupimo check DIR``: recompute stored results from the inputs recorded in their provenance.json.

Every result file is regenerated into a temporary folder with the recorded options and compared byte for
byte with the stored one. A benchmark folder is checked category by category.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .evaluate import EvaluateOptions, evaluate_category, write_evaluation


@dataclass
class CheckReport:
    """What `check_results` found: the folders checked and, per folder, what differs (empty: reproduced)."""

    checked: list[Path] = field(default_factory=list)
    differences: dict[Path, list[str]] = field(default_factory=dict)

    @property
    def reproduced(self) -> bool:
        return not any(self.differences.values())


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
        return EvaluateOptions(
            metrics=tuple(stored["metrics"]),
            aupro_limits=tuple(stored["aupro_limits"]),
            fpr_bounds=(stored["fpr_bounds"][0], stored["fpr_bounds"][1]),
            num_thresholds=int(stored["num_thresholds"]),
            normal_dirs=tuple(stored["normal_dirs"]),
            force=bool(stored["force"]),
        )
    except (KeyError, TypeError, IndexError) as error:
        raise InputError(f"{path} has no complete 'options' record ({error}): it was not written by aupimo") from None


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _json_differences(name: str, stored: bytes, fresh: bytes) -> list[str]:
    """The keys (dotted for nested objects) whose values differ between two JSON objects."""
    old, new = _flatten(json.loads(stored)), _flatten(json.loads(fresh))
    return [
        f"{name} {key}: stored {old.get(key)!r}, recomputed {new.get(key)!r}"
        for key in dict.fromkeys([*old, *new])
        if old.get(key) != new.get(key)
    ] or [f"{name}: bytes differ"]


def check_category(folder: Path) -> list[str]:
    """Recompute one evaluate folder; returns what differs (empty when every file is byte-identical).

    Raises:
        InputError: the folder is not a results folder, or the recorded inputs are missing or unreadable.
    """
    provenance = _read_json(folder / "provenance.json")
    summary = _read_json(folder / "summary.json")
    options = _options(provenance, folder / "provenance.json")
    inputs = provenance.get("inputs", {})
    roots = {key: inputs.get(key) for key in ("maps", "masks", "images", "split_csv")}
    for key in ("maps", "masks"):
        if not roots[key] or not Path(roots[key]).is_dir():
            raise InputError(
                f"the {key} folder recorded in {folder / 'provenance.json'} ({roots[key]}) is missing: the inputs "
                "must be where they were when the results were computed"
            )

    def optional(key: str) -> Path | None:
        return Path(roots[key]) if roots[key] else None

    evaluation = evaluate_category(
        Path(roots["maps"]),
        Path(roots["masks"]),
        options,
        images_root=optional("images"),
        category=summary.get("category"),
        split_csv=optional("split_csv"),
    )
    with tempfile.TemporaryDirectory(prefix="aupimo-check-") as scratch:
        fresh_folder = write_evaluation(evaluation, Path(scratch) / "results", overwrite=False)
        fresh = _files(fresh_folder)
    stored = _files(folder)
    differences = []
    for name in sorted(set(stored) | set(fresh)):
        if name not in fresh:
            differences.append(f"{name}: stored, but not produced by the recomputation")
        elif name not in stored:
            differences.append(f"{name}: missing from the stored results")
        elif stored[name] != fresh[name]:
            if name in ("summary.json", "provenance.json"):
                differences.extend(_json_differences(name, stored[name], fresh[name]))
            else:
                differences.append(f"{name}: differs")
    return differences


def check_results(folder: Path) -> CheckReport:
    """Check an evaluate folder, or every successful category of a benchmark folder."""
    summary = _read_json(folder / "summary.json")
    report = CheckReport()
    if isinstance(summary, list):
        categories = [row["category"] for row in summary if row.get("category") != "mean" and not row.get("error")]
        folders = [folder / name for name in categories]
    else:
        folders = [folder]
    for category_folder in folders:
        report.checked.append(category_folder)
        report.differences[category_folder] = check_category(category_folder)
    return report
