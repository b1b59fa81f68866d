"""The ``aupimo`` command line: a thin typer layer over `aupimo_cli.pipeline` (no metric logic here).

One module per command. Heavy modules (numba kernels, opencv, pyarrow, scipy) are imported inside the
commands so that ``aupimo --help`` starts fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated

import typer

from .. import __version__
from ._common import AupimoCommand
from .benchmark import BENCHMARK_EXAMPLES, benchmark
from .calibrate import CALIBRATE_EXAMPLES, calibrate
from .check import CHECK_EXAMPLES, check
from .compare import COMPARE_EXAMPLES, compare
from .drift import DRIFT_EXAMPLES, drift
from .evaluate import EVALUATE_EXAMPLES, evaluate
from .metrics import metrics_command
from .report import REPORT_EXAMPLES, report
from .submission import CHECK_SUBMISSION_EXAMPLES, check_submission
from .sweep import SWEEP_EXAMPLES, sweep
from .unstack import UNSTACK_EXAMPLES, unstack

app = typer.Typer(
    name="aupimo",
    help="Exact, fast evaluation of anomaly localization: pixel AUROC, AUPRO, per-image AUPIMO, AP and F1max from "
    "saved anomaly maps, and operating points at thresholds chosen on validation.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Help texts are plain text: "[default: ...]" and "[tool.aupimo]" are not markup.
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"aupimo-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Exact, fast evaluation of anomaly localization from saved anomaly maps."""


app.command(cls=AupimoCommand, epilog=EVALUATE_EXAMPLES)(evaluate)
app.command(cls=AupimoCommand, epilog=BENCHMARK_EXAMPLES)(benchmark)
app.command(cls=AupimoCommand, epilog=CALIBRATE_EXAMPLES)(calibrate)
app.command(cls=AupimoCommand, epilog=COMPARE_EXAMPLES)(compare)
app.command(cls=AupimoCommand, epilog=CHECK_EXAMPLES)(check)
app.command(cls=AupimoCommand, epilog=REPORT_EXAMPLES)(report)
app.command(cls=AupimoCommand, epilog=SWEEP_EXAMPLES)(sweep)
app.command(cls=AupimoCommand, epilog=DRIFT_EXAMPLES)(drift)
app.command(cls=AupimoCommand, name="check-submission", epilog=CHECK_SUBMISSION_EXAMPLES)(check_submission)
app.command(cls=AupimoCommand, epilog=UNSTACK_EXAMPLES)(unstack)
app.command(cls=AupimoCommand, name="metrics")(metrics_command)


def main() -> None:
    """Console-script entry point.

    Once the command has returned, with every file it wrote closed and renamed into place and every pool and
    cluster it started shut down, the process ends without the interpreter's teardown (``os._exit``): numba's
    and pyarrow's finalizers make that teardown take 0.3 s, 6% of evaluating a category, for nothing. An
    exception other than the exit itself (an internal error) takes the usual way out, with its traceback.
    """
    try:
        app()
        code: object = 0
    except SystemExit as stop:
        code = stop.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): the message on stderr, exit status 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
            stream.flush()
    os._exit(code)


__all__ = ["app", "main"]
