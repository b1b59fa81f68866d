"""The figures and thumbnails of the HTML report of one evaluated category (``aupimo report``).

Plots are returned as SVG text to inline in the page, thumbnails as PNG bytes (`data_uri` makes them an ``<img>``
source):

- `curves_svg`: three panels side by side: the pixel ROC curve (FPR -> TPR, with the chance diagonal), the pixel
  precision-recall curve (recall -> precision) and the PRO curve (FPR -> PRO, up to the largest AUPRO limit, a
  dashed line at each limit), each titled with its value (AUROC, AP, AUPRO per limit). A curve that was not
  computed leaves its panel saying so.
- `pimo_svg`: the PIMO curve of every anomalous image (shared FPR on a log axis -> the image's TPR), coloured by
  defect type (legend with each defect's count), the AUPIMO integration range shaded.
- `aupimo_by_defect_svg`: per defect type, a horizontal box plot of the per-image AUPIMO with every image as a
  jittered dot (the jitter is seeded: the same inputs give the same dots).
- `score_histograms_svg`: the image scores of normal and defective images (overlaid histograms, shared bins) with
  a vertical line per threshold, and the pixel scores of both classes from a precomputed histogram (share of each
  class's pixels per bin, log scale) with the pixel thresholds.
- `thumbnails`: the thumbnails of one image: the image, the anomaly map over it (matplotlib's perceptual
  "inferno" colours) and the ground-truth contour over the image; `data_uri` encodes one.
- `draw_report_figures`: many figures at once in a few spawned processes.

The defect colours are the same in `pimo_svg` and `aupimo_by_defect_svg` for the same set of defects (a qualitative
colormap over the defect names sorted).

Determinism: the same inputs give the same SVG text and the same PNG bytes, here or in a worker process. The plots
are drawn inside `figures._drawing_context` (matplotlib's default style, DejaVu Sans, mathtext off, SVG text kept as
text, the fixed SVG hash salt `figures.SVG_HASH_SALT`) and saved without a date; the thumbnails are made with OpenCV
(``cv2.imencode``: no time, no software entry). The layout is computed from the measured extents of the texts and
legends (no ``tight``/``constrained`` layout); with ``check=True`` a function asserts that every text lies inside
the figure and that no two texts overlap (`figures._assert_inside`).

Embedding: the SVG returned is the ``<svg>`` element alone (no XML declaration, no DOCTYPE, no metadata) to put
inline in an HTML5 page next to other figures:

- every ``id`` becomes ``<prefix>-<id>``, and so does every reference to it (``url(#...)``, ``href="#..."``,
  ``xlink:href="#..."``): matplotlib names clip paths and markers from a hash of their geometry and its groups
  ``figure_1``, ``axes_1``..., so two figures inlined in one page would otherwise share ids. Give each figure of a
  page its own prefix (a letter, then letters, digits, ``-`` or ``_``). matplotlib's ids hold no ``-``, so the
  part before the last ``-`` of an id is its figure's prefix: figures with different prefixes share no id;
- the root gets ``id="<prefix>-svg"``, ``role="img"``, ``aria-labelledby`` and a ``<title>`` (its accessible
  name, ``id="<prefix>-title"``), keeps matplotlib's ``width``/``height`` in points and its ``viewBox`` (CSS
  ``max-width: 100%; height: auto`` scales it down on a narrow page);
- matplotlib's stylesheet (``*{stroke-linejoin: round; ...}``), which would apply to the whole page once inlined,
  is scoped to the figure (``#<prefix>-svg *{...}``), and the font falls back to Verdana (DejaVu Sans's metrics) and
  then any sans-serif font when the browser has no DejaVu Sans.

matplotlib is optional (the ``report`` extra) and imported inside the functions, as are OpenCV and the worker pool.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .figures import _PT, _assert_inside, _draw_boxes, _drawing_context, _Measure, _new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend

__all__ = [
    "REPORT_FIGURE_FUNCTIONS",
    "aupimo_by_defect_svg",
    "curves_svg",
    "data_uri",
    "draw_report_figures",
    "pimo_svg",
    "score_histograms_svg",
    "thumbnails",
]

Curve = tuple[ArrayLike, ArrayLike]
"""A curve as (x, y), two 1-D arrays of the same length."""

# Sizes in inches unless said otherwise.
_FONT = 10.0  # panel titles, axis labels, tick labels
_SMALL = 8.5  # legends, notes
_MARGIN = 0.1
_SAFETY = 0.04
_TICK_SPACE = (3.5 + 3.5) * _PT  # default major tick length + tick label pad
_LABEL_PAD = 4.0 * _PT  # default axis label pad
_TITLE_PAD = 6.0 * _PT  # default Axes title pad
_PANEL_GAP = 0.3  # between a panel's right end (with its overhanging tick label) and the next panel's y label
_LINE_SPACING = 1.2  # matplotlib's line spacing of multi-line texts

_CURVE_PANEL = 2.2  # the square plot area of each panel of `curves_svg`
_PIMO_WIDTH, _PIMO_HEIGHT = 4.4, 2.8
_BOX_WIDTH, _BOX_ROW = 4.4, 0.36
_HIST_WIDTH, _HIST_HEIGHT = 3.0, 2.1

_THIN_STEP = 0.002  # curves are thinned to points this far apart along the curve, in fractions of the axes
_CONTOUR_BGR = (0, 255, 0)  # bright green: apart from every colour of "inferno" and from grey
_OVERLAY_ALPHA = 0.6  # weight of the map's colour over the grey image
_THRESHOLD_STYLES = (
    ("#000000", (0, (5, 2))),
    ("#7b3294", (0, (2, 1.5))),
    ("#008837", (0, (6, 2, 1.5, 2))),
    ("#e66101", (0, (1, 1.5))),
)
_NORMAL_COLOR = "#1f77b4"
_DEFECTIVE_COLOR = "#d62728"
_NOT_COMPUTED = "not computed"
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")


# ---------------------------------------------------------------------------------------------------------------
# SVG text for an HTML page

_TAG = re.compile(r"<[^<>]*>")  # matplotlib escapes < and > in texts and attribute values
_ID = re.compile(r'(\sid=")([^"]*")')
_HREF = re.compile(r'(\s(?:xlink:)?href="#)([^"]*")')
_URL = re.compile(r"(url\(#)([^)]*\))")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_FONT_FAMILY = "font-family: 'DejaVu Sans'"
_FONT_FALLBACK = "font-family: 'DejaVu Sans', Verdana, sans-serif"


def _check_prefix(prefix: str) -> None:
    if not _PREFIX.match(prefix):
        raise ValueError(f"the id prefix must be a letter then letters, digits, '-' or '_', got {prefix!r}")


def _inline_svg(svg: str, prefix: str, title: str) -> str:
    """matplotlib's SVG document as an ``<svg>`` element to inline in an HTML5 page (see the module's docstring)."""
    svg = svg[svg.index("<svg") :].strip()
    svg = _METADATA.sub("", svg, count=1)

    def rewrite(tag: re.Match[str]) -> str:
        text = tag.group(0)
        text = _ID.sub(lambda match: f"{match.group(1)}{prefix}-{match.group(2)}", text)
        text = _HREF.sub(lambda match: f"{match.group(1)}{prefix}-{match.group(2)}", text)
        text = _URL.sub(lambda match: f"{match.group(1)}{prefix}-{match.group(2)}", text)
        return text.replace(_FONT_FAMILY, _FONT_FALLBACK)

    svg = _TAG.sub(rewrite, svg)
    root_end = svg.index(">") + 1
    root = svg[:root_end]
    if " id=" in root or "width=" not in root or "height=" not in root:
        raise RuntimeError(f"unexpected SVG root from matplotlib: {root}")
    root = root.replace("<svg ", f'<svg id="{prefix}-svg" role="img" aria-labelledby="{prefix}-title" ', 1)
    title_element = f'\n <title id="{prefix}-title">{escape(title)}</title>'
    svg = root + title_element + svg[root_end:]
    return svg.replace('<style type="text/css">*{', f'<style type="text/css">#{prefix}-svg *{{', 1)


def _svg(figure: Figure, prefix: str, title: str, check: bool) -> str:
    """The figure as inline SVG text; with `check`, assert first that nothing is clipped or overlaps."""
    if check:
        figure.canvas.draw()
        _assert_inside(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return _inline_svg(buffer.getvalue().decode("utf-8"), prefix, title)


# ---------------------------------------------------------------------------------------------------------------
# shared drawing helpers


def _curve(curve: Curve) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(curve[0], dtype=np.float64).ravel()
    y = np.asarray(curve[1], dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"a curve needs as many x as y values, got {x.size} and {y.size}")
    finite = np.isfinite(x) & np.isfinite(y)
    return x[finite], y[finite]


def _thin(u: NDArray[np.float64], v: NDArray[np.float64], step: float = _THIN_STEP) -> NDArray[np.intp]:
    """The indices of the points to draw of a curve given in axes fractions (`u`, `v`): the first and the last, and
    the first point past every `step` of length along the curve. The drawn curve is off by less than `step`."""
    if u.size <= 2:
        return np.arange(u.size)
    length = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(u), np.diff(v)))))
    cells = np.floor(length / step)
    keep = np.flatnonzero(np.diff(cells) > 0) + 1
    return np.unique(np.concatenate(([0], keep, [u.size - 1])))


def _value(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _percent(limit: float) -> str:
    return f"{round(limit * 100, 9):g}%"


def _aupro_key(limit: float) -> str:
    """``aupro_30`` for 0.3, ``aupro_05`` for 0.05, ``aupro_0p5`` for 0.005: `aupimo_cli.metrics.pro.aupro_key`,
    repeated here since importing the metrics imports numba (half a second in each worker)."""
    percent = round(limit * 100, 9)
    if percent == int(percent):
        return f"aupro_{int(percent):02d}"
    return "aupro_" + format(percent, "g").replace(".", "p")


def _wrapped(measure: _Measure, text: str, size: float, width: float) -> tuple[str, float]:
    """`text` wrapped to `width` and its height as matplotlib lays out the lines."""
    wrapped = measure.wrap(text, size, width)
    lines = wrapped.count("\n") + 1
    return wrapped, measure.size("lp", size)[1] * (1 + _LINE_SPACING * (lines - 1))


def _axes(figure: Figure, box: tuple[float, float, float, float]) -> Axes:
    """An Axes at `box` = (left, bottom, width, height) in inches of the figure, whose size is set."""
    width, height = figure.get_size_inches()
    left, bottom, box_width, box_height = box
    return figure.add_axes((left / width, bottom / height, box_width / width, box_height / height))


def _not_computed(axes: Axes) -> None:
    axes.text(0.5, 0.5, _NOT_COMPUTED, ha="center", va="center", color="0.4", fontsize=_FONT, transform=axes.transAxes)


def _legend_size(figure: Figure, legend: Legend) -> tuple[float, float]:
    """The legend's width and height in inches (it is laid out the same wherever it is anchored)."""
    box = legend.get_window_extent(figure.canvas.get_renderer())  # type: ignore[attr-defined]
    return box.width / figure.dpi, box.height / figure.dpi


def _defect_colors(defects: Sequence[str]) -> dict[str, str]:
    """A colour per defect from a qualitative colormap (tab10, or tab20 beyond 10 defects), by sorted name."""
    import matplotlib
    from matplotlib.colors import to_hex

    names = sorted(set(defects))
    colormap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    count = len(colormap.colors)  # type: ignore[attr-defined]
    return {name: to_hex(colormap.colors[index % count]) for index, name in enumerate(names)}  # type: ignore[attr-defined]


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _defect_name(defect: str) -> str:
    """A defect's name as shown: an empty one (no defect folder) as "(no defect type)"."""
    return defect if defect.strip() else "(no defect type)"


def _superscript_decade(value: float, _position: float) -> str:
    """``10⁻⁵``: a log tick label without mathtext (which is off)."""
    exponent = round(math.log10(value)) if value > 0 else 0
    return "10" + str(exponent).translate(_SUPERSCRIPTS)


def _scientific(value: float) -> str:
    """``10⁻⁵``, ``2.5·10⁻⁵``: a positive number in scientific notation without mathtext.

    >>> _scientific(1e-5), _scientific(2.5e-4), _scientific(0.3)
    ('10⁻⁵', '2.5·10⁻⁴', '3·10⁻¹')
    """
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPTS)
    return power if mantissa == "1" else f"{mantissa}·{power}"


# ---------------------------------------------------------------------------------------------------------------
# ROC, precision-recall and PRO curves


def _limit_lines(axes: Axes, measure: _Measure, limits: Sequence[float], x_high: float) -> None:
    """A dashed vertical line at each AUPRO limit, labelled ("30%") at the bottom: right of the line, or left of it
    near the axis's end; a label that would overlap another goes a row higher."""
    inches_per_unit = _CURVE_PANEL / (1.02 * x_high)
    gap = 0.012 * x_high
    row_ends: list[list[tuple[float, float]]] = []  # per row, the x extents (inches) of its labels
    text_height = measure.size("lp", _SMALL)[1]
    for limit in sorted(limits):
        axes.axvline(limit, color="0.35", linewidth=0.9, linestyle=(0, (4, 2)))
        label = _percent(limit)
        label_width = measure.size(label, _SMALL)[0]
        at_end = limit > 0.8 * x_high
        anchor = limit - gap if at_end else limit + gap
        start = anchor * inches_per_unit - (label_width if at_end else 0.0)
        extent = (start - 0.03, start + label_width + 0.03)
        row = next(
            (
                index
                for index, taken in enumerate(row_ends)
                if all(extent[1] <= left or extent[0] >= right for left, right in taken)
            ),
            len(row_ends),
        )
        if row == len(row_ends):
            row_ends.append([])
        row_ends[row].append(extent)
        axes.text(
            anchor,
            0.03 + row * (text_height + 0.04) / _CURVE_PANEL * 1.02,
            label,
            ha="right" if at_end else "left",
            va="bottom",
            fontsize=_SMALL,
            color="0.25",
        )


def curves_svg(
    prefix: str,
    roc: Curve | None,
    pr: Curve | None,
    pro: Curve | None,
    aupro_limits: Sequence[float],
    values: Mapping[str, float | None],
    *,
    title: str = "Pixel ROC, precision-recall and PRO curves",
    check: bool = False,
) -> str:
    """Three panels: pixel ROC, pixel precision-recall and PRO curves, titled with their values.

    Args:
        prefix: the prefix of every id of the SVG (unique per figure of a page).
        roc: (FPR, TPR) of the pixel ROC curve, or None (the panel says "not computed").
        pr: (recall, precision) of the pixel precision-recall curve, or None.
        pro: (FPR, PRO) of the PRO curve, or None; drawn from FPR 0 to the largest AUPRO limit.
        aupro_limits: the AUPRO FPR limits (e.g. ``(0.3, 0.05)``), each a dashed vertical line in the PRO panel.
        values: ``pixel_auroc``, ``pixel_ap`` and ``aupro_<pct>`` per limit (``aupro_30``, ``aupro_05``); a
            missing or None value is shown as "n/a".
        title: the SVG's accessible title.
        check: assert that nothing is clipped and no texts overlap (for tests).

    Returns:
        The ``<svg>`` element.

    Raises:
        ValueError: a bad prefix, a limit outside (0, 1], or a curve with unequal x and y lengths.
        ImportError: matplotlib is not installed.
    """
    _check_prefix(prefix)
    limits = sorted({float(limit) for limit in aupro_limits}, reverse=True)
    if any(not 0.0 < limit <= 1.0 for limit in limits):
        raise ValueError(f"the AUPRO limits must lie in (0, 1], got {list(aupro_limits)}")
    x_max = limits[0] if limits else 1.0
    # A limit and its value joined by a no-break space: a wrapped title breaks between the pairs only.
    aupros = ", ".join(f"{_percent(limit)}\u00a0{_value(values.get(_aupro_key(limit)))}" for limit in limits)
    panels = [
        (roc, f"pixel ROC (AUROC {_value(values.get('pixel_auroc'))})", "FPR", "TPR", 1.0),
        (pr, f"precision-recall (AP {_value(values.get('pixel_ap'))})", "recall", "precision", 1.0),
        (pro, f"PRO (AUPRO {aupros})" if aupros else "PRO", "FPR", "PRO", x_max),
    ]
    with _drawing_context():
        from matplotlib.ticker import MaxNLocator

        figure, measure = _new_figure()
        label_height = measure.size("lp", _FONT)[1]
        tick_width = measure.width(["0.0", "1.0"], _FONT)
        y_side = label_height + _LABEL_PAD + tick_width + _TICK_SPACE  # y label and tick labels left of a panel
        overhang = measure.width(["1.0", "0.30"], _FONT) / 2 + _SAFETY  # the last x tick label, right of a panel
        # A title may stick out of its panel by 0.2 inches each side (into the tick labels' overhang and margin).
        titles = [_wrapped(measure, text, _FONT, _CURVE_PANEL + 0.4) for _, text, _, _, _ in panels]
        top = _MARGIN + max(height for _, height in titles) + _TITLE_PAD + _SAFETY
        bottom = _MARGIN + label_height + _LABEL_PAD + label_height + _TICK_SPACE + _SAFETY
        lefts = [
            _MARGIN + _SAFETY + y_side + index * (_CURVE_PANEL + overhang + _PANEL_GAP + y_side) for index in range(3)
        ]
        width = lefts[-1] + _CURVE_PANEL + overhang + _MARGIN
        height = top + _CURVE_PANEL + bottom
        figure.set_size_inches(width, height)

        for (curve, _, x_label, y_label, x_high), (panel_title, _), left in zip(panels, titles, lefts, strict=True):
            axes = _axes(figure, (left, bottom, _CURVE_PANEL, _CURVE_PANEL))
            axes.set_title(panel_title, fontsize=_FONT)
            axes.set_xlabel(x_label, fontsize=_FONT)
            axes.set_ylabel(y_label, fontsize=_FONT)
            pad = 0.01 * x_high
            axes.set_xlim(-pad, x_high + pad)
            axes.set_ylim(-0.01, 1.01)
            if x_high == 1.0:
                axes.set_xticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
            else:
                axes.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
            axes.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
            axes.grid(color="0.9", linewidth=0.6)
            if x_label == "FPR" and x_high == 1.0:
                axes.plot([0.0, 1.0], [0.0, 1.0], color="0.6", linewidth=0.8, linestyle=(0, (4, 3)))
            if curve is None:
                _not_computed(axes)
            else:
                x, y = _curve(curve)
                if x_high < 1.0 and x.size:  # the PRO curve up to the axis's end and one point past it
                    end = int(np.searchsorted(x, x_high, side="right"))
                    x, y = x[: end + 1], y[: end + 1]
                keep = _thin(x / x_high, y)
                axes.plot(x[keep], y[keep], color="#1f4e79", linewidth=1.4)
            if y_label == "PRO":
                _limit_lines(axes, measure, limits, x_high)
        return _svg(figure, prefix, title, check)


# ---------------------------------------------------------------------------------------------------------------
# PIMO curves


def pimo_svg(
    prefix: str,
    curves: Sequence[tuple[str, str, ArrayLike, ArrayLike]],
    fpr_bounds: tuple[float, float],
    thresh: tuple[float, float] | None = None,
    *,
    title: str | None = None,
    check: bool = False,
) -> str:
    """Every anomalous image's PIMO curve, coloured by defect type, the AUPIMO integration range shaded.

    Args:
        prefix: the prefix of every id of the SVG (unique per figure of a page).
        curves: per anomalous image (image path, defect name, shared FPR, TPR); the FPRs > 0 are drawn on a log
            axis from a little below the lower bound to a little above the upper one.
        fpr_bounds: (lower, upper) shared-FPR bounds of the AUPIMO integral, shaded.
        thresh: the anomaly-score thresholds of the integration range (`AUPIMOResult.thresh_bounds`: the lower
            threshold is the one at the upper FPR bound), named above the plot; None names none.
        title: the SVG's accessible title (by default it counts the curves).
        check: assert that nothing is clipped and no texts overlap (for tests).

    Returns:
        The ``<svg>`` element.

    Raises:
        ValueError: a bad prefix, bounds not with 0 < lower < upper <= 1, or a curve with unequal x and y lengths.
        ImportError: matplotlib is not installed.
    """
    _check_prefix(prefix)
    lower, upper = float(fpr_bounds[0]), float(fpr_bounds[1])
    if not 0.0 < lower < upper <= 1.0:
        raise ValueError(f"the FPR bounds must satisfy 0 < lower < upper <= 1, got {fpr_bounds}")
    n = len(curves)
    counts: dict[str, int] = {}
    for _, defect, _, _ in curves:
        counts[str(defect)] = counts.get(str(defect), 0) + 1
    heading = f"PIMO curves of {n} anomalous image{'s' if n != 1 else ''}"
    note = f"shaded: AUPIMO's integration range, shared FPR {_scientific(lower)} to {_scientific(upper)}"
    if thresh is not None:
        note += f" (anomaly scores {float(thresh[1]):.4g} to {float(thresh[0]):.4g})"
    # Half a decade each side of the bounds (shifted left to end at FPR 1 if need be).
    low_log, high_log = math.log10(lower) - 0.5, math.log10(upper) + 0.5
    if high_log > 0.0:
        low_log, high_log = low_log - high_log, 0.0

    with _drawing_context():
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        figure, measure = _new_figure()
        colors = _defect_colors(list(counts))
        label_height = measure.size("lp", _FONT)[1]
        y_side = label_height + _LABEL_PAD + measure.width(["0.0", "1.0"], _FONT) + _TICK_SPACE
        left = _MARGIN + _SAFETY + y_side
        overhang = measure.size("10⁻⁰", _FONT)[0] / 2 + _SAFETY
        bottom = _MARGIN + label_height + _LABEL_PAD + label_height + _TICK_SPACE + _SAFETY

        figure.set_size_inches(8.0, 5.0)  # provisional: the legend is measured before the layout is set
        handles = [Line2D([], [], color=colors[defect], linewidth=2.0) for defect in sorted(counts)]
        labels = [f"{_defect_name(defect)} ({counts[defect]})" for defect in sorted(counts)]
        legend = None
        legend_width = legend_height = 0.0
        if handles:
            legend = figure.legend(
                handles,
                labels,
                loc="upper left",
                fontsize=_SMALL,
                title="defect (images)",
                title_fontsize=_SMALL,
                frameon=False,
                borderaxespad=0.0,
                bbox_transform=figure.dpi_scale_trans,
            )
            legend_width, legend_height = _legend_size(figure, legend)
        legend_left = left + _PIMO_WIDTH + overhang + 0.15
        width = legend_left + legend_width + _MARGIN + _SAFETY
        # The heading and the note above the plot and the legend; the plot as tall as the legend needs.
        text_width = width - left - _MARGIN - _SAFETY
        heading_text, heading_height = _wrapped(measure, heading, _FONT, text_width)
        note_text, note_height = _wrapped(measure, note, _SMALL, text_width)
        top = _MARGIN + heading_height + 0.06 + note_height + 0.08
        plot_height = max(_PIMO_HEIGHT, legend_height - bottom + _MARGIN + _SAFETY)
        height = top + plot_height + bottom
        figure.set_size_inches(width, height)
        if legend is not None:
            legend.set_bbox_to_anchor((legend_left, height - top), transform=figure.dpi_scale_trans)

        axes = _axes(figure, (left, bottom, _PIMO_WIDTH, plot_height))
        axes.set_xscale("log")
        axes.set_xlim(10.0**low_log, 10.0**high_log)
        axes.set_ylim(-0.01, 1.01)
        axes.xaxis.set_major_locator(LogLocator(base=10.0))
        axes.xaxis.set_major_formatter(FuncFormatter(_superscript_decade))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
        axes.grid(color="0.9", linewidth=0.6)
        axes.axvspan(lower, upper, color="0.88", linewidth=0.0, zorder=0.5)
        axes.set_xlabel("shared FPR (mean FPR of the normal images, log scale)", fontsize=_FONT)
        axes.set_ylabel("TPR of the image", fontsize=_FONT)
        alpha = 0.8 if n <= 20 else 0.55 if n <= 60 else 0.4
        for _, defect, x_values, y_values in curves:
            x, y = _curve((x_values, y_values))
            positive = x > 0.0
            x, y = x[positive], y[positive]
            keep = _thin((np.log10(x) - low_log) / (high_log - low_log) if x.size else x, y)
            line = Line2D(x[keep], y[keep], color=colors[str(defect)], linewidth=0.8, alpha=alpha)
            axes.add_line(line)
        if not n:
            axes.text(0.5, 0.5, "no anomalous image", ha="center", va="center", color="0.4", transform=axes.transAxes)
        inches = figure.dpi_scale_trans
        figure.text(left, height - _MARGIN, heading_text, ha="left", va="top", fontsize=_FONT, transform=inches)
        figure.text(
            left,
            height - _MARGIN - heading_height - 0.06,
            note_text,
            ha="left",
            va="top",
            fontsize=_SMALL,
            color="0.3",
            transform=inches,
        )
        return _svg(figure, prefix, title or heading, check)


# ---------------------------------------------------------------------------------------------------------------
# AUPIMO by defect type


def aupimo_by_defect_svg(
    prefix: str,
    aupimos_by_defect: Mapping[str, Sequence[float] | NDArray[np.float64]],
    *,
    title: str = "Per-image AUPIMO by defect type",
    check: bool = False,
) -> str:
    """Per defect type (sorted by name, first on top), a horizontal box plot of its images' AUPIMO and every image
    as a dot jittered up or down (seeded: the same inputs give the same dots).

    The boxes are those of the compare figures (`figures._draw_boxes`): quartiles, whiskers to the furthest values
    within 1.5 interquartile ranges, the median (orange) and the mean (white diamond); the dots are in the defect's
    colour of `pimo_svg`. NaN values (normal images) are dropped.

    Args:
        prefix: the prefix of every id of the SVG (unique per figure of a page).
        aupimos_by_defect: defect name -> its images' AUPIMO in [0, 1].
        title: the SVG's accessible title.
        check: assert that nothing is clipped and no texts overlap (for tests).

    Returns:
        The ``<svg>`` element.

    Raises:
        ValueError: a bad prefix.
        ImportError: matplotlib is not installed.
    """
    _check_prefix(prefix)
    defects = sorted(str(defect) for defect in aupimos_by_defect)
    data = {str(defect): np.asarray(values, dtype=np.float64).ravel() for defect, values in aupimos_by_defect.items()}
    data = {defect: values[np.isfinite(values)] for defect, values in data.items()}
    labels = [f"{_defect_name(defect)} ({data[defect].size})" for defect in defects]
    rows = max(len(defects), 1)

    with _drawing_context():
        from matplotlib.cbook import boxplot_stats
        from matplotlib.lines import Line2D

        figure, measure = _new_figure()
        colors = _defect_colors(defects)
        label_height = measure.size("lp", _FONT)[1]
        left = _MARGIN + _SAFETY + measure.width([*labels, "no anomalous image"], _FONT) + _TICK_SPACE
        plot_height = _BOX_ROW * (rows + 0.4)
        bottom = _MARGIN + label_height + _LABEL_PAD + label_height + _TICK_SPACE + _SAFETY
        top = _MARGIN + measure.size("1.0", _FONT)[1] / 2
        width = left + _BOX_WIDTH + measure.size("1.0", _FONT)[0] / 2 + _SAFETY + _MARGIN
        height = top + plot_height + bottom
        figure.set_size_inches(width, height)

        axes = _axes(figure, (left, bottom, _BOX_WIDTH, plot_height))
        axes.set_xlim(-0.02, 1.02)
        axes.set_ylim(0.3, rows + 0.7)
        axes.set_xticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
        positions = [float(rows - index) for index in range(len(defects))]
        axes.set_yticks(positions, labels, fontsize=_FONT)
        axes.tick_params(axis="y", length=0)
        axes.grid(axis="x", color="0.88", linewidth=0.6)
        axes.set_xlabel("AUPIMO", fontsize=_FONT)
        if not defects:
            axes.set_yticks([])
            _not_computed(axes)
            axes.texts[-1].set_text("no anomalous image")
        stats: list[dict[str, Any]] = []
        for index, defect in enumerate(defects):
            values = data[defect]
            stat: dict[str, Any] = dict(boxplot_stats(values)[0]) if values.size else {"med": math.nan}
            stat["fliers"] = []  # every value is a dot already
            stats.append(stat)
            if values.size:
                jitter = np.random.default_rng([20240917, index]).uniform(-0.22, 0.22, values.size)
                dots = Line2D(
                    values,
                    positions[index] + jitter,
                    linestyle="none",
                    marker="o",
                    markersize=2.8,
                    markeredgewidth=0.0,
                    color=colors[defect],
                    alpha=0.75,
                    zorder=2.15,  # over the box, under the mean
                    transform=axes.transData,
                )
                dots.set_clip_box(axes.bbox)
                figure.add_artist(dots)
        if stats:
            _draw_boxes(figure, axes.transData, stats, positions)
        return _svg(figure, prefix, title, check)


# ---------------------------------------------------------------------------------------------------------------
# score histograms


def _threshold_lines(axes: Axes, thresholds: Mapping[str, float | None]) -> list[tuple[Any, str]]:
    """A vertical line per given finite threshold; its legend handle and label."""
    entries = []
    index = 0
    for name, value in thresholds.items():
        if value is None or not math.isfinite(value):
            continue
        color, dashes = _THRESHOLD_STYLES[index % len(_THRESHOLD_STYLES)]
        line = axes.axvline(float(value), color=color, linestyle=dashes, linewidth=1.2, zorder=3)
        entries.append((line, f"{name} = {float(value):.4g}"))
        index += 1
    return entries


def _x_range(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = 0.03 * (high - low) if high > low else max(abs(low) * 0.05, 0.5)
    return low - pad, high + pad


def score_histograms_svg(
    prefix: str,
    image_scores_normal: ArrayLike,
    image_scores_anomalous: ArrayLike,
    pixel_hist: tuple[ArrayLike, ArrayLike, ArrayLike] | None,
    thresholds: Mapping[str, float | None],
    *,
    title: str = "Histograms of the image and pixel anomaly scores",
    check: bool = False,
) -> str:
    """Two panels: the image scores of normal and defective images, and the pixel scores of both classes.

    Args:
        prefix: the prefix of every id of the SVG (unique per figure of a page).
        image_scores_normal: the scores of the normal images (non-finite values dropped).
        image_scores_anomalous: the scores of the defective images.
        pixel_hist: (left bin edges, counts of normal pixels, counts of anomalous pixels), equal-width bins (the
            last bin as wide as the one before it); or None (the panel says "not computed"). Drawn as each class's
            share of its pixels per bin on a log scale: the classes are orders of magnitude apart in size.
        thresholds: name -> threshold (None: not drawn). Names starting with "pixel" are drawn in the pixel panel,
            the others in the image panel, e.g. ``{"image threshold": 4.3, "soft threshold": 3.7,
            "image F1max threshold": 3.77, "pixel threshold": 4.1, "pixel F1max threshold": 3.9}``.
        title: the SVG's accessible title.
        check: assert that nothing is clipped and no texts overlap (for tests).

    Returns:
        The ``<svg>`` element.

    Raises:
        ValueError: a bad prefix or a pixel histogram whose arrays differ in length.
        ImportError: matplotlib is not installed.
    """
    _check_prefix(prefix)
    normal = np.asarray(image_scores_normal, dtype=np.float64).ravel()
    anomalous = np.asarray(image_scores_anomalous, dtype=np.float64).ravel()
    normal, anomalous = normal[np.isfinite(normal)], anomalous[np.isfinite(anomalous)]
    image_thresholds = {name: value for name, value in thresholds.items() if not name.lower().startswith("pixel")}
    pixel_lines = {name: value for name, value in thresholds.items() if name.lower().startswith("pixel")}
    hist = None
    if pixel_hist is not None:
        edges_left, counts_normal, counts_anomalous = (
            np.asarray(part, dtype=np.float64).ravel() for part in pixel_hist
        )
        if not edges_left.size == counts_normal.size == counts_anomalous.size:
            raise ValueError(
                f"the pixel histogram needs one count per bin and class: {edges_left.size} edges, "
                f"{counts_normal.size} and {counts_anomalous.size} counts"
            )
        if edges_left.size and (counts_normal > 0).any() | (counts_anomalous > 0).any():  # else nothing to draw
            hist = (edges_left, counts_normal, counts_anomalous)

    with _drawing_context():
        figure, measure = _new_figure()
        label_height = measure.size("lp", _FONT)[1]
        image_ticks = measure.width(["0", "100", "1000"], _FONT)
        pixel_ticks = measure.size("10⁻¹⁰", _FONT)[0]
        panel_title_height = label_height + _TITLE_PAD
        top = _MARGIN + panel_title_height + _SAFETY
        axis_bottom = label_height + _LABEL_PAD + label_height + _TICK_SPACE + _SAFETY
        overhang = measure.width(["0.000"], _FONT) / 2 + _SAFETY
        left_image = _MARGIN + _SAFETY + label_height + _LABEL_PAD + image_ticks + _TICK_SPACE
        left_pixel = left_image + _HIST_WIDTH + overhang + _PANEL_GAP + label_height + _LABEL_PAD + pixel_ticks
        left_pixel += _TICK_SPACE
        width = left_pixel + _HIST_WIDTH + overhang + _MARGIN
        figure.set_size_inches(width, 5.0)  # provisional, for the legends' sizes
        image_axes = _axes(figure, (left_image, 1.0, _HIST_WIDTH, _HIST_HEIGHT))
        pixel_axes = _axes(figure, (left_pixel, 1.0, _HIST_WIDTH, _HIST_HEIGHT))

        # The image scores: filled steps on shared bins.
        image_axes.set_title("image scores", fontsize=_FONT)
        image_axes.set_xlabel("image anomaly score", fontsize=_FONT)
        image_axes.set_ylabel("images", fontsize=_FONT)
        image_entries: list[tuple[Any, str]] = []
        both = np.concatenate((normal, anomalous))
        if both.size:
            # About 2 sqrt(n) bins (26 for 160 images), 10 to 50.
            edges = np.histogram_bin_edges(both, bins=int(np.clip(np.ceil(2.0 * np.sqrt(both.size)), 10, 50)))
            for values, color, name in ((normal, _NORMAL_COLOR, "normal"), (anomalous, _DEFECTIVE_COLOR, "defective")):
                counts, _ = np.histogram(values, bins=edges)
                image_axes.stairs(counts, edges, fill=True, color=color, alpha=0.25, linewidth=0.0)
                step = image_axes.stairs(counts, edges, color=color, linewidth=1.2)
                image_entries.append((step, f"{name} ({values.size})"))
            image_entries += _threshold_lines(image_axes, image_thresholds)
            drawn = [float(edges[0]), float(edges[-1])]
            drawn += [float(value) for value in image_thresholds.values() if value is not None and math.isfinite(value)]
            image_axes.set_xlim(*_x_range(drawn))
            image_axes.set_ylim(0.0, None)
        else:
            _not_computed(image_axes)

        # The pixel scores: each class's share of its pixels per bin, log scale, empty bins left out.
        pixel_axes.set_title("pixel scores", fontsize=_FONT)
        pixel_axes.set_xlabel("pixel anomaly score", fontsize=_FONT)
        pixel_axes.set_ylabel("share of the class's pixels", fontsize=_FONT)
        pixel_entries: list[tuple[Any, str]] = []
        if hist is not None:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            edges_left, counts_normal, counts_anomalous = hist
            bin_width = float(edges_left[-1] - edges_left[-2]) if edges_left.size > 1 else 1.0
            edges = np.append(edges_left, edges_left[-1] + bin_width)
            smallest, largest = math.inf, 0.0
            for counts, color, name in (
                (counts_normal, _NORMAL_COLOR, "normal"),
                (counts_anomalous, _DEFECTIVE_COLOR, "defective"),
            ):
                total = float(counts.sum())
                share = np.where(counts > 0, counts / total if total > 0 else 0.0, np.nan)
                if np.isfinite(share).any():
                    smallest = min(smallest, float(np.nanmin(share)))
                    largest = max(largest, float(np.nanmax(share)))
                (line,) = pixel_axes.plot(
                    edges, np.append(share, share[-1]), drawstyle="steps-post", color=color, linewidth=1.2
                )
                pixel_entries.append((line, name))
            pixel_entries += _threshold_lines(pixel_axes, pixel_lines)
            pixel_axes.set_yscale("log", nonpositive="mask")
            if largest > 0:
                low = 10.0 ** math.floor(math.log10(smallest))
                high = 10.0 ** math.ceil(math.log10(largest) + 0.05)
                pixel_axes.set_ylim(low, max(high, low * 10.0))
            pixel_axes.yaxis.set_major_locator(LogLocator(base=10.0, numticks=6))
            pixel_axes.yaxis.set_major_formatter(FuncFormatter(_superscript_decade))
            pixel_axes.yaxis.set_minor_formatter(NullFormatter())
            drawn = [float(edges[0]), float(edges[-1])]
            drawn += [float(value) for value in pixel_lines.values() if value is not None and math.isfinite(value)]
            pixel_axes.set_xlim(*_x_range(drawn))
        else:
            _not_computed(pixel_axes)

        # Each panel's legend below its x axis label; then the final layout.
        legends = []
        for axes, entries in ((image_axes, image_entries), (pixel_axes, pixel_entries)):
            if entries:
                legend = figure.legend(
                    [handle for handle, _ in entries],
                    [label for _, label in entries],
                    loc="upper left",
                    fontsize=_SMALL,
                    frameon=False,
                    borderaxespad=0.0,
                    ncols=1,
                    bbox_transform=figure.dpi_scale_trans,
                )
                legends.append((axes, legend, _legend_size(figure, legend)))
        legend_height = max((size[1] for _, _, size in legends), default=0.0)
        bottom = _MARGIN + legend_height + (0.06 if legends else 0.0) + axis_bottom
        height = top + _HIST_HEIGHT + bottom
        for axes in (image_axes, pixel_axes):
            left = left_image if axes is image_axes else left_pixel
            axes.set_position((left / width, bottom / height, _HIST_WIDTH / width, _HIST_HEIGHT / height))
        figure.set_size_inches(width, height)
        for axes, legend, _ in legends:
            left = left_image if axes is image_axes else left_pixel
            anchor = (left - label_height - _LABEL_PAD, bottom - axis_bottom)
            legend.set_bbox_to_anchor(anchor, transform=figure.dpi_scale_trans)
        return _svg(figure, prefix, title, check)


# ---------------------------------------------------------------------------------------------------------------
# thumbnails


@functools.cache
def _inferno_bgr() -> NDArray[np.uint8]:
    """matplotlib's "inferno" colormap as a 256 x 3 BGR lookup table."""
    import matplotlib

    rgba = matplotlib.colormaps["inferno"](np.linspace(0.0, 1.0, 256))
    rgb = np.round(np.asarray(rgba)[:, :3] * 255.0).astype(np.uint8)
    return np.ascontiguousarray(rgb[:, ::-1])


def _to_uint8(image: NDArray[Any]) -> NDArray[np.uint8]:
    """An image as 8-bit: uint8 as it is, other integers scaled from their range, floats from [0, 1] (or from
    [0, 255] when a value exceeds 1), clipped."""
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        scale = 255.0 / float(np.iinfo(array.dtype).max)
        return np.clip(np.round(array.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if values.size and float(values.max()) <= 1.0:
        values = values * 255.0
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def _image_bgr(image: NDArray[Any]) -> NDArray[np.uint8]:
    """An RGB(A) or grey image (H x W, H x W x 1, 3 or 4) as 8-bit BGR."""
    import cv2

    array = _to_uint8(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(array, cv2.COLOR_GRAY2BGR))
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[:, :, 2::-1])
    raise ValueError(f"an image must be H x W or H x W x 1, 3 or 4, got shape {array.shape}")


def _thumbnail_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(width, height) with the longest side at most `max_side` and the aspect kept (never enlarged)."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(bgr: NDArray[Any], jpeg_quality: int | None) -> bytes:
    """PNG (lossless), or baseline JPEG at `jpeg_quality` (deterministic: the same pixels give the same bytes)."""
    import cv2

    if jpeg_quality is None:
        ok, encoded = cv2.imencode(".png", bgr)
    else:
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:  # pragma: no cover - OpenCV fails only without memory
        raise RuntimeError("OpenCV could not encode a thumbnail")
    return bytes(encoded.tobytes())


def thumbnails(
    image: NDArray[Any] | None,
    amap: NDArray[np.float32],
    mask: NDArray[np.bool_] | None,
    value_range: tuple[float, float],
    max_side: int = 384,
    *,
    jpeg_quality: int | None = None,
) -> list[bytes]:
    """The thumbnails of one image, each a PNG (a JPEG with `jpeg_quality`): [the image (if given), the map over
    it, the mask's contour over it].

    - The image (RGB(A) or grey, any dtype: see `_to_uint8`) shrunk with ``INTER_AREA`` so that its longest side is
      at most `max_side`, the aspect kept (never enlarged).
    - The anomaly map, resized bilinearly to that size (the map's own size shrunk the same way without an image),
      scaled from `value_range` to [0, 1] (clipped; NaN as the low end), coloured with matplotlib's "inferno"
      and blended (60 %) over the grey image, or alone without an image; with the mask's contour.
    - The image (or black) with the contour of the mask (resized with ``INTER_NEAREST``; ``cv2.findContours``, all
      contours, bright green, 1 px wide up to 256 px, 2 px above). A mask without any True pixel draws none.

    Args:
        image: the test image or None.
        amap: the anomaly map (H x W).
        mask: the ground-truth mask (the map's size; any size is resized), or None for no contour.
        value_range: the scores mapped to the ends of the colormap (the same for every image of a report).
        max_side: the longest side of a thumbnail.
        jpeg_quality: encode as JPEG at this quality (1-100) instead of PNG: a photograph's thumbnail takes 5 to
            10 times fewer bytes, which keeps a report of many images small.

    Returns:
        3 encoded images with an image, 2 without.

    Raises:
        ValueError: a map that is not 2-D, a mask that is not 2-D, a bad image shape or `max_side` < 1.
    """
    import cv2

    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    scores = np.asarray(amap, dtype=np.float32)
    if scores.ndim == 3 and scores.shape[2] == 1:
        scores = scores[:, :, 0]
    if scores.ndim != 2 or not scores.size:
        raise ValueError(f"an anomaly map must be a non-empty H x W array, got shape {scores.shape}")
    if image is not None:
        source = _image_bgr(image)
        size = _thumbnail_size(source.shape[0], source.shape[1], max_side)
        base = (
            source
            if size == (source.shape[1], source.shape[0])
            else cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        )
        base = np.ascontiguousarray(base)
    else:
        size = _thumbnail_size(scores.shape[0], scores.shape[1], max_side)
        base = np.zeros((size[1], size[0], 3), dtype=np.uint8)

    low, high = float(value_range[0]), float(value_range[1])
    resized = (
        scores
        if (scores.shape[1], scores.shape[0]) == size
        else cv2.resize(scores, size, interpolation=cv2.INTER_LINEAR)
    )
    span = high - low if high > low else 1.0
    unit = np.nan_to_num((resized.astype(np.float64) - low) / span, nan=0.0, posinf=1.0, neginf=0.0)
    indices = np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    colored = _inferno_bgr()[indices]
    if image is not None:
        grey = cv2.cvtColor(cv2.cvtColor(base, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        overlay = cv2.addWeighted(colored, _OVERLAY_ALPHA, grey, 1.0 - _OVERLAY_ALPHA, 0.0)
    else:
        overlay = np.ascontiguousarray(colored)
    contoured = base.copy()

    if mask is not None:
        truth = np.asarray(mask)
        if truth.ndim == 3 and truth.shape[2] == 1:
            truth = truth[:, :, 0]
        if truth.ndim != 2:
            raise ValueError(f"a mask must be an H x W array, got shape {truth.shape}")
        binary = (truth != 0).astype(np.uint8)
        if (binary.shape[1], binary.shape[0]) != size:
            binary = cv2.resize(binary, size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        if contours:
            thickness = 1 if max(size) <= 256 else 2
            for canvas in (overlay, contoured):
                cv2.drawContours(canvas, contours, -1, _CONTOUR_BGR, thickness)

    encoded = [_encode(overlay, jpeg_quality), _encode(contoured, jpeg_quality)]
    return ([_encode(base, jpeg_quality)] if image is not None else []) + encoded


def data_uri(encoded: bytes) -> str:
    """A PNG, or a JPEG (recognised by its first bytes), as a ``data:`` URI for an ``<img src=...>``.

    >>> data_uri(b"abc")
    'data:image/png;base64,YWJj'
    >>> data_uri(b"\\xff\\xd8\\xff")
    'data:image/jpeg;base64,/9j/'
    """
    media_type = "image/jpeg" if encoded.startswith(b"\xff\xd8\xff") else "image/png"
    return f"data:{media_type};base64," + base64.b64encode(encoded).decode("ascii")


# ---------------------------------------------------------------------------------------------------------------
# many figures in parallel

REPORT_FIGURE_FUNCTIONS: dict[str, Callable[..., str]] = {
    "curves_svg": curves_svg,
    "pimo_svg": pimo_svg,
    "aupimo_by_defect_svg": aupimo_by_defect_svg,
    "score_histograms_svg": score_histograms_svg,
}


def _draw_one(job: tuple[str, dict[str, Any]]) -> str:
    name, kwargs = job
    return REPORT_FIGURE_FUNCTIONS[name](**kwargs)


def _draw_chunk(jobs: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """Draw jobs one after the other (in a worker process: matplotlib is imported once for them all)."""
    return [_draw_one(job) for job in jobs]


def draw_report_figures(jobs: Sequence[tuple[str, dict[str, Any]]], workers: int = 2) -> list[str]:
    """Draw figures in up to `workers` spawned processes; each figure's SVG text, in the order of the jobs.

    A job is (function name, keyword arguments), the name a key of `REPORT_FIGURE_FUNCTIONS`. As
    `figures.draw_figures`: each worker draws every `workers`-th job, so that the start-up of a process (importing
    matplotlib) is paid once per worker; with `workers <= 1` or a single job everything is drawn in this process.
    The SVG text does not depend on `workers`.

    Raises:
        ValueError: a job names an unknown function.
        ImportError: matplotlib is not installed.
    """
    jobs = [(str(name), dict(kwargs)) for name, kwargs in jobs]
    for name, _ in jobs:
        if name not in REPORT_FIGURE_FUNCTIONS:
            raise ValueError(f"unknown report figure {name!r}; known: {', '.join(REPORT_FIGURE_FUNCTIONS)}")
    if workers <= 1 or len(jobs) <= 1:
        return [_draw_one(job) for job in jobs]

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    count = min(workers, len(jobs))
    chunks = [jobs[start::count] for start in range(count)]
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_draw_chunk, chunk) for chunk in chunks]
        results = [future.result() for future in futures]
    by_job: list[str] = [""] * len(jobs)
    for start, result in enumerate(results):
        for offset, svg in enumerate(result):
            by_job[start + offset * count] = svg
    return by_job
