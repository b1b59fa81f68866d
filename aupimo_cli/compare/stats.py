"""Statistics across models: average ranks, the AUPIMO paper's pairwise Wilcoxon tests, Holm's adjustment.

Pure functions on arrays. Every ordering here is independent of the order in which the models are given:
ties are broken by the mean score, then by the model's name (DESIGN section 7).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

ZERO_TOLERANCE = 1e-3
"""Paired AUPIMO differences with an absolute value at most this are set to 0 before the Wilcoxon test."""


def _rankdata_desc(values: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    from scipy.stats import rankdata

    return np.asarray(rankdata(-values, method="average", axis=axis), dtype=np.float64)


def average_ranks(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each model's rank averaged over categories, where rank 1 is the highest score and ties share ranks.

    Args:
        scores: (num_categories, num_models) scores, higher is better (the models' mean AUPIMO).

    Returns:
        (num_models,) float64: per category ``scipy.stats.rankdata(-scores, method="average")``, then the mean
        over categories.

    Raises:
        ValueError: `scores` is not 2-D with at least one category, or holds NaN.

    Examples:
        >>> average_ranks(np.array([[0.5, 0.5, 0.2], [0.1, 0.3, 0.2]])).tolist()
        [2.25, 1.25, 2.5]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must have shape (num_categories >= 1, num_models), got {scores.shape}.")
    if np.isnan(scores).any():
        raise ValueError("scores must not hold NaN: every model needs a mean AUPIMO in every category.")
    return _rankdata_desc(scores, axis=1).mean(axis=0)


def image_rank_means(aupimos: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each model's rank averaged over images: per image, rank 1 is the highest AUPIMO and ties share ranks.

    Args:
        aupimos: (num_images, num_models) per-image AUPIMO of the same anomalous images.

    Returns:
        (num_models,) float64 mean of ``scipy.stats.rankdata(-aupimos[i], method="average")`` over images i.
    """
    aupimos = np.asarray(aupimos, dtype=np.float64)
    if aupimos.ndim != 2 or aupimos.shape[0] == 0:
        raise ValueError(f"aupimos must have shape (num_images >= 1, num_models), got {aupimos.shape}.")
    return _rankdata_desc(aupimos, axis=1).mean(axis=0)


def order_models(ranks: Sequence[float], means: Sequence[float], names: Sequence[str]) -> list[int]:
    """Model indices best first: ascending rank, then descending mean score, then ascending name.

    The result does not depend on the order of the models: equal ranks are broken by the mean, equal means
    by the name, which is unique.

    Examples:
        >>> order_models([1.5, 1.5, 1.0], [0.4, 0.6, 0.1], ["b", "a", "c"])
        [2, 1, 0]
    """
    return sorted(range(len(names)), key=lambda index: (ranks[index], -means[index], names[index]))


def order_by_image_rank(aupimos: NDArray[np.float64], names: Sequence[str]) -> list[int]:
    """The models of one category best first: by average per-image rank (`image_rank_means`), ties by mean
    AUPIMO, then by name (`order_models`)."""
    aupimos = np.asarray(aupimos, dtype=np.float64)
    return order_models(image_rank_means(aupimos).tolist(), aupimos.mean(axis=0).tolist(), names)


def wilcoxon_pvalue(
    better: NDArray[np.float64], worse: NDArray[np.float64], tolerance: float = ZERO_TOLERANCE
) -> float:
    """One-sided Wilcoxon signed-rank p-value that `better` beats `worse` on paired per-image AUPIMO.

    The differences ``d = better - worse`` with ``|d| <= tolerance`` are set to 0 (as in the AUPIMO paper);
    if every difference is then 0, the p-value is 1. Otherwise it is
    ``scipy.stats.wilcoxon(d, alternative="greater").pvalue`` with the default ``zero_method="wilcox"``,
    which drops the zero differences.

    Args:
        better, worse: (num_images,) AUPIMO of the same images, in the same order.
        tolerance: the largest absolute difference counted as a tie.
    """
    from scipy.stats import wilcoxon

    better = np.asarray(better, dtype=np.float64)
    worse = np.asarray(worse, dtype=np.float64)
    if better.shape != worse.shape or better.ndim != 1:
        raise ValueError(f"better and worse must be 1-D of one length, got {better.shape} and {worse.shape}.")
    differences = better - worse
    differences[np.abs(differences) <= tolerance] = 0.0
    if not differences.any():
        return 1.0
    return float(wilcoxon(differences, alternative="greater").pvalue)


def pairwise_pvalues(aupimos: NDArray[np.float64]) -> NDArray[np.float64]:
    """The full matrix of one-sided Wilcoxon p-values within one category, as the AUPIMO paper's
    ``compare_models_pairwise_wilcoxon``: entry (i, j) tests whether model i beats model j.

    Args:
        aupimos: (num_images, num_models) per-image AUPIMO of the same anomalous images.

    Returns:
        (num_models, num_models) float64; the diagonal is NaN. Confidence is ``1 - p``.
    """
    aupimos = np.asarray(aupimos, dtype=np.float64)
    if aupimos.ndim != 2:
        raise ValueError(f"aupimos must have shape (num_images, num_models), got {aupimos.shape}.")
    num_models = aupimos.shape[1]
    pvalues = np.full((num_models, num_models), np.nan)
    pairs = [(i, j) for i in range(num_models) for j in range(num_models) if i != j]
    if pairs:
        differences = np.stack([aupimos[:, i] - aupimos[:, j] for i, j in pairs], axis=1)
        differences[np.abs(differences) <= ZERO_TOLERANCE] = 0.0
        for (i, j), pvalue in zip(pairs, wilcoxon_pvalues(differences), strict=True):
            pvalues[i, j] = pvalue
    return pvalues


def wilcoxon_pvalues(differences: NDArray[np.float64]) -> NDArray[np.float64]:
    """`wilcoxon_pvalue` of every column of paired differences (already zeroed below the tolerance), the same
    values as one ``scipy.stats.wilcoxon(d, alternative="greater")`` call per column, in a few vectorized calls.

    scipy chooses its method per call from the whole array: exact without ties and zeros when n <= 50, a
    deterministic permutation test with ties or zeros when n <= 13, the normal approximation otherwise. Columns
    are grouped by the method a call on each alone would choose, so that every p-value is the single call's
    (tested against single calls); the permutation cases are single calls.

    Args:
        differences: (num_images, num_columns) paired differences ``better - worse``.

    Returns:
        (num_columns,) p-values; 1 where every difference is 0.
    """
    from scipy.stats import wilcoxon

    num_images = differences.shape[0]
    pvalues = np.ones(differences.shape[1])
    exact, asymptotic, single = [], [], []
    for column in range(differences.shape[1]):
        nonzero = differences[:, column][differences[:, column] != 0]
        if nonzero.size == 0:
            continue
        ties_or_zeros = nonzero.size < num_images or np.unique(np.abs(nonzero)).size < nonzero.size
        if num_images > 50:
            asymptotic.append(column)
        elif not ties_or_zeros:
            exact.append(column)
        elif num_images <= 13:
            single.append(column)
        else:
            asymptotic.append(column)
    for columns, method in ((exact, "exact"), (asymptotic, "asymptotic")):
        if columns:
            result = wilcoxon(differences[:, columns], alternative="greater", method=method, axis=0)
            pvalues[columns] = np.asarray(result.pvalue, dtype=np.float64)
    for column in single:
        pvalues[column] = float(wilcoxon(differences[:, column], alternative="greater").pvalue)
    return pvalues


def holm_adjust(pvalues: NDArray[np.float64]) -> NDArray[np.float64]:
    """Holm's step-down adjustment of every finite p-value in `pvalues` as one family (NaN stays NaN).

    With the m finite p-values sorted ascending, p_(k) becomes max over l <= k of min(1, (m - l + 1) p_(l)).
    Applied to a category's matrix of one-sided tests, the family is every ordered pair of models: the same
    as adjusting the two-sided tests of every unordered pair and reading the direction from the sign.

    Examples:
        >>> holm_adjust(np.array([0.01, 0.04, 0.03, np.nan])).tolist()
        [0.03, 0.06, 0.06, nan]
    """
    values = np.asarray(pvalues, dtype=np.float64)
    flat = values.ravel()
    finite = np.flatnonzero(np.isfinite(flat))
    adjusted = flat.copy()
    order = finite[np.argsort(flat[finite], kind="stable")]
    count = order.size
    running = 0.0
    for position, index in enumerate(order):
        running = max(running, min(1.0, (count - position) * flat[index]))
        adjusted[index] = running
    return adjusted.reshape(values.shape)


def friedman_test(scores: NDArray[np.float64]) -> tuple[float, float]:
    """The Friedman test of k >= 3 models over N >= 2 categories (Demšar 2006): (chi-square statistic, p-value),
    ``scipy.stats.friedmanchisquare`` over the models' columns.

    Args:
        scores: (N categories, k models) scores, higher is better (the ranks are per category).

    Raises:
        ValueError: fewer than 3 models or 2 categories.
    """
    from scipy.stats import friedmanchisquare

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 3 or scores.shape[0] < 2:
        raise ValueError(f"the Friedman test needs at least 3 models and 2 categories, got shape {scores.shape}")
    result = friedmanchisquare(*scores.T)
    return float(result.statistic), float(result.pvalue)


def nemenyi_critical_difference(num_models: int, num_categories: int, alpha: float = 0.05) -> float:
    """The Nemenyi test's critical difference of average ranks (Demšar 2006):
    CD = q_alpha sqrt(k (k + 1) / (6 N)), q_alpha the studentized range's (1 - alpha) quantile for k groups and
    infinite degrees of freedom, divided by sqrt(2).

    Examples:
        >>> round(nemenyi_critical_difference(3, 10), 4)  # q_0.05 = 2.343 for k = 3
        1.0481
    """
    from scipy.stats import studentized_range

    if num_models < 2 or num_categories < 1:
        raise ValueError(f"a critical difference needs 2 models and 1 category, got {num_models}, {num_categories}")
    q_alpha = float(studentized_range.ppf(1.0 - alpha, num_models, np.inf)) / np.sqrt(2.0)
    return float(q_alpha * np.sqrt(num_models * (num_models + 1) / (6.0 * num_categories)))
