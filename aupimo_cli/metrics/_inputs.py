"""Validation and normalization of the metric core's inputs.

Every public metric takes either stacked arrays of shape (N, H, W) or sequences of N 2-D arrays whose
shapes may differ from image to image. This module turns both into lists of 2-D views (never copies of
the caller's data, which is never modified), and checks shapes, dtypes and finiteness so that errors
surface as clear `MetricInputError`s here rather than deep inside a numba kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


class MetricInputError(ValueError):
    """Invalid input to a metric: wrong shapes or dtypes, non-finite scores, a degenerate set of images.

    The message says what is wrong and how to fix it. It subclasses `ValueError`, so library users may catch
    either; the command line reports it as bad input (exit code 2), while any other exception from the metric
    core is a bug (exit code 1).
    """


# Map dtypes whose every value is exactly representable in float32: the work happens in float32.
_FLOAT32_EXACT = {np.dtype(t) for t in (np.float16, np.float32, np.int8, np.uint8, np.int16, np.uint16)}


MapsLike = NDArray[Any] | Sequence[NDArray[Any]]
"""Anomaly maps: an (N, H, W) or (N, 1, H, W) array, or a sequence of N 2-D (or (1, H, W)) arrays."""

MasksLike = NDArray[Any] | Sequence[NDArray[Any]]
"""Ground-truth masks in the shapes of the maps, bool or integer (nonzero = anomalous)."""


def _as_2d(image: NDArray[Any]) -> NDArray[Any]:
    """A (1, H, W) image as its (H, W) view: anomalib's channel axis."""
    return image[0] if image.ndim == 3 and image.shape[0] == 1 else image


def _as_image_list(arrays: Any, name: str) -> list[NDArray[Any]]:
    """Return the images of `arrays` as a list of 2-D arrays (views where possible)."""
    if isinstance(arrays, np.ndarray):
        if arrays.ndim == 4 and arrays.shape[1] == 1:  # anomalib's (N, 1, H, W)
            arrays = arrays[:, 0]
        if arrays.ndim != 3:
            msg = (
                f"`{name}` must have shape (N, H, W) or (N, 1, H, W), or be a sequence of 2-D arrays, "
                f"but it is an array of shape {arrays.shape}."
            )
            raise MetricInputError(msg)
        images = list(arrays)
    elif isinstance(arrays, Sequence) and not isinstance(arrays, str | bytes):
        images = [_as_2d(np.asarray(image)) for image in arrays]
    else:
        msg = f"`{name}` must be an array of shape (N, H, W) or a sequence of 2-D arrays, not {type(arrays)}."
        raise MetricInputError(msg)
    if not images:
        msg = f"`{name}` is empty: at least one image is needed."
        raise MetricInputError(msg)
    for index, image in enumerate(images):
        if image.ndim != 2:
            msg = f"`{name}[{index}]` must be 2-D (H, W), but it has shape {image.shape}."
            raise MetricInputError(msg)
        if image.size == 0:
            msg = f"`{name}[{index}]` has zero size (shape {image.shape})."
            raise MetricInputError(msg)
    return images


def work_dtype(maps: Sequence[NDArray[Any]]) -> np.dtype[Any]:
    """The float dtype the metrics compute in: float32 when it holds every value exactly, else float64."""
    return np.dtype(np.float32) if all(m.dtype in _FLOAT32_EXACT for m in maps) else np.dtype(np.float64)


def validate_maps(maps: Any) -> list[NDArray[Any]]:
    """Check anomaly maps and return them as a list of 2-D real-valued arrays.

    Raises:
        MetricInputError: wrong shape, non-real dtype (bool, complex, object, ...), or a NaN/inf score.
    """
    images = _as_image_list(maps, "maps")
    for index, image in enumerate(images):
        if image.dtype.kind not in "fiu":
            msg = (
                f"`maps[{index}]` has dtype {image.dtype}; anomaly maps must hold real numbers "
                "(float or integer scores, higher = more anomalous)."
            )
            raise MetricInputError(msg)
        if image.dtype.kind == "f":
            num_bad = image.size - int(np.count_nonzero(np.isfinite(image)))
            if num_bad:
                msg = (
                    f"`maps[{index}]` has {num_bad} non-finite score(s) (NaN or inf); "
                    "fix the model's output or replace them before evaluating."
                )
                raise MetricInputError(msg)
    return images


def validate_masks(masks: Any, maps: Sequence[NDArray[Any]]) -> list[NDArray[np.bool_]]:
    """Check ground-truth masks against `maps` and return them as boolean 2-D arrays (nonzero = anomalous).

    Raises:
        MetricInputError: a count or shape that does not match `maps`, or a dtype that is not bool/integer/float.
    """
    images = _as_image_list(masks, "masks")
    if len(images) != len(maps):
        msg = f"Got {len(maps)} maps but {len(images)} masks; they must pair one to one."
        raise MetricInputError(msg)
    boolean: list[NDArray[np.bool_]] = []
    for index, (mask, amap) in enumerate(zip(images, maps, strict=True)):
        if mask.shape != amap.shape:
            msg = (
                f"`masks[{index}]` has shape {mask.shape} but `maps[{index}]` has shape {amap.shape}; "
                "resize the map to the mask's resolution first."
            )
            raise MetricInputError(msg)
        if mask.dtype.kind not in "biuf":
            msg = f"`masks[{index}]` has dtype {mask.dtype}; masks must be bool or integer (nonzero = anomalous)."
            raise MetricInputError(msg)
        if mask.dtype.kind == "f" and not np.isfinite(mask).all():
            msg = f"`masks[{index}]` contains NaN or inf; masks must be 0 (normal) or nonzero (anomalous)."
            raise MetricInputError(msg)
        boolean.append(mask if mask.dtype == np.bool_ else mask != 0)
    return boolean


def validate_pair(maps: MapsLike, masks: MasksLike) -> tuple[list[NDArray[Any]], list[NDArray[np.bool_]]]:
    """Validate maps and masks together; see `validate_maps` and `validate_masks`."""
    map_list = validate_maps(maps)
    return map_list, validate_masks(masks, map_list)


def validate_scores_labels(scores: Any, labels: Any, metric: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Check image-level scores and labels; returns them as float64 scores and boolean labels (True = anomalous).

    Raises:
        MetricInputError: mismatched shapes, non-finite scores, labels other than 0/1, or a single class.
    """
    scores_array = np.asarray(scores)
    labels_array = np.asarray(labels)
    if scores_array.ndim != 1 or labels_array.shape != scores_array.shape:
        msg = f"`scores` and `labels` must both have shape (N,), got {scores_array.shape} and {labels_array.shape}."
        raise MetricInputError(msg)
    if scores_array.dtype.kind not in "fiu" or not np.isfinite(scores_array).all():
        msg = "`scores` must be finite real numbers."
        raise MetricInputError(msg)
    if labels_array.dtype.kind not in "biuf" or not np.isin(labels_array, (0, 1)).all():
        msg = "`labels` must be 0 (normal) or 1 (anomalous)."
        raise MetricInputError(msg)
    positive = labels_array.astype(bool)
    num_pos = int(positive.sum())
    if num_pos == 0 or num_pos == positive.size:
        num_neg = positive.size - num_pos
        msg = f"{metric} needs both normal and anomalous images, got {num_neg} normal and {num_pos} anomalous."
        raise MetricInputError(msg)
    return scores_array.astype(np.float64), positive


def image_classes_of(masks: Sequence[NDArray[np.bool_]]) -> NDArray[np.int32]:
    """Image classes, shape (N,): 1 where the mask has any anomalous pixel, 0 for a normal image."""
    return np.array([bool(mask.any()) for mask in masks], dtype=np.int32)
