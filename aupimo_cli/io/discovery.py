"""Discovery of anomaly maps and ground-truth masks, and their pairing.

MAPS mirrors a dataset's test folder, ``MAPS/<defect>/<name>.<ext>``, and MASKS mirrors its ground-truth
folder, ``MASKS/<defect>/<name>_mask.png`` (MVTec AD) or ``MASKS/<defect>/<name>.png`` (VisA). Both trees
are walked recursively, so deeper layouts (``MAPS/<a>/<b>/<name>.<ext>``) pair the same way.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError
from .readers import MAP_EXTENSIONS, MASK_EXTENSIONS

DEFAULT_NORMAL_DIRS = ("good", "Normal", "ok")
"""Folder names whose maps may have no mask: MVTec AD's ``good``, VisA's ``Normal``, and ``ok``."""

_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})
_MAX_LISTED = 5
_MVTEC_MASK_SUFFIX = "_mask"


@dataclass(frozen=True)
class ImagePair:
    """One test image: its anomaly map and, unless it is a normal image without one, its mask.

    Attributes:
        relpath: posix path of the map relative to MAPS, with its extension (``"crack/000.tiff"``); this is
            the path that appears in every output.
        key: `relpath` without its extension (``"crack/000"``); it matches maps with masks, and images across
            models saved in different formats.
        defect: the map's folder relative to MAPS (``"crack"``; ``"a/b"`` for nested trees); for a map lying
            directly in MAPS, the name of the MAPS folder itself.
        map_path: the map file, ``maps_root / relpath``.
        mask_path: the mask file under MASKS, or None for a normal image without a mask.
        in_normal_dir: whether a component of `defect` is one of the normal folder names.
    """

    relpath: str
    key: str
    defect: str
    map_path: Path
    mask_path: Path | None
    in_normal_dir: bool


def _listing(items: Sequence[str]) -> str:
    """Up to `_MAX_LISTED` items joined by commas, then "and N more"."""
    shown = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f" and {len(items) - _MAX_LISTED} more"
    return shown


def _is_ignored(name: str) -> bool:
    """Hidden files and folders, and the junk operating systems leave behind."""
    return name.startswith(".") or name.lower() in _JUNK_NAMES


def _check_root(root: Path, label: str, content: str) -> None:
    if not root.exists():
        raise InputError(f"{label} folder {root} does not exist: pass the folder of {content}")
    if not root.is_dir():
        raise InputError(f"{label} {root} is not a folder: pass the folder of {content}, not a file")


def _walk(root: Path, extensions: Sequence[str]) -> tuple[list[str], Counter[str]]:
    """Files under `root` with one of `extensions`, as sorted posix paths relative to `root`.

    Symbolic links to folders are not followed (so a link loop cannot hang the walk); hidden and junk
    entries are skipped.

    Returns:
        (relative paths, count of the skipped files' extensions).
    """

    def on_error(error: OSError) -> None:
        reason = error.strerror or str(error)
        raise InputError(f"cannot list the folder {error.filename} ({reason}): check its permissions")

    found: list[str] = []
    skipped: Counter[str] = Counter()
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        dirnames[:] = sorted(name for name in dirnames if not _is_ignored(name))
        rel_dir = PurePosixPath(Path(os.path.relpath(dirpath, root)).as_posix())
        for name in filenames:
            if _is_ignored(name):
                continue
            extension = os.path.splitext(name)[1].lower()
            if extension in extensions:
                found.append((rel_dir / name).as_posix())
            else:
                skipped[extension or "(no extension)"] += 1
    found.sort()
    return found, skipped


def _strip_extension(relpath: str) -> str:
    return relpath[: len(relpath) - len(PurePosixPath(relpath).suffix)]


def _group_by_key(relpaths: Sequence[str], strip_suffix: str = "") -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for relpath in relpaths:
        key = _strip_extension(relpath)
        if strip_suffix:
            key = key[: -len(strip_suffix)]
        groups.setdefault(key, []).append(relpath)
    return groups


def _refuse_ambiguous(groups: dict[str, list[str]], root: Path, what: str) -> None:
    ambiguous = [" and ".join(files) for _, files in sorted(groups.items()) if len(files) > 1]
    if ambiguous:
        raise InputError(
            f"{len(ambiguous)} image(s) in {root} have several {what}s that differ only in extension, which is "
            f"ambiguous: {_listing(ambiguous)}: keep one {what} per image"
        )


def find_pairs(
    maps_root: Path,
    masks_root: Path,
    normal_dirs: Sequence[str] = DEFAULT_NORMAL_DIRS,
    keep: Callable[[str], bool] | None = None,
) -> list[ImagePair]:
    """Find every anomaly map under `maps_root` and pair it with its mask under `masks_root`.

    Maps are the files with an extension in `MAP_EXTENSIONS`; masks are the files with an extension in
    `MASK_EXTENSIONS` (``.png`` normally). The mask naming is detected from the files present: when every mask
    name ends with ``_mask`` (``000_mask.png``), MVTec AD style, the suffix is dropped before matching;
    otherwise (VisA style, ``000.png``) masks match maps by name. Hidden files and folders (name starting
    with "."), ``Thumbs.db``, ``desktop.ini`` and files with other extensions are ignored.

    A map under a folder named in `normal_dirs` (any component of its folder path) may have no mask: it is a
    normal image, and its pair has ``mask_path=None``. If it has a mask, the mask is used (and may be empty).

    Args:
        maps_root: the MAPS folder, ``<defect>/<name>.<ext>``.
        masks_root: the MASKS folder, ``<defect>/<name>_mask.png`` or ``<defect>/<name>.png``.
        normal_dirs: folder names that hold normal images.
        keep: optional filter on image keys (relative path without extension, e.g. ``"Anomaly/000"``): maps and
            masks whose key it rejects are ignored, as if absent (VisA's split CSV restricts to the test split).

    Returns:
        The pairs sorted by `ImagePair.relpath`. ``map_path`` and ``mask_path`` are joined onto the roots as
        given (not resolved).

    Raises:
        InputError: a root is missing or not a folder; no map is found; two maps (or masks) of one image differ
            only in extension; a map outside the normal folders has no mask; a mask has no map.
    """
    maps_root, masks_root = Path(maps_root), Path(masks_root)
    _check_root(maps_root, "MAPS", "anomaly maps (<defect>/<name>.tiff, ...)")
    _check_root(masks_root, "MASKS", "ground-truth masks (<defect>/<name>_mask.png or <defect>/<name>.png)")

    map_files, skipped = _walk(maps_root, MAP_EXTENSIONS)
    if not map_files:
        other = ""
        if skipped:
            counts = [f"{ext} ({count})" for ext, count in skipped.most_common()]
            other = f"; it holds {sum(skipped.values())} file(s) with other extensions: {_listing(counts)}"
        raise InputError(
            f"no anomaly maps found in {maps_root} (looked recursively for {', '.join(MAP_EXTENSIONS)} files{other}): "
            "pass the folder that mirrors the test set, MAPS/<defect>/<name>.<ext>, with maps saved in one of those "
            "formats"
        )
    maps_by_key = _group_by_key(map_files)
    if keep is not None:
        maps_by_key = {key: files for key, files in maps_by_key.items() if keep(key)}
        if not maps_by_key:
            raise InputError(f"none of the {len(map_files)} anomaly maps in {maps_root} is in the selected split")
    _refuse_ambiguous(maps_by_key, maps_root, "map")

    mask_files, _ = _walk(masks_root, MASK_EXTENSIONS)
    mask_keys = [_strip_extension(relpath) for relpath in mask_files]
    mvtec_style = bool(mask_files) and all(key.endswith(_MVTEC_MASK_SUFFIX) for key in mask_keys)
    masks_by_key = _group_by_key(mask_files, _MVTEC_MASK_SUFFIX if mvtec_style else "")
    if keep is not None:
        masks_by_key = {key: files for key, files in masks_by_key.items() if keep(key)}
    _refuse_ambiguous(masks_by_key, masks_root, "mask")

    hint = ""
    if not mvtec_style and any(key.endswith(_MVTEC_MASK_SUFFIX) for key in mask_keys):
        hint = " (mask names mix <name>_mask and <name>: use one naming for the whole folder)"

    normal = set(normal_dirs)
    root_name = Path(os.path.abspath(maps_root)).name
    pairs: list[ImagePair] = []
    missing: list[str] = []
    for key, (relpath,) in sorted(maps_by_key.items(), key=lambda item: item[1][0]):
        parent = PurePosixPath(relpath).parent
        defect = parent.as_posix() if parent.parts else root_name
        in_normal = any(part in normal for part in PurePosixPath(defect).parts)
        mask_relpath = masks_by_key.get(key, [None])[0]
        if mask_relpath is None and not in_normal:
            name = PurePosixPath(key).name
            if mvtec_style:
                expected = f"{masks_root / parent / (name + _MVTEC_MASK_SUFFIX)}.png"
            elif mask_files:
                expected = f"{masks_root / parent / name}.png"
            else:
                expected = f"{masks_root / parent / name}_mask.png or {name}.png"
            missing.append(f"{relpath} (expected {expected})")
            continue
        pairs.append(
            ImagePair(
                relpath=relpath,
                key=key,
                defect=defect,
                map_path=maps_root / relpath,
                mask_path=None if mask_relpath is None else masks_root / mask_relpath,
                in_normal_dir=in_normal,
            )
        )
    if missing:
        raise InputError(
            f"{len(missing)} map(s) in {maps_root} outside the normal folders ({', '.join(normal_dirs)}) have no "
            f"mask{hint}: {_listing(missing)}: add the missing masks to {masks_root}, or, if these images are normal, "
            f"put their maps in a folder named {' or '.join(normal_dirs)}"
        )

    orphans = [files[0] for key, files in sorted(masks_by_key.items()) if key not in maps_by_key]
    if orphans:
        extensions = "|".join(ext.lstrip(".") for ext in MAP_EXTENSIONS)
        listed = []
        for relpath in orphans:
            key = _strip_extension(relpath)
            if mvtec_style:
                key = key[: -len(_MVTEC_MASK_SUFFIX)]
            listed.append(f"{relpath} (expected {maps_root / key}.<{extensions}>)")
        raise InputError(
            f"{len(orphans)} mask(s) in {masks_root} have no anomaly map{hint}: {_listing(listed)}: add the missing "
            "maps, or remove the masks (MASKS must mirror MAPS)"
        )
    return pairs


def split_filter(split_csv: Path, category: str) -> Callable[[str], bool]:
    """A `find_pairs` key filter keeping the category's test images listed in VisA's ``split_csv/1cls.csv``.

    The CSV has columns ``object,split,label,image,mask``; an image ``<category>/Data/Images/Anomaly/000.JPG``
    has the key ``Anomaly/000`` under the ``Data/Images`` maps root.

    Raises:
        InputError: the file can't be read or lacks the columns.
    """
    keys = set()
    try:
        with open(split_csv, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"object", "split", "image"} - set(reader.fieldnames or ())
            if missing:
                raise InputError(
                    f"{split_csv} lacks the column(s) {', '.join(sorted(missing))}: is it VisA's split_csv/1cls.csv?"
                )
            prefix = PurePosixPath(category, "Data", "Images")
            for row in reader:
                if row["object"] != category or row["split"] != "test":
                    continue
                image = PurePosixPath(row["image"])
                relative = image.relative_to(prefix) if image.is_relative_to(prefix) else image
                keys.add(relative.with_suffix("").as_posix())
    except OSError as error:
        raise InputError(f"{split_csv} cannot be read ({error.strerror}): check the dataset folder") from None
    frozen = frozenset(keys)
    return lambda key: key in frozen
