"""The catalogue of bad and unusual inputs, run through the CLI: clear exits, and results never lost.

Every error case checks exit code 2, a one-line message naming the file, that a missing --out is not
created, and that an existing one (replaced with --overwrite) is left byte for byte as it was.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from aupimo_cli.cli import app

from .conftest import DATA, invoke


def run(*args: str | Path) -> tuple[int, str, str]:
    return invoke(app, *args)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def good_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("good") / "results"
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "-q")
    assert code == 0, stderr
    return out


def tree(tmp_path: Path) -> tuple[Path, Path]:
    maps, masks = tmp_path / "maps", tmp_path / "masks"
    shutil.copytree(DATA / "tiff" / "maps", maps)
    shutil.copytree(DATA / "tiff" / "masks", masks)
    return maps, masks


def save_npy(path: Path, array: np.ndarray, allow_pickle: bool = False) -> None:
    np.save(path, array, allow_pickle=allow_pickle)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


# (id, how to break the tree, text the message must contain: the file's relative path, and more)
ERROR_CASES: list[tuple[str, Callable[[Path, Path], None], tuple[str, ...]]] = [
    ("truncated-tiff", lambda m, k: _truncate(m / "crack" / "001.tiff"), ("crack/001.tiff",)),
    ("random-bytes-png", lambda m, k: (m / "good" / "900.png").write_bytes(os.urandom(300)), ("good/900.png",)),
    ("zero-byte", lambda m, k: (m / "good" / "901.tiff").write_bytes(b""), ("good/901.tiff", "empty")),
    ("tif-and-tiff", lambda m, k: shutil.copy(m / "crack" / "000.tiff", m / "crack" / "000.tif"), ("000.tif",)),
    ("npy-and-tiff", lambda m, k: save_npy(m / "crack" / "000.npy", np.zeros((8, 8), np.float32)), ("000.npy",)),
    ("three-channels", lambda m, k: save_npy(m / "good" / "902.npy", np.zeros((8, 8, 3), np.float32)),
     ("good/902.npy", "2-D")),
    ("one-dimensional", lambda m, k: save_npy(m / "good" / "903.npy", np.zeros(8, np.float32)), ("good/903.npy",)),
    ("zero-size", lambda m, k: save_npy(m / "good" / "904.npy", np.zeros((0, 8), np.float32)), ("good/904.npy",)),
    ("bool-dtype", lambda m, k: save_npy(m / "good" / "905.npy", np.zeros((8, 8), bool)), ("good/905.npy",)),
    ("complex-dtype", lambda m, k: save_npy(m / "good" / "906.npy", np.zeros((8, 8), np.complex64)),
     ("good/906.npy",)),
    ("object-npy", lambda m, k: save_npy(m / "good" / "907.npy", np.array([{"a": 1}], dtype=object), True),
     ("good/907.npy",)),
    ("nan", lambda m, k: _poke(m / "good" / "003.tiff", np.nan, 5), ("good/003.tiff", "5")),
    ("plus-inf", lambda m, k: _poke(m / "scratch" / "002.tiff", np.inf, 3), ("scratch/002.tiff", "3")),
    ("minus-inf", lambda m, k: _poke(m / "crack" / "004.tiff", -np.inf, 1), ("crack/004.tiff", "1")),
    ("mask-size-differs", lambda m, k: _resize_mask(k / "crack" / "003_mask.png", (128, 128)), ("--images",)),
    ("missing-mask", lambda m, k: (k / "crack" / "002_mask.png").unlink(), ("crack/002",)),
    ("mask-without-map", lambda m, k: (m / "scratch" / "001.tiff").unlink(), ("scratch/001_mask.png",)),
    ("only-normal-images", lambda m, k: [shutil.rmtree(p) for p in (m / "crack", m / "scratch", k)] and None,
     ("masks",)),
]  # fmt: skip


def _poke(path: Path, value: float, count: int) -> None:
    amap = tifffile.imread(path)
    amap.flat[:count] = value
    tifffile.imwrite(path, amap)


def _resize_mask(path: Path, shape: tuple[int, int]) -> None:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(path), cv2.resize(mask, shape[::-1], interpolation=cv2.INTER_NEAREST))


@pytest.mark.parametrize(("break_tree", "needles"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_bad_input_exits_2_naming_the_file_and_changes_nothing(tmp_path, good_results, break_tree, needles):
    maps, masks = tree(tmp_path)
    if needles == ("masks",):  # only normal images: the masks folder must still exist
        break_tree(maps, masks)
        masks.mkdir()
    else:
        break_tree(maps, masks)
    fresh = tmp_path / "fresh"
    code, stdout, stderr = run("evaluate", maps, masks, "--out", fresh)
    assert code == 2, (stdout, stderr)
    message = " ".join(stderr.split())
    assert message.startswith("error:") and "Traceback" not in stderr
    for needle in needles:
        assert needle in message, (needle, message)
    assert not fresh.exists() and leftovers(fresh) == []
    existing = tmp_path / "existing"
    shutil.copytree(good_results, existing)
    before = snapshot(existing)
    assert run("evaluate", maps, masks, "--out", existing, "--overwrite")[0] == 2
    assert snapshot(existing) == before and leftovers(existing) == []


def test_count_of_error_cases():
    # The closing note quotes this number; keep it in sync when adding cases.
    assert len(ERROR_CASES) == 18


# ---------------------------------------------------------------------------------------------------------------
# unusual but valid inputs


def _rewrite_masks(masks: Path, convert: Callable[[np.ndarray], np.ndarray]) -> None:
    for path in sorted(masks.rglob("*.png")):
        mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) > 0
        ok, encoded = cv2.imencode(".png", convert(mask))
        assert ok
        path.write_bytes(encoded.tobytes())


def _palette_png(mask: np.ndarray) -> bytes:
    """An 8-bit palette PNG whose index 0 is white and index 2 black: the raw indices must count, not colours."""
    import struct
    import zlib

    height, width = mask.shape
    indices = np.where(mask, 2, 0).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in indices)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    palette = bytes([255, 255, 255, 10, 10, 10, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"PLTE", palette) + chunk(
        b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")  # fmt: skip


@pytest.mark.parametrize(
    "convert",
    [
        lambda m: m.astype(np.uint16) * np.uint16(65535),  # 16-bit
        lambda m: np.dstack([m * np.uint8(255)] * 3 + [np.full(m.shape, 255, np.uint8)]),  # RGBA, opaque
        lambda m: np.dstack([np.zeros(m.shape, np.uint8), m.astype(np.uint8) * 7, np.zeros(m.shape, np.uint8)]),
        lambda m: m.astype(np.uint8) * np.uint8(3),  # VisA class ids
        "palette",
    ],
    ids=["16-bit", "rgba", "3-channel-green", "class-ids", "palette"],
)
def test_unusual_masks_give_the_reference_results(tmp_path, good_results, convert):
    maps, masks = tree(tmp_path)
    if convert == "palette":
        for path in sorted(masks.rglob("*.png")):
            path.write_bytes(_palette_png(cv2.imread(str(path), cv2.IMREAD_UNCHANGED) > 0))
    else:
        _rewrite_masks(masks, convert)
    out = tmp_path / "out"
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "-q")
    assert code == 0, stderr
    assert snapshot(out)["summary.json"] == snapshot(good_results)["summary.json"]
    assert snapshot(out)["aupimo/aupimos.json"] == snapshot(good_results)["aupimo/aupimos.json"]


def test_aspect_ratio_change_is_resized_and_counted(tmp_path):
    maps, masks = tree(tmp_path)
    for path in sorted((maps / "scratch").glob("*.tiff"))[:2]:
        tifffile.imwrite(path, cv2.resize(tifffile.imread(path), (32, 64), interpolation=cv2.INTER_LINEAR))
    out = tmp_path / "out"
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "-q")
    assert code == 0, stderr
    assert "2 map(s) have another aspect ratio" in " ".join(stderr.split())
    assert json.loads((out / "provenance.json").read_text())["inputs"]["num_aspect_changed"] == 2


def test_empty_defect_mask_makes_the_image_normal_with_a_note(tmp_path, good_results):
    maps, masks = tree(tmp_path)
    path = masks / "crack" / "005_mask.png"
    cv2.imwrite(str(path), np.zeros((256, 256), np.uint8))
    out = tmp_path / "out"
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "-q")
    assert code == 0, stderr
    assert "1 mask(s) outside the normal folders are empty" in " ".join(stderr.split())
    summary = json.loads((out / "summary.json").read_text())
    reference = json.loads((good_results / "summary.json").read_text())
    assert (summary["num_normal"], summary["num_anomalous"]) == (
        reference["num_normal"] + 1,
        reference["num_anomalous"] - 1,
    )
    assert json.loads((out / "provenance.json").read_text())["inputs"]["num_empty_defect_masks"] == 1


def test_junk_files_and_symlink_loops_are_ignored(tmp_path, good_results):
    maps, masks = tree(tmp_path)
    for folder in (maps, maps / "crack", masks / "crack"):
        (folder / ".DS_Store").write_bytes(os.urandom(64))
        (folder / "Thumbs.db").write_bytes(os.urandom(64))
    (maps / "crack" / "._000.tiff").write_bytes(os.urandom(64))
    (maps / "good" / "loop").symlink_to(maps, target_is_directory=True)
    out = tmp_path / "out"
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "-q")
    assert code == 0, stderr
    assert snapshot(out)["summary.json"] == snapshot(good_results)["summary.json"]


def test_unicode_and_spaces_in_paths(tmp_path, good_results):
    root = tmp_path / "données d'essai" / "モデル 1"
    maps, masks = tree(root)
    out = root / "résultats 1"
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "-q", "--category", "maps")
    assert code == 0, stderr
    assert snapshot(out)["summary.json"] == snapshot(good_results)["summary.json"]
    assert snapshot(out)["per_image.parquet"] == snapshot(good_results)["per_image.parquet"]


# ---------------------------------------------------------------------------------------------------------------
# the output folder


def test_output_that_is_a_file(tmp_path):
    target = tmp_path / "results"
    target.write_text("not a folder")
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", target, "--overwrite")
    assert code == 2 and "is a file" in stderr
    assert target.read_text() == "not a folder"


def test_output_not_writable(tmp_path, monkeypatch):
    # Tests run as root here, which ignores permission bits, so the check itself is exercised.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != tmp_path and real_access(path, mode, **kw))
    out = tmp_path / "results"
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out)
    assert code == 2 and "not writable" in stderr
    assert not out.exists()


def test_disk_full_while_writing_keeps_the_old_results(tmp_path, good_results, monkeypatch):
    out = tmp_path / "results"
    shutil.copytree(good_results, out)
    before = snapshot(out)

    def full_disk(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("aupimo_cli.pipeline.evaluate.write_per_image", full_disk)
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "--overwrite")
    assert code == 2
    assert "No space left on device" in stderr and "nothing there was changed" in " ".join(stderr.split())
    assert snapshot(out) == before and leftovers(out) == []


def test_ctrl_c_while_writing_keeps_the_old_results(tmp_path, good_results, monkeypatch):
    out = tmp_path / "results"
    shutil.copytree(good_results, out)
    before = snapshot(out)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("aupimo_cli.pipeline.evaluate.write_summary", interrupted)
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "--overwrite")
    assert code == 130 and "interrupted" in stderr
    assert snapshot(out) == before and leftovers(out) == []


def test_stale_staging_folders_are_cleaned(tmp_path, good_results):
    out = tmp_path / "results"
    stale = tmp_path / ".results.tmp-999999999"
    stale.mkdir()
    (stale / "summary.json").write_text("{half")
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "-q")
    assert code == 0, stderr
    assert not stale.exists() and snapshot(out) == snapshot(good_results)


def test_old_results_moved_aside_by_a_killed_run_are_restored(tmp_path, good_results):
    # Where renameat2 is unavailable the old folder is moved aside first; a kill before the new one moves in
    # must not lose it: the next run puts it back before anything else.
    aside = tmp_path / ".results.old-999999999"
    shutil.copytree(good_results, aside)
    out = tmp_path / "results"
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out)
    assert code == 2 and "already exists" in stderr
    assert snapshot(out) == snapshot(good_results) and not aside.exists()


def test_kill_at_any_moment_leaves_old_or_new_results(tmp_path, good_results):
    out = tmp_path / "results"
    shutil.copytree(good_results, out)
    old = snapshot(out)
    script = Path(sys.executable).parent / "aupimo"
    command = [script, "evaluate", DATA / "npy_ties" / "maps", DATA / "npy_ties" / "masks", "--out", out,
               "--overwrite", "-q"]  # fmt: skip
    seen = set()
    for delay in (0.3, 0.8, 1.2, 1.6, 2.0, 2.4):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        current = snapshot(out)
        if current == old:
            seen.add("old")
            continue
        seen.add("new")
        assert set(current) == set(old)
        assert json.loads(current["aupimo/aupimos.json"])["paths"][0] == "bent/000.npy"
        shutil.rmtree(out)
        shutil.copytree(good_results, out)
    assert "old" in seen
    # The next run cleans what the kills left and completes.
    code = subprocess.run(command, check=False).returncode
    assert code == 0 and leftovers(out) == []


# ---------------------------------------------------------------------------------------------------------------
# determinism


def test_results_do_not_depend_on_thread_count_or_file_order(tmp_path, good_results, monkeypatch):
    import aupimo_cli.io.discovery as discovery
    import aupimo_cli.io.loader as loader

    real_walk = os.walk

    def reversed_walk(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for folder, dirnames, filenames in real_walk(*args, **kwargs):
            dirnames.reverse()
            yield folder, dirnames, list(reversed(filenames))

    monkeypatch.setattr(discovery.os, "walk", reversed_walk)
    monkeypatch.setattr(loader.os, "cpu_count", lambda: 1)
    out = tmp_path / "out"
    code, _, stderr = run("evaluate", DATA / "tiff" / "maps", DATA / "tiff" / "masks", "--out", out, "-q")
    assert code == 0, stderr
    assert snapshot(out) == snapshot(good_results)


# ---------------------------------------------------------------------------------------------------------------
# aupimo check


def test_check_reproduces_detects_changes_and_missing_inputs(tmp_path):
    maps, masks = tree(tmp_path)
    out = tmp_path / "results"
    assert run("evaluate", maps, masks, "--out", out, "-q")[0] == 0
    code, stdout, _ = run("check", out)
    assert code == 0 and "reproduced" in stdout
    summary = json.loads((out / "summary.json").read_text())
    summary["aupro_05"] = 0.5
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    code, stdout, _ = run("check", out)
    assert code == 3 and "aupro_05" in stdout
    shutil.rmtree(maps)
    code, _, stderr = run("check", out)
    assert code == 2 and "missing" in stderr
    code, _, stderr = run("check", tmp_path)
    assert code == 2 and "summary.json" in stderr
