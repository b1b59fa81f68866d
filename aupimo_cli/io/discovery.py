"""Discovery of anomaly maps and ground-truth masks, and their pairing.

MAPS mirrors a dataset's test folder, ``MAPS/<defect>/<name>.<ext>``, and MASKS mirrors its ground-truth
folder, ``MASKS/<defect>/<name>_mask.png`` (MVTec AD) or ``MASKS/<defect>/<name>.png`` (VisA). Both trees
are walked recursively, so deeper layouts (``MAPS/<a>/<b>/<name>.<ext>``) pair the same way.

When pairing fails, the folders' file names (never their content) are checked for the usual mistakes, and the
error names the mistake instead: MAPS and MASKS swapped, or a category folder passed instead of its ``test``
or ``ground_truth`` subfolder.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError, listing
from .loco import ANOMALY_TYPES
from .readers import IMAGE_EXTENSIONS, MAP_EXTENSIONS, MASK_EXTENSIONS

__all__ = [
    "DEFAULT_NORMAL_DIRS",
    "ImagePair",
    "find_loco_pairs",
    "find_normal_maps",
    "find_pairs",
    "image_key",
    "split_filter",
]

DEFAULT_NORMAL_DIRS = ("good", "Normal", "ok")
"""Folder names whose maps may have no mask: MVTec AD's ``good``, VisA's ``Normal``, and ``ok`` (in any case)."""

_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})
_MVTEC_MASK_SUFFIX = "_mask"
# The subfolders of an MVTec-style category folder that MAPS and MASKS should point into.
_TEST_DIR = "test"
_GROUND_TRUTH_DIR = "ground_truth"
# Formats only anomaly maps come in (never masks), and formats only masks come in (never maps).
_MAP_ONLY_EXTENSIONS = (".npy", ".npz")
_TIFF_EXTENSIONS = (".tif", ".tiff")
_MASK_LIKE_EXTENSIONS = (".png", ".bmp")


@dataclass(frozen=True)
class ImagePair:
    """One test image: its anomaly map and, unless it is a normal image without one, its mask.

    Attributes:
        relpath: posix path of the map relative to MAPS, with its extension (``"crack/000.tiff"``); this is
            the path that appears in every output.
        key: `image_key` of `relpath`, i.e. without its extension and then without one image extension if
            present (``"crack/000"`` for ``crack/000.tiff`` and ``crack/000.png.npy``); it matches maps with
            masks, and images across models saved in different formats.
        defect: the map's folder relative to MAPS (``"crack"``; ``"a/b"`` for nested trees); for a map lying
            directly in MAPS, the name of the MAPS folder itself.
        map_path: the map file, ``maps_root / relpath``.
        mask_path: the mask file under MASKS, or None for a normal image without a mask; for MVTec LOCO, the
            first of its defect masks.
        in_normal_dir: whether a component of `defect` is one of the normal folder names (in any case).
        defect_mask_paths: MVTec LOCO only: the image's defect masks, one file per defect (`find_loco_pairs`);
            its mask is their union. Empty for every other layout.
    """

    relpath: str
    key: str
    defect: str
    map_path: Path
    mask_path: Path | None
    in_normal_dir: bool
    defect_mask_paths: tuple[Path, ...] = ()

    @property
    def mask_files(self) -> tuple[Path, ...]:
        """Every ground-truth file of the image: its defect masks (MVTec LOCO), else its mask, else none."""
        if self.defect_mask_paths:
            return self.defect_mask_paths
        return () if self.mask_path is None else (self.mask_path,)


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


def _strip_image_extension(path: str) -> str:
    """`path` without its last extension if that is an image's (``"crack/000.png"`` -> ``"crack/000"``)."""
    if PurePosixPath(path).suffix.lower() in IMAGE_EXTENSIONS:
        return _strip_extension(path)
    return path


def image_key(relpath: str) -> str:
    """The key of an image from the posix path of its map (or of any file named after it) relative to MAPS.

    The file's extension is dropped, then one image extension (`IMAGE_EXTENSIONS`, any case) if the name still
    has one, because some exporters name a map after its image with the image's extension kept. Only the file
    name is changed, never the folders.

    >>> image_key("crack/000.tiff")
    'crack/000'
    >>> image_key("crack/000.png.npy")
    'crack/000'
    >>> image_key("crack/000.npy")
    'crack/000'
    >>> image_key("Anomaly/000.JPG.tiff")
    'Anomaly/000'
    >>> image_key("v1.2/000.npy.npy")
    'v1.2/000.npy'
    """
    return _strip_image_extension(_strip_extension(relpath))


def _group_by_key(relpaths: Sequence[str], strip_suffix: str = "") -> dict[str, list[str]]:
    """`relpaths` grouped by image key: without extension, then without `strip_suffix`, then image extension."""
    groups: dict[str, list[str]] = {}
    for relpath in relpaths:
        key = _strip_extension(relpath)
        if strip_suffix:
            key = key[: -len(strip_suffix)]
        # Masks named after the image with its extension kept (000.png_mask.png) still match maps whose key
        # drops it (000.png.npy -> 000), as they did when keys kept it.
        groups.setdefault(_strip_image_extension(key), []).append(relpath)
    return groups


def _refuse_ambiguous(groups: dict[str, list[str]], root: Path, what: str) -> None:
    ambiguous = [" and ".join(files) for _, files in sorted(groups.items()) if len(files) > 1]
    if ambiguous:
        raise InputError(
            f"{len(ambiguous)} image(s) in {root} have several {what}s that differ only in extension, which is "
            f"ambiguous: {listing(ambiguous)}: keep one {what} per image"
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
    otherwise (VisA style, ``000.png``) masks match maps by name. Maps and masks match by `image_key`, so a map
    named after its image with the image's extension kept (``000.png.npy``) pairs with ``000_mask.png`` or
    ``000.png``. Hidden files and folders (name starting with "."), ``Thumbs.db``, ``desktop.ini`` and files
    with other extensions are ignored.

    A map under a folder named in `normal_dirs` in any case (any component of its folder path: ``good``,
    ``GOOD``, ``normal``) may have no mask: it is a normal image, and its pair has ``mask_path=None``. If it
    has a mask, the mask is used (and may be empty).

    When pairing fails, the error names the likely mistake instead, if the folders' names and extensions show
    one: MAPS and MASKS swapped, MASKS a category folder with a ``ground_truth`` subfolder, or MAPS a category
    folder whose maps are all under a ``test`` subfolder. A tree that pairs is never second-guessed.

    Args:
        maps_root: the MAPS folder, ``<defect>/<name>.<ext>``.
        masks_root: the MASKS folder, ``<defect>/<name>_mask.png`` or ``<defect>/<name>.png``.
        normal_dirs: folder names that hold normal images, matched in any case.
        keep: optional filter on image keys (`image_key`, e.g. ``"Anomaly/000"``): maps and masks whose key it
            rejects are ignored, as if absent (VisA's split CSV restricts to the test split).

    Returns:
        The pairs sorted by `ImagePair.relpath`. ``map_path`` and ``mask_path`` are joined onto the roots as
        given (not resolved).

    Raises:
        InputError: a root is missing or not a folder; no map is found; two maps (or masks) of one image have
            the same key (they differ only in extension); a map outside the normal folders has no mask; a mask
            has no map; or, for any of those, the likely mistake behind it.
    """
    maps_root, masks_root = Path(maps_root), Path(masks_root)
    _check_root(maps_root, "MAPS", "anomaly maps (<defect>/<name>.tiff, ...)")
    _check_root(masks_root, "MASKS", "ground-truth masks (<defect>/<name>_mask.png or <defect>/<name>.png)")
    try:
        return _pair(maps_root, masks_root, normal_dirs, keep)
    except InputError as error:
        # Diagnosing only once pairing has failed means a valid tree is never refused on a guess; the
        # diagnosis replaces the pairing error, which a wrong folder makes misleading (a category folder as
        # MASKS takes its test images for masks).
        diagnosis = _diagnose(maps_root, masks_root)
        if diagnosis is None:
            raise
        raise InputError(diagnosis) from error


def _pair(
    maps_root: Path, masks_root: Path, normal_dirs: Sequence[str], keep: Callable[[str], bool] | None
) -> list[ImagePair]:
    """`find_pairs` on roots known to be folders, without the diagnosis of its errors."""
    map_files, skipped = _walk(maps_root, MAP_EXTENSIONS)
    if not map_files:
        other = ""
        if skipped:
            counts = [f"{ext} ({count})" for ext, count in skipped.most_common()]
            other = f"; it holds {sum(skipped.values())} file(s) with other extensions: {listing(counts)}"
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

    # Case-insensitive because datasets and exporters spell the same folder good, Good, GOOD, normal, Normal.
    normal = {name.casefold() for name in normal_dirs}
    root_name = Path(os.path.abspath(maps_root)).name
    pairs: list[ImagePair] = []
    missing: list[str] = []
    for key, (relpath,) in sorted(maps_by_key.items(), key=lambda item: item[1][0]):
        parent = PurePosixPath(relpath).parent
        defect = parent.as_posix() if parent.parts else root_name
        in_normal = any(part.casefold() in normal for part in PurePosixPath(defect).parts)
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
            f"mask{hint}: {listing(missing)}: add the missing masks to {masks_root}, or, if these images are normal, "
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
            f"{len(orphans)} mask(s) in {masks_root} have no anomaly map{hint}: {listing(listed)}: add the missing "
            "maps, or remove the masks (MASKS must mirror MAPS)"
        )
    return pairs


def _maps_by_key(maps_root: Path, content: str, fix: str) -> dict[str, list[str]]:
    """The maps under `maps_root` grouped by image key, one file each.

    Raises:
        InputError: the folder is missing (it should hold `content`), holds no map (pass `fix`), or two maps of
            one image differ only in extension.
    """
    _check_root(maps_root, "MAPS", content)
    map_files, _ = _walk(maps_root, MAP_EXTENSIONS)
    if not map_files:
        raise InputError(
            f"no anomaly maps found in {maps_root} (looked recursively for {', '.join(MAP_EXTENSIONS)} files): pass "
            f"{fix}"
        )
    by_key = _group_by_key(map_files)
    _refuse_ambiguous(by_key, maps_root, "map")
    return by_key


def find_loco_pairs(
    maps_root: Path,
    masks_root: Path,
    normal_dirs: Sequence[str] = DEFAULT_NORMAL_DIRS,
    anomaly_dirs: Sequence[str] = ANOMALY_TYPES,
) -> list[ImagePair]:
    """Pair every anomaly map under `maps_root` with its MVTec LOCO ground truth under `masks_root`.

    LOCO keeps one folder of defect masks per anomalous image, ``MASKS/<type>/<id>/<k>.png`` (one PNG per defect),
    where other datasets keep one mask file; a map ``MAPS/<type>/<id>.<ext>`` pairs with the folder
    ``MASKS/<type>/<id>`` by `image_key`. Maps under a normal folder (``good``) have none.

    Args:
        maps_root: the MAPS folder, mirroring LOCO's ``test`` folder.
        masks_root: the category's ``ground_truth`` folder.
        normal_dirs: folder names that hold normal images, matched in any case.
        anomaly_dirs: the folders anomalous maps may lie in (LOCO's two anomaly types).

    Returns:
        The pairs sorted by relative path; an anomalous image's `ImagePair.defect_mask_paths` lists its defect
        masks in name order, and its ``mask_path`` is the first.

    Raises:
        InputError: a root is missing; no map; a PNG not inside a folder per image; an anomalous map outside
            `anomaly_dirs` or without its folder of masks; a folder of masks without its map.
    """
    maps_root, masks_root = Path(maps_root), Path(masks_root)
    _check_root(masks_root, "MASKS", "MVTec LOCO ground truth (<type>/<id>/<k>.png, one PNG per defect)")
    maps_by_key = _maps_by_key(
        maps_root,
        "anomaly maps (<type>/<id>.tiff, mirroring MVTec LOCO's test folder)",
        "the folder that mirrors the category's test folder, MAPS/<type>/<id>.<ext>",
    )
    mask_files, _ = _walk(masks_root, (".png",))
    folders: dict[str, list[str]] = {}
    loose = []
    for relpath in mask_files:
        parent = PurePosixPath(relpath).parent
        if len(parent.parts) < 2:
            loose.append(relpath)
        folders.setdefault(parent.as_posix(), []).append(relpath)
    if loose:
        raise InputError(
            f"{len(loose)} PNG file(s) in {masks_root} are not in a folder per image ({listing(loose)}): MVTec LOCO "
            "ground truth is <type>/<id>/<k>.png, one folder per anomalous image with one PNG per defect"
        )
    normal = {name.casefold() for name in normal_dirs}
    anomaly = {name.casefold() for name in anomaly_dirs}
    root_name = Path(os.path.abspath(maps_root)).name
    pairs: list[ImagePair] = []
    missing: list[str] = []
    outside: list[str] = []
    for key, (relpath,) in sorted(maps_by_key.items(), key=lambda item: item[1][0]):
        parent = PurePosixPath(relpath).parent
        defect = parent.as_posix() if parent.parts else root_name
        in_normal = any(part.casefold() in normal for part in PurePosixPath(defect).parts)
        files = folders.get(key)
        if files is None and not in_normal:
            missing.append(f"{relpath} (expected {masks_root / key}/<k>.png)")
            continue
        if files is not None and defect.casefold() not in anomaly:
            outside.append(relpath)
            continue
        paths = tuple(masks_root / name for name in sorted(files or []))
        pairs.append(ImagePair(relpath, key, defect, maps_root / relpath, paths[0] if paths else None, in_normal,
                               paths))  # fmt: skip
    if outside:
        raise InputError(
            f"{len(outside)} anomalous map(s) in {maps_root} are outside MVTec LOCO's anomaly folders "
            f"({', '.join(anomaly_dirs)}): {listing(outside)}: keep the test folder's layout"
        )
    if missing:
        raise InputError(
            f"{len(missing)} map(s) in {maps_root} outside the normal folders ({', '.join(normal_dirs)}) have no "
            f"folder of defect masks: {listing(missing)}: pass the category's ground_truth folder as MASKS"
        )
    orphans = sorted(folder for folder in folders if folder not in maps_by_key)
    if orphans:
        extensions = "|".join(ext.lstrip(".") for ext in MAP_EXTENSIONS)
        listed = [f"{folder}/ (expected {maps_root / folder}.<{extensions}>)" for folder in orphans]
        raise InputError(
            f"{len(orphans)} folder(s) of defect masks in {masks_root} have no anomaly map: {listing(listed)}: add the "
            "missing maps (MAPS must mirror the test folder)"
        )
    return pairs


def _subfolder(root: Path, name: str) -> Path | None:
    """The folder directly in `root` whose name is `name` in any case (as spelled on disk), or None."""
    try:
        with os.scandir(root) as entries:
            names = sorted(entry.name for entry in entries if entry.is_dir() and entry.name.lower() == name)
    except OSError:
        return None
    return root / names[0] if names else None


def _extensions(relpaths: Sequence[str]) -> set[str]:
    return {PurePosixPath(relpath).suffix.lower() for relpath in relpaths}


def _has_mask_names(relpaths: Sequence[str]) -> list[bool]:
    """For each path, whether its name without extension ends with ``_mask`` (MVTec AD's mask naming)."""
    return [_strip_extension(relpath).endswith(_MVTEC_MASK_SUFFIX) for relpath in relpaths]


def _wrong_level(maps_root: Path, masks_root: Path) -> str | None:
    """The message for MASKS (or MAPS) given as the category folder above ``ground_truth`` (or ``test``), or None.

    MASKS is a category folder when it has a ``ground_truth`` subfolder that MAPS does not mirror. MAPS is one
    when it has a ``test`` subfolder that MASKS (as meant) does not mirror, no ``ground_truth`` subfolder (that
    is a dataset's category folder, a swap), holds maps under ``test``, and holds no map directly in a defect
    folder (every map is at least ``<folder>/<defect>/<name>`` deep).
    """
    problems: list[str] = []
    meant_masks_root = masks_root
    ground_truth = _subfolder(masks_root, _GROUND_TRUTH_DIR)
    if ground_truth is not None and _subfolder(maps_root, _GROUND_TRUTH_DIR) is None:
        meant_masks_root = ground_truth
        problems.append(
            f"MASKS {masks_root} has a {ground_truth.name} subfolder, so it looks like the dataset's category folder "
            f"(its images would be taken for masks): did you mean {ground_truth}? pass that folder as MASKS"
        )
    test = _subfolder(maps_root, _TEST_DIR)
    if (
        test is not None
        and _subfolder(meant_masks_root, _TEST_DIR) is None
        and _subfolder(maps_root, _GROUND_TRUTH_DIR) is None
    ):
        map_files, _ = _walk(maps_root, MAP_EXTENSIONS)
        first_parts = {PurePosixPath(relpath).parts[0] for relpath in map_files}
        if test.name in first_parts and all(len(PurePosixPath(relpath).parts) >= 3 for relpath in map_files):
            problems.insert(
                0,
                f"MAPS {maps_root} holds no maps directly in defect folders but has a {test.name} subfolder, so it "
                f"looks like the category folder above the maps: did you mean {test}? pass that folder as MAPS",
            )
    return "; and ".join(problems) or None


def _swapped(maps_root: Path, masks_root: Path) -> str | None:
    """The message for MAPS and MASKS given in the wrong order, or None, from names and extensions only.

    They look swapped when MAPS has a ``ground_truth`` subfolder that MASKS does not mirror (MAPS is the
    dataset's category folder), or when MAPS holds map or mask files and either (1) every one of their names
    ends with ``_mask`` while some of MASKS's do not, or (2) they are all ``.png``/``.bmp`` while MASKS holds
    formats masks never come in (``.npy``, ``.npz``, or ``.tif``/``.tiff`` with no ``.png``). A VisA tree,
    ``.png`` maps beside ``.png`` masks, meets neither.
    """
    ground_truth = _subfolder(maps_root, _GROUND_TRUTH_DIR)
    if ground_truth is not None and _subfolder(masks_root, _GROUND_TRUTH_DIR) is None:
        return (
            f"MAPS {maps_root} has a {ground_truth.name} subfolder, so it looks like the dataset's category folder: "
            f"did you swap MAPS and MASKS? pass {masks_root} as MAPS and {ground_truth} as MASKS"
        )
    candidates = tuple(dict.fromkeys(MAP_EXTENSIONS + MASK_EXTENSIONS))
    map_files, _ = _walk(maps_root, candidates)
    mask_files, _ = _walk(masks_root, candidates)
    if not map_files or not mask_files:
        return None
    map_extensions, mask_extensions = _extensions(map_files), _extensions(mask_files)
    map_only = sorted(mask_extensions & set(_MAP_ONLY_EXTENSIONS))
    tiffs = sorted(mask_extensions & set(_TIFF_EXTENSIONS))
    if map_only:
        masks_reason = f"{'/'.join(map_only)} files"
    elif tiffs and ".png" not in mask_extensions:
        masks_reason = f"{'/'.join(tiffs)} files and no .png"
    else:
        masks_reason = ""
    if all(_has_mask_names(map_files)) and not all(_has_mask_names(mask_files)):
        maps_reason = f"every name ends with {_MVTEC_MASK_SUFFIX}"
        masks_reason = masks_reason or f"names without {_MVTEC_MASK_SUFFIX}"
    elif masks_reason and map_extensions <= set(_MASK_LIKE_EXTENSIONS):
        maps_reason = f"only {'/'.join(sorted(map_extensions))} files"
    else:
        return None
    return (
        f"MAPS {maps_root} looks like a masks folder ({maps_reason}) and MASKS {masks_root} like a maps folder "
        f"({masks_reason}): did you swap MAPS and MASKS? pass {masks_root} as MAPS and {maps_root} as MASKS"
    )


def _diagnose(maps_root: Path, masks_root: Path) -> str | None:
    """The likely mistake behind a pairing error, as a one-line message, or None when nothing stands out."""
    try:
        return _wrong_level(maps_root, masks_root) or _swapped(maps_root, masks_root)
    except InputError:  # a folder that cannot be listed: the pairing error says so already
        return None


def find_normal_maps(maps_root: Path) -> list[ImagePair]:
    """Every anomaly map under `maps_root` as a normal image without a mask: a validation set of normal images.

    Raises:
        InputError: the folder is missing or holds no map, or two maps of one image differ only in extension.
    """
    maps_root = Path(maps_root)
    by_key = _maps_by_key(maps_root, "anomaly maps (<name>.tiff, ...)", "the folder of the validation maps")
    root_name = Path(os.path.abspath(maps_root)).name
    pairs = []
    for key, (relpath,) in sorted(by_key.items(), key=lambda item: item[1][0]):
        parent = PurePosixPath(relpath).parent
        defect = parent.as_posix() if parent.parts else root_name
        pairs.append(ImagePair(relpath, key, defect, maps_root / relpath, None, True))
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
