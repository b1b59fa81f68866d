"""Store anomalib's F1Max (and AUPR, for information) on the reference cases, for tests that never import torch.

For each case in tests/data/{tiff,npy_ties}, on the arrays in `arrays.npz` (`maps` float32 N x H x W, `masks`
uint8 0/1), this computes with anomalib 2.7.0 (torch 2.14.1, torchmetrics 1.9.0):

- pixel F1Max: `anomalib.metrics.F1Max(fields=("anomaly_map", "gt_mask"))`, updated once with a batch whose
  `anomaly_map` is the float32 maps as they are and whose `gt_mask` is the masks as bool, over all pixels pooled;
  then `.compute()` (the value) and `.threshold` (the threshold it stores, the score at the arg-max of F1).
- image F1Max: `F1Max(fields=("pred_score", "gt_label"))` on image scores = the max of each map (float32) and
  image labels = whether the mask has any nonzero pixel (bool).
- pixel and image AUPR, for information: `anomalib.metrics.AUPR` on the same fields. anomalib's AUPR is the
  step-wise average precision, -sum((recall[i+1] - recall[i]) * precision[i]), not a trapezoid.

Transforms. F1Max uses anomalib's own `BinaryPrecisionRecallCurve` (anomalib.metrics.precision_recall_curve),
which drops torchmetrics' sigmoid: F1Max sees the raw scores, every distinct score is a threshold (thresholds=None),
and its threshold is in the maps' units. AUPR subclasses torchmetrics' `BinaryPrecisionRecallCurve`, which applies
a float32 sigmoid to the scores whenever any of them is outside [0, 1] (these maps are, about 0.88..3.43); the
sigmoid is monotone but merges close float32 scores into ties, so AUPR here is not the exact value on the raw
scores. The AUPR with `normalization=None` (no sigmoid) is stored too, as `*_aupr_no_sigmoid`.
F1 is computed by anomalib in float32: 2 * P * R / (P + R + 1e-10), the first arg-max (the lowest threshold).

Writes tests/data/<case>/anomalib_f1max.json. Run from the repository root in the peers' venv:

    make .venv-peers/.installed-stamp       # once: the venv with torch, anomalib, scikit-learn, ADEval
    .venv-peers/bin/python scripts/anomalib_reference_values.py
"""

from __future__ import annotations

import json
import types
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from anomalib.metrics import AUPR, F1Max
from anomalib.metrics.f1_score import _F1Max

ROOT = Path(__file__).resolve().parent.parent
CASES = ("tiff", "npy_ties")
SCRIPT = "scripts/anomalib_reference_values.py"
PIXEL_FIELDS = ("anomaly_map", "gt_mask")
IMAGE_FIELDS = ("pred_score", "gt_label")


def f1max(fields: tuple[str, str], preds: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """anomalib's F1Max and the threshold it stores, through the public class fed one batch."""
    metric = F1Max(fields=fields)
    metric.update(types.SimpleNamespace(**dict(zip(fields, (preds, target), strict=True))))
    value = float(metric.compute())
    threshold = float(metric.threshold)
    # The same through the tensor-level class, as a check that the batch wrapper changes nothing.
    direct = _F1Max()
    direct.update(preds, target)
    assert float(direct.compute()) == value and float(direct.threshold) == threshold
    return value, threshold


def aupr(fields: tuple[str, str], preds: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> float:
    metric = AUPR(fields=fields, **kwargs)
    metric.update(types.SimpleNamespace(**dict(zip(fields, (preds, target), strict=True))))
    return float(metric.compute())


def outside_unit(scores: torch.Tensor) -> bool:
    return bool(((scores < 0) | (scores > 1)).any())


def run_case(case: str) -> dict[str, Any]:
    arrays = np.load(ROOT / "tests" / "data" / case / "arrays.npz")
    maps = np.ascontiguousarray(arrays["maps"])
    masks = np.ascontiguousarray(arrays["masks"])
    assert maps.dtype == np.float32 and maps.ndim == 3 and masks.shape == maps.shape
    anomaly_map = torch.from_numpy(maps)  # float32, as stored: no sigmoid, no normalisation
    gt_mask = torch.from_numpy(masks).bool()
    pred_score = anomaly_map.flatten(1).amax(dim=1)  # float32, the max of each map
    gt_label = gt_mask.flatten(1).any(dim=1)

    pixel_f1max, pixel_threshold = f1max(PIXEL_FIELDS, anomaly_map, gt_mask)
    image_f1max, image_threshold = f1max(IMAGE_FIELDS, pred_score, gt_label)
    pixel_sigmoid, image_sigmoid = outside_unit(anomaly_map), outside_unit(pred_score)
    pixel_aupr = aupr(PIXEL_FIELDS, anomaly_map, gt_mask)
    image_aupr = aupr(IMAGE_FIELDS, pred_score, gt_label)
    pixel_aupr_raw = aupr(PIXEL_FIELDS, anomaly_map, gt_mask, normalization=None)
    image_aupr_raw = aupr(IMAGE_FIELDS, pred_score, gt_label, normalization=None)

    note = (
        "anomalib.metrics.F1Max(fields=('anomaly_map', 'gt_mask')) on all pixels pooled and "
        "F1Max(fields=('pred_score', 'gt_label')) on image scores (max of each map, float32) and labels (mask has "
        "any nonzero pixel); one .update(batch) with float32 torch tensors of arrays.npz as they are, then "
        ".compute() and .threshold. F1Max uses anomalib's own BinaryPrecisionRecallCurve: no sigmoid, every "
        "distinct score is a threshold (thresholds=None), the threshold is in the maps' units, F1 = 2PR/(P+R+1e-10) "
        "in float32, first arg-max (lowest threshold among equal F1). AUPR: anomalib.metrics.AUPR, step-wise "
        "average precision (not trapezoid), on torchmetrics' BinaryPrecisionRecallCurve, which applies a float32 "
        f"sigmoid when any score is outside [0, 1] (pixel: {'applied' if pixel_sigmoid else 'not applied'}, image: "
        f"{'applied' if image_sigmoid else 'not applied'}); the sigmoid merges close scores into ties. "
        "*_aupr_no_sigmoid: the same with normalization=None."
    )
    return {
        "note": note,
        "script": SCRIPT,
        "anomalib_version": version("anomalib"),
        "torch_version": torch.__version__,
        "torchmetrics_version": version("torchmetrics"),
        "pixel_f1max": pixel_f1max,
        "pixel_f1max_threshold": pixel_threshold,
        "image_f1max": image_f1max,
        "image_f1max_threshold": image_threshold,
        "pixel_aupr": pixel_aupr,
        "image_aupr": image_aupr,
        "pixel_aupr_no_sigmoid": pixel_aupr_raw,
        "image_aupr_no_sigmoid": image_aupr_raw,
        "aupr_sigmoid_applied": {"pixel": pixel_sigmoid, "image": image_sigmoid},
        "maps_min": float(anomaly_map.min()),
        "maps_max": float(anomaly_map.max()),
    }


def main() -> None:
    for case in CASES:
        result = run_case(case)
        out = ROOT / "tests" / "data" / case / "anomalib_f1max.json"
        out.write_text(json.dumps(result, indent=1) + "\n")
        values = {key: value for key, value in result.items() if isinstance(value, float)}
        print(f"{case}: " + ", ".join(f"{key} {value!r}" for key, value in values.items()) + f" -> {out}")


if __name__ == "__main__":
    main()
