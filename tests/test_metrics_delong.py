"""DeLong's variance of the image AUROC: the fast midrank algorithm against the 1988 definition, done exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from aupimo_cli.metrics._inputs import MetricInputError
from aupimo_cli.metrics.delong import DeLongResult, delong_auroc

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


def direct_delong(positives: list[float], negatives: list[float]) -> tuple[Fraction, Fraction]:
    """(AUROC, variance) straight from DeLong, DeLong & Clarke-Pearson (1988), in exact rational arithmetic.

    psi(x, y) = 1 if x > y, 1/2 if x == y, 0 otherwise (x positive, y negative);
    V10_i = (1/n) sum_j psi(X_i, Y_j), V01_j = (1/m) sum_i psi(X_i, Y_j), AUROC = (1/(m n)) sum_i sum_j psi;
    S10 = sum_i (V10_i - AUROC)^2 / (m - 1), S01 = sum_j (V01_j - AUROC)^2 / (n - 1), variance = S10/m + S01/n.
    O(m n) pairs; independent of the module under test (no ranks, no numpy, no floating point).
    """
    m, n = len(positives), len(negatives)

    def twice_psi(x: float, y: float) -> int:  # 2 psi(x, y), to count in integers
        return 2 if x > y else 1 if x == y else 0

    kernel = [[twice_psi(x, y) for y in negatives] for x in positives]
    auroc = Fraction(sum(sum(row) for row in kernel), 2 * m * n)
    v10 = [Fraction(sum(row), 2 * n) for row in kernel]
    v01 = [Fraction(sum(kernel[i][j] for i in range(m)), 2 * m) for j in range(n)]
    s10 = sum(((v - auroc) ** 2 for v in v10), Fraction(0)) / (m - 1)
    s01 = sum(((v - auroc) ** 2 for v in v01), Fraction(0)) / (n - 1)
    return auroc, s10 / m + s01 / n


def as_arrays(positives: list[float], negatives: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels with the positives and negatives shuffled together (the order must not matter)."""
    scores = np.array(positives + negatives, dtype=np.float64)
    labels = np.array([1] * len(positives) + [0] * len(negatives))
    order = np.random.default_rng(seed).permutation(scores.size)
    return scores[order], labels[order]


tied_scores = st.integers(0, 5).map(lambda k: k / 4)  # six levels: ties everywhere
continuous_scores = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def check_against_definition(positives: list[float], negatives: list[float], seed: int) -> None:
    scores, labels = as_arrays(positives, negatives, seed)
    result = delong_auroc(scores, labels)
    auroc, variance = direct_delong(positives, negatives)
    assert result.auroc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert result.auroc == pytest.approx(float(auroc), abs=1e-12)
    assert result.variance == pytest.approx(float(variance), abs=1e-12)
    assert result.variance >= 0
    assert result.std_error == pytest.approx(float(variance) ** 0.5, abs=1e-12)
    lower, upper = result.interval()
    assert 0.0 <= lower <= result.auroc <= upper <= 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(tied_scores, min_size=2, max_size=30),
    st.lists(tied_scores, min_size=2, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_matches_the_definition_with_heavy_ties(positives, negatives, seed):
    check_against_definition(positives, negatives, seed)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(continuous_scores, min_size=2, max_size=30),
    st.lists(continuous_scores, min_size=2, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_matches_the_definition_with_continuous_scores(positives, negatives, seed):
    check_against_definition(positives, negatives, seed)


@settings(max_examples=100, deadline=None)
@given(st.lists(tied_scores, min_size=2, max_size=20), st.lists(tied_scores, min_size=2, max_size=20))
def test_swapping_the_classes_and_negating_the_scores_changes_nothing(positives, negatives):
    result = delong_auroc(positives + negatives, [1] * len(positives) + [0] * len(negatives))
    mirrored = delong_auroc([-s for s in negatives + positives], [1] * len(negatives) + [0] * len(positives))
    assert mirrored.auroc == pytest.approx(result.auroc, abs=1e-12)
    assert mirrored.variance == pytest.approx(result.variance, abs=1e-12)


def test_perfect_separation_has_zero_variance():
    result = delong_auroc([0.9, 0.1, 0.8, 0.2, 0.7], [1, 0, 1, 0, 1])
    # Every V10 is 1 and every V01 is 1: both sample variances vanish exactly.
    assert result == DeLongResult(auroc=1.0, variance=0.0, std_error=0.0)
    assert result.interval() == (1.0, 1.0)
    inverted = delong_auroc([0.1, 0.9, 0.2, 0.8], [1, 0, 1, 0])
    assert inverted == DeLongResult(auroc=0.0, variance=0.0, std_error=0.0)
    assert inverted.interval() == (0.0, 0.0)


def test_all_scores_tied():
    result = delong_auroc([0.3] * 6, [1, 0, 1, 0, 1, 0])
    # Every psi is 1/2: every V10 and V01 is 1/2, so the variance is 0 although the AUROC is 0.5.
    assert result == DeLongResult(auroc=0.5, variance=0.0, std_error=0.0)
    assert result.interval() == (0.5, 0.5)


def test_small_case_by_hand():
    # Positives X = (2, 1, 0), negatives Y = (1, 0); m = 3, n = 2.
    #   psi(2, .) = (1, 1)       -> V10 = 1
    #   psi(1, .) = (1/2, 1)     -> V10 = 3/4
    #   psi(0, .) = (0, 1/2)     -> V10 = 1/4
    #   V01(Y=1) = (1 + 1/2 + 0) / 3 = 1/2,  V01(Y=0) = (1 + 1 + 1/2) / 3 = 5/6
    #   AUROC = (1 + 3/4 + 1/4) / 3 = 2/3
    #   S10 = ((1/3)^2 + (1/12)^2 + (5/12)^2) / 2 = (16 + 1 + 25) / 288 = 7/48
    #   S01 = ((1/6)^2 + (1/6)^2) / 1 = 1/18
    #   variance = (7/48) / 3 + (1/18) / 2 = 7/144 + 4/144 = 11/144
    result = delong_auroc([2, 1, 0, 1, 0], [1, 1, 1, 0, 0])
    assert result.auroc == pytest.approx(2 / 3, abs=1e-15)
    assert result.variance == pytest.approx(11 / 144, abs=1e-15)
    assert result.std_error == pytest.approx((11 / 144) ** 0.5, abs=1e-15)
    lower, upper = result.interval(0.95)
    assert lower == pytest.approx(2 / 3 - Z95 * (11 / 144) ** 0.5, abs=1e-12)
    assert upper == 1.0  # 2/3 + 0.5417 is clipped


def test_two_by_two_by_hand():
    # X = (3, 1), Y = (2, 0): V10 = (1, 1/2), V01 = (1/2, 1), AUROC = 3/4,
    # S10 = S01 = ((1/4)^2 + (1/4)^2) / 1 = 1/8, variance = (1/8) / 2 + (1/8) / 2 = 1/8.
    result = delong_auroc([3, 1, 2, 0], [1, 1, 0, 0])
    assert result.auroc == 0.75
    assert result.variance == pytest.approx(1 / 8, abs=1e-15)


def test_interval_is_clipped_to_the_unit_interval():
    high = DeLongResult(auroc=0.95, variance=0.01, std_error=0.1)
    assert high.interval(0.95) == (pytest.approx(0.95 - Z95 * 0.1, abs=1e-12), 1.0)
    low = DeLongResult(auroc=0.05, variance=0.01, std_error=0.1)
    assert low.interval(0.95) == (0.0, pytest.approx(0.05 + Z95 * 0.1, abs=1e-12))
    wide = DeLongResult(auroc=0.5, variance=1.0, std_error=1.0)
    assert wide.interval(0.99) == (0.0, 1.0)
    # Unclipped, and wider for a higher level.
    middle = DeLongResult(auroc=0.6, variance=0.0025, std_error=0.05)
    assert middle.interval(0.95) == (pytest.approx(0.6 - Z95 * 0.05), pytest.approx(0.6 + Z95 * 0.05))
    lo90, hi90 = middle.interval(0.90)
    lo99, hi99 = middle.interval(0.99)
    assert lo99 < middle.interval()[0] < lo90 < 0.6 < hi90 < middle.interval()[1] < hi99


@pytest.mark.parametrize("level", [0, 1, -0.5, 1.5, float("nan"), True])
def test_interval_rejects_a_level_outside_0_1(level):
    with pytest.raises(MetricInputError, match="confidence level must be in"):
        DeLongResult(auroc=0.5, variance=0.01, std_error=0.1).interval(level)


@pytest.mark.parametrize(
    ("scores", "labels", "counts"),
    [
        ([0.9, 0.1, 0.2, 0.3], [1, 0, 0, 0], "got 1 anomalous and 3 normal"),
        ([0.9, 0.8, 0.7, 0.3], [1, 1, 1, 0], "got 3 anomalous and 1 normal"),
        ([0.9, 0.3], [1, 0], "got 1 anomalous and 1 normal"),
    ],
)
def test_needs_two_of_each_class(scores, labels, counts):
    with pytest.raises(MetricInputError, match="at least 2 anomalous and 2 normal images") as error:
        delong_auroc(scores, labels)
    assert counts in str(error.value)


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, 0.2, 0.3], [0, 0, 0], "DeLong needs both normal and anomalous images"),
        ([0.1, float("nan"), 0.3, 0.4], [0, 1, 0, 1], "finite"),
        ([0.1, 0.2, 0.3, 0.4], [0, 2, 0, 1], "0 \\(normal\\) or 1"),
        ([0.1, 0.2, 0.3], [0, 1, 0, 1], "shape"),
    ],
)
def test_invalid_inputs(scores, labels, message):
    with pytest.raises(MetricInputError, match=message):
        delong_auroc(scores, labels)


def test_label_dtypes_and_input_left_untouched():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.6, 0.4], dtype=np.float32)
    labels = np.array([0, 0, 1, 1, 1, 0])
    before = scores.copy()
    reference = delong_auroc(scores, labels)
    assert delong_auroc(scores, labels.astype(bool)) == reference
    assert delong_auroc(scores, labels.astype(np.float64)) == reference
    assert delong_auroc(scores.tolist(), labels.tolist()) == reference
    np.testing.assert_array_equal(scores, before)


def test_midranks_equal_scipys_average_ranks_exactly():
    from scipy.stats import rankdata

    from aupimo_cli.metrics.delong import midranks

    rng = np.random.default_rng(5)
    for size in (1, 2, 7, 100, 1001):
        for levels in (2, 5, None):
            values = rng.normal(size=size) if levels is None else rng.integers(0, levels, size).astype(np.float64)
            assert np.array_equal(midranks(values), rankdata(values, method="average"))


def test_the_interval_quantile_is_scipys_norm_ppf_bit_for_bit():
    from scipy.stats import norm

    for level in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999):
        low, high = DeLongResult(0.5, 0.01, 0.1).interval(level)
        z = float(norm.ppf(1 - (1 - level) / 2))
        assert (low, high) == (max(0.0, 0.5 - z * 0.1), min(1.0, 0.5 + z * 0.1))
