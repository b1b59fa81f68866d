"""DeLong's variance of the image AUROC, exact, with the fast algorithm of Sun & Xu (2014).

The AUROC of image scores is the Mann-Whitney statistic: with m anomalous (positive) scores X_i and n normal
(negative) scores Y_j, and the kernel psi(x, y) = 1 if x > y, 1/2 if x == y, 0 otherwise,

    AUROC = (1 / (m n)) sum_i sum_j psi(X_i, Y_j),

the area under the ROC curve with ties counted 1/2 (``sklearn.metrics.roc_auc_score``). DeLong, DeLong &
Clarke-Pearson (1988) estimate its variance from the structural components

    V10_i = (1 / n) sum_j psi(X_i, Y_j)   (one per positive),
    V01_j = (1 / m) sum_i psi(X_i, Y_j)   (one per negative),

    variance = S10 / m + S01 / n,

where S10 and S01 are the sample variances (ddof=1) of the V10 and of the V01. The variance is in squared AUROC
units (the AUROC is a fraction in [0, 1]); the standard error is its square root.

Sun & Xu (2014) obtain every component from midranks, in O((m + n) log(m + n)) instead of O(m n): with T_x the
midranks of the positives among the positives, T_y those of the negatives among the negatives and T_z those of
all scores pooled (tied scores share their average rank),

    AUROC  = (sum of T_z over the positives - m (m + 1) / 2) / (m n),
    V10_i  = (T_z_i - T_x_i) / n,
    V01_j  = 1 - (T_z_j - T_y_j) / m.

`DeLongResult.interval` is the normal (Wald) approximation AUROC +- z se, clipped to [0, 1]: it is symmetric,
can reach past [0, 1] before clipping when the AUROC is near 0 or 1 with few images, and collapses to a point
when the variance is 0 (perfect separation, or every score tied).

References:
    E. R. DeLong, D. M. DeLong and D. L. Clarke-Pearson, "Comparing the areas under two or more correlated
    receiver operating characteristic curves: a nonparametric approach", Biometrics 44(3):837-845, 1988.

    X. Sun and W. Xu, "Fast implementation of DeLong's algorithm for comparing the areas under correlated
    receiver operating characteristic curves", IEEE Signal Processing Letters 21(11):1389-1393, 2014.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._inputs import MetricInputError, validate_scores_labels


@dataclass(frozen=True)
class DeLongResult:
    """The image AUROC with DeLong's estimate of its variance.

    Attributes:
        auroc: the area under the ROC curve, in [0, 1] (the Mann-Whitney statistic, ties count 1/2).
        variance: DeLong's variance of the AUROC, S10 / m + S01 / n, in squared AUROC units, >= 0.
        std_error: the standard error, ``sqrt(variance)``, in AUROC units.
    """

    auroc: float
    variance: float
    std_error: float

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The normal (Wald) confidence interval of the AUROC: auroc +- z * std_error, clipped to [0, 1].

        z = ``scipy.stats.norm.ppf(1 - (1 - level) / 2)`` (1.959963984540054 for 0.95). It is a large-sample
        approximation: the bounds are clipped to [0, 1] since an AUROC cannot leave it, and the interval is the
        single point (auroc, auroc) when the variance is 0.

        Args:
            level: the confidence level, in (0, 1).

        Returns:
            (lower, upper), with 0 <= lower <= auroc <= upper <= 1.

        Raises:
            MetricInputError: `level` outside (0, 1).

        Examples:
            >>> DeLongResult(auroc=0.9, variance=0.0025, std_error=0.05).interval(0.95)
            (0.8020018007729973, 0.9979981992270027)
            >>> DeLongResult(auroc=0.95, variance=0.0025, std_error=0.05).interval(0.95)  # clipped at 1
            (0.8520018007729973, 1.0)
        """
        if isinstance(level, bool) or not (isinstance(level, int | float) and 0 < level < 1):
            msg = f"The confidence level must be in (0, 1), got {level!r}."
            raise MetricInputError(msg)
        # scipy.stats.norm.ppf is scipy.special.ndtri, bit for bit; scipy.stats would take 0.5 s to import.
        from scipy.special import ndtri

        z = float(ndtri(1 - (1 - level) / 2))
        half_width = z * self.std_error
        return max(0.0, self.auroc - half_width), min(1.0, self.auroc + half_width)


def midranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks of `values` (N,), tied values sharing the mean of their ranks: exactly
    ``scipy.stats.rankdata(values, method="average")`` (each mean is a whole or half number), without importing
    scipy.stats (0.5 s).

    >>> midranks(np.array([0.4, 0.1, 0.4, 0.8])).tolist()
    [2.5, 1.0, 2.5, 4.0]
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], values.size]
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def delong_auroc(scores: ArrayLike, labels: ArrayLike) -> DeLongResult:
    """Image AUROC and DeLong's variance of it, exactly, in O(N log N) (Sun & Xu's midrank algorithm).

    Args:
        scores: shape (N,), real and finite, higher = more anomalous.
        labels: shape (N,), 0 (normal, negative) or 1 (anomalous, positive); at least 2 of each.

    Returns:
        A `DeLongResult`: the AUROC (equal to ``sklearn.metrics.roc_auc_score``), DeLong's variance S10 / m +
        S01 / n (squared AUROC units) and the standard error; ``.interval(level)`` gives the normal (Wald)
        confidence interval clipped to [0, 1]. All computed in float64.

    Raises:
        MetricInputError: mismatched shapes, non-finite scores, labels other than 0/1, or fewer than 2 anomalous
            or 2 normal images (the sample variances, with ddof=1, need two of each).

    Examples:
        >>> result = delong_auroc([0.1, 0.4, 0.35, 0.8, 0.6, 0.4], [0, 0, 1, 1, 1, 0])
        >>> result.auroc  # 7/9: the positive 0.35 beats one of the three negatives
        0.7777777777777778
        >>> round(result.variance, 6), round(result.std_error, 6)  # 5/81 = (4/27) / 3 + (1/27) / 3
        (0.061728, 0.248452)
        >>> tuple(round(bound, 4) for bound in result.interval(0.95))  # 0.7778 + 0.4870 is clipped to 1
        (0.2908, 1.0)
    """
    values, positive = validate_scores_labels(scores, labels, "DeLong")
    num_pos = int(positive.sum())
    num_neg = positive.size - num_pos
    if num_pos < 2 or num_neg < 2:
        msg = (
            "DeLong's variance needs at least 2 anomalous and 2 normal images (its sample variances use ddof=1), "
            f"got {num_pos} anomalous and {num_neg} normal."
        )
        raise MetricInputError(msg)

    pos_scores = values[positive]
    neg_scores = values[~positive]
    ranks_pooled = midranks(values)
    ranks_pos = midranks(pos_scores)
    ranks_neg = midranks(neg_scores)
    pooled_pos = ranks_pooled[positive]
    pooled_neg = ranks_pooled[~positive]

    auroc = (float(pooled_pos.sum()) - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg)
    # T_z - T_x of a positive: the negatives below it, plus half those tied with it.
    v10 = (pooled_pos - ranks_pos) / num_neg
    # T_z - T_y of a negative: the positives below it, plus half those tied with it.
    v01 = 1.0 - (pooled_neg - ranks_neg) / num_pos
    s10 = float(np.var(v10, ddof=1))
    s01 = float(np.var(v01, ddof=1))
    variance = s10 / num_pos + s01 / num_neg
    return DeLongResult(auroc=auroc, variance=variance, std_error=math.sqrt(variance))
