"""``aupimo report``: the HTML page of an evaluate, benchmark or compare folder, parsed strictly, escaped, the
same bytes twice, and rendered in a real headless browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import html5lib
import pyarrow.parquet as pq
import pytest
from markupsafe import escape

from aupimo_cli.cli import app
from aupimo_cli.pipeline.report import CSP, select_false_rejects, select_worst
from aupimo_cli.synthetic import write_category

from .conftest import invoke

SMALL = ("--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "-q")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
XSS_MAP = "<script>alert(1)</script>"
XSS_MODEL = '"><img src=x onerror=alert(1)>'


def run(*args: str | Path) -> tuple[int, str, str]:
    return invoke(app, *args)


def parse_strict(html: str) -> None:
    """Parse with html5lib in strict mode: any parse error raises."""
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(html)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small category evaluated with thresholds and a bootstrap, one map named like a script tag."""
    root = tmp_path_factory.mktemp("report")
    write_category(root / "data", {"crack": 4, "hole": 3}, num_normal=6, mask_shape=(64, 64), map_shape=(32, 32),
                   seed=4, anomaly_strength=(1.0, 5.0))  # fmt: skip
    write_category(root / "val", {}, num_normal=8, mask_shape=(64, 64), map_shape=(32, 32), seed=5)
    maps, masks = root / "data" / "maps", root / "data" / "masks"
    # A file name cannot hold "/": the defect folder "<script>alert(1)<" holding "script>.tiff" makes the image
    # path "<script>alert(1)</script>.tiff".
    folder, name = XSS_MAP.split("/")
    (maps / folder).mkdir()
    (masks / folder).mkdir()
    (maps / "crack" / "000.tiff").rename(maps / folder / f"{name}.tiff")
    (masks / "crack" / "000_mask.png").rename(masks / folder / f"{name}_mask.png")
    out = root / "results"
    code, _, stderr = run("evaluate", maps, masks, "--out", out, *SMALL, "--bootstrap", "50",
                          "--val-maps", root / "val" / "maps", "--soft-frr", "0.3")  # fmt: skip
    assert code == 0, stderr
    return out


@pytest.fixture(scope="module")
def report_html(evaluated: Path) -> str:
    code, stdout, stderr = run("report", evaluated, "--worst", "3")
    assert code == 0, stderr
    assert "report.html" in stdout
    return (evaluated / "report.html").read_text(encoding="utf-8")


def test_the_page_parses_strictly_and_holds_everything_inline(report_html):
    parse_strict(report_html)
    assert f'content="{escape(CSP)}"' in report_html  # the attribute, escaped as jinja2 writes it
    assert "<script" not in report_html.replace("&lt;script&gt;", "")  # no script of ours, and theirs escaped
    # No URL but the SVG namespaces (names, never fetched).
    namespaces = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")
    assert "://" not in report_html.replace(namespaces[0], "").replace(namespaces[1], "")
    assert report_html.count("<svg") >= 4  # curves, PIMO, AUPIMO per defect, histograms
    assert report_html.count('src="data:image/png;base64,') >= 2 * 3  # map + mask per card at least


def test_inputs_are_escaped(report_html):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report_html
    assert XSS_MAP not in report_html


def test_the_report_is_in_the_manifest_and_replaced_only_with_overwrite(evaluated, report_html):
    manifest = json.loads((evaluated / "provenance.json").read_text())["manifest"]
    assert "report.html" in manifest["added"]
    code, _, stderr = run("report", evaluated)
    assert code == 2 and "--overwrite" in stderr
    code, _, stderr = run("report", evaluated, "--worst", "3", "--overwrite")
    assert code == 0, stderr
    assert (evaluated / "report.html").read_text(encoding="utf-8") == report_html  # the same bytes again
    code, _, stderr = run("check", evaluated)
    assert code == 0, stderr  # a report added later does not make the folder differ


def test_a_file_that_is_not_a_report_is_never_replaced(evaluated, tmp_path):
    notes = tmp_path / "notes.html"
    notes.write_text("<p>mine</p>")
    code, _, stderr = run("report", evaluated, "--out", notes, "--overwrite")
    assert code == 2 and "not a report aupimo wrote" in stderr and notes.read_text() == "<p>mine</p>"


def test_worst_and_false_reject_selection(evaluated, report_html):
    columns = pq.read_table(evaluated / "per_image.parquet").to_pydict()
    worst = select_worst(columns["path"], columns["label"], columns["aupimo"], 3)
    anomalous = sorted(
        (value, path) for path, label, value in zip(columns["path"], columns["label"], columns["aupimo"], strict=True)
        if label == 1
    )  # fmt: skip
    assert [columns["path"][i] for i in worst] == [path for _, path in anomalous[:3]]
    normal = sorted(
        (-score, path)
        for path, label, score in zip(columns["path"], columns["label"], columns["image_score"], strict=True)
        if label == 0
    )
    rejects = select_false_rejects(columns["path"], columns["label"], columns["image_score"], 3)
    assert [columns["path"][i] for i in rejects] == [path for _, path in normal[:3]]
    # The page shows them in that order.
    positions = [report_html.find(f'<div class="path">{escape(columns["path"][i])}<') for i in worst]
    assert all(p > 0 for p in positions) and positions == sorted(positions)


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two benchmarks of two categories, one by a model named like an HTML injection, their comparison, and
    the reports of the first benchmark and of the comparison."""
    tmp_path = tmp_path_factory.mktemp("compared")
    maps_root, dataset_root = tmp_path / "model", tmp_path / "mvtec"
    for seed, name in enumerate(("bottle", "screw")):
        write_category(tmp_path / "tmp" / name, {"crack": 3}, num_normal=4, mask_shape=(48, 48),
                       map_shape=(24, 24), seed=seed, anomaly_strength=(1.0, 5.0))  # fmt: skip
        shutil.move(tmp_path / "tmp" / name / "maps", maps_root / name / "test")
        shutil.move(tmp_path / "tmp" / name / "masks", dataset_root / name / "ground_truth")
    for model in ("a", XSS_MODEL):
        code, _, stderr = run("benchmark", maps_root, dataset_root, "--out", tmp_path / "runs" / model, *SMALL)
        assert code == 0, stderr
    code, _, stderr = run("report", tmp_path / "runs" / "a", "--worst", "1")
    assert code == 0, stderr
    code, _, stderr = run("compare", tmp_path / "runs" / "a", tmp_path / "runs" / XSS_MODEL, "--out", tmp_path / "cmp")
    assert code == 0, stderr
    code, _, stderr = run("report", tmp_path / "cmp")
    assert code == 0, stderr
    return tmp_path


def test_benchmark_and_compare_reports(compared):
    tmp_path = compared
    html = (tmp_path / "runs" / "a" / "report.html").read_text(encoding="utf-8")
    parse_strict(html)
    assert 'href="#cat-bottle"' in html and 'id="cat-screw"' in html
    html = (tmp_path / "cmp" / "report.html").read_text(encoding="utf-8")
    parse_strict(html)
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html and XSS_MODEL not in html
    assert "data:image/svg+xml;base64," in html


def test_not_a_results_folder(tmp_path):
    code, _, stderr = run("report", tmp_path)
    assert code == 2 and "not an aupimo evaluate, benchmark, compare or drift folder" in stderr


def visit(browser: Any, html: Path, screenshot: Path) -> tuple[list[str], list[tuple[float, float]]]:
    """Open `html` in a new page: (console errors, failed requests and dialogs, each figure's rendered (width,
    height)); a full-page screenshot is saved to `screenshot`."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed request: {request.url}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(html.as_uri(), wait_until="load")
    sizes = [
        tuple(page.evaluate("(e) => { const r = e.getBoundingClientRect(); return [r.width, r.height]; }", element))
        for element in page.query_selector_all("figure svg, figure img")
    ]
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return problems, sizes


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_pages_in_a_real_browser(evaluated, report_html, compared, tmp_path):
    """The evaluate, benchmark and compare pages (a map named like a script tag, a model named like an HTML
    injection) load with no console error and no failed request, every figure has a size, no dialog opens; a
    screenshot of each is saved in the test's folder."""
    from playwright.sync_api import sync_playwright

    pages = {
        "evaluate": (evaluated / "report.html", 10),
        "benchmark": (compared / "runs" / "a" / "report.html", 8),
        "compare": (compared / "cmp" / "report.html", 3),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for name, (html, min_figures) in pages.items():
            screenshot = tmp_path / f"report_{name}.png"
            problems, sizes = visit(browser, html, screenshot)
            assert not problems, (name, problems)
            assert len(sizes) >= min_figures and all(w > 0 and h > 0 for w, h in sizes), (name, sizes)
            assert screenshot.stat().st_size > 10_000
        browser.close()


def test_without_the_report_extra_the_message_names_it(evaluated, monkeypatch):
    """jinja2 made unimportable (a None entry in sys.modules makes `import` raise ImportError)."""
    monkeypatch.setitem(sys.modules, "jinja2", None)
    code, _, stderr = run("report", evaluated, "--out", evaluated.parent / "never.html")
    assert code == 2 and "pip install 'aupimo-cli[report]'" in stderr and "jinja2 is missing" in stderr
    assert not (evaluated.parent / "never.html").exists()
