"""Loading one category: masks, target resolutions, and maps resized to them, read in parallel."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from .._masks import BoxedMask, MaskLike
from .._memory import empty_array
from ..errors import InputError
from .discovery import ImagePair
from .loco import DefectMask, read_defect_masks
from .readers import IMAGE_EXTENSIONS, read_image_size, read_map, read_mask
from .resize import resize_bilinear

_ASPECT_TOLERANCE = 0.01
# What a compacted image's full mask is replaced with, so that the array is freed.
_NO_MASK: NDArray[np.bool_] = np.zeros((0, 0), dtype=bool)
_T = TypeVar("_T")


@dataclass(frozen=True)
class LoadedCategory:
    """The maps and masks of one category at full resolution, in the order of `pairs`.

    Attributes:
        pairs: the images, sorted by relative path (as `find_pairs` returns them).
        maps: one float32 (H_i, W_i) map per image, resized bilinearly to its mask's resolution.
        masks: one bool (H_i, W_i) mask per image; for a normal image without a mask file, a read-only all-False
            view taking no memory (``np.broadcast_to``); with ``compact_masks``, each in its boxed form.
        map_shapes: each map's (h, w) as stored, before resizing.
        num_aspect_changed: how many maps have an aspect ratio (w / h) more than 1% away from their target's.
        num_empty_defect_masks: how many masks outside the normal folders are all zero; those images count as
            normal, as in the MVTec AD evaluation.
        map_buffer: the flat float32 buffer that `maps` are consecutive views of, in order.
        after_map_results: what the `after_map` hook of `load_category` returned for each image, in order
            (None without a hook).
        file_digests: each map and mask file read -> (its size in bytes, the SHA-256 of its content), from the
            bytes the readers read.
        defects: MVTec LOCO only: each image's defects (`loco.DefectMask`), in the order of its
            `ImagePair.defect_mask_paths`; its mask is their union. Empty lists for every other layout.
    """

    pairs: list[ImagePair]
    maps: list[NDArray[np.float32]]
    masks: list[MaskLike]
    map_shapes: list[tuple[int, int]]
    num_aspect_changed: int
    num_empty_defect_masks: int
    map_buffer: NDArray[np.float32]
    after_map_results: list[Any] = field(default_factory=list)
    file_digests: dict[Path, tuple[int, str]] = field(default_factory=dict)
    defects: list[list[DefectMask]] = field(default_factory=list)


def _format_shape(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def _find_image(images_root: Path, key: str, listings: dict[Path, dict[str, Path]]) -> Path | None:
    """The original image ``images_root/<key>.<image extension>``, or None; folder listings are cached."""
    relative = PurePosixPath(key)
    folder = images_root.joinpath(*relative.parent.parts)
    if folder not in listings:
        found: dict[str, Path] = {}
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for name in names:
            stem, extension = os.path.splitext(name)
            if extension.lower() in IMAGE_EXTENSIONS and not name.startswith("."):
                found.setdefault(stem, folder / name)
        listings[folder] = found
    return listings[folder].get(relative.name)


def target_shapes(
    pairs: Sequence[ImagePair],
    mask_shapes: dict[str, tuple[int, int]],
    images_root: Path | None,
    default_shape: tuple[int, int] | None = None,
) -> list[tuple[int, int]]:
    """The full resolution (H, W) of every image, in the order of `pairs`.

    An image with a mask takes the mask's resolution. An image without a mask (a normal image) takes the
    resolution shared by all the category's masks. Only when the masks disagree on their size (or there are
    no masks) is it read from the header of its original image, ``images_root/<key>.<ext>`` (MVTec ``test/``
    layout); `images_root` is not consulted otherwise.

    Args:
        pairs: the images.
        mask_shapes: (H, W) of each mask, keyed by `ImagePair.key`.
        images_root: the dataset's folder of original test images, or None.
        default_shape: the resolution of images without a mask when there are no masks at all (a validation
            set of normal images is measured at the test masks' resolution); `images_root` wins if given.

    Returns:
        One (H, W) per pair, in pixels.

    Raises:
        InputError: some image has no mask and its resolution is unknown (the masks have several sizes, or
            there are no masks, and `images_root` is None), or its original image is missing or unreadable.
    """
    distinct = sorted(set(mask_shapes.values()))
    unmasked = [pair for pair in pairs if pair.key not in mask_shapes]
    shared = distinct[0] if len(distinct) == 1 else None
    if shared is None and not distinct and images_root is None:
        shared = default_shape
    if unmasked and shared is None and images_root is None:
        if not distinct:
            reason = "there are no masks"
        else:
            examples: dict[tuple[int, int], str] = {}
            for pair in pairs:
                shape = mask_shapes.get(pair.key)
                if shape is not None and shape not in examples:
                    examples[shape] = f"{pair.mask_path} is {_format_shape(shape)}"
            reason = f"the masks have {len(distinct)} different sizes ({', '.join(list(examples.values())[:2])})"
        raise InputError(
            f"{len(unmasked)} normal image(s) have no mask (e.g. {unmasked[0].map_path}) and {reason}, so their full "
            "resolution is unknown: pass --images DIR, the dataset's test images folder (e.g. mvtec/screw/test), "
            "to read their sizes"
        )
    listings: dict[Path, dict[str, Path]] = {}
    shapes: list[tuple[int, int]] = []
    for pair in pairs:
        shape = mask_shapes.get(pair.key)
        if shape is None:
            if shared is not None:
                shape = shared
            else:
                assert images_root is not None
                image = _find_image(images_root, pair.key, listings)
                if image is None:
                    expected = images_root.joinpath(*PurePosixPath(pair.key).parts)
                    raise InputError(
                        f"no original image for {pair.relpath} in {images_root}: expected {expected}.<"
                        f"{'|'.join(ext.lstrip('.') for ext in IMAGE_EXTENSIONS)}>; --images must be the dataset's "
                        "test images folder, mirroring MAPS"
                    )
                shape = read_image_size(image)
        shapes.append((int(shape[0]), int(shape[1])))
    return shapes


def _run_ordered(
    function: Callable[[int], _T], count: int, threads: int, progress: Callable[[int], None] | None
) -> list[_T]:
    """``[function(i) for i in range(count)]`` on `threads` threads, calling `progress(1)` after each result.

    Progress is reported from the calling thread. The first exception cancels the calls not yet started, waits
    for the running ones, and re-raises the exception of the lowest index among the calls that failed.
    """
    if threads <= 1 or count <= 1:
        ordered: list[_T] = []
        for index in range(count):
            ordered.append(function(index))
            if progress is not None:
                progress(1)
        return ordered
    results: dict[int, _T] = {}
    with ThreadPoolExecutor(max_workers=min(threads, count)) as pool:
        futures: dict[Future[_T], int] = {pool.submit(function, index): index for index in range(count)}
        try:
            for future in as_completed(futures):
                if future.exception() is not None:
                    break
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(1)
        finally:
            for future in futures:
                future.cancel()
    # Leaving the pool waited for the running calls: every future is now finished or cancelled.
    errors = [
        (futures[future], error)
        for future in futures
        if not future.cancelled() and (error := future.exception()) is not None
    ]
    if errors:
        raise min(errors, key=lambda item: item[0])[1]
    return [results[index] for index in range(count)]


def load_category(
    pairs: list[ImagePair],
    images_root: Path | None = None,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    before_maps: Callable[[list[tuple[int, int]], list[NDArray[np.bool_]]], None] | None = None,
    max_decoded_bytes: int | None = None,
    after_map: Callable[[int, NDArray[np.float32], NDArray[np.bool_]], Any] | None = None,
    default_shape: tuple[int, int] | None = None,
    defect_values: Collection[int] | None = None,
    compact_masks: bool = False,
) -> LoadedCategory:
    """Read every mask and map of a category and resize the maps to full resolution.

    Masks are read first, as they fix the full resolution (see `target_shapes`); then each map is read and
    resized with `resize_bilinear`. Both run in a thread pool (OpenCV and tifffile release the GIL), and the
    results keep the order of `pairs` whatever the number of threads.

    Args:
        pairs: the images, as `find_pairs` returns them.
        images_root: the dataset's original test images, needed only when some image has no mask and the
            masks disagree on their size (or there are none).
        threads: number of worker threads; ``os.cpu_count()`` by default.
        progress: called as ``progress(1)`` from the calling thread after each map is loaded.
        before_maps: called with the full-resolution shapes (in the order of `pairs`) and the masks read,
            before any map is read: the place to refuse a category that would not fit in memory.
        after_map: called on the loader thread as ``after_map(index, map, mask)`` once each map is resized to
            its full resolution (the map is a view of `map_buffer`, which the hook may reorder); what it returns
            is kept in `LoadedCategory.after_map_results`. It may run on several threads at once.
        default_shape: see `target_shapes`.
        compact_masks: once an image's map has been through `after_map` (which splits its scores by the mask),
            keep its mask as a `_masks.BoxedMask`, the crop of its bounding box: the full masks are freed as the
            maps arrive, instead of being held to the end (on MVTec AD screw, 119 MB).
        defect_values: for MVTec LOCO pairs (`ImagePair.defect_mask_paths`), the pixel values its
            ``defects_config.json`` defines, which every defect mask must hold (`loco.read_defect_masks`).
        max_decoded_bytes: passed to every `read_mask` and `read_map`: a file whose header declares more bytes
            than this once decoded is refused before decoding; None: no limit (a header declaring more than its
            file holds is refused whatever the limit).

    Returns:
        The loaded category.

    Raises:
        InputError: any unreadable or invalid map, mask or image (the first one met), a map or mask over
            `max_decoded_bytes`, or an unknown resolution (see `target_shapes`).
    """
    pairs = list(pairs)
    workers = threads if threads is not None else (os.cpu_count() or 1)

    masked = [pair for pair in pairs if pair.mask_path is not None]

    # Each file is hashed from the bytes read to decode it (for the fingerprint), never read twice.
    digests: dict[Path, tuple[int, str]] = {}

    def remember(path: Path, data: bytes) -> None:
        digests[path] = (len(data), hashlib.sha256(data).hexdigest())  # hashlib releases the GIL

    def load_mask(index: int) -> tuple[NDArray[np.bool_], list[DefectMask]]:
        pair = masked[index]
        if pair.defect_mask_paths:  # MVTec LOCO: the union of the image's defects
            return read_defect_masks(pair.defect_mask_paths, defect_values, max_decoded_bytes, on_bytes=remember)
        assert pair.mask_path is not None
        return read_mask(pair.mask_path, max_decoded_bytes, on_bytes=remember), []

    read_ground_truth = dict(
        zip((pair.key for pair in masked), _run_ordered(load_mask, len(masked), workers, None), strict=True)
    )
    read_masks = {key: mask for key, (mask, _) in read_ground_truth.items()}
    shapes = target_shapes(
        pairs, {key: (mask.shape[0], mask.shape[1]) for key, mask in read_masks.items()}, images_root, default_shape
    )
    if before_maps is not None:
        before_maps(shapes, list(read_masks.values()))

    full_masks: list[NDArray[np.bool_]] = []
    num_empty_defect_masks = 0
    for pair, shape in zip(pairs, shapes, strict=True):
        mask = read_masks.get(pair.key)
        if mask is None:
            # A normal image without a mask file: a read-only view of one False, which takes no memory.
            mask = np.broadcast_to(np.False_, shape)
        elif not pair.in_normal_dir and not mask.any():
            num_empty_defect_masks += 1
        full_masks.append(mask)
    masks: list[MaskLike] = list(full_masks)
    defects = [read_ground_truth[pair.key][1] if pair.key in read_ground_truth else [] for pair in pairs]
    # Compaction replaces each full mask in both lists, which then hold its only references.
    del read_ground_truth, read_masks

    # Every map is resized straight into its place in one flat buffer: no per-map allocation, and the
    # caller may reuse the buffer as the work space of the pixel metrics.
    offsets = np.cumsum([0] + [height * width for height, width in shapes])
    map_buffer = empty_array(int(offsets[-1]), np.float32)
    views = [map_buffer[offsets[i] : offsets[i + 1]].reshape(shape) for i, shape in enumerate(shapes)]

    def load_map(index: int) -> tuple[tuple[int, int], NDArray[np.float32], Any]:
        amap = read_map(pairs[index].map_path, max_decoded_bytes, on_bytes=remember)
        resized = resize_bilinear(amap, shapes[index], out=views[index])
        # On this loader thread, while the next files are read: the caller's work on the fresh map.
        done = after_map(index, resized, full_masks[index]) if after_map is not None else None
        if compact_masks:
            masks[index] = BoxedMask.of(full_masks[index])
            full_masks[index] = _NO_MASK
        return (amap.shape[0], amap.shape[1]), resized, done

    loaded = _run_ordered(load_map, len(pairs), workers, progress)

    num_aspect_changed = 0
    for shape, (map_shape, _, _) in zip(shapes, loaded, strict=True):
        map_aspect = map_shape[1] / map_shape[0]
        target_aspect = shape[1] / shape[0]
        if abs(map_aspect / target_aspect - 1.0) > _ASPECT_TOLERANCE:
            num_aspect_changed += 1
    return LoadedCategory(
        pairs=pairs,
        maps=[amap for _, amap, _ in loaded],
        masks=masks,
        map_shapes=[map_shape for map_shape, _, _ in loaded],
        num_aspect_changed=num_aspect_changed,
        num_empty_defect_masks=num_empty_defect_masks,
        map_buffer=map_buffer,
        after_map_results=[done for _, _, done in loaded],
        file_digests=digests,
        defects=defects,
    )
