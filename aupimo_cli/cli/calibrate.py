"""``aupimo calibrate VAL_MAPS [VAL_MASKS]``: thresholds chosen on a validation set, saved to thresholds.json."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import InputError
from ._common import (
    ConfigOption,
    F1AdaptiveOption,
    FarOption,
    FrrOption,
    ManualThresholdOption,
    MaxMemoryOption,
    NormalDirsOption,
    PixelFprOption,
    PixelRuleOption,
    QuietOption,
    RichProgress,
    SoftFrrOption,
    ValImagesOption,
    evaluate_options,
    parse_memory_size,
    policy_from_flags,
)
from ._errors import fail

CALIBRATE_EXAMPLES = """\b
Examples:
  aupimo calibrate maps/screw/validation --test-masks mvtec/screw/ground_truth
  aupimo calibrate VAL_MAPS --resolution 1024x1024 --frr 0.01 --soft-frr 0.05
  aupimo calibrate VAL_MAPS VAL_MASKS --far 0.02 --pixel-fpr 0.001
  aupimo evaluate MAPS MASKS --thresholds thresholds.json --out res/screw
"""


def parse_resolution(text: str) -> tuple[int, int]:
    """``1024x768`` (height x width) as (1024, 768).

    Raises:
        InputError: not two positive integers separated by ``x``.

    Examples:
        >>> parse_resolution("1024x768")
        (1024, 768)
    """
    parts = text.lower().split("x")
    try:
        height, width = (int(part) for part in parts)
    except ValueError:
        height = width = 0
    if height <= 0 or width <= 0:
        raise InputError(f"--resolution: expected HEIGHTxWIDTH in pixels, such as 1024x1024, got {text!r}")
    return height, width


def calibrate(
    val_maps: Annotated[
        Path,
        typer.Argument(
            metavar="VAL_MAPS",
            help="Validation maps (held-out images, never the test set): normal images only, or with VAL_MASKS.",
            show_default=False,
        ),
    ],
    val_masks: Annotated[
        Path | None,
        typer.Argument(
            metavar="VAL_MASKS",
            help="Masks of the validation maps (MVTec or VisA layout), needed by --far and --f1-adaptive.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="The thresholds file to write.")] = Path("thresholds.json"),
    frr: FrrOption = None,
    soft_frr: SoftFrrOption = None,
    far: FarOption = None,
    f1_adaptive: F1AdaptiveOption = False,
    threshold: ManualThresholdOption = None,
    pixel: PixelRuleOption = None,
    pixel_fpr: PixelFprOption = None,
    resolution: Annotated[
        str | None,
        typer.Option(
            "--resolution", help="HxW at which to measure mask-less validation maps: the test masks' resolution."
        ),
    ] = None,
    test_masks: Annotated[
        Path | None,
        typer.Option("--test-masks", help="The test masks, whose common resolution mask-less validation maps take."),
    ] = None,
    val_images: ValImagesOption = None,
    normal_dirs: NormalDirsOption = None,
    config: ConfigOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --out: only a thresholds file aupimo wrote.")
    ] = False,
    max_memory: MaxMemoryOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print thresholds.json to stdout and nothing else there.")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Choose thresholds on a validation set and save them (thresholds.json) for aupimo evaluate --thresholds.

    The hard image threshold comes from one rule: --frr (default 1%: the lowest threshold rejecting at most that
    share of the validation normal parts), --far, --f1-adaptive or --threshold. --soft-frr adds a soft threshold:
    parts between soft and hard go to operator review. The pixel threshold is mean + 3 std of the validation
    normal pixels (MVTec AD 2), or at --pixel-fpr. Validation maps are resized to full resolution like test maps:
    their masks' size, or without masks --resolution, --test-masks or --val-images. Exit code 0 on success, 2 for
    bad input, 1 for an internal error.
    """
    stderr = Console(stderr=True, highlight=False)
    try:
        from ..pipeline.calibrate import ThresholdPolicy, calibrate_folders, common_mask_shape, write_thresholds

        options, _ = evaluate_options(None, None, None, None, normal_dirs, None, config)
        policy = policy_from_flags(frr, soft_frr, far, f1_adaptive, threshold, pixel, pixel_fpr)
        shape, source = None, ""
        if resolution is not None and test_masks is not None:
            raise InputError("give either --resolution or --test-masks, not both")
        if val_masks is not None and (resolution is not None or test_masks is not None):
            raise InputError("the validation maps have masks (VAL_MASKS), which give their resolution: drop "
                             "--resolution and --test-masks")  # fmt: skip
        if resolution is not None:
            shape = parse_resolution(resolution)
            source = f"--resolution {shape[0]}x{shape[1]}"
        elif test_masks is not None:
            shape = common_mask_shape(test_masks)
            if shape is None:
                raise InputError(
                    f"the masks in {test_masks} do not share one resolution (or there are none): give --resolution "
                    "HxW or the validation images (--val-images)"
                )
            source = f"the test masks' ({shape[0]}x{shape[1]}, {test_masks.absolute()})"
        inputs = [path for path in (val_maps, val_masks, test_masks, val_images) if path is not None]

        with RichProgress(stderr, enabled=not quiet and stderr.is_terminal) as progress:
            progress.stage("reading validation maps")
            thresholds = calibrate_folders(
                val_maps,
                val_masks,
                policy or ThresholdPolicy(),
                default_shape=shape,
                resolution_source=source,
                val_images=val_images,
                normal_dirs=options.normal_dirs,
                max_memory_bytes=parse_memory_size(max_memory),
            )
            written = write_thresholds(thresholds, out, overwrite=overwrite, inputs=inputs)
    except (Exception, KeyboardInterrupt) as error:
        raise fail(stderr, error) from None

    if as_json:
        from ..report.writers import json_text

        sys.stdout.write(json_text(thresholds.to_json()))
        sys.stdout.flush()
    if not quiet:
        console = stderr if as_json else Console(highlight=False)
        console.print(escape(thresholds.describe()))
        console.print(f"wrote {escape(str(written))}")
        console.print(f"next: aupimo evaluate MAPS MASKS --thresholds {escape(str(out))}", style="dim")
