"""The metric registry: one entry per metric, which every command, table and file reads (DESIGN section 4).

An entry holds the metric's command-line name, the summary keys it fills (some depend on its parameters: one
``aupro_<pct>`` per AUPRO limit), its file(s), its per-image columns, its parameters, the shared passes it
needs, its direction and its titles. ``evaluate``, ``benchmark``, ``compare``, ``check``, the markdown, CSV
and console tables, ``--metrics`` and ``--help`` all read it: adding a metric is its module, one entry here
and its tests.

The passes a metric needs are computed once for all the metrics asked for:

- ``pixel``: the shared pixel pass (`_pass.pixel_pass`): one sort and one walk for every pixel metric;
- ``moments``: the pixel scores' moments by class, which the pixel pass gathers while splitting;
- ``aupimo``: the PIMO curves (`pimo.aupimo`);
- ``image``: the image scores (max of each map) and labels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .distribution import SCORE_STATISTICS_KEYS, statistics_from_moments
from .pro import DEFAULT_FPR_LIMITS, aupro_key, percent_suffix
from .spro import DEFAULT_SPRO_LIMITS, SPRO_EVALUATIONS, spro_key

if TYPE_CHECKING:
    from ._pass import PixelPass, SplitScores
    from .pimo import AUPIMOResult

KeyParams = Mapping[str, Any]
"""The option values some metrics' keys and files depend on: ``aupro_limits`` (one ``aupro_<pct>`` per limit),
``oracle_rates`` (one ``pg_<nn>``... per rate), ``bootstrap`` and ``bootstrap_pixel_ap`` (the intervals' keys),
``spro_limits`` (the sPRO keys of each limit; none unless the data has MVTec LOCO's per-defect ground truth);
`key_params` makes one."""

PIXEL_PASS = "pixel"
MOMENTS = "moments"
AUPIMO_PASS = "aupimo"
IMAGE_SCORES = "image"


@dataclass(frozen=True)
class Parameter:
    """A parameter of a metric.

    Attributes:
        name: its name in a config file's ``params`` (``limits``).
        option: the `EvaluateOptions` field holding it (``aupro_limits``), which provenance records.
        flag: its command-line flag (``--aupro-limits``).
        default: its default value.
        help: what it is, for ``--help``.
    """

    name: str
    option: str
    flag: str
    default: Any
    help: str


@dataclass(frozen=True)
class PassResults:
    """What the shared passes computed for one category, for the metrics to read their values from.

    Attributes:
        image_scores: (N,) float64 max of each map.
        labels: (N,) int32, 1 for an anomalous image.
        pixel: the shared pixel pass (None when no metric needs it).
        aupimo: the AUPIMO result (None when not asked for).
        aupro_limits: the AUPRO limits the pixel pass integrated, in order.
        operating: the operating points' headline values by summary key, when thresholds were given.
        oracle_rates: the rates n of the test-set PGn, PBn and FRR at FAR.
        ci_level: the level of the confidence intervals (DeLong's and the bootstrap's).
        spro_limits: the sPRO limits the pixel pass integrated (MVTec LOCO only), in order.
    """

    image_scores: NDArray[np.float64]
    labels: NDArray[np.int32]
    pixel: PixelPass | None = None
    aupimo: AUPIMOResult | None = None
    aupro_limits: tuple[float, ...] = ()
    operating: Mapping[str, float | None] | None = None
    oracle_rates: tuple[float, ...] = ()
    ci_level: float = 0.95
    spro_limits: tuple[float, ...] = ()


@dataclass(frozen=True)
class Replicating:
    """What the bootstrap replicates of the metrics are computed from (`bootstrap`, DESIGN section 7).

    Attributes:
        weights: (B, N) how many times each image is drawn in each replicate (stratified).
        results: the passes' results of the category itself.
        split: every image's scores split by its mask (None when no pixel metric was asked for).
        operating: per-image arrays of the operating points, when thresholds were given: ``rejected``,
            ``review``, ``accepted`` (bool), ``true_positives``, ``false_positives``, ``anomalous_pixels``,
            ``overlap`` (the PRO overlap sum at the pixel threshold), ``regions`` and ``iou``.
        pixel_ap: also replicate pixel AP and F1max (a pass over the distinct anomalous scores per replicate).
    """

    weights: NDArray[np.int64]
    results: PassResults
    split: SplitScores | None = None
    operating: Mapping[str, NDArray[Any]] | None = None
    pixel_ap: bool = False
    cache: dict[str, Any] = field(default_factory=dict)


def _pixel_replicates(replicating: Replicating) -> Any:
    """Pixel AUROC and AUPRO replicates, computed once for both metrics."""
    from .bootstrap import pixel_replicates

    if "pixel" not in replicating.cache:
        assert replicating.split is not None
        replicating.cache["pixel"] = pixel_replicates(
            replicating.split, replicating.weights, replicating.results.aupro_limits
        )
    return replicating.cache["pixel"]


def _pixel_precision_replicates(replicating: Replicating) -> Any:
    """Pixel AP and F1max replicates, computed once for both metrics."""
    from .bootstrap import pixel_precision_replicates

    if "precision" not in replicating.cache:
        assert replicating.split is not None
        replicating.cache["precision"] = pixel_precision_replicates(replicating.split, replicating.weights)
    return replicating.cache["precision"]


def _image_precision(replicating: Replicating) -> Any:
    from .bootstrap import image_precision_replicates

    if "image_precision" not in replicating.cache:
        results = replicating.results
        replicating.cache["image_precision"] = image_precision_replicates(
            results.image_scores, results.labels, replicating.weights
        )
    return replicating.cache["image_precision"]


def _image_auroc_replicates(replicating: Replicating) -> dict[str, NDArray[np.float64]]:
    from .bootstrap import image_auroc_replicates

    results = replicating.results
    return {"image_auroc": image_auroc_replicates(results.image_scores, results.labels, replicating.weights)}


def _aupimo_replicates(replicating: Replicating) -> dict[str, NDArray[np.float64]]:
    from .bootstrap import mean_replicates

    results = replicating.results
    if results.aupimo is None:
        return {}
    # The AUPIMO thresholds stay those of the test set: each replicate averages the drawn images' values.
    return {"aupimo_mean": mean_replicates(results.aupimo.aupimos, results.labels == 1, replicating.weights)}


def _operating_replicates(replicating: Replicating) -> dict[str, NDArray[np.float64]]:
    from .bootstrap import mean_replicates, ratio_replicates

    per_image = replicating.operating
    if per_image is None:
        return {}
    weights = replicating.weights
    normal = replicating.results.labels == 0
    anomalous = ~normal
    rejected, review, accepted = per_image["rejected"], per_image["review"], per_image["accepted"]
    values = {
        "image_frr": mean_replicates(rejected, normal, weights),
        "image_far": mean_replicates(~rejected, anomalous, weights),
        "share_normal_reject": mean_replicates(rejected, normal, weights),
        "share_normal_review": mean_replicates(review, normal, weights),
        "share_normal_accept": mean_replicates(accepted, normal, weights),
        "share_anomalous_reject": mean_replicates(rejected, anomalous, weights),
        "share_anomalous_review": mean_replicates(review, anomalous, weights),
        "share_anomalous_accept": mean_replicates(accepted, anomalous, weights),
    }
    if "true_positives" in per_image:
        tp = per_image["true_positives"].astype(np.float64)
        fp = per_image["false_positives"].astype(np.float64)
        fn = per_image["anomalous_pixels"] - tp
        values["seg_f1"] = ratio_replicates(2 * tp, 2 * tp + fp + fn, weights)
        values["pro_at_threshold"] = ratio_replicates(per_image["overlap"], per_image["regions"], weights)
        values["mean_iou"] = mean_replicates(per_image["iou"], anomalous, weights)
    return values


@dataclass(frozen=True)
class ResultFile:
    """A result file of a metric: its path in the results folder, and the JSON fields it holds by summary key.

    ``fields`` None means a file of its own format, which `written_by` writes: ``aupimo`` (the AUPIMO
    benchmark's ``aupimos.json``) or ``operating`` (the operating points' files).
    """

    path: str
    fields: Mapping[str, str] | None
    written_by: str = ""


@dataclass(frozen=True)
class Metric:
    """One metric of the registry.

    Attributes:
        name: the name in ``--metrics`` and config files.
        title: what it is called in tables and help (``pixel AUROC``).
        description: one line for ``--help``.
        passes: the shared passes it needs (`PIXEL_PASS`, `MOMENTS`, `AUPIMO_PASS`, `IMAGE_SCORES`).
        keys: the summary keys it fills, given the option values they depend on (`KeyParams`).
        values: its values by summary key, from the passes.
        files: its result files, given the same `KeyParams`.
        compared: the keys `compare` shows and averages (never thresholds or spreads).
        per_image_columns: the ``per_image.parquet`` columns it fills.
        parameters: its parameters.
        higher_is_better: its direction, for the keys in `compared`.
        needs_normal_images: whether it is undefined without normal images.
        needs_thresholds: whether it needs thresholds (``--thresholds`` or a validation set); such a metric is
            computed whenever thresholds are given, and never by default without them.
        needs_defects: whether it needs MVTec LOCO's ground truth (one mask per defect and the saturation of each
            defect type); such a metric is computed whenever the data has it, and never without it.
        key_titles: a short title per key, for tables (``AUPRO@5%``); the key itself when absent.
        owns: whether a summary key belongs to it (the AUPRO limits are open-ended).
        bootstrapped: the keys that get a bootstrap interval (``<key>_ci_low``, ``<key>_ci_high``), given the
            `KeyParams`.
        replicates: each bootstrapped key's (B,) replicate values (`Replicating`).
    """

    name: str
    title: str
    description: str
    passes: frozenset[str]
    keys: Callable[[KeyParams], tuple[str, ...]]
    values: Callable[[PassResults], dict[str, float | None]]
    files: Callable[[KeyParams], tuple[ResultFile, ...]]
    compared: Callable[[str], bool]
    per_image_columns: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    higher_is_better: bool = True
    needs_normal_images: bool = False
    needs_thresholds: bool = False
    needs_defects: bool = False
    key_titles: Callable[[str], str | None] = field(default=lambda key: None)
    owns: Callable[[str], bool] | None = None
    bootstrapped: Callable[[KeyParams], tuple[str, ...]] = field(default=lambda params: ())
    replicates: Callable[[Replicating], dict[str, NDArray[np.float64]]] | None = None

    def owns_key(self, key: str) -> bool:
        """Whether summary key `key` belongs to this metric, whatever its parameters."""
        return self.owns(key) if self.owns is not None else key in self.keys(key_params())

    def title_of(self, key: str) -> str:
        """The short title of one of its keys."""
        return self.key_titles(key) or key


def key_params(
    aupro_limits: Sequence[float] = DEFAULT_FPR_LIMITS,
    oracle_rates: Sequence[float] | None = None,
    *,
    bootstrap: bool = False,
    bootstrap_pixel_ap: bool = False,
    spro_limits: Sequence[float] = (),
) -> dict[str, Any]:
    """The `KeyParams` of these option values (the defaults by default): with `bootstrap`, the summary gets the
    intervals' keys (and pixel AP's and F1max's with `bootstrap_pixel_ap`); with `spro_limits` (MVTec LOCO), the
    sPRO keys of each limit."""
    rates = DEFAULT_ORACLE_RATES if oracle_rates is None else oracle_rates
    return {
        "aupro_limits": tuple(aupro_limits),
        "oracle_rates": tuple(rates),
        "bootstrap": bootstrap,
        "bootstrap_pixel_ap": bootstrap_pixel_ap,
        "spro_limits": tuple(spro_limits),
    }


def _fixed(*keys: str) -> Callable[[KeyParams], tuple[str, ...]]:
    return lambda params: keys


def _value_file(path: str, key: str, **more: str) -> Callable[[KeyParams], tuple[ResultFile, ...]]:
    return lambda params: (ResultFile(path, {"value": key, **more}),)


def _titles(titles: Mapping[str, str]) -> Callable[[str], str | None]:
    return lambda key: titles.get(key)


def _pixel(attribute: str) -> Callable[[PassResults], float | None]:
    def read(results: PassResults) -> float | None:
        return None if results.pixel is None else float(getattr(results.pixel, attribute))

    return read


# ---------------------------------------------------------------------------------------------------------
# The entries, in summary order.
# ---------------------------------------------------------------------------------------------------------

_AUPRO_KEY = re.compile(r"^aupro_\d+(p\d+)?$")


def aupro_file(key: str) -> str:
    """``aupro_30`` -> ``aupro.json`` (the 30% limit keeps the classic name), ``aupro_05`` -> ``aupro_05.json``."""
    return "aupro.json" if key == "aupro_30" else f"{key}.json"


def aupro_title(key: str) -> str | None:
    """``aupro_05`` -> ``AUPRO@5%``, ``aupro_0p5`` -> ``AUPRO@0.5%``; None for other keys."""
    if not _AUPRO_KEY.match(key):
        return None
    percent = key.removeprefix("aupro_")
    return "AUPRO@" + (percent.replace("p", ".") if "p" in percent else str(int(percent))) + "%"


def aupro_percent(key: str) -> float:
    """The FPR limit in percent of an ``aupro_<pct>`` key (``aupro_05`` -> 5, ``aupro_0p5`` -> 0.5)."""
    return float(key.removeprefix("aupro_").replace("p", "."))


def _aupro_values(results: PassResults) -> dict[str, float | None]:
    if results.pixel is None:
        return {aupro_key(limit): None for limit in results.aupro_limits}
    aupros = results.pixel.aupros
    return {aupro_key(limit): float(value) for limit, value in zip(results.aupro_limits, aupros, strict=True)}


_SPRO_KEY = re.compile(r"^spro_(?:(logical|structural)_)?(\d+(?:p\d+)?)$")


def spro_keys(limits: Sequence[float]) -> tuple[str, ...]:
    """Per sPRO limit: the headline ``spro_<pct>`` (the mean of the evaluations), then each evaluation's."""
    return tuple(spro_key(limit, evaluation) for limit in limits for evaluation in (None, *SPRO_EVALUATIONS))


def _spro_values(results: PassResults) -> dict[str, float | None]:
    values: dict[str, float | None] = dict.fromkeys(spro_keys(results.spro_limits))
    if results.pixel is None or not results.pixel.spro:
        return values
    for index, limit in enumerate(results.spro_limits):
        each = [float(results.pixel.spro[evaluation][index]) for evaluation in SPRO_EVALUATIONS]
        for evaluation, value in zip(SPRO_EVALUATIONS, each, strict=True):
            values[spro_key(limit, evaluation)] = None if np.isnan(value) else value
        # The official headline: the mean of the logical and the structural evaluation (both needed).
        values[spro_key(limit)] = None if any(np.isnan(each)) else float(np.mean(each))
    return values


def spro_title(key: str) -> str | None:
    """``spro_05`` -> ``sPRO@5%``, ``spro_logical_05`` -> ``sPRO@5% logical``; None for other keys."""
    match = _SPRO_KEY.match(key)
    if match is None:
        return None
    percent = match.group(2)
    title = "sPRO@" + (percent.replace("p", ".") if "p" in percent else str(int(percent))) + "%"
    return title + (f" {match.group(1)}" if match.group(1) else "")


AUPIMO_STATISTICS = ("aupimo_mean", "aupimo_std", "aupimo_q1", "aupimo_median", "aupimo_q3")


def _aupimo_values(results: PassResults) -> dict[str, float | None]:
    from .pimo import aupimo_statistics

    aupimos = None if results.aupimo is None else results.aupimo.aupimos
    return aupimo_statistics(aupimos, results.labels)


def _image_metric(
    compute: Callable[[NDArray[np.float64], NDArray[np.int32]], Any], *keys: str
) -> Callable[[PassResults], dict[str, float | None]]:
    def values(results: PassResults) -> dict[str, float | None]:
        value = compute(results.image_scores, results.labels)
        if len(keys) == 1:
            return {keys[0]: float(value)}
        return {keys[0]: float(value.value), keys[1]: float(value.threshold)}

    return values


def _image_auroc(scores: NDArray[np.float64], labels: NDArray[np.int32]) -> float:
    from .roc import image_auroc

    return image_auroc(scores, labels)


def _image_ap(scores: NDArray[np.float64], labels: NDArray[np.int32]) -> float:
    from .precision import image_average_precision

    return image_average_precision(scores, labels)


def _image_f1(scores: NDArray[np.float64], labels: NDArray[np.int32]) -> Any:
    from .precision import image_f1_max

    return image_f1_max(scores, labels)


def _statistics(results: PassResults) -> dict[str, float | None]:
    if results.pixel is None:
        return dict.fromkeys(SCORE_STATISTICS_KEYS)
    pixel = results.pixel
    return statistics_from_moments(results.image_scores, results.labels, pixel.normal_moments, pixel.anomalous_moments)


OPERATING_KEYS: tuple[str, ...] = (
    "image_threshold",
    "image_frr",
    "image_far",
    "image_soft_threshold",
    "share_normal_reject",
    "share_normal_review",
    "share_normal_accept",
    "share_anomalous_reject",
    "share_anomalous_review",
    "share_anomalous_accept",
    "pixel_threshold",
    "seg_f1",
    "pro_at_threshold",
    "mean_iou",
)
"""The operating points' summary keys (DESIGN section 6), measured on the test set at the given thresholds."""

OPERATING_RATE_KEYS: tuple[str, ...] = tuple(
    key for key in OPERATING_KEYS if "threshold" not in key or key.endswith("at_threshold")
)
"""The operating points' keys that are rates (every key but the thresholds), which get bootstrap intervals."""

DELONG_KEYS: tuple[str, ...] = ("image_auroc_delong_se", "image_auroc_delong_low", "image_auroc_delong_high")
"""DeLong's standard error of the image AUROC, and its normal interval at the confidence level."""


def _image_auroc_values(results: PassResults) -> dict[str, float | None]:
    from .delong import delong_auroc
    from .roc import image_auroc

    values: dict[str, float | None] = {"image_auroc": image_auroc(results.image_scores, results.labels)}
    counts = np.bincount(np.asarray(results.labels, dtype=np.int64), minlength=2)
    if counts.min() < 2:  # DeLong's sample variances need two images of each class
        return {**values, **dict.fromkeys(DELONG_KEYS)}
    delong = delong_auroc(results.image_scores, results.labels)
    low, high = delong.interval(results.ci_level)
    return {**values, "image_auroc_delong_se": delong.std_error, "image_auroc_delong_low": low,
            "image_auroc_delong_high": high}  # fmt: skip


DEFAULT_ORACLE_RATES: tuple[float, ...] = (0.01, 0.05)
_ORACLE_KEY = re.compile(r"^(pg|pb|test_frr_at_far)_\d+(p\d+)?$")


def oracle_keys(rates: Sequence[float]) -> tuple[str, ...]:
    """``pg_<nn>``, ``pb_<nn>`` and ``test_frr_at_far_<nn>`` for each rate n (``pg_05`` for 0.05)."""
    return tuple(f"{prefix}_{percent_suffix(rate)}" for prefix in ("pg", "pb", "test_frr_at_far") for rate in rates)


def _operating_values(results: PassResults) -> dict[str, float | None]:
    operating = results.operating or {}
    return {key: operating.get(key) for key in OPERATING_KEYS}


def _oracle_values(results: PassResults) -> dict[str, float | None]:
    from .operating import image_rates, pb_n, pg_n, threshold_at_far

    scores, labels = results.image_scores, results.labels
    values: dict[str, float | None] = {}
    for rate in results.oracle_rates:
        values[f"pg_{percent_suffix(rate)}"] = pg_n(scores, labels, rate)
    for rate in results.oracle_rates:
        values[f"pb_{percent_suffix(rate)}"] = pb_n(scores, labels, rate)
    for rate in results.oracle_rates:
        threshold = threshold_at_far(scores[labels == 1], rate)
        values[f"test_frr_at_far_{percent_suffix(rate)}"] = image_rates(scores, labels, threshold)[0]
    return values


def _oracle_title(key: str) -> str | None:
    if not _ORACLE_KEY.match(key):
        return None
    prefix, _, suffix = key.rpartition("_")
    percent = suffix.replace("p", ".") if "p" in suffix else str(int(suffix))
    names = {"pg": "PG", "pb": "PB", "test_frr_at_far": "test FRR @ FAR "}
    return f"{names[prefix]}{percent}%" + (" (test)" if prefix != "test_frr_at_far" else "")


def _only(*keys: str) -> Callable[[str], bool]:
    return lambda key: key in keys


REGISTRY: tuple[Metric, ...] = (
    Metric(
        name="auroc",
        title="pixel AUROC",
        description="pixel AUROC over all pixels pooled (equals sklearn's roc_auc_score)",
        passes=frozenset({PIXEL_PASS}),
        keys=_fixed("pixel_auroc"),
        values=lambda results: {"pixel_auroc": _pixel("auroc")(results)},
        files=_value_file("auroc.json", "pixel_auroc"),
        compared=_only("pixel_auroc"),
        key_titles=_titles({"pixel_auroc": "pixel AUROC"}),
        bootstrapped=_fixed("pixel_auroc"),
        replicates=lambda replicating: {"pixel_auroc": _pixel_replicates(replicating).auroc},
    ),
    Metric(
        name="aupro",
        title="AUPRO",
        description="area under the per-region overlap curve up to each --aupro-limits FPR (MVTec AD's AU-PRO)",
        passes=frozenset({PIXEL_PASS}),
        keys=lambda params: tuple(aupro_key(limit) for limit in params["aupro_limits"]),
        values=_aupro_values,
        files=lambda params: tuple(
            ResultFile(aupro_file(aupro_key(limit)), {"value": aupro_key(limit)}) for limit in params["aupro_limits"]
        ),
        compared=lambda key: bool(_AUPRO_KEY.match(key)),
        parameters=(
            Parameter("limits", "aupro_limits", "--aupro-limits", DEFAULT_FPR_LIMITS, "FPR limits of the integrals"),
        ),
        key_titles=aupro_title,
        owns=lambda key: bool(_AUPRO_KEY.match(key)),
        bootstrapped=lambda params: tuple(aupro_key(limit) for limit in params["aupro_limits"]),
        replicates=lambda replicating: {
            aupro_key(limit): values
            for limit, values in zip(
                replicating.results.aupro_limits, _pixel_replicates(replicating).aupros, strict=True
            )
        },
    ),
    Metric(
        name="spro",
        title="sPRO",
        description="MVTec LOCO's AU-sPRO up to each --spro-limits FPR (one mask per defect, saturated), exact: "
        "logical and structural anomalies each with the good images, and their mean (the headline)",
        passes=frozenset({PIXEL_PASS}),
        keys=lambda params: spro_keys(params.get("spro_limits", ())),
        values=_spro_values,
        files=lambda params: tuple(
            ResultFile(
                f"{spro_key(limit)}.json",
                {
                    "value": spro_key(limit),
                    **{evaluation: spro_key(limit, evaluation) for evaluation in SPRO_EVALUATIONS},
                },
            )
            for limit in params.get("spro_limits", ())
        ),
        compared=lambda key: bool((match := _SPRO_KEY.match(key)) and match.group(1) is None),
        parameters=(
            Parameter(
                "limits", "spro_limits", "--spro-limits", DEFAULT_SPRO_LIMITS, "FPR limits of the sPRO integrals"
            ),
        ),
        needs_defects=True,
        key_titles=spro_title,
        owns=lambda key: bool(_SPRO_KEY.match(key)),
    ),
    Metric(
        name="aupimo",
        title="AUPIMO",
        description="per-image AUPIMO (the AUPIMO paper): its mean, std and quartiles over the anomalous images",
        passes=frozenset({AUPIMO_PASS}),
        keys=_fixed(*AUPIMO_STATISTICS),
        values=_aupimo_values,
        files=lambda params: (ResultFile("aupimo/aupimos.json", None, "aupimo"),),
        compared=_only("aupimo_mean"),
        per_image_columns=("aupimo",),
        parameters=(
            Parameter("fpr_bounds", "fpr_bounds", "--fpr-bounds", (1e-5, 1e-4), "shared-FPR bounds of the integral"),
            Parameter("num_thresholds", "num_thresholds", "--num-thresholds", 300_000, "thresholds of the curves"),
            Parameter("force", "force", "--force", False, "integrate even with 30 or fewer points"),
        ),
        needs_normal_images=True,
        key_titles=_titles(
            {
                "aupimo_mean": "AUPIMO",
                "aupimo_std": "AUPIMO std",
                "aupimo_q1": "AUPIMO Q1",
                "aupimo_median": "AUPIMO median",
                "aupimo_q3": "AUPIMO Q3",
            }
        ),
        bootstrapped=_fixed("aupimo_mean"),
        replicates=_aupimo_replicates,
    ),
    Metric(
        name="image_auroc",
        title="image AUROC",
        description="AUROC of the image scores (max of each map), as in the MVTec AD evaluation",
        passes=frozenset({IMAGE_SCORES}),
        keys=_fixed("image_auroc", *DELONG_KEYS),
        values=_image_auroc_values,
        files=lambda params: (),
        compared=_only("image_auroc"),
        needs_normal_images=True,
        key_titles=_titles(
            {
                "image_auroc": "image AUROC",
                "image_auroc_delong_se": "image AUROC DeLong std error",
                "image_auroc_delong_low": "image AUROC DeLong CI",
                "image_auroc_delong_high": "image AUROC DeLong CI",
            }
        ),
        bootstrapped=_fixed("image_auroc"),
        replicates=_image_auroc_replicates,
    ),
    Metric(
        name="pixel_ap",
        title="pixel AP",
        description="average precision over all pixels pooled (equals sklearn's average_precision_score)",
        passes=frozenset({PIXEL_PASS}),
        keys=_fixed("pixel_ap"),
        values=lambda results: {"pixel_ap": _pixel("average_precision")(results)},
        files=_value_file("pixel_ap.json", "pixel_ap"),
        compared=_only("pixel_ap"),
        key_titles=_titles({"pixel_ap": "pixel AP"}),
        bootstrapped=lambda params: ("pixel_ap",) if params.get("bootstrap_pixel_ap") else (),
        replicates=lambda replicating: (
            {"pixel_ap": _pixel_precision_replicates(replicating)[0]} if replicating.pixel_ap else {}
        ),
    ),
    Metric(
        name="pixel_f1max",
        title="pixel F1max",
        description="the best pixel F1 over every threshold, and the lowest threshold reaching it",
        passes=frozenset({PIXEL_PASS}),
        keys=_fixed("pixel_f1max", "pixel_f1max_threshold"),
        values=lambda results: {
            "pixel_f1max": _pixel("f1_max")(results),
            "pixel_f1max_threshold": _pixel("f1_max_threshold")(results),
        },
        files=_value_file("pixel_f1max.json", "pixel_f1max", threshold="pixel_f1max_threshold"),
        compared=_only("pixel_f1max"),
        key_titles=_titles({"pixel_f1max": "pixel F1max", "pixel_f1max_threshold": "pixel F1max threshold"}),
        bootstrapped=lambda params: ("pixel_f1max",) if params.get("bootstrap_pixel_ap") else (),
        replicates=lambda replicating: (
            {"pixel_f1max": _pixel_precision_replicates(replicating)[1]} if replicating.pixel_ap else {}
        ),
    ),
    Metric(
        name="image_ap",
        title="image AP",
        description="average precision of the image scores (equals sklearn's average_precision_score)",
        passes=frozenset({IMAGE_SCORES}),
        keys=_fixed("image_ap"),
        values=_image_metric(_image_ap, "image_ap"),
        files=_value_file("image_ap.json", "image_ap"),
        compared=_only("image_ap"),
        needs_normal_images=True,
        key_titles=_titles({"image_ap": "image AP"}),
        bootstrapped=_fixed("image_ap"),
        replicates=lambda replicating: {"image_ap": _image_precision(replicating)[0]},
    ),
    Metric(
        name="image_f1max",
        title="image F1max",
        description="the best image F1 over every threshold, and the lowest threshold reaching it",
        passes=frozenset({IMAGE_SCORES}),
        keys=_fixed("image_f1max", "image_f1max_threshold"),
        values=_image_metric(_image_f1, "image_f1max", "image_f1max_threshold"),
        files=_value_file("image_f1max.json", "image_f1max", threshold="image_f1max_threshold"),
        compared=_only("image_f1max"),
        needs_normal_images=True,
        key_titles=_titles({"image_f1max": "image F1max", "image_f1max_threshold": "image F1max threshold"}),
        bootstrapped=_fixed("image_f1max"),
        replicates=lambda replicating: {"image_f1max": _image_precision(replicating)[1]},
    ),
    Metric(
        name="oracle",
        title="test-set operating points (optimistic)",
        description="PGn and PBn (anomalib's) and the FRR at a fixed FAR, chosen on the test set itself: oracle "
        "figures, optimistic by construction",
        passes=frozenset({IMAGE_SCORES}),
        keys=lambda params: oracle_keys(params["oracle_rates"]),
        values=_oracle_values,
        files=lambda params: (),
        compared=lambda key: False,
        parameters=(
            Parameter(
                "rates", "oracle_rates", "--oracle-rates", DEFAULT_ORACLE_RATES, "the rates n of PGn, PBn, FRR@FAR"
            ),
        ),
        needs_normal_images=True,
        key_titles=_oracle_title,
        owns=lambda key: bool(_ORACLE_KEY.match(key)),
    ),
    Metric(
        name="operating_points",
        title="operating points at the validation thresholds",
        description="at thresholds chosen on validation (--thresholds, or --val-maps): image FRR and FAR, the review "
        "band, per-defect escapes, SegF1, PRO at the pixel threshold and mean IoU",
        passes=frozenset(),
        keys=_fixed(*OPERATING_KEYS),
        values=_operating_values,
        files=lambda params: (
            ResultFile("operating_points.json", None, "operating"),
            ResultFile("per_defect.csv", None, "operating"),
            ResultFile("per_defect.md", None, "operating"),
            ResultFile("thresholds.json", None, "operating"),
        ),
        compared=lambda key: False,
        per_image_columns=("rejected", "decision", "iou"),
        needs_thresholds=True,
        key_titles=_titles(
            {
                "image_threshold": "image threshold",
                "image_frr": "image FRR at hard threshold",
                "image_far": "image FAR at hard threshold",
                "image_soft_threshold": "soft threshold",
                "share_normal_reject": "normal: auto-reject",
                "share_normal_review": "normal: review",
                "share_normal_accept": "normal: auto-accept",
                "share_anomalous_reject": "defective: auto-reject",
                "share_anomalous_review": "defective: review",
                "share_anomalous_accept": "defective: auto-accept (escapes)",
                "seg_f1": "SegF1",
                "pro_at_threshold": "PRO at threshold",
                "mean_iou": "mean IoU",
                "pixel_threshold": "pixel threshold",
            }
        ),
        bootstrapped=_fixed(*OPERATING_RATE_KEYS),
        replicates=_operating_replicates,
    ),
    Metric(
        name="score_stats",
        title="score statistics",
        description="mean and std of the image and pixel scores by class, and the range of the normal ones",
        passes=frozenset({MOMENTS, IMAGE_SCORES}),
        keys=_fixed(*SCORE_STATISTICS_KEYS),
        values=_statistics,
        files=lambda params: (ResultFile("score_stats.json", {key: key for key in SCORE_STATISTICS_KEYS}),),
        compared=lambda key: False,
    ),
)
"""Every metric, in the order of the summary's keys."""

METRICS: dict[str, Metric] = {metric.name: metric for metric in REGISTRY}
"""The registry by name."""

DEFAULT_METRICS: tuple[str, ...] = tuple(
    metric.name for metric in REGISTRY if not metric.needs_thresholds and not metric.needs_defects
)
"""What ``--metrics`` computes by default: every registered metric but those that need thresholds, which are
added whenever thresholds are given, and those that need MVTec LOCO's per-defect ground truth, which are added
whenever the data has it."""

RANKING_KEY = "aupimo_mean"
"""The summary key `compare` ranks models by (mean AUPIMO, as the AUPIMO paper does)."""

PER_IMAGE_AUPIMO = "aupimo"
"""The ``per_image.parquet`` column of the per-image AUPIMO, which `compare` pairs images by."""

COUNT_KEYS: tuple[str, ...] = ("num_images", "num_normal", "num_anomalous")
"""Summary keys that count images, after the metric keys."""

CONTEXT_KEYS: tuple[str, ...] = ("fpr_lower_bound", "fpr_upper_bound", "thresh_lower_bound", "thresh_upper_bound")
"""Summary keys that say how AUPIMO was integrated, after the counts."""


CI_SUFFIXES: tuple[str, str] = ("_ci_low", "_ci_high")
"""The suffixes of a key's bootstrap interval in the summary (``pixel_auroc_ci_low``)."""


def interval_keys(params: KeyParams) -> list[str]:
    """The bootstrap intervals' keys, in registry order, when `params` asks for the bootstrap; else none."""
    if not params.get("bootstrap"):
        return []
    return [key + suffix for metric in REGISTRY for key in metric.bootstrapped(params) for suffix in CI_SUFFIXES]


def interval_of(key: str) -> tuple[str, str] | None:
    """(the key an interval key bounds, ``low`` or ``high``), or None for any other key."""
    for suffix, side in zip(CI_SUFFIXES, ("low", "high"), strict=True):
        if key.endswith(suffix):
            return key.removesuffix(suffix), side
    return None


def summary_keys(params: KeyParams) -> list[str]:
    """The keys of ``summary.json``, in order: the category, every metric's keys in registry order, the
    bootstrap intervals (with ``--bootstrap``), the image counts, the AUPIMO integration range and the version
    (DESIGN section 3)."""
    keys = ["category"]
    for metric in REGISTRY:
        keys.extend(metric.keys(params))
    return [*keys, *interval_keys(params), *COUNT_KEYS, *CONTEXT_KEYS, "version"]


def metric_of(key: str) -> Metric | None:
    """The metric a summary key belongs to, or None for the category, counts, bounds and version."""
    return next((metric for metric in REGISTRY if metric.owns_key(key)), None)


def key_title(key: str) -> str:
    """A short title for a summary key, for tables (``aupro_05`` -> ``AUPRO@5%``); other keys as they are."""
    metric = metric_of(key)
    return key if metric is None else metric.title_of(key)


def compared_keys(keys: Sequence[str]) -> list[str]:
    """The summary keys among `keys` that `compare` shows, in registry order (AUPRO's and sPRO's largest limit
    first)."""
    present = set(keys)
    ordered: list[str] = []
    for metric in REGISTRY:
        mine = [key for key in present if metric.owns_key(key) and metric.compared(key)]
        ordered += sorted(mine, key=lambda key: (-_limit_percent(key), key))
    return ordered


def _limit_percent(key: str) -> float:
    """The FPR limit in percent of an AUPRO or sPRO key (0 for other keys), to list the largest limit first."""
    if _AUPRO_KEY.match(key):
        return aupro_percent(key)
    if match := _SPRO_KEY.match(key):
        return float(match.group(2).replace("p", "."))
    return 0.0


def unknown_metrics(names: Sequence[str]) -> list[str]:
    """The names in `names` that are not registered metrics."""
    return [name for name in names if name not in METRICS]


def needed_passes(names: Sequence[str]) -> frozenset[str]:
    """The shared passes the metrics `names` need together."""
    return frozenset().union(*(METRICS[name].passes for name in names))


def uses_option(names: Sequence[str], option: str) -> bool:
    """Whether one of the metrics `names` has the parameter stored in `EvaluateOptions` field `option`."""
    return any(parameter.option == option for name in names for parameter in METRICS[name].parameters)


def image_level_metrics() -> list[str]:
    """The metrics that the image scores and labels alone determine (so a per-image file does too)."""
    return [metric.name for metric in REGISTRY if metric.passes == frozenset({IMAGE_SCORES})]


def replicate_values(
    names: Sequence[str], replicating: Replicating, params: KeyParams
) -> dict[str, NDArray[np.float64]]:
    """Each bootstrapped key's (B,) replicate values, for the metrics `names` (the keys `bootstrapped(params)`
    that their `replicates` give)."""
    values: dict[str, NDArray[np.float64]] = {}
    for name in names:
        metric = METRICS[name]
        if metric.replicates is None:
            continue
        wanted = set(metric.bootstrapped(params))
        values.update({key: samples for key, samples in metric.replicates(replicating).items() if key in wanted})
    return values


def metric_values(names: Sequence[str], results: PassResults) -> dict[str, float | None]:
    """Every summary value of the metrics `names`, by key."""
    values: dict[str, float | None] = {}
    for name in names:
        values.update(METRICS[name].values(results))
    return values
