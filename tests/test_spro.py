"""sPRO (MVTec LOCO AD) against a port of the official evaluation code, at every distinct threshold, and the
mvtec-loco layout end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from sklearn.metrics import roc_auc_score

from aupimo_cli.cli import app
from aupimo_cli.metrics import MetricInputError
from aupimo_cli.metrics.spro import saturation_area, spro
from aupimo_cli.synthetic import LOCO_DEFECT_TYPES, write_loco_category

from .conftest import invoke
from .loco_reference import official_auc_spro, official_saturation_area

SHAPE = (12, 10)
LIMITS = (0.01, 0.05, 0.3, 1.0)


def _rectangle(top: int, left: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[top : top + height, left : left + width] = True
    return mask


def _random_case(seed: int, levels: int | None) -> tuple[list[np.ndarray], list[list[np.ndarray]], list[list[int]]]:
    """Four images: one good, three with one or two defects (overlapping ones included), saturations below,
    at and above the defects' areas; `levels` quantizes the maps (heavy ties)."""
    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(4):
        amap = rng.normal(size=SHAPE).astype(np.float32)
        if levels is not None:
            amap = np.round(amap * levels / 3).astype(np.float32)
        maps.append(amap)
    defects: list[list[np.ndarray]] = [[]]
    areas: list[list[int]] = [[]]
    for _ in range(3):
        masks, saturations = [], []
        for _ in range(int(rng.integers(1, 3))):
            mask = _rectangle(int(rng.integers(0, 8)), int(rng.integers(0, 6)), int(rng.integers(1, 5)),
                              int(rng.integers(1, 5)))  # fmt: skip
            masks.append(mask)
            saturations.append(int(rng.integers(1, 2 * int(mask.sum()) + 1)))
        defects.append(masks)
        areas.append(saturations)
    for index in range(1, 4):  # the anomalous pixels score higher on average
        for mask in defects[index]:
            maps[index][mask] += np.float32(1.5)
    return maps, defects, areas


@pytest.mark.parametrize("levels", [None, 4])
@pytest.mark.parametrize("seed", range(6))
def test_spro_equals_the_official_code_at_every_threshold(seed, levels):
    maps, defects, areas = _random_case(seed, levels)
    values = spro(maps, defects, areas, LIMITS)
    for limit, value in zip(LIMITS, values, strict=True):
        assert abs(value - official_auc_spro(maps, defects, areas, limit)) < 1e-9


def test_the_named_cases_equal_the_official_code():
    rng = np.random.default_rng(7)
    maps = [rng.random(SHAPE).astype(np.float32) for _ in range(3)]
    big = _rectangle(2, 2, 6, 6)  # 36 pixels
    first, second = _rectangle(0, 0, 4, 4), _rectangle(2, 2, 4, 4)  # overlapping in a 2x2 block
    maps[1][big] += 0.4
    maps[2][first | second] += 0.3
    cases = {
        # a defect larger than its (absolute) saturation area: saturated after its 10 best pixels
        "saturated": ([[], [big], []], [[], [10], []]),
        # a relative saturation: int(0.3 * 36) = 10 pixels
        "relative": ([[], [big], []], [[], [saturation_area(36, 0.3, True)], []]),
        # two overlapping defects in one image, and a good image
        "overlapping": ([[], [], [first, second]], [[], [], [16, 8]]),
    }
    for name, (defects, areas) in cases.items():
        values = spro(maps, defects, areas, LIMITS)
        for limit, value in zip(LIMITS, values, strict=True):
            assert abs(value - official_auc_spro(maps, defects, areas, limit)) < 1e-9, name


def test_a_defect_saturating_early_scores_higher_than_without_saturation():
    maps, defects, _ = _random_case(3, None)
    unsaturated = [[int(mask.sum()) for mask in masks] for masks in defects]
    saturated = [[max(1, int(mask.sum()) // 4) for mask in masks] for masks in defects]
    assert spro(maps, defects, saturated, (0.3,))[0] > spro(maps, defects, unsaturated, (0.3,))[0]


def test_the_saturation_area_is_the_official_rule():
    for area in (1, 2, 3, 17, 100, 1001):
        for share in (0.1, 0.25, 0.3, 0.5, 0.7, 1.0):
            assert saturation_area(area, share, True) == official_saturation_area(area, share, True)
        for pixels in (0, 1, 5, 50, 5000):
            assert saturation_area(area, pixels, False) == official_saturation_area(area, pixels, False)


def test_bad_inputs_are_refused():
    maps, defects, areas = _random_case(0, None)
    with pytest.raises(MetricInputError, match="at least 1 pixel"):
        spro(maps, defects, [[0] * len(d) for d in defects], (0.05,))
    with pytest.raises(MetricInputError, match="one list of defect masks"):
        spro(maps, defects[:2], areas[:2], (0.05,))
    with pytest.raises(MetricInputError, match="at least one defect"):
        spro(maps, [[] for _ in maps], [[] for _ in maps], (0.05,))


# ---------------------------------------------------------------------------------------------------------------
# The mvtec-loco layout, end to end
# ---------------------------------------------------------------------------------------------------------------

MASK = (36, 44)  # H x W, not square; small, for the brute-force port
BOUNDS = ("--fpr-bounds", "1e-3,1e-2")  # a tiny category reaches no shared FPR of 1e-5


@pytest.fixture(scope="module")
def loco(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """DATA/<category>/{test,ground_truth,defects_config.json} and MAPS/<category>/test/..., two categories."""
    root = tmp_path_factory.mktemp("loco")
    for seed, name in enumerate(("box", "bottle")):
        write_loco_category(root / "data" / name, root / "maps" / name / "test", (5, 4, 4), MASK, (12, 16), seed)
    return root / "maps", root / "data"


def _read_category(maps: Path, data: Path, folder: str) -> tuple[list, list, list]:
    """Maps resized as the tool does (cv2 bilinear), each image's defect masks and official saturation areas."""
    config = {entry["pixel_value"]: entry for entry in json.loads((data / "defects_config.json").read_text())}
    resized, defects, areas = [], [], []
    for path in sorted((maps / folder).glob("*.tiff")):
        resized.append(cv2.resize(tifffile.imread(path), (MASK[1], MASK[0]), interpolation=cv2.INTER_LINEAR))
        masks, saturations = [], []
        for mask_path in sorted((data / "ground_truth" / folder / path.stem).glob("*.png")):
            values = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            entry = config[int(values.max())]
            masks.append(values > 0)
            saturations.append(official_saturation_area(int((values > 0).sum()), entry["saturation_threshold"],
                                                        entry["relative_saturation"]))  # fmt: skip
        defects.append(masks)
        areas.append(saturations)
    return resized, defects, areas


def test_evaluate_on_loco_gives_the_official_logical_structural_and_mean(loco, tmp_path):
    maps, data = loco
    out = tmp_path / "out"
    code, _, stderr = invoke(app, "evaluate", maps / "box" / "test", data / "box" / "ground_truth", "--out", out,
                             "--spro-limits", "0.05,0.3", "--fpr-bounds", "1e-3,1e-2", "--quiet")  # fmt: skip
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    good = _read_category(maps / "box" / "test", data / "box", "good")
    for limit, suffix in ((0.05, "05"), (0.3, "30")):
        each = []
        for kind in ("logical", "structural"):
            resized, defects, areas = _read_category(maps / "box" / "test", data / "box", f"{kind}_anomalies")
            expected = official_auc_spro(good[0] + resized, good[1] + defects, good[2] + areas, limit)
            assert abs(summary[f"spro_{kind}_{suffix}"] - expected) < 1e-9
            each.append(expected)
        assert abs(summary[f"spro_{suffix}"] - (each[0] + each[1]) / 2) < 1e-9
    record = json.loads((out / "spro_05.json").read_text())
    assert record == {"value": summary["spro_05"], "logical": summary["spro_logical_05"],
                      "structural": summary["spro_structural_05"]}  # fmt: skip
    # The other pixel metrics take the union of each image's defects as its mask.
    scores, labels = [], []
    for folder in ("good", "logical_anomalies", "structural_anomalies"):
        resized, defects, _ = _read_category(maps / "box" / "test", data / "box", folder)
        for amap, masks in zip(resized, defects, strict=True):
            union = np.zeros(MASK, dtype=bool)
            for mask in masks:
                union |= mask
            scores.append(amap.ravel())
            labels.append(union.ravel())
    assert abs(summary["pixel_auroc"] - roc_auc_score(np.concatenate(labels), np.concatenate(scores))) < 1e-9
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["options"]["defects_config"] == list(LOCO_DEFECT_TYPES)
    assert provenance["options"]["spro_limits"] == [0.05, 0.3]
    # Every map and every defect mask is fingerprinted.
    masks = list((data / "box" / "ground_truth").rglob("*.png"))
    assert len(masks) > 8 and provenance["inputs"]["num_files"] == 13 + len(masks)
    code, _, stderr = invoke(app, "check", out)
    assert code == 0, stderr


def test_benchmark_with_the_loco_layout_resumes_and_checks(loco, tmp_path):
    maps, data = loco
    out = tmp_path / "bench"
    code, _, stderr = invoke(app, "benchmark", maps, data, "--layout", "mvtec-loco", "--out", out, "--quiet", *BOUNDS)
    assert code == 0, stderr
    rows = json.loads((out / "summary.json").read_text())
    assert [row["category"] for row in rows][:2] == ["bottle", "box"]
    for row, name in zip(rows, ("bottle", "box"), strict=False):
        single = json.loads((out / name / "summary.json").read_text())
        assert row["spro_05"] == single["spro_05"] is not None
    assert abs(rows[-1]["spro_05"] - (rows[0]["spro_05"] + rows[1]["spro_05"]) / 2) < 1e-12
    assert "spro_logical_05" in (out / "summary.csv").read_text().splitlines()[0]
    code, _, stderr = invoke(app, "benchmark", maps, data, "--layout", "mvtec-loco", "--out", out, "--quiet", *BOUNDS)
    assert code == 0, stderr
    code, _, stderr = invoke(app, "check", out)
    assert code == 0, stderr


def test_other_datasets_get_no_spro_keys(tmp_path):
    from aupimo_cli.synthetic import write_category

    write_category(tmp_path / "cat", {"crack": 3}, num_normal=3, mask_shape=(40, 40), map_shape=(20, 20), seed=1)
    code, _, stderr = invoke(app, "evaluate", tmp_path / "cat" / "maps", tmp_path / "cat" / "masks", "--out",
                             tmp_path / "out", "--fpr-bounds", "1e-3,1e-2", "--quiet")  # fmt: skip
    assert code == 0, stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert not any(key.startswith("spro") for key in summary)
    assert not any(key.startswith("spro") or key == "defects_config" for key in
                   json.loads((tmp_path / "out" / "provenance.json").read_text())["options"])  # fmt: skip
    code, _, stderr = invoke(app, "evaluate", tmp_path / "cat" / "maps", tmp_path / "cat" / "masks", "--out",
                             tmp_path / "out2", "--metrics", "spro", "--quiet")  # fmt: skip
    assert code == 2 and "needs MVTec LOCO's ground truth" in stderr
    code, _, stderr = invoke(app, "benchmark", tmp_path, tmp_path, "--layout", "mvtec-loco", "--out", tmp_path / "b")
    assert code == 2


def _copy(loco: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    maps, data = loco
    shutil.copytree(maps / "box" / "test", tmp_path / "maps")
    shutil.copytree(data / "box", tmp_path / "box")
    return tmp_path / "maps", tmp_path / "box" / "ground_truth"


def _evaluate_error(maps: Path, masks: Path, out: Path, *more: object) -> str:
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", out, "--quiet", *BOUNDS, *more)
    assert code == 2, stderr
    assert not out.exists()
    return " ".join(stderr.split())


def test_bad_loco_ground_truth_is_named_with_its_fix(loco, tmp_path):
    maps, masks = _copy(loco, tmp_path)
    config = masks.parent / "defects_config.json"
    shutil.move(config, tmp_path / "elsewhere.json")
    message = _evaluate_error(maps, masks, tmp_path / "o1")
    assert "defects_config.json does not exist" in message and "--defects-config" in message
    # --defects-config points to it elsewhere.
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "o2", "--quiet", *BOUNDS,
                             "--defects-config", tmp_path / "elsewhere.json")  # fmt: skip
    assert code == 0, stderr
    shutil.move(tmp_path / "elsewhere.json", config)

    entries = json.loads(config.read_text())
    entries[0]["saturation_threshold"] = 1  # relative, but not a float
    config.write_text(json.dumps(entries))
    assert "relative saturation_threshold" in _evaluate_error(maps, masks, tmp_path / "o3")
    entries[0]["saturation_threshold"] = 0.001  # int(0.001 * area) = 0 for every defect of this type
    config.write_text(json.dumps(entries))
    assert "which is 0 pixels" in _evaluate_error(maps, masks, tmp_path / "o4")
    config.write_text(json.dumps(list(LOCO_DEFECT_TYPES)))

    defect = sorted((masks / "logical_anomalies").rglob("*.png"))[0]
    original = cv2.imread(str(defect), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(defect), np.where(original > 0, 7, 0).astype(np.uint8))
    message = _evaluate_error(maps, masks, tmp_path / "o5")
    assert str(defect) in message and "pixel value 7" in message
    two = np.where(original > 0, 255, 0).astype(np.uint8)
    two[0, 0] = 254
    cv2.imwrite(str(defect), two)
    assert "several values" in _evaluate_error(maps, masks, tmp_path / "o6")
    cv2.imwrite(str(defect), np.zeros_like(original))
    assert "holds no defect pixel" in _evaluate_error(maps, masks, tmp_path / "o7")
    cv2.imwrite(str(defect), original)

    shutil.copy(defect, masks / "logical_anomalies" / "loose.png")
    assert "not in a folder per image" in _evaluate_error(maps, masks, tmp_path / "o8")
    (masks / "logical_anomalies" / "loose.png").unlink()
    extra = masks / "logical_anomalies" / "099"
    extra.mkdir()
    shutil.copy(defect, extra / "000.png")
    assert "have no anomaly map" in _evaluate_error(maps, masks, tmp_path / "o9")


def test_the_readme_commands_run_on_the_shipped_loco_sample(tmp_path):
    sample = Path(__file__).parent.parent / "sample_data"
    maps, masks = sample / "model_loco" / "splicer" / "test", sample / "mvtec_loco" / "splicer" / "ground_truth"
    code, _, stderr = invoke(app, "evaluate", maps, masks, "--out", tmp_path / "loco", "--quiet")
    assert code == 0, stderr
    summary = json.loads((tmp_path / "loco" / "summary.json").read_text())
    assert 0 < summary["spro_05"] < 1 and summary["num_images"] == 20
    code, _, stderr = invoke(app, "benchmark", sample / "model_loco", sample / "mvtec_loco", "--layout", "mvtec-loco",
                             "--out", tmp_path / "all", "--quiet")  # fmt: skip
    assert code == 0, stderr
    assert json.loads((tmp_path / "all" / "splicer" / "summary.json").read_text()) == summary
