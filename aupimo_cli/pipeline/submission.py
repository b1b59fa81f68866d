"""``aupimo check-submission``: an MVTec AD 2 submission folder, checked before its upload to the evaluation
server (every problem at once, one line each).

The layout, names, counts and formats follow MVTec's published AD 2 utilities (``check_and_prepare_data_for_
upload.py`` and ``utils_check.py``, 2025):

    SUBMISSION/anomaly_images/<object>/test_private/000_regular.tiff ...        float16, single channel
    SUBMISSION/anomaly_images/<object>/test_private_mixed/000_mixed.tiff ...
    SUBMISSION/anomaly_images_thresholded/<object>/<set>/000_regular.png ...    {0, 255}, single channel

with the 8 objects and, per object, the same number of images in both private sets (`OBJECT_IMAGE_COUNTS`);
the thresholded maps are optional (without them the server scores only the threshold-free metrics). With the
user's own copy of the dataset (``--dataset``), the names and counts come from its ``test_private`` and
``test_private_mixed`` image folders instead, and each map must have its image's size. NaN and infinite
scores are reported too (MVTec's script does not check them; the server cannot rank them).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Images per private test set, per object (the same in test_private and test_private_mixed), as MVTec's
# utils_check.py lists them.
OBJECT_IMAGE_COUNTS = {
    "can": 321, "fabric": 314, "fruit_jelly": 255, "rice": 277, "sheet_metal": 142, "vial": 276,
    "wallplugs": 232, "walnuts": 228,
}  # fmt: skip
PRIVATE_SETS = {"test_private": "regular", "test_private_mixed": "mixed"}
MAPS_FOLDER = "anomaly_images"
THRESHOLDED_FOLDER = "anomaly_images_thresholded"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Expected:
    """One expected file: its path under ``anomaly_images/`` without extension, and its image's (H, W) when the
    dataset was given."""

    stem: str
    shape: tuple[int, int] | None = None


@dataclass
class SubmissionReport:
    """What `check_submission` found: one line per problem (sorted by path), notes, and counts checked."""

    problems: list[str]
    notes: list[str]
    num_maps: int
    num_thresholded: int


def expected_files(dataset: Path | None) -> list[Expected]:
    """Every file a submission must hold, as ``<object>/<set>/<name>`` (no extension).

    Without `dataset`: MVTec's published names, ``NNN_regular`` and ``NNN_mixed`` for NNN from 000. With it:
    the images of each ``<object>/test_private`` and ``<object>/test_private_mixed`` folder in it, with their
    sizes.
    """
    if dataset is None:
        return [
            Expected(f"{name}/{folder}/{index:03d}_{suffix}")
            for name, count in sorted(OBJECT_IMAGE_COUNTS.items())
            for folder, suffix in PRIVATE_SETS.items()
            for index in range(count)
        ]
    from ..errors import InputError
    from ..io.readers import read_image_size

    expected = []
    objects = sorted(child for child in dataset.iterdir() if child.is_dir() and (child / "test_private").is_dir())
    if not objects:
        raise InputError(
            f"--dataset {dataset} holds no <object>/test_private folder: give the MVTec AD 2 root that holds can/, "
            "fabric/, ..."
        )
    for folder in objects:
        for private in PRIVATE_SETS:
            images = sorted(p for p in (folder / private).glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            expected += [Expected(f"{folder.name}/{private}/{image.stem}", read_image_size(image)) for image in images]
    return expected


def _listing(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def _folders(expected: list[Expected]) -> set[str]:
    return {item.stem.rsplit("/", 1)[0] for item in expected}


def _check_map(path: Path, expected: Expected) -> list[str]:
    import tifffile

    try:
        array = tifffile.imread(path)
    except Exception as error:  # any decoding failure is the file's problem, reported as such
        return [f"cannot be read as a TIFF ({type(error).__name__}: {error})"]
    problems = []
    if array.ndim != 2:
        problems.append(f"has shape {array.shape}: not a single-channel image (save the H x W map alone)")
    if array.dtype != np.float16:
        problems.append(f"is {array.dtype}, not float16 (save it with .astype(numpy.float16))")
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            problems.append(f"holds {bad} NaN or infinite score(s)")
    if expected.shape is not None and array.ndim >= 2 and tuple(array.shape[:2]) != expected.shape:
        problems.append(
            f"is {array.shape[0]}x{array.shape[1]}, its image {expected.shape[0]}x{expected.shape[1]} (H x W): save "
            "the map at the image's size"
        )
    return problems


def _check_thresholded(path: Path, expected: Expected) -> list[str]:
    import cv2

    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        return ["cannot be read as a PNG"]
    problems = []
    if array.ndim != 2:
        problems.append(f"has {array.shape[2]} channels: not a single-channel image")
    values = np.unique(array)
    if not np.isin(values, (0, 255)).all():
        shown = ", ".join(str(v) for v in values[~np.isin(values, (0, 255))][:4])
        problems.append(f"holds values other than 0 and 255 ({shown}...): set normal pixels to 0, anomalous to 255")
    if expected.shape is not None and tuple(array.shape[:2]) != expected.shape:
        problems.append(
            f"is {array.shape[0]}x{array.shape[1]}, its image {expected.shape[0]}x{expected.shape[1]} (H x W)"
        )
    return problems


def _check_tree(
    root: Path,
    extension: str,
    expected: list[Expected],
    check: Callable[[Path, Expected], list[str]],
    workers: int,
) -> tuple[list[str], int]:
    """(problem lines, files checked) of one tree of the submission."""
    found = _listing(root)
    wanted = {item.stem + extension: item for item in expected}
    missing = sorted(set(wanted) - found)
    by_folder: dict[str, list[str]] = {}
    for name in wanted:
        by_folder.setdefault(name.rpartition("/")[0], []).append(name)
    # A folder with none of its files is one line, not hundreds.
    empty = {folder for folder, names in by_folder.items() if not any(name in found for name in names)}
    problems = [f"{root.name}/{folder}/: missing ({len(by_folder[folder])} files expected)" for folder in sorted(empty)]
    problems += [f"{root.name}/{name}: missing" for name in missing if name.rpartition("/")[0] not in empty]
    extra = sorted(found - set(wanted))
    folders = _folders(expected)
    for name in extra:
        folder = name.rpartition("/")[0]
        if folder not in folders:
            why = "not in the expected layout"
        else:
            why = f"unexpected file (expected only {extension} files named as the test images)"
        problems.append(f"{root.name}/{name}: {why}")
    present = [(root / name, item) for name, item in sorted(wanted.items()) if name in found]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda pair: check(*pair), present))
    for (path, _), lines in zip(present, results, strict=True):
        problems += [f"{path.relative_to(root.parent).as_posix()}: {line}" for line in lines]
    return problems, len(present)


def check_submission(folder: Path, dataset: Path | None = None, workers: int = 4) -> SubmissionReport:
    """Every problem of an MVTec AD 2 submission folder (see the module's docstring), one line each.

    Raises:
        InputError: `folder` is not a folder, or `dataset` holds no private test set.
    """
    from ..errors import InputError

    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder: give the submission folder that holds {MAPS_FOLDER}/")
    expected = expected_files(dataset)
    notes: list[str] = []
    maps_root = folder / MAPS_FOLDER
    if not maps_root.is_dir():
        return SubmissionReport([f"{MAPS_FOLDER}/: missing (the submission holds {MAPS_FOLDER}/<object>/"
                                 "test_private/NNN_regular.tiff ...)"], notes, 0, 0)  # fmt: skip
    problems, num_maps = _check_tree(maps_root, ".tiff", expected, _check_map, workers)
    thresholded_root = folder / THRESHOLDED_FOLDER
    num_thresholded = 0
    if thresholded_root.is_dir():
        more, num_thresholded = _check_tree(thresholded_root, ".png", expected, _check_thresholded, workers)
        problems += more
    else:
        notes.append(
            f"no {THRESHOLDED_FOLDER}/: the server will score only the threshold-free metrics (binarise the maps at "
            "a threshold chosen on validation, e.g. mean + 3 std of the validation pixels, for SegF1)"
        )
    others = sorted(child.name for child in folder.iterdir() if child.name not in (MAPS_FOLDER, THRESHOLDED_FOLDER))
    problems += [f"{name}: not part of a submission (only {MAPS_FOLDER}/ and {THRESHOLDED_FOLDER}/)" for name in others]
    return SubmissionReport(sorted(problems), notes, num_maps, num_thresholded)
