"""Evaluate one dataset category from folders of maps and masks: the code path behind ``aupimo evaluate``.

`evaluate_category` pairs and loads the files (``aupimo_cli.io``), runs the metric core and assembles every
output as plain data; `write_evaluation` writes that data as one atomic set of files (``aupimo_cli.report``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from .._masks import mask_pixel_count
from .._memory import release_free_memory
from ..errors import InputError
from ..io.discovery import DEFAULT_NORMAL_DIRS, ImagePair, find_loco_pairs, find_pairs, split_filter
from ..io.loader import LoadedCategory, load_category
from ..io.loco import (
    ANOMALY_TYPES,
    DEFECTS_CONFIG_FILE,
    DefectsConfig,
    defects_config_beside,
    is_loco_ground_truth,
    read_defects_config,
)
from ..metrics._inputs import MetricInputError
from ..metrics.bootstrap import Resampling, percentile_interval
from ..metrics.pimo import DEFAULT_FPR_BOUNDS, DEFAULT_NUM_THRESHOLDS, AUPIMOResult
from ..metrics.pro import DEFAULT_FPR_LIMITS, aupro_key
from ..metrics.registry import (
    AUPIMO_PASS,
    DEFAULT_METRICS,
    DEFAULT_ORACLE_RATES,
    METRICS,
    MOMENTS,
    PER_IMAGE_AUPIMO,
    PIXEL_PASS,
    REGISTRY,
    PassResults,
    Replicating,
    key_params,
    metric_values,
    needed_passes,
    replicate_values,
    summary_keys,
    unknown_metrics,
    uses_option,
)
from ..metrics.spro import DEFAULT_SPRO_LIMITS, SPRO_EVALUATIONS, DefectSets, saturation_area, spro_key
from ..report.atomic import staged_folder
from ..report.manifest import PROVENANCE_FILE, list_files, manifest_record
from ..report.writers import (
    write_curves,
    write_json,
    write_metric_files,
    write_per_image,
    write_replicates,
    write_summary,
)
from .calibrate import Thresholds
from .operating import OperatingPoints, measure_operating_points, per_defect_markdown

if TYPE_CHECKING:
    from ..metrics.curves import CurveRows


class Progress(Protocol):
    """Where long stages report progress (the CLI draws a rich progress bar; the library stays silent)."""

    def stage(self, description: str, total: int | None = None) -> None:
        """Start a new stage; `total` is its number of steps, or None when unknown."""

    def advance(self, steps: int = 1) -> None:
        """Mark `steps` steps of the current stage done."""


class SilentProgress:
    """A `Progress` that shows nothing."""

    def stage(self, description: str, total: int | None = None) -> None:
        return None

    def advance(self, steps: int = 1) -> None:
        return None


@dataclass(frozen=True)
class EvaluateOptions:
    """Everything that affects the results of an evaluation (and so goes into provenance.json)."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    aupro_limits: tuple[float, ...] = DEFAULT_FPR_LIMITS
    fpr_bounds: tuple[float, float] = DEFAULT_FPR_BOUNDS
    num_thresholds: int = DEFAULT_NUM_THRESHOLDS
    normal_dirs: tuple[str, ...] = DEFAULT_NORMAL_DIRS
    force: bool = False
    oracle_rates: tuple[float, ...] = DEFAULT_ORACLE_RATES
    thresholds: Thresholds | None = None
    bootstrap: int = 0
    ci_level: float = 0.95
    seed: int = 0
    bootstrap_pixel_ap: bool = False
    spro_limits: tuple[float, ...] = DEFAULT_SPRO_LIMITS
    defects: DefectsConfig | None = None

    def __post_init__(self) -> None:
        unknown = unknown_metrics(self.metrics)
        if unknown or not self.metrics:
            raise InputError(
                f"--metrics: unknown {', '.join(unknown) or 'empty list'}; choose from {','.join(METRICS)}."
            )
        needing = [name for name in self.metrics if METRICS[name].needs_thresholds]
        if self.thresholds is None and needing:
            raise InputError(
                f"--metrics {','.join(needing)} needs thresholds chosen on validation: pass --thresholds "
                "thresholds.json (from aupimo calibrate) or --val-maps DIR"
            )
        if self.thresholds is not None:
            # Thresholds given: the metrics that need them are measured too.
            missing = [
                metric.name for metric in REGISTRY if metric.needs_thresholds and metric.name not in self.metrics
            ]
            object.__setattr__(self, "metrics", (*self.metrics, *missing))
        needing = [name for name in self.metrics if METRICS[name].needs_defects]
        if self.defects is None and needing:
            raise InputError(
                f"--metrics {','.join(needing)} needs MVTec LOCO's ground truth (MASKS/<type>/<id>/<k>.png, one mask "
                f"per defect, and {DEFECTS_CONFIG_FILE}): evaluate a LOCO category, or leave it out of --metrics"
            )
        if self.defects is not None:
            # MVTec LOCO's ground truth: the metrics that need it are computed too.
            missing = [metric.name for metric in REGISTRY if metric.needs_defects and metric.name not in self.metrics]
            object.__setattr__(self, "metrics", (*self.metrics, *missing))
        if not all(0 < limit <= 1 for limit in self.spro_limits) or not self.spro_limits:
            raise InputError(f"--spro-limits: every FPR limit must be in (0, 1], got {list(self.spro_limits)}.")
        if len(set(map(spro_key, self.spro_limits))) != len(self.spro_limits):
            raise InputError(f"--spro-limits: limits must be distinct, got {list(self.spro_limits)}.")
        if not self.oracle_rates or not all(0 < rate < 1 for rate in self.oracle_rates):
            raise InputError(f"--oracle-rates: every rate must be in (0, 1), got {list(self.oracle_rates)}.")
        if not all(0 < limit <= 1 for limit in self.aupro_limits) or not self.aupro_limits:
            raise InputError(f"--aupro-limits: every FPR limit must be in (0, 1], got {list(self.aupro_limits)}.")
        if len(set(map(aupro_key, self.aupro_limits))) != len(self.aupro_limits):
            raise InputError(f"--aupro-limits: limits must be distinct, got {list(self.aupro_limits)}.")
        lower, upper = self.fpr_bounds
        if not 0 < lower < upper <= 1:
            raise InputError(f"--fpr-bounds: need 0 < lower < upper <= 1, got {lower:g},{upper:g}.")
        if self.num_thresholds < 2:
            raise InputError(f"--num-thresholds must be at least 2, got {self.num_thresholds}.")
        if self.bootstrap < 0:
            raise InputError(f"--bootstrap must be 0 (off) or a number of replicates, e.g. 1000, not {self.bootstrap}.")
        if not 0 < self.ci_level < 1:
            raise InputError(f"--ci-level must be in (0, 1), such as 0.95, got {self.ci_level}.")
        if self.bootstrap_pixel_ap and not self.bootstrap:
            raise InputError("--bootstrap-pixel-ap goes with --bootstrap B (the number of replicates, e.g. 1000).")

    def to_json(self) -> dict[str, Any]:
        loco = (
            {}
            if self.defects is None
            else {"spro_limits": list(self.spro_limits), "defects_config": self.defects.to_json()}
        )
        return {
            "metrics": list(self.metrics),
            "aupro_limits": list(self.aupro_limits),
            "fpr_bounds": list(self.fpr_bounds),
            "num_thresholds": self.num_thresholds,
            "normal_dirs": list(self.normal_dirs),
            "force": self.force,
            "oracle_rates": list(self.oracle_rates),
            "thresholds": None if self.thresholds is None else self.thresholds.to_json(),
            "ci_level": self.ci_level,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "bootstrap_pixel_ap": self.bootstrap_pixel_ap,
            # Only MVTec LOCO's results record its options: every other folder's provenance stays as it was.
            **loco,
        }

    def key_params(self) -> dict[str, Any]:
        """The option values the summary keys depend on (`registry.KeyParams`)."""
        return key_params(
            self.aupro_limits,
            self.oracle_rates,
            bootstrap=self.bootstrap > 0,
            bootstrap_pixel_ap=self.bootstrap_pixel_ap,
            spro_limits=self.spro_limits
            if self.defects is not None and uses_option(self.metrics, "spro_limits")
            else (),
        )

    def resampling(self) -> Resampling | None:
        """The bootstrap scheme, or None without ``--bootstrap``."""
        return Resampling(self.bootstrap, self.seed, self.ci_level) if self.bootstrap else None


@dataclass
class Evaluation:
    """The results of one category, ready to be written.

    Attributes:
        summary: ``summary.json``, every key in order (null for the metrics left out).
        per_image: the ``per_image.parquet`` columns.
        options: what was computed, and with which parameters.
        own_files: the result files of their own format (``aupimo/aupimos.json``, the operating points'), by
            path in the results folder.
        provenance: ``provenance.json`` without its manifest, which the writer adds.
        notes: what the user should know about the inputs and the numbers.
        operating_rows: the per-defect operating points (``per_defect.csv``), when thresholds were measured.
        replicates: each bootstrapped key's (B,) replicate values (``bootstrap.parquet``), with ``--bootstrap``.
        curves: the rows of ``curves.parquet``, curve by curve (`metrics.curves.curve_rows`): the curves of the
            metrics computed, decimated for drawing.
    """

    summary: dict[str, Any]
    per_image: dict[str, list[Any]]
    options: EvaluateOptions
    own_files: dict[str, str]
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    operating_rows: list[dict[str, Any]] = field(default_factory=list)
    replicates: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    curves: list[CurveRows] = field(default_factory=list)


# Memory model of `evaluate_category` at its peak (bytes), checked against --max-memory before loading:
# the interpreter and libraries, then per full-resolution pixel the float32 map and the bool mask, and per
# anomalous pixel its score, PRO weight, argsort index and their sorted copies.
BASE_BYTES = 350 * 2**20
BYTES_PER_PIXEL = 4 + 1
BYTES_PER_ANOMALOUS_PIXEL = 4 + 8 + 8 + 4 + 8


def estimate_peak_bytes(shapes: Sequence[tuple[int, int]], masks: Sequence[np.ndarray]) -> int:
    """Estimated peak memory of evaluating images of these full-resolution `shapes` with these masks."""
    num_pixels = sum(height * width for height, width in shapes)
    num_anomalous = sum(int(np.count_nonzero(mask)) for mask in masks)
    return BASE_BYTES + num_pixels * BYTES_PER_PIXEL + num_anomalous * BYTES_PER_ANOMALOUS_PIXEL


def memory_guard(max_bytes: int | None) -> Callable[[list[tuple[int, int]], list[np.ndarray]], None] | None:
    """A `load_category` hook that refuses, before the maps are read, a category needing more than `max_bytes`."""
    if max_bytes is None:
        return None

    def check(shapes: list[tuple[int, int]], masks: list[np.ndarray]) -> None:
        need = estimate_peak_bytes(shapes, masks)
        if need > max_bytes:
            raise InputError(
                f"evaluating these {len(shapes)} images needs about {need / 2**30:.2f} GiB (maps at full resolution "
                f"as float32, plus masks and sort space) but --max-memory allows {max_bytes / 2**30:.2f} GiB: raise "
                "--max-memory if the machine has the memory, or evaluate fewer images at once"
            )

    return check


def category_name(maps_root: Path, given: str | None) -> str:
    """`given`, else the MAPS folder's name, or its parent's when the folder is called ``test``."""
    if given:
        return given
    resolved = Path(os.path.abspath(maps_root))
    return resolved.parent.name if resolved.name == "test" else resolved.name


def _size_and_sha256(path: Path) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def input_fingerprint(
    maps_root: Path,
    masks_root: Path,
    pairs: Sequence[ImagePair],
    known: dict[Path, tuple[int, str]] | None = None,
) -> tuple[str, int]:
    """SHA-256 over the sorted input files, each as relative path, size and SHA-256 of its content.

    Args:
        maps_root, masks_root, pairs: the files, as `find_pairs` found them.
        known: (size, SHA-256) of files already read (`LoadedCategory.file_digests`), which are not read again.

    Returns:
        (``"sha256:<hex>"``, number of files hashed).
    """
    known = known or {}
    files = [("maps/" + pair.map_path.relative_to(maps_root).as_posix(), pair.map_path) for pair in pairs]
    files += [("masks/" + path.relative_to(masks_root).as_posix(), path) for pair in pairs for path in pair.mask_files]
    files.sort()
    missing = [path for _, path in files if path not in known]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        read = dict(zip(missing, pool.map(_size_and_sha256, missing), strict=True))
    digest = hashlib.sha256()
    for name, path in files:
        size, content_hash = known[path] if path in known else read[path]
        digest.update(f"{name}\t{size}\t{content_hash}\n".encode())
    return "sha256:" + digest.hexdigest(), len(files)


def _library_versions() -> dict[str, str]:
    import cv2
    import numba
    import scipy
    import tifffile

    return {
        "numpy": np.__version__,
        "numba": numba.__version__,
        "opencv": cv2.__version__,
        "scipy": scipy.__version__,
        "tifffile": tifffile.__version__,
    }


def operating_files(operating: OperatingPoints, thresholds: Thresholds, summary: dict[str, Any]) -> dict[str, str]:
    """The operating points' files: ``operating_points.json`` (the thresholds, the test-set figures, the
    per-defect rows and the oracle figures, labelled optimistic), ``per_defect.csv``/``.md`` and the
    ``thresholds.json`` used."""
    from ..metrics.registry import METRICS
    from ..report.writers import json_text, summary_csv

    oracle = METRICS["oracle"]
    record = {
        "thresholds": thresholds.to_json(),
        "test": operating.headline,
        "per_defect": operating.per_defect,
        "oracle_optimistic": {key: value for key, value in summary.items() if oracle.owns_key(key)},
    }
    return {
        "operating_points.json": json_text(record),
        "per_defect.csv": summary_csv(operating.per_defect),
        "per_defect.md": per_defect_markdown(operating.per_defect, thresholds),
        "thresholds.json": json_text(thresholds.to_json()),
    }


def with_loco_defects(
    options: EvaluateOptions, masks_root: Path, defects_config: Path | None = None, *, required: bool = False
) -> EvaluateOptions:
    """The options with MVTec LOCO's defect types when `masks_root` holds LOCO's ground truth (one folder of
    defect masks per anomalous image, `loco.is_loco_ground_truth`), read from `defects_config` or else from the
    category's ``defects_config.json`` beside the ground-truth folder; the options unchanged otherwise.

    Raises:
        InputError: the config is missing or invalid; or, with `required` (``--layout mvtec-loco``), the masks are
            not LOCO's.
    """
    if defects_config is None and not is_loco_ground_truth(masks_root):
        if required:
            raise InputError(
                f"{masks_root} does not hold MVTec LOCO ground truth (<type>/<id>/<k>.png, one folder of defect masks "
                "per anomalous image): pass the category's ground_truth folder, or choose another --layout"
            )
        return options
    path = defects_config if defects_config is not None else defects_config_beside(masks_root)
    return dataclasses.replace(options, defects=read_defects_config(path))


def find_category_pairs(
    maps_root: Path, masks_root: Path, options: EvaluateOptions, keep: Callable[[str], bool] | None = None
) -> list[ImagePair]:
    """The category's images: `find_loco_pairs` for MVTec LOCO's ground truth (options with defect types), else
    `find_pairs` (with the split filter `keep`)."""
    if options.defects is not None:
        return find_loco_pairs(maps_root, masks_root, options.normal_dirs)
    return find_pairs(maps_root, masks_root, options.normal_dirs, keep=keep)


def defect_sets(loaded: LoadedCategory, defects_config: DefectsConfig) -> DefectSets:
    """MVTec LOCO's defects for sPRO: each defect's pixels and saturation area (``defects_config.json``), the good
    images in group 0 and each anomaly folder's (`loco.ANOMALY_TYPES`) in its own, each evaluated with the good.

    Raises:
        InputError: a defect whose saturation area rounds down to 0 pixels.
    """
    types = defects_config.by_pixel_value
    folders = [name.casefold() for name in ANOMALY_TYPES]
    image: list[int] = []
    positions: list[NDArray[np.int64]] = []
    saturation: list[int] = []
    groups = np.zeros(len(loaded.pairs), dtype=np.int64)
    for index, (pair, defects) in enumerate(zip(loaded.pairs, loaded.defects, strict=True)):
        if defects:
            groups[index] = 1 + folders.index(pair.defect.casefold())
        for defect in defects:
            kind = types[defect.pixel_value]
            area = saturation_area(defect.area, kind.saturation_threshold, kind.relative)
            if area < 1:
                raise InputError(
                    f"{defect.path}: its defect type {kind.name!r} saturates at {kind.saturation_threshold} of its "
                    f"{defect.area} pixel(s), which is 0 pixels (int(s * area), as MVTec LOCO's code), so its sPRO "
                    f"is undefined: check that type's saturation_threshold in {DEFECTS_CONFIG_FILE}"
                )
            image.append(index)
            positions.append(defect.positions)
            saturation.append(area)
    evaluations = {evaluation: (0, group) for group, evaluation in enumerate(SPRO_EVALUATIONS, start=1)}
    return DefectSets(
        np.array(image, dtype=np.int64), positions, np.array(saturation, dtype=np.int64), groups, evaluations
    )


def split_while_loading() -> Callable[[int, np.ndarray, np.ndarray], tuple[int, float]]:
    """A `load_category` hook that splits and sorts each map's scores in place (`metrics._pass.ImageSplitter`) on
    the loader thread, while the next files are read; it returns (number of normal pixels, image score: the
    map's maximum). The maps' spatial layout is gone afterwards: every metric needs only
    the split scores."""
    import threading

    from ..metrics._pass import ImageSplitter

    local = threading.local()

    def split(index: int, amap: np.ndarray, mask: np.ndarray) -> tuple[int, float]:
        splitter = getattr(local, "splitter", None)
        if splitter is None:
            splitter = local.splitter = ImageSplitter()
        flat = amap.reshape(-1)
        num_normal = splitter.split_image(flat, mask)
        # The maximum from the split: the last normal score (sorted) or the largest of the few anomalous ones.
        candidates = [float(flat[num_normal - 1])] if num_normal else []
        if num_normal < flat.size:
            candidates.append(float(flat[num_normal:].max()))
        return num_normal, max(candidates)

    return split


def _compute_metrics(
    loaded: LoadedCategory, labels: np.ndarray, options: EvaluateOptions, progress: Progress, notes: list[str]
) -> tuple[
    PassResults, dict[str, float | None], OperatingPoints | None, dict[str, NDArray[np.float64]], list[CurveRows]
]:
    """Run the shared passes that the requested metrics need (`registry.needed_passes`), once each, then the
    bootstrap when asked for.

    `labels` (N,) are the image labels, 1 where the mask has an anomalous pixel.

    Returns:
        (what the passes computed, every requested metric's value by summary key (with the intervals), the
        operating points at the options' thresholds or None, each bootstrapped key's replicate values, the
        decimated curves of the passes that ran (`metrics.curves.curve_rows`)).
    """
    from ..metrics._pass import split_from_flats, split_pixel_pass
    from ..metrics.curves import pimo_curve_rows, pixel_curve_rows
    from ..metrics.pimo import aupimo_of_values

    num_anomalous = int(labels.sum())
    num_normal = labels.size - num_anomalous
    # The loader split and sorted each map's scores as it arrived (`split_while_loading`).
    num_normals = [num for num, _ in loaded.after_map_results]
    image_scores = np.array([score for _, score in loaded.after_map_results], dtype=np.float64)
    split = split_from_flats([amap.reshape(-1) for amap in loaded.maps], num_normals, loaded.masks, image_scores)

    if num_anomalous == 0:
        raise InputError(
            f"Every mask is empty: no anomalous image among {labels.size}, so no metric can be computed. "
            "Check that MASKS is the ground-truth folder of this category."
        )
    needs_normal = [name for name in options.metrics if METRICS[name].needs_normal_images]
    if num_normal == 0 and needs_normal:
        others = [name for name in options.metrics if not METRICS[name].needs_normal_images]
        fallback = [metric.name for metric in REGISTRY if not metric.needs_normal_images]
        raise InputError(
            f"No normal image among {labels.size}: {', '.join(needs_normal)} need normal images (maps in a folder "
            f"named {'/'.join(options.normal_dirs)}, or with empty masks). Add the normal images, or compute the "
            f"metrics that work without them with --metrics {','.join(others or fallback)}."
        )

    passes = needed_passes(options.metrics)
    # Only for the metrics asked for: an AUPRO limit integrated for nothing would cost time, not numbers.
    limits = tuple(options.aupro_limits) if uses_option(options.metrics, "aupro_limits") else ()
    spro_limits = options.key_params()["spro_limits"]
    aupimo_result: AUPIMOResult | None = None
    pixel = None
    pimo_rows: list[CurveRows] = []
    try:
        if AUPIMO_PASS in passes:
            progress.stage("AUPIMO")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                aupimo_result = aupimo_of_values(
                    [normal for normal, label in zip(split.normal, labels, strict=True) if label == 0],
                    [
                        anomalous if label == 1 else None
                        for anomalous, label in zip(split.anomalous, labels, strict=True)
                    ],
                    split.normal[0].dtype,
                    fpr_bounds=options.fpr_bounds,
                    num_thresholds=options.num_thresholds,
                    force=options.force,
                    paths=[pair.relpath for pair in loaded.pairs],
                    keep_curves=True,
                )
            notes.extend(f"AUPIMO: {warning.message}" for warning in caught)
            # Decimated now, so that the full PIMO curves are freed before the pixel pass's peak of memory.
            pimo_rows = pimo_curve_rows(aupimo_result.curves, [pair.relpath for pair in loaded.pairs])
            aupimo_result = dataclasses.replace(aupimo_result, curves=None)
        if passes & {PIXEL_PASS, MOMENTS}:
            progress.stage("pixel metrics")
            walk = PIXEL_PASS in passes
            defects = defect_sets(loaded, options.defects) if walk and spro_limits and options.defects else None
            pixel = split_pixel_pass(
                split, limits, walk=walk, curves=walk, defects=defects, spro_limits=spro_limits if defects else ()
            )
        # The curves' full points and counts are dropped once decimated: only the rows are kept, in the order of
        # `curves.curve_rows`.
        lines, histograms = pixel_curve_rows(None if pixel is None else pixel.curves, max(limits) if limits else None)
        curves = [*lines, *pimo_rows, *histograms]
        if pixel is not None:
            pixel = dataclasses.replace(pixel, curves=None)
        operating = None
        if options.thresholds is not None:
            progress.stage("operating points")
            operating = measure_operating_points(
                split,
                labels,
                [pair.defect for pair in loaded.pairs],
                None if aupimo_result is None else aupimo_result.aupimos,
                options.thresholds,
            )
        results = PassResults(
            image_scores,
            labels,
            pixel,
            aupimo_result,
            limits,
            None if operating is None else operating.headline,
            tuple(options.oracle_rates),
            options.ci_level,
            spro_limits,
        )
        values = metric_values(options.metrics, results)
        replicates: dict[str, NDArray[np.float64]] = {}
        resampling = options.resampling()
        if resampling is not None:
            progress.stage(f"bootstrap, {resampling.num_replicates} replicates")
            replicating = Replicating(
                resampling.weights(labels),
                results,
                split if passes & {PIXEL_PASS} else None,
                None if operating is None else operating.per_image,
                options.bootstrap_pixel_ap,
            )
            replicates = replicate_values(options.metrics, replicating, options.key_params())
            for key, samples in replicates.items():
                values[f"{key}_ci_low"], values[f"{key}_ci_high"] = percentile_interval(samples, resampling.level)
    except MetricInputError as error:  # any other exception from the core is a bug, reported as one
        raise InputError(str(error)) from error
    return results, values, operating, replicates, curves


def evaluate_category(
    maps_root: Path,
    masks_root: Path,
    options: EvaluateOptions,
    *,
    images_root: Path | None = None,
    category: str | None = None,
    progress: Progress | None = None,
    split_csv: Path | None = None,
    max_memory_bytes: int | None = None,
) -> Evaluation:
    """Pair, load and evaluate one category; nothing is written.

    Args:
        maps_root: folder of anomaly maps, ``<defect>/<name>.<ext>``.
        masks_root: folder of ground-truth masks, ``<defect>/<name>_mask.png`` or ``<defect>/<name>.png``.
        options: the metrics and their parameters.
        images_root: the dataset's original test images, for the sizes of normal images when masks disagree.
        category: the category's name; by default derived from `maps_root` (see `category_name`).
        progress: where to report progress; silent by default.
        split_csv: VisA's ``split_csv/1cls.csv``: evaluate only the category's test images listed there.
        max_memory_bytes: refuse, before reading any map, a category whose estimated peak memory exceeds it.

    Raises:
        InputError: any bad input, with a one-line message naming the file and the fix.
    """
    from ..metrics import count_regions
    from ..metrics._warmup import warm_kernels_in_background

    progress = progress or SilentProgress()
    # numba's one-off start-up (about 0.8 s) overlaps the reading of the files.
    warmup = warm_kernels_in_background()
    notes: list[str] = []
    name = category_name(maps_root, category)
    keep = None if split_csv is None else split_filter(split_csv, name)
    pairs = find_category_pairs(maps_root, masks_root, options, keep)
    progress.stage("loading maps and masks", total=len(pairs))
    # The budget bounds each file's decoded size too, read from its header: a decompression bomb is refused
    # before it is decoded.
    loaded = load_category(
        pairs,
        images_root=images_root,
        progress=progress.advance,
        before_maps=memory_guard(max_memory_bytes),
        max_decoded_bytes=max_memory_bytes,
        after_map=split_while_loading(),
        defect_values=None if options.defects is None else set(options.defects.by_pixel_value),
        compact_masks=True,
    )
    release_free_memory()
    if loaded.num_aspect_changed:
        notes.append(
            f"{loaded.num_aspect_changed} map(s) have another aspect ratio than their mask and were resized "
            "without cropping, as the AUPIMO protocol does (maps from center-cropped inputs cannot be detected)."
        )
    if loaded.num_empty_defect_masks:
        notes.append(
            f"{loaded.num_empty_defect_masks} mask(s) outside the normal folders are empty: those images count as "
            "normal, as in the MVTec AD evaluation."
        )

    warmup.join()
    labels = np.array([int(mask.any()) for mask in loaded.masks], dtype=np.int32)
    results, metric_values_by_key, operating, replicates, curves = _compute_metrics(
        loaded, labels, options, progress, notes
    )
    aupimo_result = results.aupimo

    progress.stage("fingerprinting inputs")
    fingerprint, num_files = input_fingerprint(maps_root, masks_root, loaded.pairs, loaded.file_digests)
    aupimos = aupimo_result.aupimos if aupimo_result is not None else None
    per_image: dict[str, list[Any]] = {
        "path": [pair.relpath for pair in loaded.pairs],
        "defect": [pair.defect for pair in loaded.pairs],
        "label": labels.tolist(),
        "image_score": [float(v) for v in results.image_scores],
        PER_IMAGE_AUPIMO: [None] * len(labels)
        if aupimos is None
        else [None if math.isnan(v) else float(v) for v in aupimos],
        "mask_pixels": [mask_pixel_count(mask) for mask in loaded.masks],
        "num_regions": [count_regions(mask) for mask in loaded.masks],
        "height": [int(mask.shape[0]) for mask in loaded.masks],
        "width": [int(mask.shape[1]) for mask in loaded.masks],
        "rejected": [None] * len(labels) if operating is None else [int(v) for v in operating.rejected],
        "decision": [None] * len(labels) if operating is None else list(operating.decisions),
        "iou": [None] * len(labels)
        if operating is None
        else [None if math.isnan(v) else float(v) for v in operating.ious],
    }
    num_anomalous = int(labels.sum())
    values: dict[str, Any] = {"category": name, **metric_values_by_key}
    values.update(
        {
            "num_images": len(labels),
            "num_normal": len(labels) - num_anomalous,
            "num_anomalous": num_anomalous,
            "fpr_lower_bound": options.fpr_bounds[0],
            "fpr_upper_bound": options.fpr_bounds[1],
            "thresh_lower_bound": aupimo_result.thresh_bounds[0] if aupimo_result else None,
            "thresh_upper_bound": aupimo_result.thresh_bounds[1] if aupimo_result else None,
            "version": __version__,
        }
    )
    # Every key in the contract's order; a metric left out of --metrics is null.
    summary = {key: values.get(key) for key in summary_keys(options.key_params())}
    provenance = {
        "tool": {"name": "aupimo-cli", "version": __version__},
        "libraries": _library_versions(),
        "options": options.to_json(),
        "inputs": {
            "maps": os.path.abspath(maps_root),
            "masks": os.path.abspath(masks_root),
            "images": None if images_root is None else os.path.abspath(images_root),
            "split_csv": None if split_csv is None else os.path.abspath(split_csv),
            "num_files": num_files,
            "num_aspect_changed": loaded.num_aspect_changed,
            "num_empty_defect_masks": loaded.num_empty_defect_masks,
        },
        "fingerprint": fingerprint,
    }
    own_files = {} if aupimo_result is None else {"aupimo/aupimos.json": aupimo_result.to_json()}
    if operating is not None and options.thresholds is not None:
        own_files.update(operating_files(operating, options.thresholds, summary))
    rows = [] if operating is None else operating.per_defect
    resampling = options.resampling()
    if resampling is not None:
        provenance["resampling"] = resampling.to_json()
    return Evaluation(summary, per_image, options, own_files, provenance, notes, rows, replicates, curves)


def input_paths(provenance: dict[str, Any]) -> list[Path]:
    """The input files and folders recorded in a provenance record: maps, masks, images, split CSV."""
    inputs = provenance.get("inputs", {})
    return [Path(inputs[key]) for key in ("maps", "masks", "images", "split_csv") if inputs.get(key)]


def write_evaluation(evaluation: Evaluation, out: Path, *, overwrite: bool) -> Path:
    """Write every result file of `evaluation` into `out` as one atomic set; returns the absolute folder.

    ``provenance.json`` is written last, with the manifest of every file in the set (DESIGN section 8).

    Raises:
        InputError: `out` may not be written (it exists without `overwrite`, holds files aupimo did not write,
            or is or holds an input), or writing failed (disk full, permissions); then nothing at `out` has
            changed.
    """
    try:
        with staged_folder(out, overwrite, input_paths(evaluation.provenance)) as staging:
            write_metric_files(
                staging,
                evaluation.options.metrics,
                evaluation.summary,
                evaluation.options.key_params(),
                evaluation.own_files,
            )
            write_per_image(staging, evaluation.per_image)
            write_curves(staging, evaluation.curves)
            write_summary(staging, evaluation.summary)
            if evaluation.replicates:
                write_replicates(staging, evaluation.replicates)
            files = [*list_files(staging), PROVENANCE_FILE]
            write_json(
                staging / PROVENANCE_FILE, {**evaluation.provenance, "manifest": manifest_record("evaluate", files)}
            )
    except OSError as error:
        reason = error.strerror or str(error)
        raise InputError(
            f"could not write the results to {out} ({reason}); nothing there was changed: free disk space, fix "
            "the permissions, or choose another --out"
        ) from error
    return Path(os.path.abspath(out))
