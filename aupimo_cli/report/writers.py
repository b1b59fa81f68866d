"""Writers of the result files (DESIGN section 3), all deterministic: the same results give the same bytes.

Every writer takes the folder to write into (the staging folder of `atomic.staged_folder`) and plain data.
JSON is strict (``null`` where a value is undefined) except ``aupimo/aupimos.json``, which keeps the
reference's bare ``NaN`` tokens so that the AUPIMO paper's and anomalib's readers load it.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.registry import METRICS, PER_IMAGE_AUPIMO

if TYPE_CHECKING:
    import pyarrow as pa

    from ..metrics.curves import CurveRows


# pyarrow is imported when a parquet file is written, after the metrics' peak of memory (it holds 36 MB).
@functools.cache
def per_image_schema() -> pa.Schema:
    """The columns of ``per_image.parquet``."""
    import pyarrow as pa

    return pa.schema(
        [
            ("path", pa.string()),
            ("defect", pa.string()),
            ("label", pa.int8()),
            ("image_score", pa.float64()),
            (PER_IMAGE_AUPIMO, pa.float64()),
            ("mask_pixels", pa.int64()),
            ("num_regions", pa.int32()),
            ("height", pa.int32()),
            ("width", pa.int32()),
            # At the validation thresholds (null without them): score >= the hard threshold, the line's decision
            # (reject, review or accept), and the IoU of the predicted and true anomalous pixels (anomalous images).
            ("rejected", pa.int8()),
            ("decision", pa.string()),
            ("iou", pa.float64()),
        ]
    )


OPERATING_COLUMNS = tuple(METRICS["operating_points"].per_image_columns)


@functools.cache
def curves_schema() -> pa.Schema:
    """The columns of ``curves.parquet``."""
    import pyarrow as pa

    return pa.schema([("curve", pa.string()), ("image", pa.string()), ("x", pa.float64()), ("y", pa.float64())])


def strict(value: Any) -> Any:
    """`value` with every NaN/inf float replaced by None, recursively, for strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict(item) for item in value]
    return value


def json_text(value: Any) -> str:
    """Strict, indented JSON text with a final newline."""
    return json.dumps(strict(value), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_text(value), encoding="utf-8")


def write_metric_files(
    folder: Path,
    metrics: Sequence[str],
    summary: Mapping[str, Any],
    params: Mapping[str, Any],
    own_files: Mapping[str, str],
) -> None:
    """Each computed metric's result files, as the registry names them: ``{"value": ...}`` files such as
    ``auroc.json`` and ``aupro_05.json`` (plus ``"threshold"`` for F1max) and ``score_stats.json`` from the
    summary; the files of their own format (``aupimo/aupimos.json``, the operating points' files) from
    `own_files`, path -> text (a file absent there is not written)."""
    for name in metrics:
        for result_file in METRICS[name].files(params):
            path = folder / result_file.path
            if result_file.fields is None:
                if result_file.path in own_files:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(own_files[result_file.path], encoding="utf-8")
                continue
            write_json(path, {field: summary.get(key) for field, key in result_file.fields.items()})


def write_per_image(folder: Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """``per_image.parquet``: one row per image, the columns of `per_image_schema`, no pandas metadata; the
    operating points' columns (``rejected``, ``decision``, ``iou``) are null when absent from `columns`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = per_image_schema()
    rows = len(columns["path"])
    table = pa.table(
        {
            name: pa.array(
                columns[name] if name in columns or name not in OPERATING_COLUMNS else [None] * rows,
                type=schema.field(name).type,
            )
            for name in schema.names
        },
        schema=schema,
    )
    pq.write_table(table, folder / "per_image.parquet", compression="zstd")


def write_curves(folder: Path, curves: Sequence[CurveRows]) -> None:
    """``curves.parquet``: the curves to draw, in long format (`curves_schema`): one row per point, ``curve``
    naming the curve, ``image`` the image of a ``pimo`` curve (null for the others), ``x`` and ``y``; the curves
    one after the other, in the order given (`metrics.curves.curve_rows`). With no curve, the columns and no row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    lengths = [block.x.size for block in curves]
    names = np.repeat(np.array([block.curve for block in curves], dtype=object), lengths)
    images = np.repeat(np.array([block.image for block in curves], dtype=object), lengths)
    table = pa.table(
        {
            "curve": pa.array(names, type=pa.string()),
            "image": pa.array(images, type=pa.string()),
            "x": pa.array(np.concatenate([block.x for block in curves] or [np.empty(0)]), type=pa.float64()),
            "y": pa.array(np.concatenate([block.y for block in curves] or [np.empty(0)]), type=pa.float64()),
        },
        schema=curves_schema(),
    )
    pq.write_table(table, folder / "curves.parquet", compression="zstd")


def write_replicates(folder: Path, replicates: Mapping[str, Any]) -> None:
    """``bootstrap.parquet``: one row per bootstrap replicate (``replicate`` 0..B-1), one float64 column per
    bootstrapped summary key, in summary order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = len(next(iter(replicates.values())))
    columns = {"replicate": pa.array(range(size), type=pa.int32())}
    columns.update({key: pa.array(values, type=pa.float64()) for key, values in replicates.items()})
    pq.write_table(pa.table(columns), folder / "bootstrap.parquet", compression="zstd")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def summary_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Wide CSV: a header row of the keys of the first row, then one line per row; empty cells for null."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(rows[0])
    writer.writerow(keys)
    for row in rows:
        writer.writerow([_cell(row[key]) for key in keys])
    return buffer.getvalue()


def _markdown_cell(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3g}"
    return _cell(value).replace("|", "\\|") or "-"


def summary_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The same table as `summary_csv` in markdown, floats rounded to 4 decimals for reading."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(_markdown_cell(row[key]) for key in keys) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_summary(folder: Path, summary: Mapping[str, Any]) -> None:
    """``summary.json`` (strict), ``summary.csv`` and ``summary.md``."""
    write_json(folder / "summary.json", dict(summary))
    (folder / "summary.csv").write_text(summary_csv([summary]), encoding="utf-8")
    (folder / "summary.md").write_text(summary_markdown([summary]), encoding="utf-8")
