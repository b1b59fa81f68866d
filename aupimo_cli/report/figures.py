"""The figures of ``aupimo compare`` for a paper, each written as ``<stem>.png`` (200 dpi) and ``<stem>.svg``.

- `write_boxplots`: horizontal boxplots of per-image AUPIMO, one per model (best on top), with the mean as a white
  diamond and aligned text columns of other metrics (AUROC, AUPRO@30%, ...) to the right.
- `write_confidence_heatmap`: the confidence that the row model beats the column model (1 - the one-sided Wilcoxon
  p-value), each cell annotated.
- `write_cd_diagram`: Demšar's (2006) critical-difference diagram of average ranks; `cd_groups` computes its groups
  of models that are not significantly different.
- `draw_figures`: many figures at once, in a few spawned processes (`FigureJob`).

Inputs are plain Python and numpy values: every number is computed elsewhere (`aupimo_cli.compare`).

Drawing rules:

- matplotlib's object API only (`matplotlib.figure.Figure` with the Agg and SVG canvases), never pyplot and no
  global state. matplotlib is optional (the ``plot`` extra) and imported inside the functions.
- Determinism: the same inputs give byte-identical files, in this process or in a worker. Each figure is drawn and
  written inside ``matplotlib.style.context("default")`` (a user's ``matplotlibrc`` changes nothing) and a
  ``matplotlib.rc_context`` that fixes the font (DejaVu Sans, shipped with matplotlib), turns mathtext off (a ``$``
  in a model name stays a ``$``), keeps SVG text as text (``svg.fonttype = "none"``) and fixes the SVG hash salt
  (``svg.hashsalt = "aupimo-cli"``); both contexts are left when the files are written, so nothing leaks. The SVG
  is written without its ``Date``; the PNG holds the image and its dpi only (`_write_png`: no time, no software).
- Layout: computed here from the measured extents of the texts (no ``constrained``/``tight`` layout, which cost
  more than the drawing): each figure grows to hold long model names, many models, the metric columns and the title
  (wrapped to the figure's width). With ``check=True`` a function asserts after drawing that every text and every
  line lies inside the figure and that no two unrotated texts overlap (`_assert_inside`).
- Speed (27 categories x 13 models is 54 figures plus the CD diagrams): no Axes where lines and texts on the figure
  do, the model names and cell values drawn into the PNG as cached glyph outlines (`Labels`: the same strings
  come back in every figure, and Agg's text drawing cost more than the rest of a figure) while the SVG gets them as
  text, and the PNG written unfiltered at zlib level 3.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_FUNCTIONS",
    "FigureJob",
    "cd_groups",
    "draw_figures",
    "write_boxplots",
    "write_cd_diagram",
    "write_confidence_heatmap",
]

DPI = 200
SVG_HASH_SALT = "aupimo-cli"

# Sizes, in inches unless said otherwise.
_PT = 1.0 / 72.0
_MARGIN = 0.12  # around everything
_MIN_TITLE_WIDTH = 5.0  # a figure may grow to this width to hold its title on fewer lines
_FONT = 10.0  # labels, tick labels, metric columns
_TITLE_FONT = 12.0
_TICK_SPACE = (3.5 + 3.5) * _PT  # matplotlib's default major tick length + tick label pad
_LABEL_PAD = 4.0 * _PT  # matplotlib's default axis label pad
_SAFETY = 0.04  # slack for text measured once and drawn at another place
_PNG_LEVEL = 1


# ---------------------------------------------------------------------------------------------------------------
# shared helpers


@contextmanager
def _drawing_context() -> Iterator[None]:
    """matplotlib's default style plus the fixed font, mathtext off and the deterministic SVG settings."""
    import matplotlib
    import matplotlib.style

    settings = {
        "font.family": "DejaVu Sans",
        "text.parse_math": False,
        "svg.fonttype": "none",
        "svg.hashsalt": SVG_HASH_SALT,
        "svg.image_inline": True,
    }
    with matplotlib.style.context("default"), matplotlib.rc_context(settings):  # type: ignore[arg-type]
        yield


def _new_figure() -> tuple[Figure, _Measure]:
    """A figure at the output dpi with an Agg canvas, and a measure of texts at that dpi."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.0, 3.0), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure, _Measure()


class _Measure:
    """Sizes in inches of single lines of text as matplotlib's Agg renderer lays them out at `DPI`."""

    # Shared by all figures of a process: the model names come back in every figure.
    _sizes: ClassVar[dict[tuple[str, float, str], tuple[float, float]]] = {}

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import RendererAgg

        self._renderer = RendererAgg(1, 1, DPI)
        if len(self._sizes) > 20_000:
            self._sizes.clear()

    def size(self, text: str, size: float, weight: str = "normal") -> tuple[float, float]:
        """Width and height of one line (at least the height of "lp", as matplotlib lays out a line)."""
        key = (text, size, weight)
        if key not in self._sizes:
            from matplotlib.font_manager import FontProperties

            prop = FontProperties(family="DejaVu Sans", size=size, weight=weight)
            width, height, _ = self._renderer.get_text_width_height_descent(text, prop, ismath=False)
            if text != "lp":
                height = max(height, self.size("lp", size, weight)[1] * DPI)
            self._sizes[key] = (width / DPI, height / DPI)
        return self._sizes[key]

    def metrics(self, text: str, size: float, weight: str = "normal") -> tuple[float, float, float]:
        """Width, height and descent of one line, unlike `size` without the floor of "lp"."""
        from matplotlib.font_manager import FontProperties

        prop = FontProperties(family="DejaVu Sans", size=size, weight=weight)
        width, height, descent = self._renderer.get_text_width_height_descent(text, prop, ismath=False)
        return width / DPI, height / DPI, descent / DPI

    def ascent(self, size: float) -> float:
        """The ascent of a line (of "lp"): a baseline this far below a point centres the line on it vertically."""
        _, height, descent = self.metrics("lp", size)
        return height - descent

    def width(self, texts: Sequence[str], size: float, weight: str = "normal") -> float:
        """The largest width of `texts` (0 for none)."""
        return max((self.size(text, size, weight)[0] for text in texts), default=0.0)

    def wrap(self, text: str, size: float, width: float) -> str:
        """`text` broken at spaces into lines no wider than `width` (a single longer word keeps its line)."""
        if self.size(text, size)[0] <= width:
            return text
        lines: list[str] = []
        for word in text.split(" "):
            if lines and self.size(f"{lines[-1]} {word}", size)[0] <= width:
                lines[-1] = f"{lines[-1]} {word}"
            else:
                lines.append(word)
        return "\n".join(lines)


def _title_block(measure: _Measure, title: str, content_width: float) -> tuple[str, float, float]:
    """The wrapped title, its width and its height, for a figure whose content is `content_width` wide."""
    available = max(content_width - 2 * _MARGIN, _MIN_TITLE_WIDTH)
    wrapped = measure.wrap(title, _TITLE_FONT, available)
    lines = wrapped.split("\n")
    width = measure.width(lines, _TITLE_FONT)
    line_height = measure.size("lp", _TITLE_FONT)[1]
    # matplotlib spaces lines by 1.2 line heights.
    height = line_height * (1 + 1.2 * (len(lines) - 1))
    return wrapped, width, height


def _place_title(figure: Figure, wrapped: str, width: float, height: float) -> None:
    """The title centred at the top of the figure, whose size is set."""
    figure.text(
        0.5,
        1.0 - _MARGIN / height,
        wrapped,
        ha="center",
        va="top",
        fontsize=_TITLE_FONT,
        multialignment="center",
        transform=figure.transFigure,
    )


@functools.lru_cache(maxsize=4096)
def _outline(text: str, size: float, weight: str) -> tuple[NDArray[np.float64], NDArray[np.uint8], float, float, float]:
    """The glyph outlines of one line of text in DejaVu Sans, in inches, the pen starting at the origin on the
    baseline; and the ink's left, right and vertical centre. Cached: the model names come back in every figure."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    if not text.strip():  # no ink (and TextPath fails on an empty string)
        return np.empty((0, 2)), np.empty(0, dtype=np.uint8), 0.0, 0.0, 0.0
    path = TextPath((0.0, 0.0), text, size=size, prop=FontProperties(family="DejaVu Sans", size=size, weight=weight))
    extents = path.get_extents()
    vertices = np.asarray(path.vertices, dtype=np.float64) * _PT
    codes = np.asarray(path.codes, dtype=np.uint8)
    return vertices, codes, extents.x0 * _PT, extents.x1 * _PT, (extents.y0 + extents.y1) / 2 * _PT


@dataclass(frozen=True)
class _Label:
    x: float  # inches from the figure's lower left: the anchor, on the baseline
    y: float
    text: str
    size: float
    weight: str
    ha: Literal["left", "center", "right"]  # where the anchor is: the pen's start, the ink's centre or right end
    rotation: float  # degrees, counter-clockwise, about the anchor
    color: str


@functools.cache
def _labels_class() -> type[Any]:
    """The artist class of `_labels`, made on first use since matplotlib is imported lazily."""
    from matplotlib.artist import Artist
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.collections import PathCollection
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path as MatplotlibPath
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox, IdentityTransform

    class Labels(Artist):
        """Many single-line texts that repeat from figure to figure (model names, cell values), cheaply.

        The PNG (Agg) gets their glyph outlines, cached per process, as one collection: drawing them as texts cost
        more than the rest of a figure. The SVG gets real text elements anchored as matplotlib anchors texts
        (``text-anchor``), so the SVG text stays text.
        """

        zorder = 3

        def __init__(self) -> None:
            super().__init__()
            self.labels: list[_Label] = []
            self._collection: PathCollection | None = None

        def add(self, label: _Label) -> None:
            self.labels.append(label)
            self._collection = None
            self.stale = True

        def paths(self) -> list[tuple[_Label, Any]]:
            """Each label's outline, placed, in inches (none for the labels without ink, such as spaces)."""
            placed = []
            for label in self.labels:
                vertices, codes, ink_left, ink_right, _ = _outline(label.text, label.size, label.weight)
                if not len(vertices):
                    continue
                shift = {"left": 0.0, "center": -(ink_left + ink_right) / 2, "right": -ink_right}[label.ha]
                angle = math.radians(label.rotation)
                cos, sin = math.cos(angle), math.sin(angle)
                x = vertices[:, 0] + shift
                y = vertices[:, 1]
                moved = np.column_stack((label.x + cos * x - sin * y, label.y + sin * x + cos * y))
                placed.append((label, MatplotlibPath(moved, codes)))
            return placed

        def extents(self) -> list[tuple[_Label, Any]]:
            """Each label's drawn (PNG) extent in inches (labels without ink, such as spaces, have none)."""
            return [(label, path.get_extents()) for label, path in self.paths()]

        def get_window_extent(self, renderer: Any = None) -> Any:
            figure = self.get_figure(root=True)
            boxes = [box for _, box in self.extents()]
            if figure is None or not boxes:
                return Bbox.null()
            return Bbox.union(boxes).transformed(figure.dpi_scale_trans)

        def draw(self, renderer: Any) -> None:
            figure = self.get_figure(root=True)
            if not self.get_visible() or figure is None:
                return
            if isinstance(renderer, RendererAgg):
                if self._collection is None:
                    paths = self.paths()
                    self._collection = PathCollection(
                        [path for _, path in paths],
                        facecolors=[label.color for label, _ in paths],
                        edgecolors="none",
                        linewidths=0.0,
                        transform=figure.dpi_scale_trans,
                    )
                    self._collection.set_figure(figure)
                self._collection.draw(renderer)
            else:
                self._draw_texts(renderer, figure)
            self.stale = False

        def _draw_texts(self, renderer: Any, figure: Any) -> None:
            renderer.open_group("labels", self.get_gid())
            gc = renderer.new_gc()
            _, canvas_height = renderer.get_canvas_width_height()
            anchor = Text(rotation_mode="anchor", transform=IdentityTransform())  # tells the SVG how to anchor
            properties: dict[tuple[float, str], FontProperties] = {}
            for label in self.labels:
                prop = properties.setdefault(
                    (label.size, label.weight),
                    FontProperties(family="DejaVu Sans", size=label.size, weight=label.weight),
                )
                x, y = figure.dpi_scale_trans.transform((label.x, label.y))
                anchor.set_position((x, y))
                anchor.set_horizontalalignment(label.ha)
                anchor.set_rotation(label.rotation)
                gc.set_foreground(label.color)
                y_drawn = canvas_height - y if renderer.flipy() else y
                renderer.draw_text(gc, x, y_drawn, label.text, prop, label.rotation, ismath=False, mtext=anchor)
            gc.restore()
            renderer.close_group("labels")

    return Labels


def _labels(figure: Figure) -> Any:
    """A new `Labels` artist of the figure (see `_labels_class`)."""
    labels = _labels_class()()
    figure.add_artist(labels)
    return labels


def _save(figure: Figure, folder: Path, stem: str, check: bool) -> list[Path]:
    """Write ``<stem>.png`` (200 dpi) and ``<stem>.svg`` deterministically; with `check`, assert nothing is clipped."""
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{stem}.png"
    svg = folder / f"{stem}.svg"
    _write_png(figure, png)
    if check:  # now, while the axis labels are where the last drawing (at the figure's dpi) put them
        _assert_inside(figure)
    figure.savefig(svg, format="svg", metadata={"Date": None})
    return [png, svg]


def _write_png(figure: Figure, path: Path) -> None:
    """Write the figure as a PNG at its dpi with ``savefig`` (Pillow): no software entry, so the same figure gives
    the same bytes, and zlib level 1, since Pillow's default level took about as long as drawing the figure."""
    figure.savefig(path, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": _PNG_LEVEL})


def _drawn_texts(figure: Figure) -> list[Any]:
    """The visible, non-empty texts of a figure: its own, and its axes' texts, titles, axis labels and tick labels."""
    from matplotlib.text import Text

    texts: list[Text] = list(figure.texts)
    for axes in figure.axes:
        texts += [axes.title, *axes.texts]
        if not axes.axison:
            continue
        for axis in (axes.xaxis, axes.yaxis):
            texts += [axis.label, axis.offsetText]
            # Only the ticks in view are drawn (a locator may place more).
            locations = axis.get_majorticklocs()
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * max(1.0, high - low)
            for tick in axis.get_major_ticks(len(locations)):
                if low - slack <= tick.get_loc() <= high + slack:
                    texts += [tick.label1, tick.label2]
    return [text for text in texts if text.get_visible() and text.get_text()]


def _text_boxes(figure: Figure) -> list[tuple[str, Any, bool]]:
    """Every drawn text of the figure (matplotlib texts and `Labels`): its string, its extent in inches and whether
    it is rotated. Call it after the figure was drawn at its own dpi (axis labels are placed when drawn)."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    to_inches = figure.dpi_scale_trans.inverted()
    boxes = [
        (text.get_text(), text.get_window_extent(renderer).transformed(to_inches), text.get_rotation() != 0)
        for text in _drawn_texts(figure)
    ]
    labels_class = _labels_class()
    for artist in figure.artists:
        if isinstance(artist, labels_class):
            boxes += [(label.text, box, label.rotation != 0) for label, box in artist.extents()]
    return boxes


def _assert_inside(figure: Figure, tolerance: float = 0.5) -> None:
    """Assert that every text, and everything else drawn, lies within the figure, and that no two unrotated texts
    overlap (`tolerance` in pixels).

    Call it after the figure was drawn (written) at its own dpi.

    Raises:
        AssertionError: something sticks out of the figure, or two texts overlap.
    """
    width, height = figure.get_size_inches()
    slack = tolerance / figure.dpi
    problems = []
    boxes = _text_boxes(figure)
    for text, box, _ in boxes:
        if box.x0 < -slack or box.y0 < -slack or box.x1 > width + slack or box.y1 > height + slack:
            problems.append(f"text {text!r} at {box.bounds} (inches) outside the figure (0, 0, {width}, {height})")
    flat = [(text, box) for text, box, rotated in boxes if not rotated]
    for index, (text, box) in enumerate(flat):
        for other, other_box in flat[index + 1 :]:
            if (
                min(box.x1, other_box.x1) - max(box.x0, other_box.x0) > slack
                and min(box.y1, other_box.y1) - max(box.y0, other_box.y0) > slack
            ):
                problems.append(f"texts {text!r} at {box.bounds} and {other!r} at {other_box.bounds} overlap")
    tight = figure.get_tightbbox(figure.canvas.get_renderer())  # type: ignore[attr-defined]
    if tight is not None and (
        tight.x0 < -slack or tight.y0 < -slack or tight.x1 > width + slack or tight.y1 > height + slack
    ):
        problems.append(f"drawing {tight.bounds} (inches) outside the figure (0, 0, {width}, {height})")
    if problems:
        raise AssertionError("; ".join(problems))


def _finite(values: NDArray[np.float64]) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[~np.isnan(array)]


# ---------------------------------------------------------------------------------------------------------------
# boxplots

_ROW = 0.34  # height of one model's row
_BOX_AXES_WIDTH = 4.6
_BOX_HALF_HEIGHT = 0.3  # in rows
_COLUMN_GAP = 0.28


def write_boxplots(
    folder: Path,
    stem: str,
    category: str,
    models: Sequence[str],
    aupimos: Sequence[NDArray[np.float64]],
    extra: Mapping[str, Sequence[str]],
    *,
    check: bool = False,
) -> list[Path]:
    """Horizontal boxplots of per-image AUPIMO, one per model, the first on top, with metric columns on the right.

    Each box spans the quartiles, with the median (orange line), the mean (white diamond), whiskers to the furthest
    values within 1.5 interquartile ranges and the values beyond as dots (matplotlib's boxplot statistics).

    Args:
        folder: where to write (created if missing).
        stem: the file name without suffix.
        category: the category named in the title.
        models: the model names, already sorted best first.
        aupimos: per model, the per-image AUPIMO in [0, 1]; NaN (normal images) is dropped.
        extra: column title -> one preformatted string per model (``"0.9912"``, ``"-"``), drawn right of the plot.
        check: assert that nothing is clipped (for tests).

    Returns:
        ``[<stem>.png, <stem>.svg]``.

    Raises:
        ValueError: the lengths of `models`, `aupimos` and the columns of `extra` differ, or there is no model.
        ImportError: matplotlib is not installed.
    """
    n = len(models)
    if n == 0 or len(aupimos) != n:
        raise ValueError(f"need one AUPIMO array per model and at least one model, got {n} models, {len(aupimos)}")
    for name, column in extra.items():
        if len(column) != n:
            raise ValueError(f"column {name!r} has {len(column)} values for {n} models")
    data = [_finite(values) for values in aupimos]
    num_images = max(len(values) for values in data)
    title = f"{category}: per-image AUPIMO of {num_images} anomalous images, sorted by mean AUPIMO (best on top)"

    with _drawing_context():
        from matplotlib.cbook import boxplot_stats
        from matplotlib.collections import LineCollection
        from matplotlib.patches import Rectangle
        from matplotlib.transforms import Affine2D

        figure, measure = _new_figure()
        columns = [(str(name), [str(value) for value in values]) for name, values in extra.items()]
        widths = [max(measure.size(name, _FONT, "bold")[0], measure.width(values, _FONT)) for name, values in columns]
        label_height = measure.size("lp", _FONT)[1]
        header_height = measure.size("lp", _FONT, "bold")[1] + 0.06 if columns else 0.0

        left = _MARGIN + measure.width(models, _FONT) + _TICK_SPACE + _SAFETY
        right = sum(_COLUMN_GAP + width for width in widths) + _SAFETY + _MARGIN
        right = max(right, measure.size("1.0", _FONT)[0] / 2 + _SAFETY + _MARGIN)  # the last x tick label
        content_width = left + _BOX_AXES_WIDTH + right
        wrapped, title_width, title_height = _title_block(measure, title, content_width)
        width = max(content_width, title_width + 2 * _MARGIN + _SAFETY)
        left += (width - content_width) / 2
        axes_height = _ROW * (n + 0.3)
        top = _MARGIN + title_height + 0.12 + header_height
        bottom = _MARGIN + label_height + _TICK_SPACE + _LABEL_PAD + label_height + _SAFETY
        height = top + axes_height + bottom
        figure.set_size_inches(width, height)
        _place_title(figure, wrapped, width, height)

        # The plot is drawn on the figure in inches, without an Axes (creating and drawing one cost a fifth of the
        # figure): AUPIMO -0.02..1.02 across, rows 0.35..n+0.65 up (model i at n - i), a light grid, a frame, and
        # ticks with labels every 0.2.
        inches = figure.dpi_scale_trans
        x_scale = _BOX_AXES_WIDTH / 1.04
        y_scale = axes_height / (n + 0.3)
        plot = Affine2D().scale(x_scale, y_scale).translate(left + 0.02 * x_scale, bottom - 0.35 * y_scale) + inches
        ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        ticks_x = [left + (tick + 0.02) * x_scale for tick in ticks]
        top_y = bottom + axes_height
        figure.add_artist(
            LineCollection(
                [[(x, bottom), (x, top_y)] for x in ticks_x], colors="0.85", linewidths=0.6, transform=inches
            )
        )
        _draw_boxes(figure, plot, boxplot_stats(data), positions=[n - index for index in range(n)])
        figure.add_artist(
            Rectangle(
                (left, bottom), _BOX_AXES_WIDTH, axes_height, fill=False, linewidth=0.8, transform=inches, zorder=2.5
            )
        )
        figure.add_artist(
            LineCollection(
                [[(x, bottom), (x, bottom - 3.5 * _PT)] for x in ticks_x],
                colors="black",
                linewidths=0.8,
                transform=inches,
            )
        )
        for tick, x in zip(ticks, ticks_x, strict=True):
            figure.text(x, bottom - _TICK_SPACE, f"{tick:.1f}", ha="center", va="top", fontsize=_FONT, transform=inches)
        figure.text(
            left + _BOX_AXES_WIDTH / 2,
            bottom - _TICK_SPACE - label_height - _LABEL_PAD,
            "AUPIMO",
            ha="center",
            va="top",
            fontsize=_FONT,
            transform=inches,
        )

        # The model names where y tick labels would be, and the metric columns, right-aligned, at the boxes' heights.
        def row_y(index: int) -> float:
            return bottom + (n - index - 0.35) / (n + 0.3) * axes_height

        names = _labels(figure)
        ascent = measure.ascent(_FONT)
        for index, model in enumerate(models):
            names.add(
                _Label(left - _TICK_SPACE, row_y(index) - ascent / 2, str(model), _FONT, "normal", "right", 0, "k")
            )
        x = left + _BOX_AXES_WIDTH
        for (name, values), column_width in zip(columns, widths, strict=True):
            x += _COLUMN_GAP + column_width
            figure.text(
                x,
                bottom + axes_height + 0.06,
                name,
                ha="right",
                va="baseline",
                fontsize=_FONT,
                fontweight="bold",
                transform=inches,
            )
            for index, value in enumerate(values):
                figure.text(x, row_y(index), value, ha="right", va="center_baseline", fontsize=_FONT, transform=inches)
        return _save(figure, folder, stem, check)


def _draw_boxes(figure: Figure, transform: Any, stats: Sequence[Mapping[str, Any]], positions: Sequence[float]) -> None:
    """Boxes, whiskers, caps, medians, means and outliers as six artists (``Axes.boxplot`` makes seven per box), drawn
    with `transform` from (AUPIMO, row) to the figure."""
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.lines import Line2D

    half = _BOX_HALF_HEIGHT
    boxes, whiskers, medians = [], [], []
    means_x, means_y, fliers_x, fliers_y = [], [], [], []
    for stat, y in zip(stats, positions, strict=True):
        if not math.isfinite(stat["med"]):  # no values
            continue
        q1, q3 = stat["q1"], stat["q3"]
        boxes.append([(q1, y - half), (q3, y - half), (q3, y + half), (q1, y + half)])
        for end, start in ((stat["whislo"], q1), (stat["whishi"], q3)):
            whiskers.append([(start, y), (end, y)])
            whiskers.append([(end, y - half / 2), (end, y + half / 2)])
        medians.append([(stat["med"], y - half), (stat["med"], y + half)])
        means_x.append(stat["mean"])
        means_y.append(y)
        fliers_x += list(stat["fliers"])
        fliers_y += [y] * len(stat["fliers"])
    figure.add_artist(LineCollection(whiskers, colors="black", linewidths=0.9, zorder=2, transform=transform))
    figure.add_artist(
        PolyCollection(boxes, facecolors="#dbe6f1", edgecolors="black", linewidths=0.9, zorder=2, transform=transform)
    )
    figure.add_artist(LineCollection(medians, colors="#d95f02", linewidths=1.6, zorder=2.1, transform=transform))
    style: dict[str, Any] = {"linestyle": "none", "transform": transform}
    if fliers_x:
        figure.add_artist(Line2D(fliers_x, fliers_y, marker=".", markersize=3, color="0.4", zorder=2, **style))
    if means_x:
        figure.add_artist(
            Line2D(
                means_x,
                means_y,
                marker="D",
                markersize=5,
                markerfacecolor="white",
                markeredgecolor="black",
                zorder=2.2,
                **style,
            )
        )


# ---------------------------------------------------------------------------------------------------------------
# confidence heatmap

_CELL = 0.44
_COLORBAR_GAP = 0.18
_COLORBAR_WIDTH = 0.16
_NAME_PAD = 4.0 * _PT  # between the matrix and the model names


def write_confidence_heatmap(
    folder: Path,
    stem: str,
    category: str,
    models: Sequence[str],
    confidence: NDArray[np.float64],
    *,
    check: bool = False,
) -> list[Path]:
    """A heatmap of the confidence that the row model (A) beats the column model (B), with a colorbar.

    Args:
        folder: where to write (created if missing).
        stem: the file name without suffix.
        category: the category named in the title.
        models: the model names, best first: the order of the rows and the columns.
        confidence: ``confidence[i, j]`` = 1 - the one-sided Wilcoxon p-value that model i beats model j, in
            [0, 1]; NaN on the diagonal (drawn grey and left blank).
        check: assert that nothing is clipped (for tests).

    Returns:
        ``[<stem>.png, <stem>.svg]``.

    Raises:
        ValueError: `confidence` is not a k x k matrix for the k models, or there is no model.
        ImportError: matplotlib is not installed.
    """
    k = len(models)
    matrix = np.asarray(confidence, dtype=np.float64)
    if k == 0 or matrix.shape != (k, k):
        raise ValueError(f"need a {k} x {k} confidence matrix for {k} models (at least one), got {matrix.shape}")
    title = f"{category}: confidence that row beats column (Wilcoxon)"
    annotation_font = 8.0 if k > 8 else 9.0

    with _drawing_context():
        import matplotlib
        from matplotlib.collections import LineCollection
        from matplotlib.patches import Rectangle

        figure, measure = _new_figure()
        names = [str(model) for model in models]
        name_height = measure.size("lp", _FONT)[1]
        name_widths = [measure.size(name, _FONT)[0] for name in names]
        label_height = measure.size("AB", _FONT)[1]
        diagonal = [(w + name_height) / math.sqrt(2.0) for w in name_widths]  # 45° rotated column names
        cell = max(_CELL, measure.size("0.00", annotation_font)[0] + 0.12)
        matrix_size = cell * k

        left = _MARGIN + label_height + _LABEL_PAD + max(name_widths) + _NAME_PAD + _SAFETY
        # A rotated column name ends at its column's centre and stretches left.
        left = max(left, max(_MARGIN + d - (j + 0.5) * cell for j, d in enumerate(diagonal)) + _SAFETY)
        right = (
            _COLORBAR_GAP
            + _COLORBAR_WIDTH
            + _TICK_SPACE
            + measure.size("0.0", _FONT)[0]
            + _LABEL_PAD
            + label_height
            + _SAFETY
            + _MARGIN
        )
        bottom = _MARGIN + label_height + _LABEL_PAD + max(diagonal) + _NAME_PAD + _SAFETY
        content_width = left + matrix_size + right
        wrapped, title_width, title_height = _title_block(measure, title, content_width)
        width = max(content_width, title_width + 2 * _MARGIN + _SAFETY)
        left += (width - content_width) / 2
        top = _MARGIN + title_height + 0.15
        height = top + matrix_size + bottom
        figure.set_size_inches(width, height)
        _place_title(figure, wrapped, width, height)

        # One Axes without axis in inches over the whole figure holds the cells and the colorbar's gradient: creating
        # and drawing Axes with their ticks cost more than the rest.
        inches = figure.dpi_scale_trans
        canvas = figure.add_axes((0.0, 0.0, 1.0, 1.0))
        canvas.set_axis_off()
        colormap = matplotlib.colormaps["RdBu"].with_extremes(bad="0.88")
        top_y = bottom + matrix_size
        edges_x = left + cell * np.arange(k + 1, dtype=np.float64)
        edges_y = top_y - cell * np.arange(k + 1, dtype=np.float64)
        canvas.pcolormesh(edges_x, edges_y, np.ma.masked_invalid(matrix), cmap=colormap, vmin=0.0, vmax=1.0)
        separators = [[(left + j * cell, bottom), (left + j * cell, top_y)] for j in range(1, k)]
        separators += [[(left, bottom + i * cell), (left + matrix_size, bottom + i * cell)] for i in range(1, k)]
        canvas.add_collection(LineCollection(separators, colors="white", linewidths=0.8), autolim=False)
        bar_left = left + matrix_size + _COLORBAR_GAP
        bar_right = bar_left + _COLORBAR_WIDTH
        canvas.imshow(
            np.linspace(0.0, 1.0, 256)[:, np.newaxis],
            extent=(bar_left, bar_right, bottom, top_y),
            origin="lower",
            cmap=colormap,
            vmin=0.0,
            vmax=1.0,
            aspect="auto",
            interpolation="none",  # the SVG keeps the 256 pixels, drawn sharp
        )
        canvas.add_patch(Rectangle((bar_left, bottom), _COLORBAR_WIDTH, matrix_size, fill=False, linewidth=0.6))
        ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] if matrix_size >= 2.0 else [0.0, 0.5, 1.0]
        ticks_y = [bottom + tick * matrix_size for tick in ticks]
        canvas.add_collection(
            LineCollection([[(bar_right, y), (bar_right + 3.5 * _PT, y)] for y in ticks_y], colors="k", linewidths=0.6),
            autolim=False,
        )
        canvas.set_xlim(0.0, width)
        canvas.set_ylim(0.0, height)
        for tick, y in zip(ticks, ticks_y, strict=True):
            figure.text(
                bar_right + _TICK_SPACE,
                y,
                f"{tick:.1f}",
                ha="left",
                va="center_baseline",
                fontsize=_FONT,
                transform=inches,
            )
        figure.text(
            bar_right + _TICK_SPACE + measure.size("0.0", _FONT)[0] + _LABEL_PAD,
            bottom + matrix_size / 2,
            "confidence",
            ha="left",
            va="center",
            rotation=90,
            fontsize=_FONT,
            transform=inches,
        )

        # The model names where tick labels would be, and the axis titles A and B.
        labels = _labels(figure)
        ascent = measure.ascent(_FONT)
        _, lp_height, lp_descent = measure.metrics("lp", _FONT)
        half = math.sqrt(0.5)
        for index, name in enumerate(names):
            centre = (index + 0.5) * cell
            labels.add(
                _Label(
                    left - _NAME_PAD, bottom + matrix_size - centre - ascent / 2, name, _FONT, "normal", "right", 0, "k"
                )
            )
            # Rotated by 45°, the top right corner of the text's box just below its column (as ha="right", va="top").
            labels.add(
                _Label(
                    left + centre - half * lp_descent,
                    bottom - _NAME_PAD - half * (lp_height - lp_descent),
                    name,
                    _FONT,
                    "normal",
                    "right",
                    45,
                    "k",
                )
            )
        figure.text(
            left - _NAME_PAD - max(name_widths) - _LABEL_PAD,
            bottom + matrix_size / 2,
            "A",
            ha="right",
            va="center",
            rotation=90,
            fontsize=_FONT,
            transform=inches,
        )
        figure.text(
            left + matrix_size / 2,
            bottom - _NAME_PAD - max(diagonal) - _LABEL_PAD,
            "B",
            ha="center",
            va="top",
            fontsize=_FONT,
            transform=inches,
        )

        # The cell values, centred on their ink.
        for i in range(k):
            for j in range(k):
                value = matrix[i, j]
                if not math.isfinite(value):
                    continue
                red, green, blue, _ = colormap(float(np.clip(value, 0.0, 1.0)))
                color = "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "black"
                text = f"{value:.2f}"
                middle = _outline(text, annotation_font, "normal")[4]
                labels.add(
                    _Label(
                        left + (j + 0.5) * cell,
                        bottom + matrix_size - (i + 0.5) * cell - middle,
                        text,
                        annotation_font,
                        "normal",
                        "center",
                        0,
                        color,
                    )
                )

        return _save(figure, folder, stem, check)


# ---------------------------------------------------------------------------------------------------------------
# critical-difference diagram


def cd_groups(ranks: Sequence[float], critical_difference: float) -> list[tuple[int, int]]:
    """The groups of a critical-difference diagram: maximal runs of models whose average ranks differ by less than
    `critical_difference`.

    Args:
        ranks: the average ranks, in any order; the returned indices refer to them sorted ascending (best first).
        critical_difference: the critical difference.

    Returns:
        Inclusive index ranges ``(first, last)`` with ``first < last``, in increasing order; no range lies inside
        another (single models are no group).

    >>> cd_groups([1.0, 1.5, 3.0, 3.2], 1.0)
    [(0, 1), (2, 3)]
    >>> cd_groups([1.0, 1.8, 2.6, 3.4], 1.0)
    [(0, 1), (1, 2), (2, 3)]
    """
    ordered = sorted(float(rank) for rank in ranks)
    groups: list[tuple[int, int]] = []
    last = -1
    end = 0
    for first, rank in enumerate(ordered):
        end = max(end, first)
        while end + 1 < len(ordered) and ordered[end + 1] - rank < critical_difference:
            end += 1
        # The ends never decrease, so a range whose end did not grow lies inside the previous one.
        if end > first and end > last:
            groups.append((first, end))
            last = end
    return groups


def _pack_groups(spans: Sequence[tuple[float, float]], gap: float) -> list[int]:
    """A row for each bar (`spans`: its left and right ends, from left to right): the first row where it starts at
    least `gap` after the end of the bar before it, so that bars on a row never seem to join."""
    ends: list[float] = []  # the right end of the last bar of each row
    rows = []
    for start, end in spans:
        row = next((row for row, row_end in enumerate(ends) if row_end + gap <= start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        rows.append(row)
    return rows


_CD_RANK_UNIT_MIN = 0.32  # inches per rank, as long as the scale stays between the two widths below
_CD_SCALE_MIN = 2.6
_CD_SCALE_MAX = 6.5
_CD_ROW = 0.24  # vertical step between model names
_CD_GROUP_STEP = 0.1  # vertical step between group bars
_CD_STUB = 0.1  # horizontal gap between a name line's end and the scale, and between the line and its name


def write_cd_diagram(
    folder: Path,
    stem: str,
    average_ranks: Mapping[str, float],
    critical_difference: float | None,
    title: str,
    *,
    check: bool = False,
) -> list[Path]:
    """Demšar's (2006) critical-difference diagram: average ranks on an axis from 1 (best, left) to k.

    Each model is a line from its rank on the axis to its name (the better half on the left, the rest on the right),
    a bar above the axis shows the critical difference, and thick bars join the groups of models whose average ranks
    differ by less than it (`cd_groups`). Without a critical difference (`None`) only the ranks are drawn.

    Args:
        folder: where to write (created if missing).
        stem: the file name without suffix.
        average_ranks: model -> average rank (1 = best).
        critical_difference: the Nemenyi critical difference, or None (fewer than 3 models).
        title: the title.
        check: assert that nothing is clipped (for tests).

    Returns:
        ``[<stem>.png, <stem>.svg]``.

    Raises:
        ValueError: fewer than 2 models, or a rank or the critical difference is not a finite number (or is < 0).
        ImportError: matplotlib is not installed.
    """
    items = sorted(((str(name), float(rank)) for name, rank in average_ranks.items()), key=lambda item: item[1])
    k = len(items)
    if k < 2:
        raise ValueError(f"a critical-difference diagram needs at least 2 models, got {k}")
    if not all(math.isfinite(rank) for _, rank in items):
        raise ValueError(f"the average ranks must be finite: {dict(items)}")
    if critical_difference is not None and not (math.isfinite(critical_difference) and critical_difference >= 0):
        raise ValueError(f"the critical difference must be a finite number >= 0, got {critical_difference}")
    ranks = [rank for _, rank in items]
    groups = cd_groups(ranks, critical_difference) if critical_difference is not None else []
    half = math.ceil(k / 2)
    labels = [f"{name} ({rank:.2f})" for name, rank in items]

    with _drawing_context():
        from matplotlib.lines import Line2D

        figure, measure = _new_figure()
        line_height = measure.size("lp", _FONT)[1]
        rank_label_height = measure.size("0", _FONT)[1]
        left_width = measure.width(labels[:half], _FONT)
        right_width = measure.width(labels[half:], _FONT)
        low = min(1.0, math.floor(ranks[0]))
        high = max(float(k), math.ceil(ranks[-1]))
        span_end = high if critical_difference is None else max(high, low + critical_difference)
        scale = min(max(_CD_RANK_UNIT_MIN * (span_end - low), _CD_SCALE_MIN), _CD_SCALE_MAX)
        unit = scale / (span_end - low)
        # Half a rank label may stick out on either side of the scale.
        overhang = measure.size(f"{int(high)}", _FONT)[0] / 2
        x0 = _MARGIN + max(left_width + 2 * _CD_STUB, overhang) + _SAFETY
        content_width = x0 + scale + max(right_width + 2 * _CD_STUB, overhang) + _SAFETY + _MARGIN
        wrapped, title_width, title_height = _title_block(measure, title, content_width)
        note = "no critical difference (fewer than 3 models)" if critical_difference is None else ""
        note_width = measure.size(note, _FONT)[0] if note else 0.0
        width = max(content_width, title_width + 2 * _MARGIN + _SAFETY, note_width + 2 * _MARGIN + _SAFETY)
        x0 += (width - content_width) / 2

        def x_of(rank: float) -> float:
            return x0 + (rank - low) * unit

        # Vertical positions, in inches from the top.
        y = _MARGIN + title_height + 0.08
        note_y = y
        if note:
            y += line_height + 0.08
        cd_label_y = y  # top of the "CD = ..." label
        if critical_difference is not None:
            y += line_height + 0.04
        cd_bar_y = y + 0.05
        if critical_difference is not None:
            y += 0.14
        rank_label_y = y  # top of the rank numbers
        axis_y = y + rank_label_height + 0.05 + 0.1
        group_y = axis_y + 0.12
        spans = [(x_of(ranks[first]) - 0.04, x_of(ranks[last]) + 0.04) for first, last in groups]
        group_rows = _pack_groups(spans, gap=0.15)
        rows_y = group_y + (max(group_rows) + 1 if groups else 0) * _CD_GROUP_STEP + 0.12
        height = rows_y + (half - 1) * _CD_ROW + line_height / 2 + _SAFETY + _MARGIN
        figure.set_size_inches(width, height)
        inches = figure.dpi_scale_trans
        _place_title(figure, wrapped, width, height)

        def line(xs: Sequence[float], ys: Sequence[float], linewidth: float, **style: Any) -> None:
            figure.add_artist(
                Line2D(
                    list(xs),
                    [height - value for value in ys],
                    linewidth=linewidth,
                    color="black",
                    transform=inches,
                    **style,
                )
            )

        def text(x: float, y_top: float, value: str, **style: Any) -> None:
            figure.text(x, height - y_top, value, fontsize=_FONT, transform=inches, **style)

        if note:
            text(width / 2, note_y, note, ha="center", va="top", color="0.3")

        # The axis, its ticks (whole ranks long, half ranks short) and the rank numbers.
        line([x_of(low), x_of(high)], [axis_y, axis_y], 1.0, solid_capstyle="butt")
        steps = round((high - low) * 2)
        for step in range(steps + 1):
            rank = low + step / 2
            length = 0.1 if step % 2 == 0 else 0.05
            line([x_of(rank)] * 2, [axis_y, axis_y - length], 1.0)
            if step % 2 == 0:
                text(x_of(rank), rank_label_y, f"{round(rank)}", ha="center", va="top")

        if critical_difference is not None:
            start, end = x_of(low), x_of(low + critical_difference)
            line([start, end], [cd_bar_y, cd_bar_y], 1.2, solid_capstyle="butt")
            for x in (start, end):
                line([x, x], [cd_bar_y - 0.04, cd_bar_y + 0.04], 1.0)
            text((start + end) / 2, cd_label_y, f"CD = {critical_difference:.2f}", ha="center", va="top")

        # Thick bars joining the models that are not significantly different.
        for row, span in zip(group_rows, spans, strict=True):
            y_group = group_y + row * _CD_GROUP_STEP
            line(span, [y_group, y_group], 3.0, solid_capstyle="butt")

        # The models: a line from the axis down to the model's row, then out to its name.
        for index, (rank, label) in enumerate(zip(ranks, labels, strict=True)):
            if index < half:  # better half: left, the best closest to the axis
                y_row = rows_y + index * _CD_ROW
                end = x0 - _CD_STUB
                line([x_of(rank), x_of(rank), end], [axis_y, y_row, y_row], 0.8)
                text(end - _CD_STUB, y_row, label, ha="right", va="center_baseline")
            else:  # the rest: right, the worst closest to the axis
                y_row = rows_y + (k - 1 - index) * _CD_ROW
                end = x0 + scale + _CD_STUB
                line([x_of(rank), x_of(rank), end], [axis_y, y_row, y_row], 0.8)
                text(end + _CD_STUB, y_row, label, ha="left", va="center_baseline")
        return _save(figure, folder, stem, check)


# ---------------------------------------------------------------------------------------------------------------
# many figures in parallel

FIGURE_FUNCTIONS: dict[str, Callable[..., list[Path]]] = {
    "boxplots": write_boxplots,
    "confidence_heatmap": write_confidence_heatmap,
    "cd_diagram": write_cd_diagram,
}


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw: `function` is a key of `FIGURE_FUNCTIONS`, `kwargs` its keyword arguments."""

    function: str
    kwargs: dict[str, Any]


def _draw_one(job: FigureJob) -> list[Path]:
    return FIGURE_FUNCTIONS[job.function](**job.kwargs)


def _draw_chunk(jobs: Sequence[FigureJob]) -> list[list[Path]]:
    """Draw jobs one after the other (in a worker process: matplotlib is imported once for them all)."""
    return [_draw_one(job) for job in jobs]


def draw_figures(jobs: Sequence[FigureJob], workers: int = 2) -> list[Path]:
    """Draw figures in up to `workers` spawned processes; every written path, in the order of the jobs.

    Each worker draws one chunk of the jobs (every `workers`-th job, so that each gets a mix of the figure kinds),
    so that the start-up of a process (importing matplotlib) is paid once per worker. With `workers <= 1` or a
    single job everything is drawn in this process. The files do not depend on `workers`.

    Raises:
        ValueError: a job names an unknown function.
        ImportError: matplotlib is not installed.
    """
    jobs = list(jobs)
    for job in jobs:
        if job.function not in FIGURE_FUNCTIONS:
            raise ValueError(f"unknown figure function {job.function!r}; known: {', '.join(FIGURE_FUNCTIONS)}")
    if workers <= 1 or len(jobs) <= 1:
        return [path for job in jobs for path in _draw_one(job)]

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    count = min(workers, len(jobs))
    chunks = [jobs[start::count] for start in range(count)]
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_draw_chunk, chunk) for chunk in chunks]
        results = [future.result() for future in futures]
    by_job: list[list[Path]] = [[] for _ in jobs]
    for start, result in enumerate(results):
        for offset, paths in enumerate(result):
            by_job[start + offset * count] = paths
    return [path for paths in by_job for path in paths]
