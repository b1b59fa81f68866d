"""``aupimo unstack CATEGORY --out MAPS``: the AUPIMO paper's stacked ``asmaps.pt`` as one map per image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ._common import QuietOption
from ._errors import fail

UNSTACK_EXAMPLES = """\b
Examples:
  aupimo unstack paper_results/patchcore/mvtec/bottle --out maps/patchcore/bottle/test
  aupimo evaluate maps/patchcore/bottle/test mvtec/bottle/ground_truth
"""


def unstack(
    category: Annotated[
        Path,
        typer.Argument(
            metavar="CATEGORY",
            help="A folder holding asmaps.pt (the stacked (N, H, W) maps) and aupimos.json (or aupimo/aupimos.json) "
            "with the images' paths.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="A new folder: <defect>/<name>.npy per image (float32).")],
    quiet: QuietOption = False,
) -> None:
    """Write the maps of the AUPIMO paper's stacked asmaps.pt as one .npy per image, named by the trailing
    <defect>/<name> of its image path, so that evaluate, benchmark and compare read them. The tensor is read
    without torch and nothing but a tensor is unpickled. Exit code 0, or 2 for bad input.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline.unstack import unstack as write

        written = write(category, out)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None
    if not quiet:
        Console(highlight=False).print(f"wrote {len(written)} maps to {escape(str(out))}")
