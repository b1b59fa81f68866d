"""Store anomalib's PGn, PBn and PRO values, for tests that never import torch.

With anomalib 2.7.0 (torch 2.14.1, torchmetrics 1.9.0), this computes:

- PGn and PBn (`anomalib.metrics.pg_pb._PGn(fnr=n)`, `_PBn(fpr=n)`, one `.update(preds, target)`, then
  `.compute()`) on image scores: the reference cases tests/data/{tiff,npy_ties}/arrays.npz (image score = the max
  of each float32 map, label = the mask has a nonzero pixel) for several n, and random cases with heavy ties
  (seeded, stored in full). anomalib keeps n as a float32 tensor and takes the threshold with `torch.quantile`:
    PGn: thr = torch.quantile(anomalous scores, fnr);      PGn = share of normal scores    <  thr
    PBn: thr = torch.quantile(normal scores, 1 - fpr);     PBn = share of anomalous scores >  thr
  returned as a float32 tensor (count / total rounded to float32). Each case stores the thresholds torch computed,
  what a float64 rule gives (np.quantile in float64, threshold rounded to float32), and a numpy float32
  reproduction of torch.quantile (`torch_quantile_f32`) that is asserted to match torch in every case.

  torch.quantile on CPU in torch 2.14 (aten/src/ATen/native/Sorting.cpp, linear interpolation; the rank is float64
  since pytorch/pytorch#187574): sort; rank = float64(q) * (n - 1) in float64 (exact for these sizes);
  below = trunc(rank), above = ceil(rank); weight = float32(rank - below) (the only rounding before the lerp); then
  torch's float32 lerp of a = sorted[below], b = sorted[above]: d = b - a (float32), w < 0.5 ? a + w * d :
  b - d * (1 - w). The CPU kernels built for AVX2/AVX512 evaluate this with a fused multiply-add (one rounding:
  fma(w, d, a), or fma(w - 1, d, b), w - 1 being exact); the baseline kernel (ATEN_CPU_CAPABILITY=default) rounds
  the product and the sum separately. The two can differ by one ulp, so the reproduction takes `fused` and the file
  records the CPU capability it was made with. The older all-float32 rank (rank = q * (n - 1) rounded to float32)
  is computed too, for information (*_float32_rank), as are hand-made cases (CONSTRUCTED) on which the float64
  rule, the unfused lerp or the float32 rank give another value than torch.

- PRO (`anomalib.metrics.pro._PRO(threshold=t)`, `.update(predictions, targets)`, `.compute()`) on the fixture of
  anomalib's own unit test (tests/unit/metrics/test_pro.py, `test_pro`: six thresholds with their expected values),
  the same arrays at a threshold that ties a prediction in float32 (0.55), a hand-made case where the connectivity
  matters, a case without any region, and a few seeded random cases (no prediction equal to the threshold).
  anomalib binarises float predictions with `predictions > threshold`, the Python threshold being cast to float32
  (the predictions' dtype), labels the regions of the targets with `cv2.connectedComponents` (default connectivity
  8) and averages the per-region recall (torchmetrics multiclass recall, ignore_index=0, in float32). Without any
  region it returns 1.0.

Writes tests/data/anomalib_pg_pb.json and tests/data/anomalib_pro.json. Run from the repository root in the peers'
venv:

    make .venv-peers/.installed-stamp       # once: the venv with torch, anomalib, scikit-learn, ADEval
    .venv-peers/bin/python scripts/anomalib_operating_points.py

`--out-dir DIR` writes elsewhere (e.g. to compare a run under ATEN_CPU_CAPABILITY=default).
"""

from __future__ import annotations

import argparse
import json
import re
from fractions import Fraction
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from anomalib.metrics.pg_pb import _PBn, _PGn
from anomalib.metrics.pro import _PRO

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "scripts/anomalib_operating_points.py"
CASES = ("tiff", "npy_ties")
REFERENCE_NS = (0.01, 0.05, 0.1, 0.2, 0.25, 0.5)
SEED = 0
N_RANDOM = 300
# Rates that float32 cannot represent exactly, so that float32(n) and float32(1 - float32(n)) matter.
RANDOM_NS = (0.01, 0.05, 0.1, 0.3, 0.07, 0.15, 0.33)
# Hand-made cases where the arithmetic of the quantile decides the value (found by a search over levels, sizes and
# rates, checked below): (side, n, size, lo, hi, what it separates). The side's ranked class holds `size` scores,
# lo repeated up to the rank's lower index and hi above it; the other class holds one lo and one hi, so the count
# changes when the threshold lands one ulp off lo (PGn, normal < thr) or hi.
#   float64_rule: torch and the float64 rule differ; plain_lerp: the fused and the unfused lerp kernels differ (the
#   value depends on the CPU: AVX2/AVX512 versus baseline); float32_rank: torch < 2.14's float32 rank differs.
CONSTRUCTED = (
    ("pg", 0.05, 21, 0.1428571492433548, 0.6428571343421936, "float64_rule float32_rank"),
    ("pg", 0.05, 6, 0.8799999952316284, 0.880000114440918, "float64_rule"),
    ("pg", 0.1, 6, 0.1428571343421936, 0.1428571492433548, "float64_rule"),
    ("pg", 0.2, 6, 0.8799999952316284, 2.880000114440918, "float64_rule"),
    ("pg", 0.07, 51, 0.1428571343421936, 0.1428571492433548, "float64_rule"),
    ("pg", 0.05, 3, 0.8799999952316284, 0.8800002932548523, "plain_lerp"),
    ("pg", 0.2, 56, 0.6000000238418579, 0.7818182110786438, "plain_lerp float32_rank"),
    ("pg", 0.3, 11, 0.1428571492433548, 0.2053571492433548, "float32_rank"),
    ("pg", 0.1, 26, 0.1428571343421936, 0.1428571492433548, "float32_rank"),
    ("pb", 0.05, 11, 0.1428571492433548, 0.142857164144516, "float32_rank"),
)
PRO_SEED = 1
PRO_CONNECTIVITY = 8  # cv2.connectedComponents' default, which anomalib.utils.cv.connected_components_cpu uses

F32 = np.float32
ONE = F32(1)


# ----------------------------------------------------------------------------------------------------------------
# torch.quantile in numpy float32


def _round_f32(value: Fraction) -> np.float32:
    """The float32 nearest to an exact rational, ties to even (one rounding, as a hardware FMA does)."""
    guess = F32(float(value))
    candidates = (np.nextafter(guess, F32(-np.inf)), guess, np.nextafter(guess, F32(np.inf)))
    return min(candidates, key=lambda c: (abs(Fraction(float(c)) - value), int(np.array(c).view(np.uint32)) & 1))


def _fma_f32(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    """float32 fused multiply-add: a * b + c rounded once."""
    return _round_f32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


def torch_lerp_f32(a: np.float32, b: np.float32, w: np.float32, *, fused: bool) -> np.float32:
    """torch's CPU lerp (aten/src/ATen/native/Lerp.h) on float32 scalars."""
    d = F32(b - a)
    if abs(w) < F32(0.5):
        return _fma_f32(w, d, a) if fused else F32(a + F32(w * d))
    return _fma_f32(F32(w - ONE), d, b) if fused else F32(b - F32(d * F32(ONE - w)))


def torch_quantile_f32(values: np.ndarray, q: np.float32, *, fused: bool, float64_rank: bool = True) -> np.float32:
    """torch.quantile(values, q) (linear interpolation) for float32 values and a float32 q, without NaN.

    torch 2.14 on CPU computes the rank in float64 (q * last_index, exact here), takes below = trunc(rank) and
    above = ceil(rank), subtracts in float64 and only then rounds the weight to float32; the lerp is float32.
    `float64_rank=False` is the older all-float32 arithmetic (rank = q * last_index rounded to float32), for
    information: it is not what torch 2.14 does.
    """
    ordered = np.sort(np.asarray(values, dtype=np.float32))
    last = ordered.size - 1
    if float64_rank:
        rank = float(F32(q)) * last  # exact: 24-bit q times a small integer
        below, above = int(rank), int(np.ceil(rank))
        weight = F32(rank - below)  # exact difference in float64, one rounding to float32
    else:
        rank32 = F32(F32(q) * F32(last))
        below, above = int(rank32), int(np.ceil(rank32))
        weight = F32(rank32 - F32(below))
    return torch_lerp_f32(ordered[below], ordered[above], weight, fused=fused)


def lerp_is_fused() -> bool:
    """Whether this process' torch lerp kernel fuses the multiply-add (AVX2/AVX512 kernels) or not (baseline)."""
    rng = np.random.default_rng(12345)
    a, b, w = (rng.random(2000).astype(np.float32) for _ in range(3))
    got = torch.from_numpy(a.copy()).lerp_(torch.from_numpy(b), torch.from_numpy(w)).numpy()
    fused = [torch_lerp_f32(*args, fused=True) for args in zip(a, b, w, strict=True)]
    plain = [torch_lerp_f32(*args, fused=False) for args in zip(a, b, w, strict=True)]
    fused_ok = bool(np.array_equal(got, np.array(fused, dtype=np.float32)))
    plain_ok = bool(np.array_equal(got, np.array(plain, dtype=np.float32)))
    assert fused_ok != plain_ok, (fused_ok, plain_ok)
    return fused_ok


# ----------------------------------------------------------------------------------------------------------------
# PGn / PBn


def anomalib_pg_pb(scores: np.ndarray, labels: np.ndarray, n: float, *, fused: bool) -> dict[str, Any]:
    """anomalib's PGn(n) and PBn(n) with the thresholds torch took, the float32 reproduction and the float64 rule."""
    preds = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
    target = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
    pg_metric = _PGn(fnr=n)
    pg_metric.update(preds, target)
    pg_value = pg_metric.compute()
    pb_metric = _PBn(fpr=n)
    pb_metric.update(preds, target)
    pb_value = pb_metric.compute()
    assert pg_value.dtype == torch.float32 and pb_value.dtype == torch.float32

    # The thresholds, with the very expressions of pg_pb.py (its fnr / fpr are float32 tensors).
    pos_scores, neg_scores = preds[target == 1], preds[target == 0]
    pg_thr_t = torch.quantile(pos_scores, pg_metric.fnr)
    pb_thr_t = torch.quantile(neg_scores, 1 - pb_metric.fpr)
    assert pg_thr_t.dtype == torch.float32 and pb_thr_t.dtype == torch.float32
    pg_thr, pb_thr = F32(pg_thr_t.item()), F32(pb_thr_t.item())

    pos, neg = scores[labels == 1].astype(np.float32), scores[labels == 0].astype(np.float32)
    pg_count, pb_count = int((neg < pg_thr).sum()), int((pos > pb_thr).sum())
    # anomalib's values are these counts over the totals, rounded to float32.
    assert float(pg_value) == float(F32(pg_count / neg.size)), (float(pg_value), pg_count, neg.size)
    assert float(pb_value) == float(F32(pb_count / pos.size)), (float(pb_value), pb_count, pos.size)

    n32 = F32(n)
    q_pg, q_pb = n32, F32(ONE - n32)
    assert float(q_pg) == float(pg_metric.fnr) and float(q_pb) == float(1 - pb_metric.fpr)

    # The numpy float32 reproduction of torch.quantile, with the lerp of this process' kernel and the other one.
    repro = {
        kind: (torch_quantile_f32(pos, q_pg, fused=kind_fused), torch_quantile_f32(neg, q_pb, fused=kind_fused))
        for kind, kind_fused in (("fused", True), ("plain", False))
    }
    # The all-float32 rank of torch before float64 ranks (with the fused lerp), for information.
    old = (
        torch_quantile_f32(pos, q_pg, fused=True, float64_rank=False),
        torch_quantile_f32(neg, q_pb, fused=True, float64_rank=False),
    )
    mine = repro["fused" if fused else "plain"]
    assert mine[0] == pg_thr and mine[1] == pb_thr, (scores.tolist(), labels.tolist(), n, mine, pg_thr, pb_thr)

    # The simple float64 rule: np.quantile in float64 at the float32 q, rounded to float32.
    pg_thr64 = F32(np.quantile(pos.astype(np.float64), float(q_pg)))
    pb_thr64 = F32(np.quantile(neg.astype(np.float64), float(q_pb)))
    pg_count64, pb_count64 = int((neg < pg_thr64).sum()), int((pos > pb_thr64).sum())

    counts = {kind: (int((neg < thr_pg).sum()), int((pos > thr_pb).sum())) for kind, (thr_pg, thr_pb) in repro.items()}
    return {
        "pg": float(pg_value),
        "pb": float(pb_value),
        "pg_count": pg_count,
        "pb_count": pb_count,
        "n_normal": int(neg.size),
        "n_anomalous": int(pos.size),
        "pg_threshold": float(pg_thr),
        "pb_threshold": float(pb_thr),
        "q_pg_float32": float(q_pg),
        "q_pb_float32": float(q_pb),
        "depends_on_fma": counts["fused"] != counts["plain"],
        "pg_threshold_plain_lerp": float(repro["plain"][0]),
        "pb_threshold_plain_lerp": float(repro["plain"][1]),
        "pg_threshold_fused_lerp": float(repro["fused"][0]),
        "pb_threshold_fused_lerp": float(repro["fused"][1]),
        "pg_count_plain_lerp": counts["plain"][0],
        "pb_count_plain_lerp": counts["plain"][1],
        "pg_count_fused_lerp": counts["fused"][0],
        "pb_count_fused_lerp": counts["fused"][1],
        "pg_threshold_float32_rank": float(old[0]),
        "pb_threshold_float32_rank": float(old[1]),
        "pg_count_float32_rank": int((neg < old[0]).sum()),
        "pb_count_float32_rank": int((pos > old[1]).sum()),
        "pg_threshold_float64_rule": float(pg_thr64),
        "pb_threshold_float64_rule": float(pb_thr64),
        "pg_float64_rule": float(F32(pg_count64 / neg.size)),
        "pb_float64_rule": float(F32(pb_count64 / pos.size)),
        "pg_count_float64_rule": pg_count64,
        "pb_count_float64_rule": pb_count64,
    }


def image_scores(case: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = np.load(ROOT / "tests" / "data" / case / "arrays.npz")
    maps, masks = arrays["maps"], arrays["masks"]
    assert maps.dtype == np.float32 and maps.ndim == 3 and masks.shape == maps.shape
    scores = maps.reshape(len(maps), -1).max(axis=1).astype(np.float32)
    labels = (masks.reshape(len(masks), -1) != 0).any(axis=1).astype(np.int64)
    return scores, labels


def random_case(rng: np.random.Generator) -> tuple[str, np.ndarray, np.ndarray, float]:
    size = int(rng.integers(5, 61))
    kind = str(rng.choice(["sevenths", "sevenths_scaled", "pool", "continuous"], p=[0.35, 0.2, 0.3, 0.15]))
    if kind == "sevenths":  # integers 0..6 divided by 7, as float32
        levels = (np.arange(7) / 7).astype(np.float32)
        scores = rng.choice(levels, size)
    elif kind == "sevenths_scaled":  # the same levels mapped into the maps' range, about 0.9..3.4
        levels = (0.88 + 2.55 * np.arange(7) / 7).astype(np.float32)
        scores = rng.choice(levels, size)
    elif kind == "pool":  # a handful of random float32 values, drawn with many duplicates
        pool = rng.random(int(rng.integers(2, 7))).astype(np.float32)
        scores = rng.choice(pool, size)
    else:  # random float32, few ties
        scores = rng.random(size).astype(np.float32)
    labels = rng.integers(0, 2, size).astype(np.int64)
    first, second = rng.choice(size, 2, replace=False)
    labels[first], labels[second] = 1, 0  # at least one of each
    n = float(rng.choice(RANDOM_NS)) if rng.random() < 0.7 else float(rng.uniform(0.0, 1.0))
    return kind, scores.astype(np.float32), labels, n


def constructed_case(side: str, n: float, size: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    q = F32(n) if side == "pg" else F32(ONE - F32(n))
    below = int(float(q) * (size - 1))
    ranked = [F32(lo)] * (below + 1) + [F32(hi)] * (size - below - 1)
    other = [F32(lo), F32(hi)]
    normal, anomalous = (other, ranked) if side == "pg" else (ranked, other)
    scores = np.array(normal + anomalous, dtype=np.float32)
    labels = np.array([0] * len(normal) + [1] * len(anomalous), dtype=np.int64)
    return scores, labels


def check_constructed(side: str, separates: str, result: dict[str, Any]) -> None:
    """Each constructed case separates what it claims (between reproductions: true whatever the CPU)."""
    fused = result[f"{side}_count_fused_lerp"]
    assert (result[f"{side}_count_float64_rule"] != fused) == ("float64_rule" in separates), (side, separates)
    assert (result[f"{side}_count_plain_lerp"] != fused) == ("plain_lerp" in separates), (side, separates)
    assert (result[f"{side}_count_float32_rank"] != fused) == ("float32_rank" in separates), (side, separates)


def pg_pb_file(fused: bool, capability: str) -> tuple[dict[str, Any], dict[str, int]]:
    reference = {}
    for case in CASES:
        scores, labels = image_scores(case)
        reference[case] = {
            "scores": [float(s) for s in scores],
            "labels": [int(v) for v in labels],
            "values": {repr(n): anomalib_pg_pb(scores, labels, n, fused=fused) for n in REFERENCE_NS},
        }

    rng = np.random.default_rng(SEED)
    cases = []
    for index in range(N_RANDOM):
        kind, scores, labels, n = random_case(rng)
        result = anomalib_pg_pb(scores, labels, n, fused=fused)
        cases.append(
            {
                "index": index,
                "kind": kind,
                "n": n,
                "scores": [float(s) for s in scores],
                "labels": [int(v) for v in labels],
                **result,
            }
        )

    constructed = []
    for side, n, size, lo, hi, separates in CONSTRUCTED:
        scores, labels = constructed_case(side, n, size, lo, hi)
        result = anomalib_pg_pb(scores, labels, n, fused=fused)
        check_constructed(side, separates, result)
        constructed.append(
            {
                "side": side,
                "separates": separates.split(),
                "n": n,
                "scores": [float(s) for s in scores],
                "labels": [int(v) for v in labels],
                **result,
            }
        )

    def differ(rule: str) -> int:
        return sum(c["pg_count" + rule] != c["pg_count"] or c["pb_count" + rule] != c["pb_count"] for c in cases)

    summary = {
        "random_cases": len(cases),
        "float64_rule_value_differs": differ("_float64_rule"),
        "float64_rule_pg_differs": sum(c["pg_count_float64_rule"] != c["pg_count"] for c in cases),
        "float64_rule_pb_differs": sum(c["pb_count_float64_rule"] != c["pb_count"] for c in cases),
        "float64_rule_threshold_differs": sum(
            c["pg_threshold_float64_rule"] != c["pg_threshold"] or c["pb_threshold_float64_rule"] != c["pb_threshold"]
            for c in cases
        ),
        "float32_rank_value_differs": differ("_float32_rank"),
        "float32_rank_threshold_differs": sum(
            c["pg_threshold_float32_rank"] != c["pg_threshold"] or c["pb_threshold_float32_rank"] != c["pb_threshold"]
            for c in cases
        ),
        "plain_lerp_value_differs": differ("_plain_lerp"),
        "fused_lerp_value_differs": differ("_fused_lerp"),
        "plain_lerp_threshold_differs": sum(
            c["pg_threshold_plain_lerp"] != c["pg_threshold"] or c["pb_threshold_plain_lerp"] != c["pb_threshold"]
            for c in cases
        ),
        "depends_on_fma": sum(c["depends_on_fma"] for c in cases),
        "fused_lerp_threshold_differs": sum(
            c["pg_threshold_fused_lerp"] != c["pg_threshold"] or c["pb_threshold_fused_lerp"] != c["pb_threshold"]
            for c in cases
        ),
    }
    note = (
        "anomalib.metrics.pg_pb._PGn(fnr=n) and _PBn(fpr=n): one .update(preds float32, target int64 0/1), then "
        ".compute(). PGn: thr = torch.quantile(anomalous, float32(n)), value = share of normal scores < thr. PBn: "
        "thr = torch.quantile(normal, float32(1 - float32(n))), value = share of anomalous scores > thr. Values are "
        "float32 tensors: count / total rounded to float32 (*_count, n_normal, n_anomalous give the exact counts). "
        "*_threshold: the threshold torch computed, recomputed with pg_pb.py's own expressions. torch 2.14's CPU "
        "quantile: rank = float64(q) * (n - 1) in float64, below = trunc(rank), above = ceil(rank), w = "
        "float32(rank - below), then a float32 lerp: d = b - a, w < 0.5 ? a + w*d : b - d*(1 - w), which the CPU "
        "kernels for AVX2/AVX512 evaluate with a fused multiply-add (one rounding) and the baseline kernel does not "
        "(*_fused_lerp / *_plain_lerp: the numpy reproduction each way; the one matching lerp_fused is asserted to "
        "equal torch in every case; depends_on_fma: the two give different counts). *_float32_rank: the older "
        "all-float32 rank (q * (n - 1) rounded to float32), for information. This file was made with cpu capability "
        f"{capability} (lerp_fused={fused}). *_float64_rule: np.quantile on float64 scores at q = float(float32 q), "
        "threshold rounded to float32, compared in float32. Reference cases: image score = max of each map of "
        "arrays.npz, label = mask has a nonzero pixel. Random cases: numpy default_rng(0), stored in full. "
        "Constructed cases: hand-made so that the float64 rule, the unfused lerp or the float32 rank give another "
        "count than torch (separates says which)."
    )
    return {
        "note": note,
        "script": SCRIPT,
        "anomalib_version": version("anomalib"),
        "torch_version": torch.__version__,
        "torchmetrics_version": version("torchmetrics"),
        "cpu_capability": capability,
        "lerp_fused": fused,
        "summary": summary,
        "reference": reference,
        "random": cases,
        "constructed": constructed,
    }, summary


# ----------------------------------------------------------------------------------------------------------------
# PRO


def anomalib_pro(predictions: np.ndarray, targets: np.ndarray, threshold: float) -> float:
    metric = _PRO(threshold=threshold)
    metric.update(torch.from_numpy(predictions), torch.from_numpy(targets))
    value = metric.compute()
    assert value.dtype == torch.float32 and value.numel() == 1
    return float(value.reshape(()))


def region_recalls(
    predictions: np.ndarray, targets: np.ndarray, threshold: float, connectivity: int, rule: str = ">"
) -> list[float]:
    """Per-region recall, regions labelled per image with cv2 at the given connectivity.

    rule ">": predictions > float32(threshold), as anomalib; ">=": predictions >= float32(threshold); "float64 >":
    predictions > threshold compared in float64 (what a float64 comparison would give).
    """
    recalls = []
    for pred, target in zip(predictions, targets, strict=True):
        count, comps = cv2.connectedComponents((target != 0).astype(np.uint8), connectivity=connectivity)
        if rule == ">":
            hit = pred > F32(threshold)
        elif rule == ">=":
            hit = pred >= F32(threshold)
        else:
            hit = pred.astype(np.float64) > threshold
        recalls += [float(hit[comps == label].mean()) for label in range(1, count)]
    return recalls


def mean_or_one(recalls: list[float]) -> float:
    return float(np.mean(recalls)) if recalls else 1.0


def pro_entry(
    name: str, source: str, predictions: np.ndarray, targets: np.ndarray, threshold: float, expected: float | None
) -> dict[str, Any]:
    predictions = np.ascontiguousarray(predictions, dtype=np.float32)
    targets = np.ascontiguousarray(targets, dtype=np.int32)
    assert predictions.ndim == 3 and predictions.shape == targets.shape
    value = anomalib_pro(predictions, targets, threshold)
    recalls8 = region_recalls(predictions, targets, threshold, 8)
    recalls4 = region_recalls(predictions, targets, threshold, 4)
    mean8, mean4 = mean_or_one(recalls8), mean_or_one(recalls4)
    assert abs(value - mean8) < 1e-6, (name, value, mean8)
    if expected is not None:
        assert value == float(F32(expected)), (name, value, expected)
    thr32 = F32(threshold)
    return {
        "name": name,
        "source": source,
        "targets": targets.tolist(),
        "predictions": [[[float(v) for v in row] for row in image] for image in predictions],
        "threshold": threshold,
        "threshold_float32": float(thr32),
        "anomalib": value,
        "expected": expected,
        "connectivity": PRO_CONNECTIVITY,
        "n_regions": len(recalls8),
        "region_recalls": recalls8,
        "exact_mean_recall": mean8,
        "n_regions_if_4_connected": len(recalls4),
        "value_if_4_connected": mean4,
        "value_if_greater_equal": mean_or_one(region_recalls(predictions, targets, threshold, 8, ">=")),
        "value_if_float64_compare": mean_or_one(region_recalls(predictions, targets, threshold, 8, "float64 >")),
        "prediction_equals_threshold": bool((predictions == thr32).any()),
        "prediction_equals_threshold_float64": bool((predictions.astype(np.float64) == threshold).any()),
    }


def anomalib_test_fixture() -> tuple[np.ndarray, np.ndarray, list[float], list[float]]:
    """test_pro in anomalib's tests/unit/metrics/test_pro.py, built as there."""
    labels = torch.tensor(
        [
            [
                [0, 0, 0, 0, 0],
                [1, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
                [1, 1, 0, 0, 0],
                [0, 0, 0, 0, 0],
                [1, 1, 1, 0, 0],
                [0, 0, 0, 0, 0],
                [1, 1, 1, 1, 0],
                [0, 0, 0, 0, 0],
                [1, 1, 1, 1, 1],
            ],
        ],
    ).type(torch.int32)
    preds = (torch.arange(10) / 10) + 0.05
    preds = preds.unsqueeze(1).repeat(1, 5).view(1, 10, 5)
    thresholds = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    targets = [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    return preds.numpy(), labels.numpy(), thresholds, targets


def random_pro_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    n_images = int(rng.integers(2, 5))
    height, width = int(rng.integers(8, 17)), int(rng.integers(8, 17))
    targets = (rng.random((n_images, height, width)) < rng.uniform(0.15, 0.4)).astype(np.int32)
    targets[0] = 0  # one normal image
    predictions = (0.3 * targets + 0.7 * rng.random(targets.shape)).astype(np.float32)
    while True:
        threshold = round(float(rng.uniform(0.35, 0.75)), 4)
        if not (predictions == F32(threshold)).any() and not (predictions.astype(np.float64) == threshold).any():
            return predictions, targets, threshold


def pro_file() -> dict[str, Any]:
    entries = []
    source = "openvinotoolkit/anomalib (now open-edge-platform/anomalib): tests/unit/metrics/test_pro.py::test_pro"
    preds, labels, thresholds, expected = anomalib_test_fixture()
    for threshold, target in zip(thresholds, expected, strict=True):
        entries.append(pro_entry(f"anomalib_test_pro_t{threshold}", source, preds, labels, threshold, target))

    # A tie: float32(0.55) is exactly the prediction of the region in row 5, so `>` leaves that region out (0.4)
    # where `>=`, or comparing in float64 (0.550000011920929 > 0.55), would count it (0.6).
    entries.append(
        pro_entry("anomalib_test_pro_arrays_t0.55_tie", "this script, on test_pro's arrays", preds, labels, 0.55, None)
    )

    # Connectivity: a 2x2 square and one pixel touching it at a corner. 8-connected they are one region (recall
    # 1/5 when only the pixel is predicted); 4-connected, two (mean recall (0 + 1) / 2).
    diagonal = np.zeros((1, 6, 6), dtype=np.int32)
    diagonal[0, 1:3, 1:3] = 1
    diagonal[0, 3, 3] = 1
    diagonal_preds = np.full((1, 6, 6), 0.25, dtype=np.float32)
    diagonal_preds[0, 3, 3] = 0.75
    entries.append(pro_entry("diagonal_touch", "this script", diagonal_preds, diagonal, 0.5, None))

    # No region at all: anomalib returns 1.0.
    empty_preds = np.linspace(0, 1, 2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5)
    entries.append(pro_entry("no_regions", "this script", empty_preds, np.zeros((2, 5, 5), np.int32), 0.5, None))

    rng = np.random.default_rng(PRO_SEED)
    for index in range(4):
        predictions, targets, threshold = random_pro_case(rng)
        entries.append(
            pro_entry(f"random_{index}", f"this script, default_rng({PRO_SEED})", predictions, targets, threshold, None)
        )

    note = (
        "anomalib.metrics.pro._PRO(threshold=t): one .update(predictions float32 (N, H, W), targets int32 0/1 "
        "(N, H, W)), then .compute(). Float predictions are binarised with predictions > t, where torch casts the "
        "Python threshold to float32 (threshold_float32); targets are labelled per image by "
        "anomalib.utils.cv.connected_components_cpu = cv2.connectedComponents with its default connectivity 8; the "
        "value is the mean over all regions of all images of the share of the region's pixels predicted, computed "
        "by torchmetrics' multiclass recall in float32 (exact_mean_recall: the same in float64). Without any region "
        "anomalib returns 1.0. prediction_equals_threshold: some prediction equals the float32 threshold (where > "
        "and >= differ; prediction_equals_threshold_float64: the same comparing in float64). For information: "
        "value_if_4_connected (4-connected regions), value_if_greater_equal (>= instead of >), "
        "value_if_float64_compare (> in float64)."
    )
    return {
        "note": note,
        "script": SCRIPT,
        "anomalib_version": version("anomalib"),
        "torch_version": torch.__version__,
        "torchmetrics_version": version("torchmetrics"),
        "opencv_version": cv2.__version__,
        "connectivity": PRO_CONNECTIVITY,
        "fixtures": entries,
    }


def _one_line(match: re.Match[str]) -> str:
    inner = match.group(0)[1:-1]
    return "[" + ", ".join(item.strip() for item in inner.split(",")) + "]" if inner.strip() else "[]"


def dumps(data: dict[str, Any]) -> str:
    """JSON with an indent, but every innermost list (numbers, booleans) on one line."""
    text = re.sub(r"\[[^\[\]{}\"]*\]", _one_line, json.dumps(data, indent=1))
    assert json.loads(text) == data
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "tests" / "data")
    out_dir = parser.parse_args().out_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    fused = lerp_is_fused()
    capability = torch.backends.cpu.get_cpu_capability()
    pg_pb, summary = pg_pb_file(fused, capability)
    (out_dir / "anomalib_pg_pb.json").write_text(dumps(pg_pb) + "\n")
    print(f"cpu capability {capability}, lerp fused: {fused}")
    for case, data in pg_pb["reference"].items():
        print(case, {n: (v["pg"], v["pb"]) for n, v in data["values"].items()})
    print("random cases:", summary)

    pro = pro_file()
    (out_dir / "anomalib_pro.json").write_text(dumps(pro) + "\n")
    for entry in pro["fixtures"]:
        print(
            f"PRO {entry['name']}: anomalib {entry['anomalib']!r} expected {entry['expected']!r} "
            f"4-connected {entry['value_if_4_connected']!r} tie {entry['prediction_equals_threshold']}"
        )
    print(f"-> {out_dir / 'anomalib_pg_pb.json'}, {out_dir / 'anomalib_pro.json'}")


if __name__ == "__main__":
    main()
