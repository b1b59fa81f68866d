"""Hostile maps and masks: files whose header declares more than they hold (decompression bombs, corrupt
headers) or more than the memory budget are refused from their header, quickly and without allocating.
"""

from __future__ import annotations

import io
import math
import shutil
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from aupimo_cli.cli import app
from aupimo_cli.io.readers import read_map, read_mask

from .conftest import DATA, invoke
from .test_io_readers import raises_input_error

HUGE = 100_000  # pixels per side: 10^10 pixels, 37.3 GiB as float32
MIB = 2**20


@contextmanager
def fast_and_small(seconds: float = 1.0, peak_bytes: int = 16 * MIB) -> Iterator[None]:
    """The block runs in under `seconds` and its Python/numpy allocations peak under `peak_bytes`."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, elapsed
    assert peak < peak_bytes, peak


# ---------------------------------------------------------------------------------------------------------------------
# Hostile files
# ---------------------------------------------------------------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_declaring(height: int, width: int, idat: bytes, color_type: int = 0, bit_depth: int = 8) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def bomb_png() -> bytes:
    """About 1 KiB declaring HUGE x HUGE 8-bit gray pixels; its IDAT inflates to 1 MB of zeros."""
    return png_declaring(HUGE, HUGE, zlib.compress(bytes(10**6), 9))


def bomb_npy() -> bytes:
    """200 bytes whose header declares a (HUGE, HUGE) float64 array (74.5 GiB)."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": "<f8", "fortran_order": False, "shape": (HUGE, HUGE)})
    return stream.getvalue().ljust(200, b"\0")


def tiff_bytes(tags: list[tuple[int, int, int, int]], payload: bytes = b"") -> bytes:
    """A little-endian classic TIFF with one IFD of (tag, type, count, value or offset) entries, then `payload`.

    Values are written inline in the entry's 4 bytes (SHORT left-aligned); entries with more values point at an
    offset, which may lie beyond the end of the file.
    """
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in sorted(tags):
        if kind == 3 and count == 1:
            ifd += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + payload


def _float_image_tags(height: int, width: int, compression: int = 1) -> list[tuple[int, int, int, int]]:
    # ImageWidth, ImageLength, BitsPerSample 32, Compression, Photometric min-is-black, SamplesPerPixel 1,
    # PlanarConfig contig, SampleFormat float
    return [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 32), (259, 3, 1, compression), (262, 3, 1, 1),
            (277, 3, 1, 1), (284, 3, 1, 1), (339, 3, 1, 3)]  # fmt: skip


def huge_tile_count_tiff() -> bytes:
    """~1 KiB declaring HUGE x HUGE float32 pixels in 16x16 tiles: 39,062,500 TileOffsets the file cannot hold."""
    num_tiles = math.ceil(HUGE / 16) ** 2
    tiles = [(322, 3, 1, 16), (323, 3, 1, 16), (324, 4, num_tiles, 200), (325, 4, num_tiles, 200)]
    return tiff_bytes(_float_image_tags(HUGE, HUGE) + tiles, bytes(1000))


def one_tile_of_many_tiff() -> bytes:
    """Deflate-compressed, HUGE x HUGE in 16x16 tiles, but listing the offset of a single tile."""
    tile = zlib.compress(bytes(16 * 16 * 4))
    tiles = [(322, 3, 1, 16), (323, 3, 1, 16), (324, 4, 1, 8 + 2 + 12 * 12 + 4), (325, 4, 1, len(tile))]
    return tiff_bytes(_float_image_tags(HUGE, HUGE, compression=8) + tiles, tile)


def short_strip_tiff() -> bytes:
    """Uncompressed HUGE x HUGE float32 in one strip, in a file of ~1 KiB."""
    strip = [(273, 4, 1, 8 + 2 + 11 * 12 + 4), (278, 4, 1, HUGE), (279, 4, 1, 1000)]
    return tiff_bytes(_float_image_tags(HUGE, HUGE) + strip, bytes(1000))


def npz_with(member: bytes, declared_size: int | None = None) -> bytes:
    """A .npz (deflated zip) holding `member` as ``arr_0.npy``, its declared uncompressed size patched if given."""
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("arr_0.npy", member)
    data = bytearray(stream.getvalue())
    if declared_size is not None:
        local = data.index(b"PK\x03\x04")
        central = data.index(b"PK\x01\x02")
        struct.pack_into("<I", data, local + 22, declared_size)
        struct.pack_into("<I", data, central + 24, declared_size)
    return bytes(data)


def bomb_bmp() -> bytes:
    """A 10x10 8-bit BMP whose header is patched to declare 50000x50000 pixels."""
    ok, encoded = cv2.imencode(".bmp", np.zeros((10, 10), np.uint8))
    assert ok
    data = bytearray(encoded.tobytes())
    struct.pack_into("<ii", data, 18, 50_000, 50_000)
    return bytes(data)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------------------------------


def test_bomb_png_refused_as_map_and_as_mask(tmp_path):
    data = bomb_png()
    assert len(data) < 2048
    path = write(tmp_path / "bomb.png", data)
    for reader in (read_map, read_mask):
        with fast_and_small(), raises_input_error("bomb.png", "100000x100000 pixels", "9.3 GiB", "cannot hold"):
            reader(path)


def test_png_that_can_hold_its_pixels_but_exceeds_the_budget(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (200, 300), dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    path = write(tmp_path / "big.png", encoded.tobytes())
    with raises_input_error("big.png", "200x300 pixels (58.6 KiB decoded)", "--max-memory", "10.0 KiB"):
        read_map(path, max_decoded_bytes=10 * 1024)
    with raises_input_error("big.png", "--max-memory"):
        read_mask(path, max_decoded_bytes=10 * 1024)
    np.testing.assert_array_equal(read_map(path, max_decoded_bytes=200 * 300), image.astype(np.float32))
    np.testing.assert_array_equal(read_mask(path, max_decoded_bytes=200 * 300), image != 0)
    np.testing.assert_array_equal(read_map(path), image.astype(np.float32))


def test_png_budget_counts_channels_and_bit_depth(tmp_path):
    image = np.ones((20, 30, 3), dtype=np.uint16)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    path = write(tmp_path / "rgb16.png", encoded.tobytes())
    assert read_mask(path, max_decoded_bytes=20 * 30 * 3 * 2).all()
    with raises_input_error("rgb16.png", "--max-memory"):
        read_mask(path, max_decoded_bytes=20 * 30 * 3 * 2 - 1)


@pytest.mark.parametrize(("height", "width"), [(0, 5), (5, 0), (2**31, 5)])
def test_png_with_zero_or_absurd_size_refused(tmp_path, height, width):
    path = write(tmp_path / "odd.png", png_declaring(height, width, zlib.compress(bytes(100))))
    with raises_input_error("odd.png", f"{height}x{width} pixels", "1 to 2147483647"):
        read_mask(path)


def test_truncated_png_refused_from_its_header(tmp_path):
    ok, encoded = cv2.imencode(".png", np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8))
    assert ok
    path = write(tmp_path / "cut.png", encoded.tobytes()[:40])
    with raises_input_error("cut.png", "cannot be read as a PNG", "64x64 pixels", "cannot hold"):
        read_map(path)


def test_bomb_npy_refused_without_allocating(tmp_path):
    path = write(tmp_path / "bomb.npy", bomb_npy())
    assert path.stat().st_size == 200
    with fast_and_small(), raises_input_error("bomb.npy", "(100000, 100000) float64", "74.5 GiB", "cannot hold"):
        read_map(path)


def test_npy_over_the_budget(tmp_path):
    np.save(tmp_path / "m.npy", np.ones((40, 50), np.float32))
    with raises_input_error("m.npy", "(40, 50) float32 array (7.8 KiB)", "--max-memory"):
        read_map(tmp_path / "m.npy", max_decoded_bytes=1000)
    assert read_map(tmp_path / "m.npy", max_decoded_bytes=40 * 50 * 4).shape == (40, 50)


def test_npz_zip_bomb_refused(tmp_path):
    member = io.BytesIO()
    np.save(member, np.zeros((8, 8), np.float32))
    path = write(tmp_path / "bomb.npz", npz_with(member.getvalue(), declared_size=2**32 - 1))
    with fast_and_small(), raises_input_error("bomb.npz", "'arr_0.npy' of 4.0 GiB uncompressed", "cannot hold"):
        read_map(path)


def test_npz_member_declaring_a_huge_array_refused(tmp_path):
    path = write(tmp_path / "bomb.npz", npz_with(bomb_npy()))
    with fast_and_small(), raises_input_error("bomb.npz", "(100000, 100000) float64", "its member 'arr_0.npy'"):
        read_map(path)
    path = write(tmp_path / "renamed.npz", bomb_npy())  # a .npy renamed to .npz
    with fast_and_small(), raises_input_error("renamed.npz", "(100000, 100000) float64", "cannot hold"):
        read_map(path)


def test_npz_over_the_budget(tmp_path):
    np.savez_compressed(tmp_path / "m.npz", np.ones((40, 50), np.float32))
    with raises_input_error("m.npz", "(40, 50) float32", "--max-memory"):
        read_map(tmp_path / "m.npz", max_decoded_bytes=1000)
    assert read_map(tmp_path / "m.npz", max_decoded_bytes=40 * 50 * 4).shape == (40, 50)


def test_bmp_declaring_more_pixels_than_it_holds(tmp_path):
    path = write(tmp_path / "bomb.bmp", bomb_bmp())
    with fast_and_small(), raises_input_error("bomb.bmp", "50000x50000 pixels", "cannot hold"):
        read_mask(path)


def test_bmp_budget_and_valid_bmp(tmp_path):
    mask = np.zeros((30, 40), np.uint8)
    mask[5:9, 3:7] = 255
    ok, encoded = cv2.imencode(".bmp", mask)
    assert ok
    path = write(tmp_path / "m.bmp", encoded.tobytes())
    np.testing.assert_array_equal(read_mask(path, max_decoded_bytes=30 * 40), mask > 0)  # gray palette: 1 channel
    with raises_input_error("m.bmp", "--max-memory"):
        read_mask(path, max_decoded_bytes=30 * 40 - 1)


def test_tiff_with_a_huge_tile_count_refused_quickly(tmp_path):
    path = write(tmp_path / "tiles.tiff", huge_tile_count_tiff())
    assert path.stat().st_size < 2048
    needles = ("tiles.tiff", "100000x100000 pixels (37.3 GiB decoded)", "39,062,500 tiles of 16x16",
               "offsets for 0 of them", "cannot hold")  # fmt: skip
    with fast_and_small(), raises_input_error(*needles):
        read_map(path)
    with fast_and_small(), raises_input_error(*needles):
        read_mask(path)


def test_compressed_tiff_listing_too_few_tiles_refused(tmp_path):
    path = write(tmp_path / "one_tile.tiff", one_tile_of_many_tiff())
    with fast_and_small(), raises_input_error("one_tile.tiff", "offsets for 1 of them", "cannot hold"):
        read_map(path)


def test_uncompressed_tiff_whose_strips_cannot_fit_refused(tmp_path):
    path = write(tmp_path / "strip.tiff", short_strip_tiff())
    with fast_and_small(), raises_input_error("strip.tiff", "100000x100000 pixels", "uncompressed", "cannot hold"):
        read_map(path)
    with fast_and_small(), raises_input_error("strip.tiff", "cannot hold"):
        read_mask(path)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_budget_and_valid_tiff(tmp_path, compression):
    values = np.random.default_rng(2).random((64, 48)).astype(np.float32)
    path = tmp_path / "m.tiff"
    tifffile.imwrite(path, values, compression=compression)
    with raises_input_error("m.tiff", "64x48 pixels (12.0 KiB decoded)", "--max-memory"):
        read_map(path, max_decoded_bytes=12 * 1024 - 1)
    np.testing.assert_array_equal(read_map(path, max_decoded_bytes=12 * 1024), values)
    mask = path.with_name("k.tiff")
    tifffile.imwrite(mask, (values > 0.5).astype(np.uint8) * 255, compression=compression)
    with raises_input_error("k.tiff", "--max-memory"):
        read_mask(mask, max_decoded_bytes=64 * 48 - 1)
    np.testing.assert_array_equal(read_mask(mask, max_decoded_bytes=64 * 48), values > 0.5)


def test_tifffile_log_records_do_not_leak(tmp_path, capfd, caplog):
    path = write(tmp_path / "tiles.tiff", huge_tile_count_tiff())
    with raises_input_error("tiles.tiff"):
        read_map(path)
    assert "TiffTag" not in capfd.readouterr().err
    assert not [record for record in caplog.records if record.name == "tifffile"]


# ---------------------------------------------------------------------------------------------------------------------
# Through the CLI: exit 2, one line naming the file, nothing written
# ---------------------------------------------------------------------------------------------------------------------


def _replace_mask(masks: Path) -> str:
    write(masks / "crack" / "000_mask.png", bomb_png())
    return "crack/000_mask.png"


CLI_CASES: list[tuple[str, Callable[[Path, Path], str]]] = [
    ("bomb-png-map", lambda maps, masks: write(maps / "good" / "950.png", bomb_png()) and "good/950.png"),
    ("bomb-png-mask", lambda maps, masks: _replace_mask(masks)),
    ("huge-tile-count-tiff", lambda maps, masks: write(maps / "good" / "951.tiff", huge_tile_count_tiff())
     and "good/951.tiff"),
    ("bomb-npy", lambda maps, masks: write(maps / "good" / "952.npy", bomb_npy()) and "good/952.npy"),
]  # fmt: skip


@pytest.mark.parametrize("drop_in", [case[1] for case in CLI_CASES], ids=[case[0] for case in CLI_CASES])
def test_cli_refuses_hostile_file_with_exit_2(tmp_path, drop_in):
    maps, masks = tmp_path / "maps", tmp_path / "masks"
    shutil.copytree(DATA / "tiff" / "maps", maps)
    shutil.copytree(DATA / "tiff" / "masks", masks)
    relpath = drop_in(maps, masks)
    out = tmp_path / "out"
    start = time.perf_counter()
    code, stdout, stderr = invoke(app, "evaluate", maps, masks, "--out", out)
    elapsed = time.perf_counter() - start
    message = " ".join(stderr.split())
    assert code == 2, (stdout, stderr)
    assert message.startswith("error:") and message.count("error:") == 1, stderr
    assert relpath in message and "cannot hold" in message, message
    assert "Traceback" not in stderr and "TiffTag" not in stderr
    assert not out.exists()
    assert elapsed < 10, elapsed  # the whole run; the hostile file itself is refused in milliseconds
