"""Discovery and pairing of maps and masks: naming conventions, normal folders, junk, and every pairing error."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from aupimo_cli.io.discovery import DEFAULT_NORMAL_DIRS, ImagePair, find_pairs
from tests.test_io_readers import raises_input_error


def touch(root: Path, *relpaths: str) -> None:
    """Create empty files: discovery never reads their content."""
    for relpath in relpaths:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def make(tmp_path: Path, maps: list[str], masks: list[str]) -> tuple[Path, Path]:
    maps_root, masks_root = tmp_path / "maps", tmp_path / "masks"
    maps_root.mkdir()
    masks_root.mkdir()
    touch(maps_root, *maps)
    touch(masks_root, *masks)
    return maps_root, masks_root


def test_mvtec_layout(tmp_path):
    maps_root, masks_root = make(
        tmp_path,
        ["good/000.tiff", "crack/001.tiff", "crack/000.tiff", "scratch/000.tiff"],
        ["crack/000_mask.png", "crack/001_mask.png", "scratch/000_mask.png"],
    )
    pairs = find_pairs(maps_root, masks_root)
    assert [pair.relpath for pair in pairs] == ["crack/000.tiff", "crack/001.tiff", "good/000.tiff", "scratch/000.tiff"]
    assert pairs[0] == ImagePair(
        relpath="crack/000.tiff",
        key="crack/000",
        defect="crack",
        map_path=maps_root / "crack" / "000.tiff",
        mask_path=masks_root / "crack" / "000_mask.png",
        in_normal_dir=False,
    )
    assert pairs[2] == ImagePair("good/000.tiff", "good/000", "good", maps_root / "good/000.tiff", None, True)
    assert all(pair.map_path.relative_to(maps_root).as_posix() == pair.relpath for pair in pairs)


def test_visa_layout(tmp_path):
    maps_root, masks_root = make(
        tmp_path,
        ["Anomaly/000.npy", "Anomaly/001.npy", "Normal/0500.npy"],
        [
            "Anomaly/000.png",
            "Anomaly/001.png",
        ],
    )
    pairs = find_pairs(maps_root, masks_root)
    assert [(pair.key, pair.mask_path) for pair in pairs] == [
        ("Anomaly/000", masks_root / "Anomaly/000.png"),
        ("Anomaly/001", masks_root / "Anomaly/001.png"),
        ("Normal/0500", None),
    ]
    assert [pair.in_normal_dir for pair in pairs] == [False, False, True]


def test_default_normal_dirs():
    assert DEFAULT_NORMAL_DIRS == ("good", "Normal", "ok")


def test_mask_in_normal_dir_is_used(tmp_path):
    maps_root, masks_root = make(tmp_path, ["good/000.png", "bad/000.png"], ["good/000_mask.png", "bad/000_mask.png"])
    pairs = find_pairs(maps_root, masks_root)
    assert pairs[1].relpath == "good/000.png"
    assert pairs[1].mask_path == masks_root / "good/000_mask.png"
    assert pairs[1].in_normal_dir


def test_custom_normal_dirs_and_nested_trees(tmp_path):
    maps_root, masks_root = make(
        tmp_path, ["lot1/OK_parts/000.tiff", "lot1/dent/000.tiff", "lot2/good/000.tiff"], ["lot1/dent/000_mask.png"]
    )
    with raises_input_error("lot2/good/000.tiff", "have no mask"):
        find_pairs(maps_root, masks_root, normal_dirs=("OK_parts",))
    pairs = find_pairs(maps_root, masks_root, normal_dirs=("OK_parts", "good"))
    assert [(pair.defect, pair.in_normal_dir) for pair in pairs] == [
        ("lot1/OK_parts", True),
        ("lot1/dent", False),
        ("lot2/good", True),
    ]


def test_map_at_the_root_takes_the_root_name(tmp_path):
    maps_root = tmp_path / "good"
    touch(maps_root, "000.tiff")
    (tmp_path / "masks").mkdir()
    (pair,) = find_pairs(maps_root, tmp_path / "masks")
    assert (pair.relpath, pair.key, pair.defect, pair.in_normal_dir) == ("000.tiff", "000", "good", True)


def test_uppercase_extension(tmp_path):
    maps_root, masks_root = make(tmp_path, ["crack/000.TIFF"], ["crack/000_mask.PNG"])
    (pair,) = find_pairs(maps_root, masks_root)
    assert (pair.relpath, pair.key) == ("crack/000.TIFF", "crack/000")


def test_missing_mask_error(tmp_path):
    maps_root, masks_root = make(tmp_path, ["crack/000.tiff", "crack/001.tiff"], ["crack/000_mask.png"])
    expected = str(masks_root / "crack" / "001_mask.png")
    with raises_input_error("1 map(s)", str(maps_root), "crack/001.tiff", f"expected {expected}", "good, Normal, ok"):
        find_pairs(maps_root, masks_root)


def test_missing_mask_error_visa_naming_and_listing_cut(tmp_path):
    maps = [f"Anomaly/{i:03d}.npy" for i in range(8)]
    maps_root, masks_root = make(tmp_path, [*maps, "Anomaly/100.npy"], ["Anomaly/100.png"])
    with raises_input_error("8 map(s)", "Anomaly/000.npy", "Anomaly/004.npy", "and 3 more", "000.png)"):
        find_pairs(maps_root, masks_root)


def test_missing_mask_error_without_any_mask(tmp_path):
    maps_root, masks_root = make(tmp_path, ["crack/000.tiff"], [])
    with raises_input_error("crack/000.tiff", "000_mask.png or 000.png"):
        find_pairs(maps_root, masks_root)


def test_only_normal_images_need_no_masks(tmp_path):
    maps_root, masks_root = make(tmp_path, ["good/000.tiff", "good/001.tiff"], [])
    assert [pair.mask_path for pair in find_pairs(maps_root, masks_root)] == [None, None]


def test_orphan_mask_error(tmp_path):
    maps_root, masks_root = make(tmp_path, ["crack/000.tiff"], ["crack/000_mask.png", "crack/007_mask.png"])
    with raises_input_error("1 mask(s)", "crack/007_mask.png", str(maps_root / "crack" / "007"), "no anomaly map"):
        find_pairs(maps_root, masks_root)


def test_mixed_mask_naming_hint(tmp_path):
    maps_root, masks_root = make(
        tmp_path, ["crack/000.tiff", "crack/001.tiff"], ["crack/000_mask.png", "crack/001.png"]
    )
    with raises_input_error("crack/000.tiff", "mix <name>_mask and <name>"):
        find_pairs(maps_root, masks_root)


@pytest.mark.parametrize("extensions", [(".tif", ".tiff"), (".npy", ".tiff"), (".png", ".npz")])
def test_ambiguous_map_extensions(tmp_path, extensions):
    names = [f"crack/000{ext}" for ext in extensions]
    maps_root, masks_root = make(tmp_path, names, ["crack/000_mask.png"])
    with raises_input_error(*sorted(names), "ambiguous", "keep one map"):
        find_pairs(maps_root, masks_root)


def test_ambiguous_mask_extensions(tmp_path):
    maps_root, masks_root = make(tmp_path, ["crack/000.tiff"], ["crack/000_mask.png", "crack/000_mask.bmp"])
    with raises_input_error("crack/000_mask.bmp and crack/000_mask.png", "keep one mask"):
        find_pairs(maps_root, masks_root)


def test_hidden_and_junk_files_ignored(tmp_path):
    maps_root, masks_root = make(
        tmp_path,
        [
            "crack/000.tiff",
            "crack/._000.tiff",
            "crack/.DS_Store",
            "crack/Thumbs.db",
            "crack/desktop.ini",
            "crack/notes.txt",
            "crack/000.jpg",
            ".ipynb_checkpoints/000.tiff",
            "__MACOSX/crack/000.tiff",
            "good/README",
        ],
        ["crack/000_mask.png", "crack/._000_mask.png", ".cache/x.png", "crack/Thumbs.db", "crack/000_mask.txt"],
    )
    assert [pair.relpath for pair in find_pairs(maps_root, masks_root)] == ["crack/000.tiff"]


def test_unicode_and_spaces(tmp_path):
    maps_root, masks_root = make(
        tmp_path,
        ["défaut rayé/000 ü.tiff", "日本/a b.npy"],
        [
            "défaut rayé/000 ü_mask.png",
            "日本/a b_mask.png",
        ],
    )
    pairs = find_pairs(maps_root, masks_root)
    assert [(pair.key, pair.defect) for pair in pairs] == [("défaut rayé/000 ü", "défaut rayé"), ("日本/a b", "日本")]
    assert all(pair.mask_path is not None and pair.mask_path.exists() for pair in pairs)


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_symlink_loop_does_not_hang(tmp_path):
    maps_root, masks_root = make(tmp_path, ["crack/000.tiff"], ["crack/000_mask.png"])
    os.symlink(maps_root, maps_root / "crack" / "loop", target_is_directory=True)
    os.symlink(masks_root, masks_root / "crack" / "loop", target_is_directory=True)
    assert [pair.relpath for pair in find_pairs(maps_root, masks_root)] == ["crack/000.tiff"]


def test_empty_maps_folder(tmp_path):
    maps_root, masks_root = make(tmp_path, [], ["crack/000_mask.png"])
    with raises_input_error(f"no anomaly maps found in {maps_root}", ".tif, .tiff, .npy, .npz, .png"):
        find_pairs(maps_root, masks_root)
    touch(maps_root, "crack/000.jpg", "crack/001.jpg", "crack/002.exr")
    with raises_input_error("3 file(s) with other extensions", ".jpg (2)", ".exr (1)"):
        find_pairs(maps_root, masks_root)


def test_missing_or_file_roots(tmp_path):
    maps_root, masks_root = make(tmp_path, ["crack/000.tiff"], ["crack/000_mask.png"])
    with raises_input_error("MAPS folder", "nowhere", "does not exist"):
        find_pairs(tmp_path / "nowhere", masks_root)
    with raises_input_error("MASKS folder", "nowhere", "does not exist"):
        find_pairs(maps_root, tmp_path / "nowhere")
    touch(tmp_path, "file.txt")
    with raises_input_error("MAPS", "file.txt", "is not a folder"):
        find_pairs(tmp_path / "file.txt", masks_root)
    with raises_input_error("MASKS", "file.txt", "is not a folder"):
        find_pairs(maps_root, tmp_path / "file.txt")
