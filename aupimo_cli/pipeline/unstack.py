"""``aupimo unstack``: the AUPIMO paper's stacked maps of a category (``asmaps.pt``, one (N, H, W) tensor, with
the images' paths in its ``aupimos.json``) as one map file per image, in the folder layout every command reads.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import InputError

STACKED_FILE = "asmaps.pt"


def _paths_of(folder: Path) -> tuple[list[str], Path]:
    for candidate in (folder / "aupimos.json", folder / "aupimo" / "aupimos.json"):
        if candidate.is_file():
            try:
                record = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise InputError(f"cannot read {candidate} ({error})") from None
            paths = record.get("paths") if isinstance(record, dict) else None
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise InputError(f"{candidate} has no list of image paths ('paths'): the stacked maps cannot be named")
            return paths, candidate
    raise InputError(
        f"no aupimos.json beside {folder / STACKED_FILE} (nor in {folder / 'aupimo'}): its 'paths' name the stacked "
        "maps' images"
    )


def unstack(folder: Path, out: Path) -> list[Path]:
    """Write ``out/<defect>/<name>.npy`` (float32, H x W) for each map of ``folder/asmaps.pt``, named by the
    trailing ``<defect>/<name>`` of its image path in ``aupimos.json``; returns the files written.

    Raises:
        InputError: a missing or unreadable file, a count mismatch, two images with one name, or an `out` that
            exists (never overwritten).
    """
    from ..compare.read import trailing_image_key
    from ..io.readers import read_map_stack

    stacked = folder / STACKED_FILE
    if not stacked.is_file():
        raise InputError(f"{stacked} does not exist: give the category folder that holds {STACKED_FILE}")
    paths, record = _paths_of(folder)
    maps = read_map_stack(stacked)
    if maps.shape[0] != len(paths):
        raise InputError(f"{stacked} holds {maps.shape[0]} maps but {record} names {len(paths)} images")
    keys = [trailing_image_key(path) for path in paths]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise InputError(f"{record} names two images {twice[0]}: their maps would overwrite each other")
    if out.exists():
        raise InputError(f"--out {out} exists: choose a new folder (unstack never overwrites)")
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    written = []
    try:
        for key, amap in zip(keys, maps, strict=True):
            target = staging / f"{key}.npy"
            target.parent.mkdir(parents=True, exist_ok=True)
            np.save(target, np.ascontiguousarray(amap, dtype=np.float32))
            written.append(out / f"{key}.npy")
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # only left behind when writing failed
    return written
