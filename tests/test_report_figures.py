"""The paper figures of `aupimo compare`: files, 200 dpi, byte-identical re-runs, nothing clipped, CD groups."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from aupimo_cli.report.figures import (
    DPI,
    FigureJob,
    _assert_inside,
    _text_boxes,
    cd_groups,
    draw_figures,
    write_boxplots,
    write_cd_diagram,
    write_confidence_heatmap,
)

LONG_NAMES = [
    "PatchCore_wide_resnet50_layer2_3",
    "EfficientAD-S",
    "SimpleNet",
    "RD4AD (reverse distillation)",
    "FastFlow",
    "CFlow-AD",
    "PaDiM",
    "DRAEM",
    "STFPM",
    "GANomaly",
    "DFM",
    "CS-Flow",
    "UniAD_multi_class_baseline_v2",
]


def png_chunks(path: Path) -> dict[bytes, bytes]:
    """The chunks of a PNG by type (the last of each type), after checking the signature and every CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks[kind] = body
        offset += 12 + length
    return chunks


def assert_png_200_dpi(path: Path) -> None:
    chunks = png_chunks(path)
    x_ppm, y_ppm, unit = struct.unpack(">IIB", chunks[b"pHYs"])
    assert unit == 1  # metres
    assert x_ppm == y_ppm == round(DPI / 0.0254)
    assert b"tEXt" not in chunks and b"tIME" not in chunks  # nothing that changes from run to run
    from PIL import Image

    with Image.open(path) as image:  # a valid image that a standard reader decodes
        image.load()
        assert image.info["dpi"] == pytest.approx((DPI, DPI), abs=0.01)
        assert image.getextrema()[3] == (255, 255)  # opaque


def assert_deterministic(paths: list[Path], again: list[Path]) -> None:
    """Two runs wrote the same two files (PNG, SVG), byte for byte."""
    assert [path.suffix for path in paths] == [".png", ".svg"]
    assert [path.name for path in paths] == [path.name for path in again]
    for first, second in zip(paths, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


def box_inputs(rng: np.random.Generator, models: list[str]) -> tuple[list[np.ndarray], dict[str, list[str]]]:
    aupimos = []
    for _ in models:
        values = rng.beta(2, 2, size=40)
        values[rng.random(40) < 0.2] = np.nan  # normal images
        values[:3] = [0.0, 0.001, 1.0]  # outliers at the ends of the axis
        aupimos.append(values)
    extra = {
        "AUROC": [f"{value:.4f}" for value in rng.random(len(models))],
        "AUPRO@30%": ["-"] + [f"{value:.4f}" for value in rng.random(len(models) - 1)],
    }
    return aupimos, extra


def confidence_matrix(rng: np.random.Generator, k: int) -> np.ndarray:
    matrix = rng.random((k, k))
    np.fill_diagonal(matrix, np.nan)
    return matrix


def test_boxplots_files_dpi_and_determinism(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    models = ["a_model_with_a_name_of_30_char", "b", "c$x$_not_math"]
    aupimos, extra = box_inputs(rng, models)
    aupimos[1] = np.full(10, np.nan)  # a model without any anomalous image: no box, but a row
    paths = write_boxplots(tmp_path / "one", "screw", "screw", models, aupimos, extra, check=True)
    again = write_boxplots(tmp_path / "two", "screw", "screw", models, aupimos, extra, check=True)
    assert paths == [tmp_path / "one" / "screw.png", tmp_path / "one" / "screw.svg"]
    assert_png_200_dpi(paths[0])
    assert_deterministic(paths, again)
    svg = paths[1].read_text(encoding="utf-8")
    # Text stays text, mathtext is off, no date; the title counts the anomalous images of the fullest model.
    assert "c$x$_not_math" in svg and "AUPRO@30%" in svg and extra["AUROC"][2] in svg
    assert "<dc:date>" not in svg
    num_images = max(int(np.isfinite(values).sum()) for values in aupimos)
    assert f"screw: per-image AUPIMO of {num_images} anomalous images" in svg


def test_heatmap_files_dpi_and_determinism(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    models = ["PatchCore_wide_resnet50_layer2", "b", "c"]
    matrix = confidence_matrix(rng, 3)
    paths = write_confidence_heatmap(tmp_path / "one", "bottle", "bottle", models, matrix, check=True)
    again = write_confidence_heatmap(tmp_path / "two", "bottle", "bottle", models, matrix, check=True)
    assert_png_200_dpi(paths[0])
    assert_deterministic(paths, again)
    svg = paths[1].read_text(encoding="utf-8")
    assert f">{matrix[0, 1]:.2f}<" in svg  # the cell values are SVG text
    assert "confidence that row beats column (Wilcoxon)" in svg


def test_cd_diagram_files_dpi_and_determinism(tmp_path: Path) -> None:
    ranks = {"a": 1.0, "b": 1.5, "c": 3.0, "d": 3.2}
    paths = write_cd_diagram(tmp_path / "one", "cd", ranks, 1.0, "mean over categories", check=True)
    again = write_cd_diagram(tmp_path / "two", "cd", ranks, 1.0, "mean over categories", check=True)
    assert_png_200_dpi(paths[0])
    assert_deterministic(paths, again)
    svg = paths[1].read_text(encoding="utf-8")
    assert "CD = 1.00" in svg and "no critical difference" not in svg

    paths = write_cd_diagram(tmp_path, "two_models", {"x": 1.3, "y": 1.7}, None, "two models", check=True)
    svg = paths[1].read_text(encoding="utf-8")
    assert "no critical difference (fewer than 3 models)" in svg and "CD =" not in svg


def test_thirteen_models_fit(tmp_path: Path) -> None:
    """Long names, 13 models, three metric columns, a long category: every text inside, none overlapping."""
    rng = np.random.default_rng(2)
    category = "a_rather_long_category_name_for_the_title_to_wrap"
    aupimos, extra = box_inputs(rng, LONG_NAMES)
    extra["image AUROC"] = [f"{value:.4f}" for value in rng.random(13)]
    write_boxplots(tmp_path, "box", category, LONG_NAMES, aupimos, extra, check=True)
    write_confidence_heatmap(tmp_path, "heat", category, LONG_NAMES, confidence_matrix(rng, 13), check=True)
    ranks = dict(zip(LONG_NAMES, np.sort(rng.uniform(1, 13, 13)).tolist(), strict=True))
    write_cd_diagram(tmp_path, "cd", ranks, 3.1, "mean over 27 categories: " + "average ranks " * 12, check=True)


@pytest.mark.parametrize("k", [2, 3, 20])
def test_cd_diagram_fits_2_to_20_models(tmp_path: Path, k: int) -> None:
    ranks = {f"model_{index:02d}_{'x' * 20}": 1.0 + (k - 1) * index / k for index in range(k)}
    cd = None if k == 2 else 0.8 * k  # for 3 models the bar is longer than the axis
    write_cd_diagram(tmp_path, "cd", ranks, cd, f"{k} models", check=True)


def test_figure_sizes_grow_with_the_content(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(3)
    short = [name[:3] for name in LONG_NAMES]
    sizes = {}
    for label, models in (("short", short), ("long", LONG_NAMES)):
        aupimos, extra = box_inputs(rng, models)
        (png, _) = write_boxplots(tmp_path, f"box_{label}", "c", models, aupimos, extra)
        with Image.open(png) as image:
            sizes[label] = image.size
    assert sizes["long"][0] > sizes["short"][0]  # wider for the names
    (png, _) = write_boxplots(tmp_path, "box_two", "c", short[:2], *box_inputs(rng, short[:2]))
    with Image.open(png) as image:
        assert image.size[1] < sizes["short"][1]  # taller for more models


def test_the_check_catches_clipped_and_overlapping_texts() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.text(0.5, 0.5, "inside", ha="center")
    figure.canvas.draw()
    _assert_inside(figure)
    assert [text for text, _, _ in _text_boxes(figure)] == ["inside"]

    figure.text(0.98, 0.5, "sticks out on the right")
    figure.canvas.draw()
    with pytest.raises(AssertionError, match="outside the figure"):
        _assert_inside(figure)

    figure = Figure(figsize=(3, 1), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.text(0.1, 0.5, "one text")
    figure.text(0.2, 0.5, "another")
    figure.canvas.draw()
    with pytest.raises(AssertionError, match="overlap"):
        _assert_inside(figure)


def test_cd_groups_known_cliques() -> None:
    assert cd_groups([1.0, 1.5, 3.0, 3.2], 1.0) == [(0, 1), (2, 3)]
    # A chain: each model is within CD of its neighbours only, so the groups overlap.
    assert cd_groups([1.0, 1.8, 2.6, 3.4], 1.0) == [(0, 1), (1, 2), (2, 3)]
    # Any order in; indices into the sorted ranks.
    assert cd_groups([3.4, 1.0, 2.6, 1.8], 1.0) == [(0, 1), (1, 2), (2, 3)]
    # Less than CD, strictly: a difference of exactly CD separates.
    assert cd_groups([1.0, 2.0, 3.0], 1.0) == []
    assert cd_groups([1.0, 2.0, 3.0], 2.5) == [(0, 2)]
    # A group inside a larger one is not drawn: (1, 2) lies in (0, 2).
    assert cd_groups([1.0, 1.2, 1.4, 5.0], 1.0) == [(0, 2)]
    assert cd_groups([1.0, 1.1, 2.05, 2.9, 3.0], 1.0) == [(0, 1), (1, 2), (2, 4)]
    assert cd_groups([2.0, 2.0], 0.5) == [(0, 1)]  # ties
    assert cd_groups([1.0], 1.0) == [] and cd_groups([], 1.0) == []


@pytest.mark.parametrize("k", [3, 7, 12])
def test_cd_groups_are_maximal_and_not_nested(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(50):
        ranks = np.sort(rng.uniform(1, k, k)).tolist()
        cd = float(rng.uniform(0.2, k / 2))
        groups = cd_groups(ranks, cd)
        # The brute-force answer: every maximal run of consecutive models within CD.
        runs = [
            (i, j)
            for i in range(k)
            for j in range(i + 1, k)
            if ranks[j] - ranks[i] < cd
            and not (i > 0 and ranks[j] - ranks[i - 1] < cd)
            and not (j + 1 < k and ranks[j + 1] - ranks[i] < cd)
        ]
        assert groups == runs


def test_draw_figures_same_bytes_with_two_workers(tmp_path: Path) -> None:
    models = ["model_a", "model_b", "model_c"]

    def jobs(folder: Path) -> list[FigureJob]:
        rng = np.random.default_rng(4)
        aupimos, extra = box_inputs(rng, models)
        box = {"folder": folder, "stem": "box", "category": "c", "models": models, "aupimos": aupimos, "extra": extra}
        heat = {"folder": folder, "stem": "heat", "category": "c", "models": models}
        ranks = {"a": 1.2, "b": 2.1, "c": 2.7}
        cd = {"folder": folder, "stem": "cd", "average_ranks": ranks, "critical_difference": 1.9, "title": "cd"}
        return [
            FigureJob("boxplots", box),
            FigureJob("confidence_heatmap", {**heat, "confidence": confidence_matrix(rng, 3)}),
            FigureJob("cd_diagram", cd),
        ]

    serial = draw_figures(jobs(tmp_path / "serial"), workers=1)
    parallel = draw_figures(jobs(tmp_path / "parallel"), workers=2)
    names = ["box.png", "box.svg", "heat.png", "heat.svg", "cd.png", "cd.svg"]
    assert [path.name for path in serial] == [path.name for path in parallel] == names  # in the order of the jobs
    for first, second in zip(serial, parallel, strict=True):
        assert first.parent == tmp_path / "serial" and second.parent == tmp_path / "parallel"
        assert first.read_bytes() == second.read_bytes(), first.name


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown figure function"):
        draw_figures([FigureJob("pie_chart", {})])
    with pytest.raises(ValueError, match="one AUPIMO array per model"):
        write_boxplots(Path("unused"), "s", "c", ["a", "b"], [np.zeros(3)], {})
    with pytest.raises(ValueError, match="column 'AUROC' has 1 values for 2 models"):
        write_boxplots(Path("unused"), "s", "c", ["a", "b"], [np.zeros(3)] * 2, {"AUROC": ["1"]})
    with pytest.raises(ValueError, match="2 x 2 confidence matrix"):
        write_confidence_heatmap(Path("unused"), "s", "c", ["a", "b"], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least 2 models"):
        write_cd_diagram(Path("unused"), "s", {"a": 1.0}, None, "t")
    with pytest.raises(ValueError, match="finite"):
        write_cd_diagram(Path("unused"), "s", {"a": 1.0, "b": float("nan")}, None, "t")


def test_no_matplotlib_state_leaks(tmp_path: Path) -> None:
    import matplotlib

    before = dict(matplotlib.rcParams)
    write_cd_diagram(tmp_path, "cd", {"a": 1.0, "b": 2.0, "c": 2.5}, 1.2, "t")
    assert dict(matplotlib.rcParams) == before
