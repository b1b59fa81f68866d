"""Deterministic synthetic categories (smooth anomaly maps and blob masks) for tests, benchmarks and sample data.

Never real dataset images: MVTec AD is licensed for non-commercial use only, so everything shipped or tested
is generated here from a seed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def synthetic_category(
    num_normal: int = 41,
    num_anomalous: int = 119,
    shape: tuple[int, int] = (1024, 1024),
    map_shape: tuple[int, int] | None = None,
    seed: int = 0,
    anomaly_strength: tuple[float, float] = (0.5, 4.0),
    border_fade: float = 0.0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A synthetic category: smooth float32 maps and 0/1 uint8 blob masks (normal images first).

    Args:
        num_normal, num_anomalous: image counts (MVTec AD screw has 41 and 119).
        shape: (H, W) of the masks.
        map_shape: (H, W) of the maps; the masks' shape when None. Smaller maps mimic model outputs.
        seed: random seed; the data is deterministic.
        border_fade: width of a margin, as a fraction of the map's size, over which the random field fades to
            0 at the border. Resizing replicates a map's border, so a maximum on the border becomes a run of
            tied pixels at full resolution; fading keeps the highest normal scores inside the map.
        anomaly_strength: range of the peak height added over each anomalous image's blobs (the normal
            maps' standard deviation is about 1).

    Returns:
        (maps, masks): lists of float32 maps of `map_shape` and uint8 masks of `shape`.
    """
    rng = np.random.default_rng(seed)
    map_shape = map_shape or shape
    height, width = shape
    maps, masks = [], []
    for index in range(num_normal + num_anomalous):
        coarse = rng.normal(size=(32, 32)).astype(np.float32)
        amap: np.ndarray = cv2.resize(coarse, (map_shape[1], map_shape[0]), interpolation=cv2.INTER_CUBIC)
        amap += rng.normal(scale=0.05, size=map_shape).astype(np.float32)
        if border_fade > 0:
            amap *= _border_window(map_shape, border_fade)
        mask = np.zeros(shape, dtype=np.uint8)
        if index >= num_normal:
            for _ in range(int(rng.integers(1, 4))):
                center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
                axes = (int(rng.integers(2, max(3, width // 12))), int(rng.integers(2, max(3, height // 12))))
                cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            bump = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigmaX=width / 64)
            bump = cv2.resize(bump, (map_shape[1], map_shape[0]), interpolation=cv2.INTER_AREA)
            amap += float(rng.uniform(*anomaly_strength)) * bump / max(float(bump.max()), 1e-6)
        maps.append(amap.astype(np.float32))
        masks.append(mask)
    return maps, masks


def _border_window(shape: tuple[int, int], fade: float) -> np.ndarray:
    """(H, W) float32 weights: 1 inside, rising linearly from 0 at the border over a margin of `fade` * size."""
    ramps = []
    for size in shape:
        distance = np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5
        ramps.append(np.clip(distance / max(fade * size, 1e-9), 0.0, 1.0))
    return np.outer(ramps[0], ramps[1]).astype(np.float32)


def write_category(
    root: Path,
    defects: dict[str, int],
    num_normal: int,
    mask_shape: tuple[int, int],
    map_shape: tuple[int, int],
    seed: int = 0,
    map_format: str = "tiff",
    anomaly_strength: tuple[float, float] = (0.5, 4.0),
    border_fade: float = 0.0,
) -> None:
    """Write a synthetic MVTec-style category: ``root/maps/<defect>/<i>.tiff`` and ``root/masks/...``.

    Args:
        root: output folder; ``maps/`` and ``masks/`` are created inside it.
        defects: defect name -> number of anomalous images.
        num_normal: number of normal images, written under ``good/`` with no mask.
        mask_shape, map_shape: (H, W) of the masks (full resolution) and of the maps (model output).
        seed: random seed.
        map_format: ``tiff`` (float32) or ``npy``.
        anomaly_strength, border_fade: see `synthetic_category`.
    """
    import tifffile

    num_anomalous = sum(defects.values())
    maps, masks = synthetic_category(
        num_normal,
        num_anomalous,
        mask_shape,
        map_shape,
        seed=seed,
        anomaly_strength=anomaly_strength,
        border_fade=border_fade,
    )
    names = [("good", i) for i in range(num_normal)]
    names += [(defect, i) for defect, count in defects.items() for i in range(count)]
    for (defect, index), amap, mask in zip(names, maps, masks, strict=True):
        map_dir = root / "maps" / defect
        map_dir.mkdir(parents=True, exist_ok=True)
        if map_format == "tiff":
            tifffile.imwrite(map_dir / f"{index:03d}.tiff", amap)
        else:
            np.save(map_dir / f"{index:03d}.npy", amap)
        if defect != "good":
            mask_dir = root / "masks" / defect
            mask_dir.mkdir(parents=True, exist_ok=True)
            ok, encoded = cv2.imencode(".png", mask * np.uint8(255))
            assert ok
            (mask_dir / f"{index:03d}_mask.png").write_bytes(encoded.tobytes())


LOCO_DEFECT_TYPES: tuple[dict[str, object], ...] = (
    {"defect_name": "missing_part", "pixel_value": 255, "saturation_threshold": 1.0, "relative_saturation": True},
    {"defect_name": "extra_part", "pixel_value": 254, "saturation_threshold": 400, "relative_saturation": False},
    {"defect_name": "scratch", "pixel_value": 253, "saturation_threshold": 0.5, "relative_saturation": True},
    {"defect_name": "contamination", "pixel_value": 252, "saturation_threshold": 60, "relative_saturation": False},
)
"""A ``defects_config.json`` in MVTec LOCO's format: two logical types (the first two) and two structural ones,
relative and absolute saturations among both."""


def write_loco_category(
    dataset: Path,
    maps: Path,
    counts: tuple[int, int, int] = (6, 5, 5),
    mask_shape: tuple[int, int] = (160, 200),
    map_shape: tuple[int, int] = (64, 80),
    seed: int = 0,
) -> None:
    """Write a synthetic MVTec LOCO-style category: the dataset's ground truth and one model's maps.

        dataset/test/{good,logical_anomalies,structural_anomalies}/<NNN>.png   grey test images (mask size)
        dataset/ground_truth/<type>/<NNN>/<k>.png                            one mask per defect, its pixel value
        dataset/defects_config.json                                          `LOCO_DEFECT_TYPES`
        maps/{good,logical_anomalies,structural_anomalies}/<NNN>.tiff        float32 maps of `map_shape`

    Logical defects are large rectangles (a missing or extra part), structural ones small ellipses; every third
    anomalous image has two defects, overlapping, so the union differs from each.

    Args:
        dataset: the category folder to write (``test``, ``ground_truth``, ``defects_config.json``).
        maps: the maps folder to write (mirrors ``test``).
        counts: the numbers of good, logical and structural images.
        mask_shape, map_shape: (H, W) of the masks and of the maps.
        seed: random seed.
    """
    import json

    import tifffile

    rng = np.random.default_rng(seed)
    height, width = mask_shape
    dataset.mkdir(parents=True, exist_ok=True)
    (dataset / "defects_config.json").write_text(json.dumps(list(LOCO_DEFECT_TYPES), indent=4) + "\n")
    grey = np.full(mask_shape, 128, dtype=np.uint8)
    folders = ("good", "logical_anomalies", "structural_anomalies")
    for kind, (folder, count) in enumerate(zip(folders, counts, strict=True)):
        for index in range(count):
            coarse = rng.normal(size=(16, 16)).astype(np.float32)
            amap: np.ndarray = cv2.resize(coarse, (map_shape[1], map_shape[0]), interpolation=cv2.INTER_CUBIC)
            amap += rng.normal(scale=0.05, size=map_shape).astype(np.float32)
            amap *= _border_window(map_shape, 0.15)
            name = f"{index:03d}"
            if kind > 0:
                defects: list[tuple[int, np.ndarray]] = []
                for _ in range(2 if index % 3 == 0 else 1):
                    entry = LOCO_DEFECT_TYPES[2 * (kind - 1) + int(rng.integers(0, 2))]
                    defect = np.zeros(mask_shape, dtype=np.uint8)
                    if kind == 1:  # a large rectangle: a missing or an extra part
                        top, left = int(rng.integers(0, height // 2)), int(rng.integers(0, width // 2))
                        bottom = top + int(rng.integers(height // 8, height // 3))
                        right = left + int(rng.integers(width // 8, width // 3))
                        cv2.rectangle(defect, (left, top), (right, bottom), 1, -1)
                    else:  # a small ellipse
                        center = (
                            int(rng.integers(width // 4, 3 * width // 4)),
                            int(rng.integers(height // 4, 3 * height // 4)),
                        )
                        axes = (int(rng.integers(2, max(3, width // 10))), int(rng.integers(2, max(3, height // 10))))
                        cv2.ellipse(defect, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
                    if defects:  # the second defect overlaps the first
                        first = np.argwhere(defects[0][1])
                        row, col = first[len(first) // 2]
                        cv2.circle(defect, (int(col), int(row)), 4, 1, -1)
                    defects.append((int(entry["pixel_value"]), defect.astype(bool)))  # type: ignore[call-overload]
                union = np.zeros(mask_shape, dtype=np.float32)
                for value, defect in defects:
                    union = np.maximum(union, defect.astype(np.float32))
                    target = dataset / "ground_truth" / folder / name
                    target.mkdir(parents=True, exist_ok=True)
                    ok, encoded = cv2.imencode(".png", defect.astype(np.uint8) * np.uint8(value))
                    assert ok
                    (target / f"{len(list(target.iterdir())):03d}.png").write_bytes(encoded.tobytes())
                bump = cv2.GaussianBlur(union, (0, 0), sigmaX=width / 48)
                bump = cv2.resize(bump, (map_shape[1], map_shape[0]), interpolation=cv2.INTER_AREA)
                amap += float(rng.uniform(1.0, 6.0)) * bump / max(float(bump.max()), 1e-6)
            (maps / folder).mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(maps / folder / f"{name}.tiff", amap.astype(np.float32))
            (dataset / "test" / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(dataset / "test" / folder / f"{name}.png"), grey)
