"""Masks in their boxed form (`_masks.BoxedMask`) give the same numbers as the full masks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from aupimo_cli._masks import BoxedMask, mask_pixel_count, tight_crop
from aupimo_cli.io import find_pairs, load_category
from aupimo_cli.metrics._pass import count_regions, region_weights
from aupimo_cli.synthetic import write_category


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_the_boxed_form_keeps_every_pixel_and_region(mask):
    boxed = BoxedMask.of(mask)
    assert np.array_equal(boxed.full(), mask)
    assert boxed.any() == bool(mask.any())
    assert mask_pixel_count(boxed) == int(np.count_nonzero(mask))
    assert count_regions(boxed) == count_regions(mask)
    if mask.any():
        assert np.array_equal(tight_crop(boxed), tight_crop(mask))
        weights, regions = region_weights(boxed)
        expected_weights, expected_regions = region_weights(mask)
        assert regions == expected_regions and np.array_equal(weights, expected_weights)


def test_the_loader_compacts_masks_after_each_map(tmp_path):
    write_category(tmp_path, {"crack": 3}, num_normal=2, mask_shape=(40, 30), map_shape=(10, 10), seed=3)
    pairs = find_pairs(tmp_path / "maps", tmp_path / "masks")
    full = load_category(pairs)
    seen = []
    boxed = load_category(pairs, after_map=lambda index, amap, mask: seen.append(mask.shape), compact_masks=True)
    assert sorted(seen) == [(40, 30)] * 5  # the hook still gets each full mask
    for mask, compact in zip(full.masks, boxed.masks, strict=True):
        assert isinstance(compact, BoxedMask) and compact.shape == (40, 30)
        assert np.array_equal(compact.full(), mask)
    # A normal image without a mask file takes no memory: a read-only view of one False.
    normal = next(mask for pair, mask in zip(pairs, full.masks, strict=True) if pair.mask_path is None)
    assert normal.strides == (0, 0) and not normal.flags.writeable and not normal.any()
