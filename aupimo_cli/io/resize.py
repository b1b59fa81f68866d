"""Resizing anomaly maps to the full (mask) resolution."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray


def resize_bilinear(
    amap: NDArray[np.float32], shape: tuple[int, int], out: NDArray[np.float32] | None = None
) -> NDArray[np.float32]:
    """Resize a map bilinearly to `shape`, exactly as the AUPIMO protocol resizes maps back.

    This is ``cv2.resize(amap, (W, H), interpolation=cv2.INTER_LINEAR)``: bilinear interpolation with
    half-pixel centres (source coordinate ``(dst + 0.5) * in / out - 0.5``, clamped at the borders) and no
    antialiasing, the same as ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``.
    Downsampling by an integer factor 2 therefore averages 2x2 blocks. The map is never cropped; changing
    the aspect ratio is allowed.

    Args:
        amap: the map, shape (h, w), float32 (other real dtypes are converted to float32).
        shape: the target (H, W) in pixels.
        out: optional C-contiguous float32 (H, W) array to write the result into.

    Returns:
        The resized float32 map of shape (H, W): `out` when given; otherwise `amap` itself (no copy) when its
        shape already is `shape`.

    Raises:
        ValueError: `amap` is not 2-D or `shape` is not two positive sizes.
    """
    height, width = (int(size) for size in shape)
    if amap.ndim != 2:
        raise ValueError(f"`amap` must be 2-D (H, W), but it has shape {amap.shape}.")
    if height <= 0 or width <= 0:
        raise ValueError(f"`shape` must be two positive sizes (H, W), not {tuple(shape)}.")
    if out is not None and (out.shape != (height, width) or out.dtype != np.float32 or not out.flags.c_contiguous):
        raise ValueError(f"`out` must be a C-contiguous float32 array of shape {(height, width)}.")
    if amap.shape == (height, width):
        if out is None:
            return np.ascontiguousarray(amap, dtype=np.float32)
        out[...] = amap
        return out
    source = np.ascontiguousarray(amap, dtype=np.float32)
    if out is None:
        return np.asarray(cv2.resize(source, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    result = cv2.resize(source, (width, height), dst=out, interpolation=cv2.INTER_LINEAR)
    if result is not out and not np.shares_memory(result, out):  # cv2 reallocates on a mismatch: never here
        out[...] = result
    return out
