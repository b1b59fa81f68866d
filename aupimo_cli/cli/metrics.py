"""``aupimo metrics``: what each registered metric is, its summary keys, files and parameters."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def metrics_command() -> None:
    """List every metric that --metrics accepts: its summary keys, its files, its parameters and what it needs.

    Every metric is computed by default; the pixel metrics share one sort of the pixels.
    """
    from ..metrics.registry import REGISTRY, key_params

    console = Console(highlight=False)
    for metric in REGISTRY:
        table = Table(title=f"{metric.name}: {escape(metric.title)}", title_justify="left", show_header=False)
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("value")
        table.add_row("what", escape(metric.description))
        keys = metric.keys(key_params())
        table.add_row("summary keys", escape(", ".join(keys)))
        files = [result.path for result in metric.files(key_params())]
        table.add_row("files", escape(", ".join(files) or "none (summary only)"))
        for parameter in metric.parameters:
            default = parameter.default
            shown = ",".join(f"{v:g}" for v in default) if isinstance(default, tuple) else str(default)
            table.add_row(
                "parameter", escape(f"{parameter.name} ({parameter.flag}, default {shown}): {parameter.help}")
            )
        needs = "normal and anomalous images" if metric.needs_normal_images else "anomalous images"
        table.add_row("needs", needs + (" (higher is better)" if metric.higher_is_better else ""))
        console.print(table)
