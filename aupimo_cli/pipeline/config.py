"""Options from a config file, resolved against the command-line flags and the registry's defaults.

``aupimo evaluate|benchmark --config aupimo.toml`` reads a TOML file; without ``--config``, a ``[tool.aupimo]``
table in the ``pyproject.toml`` of the current folder is read if there is one. The file holds the same options
as the flags, with the metrics as named entries with parameters (as ``MetricConfig(name=..., params=...)``)::

    normal_dirs = ["good", "Normal", "ok"]
    layout = "mvtec"                    # benchmark only
    fail_under = { image_auroc = 0.9 }  # CI gates, as --fail-under image_auroc=0.9
    metrics = [
        "auroc",
        { name = "aupro", params = { limits = [0.3, 0.05] } },
        { name = "aupimo", params = { fpr_bounds = [1e-5, 1e-4], num_thresholds = 300000 } },
    ]

Each option comes from its flag if given, else from the file, else from the registry's default. Unknown keys,
metrics and parameters are errors naming the key and the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..metrics.registry import DEFAULT_METRICS, METRICS
from .evaluate import EvaluateOptions

STATISTICS_KEYS: dict[str, Any] = {"bootstrap": 0, "ci_level": 0.95, "seed": 0, "bootstrap_pixel_ap": False}
"""The confidence intervals' settings a config file may hold, as the flags, with their defaults' types."""

CONFIG_KEYS = ("metrics", "normal_dirs", "layout", "fail_under", "fail_over", *STATISTICS_KEYS)
"""The keys a config file may hold."""

PYPROJECT_TABLE = ("tool", "aupimo")


@dataclass(frozen=True)
class ConfigFile:
    """What a config file says, before the flags are applied.

    Attributes:
        source: where it was read (``aupimo.toml``, or ``pyproject.toml [tool.aupimo]``), for messages.
        metrics: the metric names, in order, or None when the file does not list them.
        params: the `EvaluateOptions` fields the file sets through metric parameters.
        normal_dirs: the normal folder names, or None.
        layout: the benchmark layout, or None.
        fail_under, fail_over: CI gates as ``KEY=VALUE`` texts, as the ``--fail-under``/``--fail-over`` flags.
        statistics: the confidence intervals' settings it holds (`STATISTICS_KEYS`), by `EvaluateOptions` field.
    """

    source: str
    metrics: tuple[str, ...] | None = None
    params: Mapping[str, Any] | None = None
    normal_dirs: tuple[str, ...] | None = None
    layout: str | None = None
    fail_under: tuple[str, ...] = ()
    fail_over: tuple[str, ...] = ()
    statistics: Mapping[str, Any] = field(default_factory=dict)


def _fail(source: str, what: str) -> InputError:
    return InputError(f"{source}: {what}")


def _strings(value: Any, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _fail(source, f'{key} must be a list of names, such as ["good", "ok"], not {value!r}')
    return tuple(value)


def _parameter_value(value: Any, default: Any, source: str, where: str) -> Any:
    """`value` checked against the type of the parameter's `default` (tuples of floats, int, bool)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _fail(source, f"{where} must be true or false, not {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, f"{where} must be a whole number, not {value!r}")
        return value
    if isinstance(default, tuple):
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(item, int | float) and not isinstance(item, bool) for item in value)
        ):
            raise _fail(source, f"{where} must be a list of numbers, such as {list(default)}, not {value!r}")
        return tuple(float(item) for item in value)
    return value


def _metrics(value: Any, source: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The metric names and the option values their parameters set, from the ``metrics`` list of a file."""
    if not isinstance(value, list) or not value:
        raise _fail(source, "metrics must be a non-empty list of metric names or {name = ..., params = {...}} tables")
    names: list[str] = []
    params: dict[str, Any] = {}
    for entry in value:
        if isinstance(entry, str):
            name, given = entry, {}
        elif isinstance(entry, dict):
            unknown = sorted(set(entry) - {"name", "params"})
            if unknown or not isinstance(entry.get("name"), str):
                raise _fail(
                    source,
                    f'a metrics entry must be {{name = "...", params = {{...}}}}, not {entry!r}'
                    + (f" (unknown key {', '.join(unknown)})" if unknown else ""),
                )
            name, given = entry["name"], entry.get("params", {})
            if not isinstance(given, dict):
                raise _fail(source, f"params of metric {name!r} must be a table, not {given!r}")
        else:
            raise _fail(source, f"a metrics entry must be a name or a table, not {entry!r}")
        if name not in METRICS:
            raise _fail(source, f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        if name in names:
            raise _fail(source, f"metric {name!r} is listed twice")
        names.append(name)
        parameters = {parameter.name: parameter for parameter in METRICS[name].parameters}
        for key, raw in given.items():
            if key not in parameters:
                known = ", ".join(parameters) or "none"
                raise _fail(source, f"unknown parameter {key!r} of metric {name!r} (its parameters: {known})")
            parameter = parameters[key]
            params[parameter.option] = _parameter_value(raw, parameter.default, source, f"{name}.params.{key}")
    return tuple(names), params


def parse_config(table: Mapping[str, Any], source: str) -> ConfigFile:
    """Check a config table (a whole ``aupimo.toml``, or ``[tool.aupimo]``) and return what it sets.

    Raises:
        InputError: an unknown key, metric or parameter, or a value of the wrong type, naming it and `source`.
    """
    unknown = sorted(set(table) - set(CONFIG_KEYS))
    if unknown:
        raise _fail(source, f"unknown key {', '.join(unknown)}; a config file may hold {', '.join(CONFIG_KEYS)}")
    metrics, params = _metrics(table["metrics"], source) if "metrics" in table else (None, None)
    normal_dirs = _strings(table["normal_dirs"], source, "normal_dirs") if "normal_dirs" in table else None
    layout = table.get("layout")
    if layout is not None and not isinstance(layout, str):
        raise _fail(source, f'layout must be a name such as "mvtec", not {layout!r}')
    gates = {}
    for key in ("fail_under", "fail_over"):
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(number, int | float) and not isinstance(number, bool) for number in value.values()
        ):
            raise _fail(source, f"{key} must be a table of summary keys and numbers, such as {{image_auroc = 0.9}}")
        gates[key] = tuple(f"{name}={number}" for name, number in value.items())
    statistics: dict[str, Any] = {}
    for key, default in STATISTICS_KEYS.items():
        if key in table:
            value = table[key]
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not type(default):
                kind = {bool: "true or false", int: "a whole number", float: "a number"}[type(default)]
                raise _fail(source, f"{key} must be {kind}, not {value!r}")
            statistics[key] = value
    return ConfigFile(source, metrics, params, normal_dirs, layout, gates["fail_under"], gates["fail_over"], statistics)


def read_config(path: Path | None, cwd: Path | None = None) -> ConfigFile | None:
    """The config file at `path`, or else the ``[tool.aupimo]`` table of ``pyproject.toml`` in `cwd` (the
    current folder), or None when there is neither.

    Raises:
        InputError: the file is missing, unreadable or not valid TOML, or its content is refused (`parse_config`).
    """
    if path is None:
        pyproject = (cwd or Path.cwd()) / "pyproject.toml"
        if not pyproject.is_file():
            return None
        document = _load_toml(pyproject)
        table: Any = document
        for part in PYPROJECT_TABLE:
            table = table.get(part) if isinstance(table, dict) else None
        if table is None:
            return None
        if not isinstance(table, dict):
            raise _fail(f"{pyproject} [tool.aupimo]", "must be a table")
        return parse_config(table, f"{pyproject} [tool.aupimo]")
    if not path.is_file():
        raise InputError(f"--config {path} does not exist or is not a file: pass a TOML file such as aupimo.toml")
    return parse_config(_load_toml(path), str(path))


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise InputError(f"{path} cannot be read ({error.strerror or error}): check that it is readable") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path} is not valid TOML ({error}): fix the file") from None


def resolve_options(flags: Mapping[str, Any], config: ConfigFile | None) -> EvaluateOptions:
    """The evaluation options: each from its flag when given (not None), else from the config file, else the
    registry's default.

    Args:
        flags: `EvaluateOptions` field -> the value of its flag, None when the flag was not given.
        config: the config file read, or None.
    """
    values: dict[str, Any] = {
        "metrics": DEFAULT_METRICS,
        **{parameter.option: parameter.default for metric in METRICS.values() for parameter in metric.parameters},
    }
    if config is not None:
        if config.metrics is not None:
            values["metrics"] = config.metrics
        values.update(config.params or {})
        if config.normal_dirs is not None:
            values["normal_dirs"] = config.normal_dirs
        values.update(config.statistics)
    values.update({key: value for key, value in flags.items() if value is not None})
    return EvaluateOptions(**values)


def layout_of(flag: str | None, config: ConfigFile | None, default: str = "mvtec") -> str:
    """The benchmark layout: the flag when given, else the config file's, else `default`."""
    if flag is not None:
        return flag
    if config is not None and config.layout is not None:
        return config.layout
    return default


def options_table(options: EvaluateOptions) -> dict[str, Any]:
    """`options` as a config table (``metrics`` with their parameters, ``normal_dirs``), which `parse_config`
    reads back to the same options."""
    metrics: list[Any] = []
    recorded = options.to_json()
    for name in options.metrics:
        parameters = METRICS[name].parameters
        if not parameters:
            metrics.append(name)
            continue
        params = {p.name: recorded[p.option] for p in parameters}
        metrics.append({"name": name, "params": params})
    table: dict[str, Any] = {"metrics": metrics, "normal_dirs": list(options.normal_dirs)}
    table.update({key: recorded[key] for key, default in STATISTICS_KEYS.items() if recorded[key] != default})
    return table
