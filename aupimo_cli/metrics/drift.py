"""Drift of a production line's image scores over periods (days, shifts) against a baseline: pure functions on
arrays of image scores.

For each period: its number of parts, the mean and 95th percentile of its image scores, the reject and
review rates at the saved thresholds, and the divergence of its score distribution from the reference (the
two-sample Kolmogorov-Smirnov statistic and p-value, and the population stability index over the reference's
deciles). `drift_table` scores the baseline periods leave-one-out (each against the other baseline periods
pooled) and the run periods against every baseline period pooled, and flags a run period where a series
moves more than `sigma` baseline standard deviations from its baseline mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._inputs import MetricInputError

PSI_EPSILON = 1e-6
PSI_BINS = 10
# The series the sigma rule watches (the KS p-value is a function of the KS statistic and the counts).
SERIES = ("mean_score", "p95_score", "reject_rate", "review_rate", "ks_statistic", "psi")
SERIES_TITLES = {
    "mean_score": "mean image score", "p95_score": "95th percentile image score", "reject_rate": "reject rate",
    "review_rate": "review rate", "ks_statistic": "KS statistic", "psi": "PSI",
}  # fmt: skip


def psi(reference: NDArray[Any], scores: NDArray[Any], bins: int = PSI_BINS, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of `scores` against `reference`, over the reference's quantile bins.

    The bins' inner edges are the reference's quantiles at 1/bins, ..., (bins-1)/bins (numpy's linear
    interpolation: the deciles for 10 bins); bin 0 holds the scores <= the first edge, bin i those in
    (edge i-1, edge i], the last those above the last edge. With p_i and q_i the shares of `reference` and
    `scores` in bin i, each replaced by `epsilon` when it is 0 (an empty bin), PSI = sum (q_i - p_i) ln(q_i / p_i).

    Args:
        reference, scores: 1-D arrays of image scores, non-empty.

    Examples:
        >>> reference = np.arange(1.0, 11.0)       # deciles at 1.9, 2.8, ..., 9.1: one score per bin
        >>> round(psi(reference, reference), 12)
        0.0
        >>> # All 4 scores in the last bin: q = (0,...,0, 1), p = 0.1 each
        >>> by_hand = 9 * (1e-6 - 0.1) * np.log(1e-6 / 0.1) + (1 - 0.1) * np.log(1 / 0.1)
        >>> bool(np.isclose(psi(reference, np.full(4, 20.0)), by_hand, rtol=0, atol=1e-12))
        True
    """
    reference = np.asarray(reference, dtype=np.float64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if reference.size == 0 or scores.size == 0:
        raise MetricInputError("PSI needs scores in both the reference and the period")
    edges = np.quantile(reference, np.arange(1, bins) / bins)
    expected = np.bincount(np.searchsorted(edges, reference, side="left"), minlength=bins) / reference.size
    actual = np.bincount(np.searchsorted(edges, scores, side="left"), minlength=bins) / scores.size
    expected = np.where(expected == 0, epsilon, expected)
    actual = np.where(actual == 0, epsilon, actual)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class PeriodStats:
    """One period's figures (rates None without the threshold they need)."""

    name: str
    role: str  # "baseline" or "run"
    num_parts: int
    mean_score: float
    p95_score: float
    reject_rate: float
    review_rate: float | None
    ks_statistic: float
    ks_pvalue: float
    psi: float
    flagged: tuple[str, ...] = ()

    def value(self, series: str) -> float | None:
        value: float | None = getattr(self, series)
        return value


def period_stats(
    name: str, role: str, scores: NDArray[Any], reference: NDArray[Any], hard: float, soft: float | None
) -> PeriodStats:
    """A period's figures against `reference` (a part is rejected when its score is >= `hard`, reviewed when it
    is >= `soft` and < `hard`)."""
    from scipy.stats import ks_2samp

    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise MetricInputError(f"period {name} has no part")
    ks = ks_2samp(scores, reference)
    review = None if soft is None else float(np.mean((scores >= soft) & (scores < hard)))
    return PeriodStats(
        name=name,
        role=role,
        num_parts=int(scores.size),
        mean_score=float(np.mean(scores)),
        p95_score=float(np.percentile(scores, 95)),
        reject_rate=float(np.mean(scores >= hard)),
        review_rate=review,
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        psi=psi(reference, scores),
    )


@dataclass(frozen=True)
class DriftTable:
    """Every period's figures (baseline periods first, then the runs, each in the order given), each series'
    baseline mean and standard deviation (ddof = 1; None for a series without values), and the rule."""

    periods: list[PeriodStats]
    baseline_mean: dict[str, float | None]
    baseline_std: dict[str, float | None]
    sigma: float
    notes: list[str] = field(default_factory=list)

    @property
    def last_flagged(self) -> bool:
        """Whether the last run period is flagged (``--fail-on-drift``)."""
        runs = [period for period in self.periods if period.role == "run"]
        return bool(runs and runs[-1].flagged)


def drift_table(
    baseline: Sequence[tuple[str, NDArray[Any]]],
    runs: Sequence[tuple[str, NDArray[Any]]],
    hard: float,
    soft: float | None = None,
    sigma: float = 2.0,
) -> DriftTable:
    """Score every period and flag the run periods that drift.

    Each baseline period is scored against the other baseline periods pooled (leave-one-out), so that its KS
    statistic and PSI are what a run period's would be without drift; each run period against every baseline
    period pooled. Each series' baseline mean and standard deviation (ddof = 1) come from the baseline periods.
    A run period is flagged on a series when |value - mean| > `sigma` * std (so with std 0, on any change).

    Args:
        baseline, runs: (name, image scores) per period; at least 2 baseline periods.
        hard, soft: the saved image thresholds (soft None: no review band).
        sigma: the width of the band, in baseline standard deviations.

    Raises:
        MetricInputError: fewer than 2 baseline periods, an empty period, or sigma <= 0.
    """
    if len(baseline) < 2:
        raise MetricInputError(
            f"drift needs at least 2 baseline periods (got {len(baseline)}): the baseline's spread is measured "
            "between them"
        )
    if not sigma > 0:
        raise MetricInputError(f"--sigma must be positive, got {sigma}")
    arrays = [np.asarray(scores, dtype=np.float64).reshape(-1) for _, scores in baseline]
    stats = []
    for index, (name, scores) in enumerate(baseline):
        others = np.concatenate([array for other, array in enumerate(arrays) if other != index])
        stats.append(period_stats(name, "baseline", scores, others, hard, soft))
    pooled = np.concatenate(arrays)
    run_stats = [period_stats(name, "run", scores, pooled, hard, soft) for name, scores in runs]
    means: dict[str, float | None] = {}
    stds: dict[str, float | None] = {}
    for series in SERIES:
        values = [period.value(series) for period in stats]
        if any(value is None for value in values):
            means[series] = stds[series] = None
            continue
        array = np.asarray(values, dtype=np.float64)
        means[series], stds[series] = float(array.mean()), float(array.std(ddof=1))
    flagged_runs = []
    for period in run_stats:
        flagged = []
        for series in SERIES:
            value, mean, std = period.value(series), means[series], stds[series]
            if value is not None and mean is not None and std is not None and abs(value - mean) > sigma * std:
                flagged.append(series)
        flagged_runs.append(_with_flags(period, tuple(flagged)))
    return DriftTable([*stats, *flagged_runs], means, stds, sigma)


def _with_flags(period: PeriodStats, flagged: tuple[str, ...]) -> PeriodStats:
    from dataclasses import replace

    return replace(period, flagged=flagged)
