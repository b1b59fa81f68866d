"""``.pt`` maps: tensors written by torch 2.14.1 itself (tests/data/pt_maps/make_pt_maps.py, run once with the
peers' venv: torch is not in the test extra, as it takes over a minute to install here) read without torch,
equal to torch's own values; anything but a tensor refused, never unpickled."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from aupimo_cli.cli import app
from aupimo_cli.errors import InputError
from aupimo_cli.io.readers import read_map

from .conftest import invoke

DATA = Path(__file__).parent / "data" / "pt_maps"
HAVE_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16", "strided"])
def test_tensors_read_as_torch_wrote_them(name):
    expected = np.load(DATA / f"{name}.npy").astype(np.float32).squeeze()
    got = read_map(DATA / f"{name}.pt")
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def test_anything_but_a_tensor_is_refused_and_never_run():
    with pytest.raises(InputError, match=r"holds (posix|os)\.system, not a tensor"):
        read_map(DATA / "evil.pt")
    assert not (DATA / "pwned").exists()
    with pytest.raises(InputError, match="holds a dict, not a tensor"):
        read_map(DATA / "dict.pt")


def test_a_corrupt_or_over_budget_file(tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes((DATA / "float32.pt").read_bytes()[:400])
    with pytest.raises(InputError, match=r"broken\.pt"):
        read_map(broken)
    with pytest.raises(InputError, match="--max-memory"):
        read_map(DATA / "float64.pt", max_decoded_bytes=100)


@pytest.mark.skipif(HAVE_TORCH, reason="torch is installed: the legacy format is read by torch")
def test_the_legacy_format_without_torch_names_the_extra():
    with pytest.raises(InputError, match=r"pip install 'aupimo-cli\[torch\]'"):
        read_map(DATA / "legacy.pt")


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed (the torch extra)")
def test_the_legacy_format_with_torch():
    np.testing.assert_array_equal(read_map(DATA / "legacy.pt"), np.load(DATA / "legacy.npy"))


def test_evaluate_reads_pt_maps_as_the_same_maps_in_npy(tmp_path):
    """A category of .pt maps gives the numbers of the same maps saved as .npy."""
    masks = tmp_path / "masks"
    (masks / "bad").mkdir(parents=True)
    mask = np.zeros((6, 5), np.uint8)
    mask[1:4, 2:4] = 255
    layout = {"good/000": "float32", "good/001": "float16", "bad/000": "float64", "bad/001": "bfloat16"}
    for suffix in (".pt", ".npy"):
        for relpath, name in layout.items():
            target = tmp_path / f"maps{suffix}" / f"{relpath}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            if suffix == ".pt":
                shutil.copy(DATA / f"{name}.pt", target)
            else:
                np.save(target, np.load(DATA / f"{name}.npy").astype(np.float32).squeeze())
    for relpath in ("bad/000", "bad/001"):
        cv2.imwrite(str(masks / f"{relpath}_mask.png"), mask)
    summaries = []
    for suffix in (".pt", ".npy"):
        out = tmp_path / f"out{suffix}"
        code, _, stderr = invoke(app, "evaluate", tmp_path / f"maps{suffix}", masks, "--out", out, "--metrics",
                                 "auroc,aupro,image_auroc,pixel_ap", "-q")  # fmt: skip
        assert code == 0, stderr
        summaries.append(json.loads((out / "summary.json").read_text()))
    keys = ("pixel_auroc", "aupro_30", "aupro_05", "image_auroc", "pixel_ap")
    assert [summaries[0][key] for key in keys] == [summaries[1][key] for key in keys]
    assert summaries[0]["pixel_auroc"] is not None


def test_unstack_writes_one_map_per_image_that_evaluate_reads(tmp_path):
    """The paper's asmaps.pt (3, 1, 4, 3) and its paths: <defect>/<name>.npy per image, torch's values."""
    out = tmp_path / "maps"
    code, stdout, stderr = invoke(app, "unstack", DATA / "stacked", "--out", out)
    assert code == 0, stderr
    assert "wrote 3 maps" in stdout
    expected = np.load(DATA / "stacked" / "expected.npy")
    for index, key in enumerate(["good/000", "broken_large/000", "broken_large/001"]):
        np.testing.assert_array_equal(np.load(out / f"{key}.npy"), expected[index])
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npy")) == [
        "broken_large/000.npy", "broken_large/001.npy", "good/000.npy",
    ]  # fmt: skip
    code, _, stderr = invoke(app, "unstack", DATA / "stacked", "--out", out)
    assert code == 2 and "never overwrites" in stderr
    code, _, stderr = invoke(app, "unstack", DATA, "--out", tmp_path / "other")
    assert code == 2 and "asmaps.pt does not exist" in stderr
