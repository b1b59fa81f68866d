"""Loading a category: target resolutions, resizing, counters, thread-count independence, reference data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from aupimo_cli.errors import InputError
from aupimo_cli.io.discovery import ImagePair, find_pairs
from aupimo_cli.io.loader import LoadedCategory, load_category, target_shapes
from tests.test_io_readers import raises_input_error, write_image
from tests.test_io_resize import bilinear_reference

DATA = Path(__file__).parent / "data"
RNG = np.random.default_rng(2)


def write_map(root: Path, relpath: str, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).random(shape).astype(np.float32)
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, values)
    else:
        tifffile.imwrite(path, values)
    return values


def write_mask(root: Path, relpath: str, shape: tuple[int, int], fill: bool = True) -> np.ndarray:
    values = np.zeros(shape, dtype=np.uint8)
    if fill:
        values[shape[0] // 4 : shape[0] // 2, shape[1] // 3 : shape[1] // 2] = 255
    write_image(root / relpath, values)
    return values > 0


def pair(key: str, mask: bool = True, normal: bool = False) -> ImagePair:
    return ImagePair(
        relpath=f"{key}.npy",
        key=key,
        defect=key.rsplit("/", 1)[0],
        map_path=Path("maps", f"{key}.npy"),
        mask_path=Path("masks", f"{key}_mask.png") if mask else None,
        in_normal_dir=normal,
    )


# ---------------------------------------------------------------------------------------------------------------------
# target_shapes
# ---------------------------------------------------------------------------------------------------------------------


def test_target_shapes_from_masks_and_shared_size():
    pairs = [pair("crack/000"), pair("good/000", mask=False, normal=True), pair("hole/000")]
    shapes = {"crack/000": (30, 40), "hole/000": (30, 40)}
    assert target_shapes(pairs, shapes, None) == [(30, 40), (30, 40), (30, 40)]


def test_target_shapes_disagreeing_masks_without_masks_missing_are_fine():
    pairs = [pair("crack/000"), pair("hole/000")]
    assert target_shapes(pairs, {"crack/000": (30, 40), "hole/000": (50, 60)}, None) == [(30, 40), (50, 60)]


def test_target_shapes_disagreeing_masks_need_images():
    pairs = [pair("crack/000"), pair("good/000", mask=False, normal=True), pair("hole/000"), pair("hole/001")]
    shapes = {"crack/000": (30, 40), "hole/000": (50, 60), "hole/001": (70, 80)}
    with raises_input_error("3 different sizes", "30x40", "50x60", "--images DIR", "good/000"):
        target_shapes(pairs, shapes, None)


def test_target_shapes_without_masks_need_images():
    pairs = [pair("good/000", mask=False, normal=True)]
    with raises_input_error("there are no masks", "--images DIR"):
        target_shapes(pairs, {}, None)


def test_target_shapes_from_original_images(tmp_path):
    images = tmp_path / "test"
    write_image(images / "good" / "000.png", np.zeros((20, 30), dtype=np.uint8))
    write_image(images / "good" / "001.jpg", np.zeros((22, 33, 3), dtype=np.uint8))
    pairs = [
        pair("crack/000"),
        pair("good/000", mask=False, normal=True),
        pair("good/001", mask=False, normal=True),
        pair("hole/000"),
    ]
    shapes = {"crack/000": (30, 40), "hole/000": (50, 60)}
    assert target_shapes(pairs, shapes, images) == [(30, 40), (20, 30), (22, 33), (50, 60)]


def test_target_shapes_images_root_only_consulted_when_needed(tmp_path):
    pairs = [pair("crack/000"), pair("good/000", mask=False, normal=True)]
    assert target_shapes(pairs, {"crack/000": (30, 40)}, tmp_path / "nowhere") == [(30, 40), (30, 40)]


def test_target_shapes_without_masks_read_images(tmp_path):
    write_image(tmp_path / "good" / "000.bmp", np.zeros((12, 9, 3), dtype=np.uint8))
    assert target_shapes([pair("good/000", mask=False, normal=True)], {}, tmp_path) == [(12, 9)]


def test_target_shapes_missing_original_image(tmp_path):
    images = tmp_path / "test"
    (images / "good").mkdir(parents=True)
    pairs = [pair("crack/000"), pair("good/007", mask=False, normal=True), pair("hole/000")]
    with raises_input_error("good/007.npy", str(images / "good" / "007") + ".<png|"):
        target_shapes(pairs, {"crack/000": (30, 40), "hole/000": (50, 60)}, images)


# ---------------------------------------------------------------------------------------------------------------------
# load_category
# ---------------------------------------------------------------------------------------------------------------------


def make_category(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """A small MVTec-like category: maps at 8x8 (one at 8x16), masks at 16x16 (one at 16x32)."""
    maps_root, masks_root = tmp_path / "maps", tmp_path / "masks"
    maps = {}
    for index in range(3):
        maps[f"crack/{index:03d}.npy"] = write_map(maps_root, f"crack/{index:03d}.npy", (8, 8), seed=index)
        write_mask(masks_root, f"crack/{index:03d}_mask.png", (16, 16))
    maps["wide/000.tiff"] = write_map(maps_root, "wide/000.tiff", (8, 16), seed=10)  # same aspect as its mask
    write_mask(masks_root, "wide/000_mask.png", (16, 32))
    maps["wide/001.tiff"] = write_map(maps_root, "wide/001.tiff", (8, 8), seed=11)  # aspect changes
    write_mask(masks_root, "wide/001_mask.png", (16, 32))
    maps["empty/000.npy"] = write_map(maps_root, "empty/000.npy", (8, 8), seed=12)
    write_mask(masks_root, "empty/000_mask.png", (16, 16), fill=False)
    for index in range(4):
        maps[f"good/{index:03d}.npy"] = write_map(maps_root, f"good/{index:03d}.npy", (8, 8), seed=20 + index)
    write_mask(masks_root, "good/003_mask.png", (16, 16), fill=False)  # an empty mask in a normal folder
    return maps_root, masks_root, maps


def test_load_category(tmp_path):
    maps_root, masks_root, maps = make_category(tmp_path)
    images = tmp_path / "images"
    for index in range(3):
        write_image(images / "good" / f"{index:03d}.png", np.zeros((16, 16), dtype=np.uint8))
    pairs = find_pairs(maps_root, masks_root)
    calls = []
    loaded = load_category(pairs, images_root=images, progress=calls.append)
    assert isinstance(loaded, LoadedCategory)
    assert loaded.pairs == pairs
    assert calls == [1] * len(pairs)
    expected_shapes = {"wide/000.tiff": (16, 32), "wide/001.tiff": (16, 32)}
    for item, amap, mask, map_shape in zip(pairs, loaded.maps, loaded.masks, loaded.map_shapes, strict=True):
        target = expected_shapes.get(item.relpath, (16, 16))
        assert map_shape == maps[item.relpath].shape
        assert amap.dtype == np.float32
        assert mask.dtype == bool
        assert amap.shape == mask.shape == target
        np.testing.assert_allclose(amap, bilinear_reference(maps[item.relpath], target), atol=1e-5)
        assert mask.any() == (item.defect in ("crack", "wide"))
    assert loaded.num_aspect_changed == 1
    assert loaded.num_empty_defect_masks == 1


def test_normal_images_without_images_root_take_the_shared_mask_size(tmp_path):
    maps_root, masks_root = tmp_path / "maps", tmp_path / "masks"
    write_map(maps_root, "crack/000.npy", (8, 8))
    write_mask(masks_root, "crack/000_mask.png", (24, 20))
    write_map(maps_root, "good/000.npy", (8, 8))
    loaded = load_category(find_pairs(maps_root, masks_root))
    assert [mask.shape for mask in loaded.masks] == [(24, 20), (24, 20)]
    assert not loaded.masks[1].any()
    assert loaded.num_aspect_changed == 2  # 1.0 against 20/24


def test_disagreeing_masks_need_images_root(tmp_path):
    maps_root, masks_root, _ = make_category(tmp_path)
    with raises_input_error("2 different sizes", "--images DIR"):
        load_category(find_pairs(maps_root, masks_root))


@pytest.mark.parametrize("threads", [1, 2, 4, 16])
def test_results_identical_whatever_the_thread_count(tmp_path, threads):
    maps_root, masks_root = tmp_path / "maps", tmp_path / "masks"
    for index in range(24):
        write_map(maps_root, f"d{index % 3}/{index:03d}.npy", (5 + index % 4, 7), seed=index)
        write_mask(masks_root, f"d{index % 3}/{index:03d}_mask.png", (11, 13 + index % 2))
    pairs = find_pairs(maps_root, masks_root)
    baseline = load_category(pairs, threads=1)
    calls = []
    loaded = load_category(pairs, threads=threads, progress=calls.append)
    assert len(calls) == len(pairs)
    assert loaded.map_shapes == baseline.map_shapes
    for amap, expected in zip(loaded.maps, baseline.maps, strict=True):
        np.testing.assert_array_equal(amap, expected)
    for mask, expected in zip(loaded.masks, baseline.masks, strict=True):
        np.testing.assert_array_equal(mask, expected)
    assert [m.shape for m in loaded.maps] == [(11, 13 + int(p.key[-3:]) % 2) for p in pairs]


@pytest.mark.parametrize("threads", [1, 4])
def test_bad_map_error_propagates_deterministically(tmp_path, threads):
    maps_root, masks_root = tmp_path / "maps", tmp_path / "masks"
    for index in range(12):
        write_map(maps_root, f"crack/{index:03d}.npy", (8, 8), seed=index)
        write_mask(masks_root, f"crack/{index:03d}_mask.png", (16, 16))
    (maps_root / "crack" / "004.npy").write_bytes(b"not an array at all")
    bad = np.ones((8, 8), dtype=np.float32)
    bad[0, :3] = np.nan
    np.save(maps_root / "crack" / "009.npy", bad)
    with raises_input_error("crack/004.npy", "cannot be read as a .npy"):
        load_category(find_pairs(maps_root, masks_root), threads=threads)
    (maps_root / "crack" / "004.npy").unlink()
    (masks_root / "crack" / "004_mask.png").unlink()
    with raises_input_error("crack/009.npy", "has 3 NaN/inf pixels"):
        load_category(find_pairs(maps_root, masks_root), threads=threads)


def test_bad_mask_error_propagates(tmp_path):
    maps_root, masks_root = tmp_path / "maps", tmp_path / "masks"
    write_map(maps_root, "crack/000.npy", (8, 8))
    write_map(maps_root, "crack/001.npy", (8, 8))
    write_mask(masks_root, "crack/000_mask.png", (16, 16))
    (masks_root / "crack" / "001_mask.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"001_mask\.png is empty"):
        load_category(find_pairs(maps_root, masks_root), threads=4)


@pytest.mark.parametrize("case", ["tiff", "npy_ties"])
def test_reference_data_matches_torch_bilinear(case):
    arrays = np.load(DATA / case / "arrays.npz")
    pairs = find_pairs(DATA / case / "maps", DATA / case / "masks")
    assert [item.relpath for item in pairs] == list(arrays["paths"])
    loaded = load_category(pairs)
    assert len(loaded.maps) == len(arrays["maps"])
    for amap, mask, expected_map, expected_mask in zip(
        loaded.maps, loaded.masks, arrays["maps"], arrays["masks"], strict=True
    ):
        assert amap.shape == expected_map.shape
        np.testing.assert_allclose(amap, expected_map, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(mask, expected_mask > 0)
    assert loaded.num_empty_defect_masks == 0
