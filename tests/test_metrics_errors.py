"""Bad inputs give clear ValueErrors that say what to do, never a crash inside numba."""

from __future__ import annotations

import glob
import os

import cv2
import numpy as np
import pytest

from aupimo_cli.metrics import (
    FPRBoundUnreachableError,
    aupimo,
    aupro,
    pimo_curves,
    pixel_auroc,
    pixel_metrics,
)

from .conftest import DATA


def _pair(num_normal: int = 2, num_anomalous: int = 2, shape: tuple[int, int] = (8, 8)):
    rng = np.random.default_rng(0)
    maps = rng.random((num_normal + num_anomalous, *shape)).astype(np.float32)
    masks = np.zeros(maps.shape, dtype=np.uint8)
    masks[num_normal:, 2:5, 2:5] = 1
    return maps, masks


def test_no_anomalous_pixel():
    maps, masks = _pair(num_anomalous=0)
    with pytest.raises(ValueError, match="No anomalous pixel"):
        pixel_metrics(maps, masks)
    with pytest.raises(ValueError, match="at least one anomalous image"):
        aupimo(maps, masks)


def test_no_normal_pixel():
    maps = np.ones((2, 4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="No normal pixel"):
        pixel_auroc(maps, np.ones((2, 4, 4), dtype=bool))


def test_no_normal_image():
    maps, masks = _pair(num_normal=0)
    with pytest.raises(ValueError, match="at least one normal image"):
        aupimo(maps, masks)
    with pytest.raises(ValueError, match="at least one normal image"):
        pimo_curves(maps, masks)


@pytest.mark.parametrize(
    ("maps", "masks", "match"),
    [
        (np.zeros((4, 4), np.float32), np.zeros((4, 4), bool), r"shape \(N, H, W\)"),
        (np.zeros((2, 4, 4), np.float32), np.zeros((2, 4, 5), bool), r"resize the map"),
        (np.zeros((2, 4, 4), np.float32), np.zeros((3, 4, 4), bool), "pair one to one"),
        (np.zeros((2, 4, 4), bool), np.zeros((2, 4, 4), bool), "real numbers"),
        (np.zeros((2, 4, 4), np.complex64), np.zeros((2, 4, 4), bool), "real numbers"),
        (np.zeros((2, 4, 4), np.float32), np.zeros((2, 4, 4), "U1"), "bool or integer"),
        ([np.zeros((4,), np.float32)], [np.zeros((4,), bool)], "must be 2-D"),
        ([np.zeros((0, 4), np.float32)], [np.zeros((0, 4), bool)], "zero size"),
        ([], [], "empty"),
        ("maps", "masks", "sequence of 2-D arrays"),
    ],
)
def test_wrong_shapes_and_dtypes(maps, masks, match):
    with pytest.raises(ValueError, match=match):
        pixel_metrics(maps, masks)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores(bad):
    maps, masks = _pair()
    maps[3, 0, 0] = bad
    maps[3, 0, 1] = bad
    with pytest.raises(ValueError, match=r"maps\[3\]` has 2 non-finite"):
        pixel_metrics(maps, masks)
    with pytest.raises(ValueError, match=r"maps\[3\]` has 2 non-finite"):
        aupimo(maps, masks)


def test_constant_normal_maps():
    maps, masks = _pair()
    maps[:2] = 0.5
    with pytest.raises(ValueError, match=r"same constant score 0\.5"):
        aupimo(maps, masks)


def test_non_increasing_thresholds():
    maps, masks = _pair()
    maps[:2] = np.float32(1.0)
    maps[0, 0, 0] = np.nextafter(np.float32(1.0), np.float32(2.0))  # a range of one float32 ulp
    with pytest.raises(ValueError, match=r"not strictly increasing.*fewer thresholds"):
        aupimo(maps, masks, num_thresholds=1000)


def test_bad_options():
    maps, masks = _pair()
    with pytest.raises(ValueError, match=r"num_thresholds"):
        aupimo(maps, masks, num_thresholds=1)
    with pytest.raises(ValueError, match="0 < lower < upper <= 1"):
        aupimo(maps, masks, fpr_bounds=(1e-4, 1e-5))
    with pytest.raises(ValueError, match=r"limit must be in \(0, 1\]"):
        aupro(maps, masks, 0.0)


def _load_bound_unreachable_case():
    root = DATA / "errors" / "bound_unreachable"
    maps, masks = [], []
    for path in sorted(glob.glob(str(root / "maps" / "*" / "*.npy"))):
        defect, name = os.path.split(os.path.relpath(path, root / "maps"))
        mask_path = root / "masks" / defect / (name[:-4] + "_mask.png")
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED) if mask_path.exists() else None
        shape = (240, 320) if mask is None else mask.shape
        maps.append(cv2.resize(np.load(path), shape[::-1], interpolation=cv2.INTER_LINEAR))
        masks.append(np.zeros(shape, bool) if mask is None else mask > 0)
    return maps, masks


def test_unreachable_lower_bound_names_the_bound_the_smallest_fpr_and_the_fixes():
    maps, masks = _load_bound_unreachable_case()
    with pytest.raises(FPRBoundUnreachableError) as info:
        aupimo(maps, masks)
    message = str(info.value)
    assert "lower FPR bound 1e-05 cannot be reached" in message
    assert "6.944e-05" in message  # 64 tied top pixels among 921,600 normal pixels
    assert "More thresholds cannot help" in message
    assert "more normal images" in message and "--fpr-bounds" in message and "without rounding" in message
    assert info.value.smallest_fpr == pytest.approx(64 / 921_600)
    # More thresholds do not help, as the message says.
    with pytest.raises(FPRBoundUnreachableError):
        aupimo(maps, masks, num_thresholds=1_000_000)
