"""Manifests: what aupimo wrote in a results folder, so that a run deletes or replaces only that (DESIGN §8).

Every output folder names the tool, the kind of folder and every file the command wrote:

- an ``evaluate`` folder in the ``"manifest"`` entry of its ``provenance.json``;
- a ``benchmark`` top level and a ``compare`` folder in ``manifest.json``. A benchmark manifest also lists
  its category folders, each an ``evaluate`` folder with a manifest of its own;
- a ``sweep`` top level in ``manifest.json``, listing its models and datasets: ``<model>/<dataset>/`` are
  benchmark folders and ``compare/<name>/`` compare folders, each with a manifest of its own.

Files that later commands add to a results folder (``aupimo report``) go into the manifest's ``"added"``
list, so that `check` can tell them from the command's own files. Folders written by version 0.1.0 have no
manifest; they are recognised by their ``provenance.json`` (or, for a benchmark and a comparison, their
tables) and by holding nothing but the files that version writes.

`ownership` reads what a folder holds against its manifest; `refuse_unsafe_target` is the one gate every
command passes before it may create or replace a results folder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, listing

TOOL_NAME = "aupimo-cli"
MANIFEST_FILE = "manifest.json"
PROVENANCE_FILE = "provenance.json"
KINDS = ("evaluate", "benchmark", "compare", "sweep", "drift")

# The files version 0.1.0 wrote, per kind of folder (no manifest then).
_LEGACY_EVALUATE = re.compile(
    r"^(aupimo/aupimos\.json|auroc\.json|aupro(_[0-9p]+)?\.json|per_image\.parquet|summary\.(json|csv|md)"
    r"|provenance\.json)$"
)
_LEGACY_BENCHMARK_TOP = re.compile(r"^(summary\.(json|csv|md)|per_image\.parquet)$")
_LEGACY_COMPARE = re.compile(r"^(compare\.(json|csv|md)|boxplots/[^/]+\.png)$")


def manifest_record(kind: str, files: Iterable[str], **extra: Any) -> dict[str, Any]:
    """The manifest of a folder of `kind` holding `files` (posix paths relative to the folder).

    `extra` entries (a benchmark's categories, options and inputs) come after the files. ``"added"`` starts
    empty: later commands append the files they add.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}")
    return {"tool": TOOL_NAME, "kind": kind, "files": sorted(set(files)), **extra, "added": []}


def list_files(folder: Path) -> list[str]:
    """Every file under `folder` (hidden ones included), as sorted posix paths relative to it.

    Symbolic links are listed as files and never followed. Empty folders are listed with a final ``/``, as
    they too are something a replacement would delete.
    """
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        relative = Path(dirpath).relative_to(folder)
        links = [name for name in dirnames if os.path.islink(os.path.join(dirpath, name))]
        dirnames[:] = [name for name in dirnames if name not in links]
        for name in [*filenames, *links]:
            found.append((relative / name).as_posix())
        if not filenames and not dirnames and not links and relative != Path("."):
            found.append(relative.as_posix() + "/")
    return sorted(found)


def _read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a results folder (from ``provenance.json`` or ``manifest.json``), or None."""
    provenance = _read_json_object(folder / PROVENANCE_FILE)
    if provenance is not None and isinstance(provenance.get("manifest"), dict):
        manifest = provenance["manifest"]
    else:
        manifest = _read_json_object(folder / MANIFEST_FILE)
    if manifest is None or manifest.get("tool") != TOOL_NAME or manifest.get("kind") not in KINDS:
        return None
    if not isinstance(manifest.get("files"), list):
        return None
    return manifest


@dataclass
class Ownership:
    """What a folder holds against its manifest.

    Attributes:
        kind: ``evaluate``, ``benchmark`` or ``compare`` when the folder is an aupimo results folder (with a
            manifest, or as version 0.1.0 wrote it), else None.
        foreign: paths (relative to the folder, sorted) of what aupimo did not write there.
        legacy: the folder was written by version 0.1.0, without a manifest.
        manifest: the manifest read, if any.
    """

    kind: str | None
    foreign: list[str] = field(default_factory=list)
    legacy: bool = False
    manifest: dict[str, Any] | None = None

    @property
    def ours(self) -> bool:
        """Whether everything in the folder was written by aupimo, so that it may be replaced."""
        return self.kind is not None and not self.foreign


def _legacy_evaluate(folder: Path) -> bool:
    """Whether `folder` has the ``provenance.json`` of an evaluate folder written by version 0.1.0."""
    provenance = _read_json_object(folder / PROVENANCE_FILE)
    tool = provenance.get("tool") if provenance else None
    return isinstance(tool, dict) and tool.get("name") == TOOL_NAME


def _category_folders(folder: Path, files: Sequence[str]) -> dict[str, list[str]]:
    """Files below the top level, grouped by their first folder."""
    grouped: dict[str, list[str]] = {}
    for name in files:
        head, _, rest = name.partition("/")
        if rest:
            grouped.setdefault(head, []).append(rest)
    return grouped


def _benchmark_foreign(
    folder: Path, files: Sequence[str], top_level: set[str], categories: set[str] | None
) -> list[str]:
    """What is not ours in a benchmark folder: top-level files not in `top_level`, and inside each category
    folder (any subfolder when `categories` is None) whatever that folder's own manifest does not claim."""
    foreign = [name for name in files if "/" not in name.rstrip("/") and name not in top_level]
    for head, inner in sorted(_category_folders(folder, files).items()):
        if categories is not None and head not in categories:
            foreign += [f"{head}/{name}" for name in inner]
            continue
        sub = ownership(folder / head)
        if sub.kind != "evaluate":
            foreign += [f"{head}/{name}" for name in inner]
        else:
            foreign += [f"{head}/{name}" for name in sub.foreign]
    return sorted(foreign)


def _sweep_foreign(folder: Path, files: Sequence[str], top_level: set[str], manifest: dict[str, Any]) -> list[str]:
    """What is not ours in a sweep folder: top-level files not in `top_level`; below, whatever is not in a
    ``<model>/<dataset>`` benchmark folder or a ``compare/<name>`` compare folder, or that folder's manifest
    does not claim."""
    models = {str(name) for name in manifest.get("models") or []}
    datasets = {str(name) for name in manifest.get("datasets") or []}
    foreign = [name for name in files if "/" not in name.rstrip("/") and name not in top_level]
    for head, inner in sorted(_category_folders(folder, files).items()):
        kind = "compare" if head == "compare" else "benchmark" if head in models else None
        for sub_name, sub_files in sorted(_category_folders(folder / head, inner).items()):
            sub = ownership(folder / head / sub_name)
            expected = kind is not None and (kind == "compare" or sub_name in datasets) and sub.kind == kind
            claimed = set(sub_files) - set(sub.foreign) if expected else set()
            foreign += [f"{head}/{sub_name}/{name}" for name in sub_files if name not in claimed]
        foreign += [f"{head}/{name}" for name in inner if "/" not in name.rstrip("/")]
    return sorted(foreign)


def ownership(folder: Path) -> Ownership:
    """Compare what `folder` holds with its manifest (or with what version 0.1.0 wrote).

    A folder that does not exist, or is empty, is ours to fill: its kind is None but nothing is foreign.
    """
    if not folder.is_dir():
        return Ownership(None)
    files = list_files(folder)
    manifest = read_manifest(folder)
    if manifest is not None:
        kind = manifest["kind"]
        listed = {*map(str, manifest["files"]), *map(str, manifest.get("added") or [])}
        if kind == "benchmark":
            categories = {str(name) for name in manifest.get("categories") or []}
            foreign = _benchmark_foreign(folder, files, listed, categories)
        elif kind == "sweep":
            foreign = _sweep_foreign(folder, files, listed, manifest)
        else:
            foreign = sorted(name for name in files if name not in listed)
        return Ownership(kind, foreign, False, manifest)
    if not files:
        return Ownership(None)
    if _legacy_evaluate(folder):
        return Ownership("evaluate", [name for name in files if not _LEGACY_EVALUATE.match(name)], True)
    top_level = [name for name in files if "/" not in name]
    summary = folder / "summary.json"
    if summary.is_file() and all(_LEGACY_BENCHMARK_TOP.match(name) for name in top_level):
        try:
            rows = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rows = None
        if isinstance(rows, list):
            return Ownership("benchmark", _benchmark_foreign(folder, files, set(top_level), None), True)
    if (folder / "compare.json").is_file() and all(_LEGACY_COMPARE.match(name) for name in files):
        return Ownership("compare", [], True)
    return Ownership(None, files)


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def refuse_unsafe_target(target: Path, inputs: Sequence[Path] = (), *, option: str = "--out") -> None:
    """Refuse, whatever the flags, an output folder that is or holds an input, lies inside one, or is the
    current folder, the home folder or ``/``: a run must never replace or mix into what it did not write.

    Args:
        target: the results folder the command would create or replace.
        inputs: the command's input files and folders (maps, masks, images, results being compared).
        option: the option that named `target`, for the message.

    Raises:
        InputError: naming the folder and why, with the fix.
    """
    resolved = _resolved(target)
    special = {
        _resolved(Path("/")): "the root folder /",
        _resolved(Path.home()): "your home folder",
        _resolved(Path.cwd()): "the current folder",
    }
    if resolved in special:
        raise InputError(
            f"{option} {target} is {special[resolved]}: results go into a folder of their own, which a re-run may "
            f"replace as a whole; choose a new folder such as {option} aupimo_results (nothing was changed)"
        )
    for given in inputs:
        source = _resolved(given)
        if resolved == source or source.is_relative_to(resolved):
            what = "is" if resolved == source else "holds"
            raise InputError(
                f"{option} {target} {what} the input {given}: a results folder must be a folder of its own, never "
                f"one that holds inputs; choose another {option} (nothing was changed)"
            )
        if resolved.is_relative_to(source) and source.is_dir():
            raise InputError(
                f"{option} {target} lies inside the input folder {given}: results would mix with the inputs; "
                f"choose an {option} outside it (nothing was changed)"
            )


def refuse_foreign(target: Path, option: str = "--out") -> Ownership:
    """Refuse to replace `target` unless aupimo wrote everything in it; returns what it holds.

    Raises:
        InputError: listing what is in the way.
    """
    held = ownership(target)
    if held.foreign:
        what = "is not an aupimo results folder" if held.kind is None else f"is an aupimo {held.kind} folder"
        raise InputError(
            f"{option} {target} {what} and holds {len(held.foreign)} file(s) that aupimo did not write: "
            f"{listing(held.foreign)}; --overwrite replaces only what aupimo wrote: move those files away or choose "
            f"another {option} (nothing was changed)"
        )
    return held


def add_to_manifest(folder: Path, files: Iterable[str]) -> None:
    """Record `files` (relative posix paths) as added to the results folder `folder` by a later command.

    Raises:
        InputError: `folder` has no manifest (it is not a results folder of this version).
    """
    provenance_path = folder / PROVENANCE_FILE
    provenance = _read_json_object(provenance_path)
    if provenance is not None and isinstance(provenance.get("manifest"), dict):
        container, path, manifest = provenance, provenance_path, provenance["manifest"]
    else:
        path = folder / MANIFEST_FILE
        manifest = _read_json_object(path) or {}
        container = manifest
    if manifest.get("tool") != TOOL_NAME:
        raise InputError(
            f"{folder} has no aupimo manifest (written by another tool, or by aupimo 0.1.0): re-run the command that "
            "wrote it with this version first"
        )
    manifest["added"] = sorted({*manifest.get("added", []), *files} - set(manifest["files"]))
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(container, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)
