"""MVTec LOCO AD's ground truth: one mask file per defect, and the saturation of each defect type.

A LOCO category holds ``test/{good,logical_anomalies,structural_anomalies}/<id>.png``, its ground truth as one
folder per anomalous image, ``ground_truth/<type>/<id>/<k>.png``, one PNG per defect (its pixels hold the
defect type's ``pixel_value``, the rest 0), and ``defects_config.json``: per defect type its name, pixel value and
saturation threshold, relative (a share of the defect's area) or absolute (a number of pixels). These readers
follow the official MVTec LOCO evaluation code (``src/image.py``): a defect mask holds exactly one positive
value, which the config must define; a relative saturation is a float in (0, 1], an absolute one a whole
number.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from .readers import read_mask_values

DEFECTS_CONFIG_FILE = "defects_config.json"
"""The name of a LOCO category's defect-type file, beside its ``ground_truth`` folder."""

ANOMALY_TYPES: tuple[str, ...] = ("logical_anomalies", "structural_anomalies")
"""MVTec LOCO's two anomaly folders; each is evaluated with the good images, and sPRO's headline is their mean."""


@dataclass(frozen=True)
class DefectType:
    """One entry of ``defects_config.json``.

    Attributes:
        name: ``defect_name``.
        pixel_value: the value (1..255) of this type's pixels in a defect mask.
        saturation_threshold: a share of the defect's area in (0, 1] when `relative`, else a number of pixels.
        relative: ``relative_saturation``.
    """

    name: str
    pixel_value: int
    saturation_threshold: float | int
    relative: bool

    def to_json(self) -> dict[str, Any]:
        """The entry as ``defects_config.json`` writes it."""
        return {
            "defect_name": self.name,
            "pixel_value": self.pixel_value,
            "saturation_threshold": self.saturation_threshold,
            "relative_saturation": self.relative,
        }


@dataclass(frozen=True)
class DefectsConfig:
    """A LOCO category's defect types (``defects_config.json``), by pixel value."""

    types: tuple[DefectType, ...]

    @property
    def by_pixel_value(self) -> dict[int, DefectType]:
        return {entry.pixel_value: entry for entry in self.types}

    def to_json(self) -> list[dict[str, Any]]:
        """The list ``defects_config.json`` holds."""
        return [entry.to_json() for entry in self.types]

    @classmethod
    def from_json(cls, entries: Any, source: str) -> DefectsConfig:
        """Check and read the list of ``defects_config.json`` (or of a provenance record).

        Raises:
            InputError: not a list of entries with the four keys, a pixel value outside 1..255 or given twice, a
                relative saturation outside (0, 1] or not a float, an absolute one not a whole number >= 0.
        """
        fix = "each entry needs defect_name, pixel_value, saturation_threshold and relative_saturation, as MVTec LOCO"
        if not isinstance(entries, list) or not entries:
            raise InputError(f"{source}: expected a non-empty list of defect types: {fix} ships it")
        types: list[DefectType] = []
        for index, entry in enumerate(entries):
            where = f"{source}: entry {index + 1}"
            keys = ("defect_name", "pixel_value", "saturation_threshold", "relative_saturation")
            if not isinstance(entry, dict) or any(key not in entry for key in keys):
                raise InputError(f"{where} is not a defect type: {fix}")
            name, value, threshold, relative = (entry[key] for key in keys)
            if not isinstance(name, str) or not isinstance(relative, bool):
                raise InputError(f"{where}: defect_name must be a string and relative_saturation true or false")
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 255:
                raise InputError(f"{where}: pixel_value must be a whole number from 1 to 255, not {value!r}")
            if relative:
                if not isinstance(threshold, float) or not 0 < threshold <= 1:
                    raise InputError(
                        f"{where} ({name}): a relative saturation_threshold is a share of the defect's area in "
                        f"(0, 1], written as a float such as 1.0, not {threshold!r}"
                    )
            elif isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
                raise InputError(
                    f"{where} ({name}): an absolute saturation_threshold is a whole number of pixels, not {threshold!r}"
                )
            types.append(DefectType(name, value, threshold, relative))
        values = [entry.pixel_value for entry in types]
        repeated = sorted({value for value in values if values.count(value) > 1})
        if repeated:
            raise InputError(f"{source}: pixel_value {repeated[0]} is given to several defect types: give each its own")
        return cls(tuple(types))


def read_defects_config(path: Path) -> DefectsConfig:
    """Read and check a LOCO ``defects_config.json`` (`DefectsConfig.from_json`).

    Raises:
        InputError: missing, unreadable or invalid file, naming it.
    """
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path} does not exist: MVTec LOCO ground truth needs its category's {DEFECTS_CONFIG_FILE} (beside "
            "ground_truth), or pass its place with --defects-config"
        ) from None
    except (OSError, ValueError) as error:
        raise InputError(f"{path} cannot be read as JSON ({error}): restore the file the dataset ships") from None
    return DefectsConfig.from_json(entries, str(path))


def is_loco_ground_truth(masks_root: Path) -> bool:
    """Whether `masks_root` holds MVTec LOCO's ground truth: folders ``<type>/<id>/`` of PNG files, one per defect
    (only the folder names and file extensions are looked at)."""
    try:
        type_folders = [entry for entry in Path(masks_root).iterdir() if entry.is_dir()]
        for type_folder in type_folders:
            for image_folder in type_folder.iterdir():
                if image_folder.is_dir() and any(
                    child.suffix.lower() == ".png" for child in image_folder.iterdir() if child.is_file()
                ):
                    return True
    except OSError:
        return False
    return False


def defects_config_beside(masks_root: Path) -> Path:
    """Where a LOCO category keeps ``defects_config.json``: beside its ``ground_truth`` folder."""
    return Path(masks_root).absolute().parent / DEFECTS_CONFIG_FILE


@dataclass(frozen=True)
class DefectMask:
    """One ground-truth defect of an image.

    Attributes:
        path: its mask file.
        pixel_value: the defect type's value in that file.
        area: its number of pixels.
        positions: (area,) int64, where its pixels are among the image's anomalous pixels (those of the union of
            the image's defects) in row-major order: indices into the image's anomalous scores.
    """

    path: Path
    pixel_value: int
    area: int
    positions: NDArray[np.int64]


def read_defect_masks(
    paths: Sequence[Path],
    known_values: Collection[int] | None = None,
    max_decoded_bytes: int | None = None,
    on_bytes: Callable[[Path, bytes], None] | None = None,
) -> tuple[NDArray[np.bool_], list[DefectMask]]:
    """Read one image's defect masks: their union (its mask for every other metric) and each defect's pixels.

    Args:
        paths: the image's defect mask files (``ground_truth/<type>/<id>/<k>.png``), in order.
        known_values: the pixel values ``defects_config.json`` defines; None: not checked.
        max_decoded_bytes, on_bytes: as in `read_mask_values`.

    Returns:
        (the union, (H, W) bool; one `DefectMask` per file, in order).

    Raises:
        InputError: a file that is not one 2-D image of the others' size, holds no defect pixel, holds several
            values, or a value the config does not define; naming the file and the fix.
    """
    values: list[tuple[Path, NDArray[np.bool_], int]] = []
    for path in paths:
        image = read_mask_values(path, max_decoded_bytes, on_bytes)
        if image.ndim != 2:
            raise InputError(
                f"{path} has shape {image.shape}, but a MVTec LOCO defect mask is a 2-D grayscale image: save it "
                "with one channel"
            )
        if values and image.shape != values[0][1].shape:
            raise InputError(
                f"{path} is {image.shape[0]}x{image.shape[1]} but {values[0][0]} is "
                f"{values[0][1].shape[0]}x{values[0][1].shape[1]}: the defect masks of one image must have its size"
            )
        present = np.unique(image)
        positive = [int(value) for value in present if value != 0]
        if not positive:
            raise InputError(f"{path} holds no defect pixel: remove the empty defect mask, or restore the file")
        if len(positive) > 1:
            raise InputError(
                f"{path} holds several values ({', '.join(map(str, positive[:5]))}): a MVTec LOCO defect mask holds "
                "one defect, its type's pixel_value, and 0 elsewhere"
            )
        if known_values is not None and positive[0] not in known_values:
            raise InputError(
                f"{path} holds the pixel value {positive[0]}, which {DEFECTS_CONFIG_FILE} does not define (it "
                f"defines {', '.join(map(str, sorted(known_values)))}): use the category's own {DEFECTS_CONFIG_FILE}"
            )
        values.append((Path(path), image != 0, positive[0]))
    union = np.zeros(values[0][1].shape, dtype=bool)
    for _, defect, _ in values:
        union |= defect
    defects = [
        DefectMask(path, value, int(np.count_nonzero(defect)), np.flatnonzero(defect[union]).astype(np.int64))
        for path, defect, value in values
    ]
    return union, defects
