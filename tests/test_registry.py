"""The metric registry is the one place that knows the metrics: every entry reaches every output, and a config
file sets the same options as the flags."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from aupimo_cli.cli import app
from aupimo_cli.errors import InputError
from aupimo_cli.metrics.registry import REGISTRY, compared_keys, key_params, key_title, summary_keys
from aupimo_cli.pipeline.config import options_table, parse_config, read_config, resolve_options
from aupimo_cli.pipeline.evaluate import EvaluateOptions
from aupimo_cli.synthetic import write_category

from .conftest import invoke

SMALL = ("--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000")


def run(*args: str | Path) -> tuple[int, str, str]:
    return invoke(app, *args)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """Two evaluate folders of the same category (the second with noisier maps) and the console output of the
    first evaluation, at thresholds chosen on validation maps, and of their comparison."""
    root = tmp_path_factory.mktemp("registry")
    write_category(root / "data", {"crack": 3, "hole": 3}, num_normal=6, mask_shape=(96, 96), map_shape=(32, 32),
                   seed=5, anomaly_strength=(2.0, 6.0))  # fmt: skip
    write_category(root / "noisy", {"crack": 3, "hole": 3}, num_normal=6, mask_shape=(96, 96), map_shape=(32, 32),
                   seed=5, anomaly_strength=(0.5, 2.0))  # fmt: skip
    write_category(root / "val", {}, num_normal=8, mask_shape=(96, 96), map_shape=(32, 32), seed=6)
    code, evaluate_stdout, stderr = run("evaluate", root / "data" / "maps", root / "data" / "masks", "--out",
                                        root / "a", *SMALL, "--val-maps", root / "val" / "maps",
                                        "--soft-frr", "0.3")  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = run("evaluate", root / "noisy" / "maps", root / "data" / "masks", "--out", root / "b", *SMALL)
    assert code == 0, stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "200")  # wide enough that no header wraps
        code, compare_stdout, stderr = run("compare", root / "a", root / "b", "--out", root / "cmp")
    assert code == 0, stderr
    return root / "a", root / "cmp", evaluate_stdout, compare_stdout


@pytest.mark.parametrize("metric", REGISTRY, ids=[metric.name for metric in REGISTRY])
def test_every_metric_reaches_every_output(metric, two_models):
    out, cmp, evaluate_stdout, compare_stdout = two_models
    code, help_text, _ = run("evaluate", "--help")
    assert code == 0 and metric.name in help_text
    assert metric.name in run("metrics")[1]
    params = key_params()
    keys = metric.keys(params)
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == summary_keys(params)
    for key in keys:
        assert key in summary and summary[key] is not None, key
    header = next(csv.reader(io.StringIO((out / "summary.csv").read_text())))
    markdown_header = (out / "summary.md").read_text().splitlines()[0]
    for key in keys:
        assert key in header and f" {key} " in markdown_header, key
        assert key_title(key) in evaluate_stdout, key
    columns = pq.read_table(out / "per_image.parquet").column_names
    for column in metric.per_image_columns:
        assert column in columns
        assert pq.read_table(out / "per_image.parquet").column(column).null_count < summary["num_images"]
    for result_file in metric.files(params):
        assert (out / result_file.path).is_file(), result_file.path
        if result_file.fields is not None:
            written = json.loads((out / result_file.path).read_text())
            assert written == {field: summary[key] for field, key in result_file.fields.items()}
    manifest = json.loads((out / "provenance.json").read_text())["manifest"]
    assert all(result_file.path in manifest["files"] for result_file in metric.files(params))
    # compare shows every compared key, in its table and files.
    compared = [key for key in keys if metric.compared(key)]
    comparison = json.loads((cmp / "compare.json").read_text())
    csv_header = (cmp / "compare.csv").read_text().splitlines()[0].split(",")
    for key in compared:
        assert key in comparison["metrics"] and key in csv_header, key
        assert key_title(key) in compare_stdout or key == "aupimo_mean", key
    assert comparison["metrics"] == [
        "aupimo_mean",
        "aupimo_std",
        *(k for k in compared_keys(list(summary)) if k != "aupimo_mean"),
    ]


def test_a_metric_left_out_writes_no_file_and_null_keys(tmp_path, two_models):
    out = two_models[0]
    data = out.parent / "data"
    partial = tmp_path / "partial"
    code, _, stderr = run("evaluate", data / "maps", data / "masks", "--out", partial, "--metrics", "pixel_ap", *SMALL)
    assert code == 0, stderr
    summary = json.loads((partial / "summary.json").read_text())
    assert summary["pixel_ap"] == json.loads((out / "summary.json").read_text())["pixel_ap"]
    assert all(summary[key] is None for metric in REGISTRY if metric.name != "pixel_ap" for key in
               metric.keys(key_params()))  # fmt: skip
    assert sorted(p.name for p in partial.iterdir()) == [
        "curves.parquet", "per_image.parquet", "pixel_ap.json", "provenance.json", "summary.csv", "summary.json",
        "summary.md",
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Config files.
# ---------------------------------------------------------------------------------------------------------

CONFIG = """
normal_dirs = ["good", "ok"]
layout = "mvtec"
metrics = [
    "auroc",
    { name = "aupro", params = { limits = [0.3, 0.1] } },
    { name = "aupimo", params = { fpr_bounds = [1e-3, 1e-2], num_thresholds = 20000 } },
]
"""


def test_config_file_sets_the_options_and_flags_override_it(tmp_path):
    path = tmp_path / "aupimo.toml"
    path.write_text(CONFIG)
    config = read_config(path)
    options = resolve_options({}, config)
    assert options == EvaluateOptions(
        metrics=("auroc", "aupro", "aupimo"), aupro_limits=(0.3, 0.1), fpr_bounds=(1e-3, 1e-2),
        num_thresholds=20000, normal_dirs=("good", "ok"),
    )  # fmt: skip
    overridden = resolve_options({"aupro_limits": (0.05,), "num_thresholds": None}, config)
    assert overridden.aupro_limits == (0.05,) and overridden.num_thresholds == 20000
    # What a run records reads back as the same options.
    assert resolve_options({}, parse_config(options_table(options), "recorded")) == options
    assert resolve_options({}, None) == EvaluateOptions()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("metrix = ['auroc']", "unknown key metrix"),
        ("metrics = ['auroc', 'iou']", "unknown metric 'iou'"),
        ("metrics = [{ name = 'aupro', params = { limit = [0.3] } }]", "unknown parameter 'limit' of metric 'aupro'"),
        ("metrics = [{ name = 'aupimo', params = { num_thresholds = 'many' } }]", "aupimo.params.num_thresholds"),
        ("metrics = [{ name = 'aupro', params = { limits = 0.3 } }]", "aupro.params.limits"),
        ("metrics = ['auroc', 'auroc']", "listed twice"),
        ("normal_dirs = 'good'", "normal_dirs must be a list"),
        ("metrics = [", "not valid TOML"),
    ],
)
def test_config_file_errors_name_the_key_and_the_file(tmp_path, text, needle):
    path = tmp_path / "aupimo.toml"
    path.write_text(text + "\n")
    with pytest.raises(InputError, match=needle) as caught:
        read_config(path)
    assert str(path) in str(caught.value)


def test_config_through_the_cli_pyproject_and_check(tmp_path, monkeypatch):
    write_category(tmp_path / "data", {"crack": 3}, num_normal=6, mask_shape=(64, 64), map_shape=(32, 32), seed=1,
                   anomaly_strength=(2.0, 6.0))  # fmt: skip
    maps, masks = tmp_path / "data" / "maps", tmp_path / "data" / "masks"
    config = tmp_path / "aupimo.toml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    code, _, stderr = run("evaluate", maps, masks, "--out", out, "--config", config, "--aupro-limits", "0.2", "-q")
    assert code == 0, stderr
    options = json.loads((out / "provenance.json").read_text())["options"]
    assert options["metrics"] == ["auroc", "aupro", "aupimo"] and options["aupro_limits"] == [0.2]
    assert options["fpr_bounds"] == [1e-3, 1e-2] and options["num_thresholds"] == 20000
    assert run("check", out)[0] == 0
    # Without --config, a [tool.aupimo] table in ./pyproject.toml.
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n\n[tool.aupimo]\n" + CONFIG)
    monkeypatch.chdir(project)
    code, stdout, stderr = run("evaluate", maps, masks, "--out", tmp_path / "from_pyproject", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["aupro_10"] is not None and json.loads(stdout)["pixel_ap"] is None
    (project / "pyproject.toml").write_text("[tool.aupimo]\nbogus = 1\n")
    code, _, stderr = run("evaluate", maps, masks, "--out", tmp_path / "refused")
    assert code == 2 and "pyproject.toml [tool.aupimo]: unknown key bogus" in " ".join(stderr.split())
