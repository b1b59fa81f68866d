"""``aupimo sweep``: 2 models x 2 datasets x 2 categories on the local executor and on a Dask LocalCluster give
the same bytes, the same as ``benchmark`` per model and dataset; a worker killed in the middle of a task does
not lose the sweep; a re-run skips what is done; the sweep file; clear errors."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from aupimo_cli.cli import app
from aupimo_cli.pipeline.sweep import PAUSE_DIR_VARIABLE, PAUSE_TASK_VARIABLE
from aupimo_cli.synthetic import write_category

from .conftest import invoke

SMALL = ("--fpr-bounds", "1e-3,1e-2", "--num-thresholds", "20000", "-q")
MODELS = ("model_a", "model_b")
DATASETS = ("mvtec", "visa")
# Category names differ across datasets (as MVTec AD's and VisA's do): the overall comparison needs that.
CATEGORIES = {"mvtec": ("bottle", "screw"), "visa": ("candle", "pcb1")}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file and folder under `folder` (relative path -> bytes; folders -> b"<dir>")."""
    return {
        path.relative_to(folder).as_posix(): b"<dir>" if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """MODELS_ROOT/<model>/<dataset>/<category>/test/... and DATA/<dataset>/<category>/ground_truth/..."""
    root = tmp_path_factory.mktemp("sweep")
    models_root, data = root / "models", root / "data"
    for d, dataset in enumerate(DATASETS):
        for c, category in enumerate(CATEGORIES[dataset]):
            for m, model in enumerate(MODELS):
                scratch = root / "scratch" / f"{model}-{dataset}-{category}"
                # The same masks for both models (seed by dataset and category), maps of another strength.
                write_category(scratch, {"crack": 3}, num_normal=3, mask_shape=(40, 40), map_shape=(20, 20),
                               seed=10 * d + c, anomaly_strength=(1.0 + m, 4.0 + m))  # fmt: skip
                shutil.move(scratch / "maps", models_root / model / dataset / category / "test")
                if m == 0:
                    shutil.move(scratch / "masks", data / dataset / category / "ground_truth")
    return models_root, data


def sweep(roots: tuple[Path, Path], out: Path, *args: str) -> tuple[int, str, str]:
    models_root, data = roots
    return invoke(app, "sweep", models_root, *(data / name for name in DATASETS), "--out", out, *SMALL, *args)


@pytest.fixture(scope="module")
def local_run(roots: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path_factory.mktemp("local") / "out"
    code, _, stderr = sweep(roots, out)
    assert code == 0, stderr
    return out, snapshot(out)


def test_the_sweep_writes_benchmark_folders_and_comparisons(local_run):
    _, files = local_run
    for model in MODELS:
        for dataset in DATASETS:
            assert f"{model}/{dataset}/manifest.json" in files
            for category in CATEGORIES[dataset]:
                assert f"{model}/{dataset}/{category}/aupimo/aupimos.json" in files
    for name in (*DATASETS, "all"):
        assert f"compare/{name}/compare.md" in files
    overall = files["compare/all/compare.md"].decode()
    assert "2 models, best first: model_b, model_a. 4 categories (2 MVTec AD, 2 VisA)." in overall


def test_the_same_bytes_as_benchmark_per_model_and_dataset(roots, local_run, tmp_path):
    models_root, data = roots
    _, files = local_run
    for model in MODELS:
        for dataset in DATASETS:
            target = tmp_path / model / dataset
            code, _, stderr = invoke(app, "benchmark", models_root / model / dataset, data / dataset, "--out", target,
                                     *SMALL)  # fmt: skip
            assert code == 0, stderr
            prefix = f"{model}/{dataset}/"
            assert snapshot(target) == {k[len(prefix) :]: v for k, v in files.items() if k.startswith(prefix)}


def test_a_rerun_skips_what_is_done_and_changes_nothing(roots, local_run):
    out, files = local_run
    code, stdout, stderr = invoke(app, "sweep", roots[0], *(roots[1] / name for name in DATASETS), "--out", out,
                                  *SMALL[:-1])  # fmt: skip
    assert code == 0, stderr
    assert "0 computed, 8 up to date, 0 failed" in stdout
    assert snapshot(out) == files


def test_dask_local_cluster_gives_the_same_bytes(roots, local_run):
    pytest.importorskip("distributed")
    out, files = local_run
    moved = out.with_name("local_copy")
    shutil.move(out, moved)
    try:
        code, _, stderr = sweep(roots, out, "--executor", "dask")
        assert code == 0, stderr
        assert snapshot(out) == files
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(moved, out)


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_worker_killed_in_the_middle_of_a_task_does_not_lose_the_sweep(roots, local_run, tmp_path, monkeypatch,
                                                                          executor):  # fmt: skip
    if executor == "dask":
        pytest.importorskip("distributed")
    _, files = local_run
    pause = tmp_path / "pause"
    pause.mkdir()
    monkeypatch.setenv(PAUSE_TASK_VARIABLE, "model_b/visa/candle")
    monkeypatch.setenv(PAUSE_DIR_VARIABLE, str(pause))
    out = tmp_path / "out"
    result: dict[str, tuple[int, str, str]] = {}
    runner = threading.Thread(target=lambda: result.update(run=sweep(roots, out, "--executor", executor)))
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while not (pause / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (pause / "started").exists(), "the paused task never started"
        time.sleep(0.2)  # the pid is written before the task waits
        os.kill(int((pause / "started").read_text()), signal.SIGKILL)  # the worker dies in the middle of the task
    finally:
        runner.join(timeout=300)
        (pause / "release").touch()
    code, _, stderr = result["run"]
    assert code == 0, stderr
    # Every result, and the same bytes as the undisturbed run, save the comparisons' record of OUT's path.
    assert {k: v for k, v in snapshot(out).items() if not k.startswith("compare/")} == {
        k: v for k, v in files.items() if not k.startswith("compare/")
    }
    assert sorted(k for k in snapshot(out) if k.startswith("compare/")) == sorted(
        k for k in files if k.startswith("compare/")
    )


def test_a_sweep_file(roots, local_run, tmp_path):
    models_root, data = roots
    _, files = local_run
    (tmp_path / "sweep.toml").write_text(
        "[datasets.mvtec]\n"
        f'root = "{data / "mvtec"}"\n'
        "[models.model_a]\n"
        f'maps = "{models_root / "model_a"}"\n'
        "[models.model_b.maps]\n"
        f'mvtec = "{models_root / "model_b" / "mvtec"}"\n'
        "[options]\n"
        'metrics = ["auroc", "aupro", { name = "aupimo", params = { fpr_bounds = [1e-3, 1e-2], num_thresholds = '
        '20000 } }, "image_auroc", "pixel_ap", "pixel_f1max", "image_ap", "image_f1max", "oracle", "score_stats"]\n'
    )
    out = tmp_path / "out"
    code, _, stderr = invoke(app, "sweep", tmp_path / "sweep.toml", "--out", out, "-q")
    assert code == 0, stderr
    got = snapshot(out)
    for model in MODELS:
        prefix = f"{model}/mvtec/"
        assert {k: v for k, v in got.items() if k.startswith(prefix)} == {
            k: v for k, v in files.items() if k.startswith(prefix)
        }
    assert "compare/mvtec/compare.md" in got and "compare/all/compare.md" not in got  # one dataset


def test_clear_errors(roots, tmp_path):
    models_root, data = roots
    code, _, stderr = invoke(app, "sweep", models_root, data / "mvtec", data / "visa", data / "missing", "--out",
                             tmp_path / "o")  # fmt: skip
    assert code == 2 and "has no maps for dataset missing" in stderr
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("mine")
    code, _, stderr = sweep(roots, tmp_path / "notes")
    assert code == 2 and "not a sweep folder" in stderr and (tmp_path / "notes" / "mine.txt").read_text() == "mine"
    code, _, stderr = sweep(roots, tmp_path / "o", "--executor", "spark")
    assert code == 2 and "--executor must be one of local, dask" in stderr
    (tmp_path / "bad.toml").write_text("[models.a]\nmaps = 'x'\n")
    code, _, stderr = invoke(app, "sweep", tmp_path / "bad.toml", "--out", tmp_path / "o")
    assert code == 2 and "no [datasets.<name>] table" in stderr


def test_dask_cluster_without_the_memory_resource_is_refused(roots, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        code, _, stderr = sweep(roots, tmp_path / "o", "--executor", "dask", "--scheduler", cluster.scheduler_address)
    assert code == 2 and "--resources MEMORY=" in stderr
    assert not (tmp_path / "o").exists()


def test_dask_cluster_whose_workers_hold_too_little_memory_is_refused(roots, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None,
                                  resources={"MEMORY": 1000}) as cluster:  # fmt: skip
        code, _, stderr = sweep(roots, tmp_path / "o", "--executor", "dask", "--scheduler", cluster.scheduler_address)
    assert code == 2 and "declares that much MEMORY" in stderr
    assert not (tmp_path / "o").exists()


def test_without_dask_the_message_names_the_extra(roots, tmp_path, monkeypatch):
    """distributed made unimportable (a None entry in sys.modules makes `import` raise ImportError)."""
    monkeypatch.setitem(sys.modules, "distributed", None)
    code, _, stderr = sweep(roots, tmp_path / "o", "--executor", "dask")
    assert code == 2 and "pip install 'aupimo-cli[dask]'" in stderr
    assert not (tmp_path / "o").exists()


def test_gates_fail_the_sweep_with_exit_4_after_writing(roots, local_run, tmp_path):
    """The results are the local run's (up to date: skipped); a gate no row meets fails on every category row
    and mean row, named <model>/<dataset>/<category>; one every row meets passes."""
    out, _ = local_run
    code, _, stderr = sweep(roots, out, "--fail-under", "pixel_auroc=1.01")
    text = " ".join(stderr.split())
    assert code == 4, stderr
    assert "model_a/mvtec/bottle" in text and "model_b/visa/mean" in text
    assert f"{2 * 2 * 2 + 2 * 2} gate(s) failed" in text  # 8 category rows and 4 mean rows
    code, _, stderr = sweep(roots, out, "--fail-under", "pixel_auroc=0.0")
    assert code == 0, stderr
    code, _, stderr = sweep(roots, out, "--fail-under", "pixel_auroc")
    assert code == 2 and "KEY=VALUE" in stderr
