"""The options that change a run's numbers, read from its provenance, and how two runs' options differ.

Two runs are comparable only when their result-affecting options agree (DESIGN section 8): the AUPIMO FPR
bounds and number of thresholds, and the AUPRO limits. An option a run does not record (a folder in the
AUPIMO paper's published layout has no provenance) is *not recorded*, which never counts as different.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The command-line flag of each compared option, for messages.
OPTION_FLAGS = {"fpr_bounds": "--fpr-bounds", "num_thresholds": "--num-thresholds", "aupro_limits": "--aupro-limits"}


@dataclass(frozen=True)
class RunOptions:
    """The result-affecting options of one category's run; None where not recorded or not used.

    Attributes:
        fpr_bounds: the AUPIMO integral's shared-FPR bounds (lower, upper), when AUPIMO was computed.
        num_thresholds: the number of AUPIMO thresholds, when AUPIMO was computed and it is recorded.
        aupro_limits: the AUPRO FPR limits, when AUPRO was computed and they are recorded.
    """

    fpr_bounds: tuple[float, float] | None = None
    num_thresholds: int | None = None
    aupro_limits: tuple[float, ...] | None = None

    @classmethod
    def from_provenance(cls, provenance: Mapping[str, Any]) -> RunOptions:
        """The options recorded in an aupimo ``provenance.json`` (its ``options`` entry)."""
        options = provenance.get("options")
        if not isinstance(options, Mapping):
            return cls()
        from ..metrics.registry import METRICS, uses_option

        # An option counts only where a metric of the run used it (AUPRO limits of a run without AUPRO don't).
        metrics = [name for name in options.get("metrics") or () if name in METRICS]
        bounds = options.get("fpr_bounds")
        limits = options.get("aupro_limits")
        thresholds = options.get("num_thresholds")
        return cls(
            fpr_bounds=(float(bounds[0]), float(bounds[1])) if uses_option(metrics, "fpr_bounds") and bounds else None,
            num_thresholds=int(thresholds) if uses_option(metrics, "num_thresholds") and thresholds else None,
            aupro_limits=tuple(float(v) for v in limits) if uses_option(metrics, "aupro_limits") and limits else None,
        )


def _format(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{item:g}" for item in value)
    return str(value)


def option_mismatches(runs: Mapping[str, RunOptions]) -> list[str]:
    """One line per option on which the recorded values differ, naming the runs that hold each value.

    Args:
        runs: a label of each run (its folder) -> its options.

    Returns:
        Lines such as ``--fpr-bounds 1e-05,0.0001 in a/gear, a/widget; 0.001,0.01 in b/gear``: the values held
        by more runs first; empty when every recorded value agrees.

    Examples:
        >>> option_mismatches({"a": RunOptions((1e-5, 1e-4), 300000), "b": RunOptions((1e-3, 1e-2), None)})
        ['--fpr-bounds 0.001,0.01 in b; 1e-05,0.0001 in a']
    """
    lines = []
    for name, flag in OPTION_FLAGS.items():
        holders: dict[Any, list[str]] = {}
        for label, options in runs.items():
            value = getattr(options, name)
            if value is not None:
                holders.setdefault(value, []).append(label)
        if len(holders) > 1:
            ordered = sorted(holders.items(), key=lambda item: (-len(item[1]), _format(item[0])))
            lines.append(f"{flag} " + "; ".join(f"{_format(value)} in {_labels(labels)}" for value, labels in ordered))
    return lines


def _labels(labels: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")
