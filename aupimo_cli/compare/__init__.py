"""Reading result folders and the statistics across models (ranks, pairwise tests)."""

from .comparison import (
    MEAN_CATEGORY,
    METRIC_KEYS,
    Comparison,
    compare_results,
    format_float,
    models_by_rank,
    write_comparison,
)

__all__ = [
    "MEAN_CATEGORY",
    "METRIC_KEYS",
    "Comparison",
    "compare_results",
    "format_float",
    "models_by_rank",
    "write_comparison",
]
