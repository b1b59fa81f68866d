"""The metric core: pure functions on numpy arrays, exact and fast.

``from aupimo_cli.metrics import pixel_auroc, aupro, aupimo`` and friends. Every function takes anomaly maps
and masks as (N, H, W) or (N, 1, H, W) arrays, or as sequences of 2-D arrays whose shapes may differ per image,
and never modifies its inputs. `registry.REGISTRY` lists every metric with its keys, files and titles.

Operating points (DESIGN section 6): `threshold_at_frr` and `threshold_at_far` choose thresholds on validation
scores, `image_rates`, `seg_f1` and `pro_at_threshold` measure them, `pg_n` and `pb_n` are anomalib's
test-set PGn and PBn.
"""

from ._inputs import MapsLike, MasksLike, MetricInputError
from ._pass import count_regions
from .bootstrap import Resampling, percentile_interval
from .delong import DeLongResult, delong_auroc
from .distribution import score_statistics
from .operating import (
    image_rates,
    pb_n,
    pg_n,
    pro_at_threshold,
    seg_f1,
    threshold_at_far,
    threshold_at_frr,
)
from .pimo import (
    AUPIMOResult,
    FPRBoundUnreachableError,
    PIMOResult,
    aupimo,
    aupimo_statistics,
    pimo_curves,
)
from .precision import (
    ThresholdScore,
    image_average_precision,
    image_f1_max,
    pixel_average_precision,
    pixel_f1_max,
)
from .pro import aupro, aupro_key, pixel_metrics, pro_curve
from .roc import image_auroc, pixel_auroc
from .spro import saturation_area, spro

__all__ = [
    "AUPIMOResult",
    "DeLongResult",
    "FPRBoundUnreachableError",
    "MapsLike",
    "MasksLike",
    "MetricInputError",
    "PIMOResult",
    "Resampling",
    "ThresholdScore",
    "aupimo",
    "aupimo_statistics",
    "aupro",
    "aupro_key",
    "count_regions",
    "delong_auroc",
    "image_auroc",
    "image_average_precision",
    "image_f1_max",
    "image_rates",
    "pb_n",
    "percentile_interval",
    "pg_n",
    "pimo_curves",
    "pixel_auroc",
    "pixel_average_precision",
    "pixel_f1_max",
    "pixel_metrics",
    "pro_at_threshold",
    "pro_curve",
    "saturation_area",
    "score_statistics",
    "seg_f1",
    "spro",
    "threshold_at_far",
    "threshold_at_frr",
]
