"""What every ``aupimo`` command shares: option types, parsing of option values, and the progress display."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..errors import InputError


def floats(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"{option}: expected comma-separated numbers, got {text!r}.") from None
    if not values:
        raise InputError(f"{option}: expected at least one number, got {text!r}.")
    return values


def names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


class RichProgress:
    """Progress bars on stderr, one line per stage; invisible when stderr is not a terminal or with --quiet."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._task: Any = None

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish_task()
        self._progress.__exit__(None, None, None)

    def _finish_task(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            self._progress.update(self._task, total=task.total or 1, completed=task.total or 1)

    def stage(self, description: str, total: int | None = None) -> None:
        self._finish_task()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, steps)


# Options shared by `evaluate` and `benchmark`: the ones that affect results, then output behaviour.
AuproLimitsOption = Annotated[
    str, typer.Option("--aupro-limits", help="Comma-separated FPR limits of the AUPRO integrals.")
]
FprBoundsOption = Annotated[
    str, typer.Option("--fpr-bounds", help="Lower,upper shared-FPR bounds of the AUPIMO integral.")
]
NumThresholdsOption = Annotated[
    int, typer.Option("--num-thresholds", help="Number of AUPIMO thresholds (linspace over normal scores).")
]
NormalDirsOption = Annotated[
    str, typer.Option("--normal-dirs", help="Comma-separated folder names whose maps are normal images.")
]
MetricsOption = Annotated[
    str, typer.Option("--metrics", help="Comma-separated metrics to compute; left-out ones write no file.")
]
ForceOption = Annotated[bool, typer.Option("--force", help="Compute AUPIMO even with 30 or fewer integration points.")]
OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace existing results: only a folder aupimo wrote in full (see its manifest)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary JSON to stdout and nothing else there.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no table.")]
MaxMemoryOption = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        help="Memory the evaluation may use, e.g. 8G, 512M or a number of bytes; a category estimated to need "
        "more is refused before its maps are read. Default: 75% of the memory available at start.",
    ),
]

_SIZE_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory_size(text: str | None) -> int:
    """Bytes of a ``--max-memory`` value (``8G``, ``512M``, ``1.5G``, ``1000000``); None gives the default,
    75% of the memory available now."""
    if text is None:
        from .._memory import available_memory_bytes

        return int(0.75 * available_memory_bytes())
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = cleaned[-1:] if cleaned[-1:] in _SIZE_UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)]
    try:
        size = float(number) * _SIZE_UNITS[unit]
    except ValueError:
        raise InputError(f"--max-memory: expected a size such as 8G, 512M or 1000000, got {text!r}.") from None
    if size <= 0:
        raise InputError(f"--max-memory must be positive, got {text!r}.")
    return int(size)


def evaluate_options(
    metrics: str, aupro_limits: str, fpr_bounds: str, num_thresholds: int, normal_dirs: str, force: bool
) -> Any:
    from ..pipeline.evaluate import EvaluateOptions

    bounds = floats(fpr_bounds, "--fpr-bounds")
    if len(bounds) != 2:
        raise InputError(f"--fpr-bounds: expected two numbers 'lower,upper', got {fpr_bounds!r}.")
    return EvaluateOptions(
        metrics=names(metrics),
        aupro_limits=floats(aupro_limits, "--aupro-limits"),
        fpr_bounds=(bounds[0], bounds[1]),
        num_thresholds=num_thresholds,
        normal_dirs=names(normal_dirs),
        force=force,
    )
