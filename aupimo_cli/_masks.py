"""Masks kept as the crop of their bounding box, once their image's scores are split.

Once an image's scores are split by its mask (normal ones sorted, anomalous ones in row-major mask order), the
metrics need of the mask only its shape, whether it has an anomalous pixel, how many, and its regions: all of
which its bounding box's crop holds. A defect covers a few percent of an image, so the crop takes a few
percent of the mask's memory (on MVTec AD screw, 119 MB of masks at 1024x1024 become about 1 MB), and a
normal image's mask takes none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


def _bounding_box(mask: NDArray[np.bool_]) -> tuple[slice, slice] | None:
    """The smallest (rows, columns) slices holding every True pixel of a 2-D mask; None for an all-False one."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


@dataclass(frozen=True)
class BoxedMask:
    """A boolean mask of `shape` (H, W) whose True pixels all lie in `crop`, the tight crop of its bounding box at
    row `top` and column `left`; `crop` is (0, 0) for an all-False mask.

    >>> mask = np.zeros((4, 5), dtype=bool)
    >>> mask[1, 2] = mask[2, 3] = True
    >>> boxed = BoxedMask.of(mask)
    >>> boxed.shape, (boxed.top, boxed.left), boxed.crop.shape, boxed.any(), mask_pixel_count(boxed)
    ((4, 5), (1, 2), (2, 2), True, 2)
    >>> bool(np.array_equal(boxed.full(), mask))
    True
    """

    shape: tuple[int, int]
    top: int
    left: int
    crop: NDArray[np.bool_]

    @classmethod
    def of(cls, mask: NDArray[np.bool_]) -> BoxedMask:
        """The boxed form of a 2-D boolean mask (a copy of its bounding box)."""
        shape = (int(mask.shape[0]), int(mask.shape[1]))
        box = _bounding_box(mask)
        if box is None:
            return cls(shape, 0, 0, np.zeros((0, 0), dtype=bool))
        rows, cols = box
        return cls(shape, int(rows.start), int(cols.start), np.array(mask[rows, cols], dtype=bool, order="C"))

    def any(self) -> bool:
        """Whether the mask has an anomalous pixel (the crop is tight, so it is not empty then)."""
        return self.crop.size > 0

    def full(self) -> NDArray[np.bool_]:
        """The mask at its full shape (a new array)."""
        mask = np.zeros(self.shape, dtype=bool)
        mask[self.top : self.top + self.crop.shape[0], self.left : self.left + self.crop.shape[1]] = self.crop
        return mask


MaskLike = NDArray[np.bool_] | BoxedMask
"""A boolean (H, W) mask, as an array or in its boxed form."""


def tight_crop(mask: MaskLike) -> NDArray[np.bool_]:
    """The crop of a non-empty mask's bounding box: all its True pixels, in their row-major order."""
    if isinstance(mask, BoxedMask):
        return mask.crop
    box = _bounding_box(mask)
    assert box is not None, "tight_crop needs a mask with an anomalous pixel"
    return mask[box]


def mask_pixel_count(mask: MaskLike) -> int:
    """The number of anomalous (True) pixels of a mask."""
    return int(np.count_nonzero(mask.crop if isinstance(mask, BoxedMask) else mask))
