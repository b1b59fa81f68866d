"""Reading result folders and the statistics across models (ranks, pairwise tests); no rendering here."""

from .comparison import MATPLOTLIB_MISSING_NOTE, CategoryTests, Comparison, compare_results, metric_keys
from .consistency import summary_disagreements, summary_from_per_image
from .options import RunOptions, option_mismatches
from .read import MEAN_CATEGORY, is_mean_row, read_results

__all__ = [
    "MATPLOTLIB_MISSING_NOTE",
    "MEAN_CATEGORY",
    "CategoryTests",
    "Comparison",
    "RunOptions",
    "compare_results",
    "is_mean_row",
    "metric_keys",
    "option_mismatches",
    "read_results",
    "summary_disagreements",
    "summary_from_per_image",
]
