"""Readers for anomaly maps, ground-truth masks and the sizes of original images.

Every reader reads the file's bytes with Python (so non-ASCII paths work on every platform, which
``cv2.imread`` does not guarantee) and decodes them in memory. Every problem with a file is raised as an
`InputError` whose message is one line naming the file and saying how to fix it; no decoder exception or
traceback leaks out.

Shapes are (H, W) = (rows, columns) in pixels throughout.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile
from numpy.typing import NDArray

from ..errors import InputError

MAP_EXTENSIONS = (".tif", ".tiff", ".npy", ".npz", ".png")
"""File extensions (lower case) read as anomaly maps."""

MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp")
"""File extensions (lower case) read as ground-truth masks."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File extensions (lower case) of original images whose size `read_image_size` reads."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPE_PALETTE = 3


def _one_line(error: BaseException) -> str:
    """The message of `error` on one line (decoder messages sometimes span several)."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _read_bytes(path: Path, what: str) -> bytes:
    """The whole content of `path`; InputError if it cannot be read or is empty."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a {what} file: remove it or rename it") from None
    except OSError as error:
        reason = error.strerror or _one_line(error)
        raise InputError(f"{path} cannot be read ({reason}): check that it exists and is readable") from None
    if not data:
        raise InputError(f"{path} is empty (0 bytes): re-export the {what}") from None
    return data


def _decode_cv2(data: bytes, path: Path, fmt: str, what: str) -> NDArray[Any]:
    """Decode an image file's bytes with ``cv2.IMREAD_UNCHANGED`` (bit depth and channels as stored)."""
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise InputError(f"{path} cannot be read as a {fmt} ({_one_line(error)}): re-export the {what}") from None
    if image is None or image.size == 0:
        raise InputError(
            f"{path} cannot be read as a {fmt}: the file is corrupt, truncated or not a {fmt}; re-export the {what}"
        )
    return image


# ---------------------------------------------------------------------------------------------------------------------
# Anomaly maps
# ---------------------------------------------------------------------------------------------------------------------


def _load_tiff(data: bytes, path: Path) -> NDArray[Any]:
    try:
        array = np.asarray(tifffile.imread(io.BytesIO(data)))
    except Exception as error:  # tifffile raises many types (ValueError, TiffFileError, KeyError, ...)
        reason = _one_line(error)
    else:
        if array.size:
            return array
        reason = "no image data: the file is corrupt or truncated"
    raise InputError(f"{path} cannot be read as a TIFF ({reason}): re-save the map as an uncompressed float32 TIFF")


def _load_npy(data: bytes, path: Path) -> NDArray[Any]:
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as error:  # ValueError for pickled/object arrays, EOFError/OSError for truncated files
        raise InputError(
            f"{path} cannot be read as a .npy array ({_one_line(error)}): save the map with np.save as a real-valued "
            "array (no object arrays, no pickles)"
        ) from None
    if not isinstance(loaded, np.ndarray):  # a .npz archive renamed to .npy
        loaded.close()
        raise InputError(f"{path} is a .npz archive, not a .npy array: rename it to .npz or save it with np.save")
    return loaded


def _load_npz(data: bytes, path: Path) -> NDArray[Any]:
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # a .npy renamed to .npz: accept it, it holds one array
            return loaded
        with loaded:
            names = list(loaded.files)
            if len(names) != 1:
                shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                raise InputError(
                    f"{path} holds {len(names)} arrays ({shown or 'none'}) but a .npz map must hold exactly one: "
                    "save one map per file"
                )
            return loaded[names[0]]
    except InputError:
        raise
    except Exception as error:  # BadZipFile, ValueError (object arrays), EOFError, ...
        raise InputError(
            f"{path} cannot be read as a .npz archive ({_one_line(error)}): save the map with np.savez as a single "
            "real-valued array (no object arrays, no pickles)"
        ) from None


def _load_png_map(data: bytes, path: Path) -> NDArray[Any]:
    image = _decode_cv2(data, path, "PNG", "map")
    if image.ndim == 3 and image.shape[2] > 1:
        raise InputError(
            f"{path} is a PNG with {image.shape[2]} channels, but a map must be one channel: save the map as an 8- or "
            "16-bit grayscale PNG (or as a float32 TIFF, which keeps full precision)"
        )
    return image


def _as_float32_map(array: NDArray[Any], path: Path) -> NDArray[np.float32]:
    """Validate a decoded map and return it as a C-contiguous 2-D float32 array."""
    kind = array.dtype.kind
    if kind not in "fiu":
        names = {"b": "boolean", "c": "complex", "O": "object", "U": "string", "S": "bytes", "V": "structured"}
        raise InputError(
            f"{path} holds a {names.get(kind, str(array.dtype))} array (dtype {array.dtype}), but a map must be real "
            "numbers: save the anomaly scores as float32"
        )
    if array.size == 0:
        raise InputError(f"{path} has zero size (shape {array.shape}): re-export the map")
    if array.ndim != 2:
        squeezed = np.squeeze(array)
        if squeezed.ndim != 2:
            raise InputError(
                f"{path} has shape {array.shape}, but a map must be one 2-D channel (H, W) (singleton axes such as "
                "(1, H, W) are squeezed): save one single-channel map per image"
            )
        array = squeezed
    with np.errstate(over="ignore", invalid="ignore"):
        result = np.ascontiguousarray(array, dtype=np.float32)
    num_bad = int(result.size - np.count_nonzero(np.isfinite(result)))
    if num_bad:
        detail = ""
        if array.dtype.kind == "f" and array.dtype.itemsize > 4 and np.isfinite(array).all():
            detail = " after conversion to float32 (values beyond ±3.4e38)"
        raise InputError(
            f"{path} has {num_bad} NaN/inf pixels{detail} out of {result.size}: fix the model's output (e.g. replace "
            "them with finite scores) and save the map again"
        )
    return result


def read_map(path: Path) -> NDArray[np.float32]:
    """Read one anomaly map.

    Formats, chosen by the (case-insensitive) extension:

    - ``.tif``/``.tiff``: through tifffile; float32, float16 or any real dtype.
    - ``.npy``: ``np.load(allow_pickle=False)``; ``.npz``: an archive holding exactly one array.
    - ``.png``: 8- or 16-bit grayscale through OpenCV, with the stored values taken as they are.

    Singleton axes are squeezed, so (1, H, W) and (H, W, 1) give (H, W).

    Args:
        path: the map file.

    Returns:
        The scores as a C-contiguous float32 array of shape (H, W), in the map's own resolution (pixels).

    Raises:
        InputError: unreadable, corrupt, truncated or empty file; unsupported extension; not real-valued
            (bool, complex, object, ...); zero size; not 2-D after squeezing; any NaN or inf score.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MAP_EXTENSIONS:
        raise InputError(f"{path} has an unsupported map extension: save maps as {', '.join(MAP_EXTENSIONS)}")
    data = _read_bytes(path, "map")
    if suffix in (".tif", ".tiff"):
        array = _load_tiff(data, path)
    elif suffix == ".npy":
        array = _load_npy(data, path)
    elif suffix == ".npz":
        array = _load_npz(data, path)
    else:
        array = _load_png_map(data, path)
    return _as_float32_map(array, path)


# ---------------------------------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _palette_as_indices(data: bytes) -> bytes:
    """For a palette PNG, the same file with palette entry i replaced by the gray colour (i, i, i).

    OpenCV expands palette PNGs to their BGR colours, even with ``IMREAD_UNCHANGED``. Rewriting the palette
    makes the decoded colour of every pixel equal to its raw index, so a mask is read from its indices (index 0
    is normal, any other index anomalous) whatever colours its palette assigns. Other files are returned as is,
    as is any PNG whose chunks cannot be parsed (the decoder then reports the problem).
    """
    if not data.startswith(_PNG_SIGNATURE):
        return data
    pos = len(_PNG_SIGNATURE)
    is_palette = False
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return data
        if kind == b"IHDR":
            is_palette = length >= 10 and data[pos + 8 + 9] == _PNG_COLOR_TYPE_PALETTE
            if not is_palette:
                return data
        elif kind == b"PLTE":
            if not is_palette or length % 3:
                return data
            gray = bytes(np.repeat(np.arange(length // 3, dtype=np.uint8), 3))
            return data[:pos] + _png_chunk(b"PLTE", gray) + data[end:]
        elif kind in (b"IDAT", b"IEND"):
            return data
        pos = end
    return data


def read_mask(path: Path) -> NDArray[np.bool_]:
    """Read one ground-truth mask as stored (``cv2.IMREAD_UNCHANGED``) and binarize it.

    A pixel is anomalous where any colour channel is nonzero; a 4th (alpha) channel is ignored. This covers
    0/255 masks, VisA's raw class ids 1..9, 3-channel masks, 8- and 16-bit masks, and palette PNGs, which are
    read by their raw palette indices (index 0 is normal) rather than by their colours.

    Args:
        path: the mask file (``.png``, ``.tif``/``.tiff`` or ``.bmp``).

    Returns:
        A C-contiguous bool array of shape (H, W), True where the pixel is anomalous.

    Raises:
        InputError: unreadable, corrupt or empty file; unsupported extension; a shape other than (H, W),
            (H, W, 1), (H, W, 3) or (H, W, 4).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MASK_EXTENSIONS:
        raise InputError(f"{path} has an unsupported mask extension: save masks as {', '.join(MASK_EXTENSIONS)}")
    data = _read_bytes(path, "mask")
    fmt = {".png": "PNG", ".bmp": "BMP"}.get(suffix, "TIFF")
    image = _decode_cv2(_palette_as_indices(data) if suffix == ".png" else data, path, fmt, "mask")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        mask = image != 0
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        mask = np.any(image[:, :, :3] != 0, axis=2)
    else:
        raise InputError(
            f"{path} has shape {image.shape}, but a mask must be 2-D (H, W), optionally with 3 or 4 colour channels: "
            "save it as a grayscale or RGB image"
        )
    return np.ascontiguousarray(mask)


# ---------------------------------------------------------------------------------------------------------------------
# Original images
# ---------------------------------------------------------------------------------------------------------------------


def _png_size(head: bytes) -> tuple[int, int] | None:
    if len(head) >= 24 and head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return height, width
    return None


def _jpeg_size(handle: io.BufferedReader) -> tuple[int, int] | None:
    """(H, W) from the first SOF marker of a JPEG stream, or None if it cannot be found."""
    handle.seek(0)
    if handle.read(2) != b"\xff\xd8":
        return None
    while True:
        byte = handle.read(1)
        while byte and byte != b"\xff":  # skip to the next marker
            byte = handle.read(1)
        while byte == b"\xff":  # fill bytes
            byte = handle.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no SOF before the data
            return None
        length_bytes = handle.read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            payload = handle.read(5)
            if len(payload) < 5:
                return None
            _, height, width = struct.unpack(">BHH", payload)
            return (height, width) if height and width else None
        handle.seek(length - 2, io.SEEK_CUR)


def _bmp_size(head: bytes) -> tuple[int, int] | None:
    if len(head) >= 26 and head.startswith(b"BM"):
        (header_size,) = struct.unpack("<I", head[14:18])
        if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
            width, height = struct.unpack("<HH", head[18:22])
        else:
            width, height = struct.unpack("<ii", head[18:26])
        return abs(height), abs(width)
    return None


def _tiff_size(path: Path) -> tuple[int, int] | None:
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return int(page.imagelength), int(page.imagewidth)
    except Exception:
        return None


def read_image_size(path: Path) -> tuple[int, int]:
    """Read the size of an original image, from its header where practical.

    PNG (IHDR chunk), JPEG (SOF marker), BMP and TIFF headers are parsed without decoding pixels; anything
    else falls back to a full decode with OpenCV. The size is the stored one: EXIF orientation is ignored, as
    it is for masks.

    Args:
        path: the image file.

    Returns:
        (height, width) in pixels.

    Raises:
        InputError: the file cannot be read or is not an image.
    """
    path = Path(path)
    size: tuple[int, int] | None = None
    try:
        with open(path, "rb") as handle:
            head = handle.read(32)
            if not head:
                raise InputError(f"{path} is empty (0 bytes): restore the original image")
            size = _png_size(head) or _bmp_size(head)
            if size is None and head.startswith(b"\xff\xd8"):
                size = _jpeg_size(handle)
            if size is None and head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                size = _tiff_size(path)
    except OSError as error:
        reason = error.strerror or _one_line(error)
        raise InputError(f"{path} cannot be read ({reason}): check that it exists and is readable") from None
    if size is None or min(size) <= 0:
        image = _decode_cv2(_read_bytes(path, "image"), path, "image", "image")
        size = (int(image.shape[0]), int(image.shape[1]))
    return size
