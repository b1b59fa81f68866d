"""What every ``aupimo`` command shares: option types, parsing of option values, and the progress display."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperArgument, TyperCommand

from ..errors import InputError
from ..metrics.registry import REGISTRY


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


class AupimoCommand(TyperCommand):
    """A command whose usage line names its arguments plainly (``MAPS MASKS``), as the help below them does."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.display_name_raw if param.required else f"[{param.display_name_raw}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


# Options shared by `evaluate` and `benchmark`: the ones that affect results come from the registry, a config
# file or their flag; a flag left out is None, so that the config file or the registry's default applies.
def format_number(value: float) -> str:
    """A number as one types it: ``0.05``, ``1e-5`` and ``1e-4`` (not ``1e-05`` and ``0.0001``), ``300000``."""
    if value != 0 and abs(value) < 1e-3:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


def _parameter_help(option: str, text: str) -> str:
    default = next(p.default for m in REGISTRY for p in m.parameters if p.option == option)
    shown = ",".join(format_number(v) for v in default) if isinstance(default, tuple) else str(default)
    return f"{text} [default: {shown}, or the config file's]"


def _metrics_help() -> str:
    return (
        f"Comma-separated metrics to compute, among {', '.join(metric.name for metric in REGISTRY)} ('aupimo "
        "metrics' describes them); left-out ones write no file and their summary keys are null. [default: all, or "
        "the config file's]"
    )


AuproLimitsOption = Annotated[
    str | None,
    typer.Option(
        "--aupro-limits", help=_parameter_help("aupro_limits", "Comma-separated FPR limits of the AUPRO integrals.")
    ),
]
FprBoundsOption = Annotated[
    str | None,
    typer.Option(
        "--fpr-bounds", help=_parameter_help("fpr_bounds", "Lower,upper shared-FPR bounds of the AUPIMO integral.")
    ),
]
NumThresholdsOption = Annotated[
    int | None,
    typer.Option(
        "--num-thresholds", help=_parameter_help("num_thresholds", "AUPIMO thresholds (linspace over normal scores).")
    ),
]
NormalDirsOption = Annotated[
    str | None,
    typer.Option(
        "--normal-dirs",
        help="Comma-separated folder names whose maps are normal images, matched in any case. "
        "[default: good,Normal,ok, or the config file's]",
    ),
]
MetricsOption = Annotated[str | None, typer.Option("--metrics", help=_metrics_help())]
ForceOption = Annotated[
    bool | None,
    typer.Option("--force/--no-force", help="Compute AUPIMO even with 30 or fewer integration points. [default: no]"),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file with the options (metrics with their parameters, normal_dirs, layout); flags override it. "
        "Default: a [tool.aupimo] table in ./pyproject.toml, if any.",
    ),
]
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
    metrics: str | None,
    aupro_limits: str | None,
    fpr_bounds: str | None,
    num_thresholds: int | None,
    normal_dirs: str | None,
    force: bool | None,
    config: Path | None,
) -> tuple[Any, Any]:
    """The resolved `EvaluateOptions` (flags over the config file over the registry's defaults), and the config
    file read (None without one)."""
    from ..pipeline.config import read_config, resolve_options

    bounds: tuple[float, float] | None = None
    if fpr_bounds is not None:
        parsed = floats(fpr_bounds, "--fpr-bounds")
        if len(parsed) != 2:
            raise InputError(f"--fpr-bounds: expected two numbers 'lower,upper', got {fpr_bounds!r}.")
        bounds = (parsed[0], parsed[1])
    flags = {
        "metrics": None if metrics is None else names(metrics),
        "aupro_limits": None if aupro_limits is None else floats(aupro_limits, "--aupro-limits"),
        "fpr_bounds": bounds,
        "num_thresholds": num_thresholds,
        "normal_dirs": None if normal_dirs is None else names(normal_dirs),
        "force": force,
    }
    config_file = read_config(config)
    return resolve_options(flags, config_file), config_file
