"""``aupimo drift``: production periods' image scores against a baseline, at saved thresholds.

Each period is a folder of one period's maps of production parts (no masks). Every map is read once, resized
bilinearly to the resolution ``thresholds.json`` records (or ``--resolution``), and reduced to its image score
(its maximum) on a thread pool, without keeping the maps. `metrics.drift.drift_table` does the statistics;
`write_drift` writes ``drift.csv``, ``drift.json``, ``drift.md``, the figure and ``manifest.json`` as one
atomic folder.
"""

from __future__ import annotations

import glob
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, listing
from ..metrics.drift import PSI_BINS, PSI_EPSILON, SERIES, SERIES_TITLES, DriftTable

DRIFT_FILES = ("drift.csv", "drift.json", "drift.md")
FIGURE_FILES = ("drift.png", "drift.svg")
# "the test masks' (1024x1024)", "--resolution 1024x1024": the one size a thresholds.json may record.
_SHAPE_IN_TEXT = re.compile(r"(?:\(|--resolution )(\d+)x(\d+)\)?")


def expand_periods(patterns: Sequence[str], option: str) -> list[Path]:
    """The period folders named by `patterns` (each a folder or a glob), sorted by folder name, each once.

    Raises:
        InputError: a pattern that matches no folder, or two periods with one folder name.
    """
    folders: dict[Path, None] = {}
    for pattern in patterns:
        matches = sorted(Path(match) for match in glob.glob(pattern) if Path(match).is_dir())
        if not matches:
            raise InputError(f"{option} {pattern}: no folder matches; give period folders or a glob (prod/2026-11-*)")
        folders.update(dict.fromkeys(matches))
    ordered = sorted(folders, key=lambda folder: (folder.name, str(folder)))
    names = [folder.name for folder in ordered]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InputError(f"{option}: two periods are named {listing(twice)}; a period is named by its folder")
    return ordered


def resolution_of(thresholds_validation: dict[str, Any], given: str | None, path: Path) -> tuple[int, int] | None:
    """The full resolution the maps are resized to: `given` (``HxW``), else the one ``thresholds.json`` records
    (``... (1024x1024)``); None when the validation maps were scored at their own masks' or images' sizes,
    then the maps are used as they are only if `given` is None and the record says so.

    Raises:
        InputError: a bad ``--resolution``, or a record that names no single resolution.
    """
    if given is not None:
        match = re.fullmatch(r"(\d+)x(\d+)", given.strip())
        if not match or 0 in (int(match[1]), int(match[2])):
            raise InputError(f"--resolution must be HxW in pixels (1024x1024), got {given!r}")
        return int(match[1]), int(match[2])
    recorded = str(thresholds_validation.get("resolution") or "")
    found = _SHAPE_IN_TEXT.search(recorded)
    if found:
        return int(found[1]), int(found[2])
    raise InputError(
        f"{path} records the validation resolution as {recorded or 'nothing'!r}, not one size: give the resolution "
        "the production maps are resized to, as the thresholds were chosen, with --resolution HxW"
    )


def period_scores(
    folder: Path, shape: tuple[int, int], workers: int = 2, on_map: Callable[[], None] | None = None
) -> tuple[NDArray[np.float64], list[str]]:
    """The image scores (max of each map resized to `shape`) of every map under `folder`, in path order, and
    the paths. Each thread resizes into one buffer of its own: no map is kept.

    Raises:
        InputError: no map, or an unreadable one (naming it).
    """
    from ..io.discovery import find_normal_maps
    from ..io.readers import read_map
    from ..io.resize import resize_bilinear

    pairs = find_normal_maps(folder)
    buffers = threading.local()

    def score(index: int) -> float:
        amap = read_map(pairs[index].map_path)
        if (amap.shape[0], amap.shape[1]) == shape:
            value = float(np.max(amap))
        else:
            if getattr(buffers, "out", None) is None:
                buffers.out = np.empty(shape, dtype=np.float32)
            value = float(np.max(resize_bilinear(amap, shape, out=buffers.out)))
        if on_map is not None:
            on_map()
        return value

    with ThreadPoolExecutor(max_workers=workers) as pool:
        scores = np.fromiter(pool.map(score, range(len(pairs))), dtype=np.float64, count=len(pairs))
    return scores, [pair.relpath for pair in pairs]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def drift_csv(table: DriftTable) -> str:
    """One row per period: its figures, and the series it is flagged on (``;``-separated)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["period", "role", "num_parts", *SERIES[:4], "ks_statistic", "ks_pvalue", "psi", "flagged"])
    for period in table.periods:
        writer.writerow([period.name, period.role, period.num_parts,
                         *(_cell(period.value(series)) for series in SERIES[:4]), _cell(period.ks_statistic),
                         _cell(period.ks_pvalue), _cell(period.psi), ";".join(period.flagged)])  # fmt: skip
    return buffer.getvalue()


def drift_json(table: DriftTable, record: dict[str, Any]) -> dict[str, Any]:
    """Every number, the baseline's mean and std per series, the rule and where the inputs were."""
    return {
        "rule": {
            "sigma": table.sigma,
            "series": list(SERIES),
            "psi_bins": PSI_BINS,
            "psi_epsilon": PSI_EPSILON,
            "baseline_std_ddof": 1,
        },
        "baseline": {
            series: {"mean": table.baseline_mean[series], "std": table.baseline_std[series]} for series in SERIES
        },
        "periods": [
            {
                "period": p.name,
                "role": p.role,
                "num_parts": p.num_parts,
                **{series: p.value(series) for series in SERIES},
                "ks_pvalue": p.ks_pvalue,
                "flagged": list(p.flagged),
            }
            for p in table.periods
        ],
        "last_period_flagged": table.last_flagged,
        **record,
        "notes": table.notes,
    }


def drift_markdown(table: DriftTable, thresholds_text: str) -> str:
    """The table for a GitHub job summary: a flagged cell in bold with a warning sign, the baseline band."""
    headers = ["period", "role", "parts", *(SERIES_TITLES[series] for series in SERIES), "KS p-value"]
    lines = [
        "# Drift",
        "",
        f"{sum(p.role == 'baseline' for p in table.periods)} baseline periods, "
        f"{sum(p.role == 'run' for p in table.periods)} run periods. A run period is flagged (⚠) on a series "
        f"that moves more than {table.sigma:g}σ from its baseline mean (σ: the standard deviation over the "
        "baseline periods, each scored leave-one-out).",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * 2 + "---:|" * (len(headers) - 2),
    ]
    for period in table.periods:
        cells = [period.name, period.role, str(period.num_parts)]
        for series in SERIES:
            text = _cell(period.value(series))
            cells.append(f"**{text} ⚠**" if series in period.flagged else text)
        cells.append(_cell(period.ks_pvalue))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    band = []
    for series in SERIES:
        mean, std = table.baseline_mean[series], table.baseline_std[series]
        if mean is not None and std is not None:
            low, high = mean - table.sigma * std, mean + table.sigma * std
            band.append(f"| {SERIES_TITLES[series]} | {mean:.6g} | {std:.6g} | [{low:.6g}, {high:.6g}] |")
    lines += ["", "## Baseline", "", "| series | mean | σ | band |", "|---|---:|---:|---|", *band, ""]
    flagged = [p for p in table.periods if p.flagged]
    lines.append(
        "No run period is flagged."
        if not flagged
        else "Flagged: "
        + "; ".join(f"{p.name} ({', '.join(SERIES_TITLES[s] for s in p.flagged)})" for p in flagged)
        + "."
    )
    lines += ["", "```", thresholds_text, "```", ""]
    return "\n".join(lines)


def drift_figure(table: DriftTable, folder: Path) -> None:
    """``drift.png`` (150 dpi) and ``drift.svg``: each series over the periods, the baseline band shaded, the
    baseline periods grey, flagged periods red. Byte-identical on reruns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [s for s in SERIES if table.baseline_mean[s] is not None]
    names = [p.name for p in table.periods]
    x = np.arange(len(names))
    plt.rcParams["svg.hashsalt"] = "aupimo-drift"
    figure, axes_grid = plt.subplots(len(series), 1, figsize=(max(6.0, 0.35 * len(names) + 2), 1.6 * len(series) + 0.8),
                                     sharex=True, squeeze=False)  # fmt: skip
    for axes, name in zip(axes_grid[:, 0], series, strict=True):
        values = np.array([np.nan if p.value(name) is None else p.value(name) for p in table.periods], dtype=float)
        mean, std = table.baseline_mean[name], table.baseline_std[name]
        assert mean is not None and std is not None
        axes.axhspan(mean - table.sigma * std, mean + table.sigma * std, color="#cfe2f3", label=f"±{table.sigma:g}σ")
        axes.axhline(mean, color="#6fa8dc", linewidth=0.8)
        axes.plot(x, values, color="#444444", linewidth=0.8)
        colors = ["#999999" if p.role == "baseline" else ("#cc0000" if name in p.flagged else "#1f4e79")
                  for p in table.periods]  # fmt: skip
        axes.scatter(x, values, c=colors, s=14, zorder=3)
        axes.set_ylabel(SERIES_TITLES[name], rotation=0, ha="right", va="center", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(axis="y", color="#eeeeee")
    bottom = axes_grid[-1, 0]
    bottom.set_xticks(x)
    bottom.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    figure.suptitle(f"drift: each series over the periods; band = baseline mean ± {table.sigma:g}σ "
                    "(grey: baseline, red: flagged)", fontsize=9)  # fmt: skip
    figure.tight_layout()
    figure.savefig(folder / "drift.png", dpi=150, metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    figure.savefig(folder / "drift.svg", metadata={"Date": None, "Creator": None})
    plt.close(figure)


def write_drift(table: DriftTable, record: dict[str, Any], thresholds_text: str, out: Path, *, overwrite: bool,
                inputs: Sequence[Path]) -> tuple[Path, list[str]]:  # fmt: skip
    """Write the drift folder as one atomic set, with its manifest; returns (folder, notes). Without matplotlib
    the figure is skipped with a note.

    Raises:
        InputError: `out` may not be written (an input, a folder aupimo did not write, or existing without
            `overwrite`).
    """
    from ..report.atomic import staged_folder
    from ..report.manifest import MANIFEST_FILE, manifest_record
    from ..report.writers import json_text

    notes = []
    with staged_folder(out, overwrite, inputs) as staging:
        (staging / "drift.csv").write_text(drift_csv(table), encoding="utf-8")
        (staging / "drift.json").write_text(json_text(drift_json(table, record)), encoding="utf-8")
        (staging / "drift.md").write_text(drift_markdown(table, thresholds_text), encoding="utf-8")
        files = list(DRIFT_FILES)
        try:
            drift_figure(table, staging)
            files += FIGURE_FILES
        except ImportError:
            notes.append("matplotlib is not installed: the figure is skipped (pip install 'aupimo-cli[report]')")
        manifest = manifest_record("drift", [*files, MANIFEST_FILE])
        (staging / MANIFEST_FILE).write_text(json_text(manifest), encoding="utf-8")
    return Path(out).absolute(), notes
