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

    def describe(self, description: str) -> None:
        """Replace the current stage's description (a sweep's running and failed tasks)."""
        if self._task is not None:
            self._progress.update(self._task, description=description)


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
SproLimitsOption = Annotated[
    str | None,
    typer.Option(
        "--spro-limits",
        help=_parameter_help(
            "spro_limits", "Comma-separated FPR limits of the sPRO integrals (MVTec LOCO ground truth only)."
        ),
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
    oracle_rates: str | None = None,
    statistics: dict[str, Any] | None = None,
    spro_limits: str | None = None,
) -> tuple[Any, Any]:
    """The resolved `EvaluateOptions` (flags over the config file over the registry's defaults), and the config
    file read (None without one)."""
    from ..pipeline.config import read_config, resolve_options

    flags = evaluate_flags(metrics, aupro_limits, fpr_bounds, num_thresholds, normal_dirs, force, oracle_rates,
                           statistics, spro_limits)  # fmt: skip
    config_file = read_config(config)
    return resolve_options(flags, config_file), config_file


def evaluate_flags(
    metrics: str | None,
    aupro_limits: str | None,
    fpr_bounds: str | None,
    num_thresholds: int | None,
    normal_dirs: str | None,
    force: bool | None,
    oracle_rates: str | None = None,
    statistics: dict[str, Any] | None = None,
    spro_limits: str | None = None,
) -> dict[str, Any]:
    """The evaluation flags parsed, by `EvaluateOptions` field (None: not given, so that a config file or the
    registry's default applies).

    Raises:
        InputError: a flag's value does not parse, naming the flag.
    """
    bounds: tuple[float, float] | None = None
    if fpr_bounds is not None:
        parsed = floats(fpr_bounds, "--fpr-bounds")
        if len(parsed) != 2:
            raise InputError(f"--fpr-bounds: expected two numbers 'lower,upper', got {fpr_bounds!r}.")
        bounds = (parsed[0], parsed[1])
    flags: dict[str, Any] = {
        "metrics": None if metrics is None else names(metrics),
        "aupro_limits": None if aupro_limits is None else floats(aupro_limits, "--aupro-limits"),
        "fpr_bounds": bounds,
        "num_thresholds": num_thresholds,
        "normal_dirs": None if normal_dirs is None else names(normal_dirs),
        "force": force,
        "oracle_rates": None if oracle_rates is None else floats(oracle_rates, "--oracle-rates"),
        "spro_limits": None if spro_limits is None else floats(spro_limits, "--spro-limits"),
        **(statistics or {}),
    }
    return flags


# Confidence intervals (DESIGN section 7).
BootstrapOption = Annotated[
    int | None,
    typer.Option(
        "--bootstrap",
        help="Bootstrap confidence intervals from this many replicates (1000 is usual; images resampled within the "
        "normal and within the anomalous ones): image AUROC/AP/F1max, pixel AUROC, every AUPRO, mean AUPIMO and the "
        "operating-point rates. [default: 0, off, or the config file's]",
    ),
]
CiLevelOption = Annotated[
    float | None,
    typer.Option(
        "--ci-level", help="Level of the bootstrap and DeLong intervals. [default: 0.95, or the config file's]"
    ),
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Seed of the bootstrap's resampling. [default: 0, or the config file's]")
]
BootstrapPixelApOption = Annotated[
    bool | None,
    typer.Option(
        "--bootstrap-pixel-ap/--no-bootstrap-pixel-ap",
        help="Also bootstrap pixel AP and pixel F1max: a pass over every distinct anomalous score per replicate, "
        "several times the evaluation's own time. [default: no]",
    ),
]


def statistics_flags(
    bootstrap: int | None, ci_level: float | None, seed: int | None, pixel_ap: bool | None
) -> dict[str, Any]:
    """The confidence intervals' flags as `EvaluateOptions` fields (None: not given)."""
    return {"bootstrap": bootstrap, "ci_level": ci_level, "seed": seed, "bootstrap_pixel_ap": pixel_ap}


# Thresholds chosen on validation (DESIGN section 6), and CI gates.
ThresholdsOption = Annotated[
    Path | None,
    typer.Option("--thresholds", help="thresholds.json from aupimo calibrate: measure the operating points at them."),
]
ValMapsOption = Annotated[
    Path | None,
    typer.Option(
        "--val-maps", help="Validation maps: choose the thresholds on them (normal only, or with --val-masks)."
    ),
]
ValMasksOption = Annotated[Path | None, typer.Option("--val-masks", help="Masks of the validation maps, if any.")]
ValImagesOption = Annotated[
    Path | None, typer.Option("--val-images", help="Validation images, whose headers give mask-less maps' size.")
]
FrrOption = Annotated[
    float | None, typer.Option("--frr", help="Hard threshold at this validation false reject rate. [default: 0.01]")
]
SoftFrrOption = Annotated[
    float | None, typer.Option("--soft-frr", help="Soft threshold at this larger FRR: parts in between go to review.")
]
FarOption = Annotated[
    float | None, typer.Option("--far", help="Hard threshold at this validation false accept (escape) rate.")
]
F1AdaptiveOption = Annotated[
    bool, typer.Option("--f1-adaptive", help="Hard threshold at the validation set's F1max (needs defective images).")
]
ManualThresholdOption = Annotated[float | None, typer.Option("--threshold", help="Hard threshold given as is.")]
PixelRuleOption = Annotated[
    str | None,
    typer.Option("--pixel", help="Pixel threshold rule: mean+3std (MVTec AD 2), fpr (with --pixel-fpr) or none."),
]
PixelFprOption = Annotated[
    float | None, typer.Option("--pixel-fpr", help="Pixel threshold at this FPR of the validation normal pixels.")
]
OracleRatesOption = Annotated[
    str | None,
    typer.Option(
        "--oracle-rates",
        help="Rates n of the test-set (optimistic) PGn, PBn and FRR at FAR = n. [default: 0.01,0.05]",
    ),
]
FailUnderOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-under",
        metavar="KEY=VALUE",
        help="KEY=VALUE: exit 4 (after writing) when the summary's KEY is under VALUE, or null. Repeatable.",
    ),
]
FailOverOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-over",
        metavar="KEY=VALUE",
        help="KEY=VALUE: exit 4 (after writing) when KEY is over VALUE, or null. Repeatable.",
    ),
]


def policy_from_flags(
    frr: float | None,
    soft_frr: float | None,
    far: float | None,
    f1_adaptive: bool,
    threshold: float | None,
    pixel: str | None,
    pixel_fpr: float | None,
) -> Any:
    """The `ThresholdPolicy` of the flags, or None when none of them was given."""
    from ..pipeline.calibrate import ThresholdPolicy

    given = [frr, soft_frr, far, threshold, pixel, pixel_fpr]
    if all(value is None for value in given) and not f1_adaptive:
        return None
    return ThresholdPolicy(
        frr=frr,
        far=far,
        f1_adaptive=f1_adaptive,
        manual=threshold,
        soft_frr=soft_frr,
        pixel=pixel or "mean+3std",
        pixel_fpr=pixel_fpr,
    )


def thresholds_from_flags(
    thresholds: Path | None,
    val_maps: Path | None,
    val_masks: Path | None,
    val_images: Path | None,
    policy: Any,
    test_maps: Path,
    test_masks: Path | None,
    normal_dirs: tuple[str, ...],
    max_memory_bytes: int | None,
) -> Any:
    """The `Thresholds` to measure at: read from --thresholds, or chosen on --val-maps with the policy flags
    (measured at the test masks' common resolution when the validation maps have no masks); None without either.

    Raises:
        InputError: both or neither given with policy flags, or bad validation input.
    """
    from ..pipeline.calibrate import (
        ThresholdPolicy,
        Thresholds,
        calibrate_folders,
        common_mask_shape,
        refuse_overlap,
    )

    if thresholds is not None and val_maps is not None:
        raise InputError("give either --thresholds (saved thresholds) or --val-maps (choose them now), not both")
    if thresholds is not None:
        if policy is not None:
            raise InputError("the threshold rules (--frr, --far, ...) apply to --val-maps, not to saved --thresholds")
        return Thresholds.load(thresholds)
    if val_maps is None:
        if policy is not None:
            raise InputError("the threshold rules (--frr, --far, ...) need validation maps: pass --val-maps DIR")
        if val_masks is not None or val_images is not None:
            raise InputError("--val-masks and --val-images go with --val-maps")
        return None
    refuse_overlap(val_maps, test_maps)
    shape = common_mask_shape(test_masks) if test_masks is not None and val_masks is None else None
    return calibrate_folders(
        val_maps,
        val_masks,
        policy or ThresholdPolicy(),
        default_shape=shape,
        resolution_source="" if shape is None else f"the test masks' ({shape[0]}x{shape[1]})",
        val_images=val_images,
        normal_dirs=normal_dirs,
        max_memory_bytes=max_memory_bytes,
    )


def gates_of(fail_under: list[str] | None, fail_over: list[str] | None, config_file: Any) -> list[Any]:
    """The CI gates of the flags, then of the config file's ``fail_under``/``fail_over`` tables.

    Raises:
        InputError: a gate that is not KEY=VALUE.
    """
    from ..pipeline.gates import parse_gates

    gates = parse_gates(fail_under or [], fail_over or [])
    if config_file is not None:
        gates += parse_gates(config_file.fail_under, config_file.fail_over, source=config_file.source)
    return gates


def print_gate_failures(console: Console, failures: list[str]) -> None:
    """Each failed gate, one line each, under a heading."""
    from rich.markup import escape

    console.print(f"[bold red]{len(failures)} gate(s) failed[/] (exit code 4; the results are written):")
    for failure in failures:
        console.print(f"  {escape(failure)}", soft_wrap=True)
