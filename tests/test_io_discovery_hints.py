"""Errors that teach: swapped MAPS and MASKS, a category folder instead of its test or ground_truth subfolder,
normal folders in any case, maps named ``<image>.<image ext>.<map ext>``, and `image_key`."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import aupimo_cli.io.discovery as discovery
from aupimo_cli.errors import InputError
from aupimo_cli.io.discovery import find_pairs, image_key
from tests.test_io_discovery import make, touch
from tests.test_io_readers import raises_input_error

SWAP = "did you swap MAPS and MASKS?"
MVTEC_MAPS = ["good/000.tiff", "good/001.tiff", "crack/000.tiff", "scratch/000.tiff"]
MVTEC_MASKS = ["crack/000_mask.png", "scratch/000_mask.png"]


def error_message(maps_root: Path, masks_root: Path) -> str:
    """The one-line message of the InputError that `find_pairs` raises."""
    with pytest.raises(InputError) as info:
        find_pairs(maps_root, masks_root)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def swapped(tmp_path: Path, maps: list[str], masks: list[str]) -> tuple[Path, Path]:
    """A maps tree and a masks tree, returned in the wrong order (masks folder first)."""
    maps_root, masks_root = make(tmp_path, maps, masks)
    return masks_root, maps_root


def category_folders(tmp_path: Path) -> tuple[Path, Path]:
    """An MVTec AD category folder (``mvtec/screw``) and a maps folder mirroring it (``maps/screw``)."""
    dataset = tmp_path / "mvtec" / "screw"
    touch(
        dataset,
        "train/good/000.png",
        "test/good/000.png",
        "test/crack/000.png",
        "ground_truth/crack/000_mask.png",
        "license.txt",
    )
    maps = tmp_path / "maps" / "screw"
    touch(maps, "test/good/000.tiff", "test/crack/000.tiff")
    return maps, dataset


# ---------------------------------------------------------------------------------------------------------------------
# MAPS and MASKS swapped
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("map_extension", "masks_reason"),
    [(".tiff", ".tiff files and no .png"), (".npy", ".npy files"), (".png", "names without _mask")],
)
def test_swapped_mvtec(tmp_path, map_extension, masks_reason):
    maps = [name.replace(".tiff", map_extension) for name in MVTEC_MAPS]
    maps_arg, masks_arg = swapped(tmp_path, maps, MVTEC_MASKS)
    message = error_message(maps_arg, masks_arg)
    assert message == (
        f"MAPS {maps_arg} looks like a masks folder (every name ends with _mask) and MASKS {masks_arg} like a maps "
        f"folder ({masks_reason}): {SWAP} pass {masks_arg} as MAPS and {maps_arg} as MASKS"
    )


@pytest.mark.parametrize(
    ("maps", "masks"),
    [
        (["good/000.npy", "bad/001.npy"], ["bad/001.png"]),  # VisA, anomalib/spot-diff converted
        (["Normal/0000.npz", "Anomaly/000.npz"], ["Anomaly/000.png"]),  # VisA raw
        (["good/000.tif", "bad/001.tif"], ["bad/001.png"]),
    ],
)
def test_swapped_visa(tmp_path, maps, masks):
    maps_arg, masks_arg = swapped(tmp_path, maps, masks)
    with raises_input_error(f"MAPS {maps_arg} looks like a masks folder (only .png files)", SWAP, f"pass {masks_arg}"):
        find_pairs(maps_arg, masks_arg)


def test_swapped_bmp_masks_give_the_hint_instead_of_no_maps_found(tmp_path):
    maps_arg, masks_arg = swapped(tmp_path, ["good/000.npy", "crack/000.npy"], ["crack/000_mask.bmp"])
    message = error_message(maps_arg, masks_arg)
    assert SWAP in message and "no anomaly maps found" not in message


def test_swapped_with_the_dataset_category_folder(tmp_path):
    # aupimo evaluate mvtec/screw maps/screw/test: the fix points MASKS into ground_truth straight away.
    maps, dataset = category_folders(tmp_path)
    assert error_message(dataset, maps / "test") == (
        f"MAPS {dataset} has a ground_truth subfolder, so it looks like the dataset's category folder: "
        f"{SWAP} pass {maps / 'test'} as MAPS and {dataset / 'ground_truth'} as MASKS"
    )


def test_no_swap_hint_for_a_missing_mask_in_valid_trees(tmp_path):
    # VisA with .png maps and .png masks has the very same names and extensions in both folders.
    maps_root, masks_root = make(tmp_path, ["good/000.png", "bad/001.png", "bad/002.png"], ["bad/001.png"])
    message = error_message(maps_root, masks_root)
    assert "bad/002.png" in message and "have no mask" in message and SWAP not in message
    # Its masks folder passed first is no swap either: the names say nothing.
    assert SWAP not in error_message(masks_root, maps_root)


def test_no_swap_hint_for_a_missing_mask_mvtec(tmp_path):
    maps_root, masks_root = make(tmp_path, [*MVTEC_MAPS, "crack/001.tiff"], MVTEC_MASKS)
    message = error_message(maps_root, masks_root)
    assert message.startswith("1 map(s)") and "crack/001.tiff" in message and SWAP not in message


def test_no_swap_hint_when_both_folders_hold_masks(tmp_path):
    maps_root, masks_root = make(tmp_path, MVTEC_MASKS, MVTEC_MASKS)
    assert SWAP not in error_message(maps_root, masks_root)


# ---------------------------------------------------------------------------------------------------------------------
# A category folder instead of its ground_truth or test subfolder
# ---------------------------------------------------------------------------------------------------------------------


def test_masks_category_folder(tmp_path):
    maps, dataset = category_folders(tmp_path)
    assert error_message(maps / "test", dataset) == (
        f"MASKS {dataset} has a ground_truth subfolder, so it looks like the dataset's category folder (its images "
        f"would be taken for masks): did you mean {dataset / 'ground_truth'}? pass that folder as MASKS"
    )
    assert len(find_pairs(maps / "test", dataset / "ground_truth")) == 2


def test_maps_category_folder(tmp_path):
    maps, dataset = category_folders(tmp_path)
    assert error_message(maps, dataset / "ground_truth") == (
        f"MAPS {maps} holds no maps directly in defect folders but has a test subfolder, so it looks like the "
        f"category folder above the maps: did you mean {maps / 'test'}? pass that folder as MAPS"
    )


def test_both_category_folders_in_one_message(tmp_path):
    maps, dataset = category_folders(tmp_path)
    touch(maps, "train/good/000.tiff")
    with raises_input_error(f"did you mean {maps / 'test'}? pass that folder as MAPS; and MASKS {dataset} has"):
        find_pairs(maps, dataset)
    with raises_input_error(f"did you mean {dataset / 'ground_truth'}? pass that folder as MASKS"):
        find_pairs(maps, dataset)


def test_test_folder_beside_defect_folders_gives_no_hint(tmp_path):
    # A defect folder named "test" with maps directly in it: the error is about the missing mask.
    maps_root, masks_root = make(tmp_path, ["test/000.tiff", "crack/000.tiff"], ["crack/000_mask.png"])
    message = error_message(maps_root, masks_root)
    assert "test/000.tiff" in message and "did you mean" not in message


def test_test_and_ground_truth_folders_mirrored_pair_as_before(tmp_path):
    maps_root, masks_root = make(
        tmp_path,
        ["test/crack/000.tiff", "test/good/000.tiff", "ground_truth/crack/000.tiff"],
        ["test/crack/000_mask.png", "ground_truth/crack/000_mask.png"],
    )
    pairs = find_pairs(maps_root, masks_root)
    assert [(pair.key, pair.mask_path is None) for pair in pairs] == [
        ("ground_truth/crack/000", False),
        ("test/crack/000", False),
        ("test/good/000", True),
    ]
    touch(maps_root, "test/crack/001.tiff")
    assert "did you mean" not in error_message(maps_root, masks_root)


# ---------------------------------------------------------------------------------------------------------------------
# Valid trees pair as before
# ---------------------------------------------------------------------------------------------------------------------


def test_valid_mvtec_tree(tmp_path):
    maps_root, masks_root = make(tmp_path, MVTEC_MAPS, MVTEC_MASKS)
    pairs = find_pairs(maps_root, masks_root)
    assert [(pair.relpath, pair.key, pair.mask_path) for pair in pairs] == [
        ("crack/000.tiff", "crack/000", masks_root / "crack/000_mask.png"),
        ("good/000.tiff", "good/000", None),
        ("good/001.tiff", "good/001", None),
        ("scratch/000.tiff", "scratch/000", masks_root / "scratch/000_mask.png"),
    ]


def test_valid_visa_tree_png_maps_and_png_masks(tmp_path):
    maps_root, masks_root = make(
        tmp_path, ["good/0000.png", "bad/0001.png", "bad/0002.png"], ["bad/0001.png", "bad/0002.png"]
    )
    pairs = find_pairs(maps_root, masks_root)
    assert [(pair.relpath, pair.key, pair.mask_path) for pair in pairs] == [
        ("bad/0001.png", "bad/0001", masks_root / "bad/0001.png"),
        ("bad/0002.png", "bad/0002", masks_root / "bad/0002.png"),
        ("good/0000.png", "good/0000", None),
    ]


def test_valid_visa_raw_tree(tmp_path):
    maps_root, masks_root = make(
        tmp_path, ["Normal/0000.npy", "Anomaly/000.npy", "Anomaly/001.npy"], ["Anomaly/000.png", "Anomaly/001.png"]
    )
    pairs = find_pairs(maps_root, masks_root, keep=lambda key: key != "Anomaly/001")
    assert [(pair.relpath, pair.key, pair.mask_path) for pair in pairs] == [
        ("Anomaly/000.npy", "Anomaly/000", masks_root / "Anomaly/000.png"),
        ("Normal/0000.npy", "Normal/0000", None),
    ]


def test_valid_png_maps_with_tiff_masks(tmp_path):
    # Formats that look swapped (.png maps, .tiff masks) are left alone when the tree pairs.
    maps_root, masks_root = make(tmp_path, ["good/0.png", "bad/1.png"], ["bad/1.tiff"])
    assert [pair.mask_path for pair in find_pairs(maps_root, masks_root)] == [masks_root / "bad/1.tiff", None]


# ---------------------------------------------------------------------------------------------------------------------
# Normal folders in any case
# ---------------------------------------------------------------------------------------------------------------------


def test_normal_folders_match_in_any_case(tmp_path):
    maps_root, masks_root = make(
        tmp_path, ["normal/0.npy", "GOOD/1.npy", "Ok/2.npy", "lot/gOoD/3.npy", "crack/4.npy"], ["crack/4_mask.png"]
    )
    pairs = find_pairs(maps_root, masks_root)
    assert [(pair.relpath, pair.in_normal_dir, pair.mask_path is None) for pair in pairs] == [
        ("GOOD/1.npy", True, True),
        ("Ok/2.npy", True, True),
        ("crack/4.npy", False, False),
        ("lot/gOoD/3.npy", True, True),
        ("normal/0.npy", True, True),
    ]


def test_custom_normal_dirs_match_in_any_case(tmp_path):
    maps_root, masks_root = make(tmp_path, ["ok_parts/000.tiff", "good/000.tiff"], [])
    with raises_input_error("good/000.tiff", "have no mask", "(OK_Parts)"):
        find_pairs(maps_root, masks_root, normal_dirs=("OK_Parts",))
    assert len(find_pairs(maps_root, masks_root, normal_dirs=("OK_Parts", "GOOD"))) == 2


# ---------------------------------------------------------------------------------------------------------------------
# Maps that keep their image's extension: 000.png.npy
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", ["crack/000_mask.png", "crack/000.png", "crack/000.png_mask.png", "crack/000.png.png"])
def test_map_keeping_the_image_extension_pairs(tmp_path, mask):
    maps_root, masks_root = make(tmp_path, ["crack/000.png.npy", "good/001.png.npy"], [mask])
    pairs = find_pairs(maps_root, masks_root)
    assert [(pair.relpath, pair.key, pair.mask_path) for pair in pairs] == [
        ("crack/000.png.npy", "crack/000", masks_root / mask),
        ("good/001.png.npy", "good/001", None),
    ]
    assert pairs[0].map_path == maps_root / "crack/000.png.npy"


def test_map_keeping_an_uppercase_image_extension_passes_the_split_filter(tmp_path):
    maps_root, masks_root = make(tmp_path, ["Anomaly/000.JPG.npy", "Anomaly/001.JPG.npy"], ["Anomaly/000.png"])
    (pair,) = find_pairs(maps_root, masks_root, keep=lambda key: key == "Anomaly/000")
    assert (pair.relpath, pair.key) == ("Anomaly/000.JPG.npy", "Anomaly/000")


def test_missing_mask_of_a_map_keeping_the_image_extension(tmp_path):
    maps_root, masks_root = make(tmp_path, ["crack/000.png.npy", "crack/001.png.npy"], ["crack/000_mask.png"])
    with raises_input_error("crack/001.png.npy", f"expected {masks_root / 'crack' / '001_mask.png'})"):
        find_pairs(maps_root, masks_root)


@pytest.mark.parametrize("names", [("000.png.npy", "000.tiff"), ("000.png.npy", "000.npy"), ("000.png", "000.png.npy")])
def test_two_maps_of_one_image_are_ambiguous(tmp_path, names):
    maps_root, masks_root = make(tmp_path, [f"crack/{name}" for name in names], ["crack/000_mask.png"])
    first, second = sorted(f"crack/{name}" for name in names)
    with raises_input_error(f"{first} and {second}", "ambiguous", "keep one map"):
        find_pairs(maps_root, masks_root)


# ---------------------------------------------------------------------------------------------------------------------
# image_key
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "key"),
    [
        ("crack/000.tiff", "crack/000"),
        ("crack/000.png.npy", "crack/000"),
        ("crack/000.npy", "crack/000"),
        ("crack/000.png", "crack/000"),
        ("crack/000.JPEG.tif", "crack/000"),
        ("crack/000.bmp.npz", "crack/000"),
        ("crack/000.png.png", "crack/000"),
        ("crack/000.npy.npy", "crack/000.npy"),  # .npy is no image extension
        ("crack/000.png.png.npy", "crack/000.png"),  # one image extension only
        ("crack/a.b.tiff", "crack/a.b"),
        ("v1.png/000.tiff", "v1.png/000"),  # folders are never changed
        ("000.jpg.npy", "000"),
        ("a/b/000", "a/b/000"),
    ],
)
def test_image_key(relpath, key):
    assert image_key(relpath) == key


def test_image_key_doctest():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    (test,) = finder.find(image_key, "image_key", globs={"image_key": image_key})
    runner.run(test)
    assert runner.failures == 0 and runner.tries >= 3


def test_image_key_is_exported():
    assert "image_key" in discovery.__all__
