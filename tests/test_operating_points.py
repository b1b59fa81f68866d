"""Operating points (DESIGN section 6): every threshold rule by hand, the pixel-level figures against brute-force
numpy, and the measured rates against their definitions.

The threshold rules are checked on cases small enough to count by hand, with ties at the threshold, f * n an
exact integer at pixel scale (n = 10^8), f = 0, f = 1 refused and a single validation image. SegF1, PRO at a
threshold and IoU are compared with a direct numpy version (every pixel compared with the threshold, regions
labelled by scipy with 8-connectivity).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from aupimo_cli.errors import InputError
from aupimo_cli.metrics import (
    MetricInputError,
    image_rates,
    pro_at_threshold,
    seg_f1,
    threshold_at_far,
    threshold_at_frr,
)
from aupimo_cli.metrics._pass import SplitScores, split_scores
from aupimo_cli.metrics.operating import allowed_count, float32_at_or_above, pixel_counts_at
from aupimo_cli.pipeline.calibrate import ThresholdPolicy, calibrate_split
from aupimo_cli.pipeline.operating import measure_operating_points

from .conftest import DATA

F32 = np.float32


def above(value: float) -> float:
    """The smallest float32 strictly above float32 `value`."""
    return float(np.nextafter(F32(value), F32(np.inf)))


def rejected_share(scores: np.ndarray, threshold: float) -> float:
    return float(np.mean(np.asarray(scores, dtype=F32) >= F32(threshold)))


# ---------------------------------------------------------------------------------------------------------
# Threshold at a target FRR: the smallest float32 above the (k + 1)-th largest, k = floor(f n) exactly.
# ---------------------------------------------------------------------------------------------------------


def test_frr_threshold_by_hand():
    scores = np.arange(1, 11, dtype=F32)  # 1..10
    # f = 0.2, n = 10: k = 2; the 3rd largest is 8; just above it, 9 and 10 are rejected.
    assert threshold_at_frr(scores, 0.2) == above(8.0)
    assert rejected_share(scores, threshold_at_frr(scores, 0.2)) == 0.2
    # f = 0.25: k = floor(2.5) = 2, the same threshold: at most 25%, and 20% reached.
    assert threshold_at_frr(scores, 0.25) == above(8.0)
    # f = 0: k = 0, just above the maximum: nothing rejected.
    assert threshold_at_frr(scores, 0.0) == above(10.0)
    assert rejected_share(scores, threshold_at_frr(scores, 0.0)) == 0.0
    # Any lower float32 threshold rejects more than k.
    lower = float(np.nextafter(F32(threshold_at_frr(scores, 0.2)), F32(-np.inf)))
    assert rejected_share(scores, lower) > 0.2


def test_frr_threshold_puts_tied_parts_on_one_side():
    # n = 6, f = 0.34: k = 2, but the 2nd and 3rd largest are tied at 3 with a third 3: rejecting any of them
    # rejects all three (4 of 6), so only the 4 is rejected.
    scores = np.array([1, 2, 3, 3, 3, 4], dtype=F32)
    threshold = threshold_at_frr(scores, 0.34)
    assert threshold == above(3.0)
    assert rejected_share(scores, threshold) == pytest.approx(1 / 6)
    # Every score tied: nothing can be rejected below f = 1.
    assert threshold_at_frr(np.full(5, 0.5, dtype=F32), 0.9) == above(0.5)


def test_frr_exact_decimal_counts():
    # 0.29 * 100 is 28.999999999999996 in floating point; the rule counts 29, from the decimal as written.
    assert allowed_count(0.29, 100) == 29
    scores = np.arange(100, dtype=F32)
    assert rejected_share(scores, threshold_at_frr(scores, 0.29)) == 0.29


def test_frr_exact_integer_at_pixel_scale():
    # n = 10^8 pixels, f = 0.29: f * n = 28999999.999999996 in floating point. 29 million tied pixels at 1.0
    # and the rest at 0.0: the exact k = 29,000,000 allows rejecting every 1.0; one fewer would reject none.
    n, ones = 10**8, 29_000_000
    assert math.floor(0.29 * n) == ones - 1 and allowed_count(0.29, n) == ones
    scores = np.zeros(n, dtype=F32)
    scores[:ones] = 1.0
    threshold = threshold_at_frr(scores, 0.29)
    assert threshold == above(0.0)
    assert int(np.count_nonzero(scores >= F32(threshold))) == ones


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.01, math.nan])
def test_rates_outside_zero_one_are_refused(rate):
    with pytest.raises(MetricInputError, match=r"\[0, 1\)"):
        threshold_at_frr([0.1, 0.2], rate)
    with pytest.raises(MetricInputError, match=r"\[0, 1\)"):
        threshold_at_far([0.1, 0.2], rate)


def test_single_validation_image():
    assert threshold_at_frr([0.7], 0.5) == above(0.7)  # k = 0: nothing may be rejected
    assert threshold_at_far([0.7], 0.5) == float(F32(0.7))  # k = 0: nothing may be accepted
    with pytest.raises(MetricInputError, match="at least one"):
        threshold_at_frr([], 0.1)


# ---------------------------------------------------------------------------------------------------------
# Threshold at a target FAR: the (k + 1)-th smallest defective score.
# ---------------------------------------------------------------------------------------------------------


def test_far_threshold_by_hand():
    scores = np.array([0.5, 0.6, 0.7, 0.8, 0.9], dtype=F32)
    # f = 0.4, m = 5: k = 2; the 3rd smallest is 0.7: 0.5 and 0.6 escape.
    assert threshold_at_far(scores, 0.4) == float(F32(0.7))
    assert image_rates(np.concatenate([[0.1], scores]), [0, 1, 1, 1, 1, 1], threshold_at_far(scores, 0.4)) == (
        0.0,
        0.4,
    )
    # It is the highest such threshold: the next float32 up lets a third part escape.
    assert np.mean(scores < F32(above(threshold_at_far(scores, 0.4)))) == 0.6
    assert threshold_at_far(scores, 0.0) == float(F32(0.5))  # nothing escapes
    # Ties: k = 1 but the two smallest are tied; rejected together (none escapes).
    assert threshold_at_far(np.array([0.5, 0.5, 0.9], dtype=F32), 0.34) == float(F32(0.5))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=1, max_size=40),
    st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.25, 0.29, 0.5, 0.9, 0.99]),
)
def test_threshold_rules_meet_their_definitions(values, rate):
    """On tie-heavy scores: at most k rejected (or escaped), and the next float32 beyond breaks the bound."""
    scores = np.array(values, dtype=F32) / F32(4)
    k = allowed_count(rate, scores.size)
    hard = F32(threshold_at_frr(scores, rate))
    assert np.count_nonzero(scores >= hard) <= k
    assert np.count_nonzero(scores >= np.nextafter(hard, F32(-np.inf))) > k
    far = F32(threshold_at_far(scores, rate))
    assert np.count_nonzero(scores < far) <= k
    assert np.count_nonzero(scores < np.nextafter(far, F32(np.inf))) > k


def test_float64_thresholds_round_up_to_float32():
    value = 0.1  # float32(0.1) is 0.10000000149..., above 0.1: kept
    assert float32_at_or_above(value) == float(F32(0.1))
    value = 0.7  # float32(0.7) is 0.69999998807..., below it: the next float32 up
    assert float(F32(value)) < value
    assert float32_at_or_above(value) == above(float(F32(value)))
    assert float32_at_or_above(value) >= value


# ---------------------------------------------------------------------------------------------------------
# Calibration: policies on split validation scores.
# ---------------------------------------------------------------------------------------------------------


def _split(maps: list[np.ndarray], masks: list[np.ndarray]) -> SplitScores:
    return split_scores([m.astype(F32) for m in maps], [k.astype(bool) for k in masks])


def _normal_set(num: int, seed: int = 0, shape: tuple[int, int] = (6, 7)) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    maps = [rng.normal(size=shape).astype(F32) for _ in range(num)]
    return maps, [np.zeros(shape, dtype=bool) for _ in range(num)]


def test_mean_plus_three_std_of_every_normal_pixel():
    maps, masks = _normal_set(5)
    thresholds = calibrate_split(_split(maps, masks), np.zeros(5, dtype=np.int32), ThresholdPolicy())
    pixels = np.concatenate([m.ravel() for m in maps]).astype(np.float64)
    expected = pixels.mean() + 3 * pixels.std()  # ddof 0, float64
    assert thresholds.pixel is not None
    assert thresholds.pixel >= expected - 1e-12 * abs(expected)
    assert float(np.nextafter(F32(thresholds.pixel), F32(-np.inf))) < expected
    assert thresholds.validation["rates"]["pixel_fpr"] == rejected_share(pixels, thresholds.pixel)
    # The default hard rule: 1% FRR over five images allows none: just above the highest image score.
    assert thresholds.image == above(max(float(m.max()) for m in maps))
    assert thresholds.validation["rates"]["image_frr"] == 0.0


def test_pixel_fpr_rule_and_soft_threshold():
    maps, masks = _normal_set(20, seed=1)
    policy = ThresholdPolicy(frr=0.05, soft_frr=0.2, pixel_fpr=0.01)
    thresholds = calibrate_split(_split(maps, masks), np.zeros(20, dtype=np.int32), policy)
    image_scores = np.array([m.max() for m in maps], dtype=F32)
    pixels = np.concatenate([m.ravel() for m in maps])
    assert thresholds.image == threshold_at_frr(image_scores, 0.05)
    assert thresholds.soft == threshold_at_frr(image_scores, 0.2)
    assert thresholds.soft is not None and thresholds.soft < thresholds.image
    assert thresholds.pixel == threshold_at_frr(pixels, 0.01)
    rates = thresholds.validation["rates"]
    assert rates["image_frr"] == 0.05 and rates["image_soft_frr"] == 0.2
    assert rates["pixel_fpr"] == rejected_share(pixels, thresholds.pixel) <= 0.01


def test_single_image_validation_set():
    maps, masks = _normal_set(1)
    thresholds = calibrate_split(_split(maps, masks), np.zeros(1, dtype=np.int32), ThresholdPolicy(frr=0.5))
    assert thresholds.image == above(float(maps[0].max()))
    assert thresholds.validation["num_images"] == 1


def test_rules_needing_defective_images_refuse_a_normal_only_set():
    maps, masks = _normal_set(4)
    split = _split(maps, masks)
    labels = np.zeros(4, dtype=np.int32)
    with pytest.raises(InputError, match="--f1-adaptive needs defective validation images"):
        calibrate_split(split, labels, ThresholdPolicy(f1_adaptive=True))
    with pytest.raises(InputError, match="--far needs defective validation images"):
        calibrate_split(split, labels, ThresholdPolicy(far=0.1))


def test_far_and_f1_adaptive_with_defective_validation_images():
    from aupimo_cli.metrics import image_f1_max

    maps, masks = _normal_set(6, seed=3)
    rng = np.random.default_rng(4)
    for _ in range(4):
        amap = rng.normal(size=(6, 7)).astype(F32)
        mask = np.zeros((6, 7), dtype=bool)
        mask[2:4, 2:5] = True
        amap[mask] += 2.5
        maps.append(amap)
        masks.append(mask)
    labels = np.array([0] * 6 + [1] * 4, dtype=np.int32)
    split = _split(maps, masks)
    scores = np.array([m.max() for m in maps], dtype=F32)
    far = calibrate_split(split, labels, ThresholdPolicy(far=0.25))
    assert far.image == threshold_at_far(scores[labels == 1], 0.25)
    assert far.validation["rates"]["image_far"] == 0.25
    f1 = calibrate_split(split, labels, ThresholdPolicy(f1_adaptive=True))
    assert f1.image == image_f1_max(scores, labels).threshold
    manual = calibrate_split(split, labels, ThresholdPolicy(manual=1.25))
    assert manual.image == 1.25


def test_policy_errors_name_the_flag():
    with pytest.raises(InputError, match="one rule"):
        ThresholdPolicy(frr=0.01, far=0.01)
    with pytest.raises(InputError, match=r"--soft-frr 0\.01 must be larger than --frr 0\.05"):
        ThresholdPolicy(frr=0.05, soft_frr=0.01)
    with pytest.raises(InputError, match="--frr must be in"):
        ThresholdPolicy(frr=1.0)
    with pytest.raises(InputError, match="--pixel must be one of"):
        ThresholdPolicy(pixel="median")


# ---------------------------------------------------------------------------------------------------------
# Pixel level at a threshold, against brute-force numpy.
# ---------------------------------------------------------------------------------------------------------


def brute_force_pixel_figures(
    maps: list[np.ndarray], masks: list[np.ndarray], threshold: float
) -> tuple[float, float, list[float]]:
    """(SegF1, PRO at the threshold, per-image IoU) by comparing every pixel with the threshold."""
    tp = fp = fn = 0
    overlaps, ious = [], []
    for amap, mask in zip(maps, masks, strict=True):
        predicted = amap.astype(F32) >= F32(threshold)
        truth = mask.astype(bool)
        tp += int((predicted & truth).sum())
        fp += int((predicted & ~truth).sum())
        fn += int((~predicted & truth).sum())
        regions, count = ndimage.label(truth, structure=np.ones((3, 3), dtype=int))
        overlaps += [float(predicted[regions == r].mean()) for r in range(1, count + 1)]
        ious.append(float((predicted & truth).sum() / (predicted | truth).sum()) if truth.any() else math.nan)
    return 2 * tp / (2 * tp + fp + fn), float(np.mean(overlaps)), ious


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 7))
def test_pixel_figures_equal_brute_force(seed, level):
    rng = np.random.default_rng(seed)
    maps, masks = [], []
    for index in range(4):
        # Quantized scores, so that many equal the threshold: ties are counted as predicted (>=).
        amap = (rng.integers(0, 8, size=(9, 11)) / 4).astype(F32)
        mask = np.zeros((9, 11), dtype=bool)
        if index > 0:
            for _ in range(int(rng.integers(1, 4))):
                row, col = rng.integers(0, 8), rng.integers(0, 10)
                mask[row : row + int(rng.integers(1, 4)), col : col + int(rng.integers(1, 4))] = True
            amap[mask] += F32(0.5)
        maps.append(amap)
        masks.append(mask)
    threshold = level / 4
    expected_f1, expected_pro, expected_ious = brute_force_pixel_figures(maps, masks, threshold)
    assert seg_f1(maps, masks, threshold) == pytest.approx(expected_f1, abs=1e-12)
    assert pro_at_threshold(maps, masks, threshold) == pytest.approx(expected_pro, abs=1e-12)
    counts = pixel_counts_at(
        [np.sort(m[~k]) for m, k in zip(maps, masks, strict=True)],
        [m[k] for m, k in zip(maps, masks, strict=True)],
        masks,
        threshold,
    )
    np.testing.assert_allclose(counts.ious(), expected_ious, atol=1e-12, equal_nan=True)


def test_seg_f1_and_pro_by_hand():
    amap = np.array([[0.9, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.2]], dtype=F32)
    mask = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)  # two regions of two pixels (not 8-connected)
    # At 0.5: TP = 3 (0.9, 0.5 and the tied 0.5), FP = 0, FN = 1 (0.2): SegF1 = 6 / 7.
    assert seg_f1([amap], [mask], 0.5) == pytest.approx(6 / 7)
    # PRO: the first region fully, the second half: 0.75. With anomalib's '>' it would be (0.5 + 0) / 2.
    assert pro_at_threshold([amap], [mask], 0.5) == 0.75
    with pytest.raises(MetricInputError, match="No anomalous region"):
        pro_at_threshold([amap], [np.zeros_like(mask)], 0.5)


# ---------------------------------------------------------------------------------------------------------
# Measured on test: rates, the review band and per-defect rows against direct counts.
# ---------------------------------------------------------------------------------------------------------


def test_measured_operating_points_equal_direct_counts():
    from aupimo_cli.pipeline.calibrate import Thresholds

    rng = np.random.default_rng(7)
    maps, masks, defects = [], [], []
    for index in range(30):
        amap = rng.normal(size=(8, 8)).astype(F32)
        mask = np.zeros((8, 8), dtype=bool)
        defect = "good"
        if index >= 12:
            defect = "crack" if index % 2 else "hole"
            mask[2:5, 3:6] = True
            amap[mask] += F32(rng.uniform(0.0, 3.0))
        maps.append(amap)
        masks.append(mask)
        defects.append(defect)
    labels = np.array([int(m.any()) for m in masks], dtype=np.int32)
    scores = np.array([m.max() for m in maps], dtype=F32)
    hard, soft, pixel = float(np.quantile(scores, 0.7)), float(np.quantile(scores, 0.4)), 1.5
    thresholds = Thresholds(float(F32(hard)), float(F32(soft)), pixel, ThresholdPolicy(frr=0.1, soft_frr=0.3))
    aupimos = np.where(labels == 1, rng.uniform(size=30), np.nan)
    measured = measure_operating_points(_split(maps, masks), labels, defects, aupimos, thresholds)
    rejected = scores >= F32(thresholds.image)
    review = ~rejected & (scores >= F32(thresholds.soft))
    normal, bad = labels == 0, labels == 1
    head = measured.headline
    assert head["image_frr"] == rejected[normal].mean() and head["image_far"] == (~rejected[bad]).mean()
    assert head["share_normal_review"] == review[normal].mean()
    assert head["share_anomalous_review"] == review[bad].mean()
    assert head["share_anomalous_accept"] == (~rejected & ~review)[bad].mean()
    assert sum(head[f"share_normal_{d}"] for d in ("reject", "review", "accept")) == pytest.approx(1.0)
    np.testing.assert_array_equal(measured.rejected, rejected.astype(np.int8))
    f1, pro, ious = brute_force_pixel_figures(maps, masks, pixel)
    assert head["seg_f1"] == pytest.approx(f1, abs=1e-12) and head["pro_at_threshold"] == pytest.approx(pro)
    assert head["mean_iou"] == pytest.approx(np.nanmean(ious))
    rows = {row["defect"]: row for row in measured.per_defect}
    assert sorted(rows) == ["crack", "good", "hole"]
    for name, row in rows.items():
        chosen = np.array(defects) == name
        accepted = chosen & ~rejected & ~review
        assert row["images"] == chosen.sum()
        assert row["rejected"] + row["review"] + row["accepted"] == row["images"]
        assert row["escaped"] == (accepted & bad).sum()
        if name != "good":
            assert row["escape_rate"] == pytest.approx((accepted & bad).sum() / (chosen & bad).sum())
            assert row["mean_aupimo"] == pytest.approx(aupimos[chosen].mean())
        else:
            assert row["escape_rate"] is None and row["false_reject_rate"] == rejected[chosen].mean()


# ---------------------------------------------------------------------------------------------------------
# PGn, PBn and PRO against anomalib's values (stored in tests/data by scripts/anomalib_operating_points.py).
# ---------------------------------------------------------------------------------------------------------

PG_PB = json.loads((DATA / "anomalib_pg_pb.json").read_text())
PRO_FIXTURES = json.loads((DATA / "anomalib_pro.json").read_text())["fixtures"]


def _pg_pb_cases() -> list[tuple[str, dict, float]]:
    cases = []
    for name, case in PG_PB["reference"].items():
        cases += [(f"{name}-{n}", {**case, **values}, float(n)) for n, values in case["values"].items()]
    cases += [(f"random-{case['index']}", case, case["n"]) for case in PG_PB["random"]]
    cases += [(f"constructed-{i}", case, case["n"]) for i, case in enumerate(PG_PB["constructed"])]
    return cases


@pytest.mark.parametrize(("case", "n"), [c[1:] for c in _pg_pb_cases()], ids=[c[0] for c in _pg_pb_cases()])
def test_pg_n_and_pb_n_equal_anomalib(case, n):
    """Exact counts and float32 thresholds, ties included. The file was made on a CPU whose torch lerp is fused
    (AVX2/AVX-512), as the reproduction assumes; the two constructed cases marked depends_on_fma give another
    count on a CPU without AVX2 (their plain-lerp counts are stored), which no random or reference case does."""
    from aupimo_cli.metrics import pb_n, pg_n
    from aupimo_cli.metrics.operating import _torch_quantile32

    assert PG_PB["lerp_fused"] is True
    scores = np.array(case["scores"], dtype=F32)
    labels = np.array(case["labels"])
    pg, pb = pg_n(scores, labels, n), pb_n(scores, labels, n)
    assert round(pg * case["n_normal"]) == case["pg_count"] and pg == case["pg_count"] / case["n_normal"]
    assert pb == case["pb_count"] / case["n_anomalous"]
    # anomalib returns float32 tensors: the same shares rounded to float32.
    assert F32(pg) == F32(case["pg"]) and F32(pb) == F32(case["pb"])
    pg_threshold = _torch_quantile32(scores[labels == 1], F32(n))
    pb_threshold = _torch_quantile32(scores[labels == 0], F32(1) - F32(n))
    assert pg_threshold == F32(case["pg_threshold"]) and pb_threshold == F32(case["pb_threshold"])


def test_the_stored_cases_separate_the_simpler_rules():
    """The constructed cases are where a float64 np.quantile (or torch's older float32 rank) would differ: the
    test above covers them, so that a simpler reproduction cannot pass."""
    separated = {rule for case in PG_PB["constructed"] for rule in case["separates"]}
    assert {"float64_rule", "float32_rank", "plain_lerp"} <= separated
    assert sum(case["depends_on_fma"] for case in PG_PB["constructed"]) == 2


@pytest.mark.parametrize("fixture", PRO_FIXTURES, ids=[f["name"] for f in PRO_FIXTURES])
def test_pro_at_threshold_equals_anomalib_where_no_score_equals_it(fixture):
    predictions = np.array(fixture["predictions"], dtype=F32)
    targets = np.array(fixture["targets"]).astype(bool)
    if fixture["n_regions"] == 0:
        # anomalib returns 1.0 without any region; the tool refuses, as there is nothing to overlap.
        with pytest.raises(MetricInputError):
            pro_at_threshold(predictions, targets, fixture["threshold"])
        return
    value = pro_at_threshold(predictions, targets, fixture["threshold"])
    if fixture["prediction_equals_threshold"]:
        # anomalib's PRO counts a pixel when its score is > the threshold; the tool, as its every rule, >=.
        assert value == pytest.approx(fixture["value_if_greater_equal"], abs=1e-12)
        assert value != pytest.approx(fixture["anomalib"], abs=1e-6)
    else:
        assert value == pytest.approx(fixture["anomalib"], abs=1e-6)
        assert value == pytest.approx(fixture["exact_mean_recall"], abs=1e-12)
    if fixture["expected"] is not None:
        assert value == pytest.approx(fixture["expected"], abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(width=32, allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e-40, -1e-40]),
        ),
        min_size=1,
        max_size=50,
    ),
    st.data(),
)
def test_radix_select_equals_sorting(values, data):
    """The k-th smallest by radix select (negatives, signed zeros, subnormals, ties) equals numpy's sort."""
    from aupimo_cli.metrics._select_kernels import kth_smallest32

    scores = np.array(values, dtype=F32)
    k = data.draw(st.integers(0, scores.size - 1))
    value, finite = kth_smallest32(scores, k)
    assert finite and value == np.sort(scores)[k]
    with_nan = np.append(scores, F32(np.nan))
    assert not kth_smallest32(with_nan, 0)[1]
