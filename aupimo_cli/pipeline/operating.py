"""The operating points measured on the test set at thresholds chosen on validation (DESIGN section 6).

At the hard image threshold: the FRR and FAR; with a soft threshold, the shares of normal and defective parts
auto-rejected (>= hard), sent to review (>= soft, < hard) and auto-accepted (< soft); per defect folder, the
parts caught and escaped; at the pixel threshold: SegF1, PRO at the threshold and the mean IoU of the anomalous
images. Every comparison is ``score >= threshold`` in float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..metrics._pass import SplitScores
from ..metrics.operating import pixel_counts_at
from ..metrics.registry import OPERATING_KEYS
from .calibrate import Thresholds

DECISIONS = ("reject", "review", "accept")
PER_DEFECT_COLUMNS = (
    "defect", "images", "anomalous", "rejected", "review", "accepted", "escaped", "escape_rate", "false_reject_rate",
    "mean_aupimo",
)  # fmt: skip


@dataclass(frozen=True)
class OperatingPoints:
    """What the thresholds give on the test set.

    Attributes:
        headline: the summary values, by key of `registry.OPERATING_KEYS`.
        rejected: (N,) 1 where the image score is >= the hard threshold.
        decisions: (N,) ``reject``, ``review`` or ``accept``.
        ious: (N,) the IoU of anomalous images at the pixel threshold (NaN elsewhere or without one).
        per_defect: one row per defect folder (`PER_DEFECT_COLUMNS`), sorted by folder.
        per_image: the per-image arrays the bootstrap resamples (`registry.Replicating.operating`).
    """

    headline: dict[str, float | None]
    rejected: NDArray[np.int8]
    decisions: list[str]
    ious: NDArray[np.float64]
    per_defect: list[dict[str, Any]]
    per_image: dict[str, NDArray[Any]]


def _share(flags: NDArray[np.bool_]) -> float | None:
    return float(flags.mean()) if flags.size else None


def measure_operating_points(
    split: SplitScores,
    labels: NDArray[np.int32],
    defects: Sequence[str],
    aupimos: NDArray[np.float64] | None,
    thresholds: Thresholds,
) -> OperatingPoints:
    """Measure `thresholds` on the test set's split scores.

    Args:
        split: the test maps' scores, split by their masks.
        labels: (N,) 1 for an anomalous image.
        defects: (N,) each image's defect folder.
        aupimos: (N,) per-image AUPIMO (NaN for normal images), or None.
        thresholds: the thresholds chosen on validation.
    """
    scores = split.image_scores.astype(np.float32)
    anomalous = labels == 1
    hard = np.float32(thresholds.image)
    soft = hard if thresholds.soft is None else np.float32(thresholds.soft)
    rejected = scores >= hard
    review = ~rejected & (scores >= soft)
    accepted = ~rejected & ~review
    decisions = [
        DECISIONS[0] if r else DECISIONS[1] if v else DECISIONS[2] for r, v in zip(rejected, review, strict=True)
    ]
    headline: dict[str, float | None] = dict.fromkeys(OPERATING_KEYS)
    headline.update(
        {
            "image_threshold": thresholds.image,
            "image_soft_threshold": thresholds.soft,
            "image_frr": _share(rejected[~anomalous]),
            "image_far": _share(~rejected[anomalous]),
            "share_normal_reject": _share(rejected[~anomalous]),
            "share_normal_review": _share(review[~anomalous]),
            "share_normal_accept": _share(accepted[~anomalous]),
            "share_anomalous_reject": _share(rejected[anomalous]),
            "share_anomalous_review": _share(review[anomalous]),
            "share_anomalous_accept": _share(accepted[anomalous]),
            "pixel_threshold": thresholds.pixel,
        }
    )
    ious = np.full(labels.size, np.nan)
    per_image: dict[str, NDArray[Any]] = {"rejected": rejected, "review": review, "accepted": accepted}
    if thresholds.pixel is not None:
        counts = pixel_counts_at(split.normal, split.anomalous, split.masks, thresholds.pixel)
        ious = counts.ious()
        per_image.update(
            true_positives=counts.true_positives,
            false_positives=counts.false_positives,
            anomalous_pixels=counts.anomalous,
            overlap=counts.overlap,
            regions=counts.regions,
            iou=ious,
        )
        headline["seg_f1"] = counts.seg_f1
        headline["pro_at_threshold"] = None if math.isnan(counts.pro) else counts.pro
        headline["mean_iou"] = float(np.nanmean(ious)) if anomalous.any() else None
    rows = []
    for defect in sorted(set(defects)):
        chosen = np.array([d == defect for d in defects])
        bad = chosen & anomalous
        good = chosen & ~anomalous
        values = aupimos[bad] if aupimos is not None else np.empty(0)
        rows.append(
            {
                "defect": defect,
                "images": int(chosen.sum()),
                "anomalous": int(bad.sum()),
                "rejected": int((rejected & chosen).sum()),
                "review": int((review & chosen).sum()),
                "accepted": int((accepted & chosen).sum()),
                "escaped": int((accepted & bad).sum()),
                "escape_rate": float((accepted & bad).sum() / bad.sum()) if bad.any() else None,
                "false_reject_rate": float((rejected & good).sum() / good.sum()) if good.any() else None,
                "mean_aupimo": float(values.mean()) if values.size else None,
            }
        )
    return OperatingPoints(headline, rejected.astype(np.int8), decisions, ious, rows, per_image)


def per_defect_markdown(rows: Sequence[dict[str, Any]], thresholds: Thresholds) -> str:
    """``per_defect.md``: the per-defect table, and what the thresholds were, for a QA report."""
    from ..report.writers import summary_markdown

    soft = "" if thresholds.soft is None else f", soft threshold {thresholds.soft:.6g} (review band)"
    header = (
        f"# Operating points per defect type\n\nHard image threshold {thresholds.image:.6g} (rejected when the image "
        f"score is >= it; chosen on validation by {thresholds.policy.image_rule}){soft}. `rejected`, `review`, "
        "`accepted`: the line's decisions; `escaped`: defective parts accepted (below the soft threshold when there "
        "is one); `escape_rate`: escaped / anomalous; `false_reject_rate`: normal parts rejected.\n\n"
    )
    return header + summary_markdown(rows)
