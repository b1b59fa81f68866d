"""The ``aupimo`` command line: a thin typer layer over `aupimo_cli.pipeline` (no metric logic here).

One module per command. Heavy modules (numba kernels, opencv, pyarrow, scipy) are imported inside the
commands so that ``aupimo --help`` starts fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from .benchmark import benchmark
from .check import check
from .compare import compare
from .evaluate import evaluate

app = typer.Typer(
    name="aupimo",
    help="Exact, fast evaluation of anomaly localization: pixel AUROC, AUPRO and per-image AUPIMO from saved maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


app.command()(evaluate)
app.command()(benchmark)
app.command()(compare)
app.command()(check)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
