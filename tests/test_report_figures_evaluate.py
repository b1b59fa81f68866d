"""The figures and thumbnails of the HTML report of one category: inline SVG (unique ids, resolvable references,
accessible, deterministic) and PNG thumbnails (sizes, aspect, the contour where the mask's border is), drawn the same
in worker processes, and fast enough for a 160-image category."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from aupimo_cli.report.report_figures import (
    REPORT_FIGURE_FUNCTIONS,
    _aupro_key,
    _inferno_bgr,
    aupimo_by_defect_svg,
    curves_svg,
    data_uri,
    draw_report_figures,
    pimo_svg,
    score_histograms_svg,
    thumbnails,
)

SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
DEFECTS = {"broken_large": 20, "broken_small": 22, "contamination": 21, "crack": 18, "scratch_head": 24, "thread": 14}


def figure_inputs(seed: int = 0, points: int = 2000) -> dict[str, dict[str, Any]]:
    """The keyword arguments of the four figures for a synthetic 160-image category (119 anomalous)."""
    rng = np.random.default_rng(seed)
    fpr = np.concatenate(([0.0], np.sort(rng.random(20_000)), [1.0]))
    roc = (fpr, fpr**0.04)
    recall = np.linspace(0.0, 1.0, 20_000)
    pr = (recall, 1.0 - recall**3 * 0.97)
    pro_fpr = np.linspace(0.0, 1.0, 5_000)
    pro = (pro_fpr, 1.0 - np.exp(-pro_fpr / 0.02))
    values = {"pixel_auroc": 0.99041, "pixel_ap": 0.6612, "aupro_30": 0.9312, "aupro_05": 0.7711}

    x = np.logspace(-5, -4, points)
    curves = []
    by_defect: dict[str, list[float]] = {}
    for index, (defect, count) in enumerate(DEFECTS.items()):
        for image in range(count):
            y = 1.0 / (1.0 + np.exp(-(np.log10(x) + 4.6 - 0.15 * index - rng.normal(0, 0.6)) * rng.uniform(2, 8)))
            curves.append((f"test/{defect}/{image:03d}.png", defect, x, y))
            by_defect.setdefault(defect, []).append(float(np.mean(y)))

    scores = rng.normal(2.5, 0.8, 200_000)
    edges = np.linspace(-1.0, 9.0, 101)
    counts_normal, _ = np.histogram(scores, bins=edges)
    counts_anomalous, _ = np.histogram(rng.normal(5.0, 1.0, 3_000), bins=edges)
    thresholds = {
        "image threshold": 4.3,
        "soft threshold": 3.7,
        "image F1max threshold": 3.77,
        "pixel threshold": 4.1,
        "pixel F1max threshold": None,
    }
    return {
        "curves_svg": {"roc": roc, "pr": pr, "pro": pro, "aupro_limits": (0.3, 0.05), "values": values},
        "pimo_svg": {"curves": curves, "fpr_bounds": (1e-5, 1e-4), "thresh": (4.31, 3.9)},
        "aupimo_by_defect_svg": {"aupimos_by_defect": by_defect},
        "score_histograms_svg": {
            "image_scores_normal": rng.normal(3.0, 0.5, 41),
            "image_scores_anomalous": rng.normal(4.6, 0.9, 119),
            "pixel_hist": (edges[:-1], counts_normal, counts_anomalous),
            "thresholds": thresholds,
        },
    }


@pytest.fixture(scope="module")
def inputs() -> dict[str, dict[str, Any]]:
    return figure_inputs(points=400)


def ids_and_references(svg: str) -> tuple[list[str], list[str]]:
    """Every id of the SVG and every local reference (``url(#...)``, ``href="#..."``) in it."""
    root = ET.fromstring(svg)
    ids, references = [], []
    for element in root.iter():
        for name, value in element.attrib.items():
            if name == "id":
                ids.append(value)
            elif name in ("href", XLINK_HREF) and value.startswith("#"):
                references.append(value[1:])
            references += re.findall(r"url\(#([^)]*)\)", value)
    return ids, references


def check_inline_svg(svg: str, prefix: str, title: str) -> None:
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<metadata>" not in svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("id") == f"{prefix}-svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{prefix}-title"
    assert re.fullmatch(r"[\d.]+pt", root.get("width", "")) and re.fullmatch(r"[\d.]+pt", root.get("height", ""))
    assert root.get("viewBox")
    first = root[0]
    assert first.tag == f"{SVG}title" and first.get("id") == f"{prefix}-title" and first.text == title
    ids, references = ids_and_references(svg)
    assert len(ids) == len(set(ids)), "duplicate ids inside one figure"
    # <prefix>-<matplotlib's id>, which holds no "-": ids of figures with different prefixes never meet.
    assert all(element_id.startswith(f"{prefix}-") and "-" not in element_id[len(prefix) + 1 :] for element_id in ids)
    assert set(references) <= set(ids), set(references) - set(ids)
    # matplotlib's stylesheet applies to this figure only, once inlined in a page.
    style = root.find(f".//{SVG}style")
    assert style is not None and style.text is not None and style.text.startswith(f"#{prefix}-svg *{{")
    assert "font-family: 'DejaVu Sans', Verdana, sans-serif" in svg


FUNCTIONS: dict[str, Callable[..., str]] = {
    "curves_svg": curves_svg,
    "pimo_svg": pimo_svg,
    "aupimo_by_defect_svg": aupimo_by_defect_svg,
    "score_histograms_svg": score_histograms_svg,
}
TITLES = {
    "curves_svg": "Pixel ROC, precision-recall and PRO curves",
    "pimo_svg": "PIMO curves of 119 anomalous images",
    "aupimo_by_defect_svg": "Per-image AUPIMO by defect type",
    "score_histograms_svg": "Histograms of the image and pixel anomaly scores",
}


def test_svgs_inline_unique_ids_resolvable_and_deterministic(inputs: dict[str, dict[str, Any]]) -> None:
    all_ids: list[str] = []
    for index, (name, function) in enumerate(FUNCTIONS.items()):
        prefix = f"cat-a-fig{index}"
        svg = function(prefix, **inputs[name], check=True)  # check: every text inside, none overlapping
        check_inline_svg(svg, prefix, TITLES[name])
        assert function(prefix, **inputs[name]) == svg  # the same text again
        all_ids += ids_and_references(svg)[0]
    assert len(all_ids) == len(set(all_ids)), "two figures of a page share an id"

    # The same figure under two prefixes: the same drawing, only the ids differ (matplotlib's would collide).
    one = curves_svg("first", **inputs["curves_svg"])
    two = curves_svg("second", **inputs["curves_svg"])
    assert set(ids_and_references(one)[0]).isdisjoint(ids_and_references(two)[0])
    assert one.replace("first-", "") == two.replace("second-", "")


def test_inline_in_an_html5_page(inputs: dict[str, dict[str, Any]]) -> None:
    """An HTML5 parser reads the four figures inlined in one page as SVG, each with its title, no id twice."""
    html5lib = pytest.importorskip("html5lib")

    figures = [function(f"f{index}", **inputs[name]) for index, (name, function) in enumerate(FUNCTIONS.items())]
    page = "<!DOCTYPE html><html><head><title>r</title></head><body>" + "".join(figures) + "</body></html>"
    document = html5lib.parse(page, namespaceHTMLElements=False)
    svgs = document.findall(".//{http://www.w3.org/2000/svg}svg")
    assert [svg.get("id") for svg in svgs] == ["f0-svg", "f1-svg", "f2-svg", "f3-svg"]
    assert [svg.find("{http://www.w3.org/2000/svg}title").text for svg in svgs] == list(TITLES.values())
    ids = [element.get("id") for element in document.iter() if element.get("id")]
    assert len(ids) == len(set(ids))


def test_curves_texts_and_missing_curves(inputs: dict[str, dict[str, Any]]) -> None:
    svg = curves_svg("c", **inputs["curves_svg"])
    for text in ("pixel ROC (AUROC 0.9904)", "precision-recall (AP 0.6612)", ">30%<", ">5%<", ">FPR<", ">PRO<"):
        assert text in svg, text
    assert "PRO (AUPRO 30%\u00a00.9312," in svg and ">5%\u00a00.7711)<" in svg  # wrapped between the limits

    svg = curves_svg("c", None, None, None, (0.3, 0.05), {"pixel_auroc": None}, check=True)
    assert svg.count(">not computed<") == 3
    assert "pixel ROC (AUROC n/a)" in svg and "AUPRO 30%\u00a0n/a, 5%\u00a0n/a" in svg  # short enough for a line
    # Three limits and long values wrap the PRO title inside the figure.
    three = {"aupro_30": 0.5, "aupro_05": 0.25, "aupro_01": 0.125, "aupro_0p5": 0.1}
    curves_svg("c", None, None, inputs["curves_svg"]["pro"], (0.3, 0.05, 0.01, 0.005), three, check=True)


def test_aupro_key_matches_the_metrics() -> None:
    from aupimo_cli.metrics import aupro_key

    for limit in (0.3, 0.05, 0.01, 0.005, 1.0, 0.123):
        assert _aupro_key(limit) == aupro_key(limit)


def test_pimo_legend_counts_and_range(inputs: dict[str, dict[str, Any]]) -> None:
    svg = pimo_svg("p", **inputs["pimo_svg"])
    for defect, count in DEFECTS.items():
        assert f">{defect} ({count})<" in svg
    assert "10⁻⁵ to 10⁻⁴ (anomaly scores 3.9 to 4.31)" in svg and ">10⁻⁴<" in svg
    # One colour per defect, curves drawn thin and translucent.
    root = ET.fromstring(svg)
    styles = [element.get("style", "") for element in root.iter(f"{SVG}path")]
    curve_styles = [style for style in styles if "stroke-opacity: 0.4" in style]
    assert len(curve_styles) == 119
    assert len({re.search(r"stroke: (#\w+)", style).group(1) for style in curve_styles}) == len(DEFECTS)  # type: ignore[union-attr]

    # No curve, bounds up to 1, no thresholds; many defects with long names grow the figure, nothing clipped.
    pimo_svg("p", [], (0.01, 1.0), check=True)
    x = np.logspace(-3, -1, 50)
    many = [(f"i{k}", f"defect_type_with_a_long_name_{k % 14:02d}", x, np.linspace(0, 1, 50)) for k in range(40)]
    assert ">defect_type_with_a_long_name_13 (2)<" in pimo_svg("p", many, (2e-3, 5e-2), check=True)


def test_aupimo_by_defect(inputs: dict[str, dict[str, Any]]) -> None:
    data = inputs["aupimo_by_defect_svg"]["aupimos_by_defect"]
    reordered = {name: data[name] for name in reversed(list(data))}
    svg = aupimo_by_defect_svg("b", reordered, check=True)
    assert svg == aupimo_by_defect_svg("b", data)  # sorted by name whatever the order given; the same jitter
    positions = [svg.index(f">{name} ({len(data[name])})<") for name in sorted(data)]
    assert positions == sorted(positions)  # drawn top to bottom in name order
    assert ">AUPIMO<" in svg
    with_nan = aupimo_by_defect_svg("b", {"crack": [0.2, np.nan, 0.4], "hole": [np.nan]}, check=True)
    assert ">crack (2)<" in with_nan and ">hole (0)<" in with_nan
    assert ">no anomalous image<" in aupimo_by_defect_svg("b", {}, check=True)
    assert ">(no defect type) (1)<" in aupimo_by_defect_svg("b", {"": [0.5]})  # images outside a defect folder


def test_score_histograms(inputs: dict[str, dict[str, Any]]) -> None:
    svg = score_histograms_svg("h", **inputs["score_histograms_svg"])
    for text in (">normal (41)<", ">defective (119)<", ">normal<", ">defective<", ">image threshold = 4.3<"):
        assert text in svg, text
    assert ">soft threshold = 3.7<" in svg and ">image F1max threshold = 3.77<" in svg
    assert ">pixel threshold = 4.1<" in svg and "pixel F1max" not in svg  # None: not drawn
    kwargs = {**inputs["score_histograms_svg"], "pixel_hist": None, "image_scores_anomalous": []}
    svg = score_histograms_svg("h", **kwargs, check=True)
    assert svg.count(">not computed<") == 1 and ">defective (0)<" in svg
    empty = score_histograms_svg("h", [], [], None, {}, check=True)
    assert empty.count(">not computed<") == 2
    zeros = (np.arange(5.0), np.zeros(5), np.zeros(5))  # no pixel counted: nothing to draw on a log scale
    assert ">not computed<" in score_histograms_svg("h", [np.nan, 2.0], [3.0], zeros, {"pixel threshold": 2.0})


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="prefix"):
        curves_svg("1abc", None, None, None, (), {})
    with pytest.raises(ValueError, match="prefix"):
        aupimo_by_defect_svg('a"b', {})
    with pytest.raises(ValueError, match="FPR bounds"):
        pimo_svg("p", [], (1e-4, 1e-5))
    with pytest.raises(ValueError, match="AUPRO limits"):
        curves_svg("c", None, None, None, (0.0,), {})
    with pytest.raises(ValueError, match="as many x as y"):
        curves_svg("c", (np.zeros(3), np.zeros(2)), None, None, (), {})
    with pytest.raises(ValueError, match="one count per bin"):
        score_histograms_svg("h", [1.0], [2.0], (np.zeros(3), np.zeros(3), np.zeros(2)), {})
    with pytest.raises(ValueError, match="unknown report figure"):
        draw_report_figures([("pie_chart_svg", {})])
    with pytest.raises(ValueError, match="anomaly map"):
        thumbnails(None, np.zeros((2, 2, 2), np.float32), None, (0.0, 1.0))


# ---------------------------------------------------------------------------------------------------------------
# thumbnails


def decode(encoded: bytes) -> np.ndarray:
    assert encoded[:8] == b"\x89PNG\r\n\x1a\n" or encoded[:3] == b"\xff\xd8\xff"
    return cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize(("height", "width"), [(1024, 1024), (900, 1600), (700, 300), (100, 150)])
def test_thumbnail_sizes_aspect_and_determinism(height: int, width: int) -> None:
    rng = np.random.default_rng(height + width)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    amap = rng.random((height, width), dtype=np.float32)
    mask = np.zeros((height, width), bool)
    mask[height // 4 : height // 2, width // 4 : width // 2] = True
    pngs = thumbnails(image, amap, mask, (0.0, 1.0))
    assert len(pngs) == 3
    assert thumbnails(image, amap, mask, (0.0, 1.0)) == pngs  # the same bytes
    for png in pngs:
        thumb = decode(png)
        assert thumb.shape[2] == 3 and max(thumb.shape[:2]) <= 384
        assert thumb.shape[:2] == decode(pngs[0]).shape[:2]
        assert thumb.shape[1] / thumb.shape[0] == pytest.approx(width / height, rel=0.01)
        if max(height, width) <= 384:  # never enlarged
            assert thumb.shape[:2] == (height, width)
    without = thumbnails(None, amap, mask, (0.0, 1.0))
    assert len(without) == 2 and decode(without[0]).shape == decode(pngs[1]).shape
    # A grey float image in [0, 1] and a map of another size give the image's thumbnail size.
    grey = thumbnails(rng.random((height, width)), amap[::2, ::2], mask[::2, ::2], (0.0, 1.0), max_side=128)
    assert [decode(png).shape[:2] for png in grey] == [decode(grey[0]).shape[:2]] * 3
    assert max(decode(grey[0]).shape[:2]) <= 128


def test_thumbnail_contour_on_the_mask_border_colours_and_inferno() -> None:
    size = 1024
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0] = 255  # pure red, RGB
    amap = np.zeros((size, size), np.float32)
    amap[:, size // 2 :] = 10.0  # right half above the range's top
    mask = np.zeros((size, size), bool)
    mask[256:512, 384:768] = True  # a square 256 x 384 -> 96 x 144 in the 384 thumbnail, at [96:192, 144:288]
    picture, overlay, contoured = (decode(png) for png in thumbnails(image, amap, mask, (0.0, 5.0)))
    assert picture.shape == (384, 384, 3)
    assert tuple(picture[10, 10]) == (0, 0, 255)  # BGR once decoded: the PNG holds red

    green = np.all(contoured == (0, 255, 0), axis=2)
    border = np.zeros((384, 384), bool)
    border[96:192, 144:288] = True
    inner = border.copy()
    inner[97:191, 145:287] = False  # the square's outermost pixels
    band = cv2.dilate(inner.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert green[inner].all()  # the whole border is drawn
    assert not green[~band].any()  # and nothing more than 2 pixels away from it
    assert np.array_equal(np.all(overlay == (0, 255, 0), axis=2), green)  # the same contour on the overlay

    # The map's colours: inferno's top over the right half, blended 60 % over the grey of red.
    grey = round(0.299 * 255)
    top = _inferno_bgr()[255].astype(float)
    expected = np.round(0.6 * top + 0.4 * grey)
    assert np.abs(overlay[20, 300].astype(float) - expected).max() <= 1
    assert np.abs(overlay[20, 20].astype(float) - np.round(0.6 * _inferno_bgr()[0] + 0.4 * grey)).max() <= 1

    # Without an image: the map's colours alone, and the contour on black.
    overlay, contoured = (decode(png) for png in thumbnails(None, amap, mask, (0.0, 5.0)))
    assert np.array_equal(overlay[20, 300], _inferno_bgr()[255]) and np.array_equal(overlay[20, 20], _inferno_bgr()[0])
    assert np.array_equal(np.all(contoured == (0, 255, 0), axis=2), green)
    assert not contoured[~green].any()

    # No mask, or an empty one: no contour.
    for empty in (None, np.zeros((size, size), bool)):
        _, overlay_only, plain = (decode(png) for png in thumbnails(image, amap, empty, (0.0, 5.0)))
        assert np.array_equal(plain, picture) and not np.all(overlay_only == (0, 255, 0), axis=2).any()


def test_inferno_is_matplotlibs() -> None:
    import matplotlib

    rgb = np.round(matplotlib.colormaps["inferno"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    assert np.array_equal(_inferno_bgr()[:, ::-1], rgb)


def test_data_uri_round_trip() -> None:
    png = thumbnails(None, np.eye(8, dtype=np.float32), None, (0.0, 1.0))[0]
    uri = data_uri(png)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == png


# ---------------------------------------------------------------------------------------------------------------
# in worker processes


def test_workers_draw_the_same_svgs_as_this_process() -> None:
    """A 160-image category's four figures (119 PIMO curves of 2000 points) drawn in 2 workers: the same SVG text
    as in this process, each with its own id prefix. (Their time is in benchmarks/bench_report.py.)"""
    inputs = figure_inputs(seed=1)
    jobs = [(name, {"prefix": f"r{index}", **kwargs}) for index, (name, kwargs) in enumerate(inputs.items())]
    assert set(REPORT_FIGURE_FUNCTIONS) == {name for name, _ in jobs}
    parallel = draw_report_figures(jobs, workers=2)
    serial = draw_report_figures(jobs, workers=1)
    assert parallel == serial
    assert [svg[: len(f'<svg id="r{index}-svg"')] for index, svg in enumerate(serial)] == [
        f'<svg id="r{index}-svg"' for index in range(4)
    ]


def test_jpeg_thumbnails_are_the_png_ones_within_compression_error_and_smaller() -> None:
    """A textured photograph: the JPEG thumbnails (quality 90) show the same pixels as the lossless PNGs, off by
    a few grey levels on average, at a fraction of the bytes; the data URI names the type."""
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.normal(128, 40, (1024, 1024)).astype(np.float32), (0, 0), 6)
    image = np.clip(image, 0, 255).astype(np.uint8)
    amap = cv2.GaussianBlur(rng.random((256, 256), dtype=np.float32), (0, 0), 4)
    mask = np.zeros((1024, 1024), bool)
    mask[300:500, 600:700] = True
    pngs = thumbnails(image, amap, mask, (0.3, 0.7))
    jpegs = thumbnails(image, amap, mask, (0.3, 0.7), jpeg_quality=90)
    assert jpegs == thumbnails(image, amap, mask, (0.3, 0.7), jpeg_quality=90)  # the same bytes
    for png, jpeg in zip(pngs, jpegs, strict=True):
        exact, lossy = decode(png).astype(float), decode(jpeg).astype(float)
        assert exact.shape == lossy.shape and np.abs(exact - lossy).mean() < 3.0
        assert len(jpeg) < len(png) / 3
        assert data_uri(jpeg).startswith("data:image/jpeg;base64,")
