"""How every ``aupimo`` command reports a failure, and the exit codes of DESIGN section 3."""

from __future__ import annotations

import sys
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import InputError

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_DIFFERENT = 3
EXIT_POLICY = 4
EXIT_INTERRUPTED = 130


def _is_metric_input_error(error: BaseException) -> bool:
    """Whether `error` is the metric core's own bad-input error (a bug there raises anything else)."""
    # The core is imported lazily; if it was never imported, the error cannot come from it.
    inputs = sys.modules.get("aupimo_cli.metrics._inputs")
    return inputs is not None and isinstance(error, inputs.MetricInputError)


def fail(stderr: Console, error: BaseException) -> typer.Exit:
    """Report `error` on `stderr` and return the exit to raise.

    Bad input (`InputError`, and the metric core's `MetricInputError`) gets one ``error:`` line and exit 2;
    Ctrl-C exit 130; anything else is a bug, reported with its traceback and exit 1.
    """
    if isinstance(error, InputError) or _is_metric_input_error(error):
        stderr.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
        return typer.Exit(EXIT_BAD_INPUT)
    if isinstance(error, KeyboardInterrupt):
        stderr.print("[bold red]interrupted[/]: no results were written or changed.")
        return typer.Exit(EXIT_INTERRUPTED)
    stderr.print("[bold red]internal error[/] (please report it with the traceback below):")
    stderr.print("".join(traceback.format_exception(error)), markup=False, highlight=False)
    return typer.Exit(EXIT_INTERNAL)
