"""Console tables that fit the terminal: never a value or a name cut to ``…``.

A table wider than the console is split into several tables of the same rows, each with as many columns as
fit (the row labels repeat in each). Cells hold no spaces and never wrap; headers may wrap between words.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

# Rich's default box: one border character and one space of padding on each side of a cell.
_CELL_OVERHEAD = 3


def _column_width(title: str, cells: Sequence[str]) -> int:
    """Width a column needs: its widest cell, or its header's longest word (headers wrap between words)."""
    longest_word = max((len(word) for word in title.split()), default=0)
    return max([longest_word, *(len(cell) for cell in cells)]) + _CELL_OVERHEAD


def _fitted_headers(titles: Sequence[str], widths: Sequence[int], group: Sequence[int], budget: int) -> list[str]:
    """The headers of the columns `group`, wrapped only as much as `budget` characters require.

    Headers are wrapped here, not by rich, so that each table fits at its natural width and rich never shrinks a
    column (which would cut a value). The width left after every column's minimum goes to the headers that need
    the least of it first, so that as many as possible stay on one line.
    """
    extra = budget - sum(widths[index] for index in group)
    assigned = {index: widths[index] for index in group}
    for index in sorted(group, key=lambda i: len(titles[i]) + _CELL_OVERHEAD - widths[i]):
        grow = min(max(len(titles[index]) + _CELL_OVERHEAD - widths[index], 0), max(extra, 0))
        assigned[index] += grow
        extra -= grow
    return [
        textwrap.fill(titles[index], max(assigned[index] - _CELL_OVERHEAD, 1), break_long_words=False)
        for index in group
    ]


def chunked_tables(
    title: str,
    corner: str,
    row_labels: Sequence[str],
    column_titles: Sequence[str],
    cells: Sequence[Sequence[str]],
    width: int,
    bold_rows: Sequence[str] = (),
) -> list[Table]:
    """The table ``row_labels`` x ``column_titles`` split by columns into tables that each fit in `width`.

    Args:
        title: the title of the first table (later parts say "continued").
        corner: the header of the row-label column.
        row_labels: one label per row (escaped here).
        column_titles: one title per column (escaped here).
        cells: rows of already formatted cells, one per column.
        width: the console's width in characters.
        bold_rows: labels of rows to show in bold (a mean row).

    Returns:
        One table or more; every cell appears in full in exactly one of them.
    """
    label_width = _column_width(corner, row_labels) + 1
    widths = [_column_width(t, [row[i] for row in cells]) for i, t in enumerate(column_titles)]
    groups: list[list[int]] = [[]]
    used = label_width
    for index, column_width in enumerate(widths):
        if groups[-1] and used + column_width > width:
            groups.append([])
            used = label_width
        groups[-1].append(index)
        used += column_width
    tables = []
    for part, group in enumerate(groups):
        heading = title if part == 0 else f"{title} (continued)"
        table = Table(title=heading, title_justify="left")
        table.add_column(escape(corner))
        for header in _fitted_headers(column_titles, widths, group, width - label_width):
            table.add_column(escape(header), justify="right")
        for label, row in zip(row_labels, cells, strict=True):
            style = "bold" if label in bold_rows else None
            table.add_row(escape(label), *(row[index] for index in group), style=style)
        tables.append(table)
    return tables
