"""Folders in the AUPIMO paper's published layout, written as the paper's repository writes them (synthetic
values): ``<model>/<dataset>/<category>/aupimo/aupimos.json`` with ``"num_threshs": null``, bare ``NaN`` for the
normal images and ``MVTec/<category>/test/<defect>/<name>.png`` paths, beside ``auroc.json``, ``aupro.json``,
``aupr.json`` and sometimes ``aupro_05.json``, each ``{"value": ...}``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATASET_FOLDERS = {"bottle": "mvtec", "screw": "mvtec", "candle": "visa"}
DATASET_PREFIX = {"mvtec": "MVTec/{category}/test", "visa": "VisA/{category}/Data/Images"}


def paper_paths(category: str, defects: dict[str, int], num_normal: int) -> list[str]:
    """The image paths of one category as the paper's files list them: anomalous images first, then good ones."""
    dataset = DATASET_FOLDERS.get(category, "mvtec")
    prefix = DATASET_PREFIX[dataset].format(category=category)
    paths = [f"{prefix}/{defect}/{i:03d}.png" for defect, count in defects.items() for i in range(count)]
    return paths + [f"{prefix}/good/{i:03d}.png" for i in range(num_normal)]


def write_paper_category(
    folder: Path,
    paths: list[str],
    aupimos: list[float],
    values: dict[str, float],
    fpr_bounds: tuple[float, float] = (1e-5, 1e-4),
) -> None:
    """One category folder: ``aupimo/aupimos.json`` (NaN for normal images) and one ``{"value": ...}`` file per
    entry of `values` (``auroc``, ``aupro``, ``aupro_05``, ``aupr``)."""
    (folder / "aupimo").mkdir(parents=True)
    payload = {
        "shared_fpr_metric": "mean-per-image-fpr",
        "fpr_lower_bound": fpr_bounds[0],
        "fpr_upper_bound": fpr_bounds[1],
        "num_threshs": None,
        "thresh_lower_bound": 0.25,
        "thresh_upper_bound": 0.5,
        "aupimos": aupimos,
        "paths": paths,
    }
    (folder / "aupimo" / "aupimos.json").write_text(json.dumps(payload, indent=4, allow_nan=True))
    for name, value in values.items():
        (folder / f"{name}.json").write_text(json.dumps({"value": value}))


def write_paper_model(
    root: Path, model: str, categories: dict[str, dict[str, int]], num_normal: int, seed: int, shift: float
) -> dict[str, np.ndarray]:
    """A model's folder in the paper's layout over `categories` (name -> defects): per-image AUPIMO drawn from a
    beta distribution, moved by `shift`, written with the paths of `paper_paths`. Returns each category's
    anomalous AUPIMO, in path order."""
    rng = np.random.default_rng(seed)
    written = {}
    for category, defects in categories.items():
        paths = paper_paths(category, defects, num_normal)
        num_anomalous = sum(defects.values())
        values = np.clip(rng.beta(4, 2, size=num_anomalous) + shift, 0, 1)
        aupimos = [*values.tolist(), *[float("nan")] * num_normal]
        folder = root / model / DATASET_FOLDERS.get(category, "mvtec") / category
        metrics = {"auroc": float(rng.uniform(0.9, 1)), "aupro": float(rng.uniform(0.8, 1)),
                   "aupr": float(rng.uniform(0.5, 1))}  # fmt: skip
        if category != "candle":
            metrics["aupro_05"] = float(rng.uniform(0.5, 0.9))
        write_paper_category(folder, paths, aupimos, metrics)
        written[category] = values
    return written
