"""CI gates: ``--fail-under KEY=VALUE`` and ``--fail-over KEY=VALUE`` on any summary key.

The results are written first; a gate that fails then makes the command exit 4 (DESIGN section 3), naming each
failed gate with its value. A key that is null or absent fails its gate, with a message saying so.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError


@dataclass(frozen=True)
class Gate:
    """``key`` must be >= `value` (``under``: fail under it) or <= `value` (``over``: fail over it)."""

    key: str
    kind: str
    value: float

    @property
    def flag(self) -> str:
        return f"--fail-{self.kind}"

    def failure(self, summary: Mapping[str, Any], where: str = "") -> str | None:
        """Why `summary` fails this gate, or None when it passes."""
        place = f"{where}: " if where else ""
        if self.key not in summary:
            known = [key for key, value in summary.items() if key != "category"]
            close = difflib.get_close_matches(self.key, known, n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else "'aupimo metrics' lists the keys"
            return f"{place}{self.flag} {self.key}={self.value:g}: no such key in the summary ({hint})"
        actual = summary[self.key]
        if actual is None or isinstance(actual, bool) or not isinstance(actual, int | float) or math.isnan(actual):
            return f"{place}{self.flag} {self.key}={self.value:g}: {self.key} is null (not computed in this run)"
        if self.kind == "under" and actual < self.value:
            return f"{place}{self.key} = {actual:.6g} is under {self.value:g} ({self.flag})"
        if self.kind == "over" and actual > self.value:
            return f"{place}{self.key} = {actual:.6g} is over {self.value:g} ({self.flag})"
        return None


def parse_gates(under: Sequence[str], over: Sequence[str], source: str = "") -> list[Gate]:
    """Gates from ``KEY=VALUE`` texts (flags) for each kind.

    Raises:
        InputError: a text that is not ``KEY=VALUE`` with a number, naming the flag (or `source`).

    Examples:
        >>> parse_gates(["image_auroc=0.9"], ["image_frr=0.02"])
        [Gate(key='image_auroc', kind='under', value=0.9), Gate(key='image_frr', kind='over', value=0.02)]
    """
    gates = []
    for kind, texts in (("under", under), ("over", over)):
        for text in texts:
            key, sep, number = text.partition("=")
            try:
                value = float(number)
            except ValueError:
                value = math.nan
            if not sep or not key.strip() or math.isnan(value):
                where = source or f"--fail-{kind}"
                raise InputError(f"{where}: expected KEY=VALUE such as image_auroc=0.9, got {text!r}")
            gates.append(Gate(key.strip(), kind, value))
    return gates


def gate_failures(gates: Sequence[Gate], rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Every gate failure over the summaries `rows`, each (where, summary): one evaluate summary, or a
    benchmark's category rows and mean row."""
    return [message for gate in gates for where, row in rows if (message := gate.failure(row, where)) is not None]
