"""Bilinear resizing against hand-computed values (half-pixel centres, no antialias, no crop)."""

from __future__ import annotations

import numpy as np
import pytest

from aupimo_cli.io.resize import resize_bilinear

RNG = np.random.default_rng(1)


def _axis_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (low, high) and the weight of `high`, as torch's align_corners=False computes them."""
    source = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    source = np.maximum(source, 0.0)  # torch and OpenCV clamp negative coordinates to the first pixel
    low = np.minimum(np.floor(source).astype(int), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, source - low


def bilinear_reference(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pure-numpy separable bilinear resize with half-pixel centres, in float64."""
    image = image.astype(np.float64)
    rows_low, rows_high, row_weight = _axis_weights(image.shape[0], shape[0])
    cols_low, cols_high, col_weight = _axis_weights(image.shape[1], shape[1])
    rows = image[rows_low] * (1 - row_weight)[:, None] + image[rows_high] * row_weight[:, None]
    return rows[:, cols_low] * (1 - col_weight) + rows[:, cols_high] * col_weight


def test_upsample_2x2_to_4x4_literal():
    out = resize_bilinear(np.array([[0, 1], [2, 3]], dtype=np.float32), (4, 4))
    expected_row = np.array([0, 0.25, 0.75, 1])
    expected = expected_row[None, :] + np.array([0, 0.5, 1.5, 2])[:, None]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], [0, 0.25, 0.75, 1], atol=1e-7)
    np.testing.assert_allclose(out, expected, atol=1e-7)


def test_downsample_4x4_to_2x2_literal():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(resize_bilinear(image, (2, 2)), [[2.5, 4.5], [10.5, 12.5]], atol=1e-6)


def test_downsample_by_2_is_the_mean_of_2x2_blocks():
    image = RNG.random((8, 12)).astype(np.float32)
    blocks = image.astype(np.float64).reshape(4, 2, 6, 2).mean(axis=(1, 3))
    out = resize_bilinear(image, (4, 6))
    np.testing.assert_allclose(out, blocks, atol=1e-6)
    np.testing.assert_allclose(out, bilinear_reference(image, (4, 6)), atol=1e-6)


def test_1x3_row_to_1x5_literal():
    # source x for output j: (j + 0.5) * 3 / 5 - 0.5 = -0.2, 0.4, 1.0, 1.6, 2.2 -> clamp to [0, 2]
    out = resize_bilinear(np.array([[0, 10, 20]], dtype=np.float32), (1, 5))
    np.testing.assert_allclose(out, [[0, 4, 10, 16, 20]], atol=1e-5)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ((3, 5), (7, 4)),  # non-integer ratios and an aspect change
        ((2, 2), (4, 4)),
        ((5, 7), (3, 4)),  # non-integer downsampling
        ((10, 10), (7, 13)),
        ((64, 64), (256, 256)),
        ((60, 80), (240, 320)),
        ((256, 256), (100, 150)),
        ((1, 6), (4, 9)),
        ((6, 1), (9, 4)),
    ],
)
def test_matches_half_pixel_bilinear(source, target):
    image = (RNG.random(source) * 10 - 5).astype(np.float32)
    out = resize_bilinear(image, target)
    assert out.shape == target
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, bilinear_reference(image, target), atol=1e-5)


def test_no_crop_borders_match_corners():
    """Upsampling keeps the whole map: each corner of the output is the matching corner pixel of the input."""
    image = RNG.random((5, 6)).astype(np.float32)
    out = resize_bilinear(image, (40, 18))
    for row, col in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        assert out[row, col] == pytest.approx(image[row, col], abs=1e-6)


def test_same_shape_returns_input_unchanged():
    image = RNG.random((5, 6)).astype(np.float32)
    assert resize_bilinear(image, (5, 6)) is image


def test_other_dtype_converted():
    image = np.arange(6, dtype=np.float64).reshape(2, 3)
    out = resize_bilinear(image, (2, 3))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, image)
    assert resize_bilinear(image, (4, 6)).dtype == np.float32


def test_input_not_modified_and_non_contiguous_input():
    image = RNG.random((8, 10)).astype(np.float32)
    copy = image.copy()
    view = image[:, ::2]
    np.testing.assert_allclose(resize_bilinear(view, (9, 3)), bilinear_reference(view, (9, 3)), atol=1e-5)
    np.testing.assert_array_equal(image, copy)


def test_bad_arguments():
    with pytest.raises(ValueError, match="2-D"):
        resize_bilinear(np.zeros((2, 2, 2), dtype=np.float32), (4, 4))
    with pytest.raises(ValueError, match="positive"):
        resize_bilinear(np.zeros((2, 2), dtype=np.float32), (0, 4))
