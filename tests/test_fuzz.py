"""Fuzzing the CLI with random small map and mask trees: every run ends in exit 0 with correct results, or in
exit 2 with a one-line message, never anything else.

The number of examples is AUPIMO_FUZZ_EXAMPLES (300 in the normal suite; ``make fuzz`` runs many more).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from aupimo_cli.cli import app
from aupimo_cli.io import find_pairs, load_category

from .brute_force import mann_whitney_auroc, official_aupro, reference_aupimo

runner = CliRunner()
FUZZ_EXAMPLES = int(os.environ.get("AUPIMO_FUZZ_EXAMPLES", "300"))
FORMATS = ("tiff-f32", "tiff-f16", "npy-f32", "npy-f64", "npy-i32", "npz", "png-u8", "png-u16", "npy-bool",
           "npy-complex", "garbage")  # fmt: skip
OPTIONS = ("--fpr-bounds", "1e-2,1e-1", "--num-thresholds", "3000", "--quiet", "--force")


def _write_map(path_stem: Path, amap: np.ndarray, fmt: str) -> None:
    if fmt == "tiff-f32":
        tifffile.imwrite(f"{path_stem}.tiff", amap.astype(np.float32))
    elif fmt == "tiff-f16":
        tifffile.imwrite(f"{path_stem}.tif", amap.astype(np.float16))
    elif fmt == "npy-f32":
        np.save(f"{path_stem}.npy", amap.astype(np.float32))
    elif fmt == "npy-f64":
        np.save(f"{path_stem}.npy", amap.astype(np.float64))
    elif fmt == "npy-i32":
        np.save(f"{path_stem}.npy", (amap * 100).astype(np.int32))
    elif fmt == "npz":
        np.savez(f"{path_stem}.npz", amap.astype(np.float32))
    elif fmt in ("png-u8", "png-u16"):
        dtype, top = (np.uint8, 255) if fmt == "png-u8" else (np.uint16, 65535)
        scaled = (amap - amap.min()) / max(float(np.ptp(amap)), 1e-6) * top
        cv2.imwrite(f"{path_stem}.png", scaled.astype(dtype))
    elif fmt == "npy-bool":
        np.save(f"{path_stem}.npy", amap > 0)
    elif fmt == "npy-complex":
        np.save(f"{path_stem}.npy", amap.astype(np.complex64))
    else:
        Path(f"{path_stem}.tiff").write_bytes(b"II*\x00garbage")


FAULTS = ("nan", "bad-format", "mask-shape", "drop-mask", "orphan-mask", "empty-mask", "no-normal", "no-anomalous")


@st.composite
def trees(draw: st.DrawFn) -> dict:
    """A random category: images with their class, map format and shape; at most one fault, in 40% of trees."""
    mask_shape = draw(st.sampled_from([(16, 16), (12, 20), (24, 24)]))
    fault = draw(st.sampled_from(FAULTS)) if draw(st.integers(0, 9)) < 4 else None
    count = draw(st.integers(2, 6))
    classes = [False, True] + [draw(st.booleans()) for _ in range(count - 2)]
    if fault == "no-normal":
        classes = [True] * count
    elif fault == "no-anomalous":
        classes = [False] * count
    faulty = draw(st.integers(0, count - 1))
    images = []
    for index, anomalous in enumerate(classes):
        hit = fault if index == faulty else None
        if hit in ("drop-mask", "empty-mask") and not anomalous:
            hit = None
        images.append(
            {
                "defect": draw(st.sampled_from(["crack", "dent"])) if anomalous else "good",
                "name": f"{index:03d}",
                "format": draw(st.sampled_from(FORMATS[8:] if hit == "bad-format" else FORMATS[:8])),
                "map_shape": (draw(st.integers(4, 24)), draw(st.integers(4, 24))),
                "mask_shape": (8, 8) if hit == "mask-shape" else mask_shape,
                "nan": hit == "nan",
                "drop_mask": hit == "drop-mask",
                "empty_mask": hit == "empty-mask",
            }
        )
    return {"images": images, "orphan_mask": fault == "orphan-mask", "seed": draw(st.integers(0, 2**31))}


def _build(root: Path, description: dict) -> tuple[Path, Path]:
    rng = np.random.default_rng(description["seed"])
    maps, masks = root / "maps", root / "masks"
    maps.mkdir()
    masks.mkdir()
    for image in description["images"]:
        (maps / image["defect"]).mkdir(exist_ok=True)
        amap = cv2.resize(rng.normal(size=(4, 4)).astype(np.float32), image["map_shape"][::-1]) + rng.normal(
            scale=0.1, size=image["map_shape"]
        ).astype(np.float32)
        if image["nan"]:
            amap[0, 0] = np.nan
            if image["format"] in ("npy-i32", "png-u8", "png-u16", "npy-bool"):
                image = {**image, "format": "npy-f32"}  # NaN survives only in a float format
        if image["defect"] != "good":
            mask = np.zeros(image["mask_shape"], np.uint8)
            if not image["empty_mask"]:
                h, w = image["mask_shape"]
                y, x = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
                mask[y : y + 3, x : x + 4] = 255
                # The map is higher where the (resized) mask is, so AUPIMO is often computable.
                bump = cv2.resize(mask.astype(np.float32) / 255, image["map_shape"][::-1])
                amap += float(rng.uniform(0, 4)) * bump
            if not image["drop_mask"]:
                (masks / image["defect"]).mkdir(exist_ok=True)
                cv2.imwrite(str(masks / image["defect"] / f"{image['name']}_mask.png"), mask)
        _write_map(maps / image["defect"] / image["name"], amap, image["format"])
    if description["orphan_mask"]:
        (masks / "crack").mkdir(exist_ok=True)
        cv2.imwrite(str(masks / "crack" / "999_mask.png"), np.zeros((16, 16), np.uint8))
    return maps, masks


def _check_results(maps: Path, masks: Path, out: Path) -> None:
    """The results of a successful run against brute-force versions of the definitions on the loaded arrays."""
    import json

    loaded = load_category(find_pairs(maps, masks))
    summary = json.loads((out / "summary.json").read_text())
    scores = np.concatenate([m.ravel() for m in loaded.maps])
    labels = np.concatenate([m.ravel() for m in loaded.masks])
    assert summary["pixel_auroc"] == pytest.approx(mann_whitney_auroc(scores, labels), abs=1e-9)
    assert summary["aupro_30"] == pytest.approx(official_aupro(loaded.maps, loaded.masks, 0.3), abs=1e-9)
    assert summary["num_images"] == len(loaded.maps)
    if summary["aupimo_mean"] is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected, num_points, _ = reference_aupimo(loaded.maps, loaded.masks, 3000, (1e-2, 1e-1))
        stored = json.loads((out / "aupimo" / "aupimos.json").read_text())
        assert stored["num_threshs"] == num_points
        np.testing.assert_allclose(np.array(stored["aupimos"], dtype=float), expected, atol=1e-9, rtol=0)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_random_trees_end_in_results_or_a_clear_error(description):
    with tempfile.TemporaryDirectory(prefix="aupimo-fuzz-") as scratch:
        root = Path(scratch)
        maps, masks = _build(root, description)
        out = root / "out"
        result = runner.invoke(app, ["evaluate", str(maps), str(masks), "--out", str(out), *OPTIONS])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code in (0, 2), result.stderr
        event(f"exit {result.exit_code}" + (" with AUPIMO" if (out / "aupimo").exists() else ""))
        if result.exit_code == 2:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
            assert not out.exists()
        else:
            _check_results(maps, masks, out)
