"""Readers for anomaly maps, ground-truth masks and the sizes of original images.

Every reader reads the file's bytes with Python (so non-ASCII paths work on every platform, which
``cv2.imread`` does not guarantee) and decodes them in memory. Every problem with a file is raised as an
`InputError` whose message is one line naming the file and saying how to fix it; no decoder exception or
traceback leaks out.

Before anything is decoded, the header of every map and mask is parsed (`_check_header`) and the file is
refused if the image it declares cannot fit in the file (a corrupt file or a decompression bomb: a 1 KiB PNG
declaring 100,000 x 100,000 pixels), or would take more memory once decoded than the caller's budget.

Shapes are (H, W) = (rows, columns) in pixels throughout.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile
from numpy.typing import NDArray

from ..errors import InputError

MAP_EXTENSIONS = (".tif", ".tiff", ".npy", ".npz", ".png", ".pt")
"""File extensions (lower case) read as anomaly maps."""

MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".bmp")
"""File extensions (lower case) read as ground-truth masks."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File extensions (lower case) of original images whose size `read_image_size` reads."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPE_PALETTE = 3
_PNG_MAX_DIMENSION = 2**31 - 1
# Samples stored per pixel by PNG colour type, and channels OpenCV decodes them to (IMREAD_UNCHANGED).
_PNG_STORED_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DECODED_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 4, 6: 4}
_PNG_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}

# Deflate cannot compress better than about 1032:1 (a 258-byte match coded in 2 bits), so compressed data of
# n bytes never inflates to more than ~1032 * n bytes; the margin covers nothing real, it only keeps the test
# from depending on the exact constant.
_DEFLATE_MAX_RATIO = 1100

_BMP_UNCOMPRESSED = (0, 3, 6)  # BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS
_BMP_BIT_DEPTHS = (1, 4, 8, 16, 24, 32)

# np.load refuses .npy headers longer than 10,000 bytes (its default max_header_size), after the 12-byte prefix.
_NPY_MAX_HEAD_BYTES = 12 + 10_000
_TIFF_UNCOMPRESSED = 1
_TIFF_OLD_JPEG = 6  # one offset for the whole image whatever the strips: the segment count does not apply


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
# Header checks: refuse what cannot be decoded safely, before decoding
# ---------------------------------------------------------------------------------------------------------------------


def _format_bytes(num_bytes: int) -> str:
    """A byte count for messages: ``200 B``, ``1.1 KiB``, ``37.3 GiB``."""
    if num_bytes < 1024:
        return f"{num_bytes} B"
    value = float(num_bytes)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            break
    return f"{value:.1f} {unit}"


def _pixels(height: int, width: int, decoded: int) -> str:
    return f"{height}x{width} pixels ({_format_bytes(decoded)} decoded)"


def _cannot_hold(path: Path, fmt: str, what: str, declares: str, holder: str) -> InputError:
    """The error for a header declaring more data than the file (`holder`, with its size) can hold."""
    return InputError(
        f"{path} cannot be read as a {fmt}: its header declares {declares} but {holder} cannot hold that: it is "
        f"corrupt, truncated or a decompression bomb; re-export the {what}"
    )


def _check_budget(path: Path, what: str, declares: str, decoded: int, budget: int | None) -> None:
    """Refuse a file whose declared decoded size (bytes) exceeds the budget (bytes; None: no budget)."""
    if budget is not None and decoded > budget:
        raise InputError(
            f"{path} declares {declares}, more than the {_format_bytes(budget)} that --max-memory allows for one "
            f"file: raise --max-memory if the machine has the memory, or re-export the {what} at a lower resolution"
        )


def _check_png(data: bytes, path: Path, what: str, budget: int | None) -> None:
    """Check a PNG's IHDR against the IDAT data the file holds and against the budget.

    The raw image (H rows of 1 filter byte plus the packed samples) is what deflate compressed into the IDAT
    chunks, so it cannot be more than `_DEFLATE_MAX_RATIO` times their total length. A PNG whose IHDR cannot be
    parsed is left to the decoder, which reports it.
    """
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[8:16] != b"\x00\x00\x00\rIHDR":
        return
    width, height, bit_depth, color_type = struct.unpack(">IIBB", data[16:26])
    if not (0 < width <= _PNG_MAX_DIMENSION and 0 < height <= _PNG_MAX_DIMENSION):
        raise InputError(
            f"{path} cannot be read as a PNG: its header declares {height}x{width} pixels, but a PNG's height and "
            f"width must be 1 to {_PNG_MAX_DIMENSION}: it is corrupt; re-export the {what}"
        )
    if bit_depth not in _PNG_BIT_DEPTHS.get(color_type, ()):
        return
    raw = height * (1 + (width * _PNG_STORED_SAMPLES[color_type] * bit_depth + 7) // 8)
    channels = _PNG_DECODED_CHANNELS[color_type]
    # Walk the chunks (a few per file: writers use IDATs of 8 KiB or more) only until the IDATs seen can hold
    # the image; tRNS, which makes OpenCV add an alpha channel to RGB and palette images, comes before IDAT.
    idat = 0
    pos = 33
    while pos + 8 <= len(data) and raw > _DEFLATE_MAX_RATIO * idat:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += min(length, len(data) - pos - 8)
        elif kind == b"tRNS" and color_type in (2, _PNG_COLOR_TYPE_PALETTE):
            channels = 4
        elif kind == b"IEND":
            break
        pos += 12 + length
    decoded = height * width * channels * (2 if bit_depth == 16 else 1)
    if raw > _DEFLATE_MAX_RATIO * idat:
        holder = f"the file ({_format_bytes(len(data))}, {_format_bytes(idat)} of it image data)"
        raise _cannot_hold(path, "PNG", what, _pixels(height, width, decoded), holder)
    _check_budget(path, what, _pixels(height, width, decoded), decoded, budget)


def _check_bmp(data: bytes, path: Path, budget: int | None) -> None:
    """Check a BMP's info header: uncompressed pixel rows (padded to 4 bytes) must fit in the file.

    RLE-compressed BMPs may legitimately leave most pixels out, so only the budget bounds them. A header that
    cannot be parsed is left to the decoder.
    """
    if len(data) < 26 or not data.startswith(b"BM"):
        return
    (pixels_offset, header_size) = struct.unpack("<II", data[10:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes, never compressed
        width, height, bits = struct.unpack("<HHxxH", data[18:26])
        compression = 0
    elif header_size >= 40 and len(data) >= 34:
        width, height, bits, compression = struct.unpack("<iixxHI", data[18:34])
        height = abs(height)  # negative: rows stored top-down
    else:
        return
    if width <= 0 or height <= 0 or bits not in _BMP_BIT_DEPTHS:
        return
    channels = 4 if bits == 32 else 3
    if bits <= 8:  # OpenCV decodes a palette of grays to one channel
        palette_start = 14 + header_size
        num_colors = 1 << bits
        if header_size >= 40:
            num_colors = struct.unpack("<I", data[46:50])[0] or num_colors
        palette = np.frombuffer(data[palette_start : palette_start + 4 * min(num_colors, 256)], dtype=np.uint8)
        palette = palette[: palette.size // 4 * 4].reshape(-1, 4)
        if palette.size and (palette[:, 0] == palette[:, 1]).all() and (palette[:, 1] == palette[:, 2]).all():
            channels = 1
    decoded = height * width * channels
    if compression in _BMP_UNCOMPRESSED:
        stride = (width * bits + 31) // 32 * 4
        # The last row's padding is sometimes left out: do not require it.
        needed = pixels_offset + (height - 1) * stride + (width * bits + 7) // 8
        if needed > len(data):
            holder = f"the file ({_format_bytes(len(data))})"
            raise _cannot_hold(path, "BMP", "mask", _pixels(height, width, decoded), holder)
    _check_budget(path, "mask", _pixels(height, width, decoded), decoded, budget)


def _npy_header(head: bytes) -> tuple[tuple[int, ...], np.dtype[Any], int] | None:
    """(shape, dtype, header length in bytes) from the start of a .npy file, without reading the array.

    None where the header cannot be parsed or declares an object dtype: np.load then reports the problem.
    """
    stream = io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):  # same layout: 3.0 only allows UTF-8 field names
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            return None
    except Exception:  # not a .npy, a damaged header, ...
        return None
    if dtype.hasobject or any(dim < 0 for dim in shape):
        return None
    return tuple(int(dim) for dim in shape), dtype, stream.tell()


def _npy_declares(shape: tuple[int, ...], dtype: np.dtype[Any], decoded: int) -> str:
    return f"a {shape} {dtype} array ({_format_bytes(decoded)})"


def _check_npy(data: bytes, path: Path, budget: int | None, fmt: str = ".npy array") -> None:
    """Check that a .npy file holds the array its header declares, and the budget.

    Needed before np.load: on an in-memory file it allocates the whole declared array before reading any of it.
    """
    header = _npy_header(data[:_NPY_MAX_HEAD_BYTES])
    if header is None:
        return
    shape, dtype, header_length = header
    decoded = math.prod(shape) * dtype.itemsize
    if header_length + decoded > len(data):
        holder = f"the file ({_format_bytes(len(data))}, {_format_bytes(len(data) - header_length)} of it array data)"
        raise _cannot_hold(path, fmt, "map", _npy_declares(shape, dtype, decoded), holder)
    _check_budget(path, "map", _npy_declares(shape, dtype, decoded), decoded, budget)


def _check_npz(data: bytes, path: Path, budget: int | None) -> None:
    """Check the one member of a .npz archive: its declared size against the file, its .npy header against it.

    Archives with several members (refused anyway, without decompressing anything) and archives that cannot
    be opened are left to `_load_npz`.
    """
    if data.startswith(np.lib.format.MAGIC_PREFIX):  # a .npy renamed to .npz
        _check_npy(data, path, budget, fmt=".npz archive")
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # BadZipFile, or a damaged directory
        return
    with archive:
        infos = archive.infolist()
        if len(infos) != 1:
            return
        info = infos[0]
        held = min(info.compress_size, len(data))
        limit = {zipfile.ZIP_STORED: held, zipfile.ZIP_DEFLATED: _DEFLATE_MAX_RATIO * held}.get(info.compress_type)
        if limit is not None and info.file_size > limit:
            declares = f"a member {info.filename!r} of {_format_bytes(info.file_size)} uncompressed"
            raise _cannot_hold(path, ".npz archive", "map", declares, f"the file ({_format_bytes(len(data))})")
        try:
            with archive.open(info) as member:
                head = member.read(_NPY_MAX_HEAD_BYTES)  # inflates only the start of the member
        except Exception:  # encrypted, unsupported compression, damaged data: np.load reports it
            head = b""
    header = _npy_header(head)
    if header is None:
        declares = f"a member {info.filename!r} of {_format_bytes(info.file_size)} uncompressed"
        _check_budget(path, "map", declares, info.file_size, budget)
        return
    shape, dtype, header_length = header
    decoded = math.prod(shape) * dtype.itemsize
    declares = _npy_declares(shape, dtype, decoded)
    if header_length + decoded > info.file_size:
        member_size, array_size = (_format_bytes(n) for n in (info.file_size, max(info.file_size - header_length, 0)))
        holder = f"its member {info.filename!r} ({member_size} uncompressed, {array_size} of it array data)"
        raise _cannot_hold(path, ".npz archive", "map", declares, holder)
    _check_budget(path, "map", declares, decoded, budget)


_TIFFFILE_QUIET = threading.local()


class _QuietTifffile(logging.Filter):
    """Drops tifffile's log records emitted while this thread reads a TIFF here.

    tifffile logs what it finds wrong in a header (a tag whose values lie beyond the end of the file, a missing
    offsets tag, ...) straight to stderr; the reader reports the problem as one InputError instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_TIFFFILE_QUIET, "active", False)


logging.getLogger("tifffile").addFilter(_QuietTifffile())


@contextmanager
def _quiet_tifffile() -> Iterator[None]:
    """Silence tifffile's log records in the calling thread only (the loader reads files in several threads)."""
    previous = getattr(_TIFFFILE_QUIET, "active", False)
    _TIFFFILE_QUIET.active = True
    try:
        yield
    finally:
        _TIFFFILE_QUIET.active = previous


def _check_tiff(tif: tifffile.TiffFile, size: int, path: Path, what: str, budget: int | None) -> None:
    """Check the image of an open TIFF against the file's size (`size`, bytes) and the budget.

    Maps are checked as tifffile reads them (the first series, which may hold several pages); masks by their
    first page, the one OpenCV reads. A file declaring a huge image in tiny tiles needs an offsets table larger
    than itself: tifffile then drops the table (it lies beyond the end of the file), and the page lists fewer
    tiles than its size needs. Uncompressed data must fit in the file. A header that tifffile cannot parse is
    left to the decoder.
    """
    try:
        dtype: np.dtype[Any] | None
        if what == "map":
            series = tif.series[0]
            page, num_pages, shape, dtype = series.keyframe, len(series), series.shape, series.dtype
        else:
            page = tif.pages.first
            num_pages, shape, dtype = 1, page.shape, page.dtype
        if not isinstance(page, tifffile.TiffPage) or dtype is None or 0 in shape:
            return
        height, width, compression = int(page.imagelength), int(page.imagewidth), int(page.compression)
        num_segments, num_listed = math.prod(page.chunked), len(page.dataoffsets)
        stored_per_row = (width * int(page.samplesperpixel) * int(page.bitspersample) + 7) // 8
        stored = num_pages * int(page.imagedepth) * height * stored_per_row
        tiles = f"{page.tilelength}x{page.tilewidth}" if page.is_tiled else ""
    except Exception:  # an unparsable header: tifffile or OpenCV reports it when decoding
        return
    decoded = math.prod(shape) * dtype.itemsize
    declares = _pixels(height, width, decoded) + (f" in {num_pages} pages" if num_pages > 1 else "")
    holder = f"the file ({_format_bytes(size)})"
    if num_listed == 0 or (compression not in (_TIFF_UNCOMPRESSED, _TIFF_OLD_JPEG) and num_listed < num_segments):
        kind = f"tiles of {tiles}" if tiles else "strips"
        declares += f" in {num_segments:,} {kind}"
        holder = f"the file ({_format_bytes(size)}, with offsets for {num_listed:,} of them)"
        raise _cannot_hold(path, "TIFF", what, declares, holder)
    if compression == _TIFF_UNCOMPRESSED and stored > size:
        raise _cannot_hold(path, "TIFF", what, declares + " uncompressed", holder)
    _check_budget(path, what, declares, decoded, budget)


def _check_tiff_mask(data: bytes, path: Path, budget: int | None) -> None:
    """`_check_tiff` on a TIFF mask's bytes (OpenCV decodes it; tifffile only parses the first IFD here)."""
    try:
        with _quiet_tifffile(), tifffile.TiffFile(io.BytesIO(data)) as tif:
            _check_tiff(tif, len(data), path, "mask", budget)
    except InputError:
        raise
    except Exception:  # not a TIFF tifffile can parse: OpenCV reports it
        return


def _check_header(data: bytes, path: Path, suffix: str, what: str, budget: int | None) -> None:
    """Refuse, from its header and before any decoding, a file that cannot hold what it declares or is too big.

    Args:
        data: the whole file.
        path: the file, for messages.
        suffix: its lower-case extension, which chooses the format.
        what: ``"map"`` or ``"mask"``.
        budget: the largest decoded size allowed, in bytes (the decoder's output); None: no limit.

    Raises:
        InputError: the header declares more data than the file holds (corrupt, truncated or a decompression
            bomb), or more than `budget` bytes once decoded (naming ``--max-memory``). A header that cannot be
            parsed passes: the decoder then reports the file as it always did.
    """
    if suffix == ".png":
        _check_png(data, path, what, budget)
    elif suffix == ".bmp":
        _check_bmp(data, path, budget)
    elif suffix == ".npy":
        _check_npy(data, path, budget)
    elif suffix == ".npz":
        _check_npz(data, path, budget)
    elif what == "mask":  # TIFF maps are checked in `_load_tiff`, on the TiffFile that decodes them
        _check_tiff_mask(data, path, budget)


# ---------------------------------------------------------------------------------------------------------------------
# Anomaly maps
# ---------------------------------------------------------------------------------------------------------------------


def _load_tiff(data: bytes, path: Path, budget: int | None = None) -> NDArray[Any]:
    """Decode a TIFF map's first series, as ``tifffile.imread`` does, once its header passed `_check_tiff`."""
    try:
        # One TiffFile both for the check and the decoding: the IFDs are parsed once.
        with _quiet_tifffile(), tifffile.TiffFile(io.BytesIO(data)) as tif:
            _check_tiff(tif, len(data), path, "map", budget)
            array = np.asarray(tif.asarray())
    except InputError:
        raise
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


def read_map(
    path: Path, max_decoded_bytes: int | None = None, on_bytes: Callable[[Path, bytes], None] | None = None
) -> NDArray[np.float32]:
    """Read one anomaly map.

    Formats, chosen by the (case-insensitive) extension:

    - ``.tif``/``.tiff``: through tifffile; float32, float16 or any real dtype.
    - ``.npy``: ``np.load(allow_pickle=False)``; ``.npz``: an archive holding exactly one array.
    - ``.png``: 8- or 16-bit grayscale through OpenCV, with the stored values taken as they are.
    - ``.pt``: a tensor saved by ``torch.save`` (`torch_maps.load_pt`: no torch needed, nothing but a tensor
      unpickled).

    Singleton axes are squeezed, so (1, H, W) and (H, W, 1) give (H, W).

    Before decoding, the header is checked (see `_check_header`): a file declaring more data than it can hold
    (corrupt, or a decompression bomb) is refused, as is one whose decoded size exceeds `max_decoded_bytes`.

    Args:
        path: the map file.
        max_decoded_bytes: refuse a file whose header declares more bytes than this once decoded (the decoder's
            output: H * W * channels * bytes per sample, or prod(shape) * itemsize); None: no limit.
        on_bytes: called with the path and the file's bytes as read, before decoding (to hash them without
            reading the file again).

    Returns:
        The scores as a C-contiguous float32 array of shape (H, W), in the map's own resolution (pixels).

    Raises:
        InputError: unreadable, corrupt, truncated or empty file; unsupported extension; not real-valued
            (bool, complex, object, ...); zero size; not 2-D after squeezing; any NaN or inf score; a header
            declaring more than the file holds, or more than `max_decoded_bytes` decoded.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MAP_EXTENSIONS:
        raise InputError(f"{path} has an unsupported map extension: save maps as {', '.join(MAP_EXTENSIONS)}")
    data = _read_bytes(path, "map")
    if on_bytes is not None:
        on_bytes(path, data)
    _check_header(data, path, suffix, "map", max_decoded_bytes)
    if suffix in (".tif", ".tiff"):
        array = _load_tiff(data, path, max_decoded_bytes)
    elif suffix == ".npy":
        array = _load_npy(data, path)
    elif suffix == ".npz":
        array = _load_npz(data, path)
    elif suffix == ".pt":
        from .torch_maps import load_pt

        array = load_pt(data, path, max_decoded_bytes)
    else:
        array = _load_png_map(data, path)
    return _as_float32_map(array, path)


def read_map_stack(path: Path) -> NDArray[np.float32]:
    """The (N, H, W) float32 maps of one stacked file (the AUPIMO paper's ``asmaps.pt``, or an ``.npy``);
    a (N, 1, H, W) stack is squeezed to (N, H, W).

    Raises:
        InputError: unreadable, not 3-D after squeezing axis 1, not real-valued, or a NaN or inf score.
    """
    path = Path(path)
    data = _read_bytes(path, "map")
    if path.suffix.lower() == ".pt":
        from .torch_maps import load_pt

        array = load_pt(data, path)
    elif path.suffix.lower() == ".npy":
        array = _load_npy(data, path)
    else:
        raise InputError(f"{path}: stacked maps are read from .pt or .npy files")
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or 0 in array.shape:
        raise InputError(f"{path} holds shape {array.shape}, not stacked maps (N, H, W)")
    return np.stack([_as_float32_map(amap, path) for amap in array])


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


def read_mask_values(
    path: Path, max_decoded_bytes: int | None = None, on_bytes: Callable[[Path, bytes], None] | None = None
) -> NDArray[Any]:
    """Read one ground-truth mask's stored values (``cv2.IMREAD_UNCHANGED``), before binarization.

    Palette PNGs are read by their raw palette indices (index 0 is normal) rather than by their colours, and a
    single-channel third axis is dropped. Before decoding, the header is checked as for maps (`_check_header`).

    Args:
        path: the mask file (``.png``, ``.tif``/``.tiff`` or ``.bmp``).
        max_decoded_bytes: refuse a file whose header declares more bytes than this once decoded (H * W *
            channels * bytes per sample); None: no limit.
        on_bytes: as in `read_map`.

    Returns:
        The integer values, (H, W) or (H, W, 3|4).

    Raises:
        InputError: unreadable, corrupt or empty file; unsupported extension; a header declaring more than the
            file holds, or more than `max_decoded_bytes` decoded.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MASK_EXTENSIONS:
        raise InputError(f"{path} has an unsupported mask extension: save masks as {', '.join(MASK_EXTENSIONS)}")
    data = _read_bytes(path, "mask")
    if on_bytes is not None:
        on_bytes(path, data)
    _check_header(data, path, suffix, "mask", max_decoded_bytes)
    fmt = {".png": "PNG", ".bmp": "BMP"}.get(suffix, "TIFF")
    image = _decode_cv2(_palette_as_indices(data) if suffix == ".png" else data, path, fmt, "mask")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image


def read_mask(
    path: Path, max_decoded_bytes: int | None = None, on_bytes: Callable[[Path, bytes], None] | None = None
) -> NDArray[np.bool_]:
    """Read one ground-truth mask as stored (`read_mask_values`) and binarize it.

    A pixel is anomalous where any colour channel is nonzero; a 4th (alpha) channel is ignored. This covers
    0/255 masks, VisA's raw class ids 1..9, 3-channel masks, 8- and 16-bit masks, and palette PNGs (by index).

    Returns:
        A C-contiguous bool array of shape (H, W), True where the pixel is anomalous.

    Raises:
        InputError: as `read_mask_values`, or a shape other than (H, W), (H, W, 1), (H, W, 3) or (H, W, 4).
    """
    image = read_mask_values(path, max_decoded_bytes, on_bytes)
    if image.ndim == 2 and image.dtype == np.uint8 and image.flags.c_contiguous and image.flags.writeable:
        # In place, into the decoded bytes: no second array of the mask's size to allocate and fault in.
        mask = np.not_equal(image, 0, out=image.view(np.bool_))
    elif image.ndim == 2:
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
            page = tif.pages.first
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
