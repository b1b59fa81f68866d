"""Side-by-side benchmark against the peers, on the same arrays in memory, in one run.

Peers: anomalib 2.7 (`AUROC`, `AUPRO(fpr_limit=0.3)`, `AUPRO(fpr_limit=0.05)`, `AUPIMO`), scikit-learn
(`roc_auc_score`) and ADEval 1.1 (`auroc_aupr_aupro`, 1000 bins). They live in their own venv:

    make bench-peers                      # creates .venv-peers, then runs this script
    .venv-peers/bin/python benchmarks/compare_peers.py [--cases screw,visa] [--scale 0.25] [--subset auto]

Cases (synthetic, deterministic; `aupimo_cli.synthetic.synthetic_category`):
    screw: MVTec-AD-screw-like, 41 normal + 119 anomalous at 1024x1024 (H x W);
    visa:  VisA-like, 100 normal + 100 anomalous at 1000x1500 (H x W).

Each case is one (N, H, W) float32 array of maps and one uint8 array of masks. The images are interleaved so
that every prefix keeps the normal/anomalous proportion; a subset is always the first k images, a view. The
peers get the very same memory: numpy views, or torch tensors from `torch.from_numpy` (no copy).

Subsets. With `--subset auto` (default) each peer is first timed on a small prefix (`--pilot`, only for the
first case it runs in; later cases scale its previous measurement). When the prediction for the full case
exceeds `--budget` seconds, or 90% of the available RAM, the peer runs on the largest prefix predicted to
fit, and the row says SUBSET and why; ours is then timed on the same prefix for that row. Predictions are
used only for that decision, never reported as results. `--subset none` always runs the full set;
`--subset 0.25` runs every peer on the first quarter.

Timing. Imports and a warm-up call of every peer on a tiny input are excluded. Our numba kernels' first call
(compile, or load from the cache) is reported apart. Each measured block reports wall time and the
process's peak RSS (sampled every 2 ms), absolute and as the increase over the RSS before the block.
"""

from __future__ import annotations

import argparse
import gc
import glob
import logging
import math
import os
import platform
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import current_rss_bytes, measure

from aupimo_cli.synthetic import synthetic_category

AUROC_TOL = 1e-9
AUPRO_TOL = 1e-5
AUPIMO_TOL = 1e-6
MEMORY_MARGIN = 0.9  # a peer may be predicted to use at most this share of the available RAM
FIELDS_MAP = ("anomaly_map", "gt_mask")
FIELDS_IMAGE = ("pred_score", "gt_label")


@dataclass(frozen=True)
class CaseSpec:
    name: str
    description: str
    num_normal: int
    num_anomalous: int
    shape: tuple[int, int]  # (H, W)


CASES = {
    "screw": CaseSpec("screw", "MVTec-AD-screw-like", 41, 119, (1024, 1024)),
    "visa": CaseSpec("visa", "VisA-like", 100, 100, (1000, 1500)),
}


# ---------------------------------------------------------------------------------------------------------------
# Small helpers


def gib(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:.2f}"


def meminfo_bytes(key: str) -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the warnings the metrics emit on purpose (few AUPIMO points on tiny inputs, buffers, ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@dataclass
class Timed:
    """One measured computation: wall time, RSS before and peak RSS during it, and what it returned."""

    seconds: float
    rss_before: int
    rss_peak: int
    value: Any = None
    error: str | None = None

    @property
    def rss_increase(self) -> int:
        return self.rss_peak - self.rss_before

    def rss(self) -> str:
        return f"{gib(self.rss_peak)} (+{gib(self.rss_increase)})"


def timed(fn: Callable[[], Any]) -> Timed:
    """Run `fn` once under `measure()`; an exception is recorded, not raised."""
    gc.collect()
    value, error = None, None
    with measure() as stage, quiet():
        try:
            value = fn()
        except Exception as exc:  # a peer failing is a result to report, not a reason to stop the run
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:150] if str(exc) else ''}"
    result = Timed(stage.seconds, stage.rss_before, stage.rss_peak, value, error)
    gc.collect()
    return result


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Data


@dataclass
class CaseData:
    spec: CaseSpec
    maps: np.ndarray  # (N, H, W) float32, C-contiguous
    masks: np.ndarray  # (N, H, W) uint8 0/1
    labels: np.ndarray  # (N,) 1 = anomalous
    generate_seconds: float

    @property
    def num_images(self) -> int:
        return int(self.maps.shape[0])

    def counts(self, k: int) -> tuple[int, int]:
        anomalous = int(self.labels[:k].sum())
        return k - anomalous, anomalous

    def pixels(self, k: int) -> int:
        return k * self.maps.shape[1] * self.maps.shape[2]

    def prefix_size(self, fraction: float) -> int:
        """Images in the prefix closest to `fraction` of the set, with at least 2 normal and 2 anomalous ones."""
        k = min(self.num_images, max(1, round(self.num_images * fraction)))
        while k < self.num_images and min(self.counts(k)) < 2:
            k += 1
        return k

    def describe(self, k: int) -> str:
        normal, anomalous = self.counts(k)
        return f"{k}/{self.num_images} ({normal}n+{anomalous}a)"

    def checksum(self) -> tuple[int, int]:
        return int(self.maps.view(np.uint32).sum(dtype=np.uint64)), int(self.masks.sum(dtype=np.uint64))


def interleaved_order(num_normal: int, num_anomalous: int) -> np.ndarray:
    """An order of the images (normal first in the input) whose every prefix keeps the class proportion."""
    keys = np.concatenate(
        [(np.arange(num_normal) + 0.5) / num_normal, (np.arange(num_anomalous) + 0.5) / num_anomalous]
    )
    return np.argsort(keys, kind="stable")


def build_case(spec: CaseSpec, scale: float, seed: int) -> CaseData:
    shape = (max(16, round(spec.shape[0] * scale)), max(16, round(spec.shape[1] * scale)))
    start = time.perf_counter()
    map_list, mask_list = synthetic_category(spec.num_normal, spec.num_anomalous, shape, seed=seed)
    num_images = len(map_list)
    maps = np.empty((num_images, *shape), dtype=np.float32)
    masks = np.empty((num_images, *shape), dtype=np.uint8)
    for destination, source in enumerate(interleaved_order(spec.num_normal, spec.num_anomalous)):
        maps[destination] = map_list[source]
        masks[destination] = mask_list[source]
        map_list[source] = mask_list[source] = None  # free as we go: one copy at a time
    del map_list, mask_list
    labels = masks.reshape(num_images, -1).max(axis=1).astype(np.int64)
    spec = CaseSpec(spec.name, spec.description, spec.num_normal, spec.num_anomalous, shape)
    return CaseData(spec, maps, masks, labels, time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------------------
# Ours


def numba_cache_files() -> dict[str, float]:
    import aupimo_cli

    roots = [Path(aupimo_cli.__file__).resolve().parent]
    if os.environ.get("NUMBA_CACHE_DIR"):
        roots.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    files: dict[str, float] = {}
    for root in roots:
        for pattern in ("**/*.nbi", "**/*.nbc"):
            for path in glob.glob(str(root / pattern), recursive=True):
                files[path] = os.path.getmtime(path)
    return files


def image_scores_np(maps: np.ndarray) -> np.ndarray:
    return maps.reshape(maps.shape[0], -1).max(axis=1)


class Ours:
    """Our metrics on prefixes of one case, each measured once and cached by (what, k)."""

    def __init__(self, data: CaseData) -> None:
        from aupimo_cli import metrics

        self.metrics = metrics
        self.data = data
        self.cache: dict[tuple[str, int], Timed] = {}

    def get(self, what: str, k: int) -> Timed:
        if (what, k) not in self.cache:
            maps, masks = self.data.maps[:k], self.data.masks[:k]
            labels = self.data.labels[:k]
            m = self.metrics
            runs: dict[str, Callable[[], Any]] = {
                "pixel_metrics": lambda: m.pixel_metrics(maps, masks),
                "pixel_auroc": lambda: m.pixel_auroc(maps, masks),
                "aupro_30": lambda: m.aupro(maps, masks, fpr_limit=0.3),
                "aupro_05": lambda: m.aupro(maps, masks, fpr_limit=0.05),
                "aupimo": lambda: m.aupimo(maps, masks),
                "image_auroc": lambda: m.image_auroc(image_scores_np(maps), labels),
            }
            self.cache[what, k] = timed(runs[what])
        return self.cache[what, k]


OURS_LABELS = {
    "pixel_metrics": "pixel_metrics (AUROC + AUPRO@30% + AUPRO@5%, one pass)",
    "pixel_auroc": "pixel_auroc",
    "aupro_30": "aupro(fpr_limit=0.3)",
    "aupro_05": "aupro(fpr_limit=0.05)",
    "aupimo": "aupimo (300k thresholds, FPR 1e-5..1e-4)",
    "image_auroc": "image_auroc (max of each map, incl. the max)",
}


# ---------------------------------------------------------------------------------------------------------------
# Peers


def to_torch(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array)  # shares the numpy memory


def anomalib_auroc_pixels(maps: np.ndarray, masks: np.ndarray) -> float:
    from anomalib.metrics import AUROC

    metric = AUROC(fields=FIELDS_MAP)
    metric.update(types.SimpleNamespace(anomaly_map=to_torch(maps), gt_mask=to_torch(masks)))
    return float(metric.compute())


def anomalib_auroc_images(maps: np.ndarray, labels: np.ndarray) -> float:
    from anomalib.metrics import AUROC

    maps_t = to_torch(maps)
    metric = AUROC(fields=FIELDS_IMAGE)
    metric.update(types.SimpleNamespace(pred_score=maps_t.flatten(1).amax(dim=1), gt_label=to_torch(labels)))
    return float(metric.compute())


def anomalib_aupro(maps: np.ndarray, masks: np.ndarray, fpr_limit: float) -> float:
    from anomalib.metrics import AUPRO

    metric = AUPRO(fields=FIELDS_MAP, fpr_limit=fpr_limit)
    metric.update(types.SimpleNamespace(anomaly_map=to_torch(maps), gt_mask=to_torch(masks)))
    return float(metric.compute())


def anomalib_aupimo(maps: np.ndarray, masks: np.ndarray, force: bool = False) -> Any:
    from anomalib.metrics import AUPIMO

    metric = AUPIMO(num_thresholds=300_000, fpr_bounds=(1e-5, 1e-4), return_average=False, force=force)
    metric.update(types.SimpleNamespace(anomaly_map=to_torch(maps), gt_mask=to_torch(masks)))
    _pimo_result, aupimo_result = metric.compute()
    return aupimo_result


def minmax_copy(maps: np.ndarray) -> np.ndarray:
    """(maps - min) / (max - min) in float32, clipped to [0, 1], so torchmetrics applies no sigmoid."""
    low, high = float(maps.min()), float(maps.max())
    normalized = np.subtract(maps, np.float32(low), dtype=np.float32)
    normalized /= np.float32(high - low)
    np.clip(normalized, 0.0, 1.0, out=normalized)
    return normalized


def sklearn_auroc_pixels(maps: np.ndarray, masks: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(masks.ravel(), maps.ravel()))


def sklearn_auroc_images(maps: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, image_scores_np(maps)))


def adeval_all(maps: np.ndarray, masks: np.ndarray) -> tuple[float, float, float]:
    import adeval

    auroc, aupr, aupro = adeval.auroc_aupr_aupro(maps, masks)  # nstrips=1000 (its default)
    return float(auroc), float(aupr), float(aupro)


@dataclass
class Check:
    diff: str
    status: str  # PASS / FAIL / info
    peer_value: str
    ours_value: str


@dataclass
class Job:
    """One peer computation, compared against one of ours on the same images.

    `setup(data, k)` does the untimed preparation and returns the call that is timed.
    """

    name: str  # unique key (also for the subset planner's history)
    metric: str
    peer: str
    ours_key: str
    setup: Callable[[CaseData, int], Callable[[], Any]]
    compare: Callable[[Any, Ours, int], Check]
    group: str  # anomalib / sklearn / adeval
    in_total: bool = False
    note: str = ""


def fmt(value: float) -> str:
    return f"{value:.12f}"


def scalar_check(ours_key: str, tol: float | None) -> Callable[[Any, Ours, int], Check]:
    def compare(peer_value: Any, ours: Ours, k: int) -> Check:
        ours_value = float(ours.get(ours_key, k).value)
        diff = abs(float(peer_value) - ours_value)
        status = "info" if tol is None else f"{'PASS' if diff <= tol else 'FAIL'} (tol {tol:.0e})"
        return Check(f"{diff:.2e}", status, fmt(float(peer_value)), fmt(ours_value))

    return compare


def threshold_grid_mismatches(data: CaseData, k: int, num_thresholds: int = 300_000) -> int:
    """How many of anomalib's thresholds (torch.linspace in float32) differ from ours (numpy float64, cast)."""
    import torch

    normal = data.maps[:k][data.labels[:k] == 0]
    low, high = float(normal.min()), float(normal.max())
    theirs = torch.linspace(low, high, num_thresholds, dtype=torch.float32).numpy()
    mine = np.linspace(low, high, num_thresholds, dtype=np.float32)
    return int(np.count_nonzero(theirs != mine))


def aupimo_check(peer_result: Any, ours: Ours, k: int) -> Check:
    mine = ours.get("aupimo", k).value
    theirs = peer_result.aupimos.numpy()
    same_nan = bool(np.array_equal(np.isnan(theirs), np.isnan(mine.aupimos)))
    valid = ~np.isnan(mine.aupimos)
    diff = float(np.max(np.abs(theirs[valid] - mine.aupimos[valid]))) if valid.any() else float("nan")
    ok = same_nan and diff <= AUPIMO_TOL
    status = f"{'PASS' if ok else 'FAIL'} (tol {AUPIMO_TOL:.0e})" + ("" if same_nan else " NaN pattern differs")
    grid = threshold_grid_mismatches(ours.data, k)
    return Check(
        f"max {diff:.2e}",
        status,
        f"mean {np.nanmean(theirs):.9f}, {peer_result.num_thresholds} pts, thresholds "
        f"{peer_result.thresh_lower_bound:.7g}..{peer_result.thresh_upper_bound:.7g}",
        f"mean {np.nanmean(mine.aupimos):.9f}, {mine.num_points} pts, thresholds "
        f"{mine.thresh_bounds[0]:.7g}..{mine.thresh_bounds[1]:.7g}; {grid} of the 300k thresholds differ by "
        "rounding (torch.linspace in float32 vs numpy in float64)",
    )


def adeval_check(peer_value: Any, ours: Ours, k: int) -> Check:
    exact = ours.get("pixel_metrics", k).value
    auroc, aupr, aupro = peer_value
    auroc_err = abs(auroc - exact["pixel_auroc"])
    aupro_err = abs(aupro - exact["aupro_30"])
    return Check(
        f"roc {auroc_err:.1e}, pro {aupro_err:.1e}",
        "info (binned, approximate)",
        f"AUROC {auroc:.9f}, AUPRO@30% {aupro:.9f}, AUPR {aupr:.6f}",
        f"AUROC {exact['pixel_auroc']:.9f}, AUPRO@30% {exact['aupro_30']:.9f}",
    )


def on_pixels(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Callable[[CaseData, int], Callable[[], Any]]:
    return lambda data, k: lambda: fn(data.maps[:k], data.masks[:k])


def on_images(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Callable[[CaseData, int], Callable[[], Any]]:
    return lambda data, k: lambda: fn(data.maps[:k], data.labels[:k])


def minmax_setup(data: CaseData, k: int) -> Callable[[], Any]:
    normalized = minmax_copy(data.maps[:k])  # untimed: in anomalib the post-processor normalizes the maps
    masks = data.masks[:k]
    return lambda: anomalib_auroc_pixels(normalized, masks)


def make_jobs(raw_auroc: bool) -> list[Job]:
    jobs = [
        Job(
            "sklearn-pixel-auroc",
            "pixel AUROC",
            "sklearn roc_auc_score",
            "pixel_auroc",
            on_pixels(sklearn_auroc_pixels),
            scalar_check("pixel_auroc", AUROC_TOL),
            "sklearn",
        ),
        Job(
            "sklearn-image-auroc",
            "image AUROC",
            "sklearn roc_auc_score",
            "image_auroc",
            on_images(sklearn_auroc_images),
            scalar_check("image_auroc", AUROC_TOL),
            "sklearn",
        ),
        Job(
            "anomalib-auroc-minmax",
            "pixel AUROC",
            "anomalib AUROC (min-max maps)",
            "pixel_auroc",
            minmax_setup,
            scalar_check("pixel_auroc", None),
            "anomalib",
            in_total=True,
            note="maps min-max scaled to [0, 1] in float32 (untimed) so that torchmetrics applies no sigmoid",
        ),
    ]
    if raw_auroc:
        jobs.append(
            Job(
                "anomalib-auroc-raw",
                "pixel AUROC",
                "anomalib AUROC (raw maps)",
                "pixel_auroc",
                on_pixels(anomalib_auroc_pixels),
                scalar_check("pixel_auroc", None),
                "anomalib",
                note="raw maps: scores outside [0, 1], so torchmetrics applies a sigmoid first",
            )
        )
    jobs += [
        Job(
            "anomalib-aupro-30",
            "AUPRO@30%",
            "anomalib AUPRO(fpr_limit=0.3)",
            "aupro_30",
            on_pixels(lambda maps, masks: anomalib_aupro(maps, masks, 0.3)),
            scalar_check("aupro_30", AUPRO_TOL),
            "anomalib",
            in_total=True,
        ),
        Job(
            "anomalib-aupro-05",
            "AUPRO@5%",
            "anomalib AUPRO(fpr_limit=0.05)",
            "aupro_05",
            on_pixels(lambda maps, masks: anomalib_aupro(maps, masks, 0.05)),
            scalar_check("aupro_05", AUPRO_TOL),
            "anomalib",
            in_total=True,
        ),
        Job(
            "anomalib-aupimo",
            "AUPIMO (per image)",
            "anomalib AUPIMO",
            "aupimo",
            on_pixels(anomalib_aupimo),
            aupimo_check,
            "anomalib",
            in_total=True,
        ),
        Job(
            "anomalib-image-auroc",
            "image AUROC",
            "anomalib AUROC (pred_score)",
            "image_auroc",
            on_images(anomalib_auroc_images),
            scalar_check("image_auroc", None),
            "anomalib",
            in_total=True,
            note="image scores (max of each map, taken inside the timed call) are outside [0, 1]: sigmoid applied",
        ),
        Job(
            "adeval",
            "AUROC+AUPR+AUPRO@30%",
            "ADEval auroc_aupr_aupro",
            "pixel_metrics",
            on_pixels(adeval_all),
            adeval_check,
            "adeval",
            note="ours in that row: pixel_metrics = AUROC + AUPRO@30% + AUPRO@5% (no AUPR), exact",
        ),
    ]
    return jobs


def run_job(job: Job, data: CaseData, k: int) -> Timed:
    call = job.setup(data, k)
    result = timed(call)
    del call
    gc.collect()
    return result


def warm_up(jobs: list[Job]) -> dict[str, float]:
    """Import every peer and call each job once on a tiny case (so first-call costs stay out of the rows)."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    import anomalib.metrics  # noqa: F401
    import torch

    seconds["import torch + anomalib.metrics"] = time.perf_counter() - start
    start = time.perf_counter()
    import sklearn.metrics  # noqa: F401

    seconds["import sklearn.metrics"] = time.perf_counter() - start
    start = time.perf_counter()
    import adeval  # noqa: F401

    seconds["import adeval"] = time.perf_counter() - start
    tiny = build_case(CaseSpec("tiny", "tiny", 4, 4, (256, 256)), 1.0, seed=3)
    start = time.perf_counter()
    for job in jobs:
        result = run_job(job, tiny, tiny.num_images)
        if result.error:
            print(f"warning: warm-up of {job.peer} failed: {result.error}")
    seconds["warm-up calls of every peer on a tiny case"] = time.perf_counter() - start
    seconds["torch threads"] = float(torch.get_num_threads())
    return seconds


# ---------------------------------------------------------------------------------------------------------------
# Subset planning


@dataclass
class Plan:
    k: int
    reason: str = ""
    detail: str = ""


@dataclass
class Planner:
    policy: str
    budget: float
    pilot: float
    history: dict[str, tuple[int, float, int]] = field(default_factory=dict)  # name -> (pixels, s, +RSS)

    def plan(self, job: Job, data: CaseData) -> Plan:
        n = data.num_images
        if self.policy == "none":
            return Plan(n)
        if self.policy != "auto":
            k = data.prefix_size(float(self.policy))
            return Plan(k, f"--subset {self.policy}" if k < n else "")
        previous = self.history.get(job.name)
        if previous is None:
            k_pilot = data.prefix_size(self.pilot)
            if k_pilot >= n:
                return Plan(n)
            pilot = run_job(job, data, k_pilot)
            if pilot.error:
                return Plan(n, detail=f"pilot on {k_pilot} images failed ({pilot.error}); running the full set")
            previous = (data.pixels(k_pilot), pilot.seconds, pilot.rss_increase)
            source = f"pilot on {data.describe(k_pilot)}: {pilot.seconds:.1f} s, +{gib(pilot.rss_increase)} GiB"
        else:
            source = f"previous case ({previous[0] / 1e6:.0f} Mpx): {previous[1]:.1f} s, +{gib(previous[2])} GiB"
        pixels0, seconds0, increase0 = previous
        ratio = data.pixels(n) / pixels0
        predicted_s = seconds0 * ratio * max(1.0, math.log(data.pixels(n)) / math.log(pixels0))
        predicted_b = max(increase0, 0) * ratio
        available = meminfo_bytes("MemAvailable")
        detail = (
            f"{source} -> predicted for {n} images {predicted_s:.1f} s, +{gib(predicted_b)} GiB "
            f"(available {gib(available)} GiB, budget {self.budget:.0f} s)"
        )
        fraction = min(1.0, self.budget / max(predicted_s, 1e-9), MEMORY_MARGIN * available / max(predicted_b, 1))
        if fraction >= 1.0:
            return Plan(n, detail=detail)
        reasons = []
        if predicted_s > self.budget:
            reasons.append(f"predicted {predicted_s:.1f} s > {self.budget:.0f} s budget")
        if predicted_b > MEMORY_MARGIN * available:
            reasons.append(f"predicted +{gib(predicted_b)} GiB > {MEMORY_MARGIN:.0%} of {gib(available)} GiB free")
        return Plan(data.prefix_size(0.95 * fraction), "; ".join(reasons), detail)

    def record(self, job: Job, data: CaseData, k: int, result: Timed) -> None:
        if not result.error:
            self.history[job.name] = (data.pixels(k), result.seconds, result.rss_increase)


# ---------------------------------------------------------------------------------------------------------------
# One case


@dataclass
class Row:
    job: Job
    k: int
    plan: Plan
    peer: Timed
    ours: Timed
    check: Check | None


def run_case(data: CaseData, jobs: list[Job], planner: Planner, groups: set[str]) -> tuple[list[Row], Ours]:
    ours = Ours(data)
    n = data.num_images
    log(f"\n[{data.spec.name}] ours on the full set")
    for key in OURS_LABELS:
        result = ours.get(key, n)
        log(f"  {OURS_LABELS[key]:58s} {result.seconds:8.2f} s  peak {result.rss()} GiB  {result.error or ''}")
    rows = []
    for job in jobs:
        if job.group not in groups:
            continue
        plan = planner.plan(job, data)
        if plan.detail:
            log(f"[{data.spec.name}] {job.metric} / {job.peer}: {plan.detail}")
        if plan.reason:
            log(f"[{data.spec.name}] {job.metric} / {job.peer}: SUBSET {data.describe(plan.k)} because {plan.reason}")
        peer = run_job(job, data, plan.k)
        planner.record(job, data, plan.k, peer)
        mine = ours.get(job.ours_key, plan.k)
        check = None if peer.error or mine.error else job.compare(peer.value, ours, plan.k)
        rows.append(Row(job, plan.k, plan, peer, mine, check))
        log(
            f"[{data.spec.name}] {job.metric:20s} {job.peer:32s} {data.describe(plan.k):18s} {peer.seconds:8.2f} s  "
            f"peak {peer.rss()} GiB  "
            + (peer.error or f"{check.diff if check else ''}  {check.status if check else ''}")
        )
    return rows, ours


def print_case(data: CaseData, rows: list[Row], ours: Ours, checksum_ok: bool) -> None:
    n = data.num_images
    spec = data.spec
    print()
    title = (
        f"== {spec.name}: {spec.description}, {spec.num_normal} normal + {spec.num_anomalous} anomalous at "
        f"{spec.shape[0]}x{spec.shape[1]} (HxW), {data.pixels(n) / 1e6:.1f} Mpx, maps {gib(data.maps.nbytes)} GiB "
        f"float32, anomalous pixels {data.masks.mean():.2%} =="
    )
    print(title)
    header = (
        f"{'metric':20s} {'peer':32s} {'images':18s} {'peer s':>8s} {'ours s':>7s} {'speed-up':>9s} "
        f"{'peer peak RSS GiB':>18s} {'ours peak RSS GiB':>18s}  {'|diff| vs ours':22s} check"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        subset = "" if row.k == n else " SUBSET"
        images = data.describe(row.k) + subset
        if row.peer.error:
            print(f"{row.job.metric:20s} {row.job.peer:32s} {images:18s} ERROR {row.peer.error}")
            continue
        speedup = row.peer.seconds / row.ours.seconds if row.ours.seconds > 0 else float("inf")
        check = row.check or Check("", "", "", "")
        print(
            f"{row.job.metric:20s} {row.job.peer:32s} {images:18s} {row.peer.seconds:8.2f} {row.ours.seconds:7.2f} "
            f"{speedup:8.1f}x {row.peer.rss():>18s} {row.ours.rss():>18s}  {check.diff:22s} {check.status}"
        )
    totals = [row for row in rows if row.job.in_total and not row.peer.error]
    ks = {row.k for row in totals}
    if totals and len(ks) == 1:
        k = ks.pop()
        peer_total = sum(row.peer.seconds for row in totals)
        ours_parts = [ours.get(key, k) for key in ("pixel_metrics", "aupimo", "image_auroc")]
        ours_total = sum(part.seconds for part in ours_parts)
        peer_peak = max(row.peer.rss_peak for row in totals)
        ours_peak = max(part.rss_peak for part in ours_parts)
        subset = "" if k == n else " SUBSET"
        print("-" * len(header))
        print(
            f"{'TOTAL':20s} {'anomalib (' + str(len(totals)) + ' rows)':32s} {data.describe(k) + subset:18s} "
            f"{peer_total:8.2f} {ours_total:7.2f} {peer_total / ours_total:8.1f}x {gib(peer_peak):>18s} "
            f"{gib(ours_peak):>18s}  ours = pixel_metrics + aupimo + image_auroc"
        )
    elif totals:
        print("TOTAL anomalib vs ours: not printed, the anomalib rows ran on different subsets (see the rows).")
    print("Values (peer | ours):")
    for row in rows:
        if row.check:
            print(f"  {row.job.metric:20s} {row.job.peer:32s} {row.check.peer_value} | {row.check.ours_value}")
    notes = [f"  {row.job.peer}: {row.job.note}" for row in rows if row.job.note]
    notes += [
        f"  {row.job.peer}: SUBSET of the first {data.describe(row.k)} images because {row.plan.reason}; ours was "
        "timed on the same images for that row"
        for row in rows
        if row.k < n
    ]
    if notes:
        print("Notes:")
        print("\n".join(dict.fromkeys(notes)))
    full = ours.cache
    pimo = full.get(("aupimo", n))
    if pimo and not pimo.error:
        print(
            f"Ours, AUPIMO on the full set: {pimo.value.num_points} points, thresholds "
            f"{pimo.value.thresh_bounds[0]:.6g}..{pimo.value.thresh_bounds[1]:.6g}"
        )
    print(f"Inputs unchanged after every peer ran (checksum of maps and masks): {'yes' if checksum_ok else 'NO'}")


# ---------------------------------------------------------------------------------------------------------------
# Main


def machine_info() -> str:
    import numba

    lines = [
        f"machine: {cpu_model()}, {os.cpu_count()} logical cores ({len(os.sched_getaffinity(0))} usable), "
        f"RAM {gib(meminfo_bytes('MemTotal'))} GiB total, {gib(meminfo_bytes('MemAvailable'))} GiB available",
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"{platform.system()} {platform.release()}",
    ]
    versions = []
    for module in ("torch", "torchmetrics", "anomalib", "sklearn", "adeval"):
        try:
            from importlib.metadata import version

            dist = {"sklearn": "scikit-learn", "adeval": "ADEval"}.get(module, module)
            versions.append(f"{module} {version(dist)}")
        except Exception:
            versions.append(f"{module} (not installed)")
    lines.append("peers: " + ", ".join(versions))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="screw,visa", help="comma-separated: screw, visa")
    parser.add_argument("--scale", type=float, default=1.0, help="scale H and W of every case (e.g. 0.25)")
    parser.add_argument(
        "--subset", default="auto", help="auto (pilot + budget), none (always the full set), or a fraction in (0, 1]"
    )
    parser.add_argument("--budget", type=float, default=600.0, help="seconds a peer may take on the full set")
    parser.add_argument("--pilot", type=float, default=0.125, help="fraction of the images for the auto pilot")
    parser.add_argument("--peers", default="anomalib,sklearn,adeval", help="comma-separated peer groups to run")
    parser.add_argument("--no-raw-auroc", action="store_true", help="skip anomalib AUROC on the raw (sigmoid) maps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {sorted(CASES)}")
    if args.subset not in ("auto", "none") and not 0 < float(args.subset) <= 1:
        parser.error("--subset must be auto, none or a fraction in (0, 1]")
    groups = {g.strip() for g in args.peers.split(",") if g.strip()}

    if not hasattr(np, "trapz"):
        # ADEval 1.1 calls np.trapz, which NumPy 2.4 removed; np.trapezoid is the same function under its new name.
        np.trapz = np.trapezoid  # type: ignore[attr-defined]
        trapz_shim = True
    else:
        trapz_shim = False

    print(machine_info())
    print(
        f"command: {' '.join(sys.argv)}\nsubset policy: {args.subset}, budget {args.budget:.0f} s per peer, "
        f"pilot {args.pilot:g} of the images, memory margin {MEMORY_MARGIN:.0%} of available RAM"
    )
    if trapz_shim:
        print("note: numpy has no np.trapz (removed in NumPy 2.4); set np.trapz = np.trapezoid so ADEval 1.1 runs")

    # Our import and numba first call, apart from everything else.
    cache_before = numba_cache_files()
    start = time.perf_counter()
    import aupimo_cli.metrics as metrics

    import_seconds = time.perf_counter() - start
    tiny_maps, tiny_masks = synthetic_category(2, 2, (64, 64), seed=1)
    with quiet():
        first_pixel = timed(lambda: metrics.pixel_metrics(tiny_maps, tiny_masks))
        first_pimo = timed(lambda: metrics.aupimo(tiny_maps, tiny_masks, fpr_bounds=(1e-2, 1e-1), num_thresholds=1000))
    cache_after = numba_cache_files()
    compiled = any(cache_before.get(path) != mtime for path, mtime in cache_after.items())
    print(
        f"ours: import aupimo_cli.metrics {import_seconds:.2f} s; numba first call "
        f"({'compiled and cached now' if compiled else 'loaded from the cache'}): pixel kernels "
        f"{first_pixel.seconds:.2f} s, AUPIMO kernels {first_pimo.seconds:.2f} s (not in the rows)"
    )

    jobs = [job for job in make_jobs(raw_auroc=not args.no_raw_auroc) if job.group in groups]
    # anomalib logs the same conditions our functions warn about (AUPIMO buffers, FPR bound reached within
    # 1e-2 or not); both are silenced here, the values and the number of AUPIMO points are printed instead.
    logging.getLogger("anomalib").setLevel(logging.ERROR)
    warm = warm_up(jobs)
    print(
        "peers: "
        + ", ".join(f"{name} {value:.2f} s" for name, value in warm.items() if name != "torch threads")
        + f" (not in the rows); torch uses {int(warm['torch threads'])} threads"
    )
    print(
        "anomalib classes called: anomalib.metrics.AUROC(fields=('anomaly_map', 'gt_mask')) on pixels, "
        "AUROC(fields=('pred_score', 'gt_label')) on images, AUPRO(fields=('anomaly_map', 'gt_mask'), "
        "fpr_limit=0.3 / 0.05), AUPIMO(num_thresholds=300_000, fpr_bounds=(1e-5, 1e-4), return_average=False); "
        "each is .update(batch) once with a batch whose fields are torch.from_numpy views of the same arrays "
        "(AnomalibMetric.update only reads the named fields), then .compute()."
    )

    planner = Planner(args.subset, args.budget, args.pilot)
    failures: list[str] = []
    errors: list[str] = []
    for name in cases:
        log(f"\n[{name}] generating ...")
        data = build_case(CASES[name], args.scale, args.seed)
        log(
            f"[{name}] {data.num_images} images at {data.spec.shape[0]}x{data.spec.shape[1]} generated in "
            f"{data.generate_seconds:.1f} s; process RSS {gib(current_rss_bytes())} GiB"
        )
        checksum = data.checksum()
        rows, ours = run_case(data, jobs, planner, groups)
        checksum_ok = data.checksum() == checksum
        print_case(data, rows, ours, checksum_ok)
        sys.stdout.flush()
        failures += [
            f"{name}: {row.job.peer} {row.job.metric}" for row in rows if row.check and "FAIL" in row.check.status
        ]
        errors += [f"{name}: {row.job.peer}: {row.peer.error}" for row in rows if row.peer.error]
        if not checksum_ok:
            failures.append(f"{name}: the inputs changed while the peers ran")
        del data, rows, ours
        gc.collect()

    print()
    print("checks: " + ("all PASS" if not failures else "FAIL: " + "; ".join(failures)))
    if errors:
        print("peers that failed: " + "; ".join(errors))


if __name__ == "__main__":
    main()
