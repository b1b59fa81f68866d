"""The metric core: pure functions on numpy arrays, exact and fast.

``from aupimo_cli.metrics import pixel_auroc, aupro, aupimo`` and friends. Every function takes anomaly maps
and masks as (N, H, W) arrays or as sequences of 2-D arrays whose shapes may differ per image, and never
modifies its inputs.
"""

from ._inputs import MetricInputError
from .pimo import (
    AUPIMOResult,
    FPRBoundUnreachableError,
    PIMOResult,
    aupimo,
    aupimo_statistics,
    pimo_curves,
)
from .pro import aupro, aupro_key, count_regions, pixel_metrics, pro_curve
from .roc import image_auroc, pixel_auroc

__all__ = [
    "AUPIMOResult",
    "FPRBoundUnreachableError",
    "MetricInputError",
    "PIMOResult",
    "aupimo",
    "aupimo_statistics",
    "aupro",
    "aupro_key",
    "count_regions",
    "image_auroc",
    "pimo_curves",
    "pixel_auroc",
    "pixel_metrics",
    "pro_curve",
]
