"""``aupimo report``: one self-contained HTML page of an ``evaluate``, ``benchmark`` or ``compare`` folder.

What is in the page comes from the results folder alone (``summary.json``, ``per_image.parquet``,
``curves.parquet``, the operating points' files, ``compare.json`` and its figures), plus the maps, masks and
(optionally) the test images of the few images shown as thumbnails: the N worst anomalous images by AUPIMO
(ties broken by path) and the N highest-scoring normal images (likely false rejects). The page holds everything
inline (SVG, and PNG as data URIs): it opens offline and passes a Content-Security-Policy of
``default-src 'none'; img-src data:; style-src 'unsafe-inline'``. The same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import InputError

REPORT_FILE = "report.html"
DEFAULT_WORST = 6
JPEG_QUALITY = 90
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MISSING_EXTRA = "the report needs jinja2 and matplotlib: pip install 'aupimo-cli[report]'"


# A figure to draw: (function name in `report_figures.REPORT_FIGURE_FUNCTIONS`, its keyword arguments).
FigureJob = tuple[str, dict[str, Any]]


@dataclass
class Row:
    """One row of a table of the page: a label, and cells already formatted (text, escaped by the template)."""

    label: str
    cells: list[str]
    strong: bool = False
    anchor: str | None = None


@dataclass
class Table:
    """A table of the page."""

    headers: list[str]
    rows: list[Row]
    caption: str = ""


@dataclass
class ImageCard:
    """One image shown as thumbnails: its path, what it is, and its thumbnails as data URIs with captions."""

    path: str
    defect: str
    value: str
    thumbnails: list[tuple[str, str]]


@dataclass
class CategorySection:
    """Everything the page shows of one evaluated category."""

    name: str
    anchor: str
    headline: Table
    all_numbers: Table | None = None
    counts: str = ""
    thresholds_text: str = ""
    per_defect: Table | None = None
    figures: list[tuple[str, str]] = field(default_factory=list)
    worst: list[ImageCard] = field(default_factory=list)
    false_rejects: list[ImageCard] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Page:
    """The whole page: its kind, title and sections."""

    kind: str
    title: str
    subtitle: str
    overview: Table | None = None
    overview_text: str = ""
    categories: list[CategorySection] = field(default_factory=list)
    compare_figures: list[tuple[str, str]] = field(default_factory=list)
    compare_tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    version: str = __version__
    csp: str = CSP


def _require_extra() -> None:
    try:
        import jinja2  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise InputError(f"{MISSING_EXTRA} ({error.name} is missing)") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read {path} ({error}); re-run the command that wrote it") from None


def results_kind(folder: Path) -> str:
    """``evaluate``, ``benchmark``, ``compare`` or ``drift``, from the folder's manifest.

    Raises:
        InputError: the folder is not an aupimo results folder of this version.
    """
    from ..report.manifest import read_manifest

    manifest = read_manifest(folder)
    kind = None if manifest is None else manifest.get("kind")
    if kind not in ("evaluate", "benchmark", "compare", "drift"):
        raise InputError(
            f"{folder} is not an aupimo evaluate, benchmark, compare or drift folder of this version (no manifest); "
            "pass the --out folder of one of those commands"
        )
    return str(kind)


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
    return str(value)


# Summary keys left out of the headline (they stay in the table of every number): raw score statistics,
# run parameters and counts, and DeLong's interval, which the headline shows as the image AUROC's interval.
_NOT_HEADLINE_METRICS = ("score_stats",)
_DELONG_KEYS = ("image_auroc_delong_se", "image_auroc_delong_low", "image_auroc_delong_high")


def headline_table(summary: dict[str, Any]) -> Table:
    """The metrics of a summary as a table: titles (registry), values and intervals (bootstrap percentile, else
    DeLong's for the image AUROC) where computed. Metrics not computed, score statistics, counts and run
    parameters are left out (`all_numbers_table` has them)."""
    from ..metrics.registry import interval_of, key_title, metric_of

    rows = []
    for key, value in summary.items():
        metric = metric_of(key)
        if metric is None or value is None or interval_of(key) or key in _DELONG_KEYS:
            continue
        if metric.name in _NOT_HEADLINE_METRICS:
            continue
        low, high = summary.get(f"{key}_ci_low"), summary.get(f"{key}_ci_high")
        interval = f"[{_format(low)}, {_format(high)}]" if low is not None and high is not None else ""
        if not interval and key == "image_auroc" and summary.get("image_auroc_delong_low") is not None:
            delong = (summary["image_auroc_delong_low"], summary.get("image_auroc_delong_high"))
            interval = f"[{_format(delong[0])}, {_format(delong[1])}] DeLong"
        rows.append(Row(key_title(key), [_format(value), interval]))
    return Table(["metric", "value", "interval"], rows)


def all_numbers_table(summary: dict[str, Any]) -> Table:
    """Every key of ``summary.json`` with its value, as written (None as an empty cell)."""
    return Table(["key", "value"], [Row(key, [_format(value)]) for key, value in summary.items()])


def counts_line(summary: dict[str, Any]) -> str:
    """``"160 images: 41 normal, 119 anomalous"`` from the summary's counts (empty when they are missing)."""
    counts = [summary.get(key) for key in ("num_images", "num_normal", "num_anomalous")]
    if any(count is None for count in counts):
        return ""
    return f"{counts[0]} images: {counts[1]} normal, {counts[2]} anomalous"


def select_worst(paths: Sequence[str], labels: Sequence[int], aupimos: Sequence[float | None], n: int) -> list[int]:
    """The indices of the `n` anomalous images of lowest AUPIMO, ties broken by path (images without an AUPIMO
    left out).

    Examples:
        >>> select_worst(["b", "a", "c", "d"], [1, 1, 1, 0], [0.5, 0.5, 0.1, None], 2)
        [2, 1]
    """
    chosen = [i for i, label in enumerate(labels) if label == 1 and aupimos[i] is not None]
    chosen.sort(key=lambda i: (float(aupimos[i]), paths[i]))  # type: ignore[arg-type]
    return chosen[:n]


def select_false_rejects(paths: Sequence[str], labels: Sequence[int], scores: Sequence[float], n: int) -> list[int]:
    """The indices of the `n` normal images of highest image score (likely false rejects), ties by path.

    Examples:
        >>> select_false_rejects(["b", "a", "c"], [0, 0, 1], [0.9, 0.9, 2.0], 1)
        [1]
    """
    chosen = [i for i, label in enumerate(labels) if label == 0]
    chosen.sort(key=lambda i: (-float(scores[i]), paths[i]))
    return chosen[:n]


@dataclass(frozen=True)
class Roots:
    """Where a category's maps, masks and test images are."""

    maps: Path | None
    masks: Path | None
    images: Path | None


def _roots(provenance: dict[str, Any], maps: Path | None, masks: Path | None, images: Path | None) -> Roots:
    inputs = provenance.get("inputs") or {}

    def pick(given: Path | None, key: str) -> Path | None:
        if given is not None:
            return given
        recorded = inputs.get(key)
        return Path(recorded) if isinstance(recorded, str) and Path(recorded).is_dir() else None

    return Roots(pick(maps, "maps"), pick(masks, "masks"), pick(images, "images"))


def _cards(
    indices: Sequence[int],
    columns: dict[str, list[Any]],
    roots: Roots,
    normal_dirs: Sequence[str],
    value_range: tuple[float, float],
    value_text: Any,
) -> list[ImageCard]:
    """Thumbnails of the images `indices` (image, map overlay, mask contour), read and drawn on threads."""
    from ..io.discovery import find_loco_pairs, find_pairs, image_key
    from ..io.loader import _find_image
    from ..io.loco import is_loco_ground_truth, read_defect_masks
    from ..io.readers import read_map, read_mask
    from ..report.report_figures import data_uri, thumbnails

    if roots.maps is None or roots.masks is None:
        return [ImageCard(columns["path"][i], columns["defect"][i], value_text(i), []) for i in indices]
    finder = find_loco_pairs if is_loco_ground_truth(roots.masks) else find_pairs
    pairs = {pair.relpath: pair for pair in finder(roots.maps, roots.masks, tuple(normal_dirs))}
    listings: dict[Path, dict[str, Path]] = {}

    def card(index: int) -> ImageCard:
        path = columns["path"][index]
        pair = pairs.get(path)
        if pair is None:
            return ImageCard(path, columns["defect"][index], value_text(index), [])
        amap = read_map(pair.map_path)
        height, width = int(columns["height"][index]), int(columns["width"][index])
        if pair.defect_mask_paths:  # MVTec LOCO: the union of the image's defects
            mask = read_defect_masks(pair.defect_mask_paths)[0]
        elif pair.mask_path is not None:
            mask = read_mask(pair.mask_path)
        else:
            mask = np.zeros((height, width), dtype=bool)
        image = None
        if roots.images is not None:
            found = _find_image(roots.images, image_key(path), listings)
            if found is not None:
                import cv2

                image = cv2.imread(str(found), cv2.IMREAD_COLOR)
                image = None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        # A photograph's thumbnails as JPEG (quality 90): 160 of them stay well under the 5 MB a page may weigh.
        pngs = thumbnails(image, amap, mask, value_range, jpeg_quality=None if image is None else JPEG_QUALITY)
        captions = (["image"] if image is not None else []) + ["map", "mask"]
        return ImageCard(path, columns["defect"][index], value_text(index),
                         [(data_uri(png), caption) for png, caption in zip(pngs, captions, strict=True)])  # fmt: skip

    # find_pairs lists folders: do it once, then read on threads (the readers release the GIL).
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(card, indices))


def _curves(folder: Path) -> dict[str, Any]:
    """``curves.parquet`` by curve: ``roc``, ``pr``, ``pro`` as (x, y); ``pimo`` as {image: (x, y)}; the pixel
    histograms as (left edges, counts). Missing file or curves: absent keys."""
    import pyarrow.parquet as pq

    path = folder / "curves.parquet"
    if not path.is_file():
        return {}
    table = pq.read_table(path).to_pydict()
    curves: dict[str, Any] = {"pimo": {}}
    names = np.array(table["curve"], dtype=object)
    xs = np.asarray(table["x"], dtype=np.float64)
    ys = np.asarray(table["y"], dtype=np.float64)
    images = table["image"]
    for name in ("roc", "pr", "pro", "pixel_histogram_normal", "pixel_histogram_anomalous"):
        rows = names == name
        if rows.any():
            curves[name] = (xs[rows], ys[rows])
    # A curve's rows are consecutive: split the pimo rows where the image changes.
    rows = np.flatnonzero(names == "pimo")
    if rows.size:
        image_of_row = np.array([images[i] for i in rows], dtype=object)
        starts = np.flatnonzero(np.concatenate(([True], image_of_row[1:] != image_of_row[:-1])))
        for start, stop in zip(starts, [*starts[1:], rows.size], strict=True):
            curves["pimo"][str(image_of_row[start])] = (xs[rows[start:stop]], ys[rows[start:stop]])
    return curves


def category_section(
    folder: Path,
    *,
    maps: Path | None = None,
    masks: Path | None = None,
    images: Path | None = None,
    worst: int = DEFAULT_WORST,
    anchor: str = "",
) -> tuple[CategorySection, list[FigureJob], Callable[[], None]]:
    """One evaluated category's section, the figure jobs it needs (drawn later, in parallel processes) and the
    function that fills its image cards (reading maps, masks and images: run while the figures are drawn)."""
    import pyarrow.parquet as pq

    summary = _read_json(folder / "summary.json")
    provenance = _read_json(folder / "provenance.json")
    columns = pq.read_table(folder / "per_image.parquet").to_pydict()
    name = str(summary.get("category"))
    section = CategorySection(name=name, anchor=anchor or _anchor(name), headline=headline_table(summary),
                              all_numbers=all_numbers_table(summary), counts=counts_line(summary))  # fmt: skip

    operating_path = folder / "operating_points.json"
    if operating_path.is_file():
        from .calibrate import Thresholds

        record = _read_json(operating_path)
        thresholds = Thresholds.from_json(record["thresholds"], str(operating_path))
        section.thresholds_text = thresholds.describe()
        rows = [
            Row(str(row["defect"]), [_format(row[key]) for key in PER_DEFECT_SHOWN]) for row in record["per_defect"]
        ]
        section.per_defect = Table(["defect", *PER_DEFECT_SHOWN], rows)

    labels = [int(v) for v in columns["label"]]
    aupimos = columns["aupimo"]
    scores = [float(v) for v in columns["image_score"]]
    curves = _curves(folder)
    prefix = section.anchor
    jobs: list[FigureJob] = []
    values = {key: summary.get(key) for key in summary if key.startswith(("pixel_auroc", "pixel_ap", "aupro_"))}
    limits = list(provenance.get("options", {}).get("aupro_limits") or [])
    if any(key in curves for key in ("roc", "pr", "pro")):
        jobs.append(("curves_svg", {"prefix": f"{prefix}-curves", "roc": curves.get("roc"), "pr": curves.get("pr"),
                                    "pro": curves.get("pro"), "aupro_limits": limits, "values": values}))  # fmt: skip
    defects = columns["defect"]
    if curves.get("pimo"):
        by_path = {path: defect for path, defect in zip(columns["path"], defects, strict=True)}
        pimo = [(image, by_path.get(image, ""), np.asarray(x), np.asarray(y))
                for image, (x, y) in sorted(curves["pimo"].items())]  # fmt: skip
        bounds = (float(summary.get("fpr_lower_bound") or 1e-5), float(summary.get("fpr_upper_bound") or 1e-4))
        thresh = (summary.get("thresh_lower_bound"), summary.get("thresh_upper_bound"))
        jobs.append(("pimo_svg", {"prefix": f"{prefix}-pimo", "curves": pimo, "fpr_bounds": bounds,
                                  "thresh": thresh if None not in thresh else None}))  # fmt: skip
    if any(value is not None for value in aupimos):
        by_defect: dict[str, list[float]] = {}
        for defect, label, value in zip(defects, labels, aupimos, strict=True):
            if label == 1 and value is not None:
                by_defect.setdefault(str(defect), []).append(float(value))
        jobs.append(("aupimo_by_defect_svg", {"prefix": f"{prefix}-aupimo", "aupimos_by_defect": by_defect}))
    array_scores = np.asarray(scores)
    array_labels = np.asarray(labels)
    pixel_hist = None
    if "pixel_histogram_normal" in curves and "pixel_histogram_anomalous" in curves:
        pixel_hist = (curves["pixel_histogram_normal"][0], curves["pixel_histogram_normal"][1],
                      curves["pixel_histogram_anomalous"][1])  # fmt: skip
    threshold_keys = {"image threshold": "image_threshold", "soft threshold": "image_soft_threshold",
                      "image F1max threshold": "image_f1max_threshold", "pixel threshold": "pixel_threshold",
                      "pixel F1max threshold": "pixel_f1max_threshold"}  # fmt: skip
    jobs.append(("score_histograms_svg", {
        "prefix": f"{prefix}-scores", "image_scores_normal": array_scores[array_labels == 0],
        "image_scores_anomalous": array_scores[array_labels == 1], "pixel_hist": pixel_hist,
        "thresholds": {title: summary.get(key) for title, key in threshold_keys.items()},
    }))  # fmt: skip

    roots = _roots(provenance, maps, masks, images)
    if roots.maps is None or roots.masks is None:
        section.notes.append(
            "the maps or masks recorded in provenance.json are not there any more: thumbnails skipped (give their new "
            "place with --maps and --masks)"
        )
    normal_dirs = provenance.get("options", {}).get("normal_dirs") or ["good", "Normal", "ok"]
    worst_indices = select_worst(columns["path"], labels, aupimos, worst)
    false_rejects = select_false_rejects(columns["path"], labels, scores, worst)
    low = summary.get("pixel_score_normal_mean")
    high = summary.get("pixel_score_normal_max")
    anomalous_high = summary.get("pixel_score_anomalous_mean")
    value_range = (
        float(low) if low is not None else float(np.min(array_scores)) - 1.0,
        float(max(v for v in (high, anomalous_high, float(np.max(array_scores))) if v is not None)),
    )

    def fill_cards() -> None:
        section.worst = _cards(worst_indices, columns, roots, normal_dirs, value_range,
                               lambda i: f"AUPIMO {_format(aupimos[i])}")  # fmt: skip
        section.false_rejects = _cards(false_rejects, columns, roots, normal_dirs, value_range,
                                       lambda i: f"image score {_format(scores[i])}")  # fmt: skip

    return section, jobs, fill_cards


PER_DEFECT_SHOWN = ("images", "rejected", "review", "accepted", "escaped", "escape_rate", "false_reject_rate",
                    "mean_aupimo")  # fmt: skip


def _anchor(name: str) -> str:
    """An HTML id for a category: letters, digits and dashes only, prefixed, so any category name is safe."""
    return "cat-" + "".join(c if c.isalnum() else "-" for c in name)


FIGURE_TITLES = {
    "curves_svg": "ROC, precision-recall and PRO curves (pixels)",
    "pimo_svg": "PIMO curves of every anomalous image",
    "aupimo_by_defect_svg": "AUPIMO per defect type",
    "score_histograms_svg": "image and pixel scores, normal and defective",
}


def _draw_and_fill(built: Sequence[tuple[CategorySection, list[FigureJob], Callable[[], None]]], workers: int) -> None:
    """Draw every section's figures (`draw_report_figures`, in `workers` processes, from a thread) while this
    thread fills the sections' image cards; then put the figures in their sections."""
    # OpenCV's import puts its own folder first on sys.path for a moment; a process spawned then inherits that
    # path, and its `import typing` finds cv2.typing and fails. So the card readers import it before any spawn.
    import cv2  # noqa: F401

    from ..report.report_figures import draw_report_figures

    flat = [job for _, jobs, _ in built for job in jobs]
    with ThreadPoolExecutor(max_workers=1) as drawer:
        drawing = drawer.submit(draw_report_figures, flat, workers=workers)
        for _, _, fill_cards in built:
            fill_cards()
        drawn = drawing.result()
    at = 0
    for section, jobs, _ in built:
        section.figures = [(FIGURE_TITLES[name], svg) for (name, _), svg in zip(jobs, drawn[at : at + len(jobs)],
                                                                                strict=True)]  # fmt: skip
        at += len(jobs)


def build_page(
    folder: Path,
    *,
    maps: Path | None = None,
    masks: Path | None = None,
    images: Path | None = None,
    worst: int = DEFAULT_WORST,
    workers: int | None = None,
) -> Page:
    """The report page of an ``evaluate``, ``benchmark`` or ``compare`` folder.

    Raises:
        InputError: not a results folder, an unreadable file, or the report extra missing.
    """
    _require_extra()
    if worst < 0:
        raise InputError(f"--worst must be 0 or more, got {worst}")
    kind = results_kind(folder)
    if kind == "evaluate":
        built = [category_section(folder, maps=maps, masks=masks, images=images, worst=worst)]
        # Four figures draw in 0.3 s; a spawned process takes longer than that to import matplotlib.
        _draw_and_fill(built, workers or 1)
        section = built[0][0]
        return Page("evaluate", f"{section.name}: aupimo evaluation", str(folder.name), categories=[section])
    if kind == "benchmark":
        rows = _read_json(folder / "summary.json")
        manifest = _read_json(folder / "manifest.json")
        recorded = manifest.get("inputs") or {}
        built = []
        for name in manifest.get("categories") or []:
            inputs = (_read_json(folder / name / "provenance.json").get("inputs")) or {}
            # A moved MAPS_ROOT or DATASET_ROOT: each category's recorded folder, rebased on the new root.
            sub = {key: _rebased(inputs.get(key), recorded.get(root), given)
                   for key, root, given in (("maps", "maps_root", maps), ("masks", "dataset_root", masks),
                                            ("images", "dataset_root", images))}  # fmt: skip
            built.append(category_section(folder / name, maps=sub["maps"], masks=sub["masks"], images=sub["images"],
                                          worst=worst, anchor=_anchor(name)))  # fmt: skip
        _draw_and_fill(built, workers or 2)
        overview = benchmark_overview(rows)
        return Page("benchmark", f"{folder.name}: aupimo benchmark", f"{len(built)} categories", overview=overview,
                    categories=[section for section, _, _ in built])  # fmt: skip
    if kind == "drift":
        return drift_page(folder)
    return compare_page(folder)


def _svg_uri(path: Path) -> str:
    """An SVG file of the results as a ``data:`` URI (the page's CSP allows images from data URIs only)."""
    return "data:image/svg+xml;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def drift_page(folder: Path) -> Page:
    """A drift folder's page: the periods (flagged cells marked ⚠), the baseline band and the figure."""
    from ..metrics.drift import SERIES, SERIES_TITLES

    record = _read_json(folder / "drift.json")
    rows = []
    for period in record["periods"]:
        cells = [period["role"], str(period["num_parts"])]
        for series in SERIES:
            text = _format(period.get(series))
            cells.append(f"{text} ⚠" if series in period["flagged"] else text)
        rows.append(Row(str(period["period"]), cells, strong=bool(period["flagged"])))
    sigma = record["rule"]["sigma"]
    tables = [
        Table(["period", "role", "parts", *(SERIES_TITLES[series] for series in SERIES)], rows,
              caption=f"each period; ⚠: more than {sigma:g} baseline standard deviations from the baseline mean"),
        Table(["series", "baseline mean", "baseline std", "band"],
              [Row(SERIES_TITLES[series], [_format(band["mean"]), _format(band["std"]),
                                           "" if band["mean"] is None else
                                           f"[{_format(band['mean'] - sigma * band['std'])}, "
                                           f"{_format(band['mean'] + sigma * band['std'])}]"])
               for series, band in record["baseline"].items()], caption="the baseline"),
    ]  # fmt: skip
    figures = [("drift", _svg_uri(folder / "drift.svg"))] if (folder / "drift.svg").is_file() else []
    flagged = [period["period"] for period in record["periods"] if period["flagged"]]
    text = f"flagged periods: {', '.join(flagged)}" if flagged else "no run period is flagged"
    return Page("drift", f"{folder.name}: aupimo drift", f"{len(record['periods'])} periods", overview_text=text,
                compare_tables=tables, compare_figures=figures, notes=list(record.get("notes") or []))  # fmt: skip


def _rebased(recorded: Any, recorded_root: Any, new_root: Path | None) -> Path | None:
    """A category's recorded input folder under a new root (`new_root` given), or None to keep the recorded one."""
    if new_root is None or not isinstance(recorded, str) or not isinstance(recorded_root, str):
        return None
    try:
        return new_root / Path(recorded).relative_to(recorded_root)
    except ValueError:
        return None


def benchmark_overview(rows: list[dict[str, Any]]) -> Table:
    """The per-category table of a benchmark (the compared metrics), linking to each category's section."""
    from ..compare.read import is_mean_row
    from ..metrics.registry import compared_keys, key_title

    keys = compared_keys([key for key in rows[0] if any(row.get(key) is not None for row in rows)])
    table_rows = []
    for row in rows:
        name = str(row["category"])
        mean = is_mean_row(row)
        cells = [_format(row.get(key)) for key in keys]
        if row.get("error"):
            cells = [f"failed: {row['error']}"] + [""] * (len(keys) - 1)
        table_rows.append(Row(name, cells, strong=mean, anchor=None if mean or row.get("error") else _anchor(name)))
    return Table(["category", *(key_title(key) for key in keys)], table_rows)


def compare_page(folder: Path) -> Page:
    """A comparison's page: its tables (from ``compare.json``) and its figures (as data URIs)."""
    record = _read_json(folder / "compare.json")
    ranking = list(record["ranking"])
    categories = list(record["categories"])
    table = record["table"]
    mean_rows = []
    for category in [*categories, "mean"]:
        values = [table[model][category].get("aupimo_mean") for model in ranking]
        finite = [v for v in values if v is not None]
        best = max(finite) if finite else None
        cells = [_format(v) for v in values]
        mean_rows.append(Row(category, cells, strong=category == "mean"))
        if best is not None:
            mean_rows[-1].cells = [f"{c} ★" if v == best else c for c, v in zip(cells, values, strict=True)]
    ranks = Row("average rank", [_format(record["avg_rank"][model]) for model in ranking], strong=True)
    tables = [Table(["category", *ranking], [*mean_rows, ranks], caption="mean AUPIMO (★ best of the row)")]
    from ..metrics.registry import key_title

    others = [key for key in record["metrics"] if key != "aupimo_mean"]
    tables.append(Table(["model", *(key_title(key) for key in others)],
                        [Row(model, [_format(table[model]["mean"].get(key)) for key in others]) for model in ranking],
                        caption="other metrics, mean over the categories"))  # fmt: skip
    figures = []
    figure_folder = folder / "figures"
    for path in sorted(figure_folder.rglob("*.svg")) if figure_folder.is_dir() else []:
        figures.append((path.relative_to(figure_folder).with_suffix("").as_posix(), _svg_uri(path)))
    overview_text = ""
    if record.get("critical_difference") is not None:
        friedman = record.get("friedman") or {}
        overview_text = (
            f"Friedman test: chi-square {_format(friedman.get('statistic'))}, p = {_format(friedman.get('pvalue'))}; "
            f"Nemenyi critical difference {_format(record['critical_difference'])} (alpha = 0.05)."
        )
    return Page("compare", f"{folder.name}: aupimo comparison", f"{len(ranking)} models, {len(categories)} categories",
                overview_text=overview_text, compare_tables=tables, compare_figures=figures,
                notes=list(record.get("notes") or []))  # fmt: skip


def render(page: Page) -> str:
    """The page's HTML: jinja2 with autoescape on (every name and path from the inputs is escaped)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("aupimo_cli.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template("report.html.j2").render(page=page)


GENERATOR = "aupimo-cli report"
"""The ``<meta name="generator">`` of every page: how an existing file is known to be one of ours."""


def _is_our_report(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(2048)
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}' in head


def write_report(html: str, out: Path, results: Path, *, overwrite: bool) -> Path:
    """Write the page atomically; inside `results`, record it in the folder's manifest (as added later).

    Raises:
        InputError: `out` exists and is not a report this tool wrote, or exists without --overwrite, or cannot be
            written (then nothing was changed).
    """
    from ..report.atomic import write_file_atomically
    from ..report.manifest import add_to_manifest, read_manifest

    out = Path(os.path.abspath(out))
    results = Path(os.path.abspath(results))
    inside = out.parent == results
    if out.exists():
        added = (read_manifest(results) or {}).get("added") or []
        if out.is_dir() or not ((inside and out.name in added) or _is_our_report(out)):
            raise InputError(f"--out {out} exists and is not a report aupimo wrote; choose another --out")
        if not overwrite:
            raise InputError(f"--out {out} already exists; pass --overwrite to replace it, or choose another --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(out, html.encode("utf-8"))
    except OSError as error:
        raise InputError(f"could not write {out} ({error.strerror or error}); nothing was changed") from error
    if inside:
        add_to_manifest(results, [out.name])
    return out
