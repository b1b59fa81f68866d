"""Readers of maps, masks and image sizes: every format, and every bad file as a one-line InputError."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from aupimo_cli.errors import InputError
from aupimo_cli.io import readers
from aupimo_cli.io.readers import MAP_EXTENSIONS, read_image_size, read_map, read_mask

RNG = np.random.default_rng(0)


def write_image(path: Path, image: np.ndarray) -> Path:
    """Encode with OpenCV by the path's extension and write the bytes (works for any path)."""
    ok, encoded = cv2.imencode(path.suffix, image)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded.tobytes())
    return path


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_bytes(
    rows: np.ndarray,
    width: int,
    color_type: int,
    bit_depth: int = 8,
    palette: list[tuple[int, int, int]] | None = None,
    transparency: bytes | None = None,
) -> bytes:
    """A minimal PNG (filter 0 on every row); OpenCV cannot write palette or gray+alpha PNGs."""
    height = rows.shape[0]
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).ravel()))
    if transparency is not None:
        out += _chunk(b"tRNS", transparency)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    return out + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


@contextmanager
def raises_input_error(*fragments: str) -> Iterator[None]:
    """Expect an InputError whose message is one line containing every fragment."""
    with pytest.raises(InputError) as info:
        yield
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# ---------------------------------------------------------------------------------------------------------------------
# Maps
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64, np.uint8, np.uint16, np.int32])
@pytest.mark.parametrize("suffix", [".tif", ".tiff"])
def test_tiff_map_any_real_dtype_becomes_float32(tmp_path, dtype, suffix):
    values = (RNG.random((5, 7)) * 200).astype(dtype)
    path = tmp_path / f"000{suffix}"
    tifffile.imwrite(path, values)
    amap = read_map(path)
    assert amap.dtype == np.float32
    assert amap.shape == (5, 7)
    assert amap.flags.c_contiguous
    np.testing.assert_array_equal(amap, values.astype(np.float32))


def test_float16_tiff_values_exact(tmp_path):
    values = np.array([[0.1, 0.2, 65504.0], [-1.5, 0.0, 1e-4]], dtype=np.float16)
    tifffile.imwrite(tmp_path / "m.tiff", values)
    np.testing.assert_array_equal(read_map(tmp_path / "m.tiff"), values.astype(np.float32))


def test_npy_map(tmp_path):
    values = RNG.random((6, 4)).astype(np.float32)
    np.save(tmp_path / "m.npy", values)
    np.testing.assert_array_equal(read_map(tmp_path / "m.npy"), values)


def test_npy_integer_map_converted(tmp_path):
    values = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    np.save(tmp_path / "m.npy", values)
    amap = read_map(tmp_path / "m.npy")
    assert amap.dtype == np.float32
    np.testing.assert_array_equal(amap, values.astype(np.float32))


def test_npz_single_array(tmp_path):
    values = RNG.random((3, 5)).astype(np.float32)
    np.savez(tmp_path / "m.npz", anomaly_map=values)
    np.testing.assert_array_equal(read_map(tmp_path / "m.npz"), values)
    np.savez_compressed(tmp_path / "c.npz", values)
    np.testing.assert_array_equal(read_map(tmp_path / "c.npz"), values)


def test_npz_with_several_arrays_refused(tmp_path):
    np.savez(tmp_path / "m.npz", a=np.zeros((2, 2)), b=np.ones((2, 2)))
    with raises_input_error("m.npz", "holds 2 arrays", "a, b", "exactly one"):
        read_map(tmp_path / "m.npz")


def test_npz_without_arrays_refused(tmp_path):
    np.savez(tmp_path / "m.npz")
    with raises_input_error("m.npz", "holds 0 arrays"):
        read_map(tmp_path / "m.npz")


def test_png_8_and_16_bit_values_as_they_are(tmp_path):
    eight = np.array([[0, 1, 255], [7, 128, 3]], dtype=np.uint8)
    sixteen = np.array([[0, 1, 65535], [300, 40000, 3]], dtype=np.uint16)
    np.testing.assert_array_equal(read_map(write_image(tmp_path / "a.png", eight)), eight.astype(np.float32))
    amap = read_map(write_image(tmp_path / "b.png", sixteen))
    assert amap.dtype == np.float32
    np.testing.assert_array_equal(amap, sixteen.astype(np.float32))


@pytest.mark.parametrize("shape", [(1, 4, 5), (4, 5, 1), (1, 4, 5, 1), (1, 1, 4, 5)])
def test_singleton_axes_squeezed(tmp_path, shape):
    values = RNG.random(shape).astype(np.float32)
    np.save(tmp_path / "m.npy", values)
    tifffile.imwrite(tmp_path / "m.tiff", values, photometric="minisblack")
    for name in ("m.npy", "m.tiff"):
        amap = read_map(tmp_path / name)
        assert amap.shape == (4, 5)
        np.testing.assert_array_equal(amap, values.reshape(4, 5))


def test_single_row_map_kept_2d(tmp_path):
    np.save(tmp_path / "m.npy", np.ones((1, 5), dtype=np.float32))
    assert read_map(tmp_path / "m.npy").shape == (1, 5)


@pytest.mark.parametrize("shape", [(2, 5, 6), (5, 6, 3), (7,), ()])
def test_not_2d_after_squeezing_refused(tmp_path, shape):
    np.save(tmp_path / "m.npy", np.ones(shape, dtype=np.float32))
    with raises_input_error("m.npy", f"shape {shape}", "one 2-D channel"):
        read_map(tmp_path / "m.npy")


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_png_map_refused(tmp_path, channels):
    path = write_image(tmp_path / "m.png", np.zeros((4, 4, channels), dtype=np.uint8))
    with raises_input_error("m.png", f"{channels} channels", "one channel"):
        read_map(path)


@pytest.mark.parametrize(
    ("values", "word"),
    [
        (np.zeros((3, 3), dtype=bool), "boolean"),
        (np.zeros((3, 3), dtype=np.complex64), "complex"),
        (np.array([["a", "b"]]), "string"),
    ],
)
def test_non_real_npy_refused(tmp_path, values, word):
    np.save(tmp_path / "m.npy", values)
    with raises_input_error("m.npy", word, "real numbers"):
        read_map(tmp_path / "m.npy")


def test_object_npy_refused_without_unpickling(tmp_path):
    values = np.empty((2, 2), dtype=object)
    values[:] = [[{"a": 1}, None], [3, "x"]]
    np.save(tmp_path / "m.npy", values, allow_pickle=True)
    with raises_input_error("m.npy", "cannot be read as a .npy"):
        read_map(tmp_path / "m.npy")
    np.savez(tmp_path / "m.npz", values)
    with raises_input_error("m.npz", "cannot be read as a .npz"):
        read_map(tmp_path / "m.npz")


def test_zero_size_map_refused(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros((0, 5), dtype=np.float32))
    with raises_input_error("m.npy", "zero size"):
        read_map(tmp_path / "m.npy")


def test_nan_and_inf_counted(tmp_path):
    values = RNG.random((10, 10)).astype(np.float32)
    values.ravel()[:7] = np.nan
    values.ravel()[50:53] = np.inf
    values.ravel()[90:92] = -np.inf
    tifffile.imwrite(tmp_path / "m.tiff", values)
    with raises_input_error("m.tiff", "has 12 NaN/inf pixels"):
        read_map(tmp_path / "m.tiff")


def test_float64_overflowing_float32_refused(tmp_path):
    values = np.ones((3, 3))
    values[0, 0] = 1e300
    np.save(tmp_path / "m.npy", values)
    with raises_input_error("m.npy", "has 1 NaN/inf pixels", "float32"):
        read_map(tmp_path / "m.npy")


def test_corrupt_and_truncated_tiff(tmp_path):
    (tmp_path / "junk.tiff").write_bytes(RNG.bytes(500))
    with raises_input_error("junk.tiff", "cannot be read as a TIFF"):
        read_map(tmp_path / "junk.tiff")
    (tmp_path / "header_only.tiff").write_bytes(b"II*\x00" + RNG.bytes(100))
    with raises_input_error("header_only.tiff", "cannot be read as a TIFF"):
        read_map(tmp_path / "header_only.tiff")
    tifffile.imwrite(tmp_path / "full.tif", RNG.random((64, 64)).astype(np.float32))
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with raises_input_error("cut.tif", "cannot be read as a TIFF"):
        read_map(tmp_path / "cut.tif")


def test_random_bytes_named_png(tmp_path):
    (tmp_path / "m.png").write_bytes(RNG.bytes(300))
    with raises_input_error("m.png", "cannot be read as a PNG"):
        read_map(tmp_path / "m.png")
    with raises_input_error("m.png", "cannot be read as a PNG"):
        read_mask(tmp_path / "m.png")


def test_truncated_npy(tmp_path):
    np.save(tmp_path / "m.npy", RNG.random((50, 50)).astype(np.float32))
    data = (tmp_path / "m.npy").read_bytes()
    (tmp_path / "m.npy").write_bytes(data[:1000])
    with raises_input_error("m.npy", "cannot be read as a .npy"):
        read_map(tmp_path / "m.npy")


@pytest.mark.parametrize("suffix", MAP_EXTENSIONS)
def test_zero_byte_map(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(b"")
    with raises_input_error(str(path), "is empty (0 bytes)"):
        read_map(path)


def test_missing_file_and_folder_and_bad_extension(tmp_path):
    with raises_input_error("nope.tiff", "cannot be read"):
        read_map(tmp_path / "nope.tiff")
    (tmp_path / "dir.npy").mkdir()
    with raises_input_error("dir.npy", "is a folder"):
        read_map(tmp_path / "dir.npy")
    (tmp_path / "m.jpg").write_bytes(b"x")
    with raises_input_error("m.jpg", "unsupported map extension"):
        read_map(tmp_path / "m.jpg")


def test_unicode_and_spaces_in_paths(tmp_path):
    folder = tmp_path / "défaut rayé ü" / "日本"
    values = np.array([[0, 9], [200, 3]], dtype=np.uint8)
    path = write_image(folder / "000 é.png", values)
    np.testing.assert_array_equal(read_map(path), values.astype(np.float32))
    np.testing.assert_array_equal(read_mask(path), values > 0)
    assert read_image_size(path) == (2, 2)
    tifffile.imwrite(folder / "000 é.tiff", values.astype(np.float32))
    np.testing.assert_array_equal(read_map(folder / "000 é.tiff"), values.astype(np.float32))


def test_uppercase_extension(tmp_path):
    tifffile.imwrite(tmp_path / "m.TIFF", np.ones((2, 3), dtype=np.float32))
    assert read_map(tmp_path / "m.TIFF").shape == (2, 3)


# ---------------------------------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------------------------------


def test_mask_0_255(tmp_path):
    values = np.array([[0, 255, 0], [255, 255, 0]], dtype=np.uint8)
    mask = read_mask(write_image(tmp_path / "m.png", values))
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, values > 0)


def test_mask_visa_class_ids(tmp_path):
    values = np.arange(10, dtype=np.uint8).reshape(2, 5)  # 0 normal, 1..9 VisA class ids
    np.testing.assert_array_equal(read_mask(write_image(tmp_path / "m.png", values)), values > 0)


def test_mask_16_bit(tmp_path):
    values = np.array([[0, 1, 65535], [256, 0, 0]], dtype=np.uint16)  # 1 and 256 would vanish if scaled to 8 bits
    np.testing.assert_array_equal(read_mask(write_image(tmp_path / "m.png", values)), values > 0)


def test_mask_rgb_with_one_channel_nonzero(tmp_path):
    values = np.zeros((3, 4, 3), dtype=np.uint8)
    values[0, 1, 2] = 255  # red only
    values[2, 3, 0] = 1  # blue only, class id 1
    expected = np.zeros((3, 4), dtype=bool)
    expected[0, 1] = expected[2, 3] = True
    np.testing.assert_array_equal(read_mask(write_image(tmp_path / "m.png", values)), expected)


def test_mask_alpha_ignored(tmp_path):
    values = np.zeros((3, 4, 4), dtype=np.uint8)
    values[..., 3] = 255  # only alpha is nonzero: a normal mask
    assert not read_mask(write_image(tmp_path / "a.png", values)).any()
    values[1, 1, 1] = 9
    assert read_mask(write_image(tmp_path / "b.png", values)).sum() == 1


def test_mask_bmp_and_tiff(tmp_path):
    values = np.array([[0, 255], [0, 1]], dtype=np.uint8)
    np.testing.assert_array_equal(read_mask(write_image(tmp_path / "m.bmp", values)), values > 0)
    np.testing.assert_array_equal(read_mask(write_image(tmp_path / "m.tif", values)), values > 0)


def test_palette_mask_read_by_raw_indices(tmp_path):
    """OpenCV expands palettes to colours; the reader must still go by the raw indices."""
    indices = np.array([[0, 1, 2], [3, 0, 1]], dtype=np.uint8)
    # Index 0 is white and index 3 black: by colour these would be wrong; by index 0 is normal, 1..3 anomalous.
    palette = [(255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 0)]
    path = tmp_path / "p.png"
    path.write_bytes(png_bytes(indices, 3, color_type=3, palette=palette))
    as_colours = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert as_colours.shape == (2, 3, 3)  # what OpenCV does on its own: palette expanded to BGR
    np.testing.assert_array_equal(read_mask(path), indices > 0)
    # With a transparency chunk OpenCV adds an alpha channel; it is ignored.
    path.write_bytes(png_bytes(indices, 3, color_type=3, palette=palette, transparency=b"\x00\xff"))
    np.testing.assert_array_equal(read_mask(path), indices > 0)
    # 4-bit palette: indices packed two per byte.
    packed = np.array([[0x01, 0x20], [0x30, 0x10]], dtype=np.uint8)
    path.write_bytes(png_bytes(packed, 3, color_type=3, bit_depth=4, palette=palette))
    np.testing.assert_array_equal(read_mask(path), indices > 0)


def test_gray_alpha_mask(tmp_path):
    gray = np.array([[0, 1, 0], [255, 0, 0]], dtype=np.uint8)
    rows = np.stack([gray, np.full_like(gray, 255)], axis=-1).reshape(2, -1)
    path = tmp_path / "ga.png"
    path.write_bytes(png_bytes(rows, 3, color_type=4))
    np.testing.assert_array_equal(read_mask(path), gray > 0)


def test_mask_with_unexpected_channels_refused(tmp_path, monkeypatch):
    path = write_image(tmp_path / "m.png", np.zeros((3, 3), dtype=np.uint8))
    monkeypatch.setattr(readers.cv2, "imdecode", lambda *args: np.zeros((3, 3, 2), dtype=np.uint8))
    with raises_input_error("m.png", "shape (3, 3, 2)", "mask must be 2-D"):
        read_mask(path)


def test_mask_bad_files(tmp_path):
    (tmp_path / "z.png").write_bytes(b"")
    with raises_input_error("z.png", "is empty (0 bytes)"):
        read_mask(tmp_path / "z.png")
    data = write_image(tmp_path / "full.png", RNG.integers(0, 255, (64, 64), dtype=np.uint8)).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with raises_input_error("cut.png", "cannot be read as a PNG"):
        read_mask(tmp_path / "cut.png")
    (tmp_path / "m.jpg").write_bytes(data)
    with raises_input_error("m.jpg", "unsupported mask extension"):
        read_mask(tmp_path / "m.jpg")


# ---------------------------------------------------------------------------------------------------------------------
# Image sizes
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".tiff"])
@pytest.mark.parametrize("channels", [1, 3])
def test_image_size(tmp_path, suffix, channels):
    shape = (37, 53) if channels == 1 else (37, 53, 3)
    path = write_image(tmp_path / f"img{suffix}", RNG.integers(0, 255, shape, dtype=np.uint8))
    assert read_image_size(path) == (37, 53)


def test_image_size_16_bit_png_and_progressive_jpeg(tmp_path):
    assert read_image_size(write_image(tmp_path / "a.png", np.zeros((9, 4), dtype=np.uint16))) == (9, 4)
    ok, encoded = cv2.imencode(".jpg", np.zeros((21, 34, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    (tmp_path / "p.jpg").write_bytes(encoded.tobytes())
    assert read_image_size(tmp_path / "p.jpg") == (21, 34)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_image_size_reads_header_only(tmp_path, suffix):
    """A file cut right after its header still gives its size: the pixels are not decoded."""
    data = write_image(tmp_path / f"full{suffix}", RNG.integers(0, 255, (40, 70), dtype=np.uint8)).read_bytes()
    cut = data[:33] if suffix == ".png" else data[: data.index(b"\xff\xc0") + 12]
    (tmp_path / f"cut{suffix}").write_bytes(cut)
    assert read_image_size(tmp_path / f"cut{suffix}") == (40, 70)


def test_image_size_bad_files(tmp_path):
    with raises_input_error("missing.png", "cannot be read"):
        read_image_size(tmp_path / "missing.png")
    (tmp_path / "z.png").write_bytes(b"")
    with raises_input_error("z.png", "is empty"):
        read_image_size(tmp_path / "z.png")
    (tmp_path / "r.png").write_bytes(RNG.bytes(200))
    with raises_input_error("r.png", "cannot be read as a"):
        read_image_size(tmp_path / "r.png")
