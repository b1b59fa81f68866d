"""Thresholds from a validation set (``aupimo calibrate``), saved to ``thresholds.json`` and reused on test sets.

The practitioner's rule: never choose a threshold on the test set. The thresholds come from validation maps
(normal only, as in MVTec AD 2, or with masks), measured like the test maps at full resolution, with a policy
of DESIGN section 6:

- the hard image threshold at a validation FRR (``--frr``, the default at 1%), at a validation FAR (``--far``,
  needs defective validation images), F1-adaptive (``--f1-adaptive``, the validation set's F1max threshold,
  needs them too), or manual (``--threshold``);
- an optional soft threshold at a larger FRR (``--soft-frr``): between soft and hard, parts go to review;
- the pixel threshold: mean + 3 std of every validation normal pixel (``mean+3std``, MVTec AD 2's baseline) or
  at a pixel FPR (``--pixel-fpr``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import InputError
from ..metrics._inputs import MetricInputError
from ..metrics._pass import EMPTY_MOMENTS, SplitScores, moments_of
from ..metrics.operating import allowed_count, float32_at_or_above, threshold_at_far, threshold_at_frr
from ..report.manifest import TOOL_NAME

THRESHOLDS_FILE = "thresholds.json"
PIXEL_RULES = ("mean+3std", "fpr", "none")
DEFAULT_FRR = 0.01


@dataclass(frozen=True)
class ThresholdPolicy:
    """How the thresholds are chosen on validation (DESIGN section 6).

    Attributes:
        frr: the hard threshold at this validation FRR (the default rule, at 1%).
        far: the hard threshold at this validation FAR (needs defective validation images).
        f1_adaptive: the hard threshold at the validation set's F1max (needs defective validation images).
        manual: the hard threshold given.
        soft_frr: a soft threshold at this larger validation FRR, or None.
        pixel: ``mean+3std``, ``fpr`` (with `pixel_fpr`) or ``none``.
        pixel_fpr: the pixel threshold at this validation pixel FPR.
    """

    frr: float | None = None
    far: float | None = None
    f1_adaptive: bool = False
    manual: float | None = None
    soft_frr: float | None = None
    pixel: str = "mean+3std"
    pixel_fpr: float | None = None

    def __post_init__(self) -> None:
        rules = [self.frr is not None, self.far is not None, self.f1_adaptive, self.manual is not None]
        if sum(rules) > 1:
            raise InputError("give one rule for the hard threshold: --frr, --far, --f1-adaptive or --threshold")
        if not any(rules):
            object.__setattr__(self, "frr", DEFAULT_FRR)
        for name, rate in (("--frr", self.frr), ("--far", self.far), ("--soft-frr", self.soft_frr),
                           ("--pixel-fpr", self.pixel_fpr)):  # fmt: skip
            if rate is not None and not 0 <= rate < 1:
                raise InputError(f"{name} must be in [0, 1), got {rate!r}; for a fixed threshold use --threshold")
        if self.soft_frr is not None and self.frr is not None and self.soft_frr <= self.frr:
            raise InputError(
                f"--soft-frr {self.soft_frr:g} must be larger than --frr {self.frr:g}: the soft threshold is the lower "
                "one, between them parts go to review"
            )
        if self.pixel_fpr is not None:
            object.__setattr__(self, "pixel", "fpr")
        if self.pixel not in PIXEL_RULES:
            raise InputError(f"--pixel must be one of {', '.join(PIXEL_RULES)}, got {self.pixel!r}")
        if self.pixel == "fpr" and self.pixel_fpr is None:
            raise InputError("--pixel fpr needs --pixel-fpr F, the pixel FPR allowed on validation")

    @property
    def image_rule(self) -> str:
        """``frr``, ``far``, ``f1_adaptive`` or ``manual``."""
        if self.far is not None:
            return "far"
        if self.f1_adaptive:
            return "f1_adaptive"
        if self.manual is not None:
            return "manual"
        return "frr"

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image_rule, **asdict(self)}

    def image_rule_text(self) -> str:
        """The hard threshold's rule in words: ``at validation FRR 1%``."""
        if self.far is not None:
            return f"at validation FAR {_percent(self.far)}"
        if self.f1_adaptive:
            return "at the validation F1max (F1-adaptive)"
        if self.manual is not None:
            return "given (manual)"
        return f"at validation FRR {_percent(self.frr or 0.0)}"

    def pixel_rule_text(self) -> str:
        """The pixel threshold's rule in words."""
        if self.pixel == "fpr":
            return f"at validation pixel FPR {_percent(self.pixel_fpr or 0.0)}"
        return "mean + 3 std of validation normal pixels" if self.pixel == "mean+3std" else "none"


def _defective_text(count: int) -> str:
    return "all normal" if count == 0 else f"{count} defective"


def _percent(rate: float | None) -> str:
    """A rate as a percentage, ``0.01`` -> ``1%``, ``0.125`` -> ``12.5%``; None -> ``-``."""
    return "-" if rate is None else f"{100 * rate:.3g}%"


@dataclass(frozen=True)
class Thresholds:
    """The thresholds chosen on validation, and how (``thresholds.json``).

    Attributes:
        image: the hard image threshold: a part is rejected when its image score (max of its map) is >= it.
        soft: the soft image threshold (<= image), or None: parts at or above it and below `image` go to review.
        pixel: the pixel threshold, or None: a pixel is predicted anomalous when its score is >= it.
        policy: how they were chosen.
        validation: the validation set (roots, fingerprint, counts, resolution) and the rates reached on it.
    """

    image: float
    soft: float | None
    pixel: float | None
    policy: ThresholdPolicy
    validation: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """The thresholds, their rules and the rates reached on validation, in short lines of words."""
        rates = self.validation.get("rates", {})
        counts = self.validation
        far = rates.get("image_far")
        lines = [
            f"Thresholds chosen on {counts.get('num_images', '?')} validation images "
            f"({_defective_text(int(counts.get('num_anomalous') or 0))});",
            "a part is rejected when its image score is >= the hard threshold:",
            f"  hard  {self.image:<10.6g} {self.policy.image_rule_text()} (reached: FRR "
            f"{_percent(rates.get('image_frr'))}{'' if far is None else ', FAR ' + _percent(far)})",
        ]
        if self.soft is not None:
            lines.append(
                f"  soft  {self.soft:<10.6g} at validation FRR {_percent(self.policy.soft_frr)} (reached "
                f"{_percent(rates.get('image_soft_frr'))}); review band"
            )
        if self.pixel is not None:
            lines.append(
                f"  pixel {self.pixel:<10.6g} {self.policy.pixel_rule_text()} (pixel FPR "
                f"{_percent(rates.get('pixel_fpr'))})"
            )
        if counts.get("maps"):
            lines.append(f"  validation maps: {counts['maps']}")
        num_normal = int(counts.get("num_normal") or 0)
        for flag, rate in (("--frr", self.policy.frr), ("--soft-frr", self.policy.soft_frr)):
            if rate and num_normal and allowed_count(rate, num_normal) == 0:
                lines.append(
                    f"note: {flag} {_percent(rate)} of {num_normal} normal validation images allows none to be "
                    "rejected: the threshold is just above the highest validation score. The FRR moves in steps of "
                    f"{_percent(1 / num_normal)} here; more validation images give finer steps."
                )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The ``thresholds.json`` object."""
        return {
            "tool": {"name": TOOL_NAME, "version": __version__},
            "rule": ">=",
            "image_threshold": self.image,
            "image_soft_threshold": self.soft,
            "pixel_threshold": self.pixel,
            "policy": self.policy.to_json(),
            "validation": self.validation,
        }

    @classmethod
    def from_json(cls, record: Any, source: str) -> Thresholds:
        """Read a ``thresholds.json`` object.

        Raises:
            InputError: naming `source`, when it is not a thresholds file of this tool.
        """
        try:
            if record["tool"]["name"] != TOOL_NAME or record["rule"] != ">=":
                raise KeyError("tool")
            policy = {key: value for key, value in record["policy"].items() if key != "image"}
            return cls(
                image=float(record["image_threshold"]),
                soft=None if record["image_soft_threshold"] is None else float(record["image_soft_threshold"]),
                pixel=None if record["pixel_threshold"] is None else float(record["pixel_threshold"]),
                policy=ThresholdPolicy(**policy),
                validation=dict(record.get("validation") or {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(
                f"{source} is not a thresholds file written by aupimo calibrate (missing or bad {error}): make one "
                "with aupimo calibrate VAL_MAPS --out thresholds.json"
            ) from None

    @classmethod
    def load(cls, path: Path) -> Thresholds:
        """Read ``thresholds.json``.

        Raises:
            InputError: the file is missing, unreadable or not a thresholds file.
        """
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"--thresholds {path} does not exist: make it with aupimo calibrate") from None
        except (OSError, ValueError) as error:
            raise InputError(f"--thresholds {path} cannot be read as JSON ({error})") from None
        return cls.from_json(record, str(path))


def calibrate_split(split: SplitScores, labels: np.ndarray, policy: ThresholdPolicy) -> Thresholds:
    """The thresholds of `policy` on validation scores, split by their masks (`metrics._pass.SplitScores`), and
    the rates they reach there.

    Args:
        split: the validation maps' scores.
        labels: (N,) 1 for a defective validation image.
        policy: how to choose them.

    Raises:
        InputError: a rule that needs defective validation images without them, or one that needs normal ones.
    """
    from ..metrics.precision import image_f1_max

    scores = split.image_scores.astype(np.float32)
    normal = scores[labels == 0]
    defective = scores[labels == 1]
    rule = policy.image_rule
    if rule in ("far", "f1_adaptive") and defective.size == 0:
        flag = "--far" if rule == "far" else "--f1-adaptive"
        raise InputError(
            f"{flag} needs defective validation images (VAL_MASKS with anomalous masks), but the validation set has "
            "only normal ones: give their masks, or choose the threshold at a validation FRR with --frr"
        )
    if normal.size == 0 and (rule == "frr" or policy.soft_frr is not None):
        raise InputError("--frr and --soft-frr need normal validation images, but the validation set has none")
    try:
        if rule == "frr":
            image = threshold_at_frr(normal, float(policy.frr or 0.0))
        elif rule == "far":
            image = threshold_at_far(defective, float(policy.far or 0.0))
        elif rule == "f1_adaptive":
            image = image_f1_max(scores, labels).threshold
        else:
            image = float(np.float32(policy.manual))
        soft = None if policy.soft_frr is None else threshold_at_frr(normal, policy.soft_frr)
        if soft is not None and soft > image:
            raise InputError(
                f"the soft threshold ({soft:.6g}, at --soft-frr {policy.soft_frr:g}) is above the hard one "
                f"({image:.6g}): give a larger --soft-frr or another hard rule"
            )
        pixel, pixel_rates = _pixel_threshold(split, policy)
    except MetricInputError as error:
        raise InputError(str(error)) from error
    rates: dict[str, float | None] = {"image_frr": None, "image_soft_frr": None, "image_far": None}
    if normal.size:
        rates["image_frr"] = float(np.mean(normal >= np.float32(image)))
        if soft is not None:
            rates["image_soft_frr"] = float(np.mean(normal >= np.float32(soft)))
    if defective.size:
        rates["image_far"] = float(np.mean(defective < np.float32(image)))
    rates.update(pixel_rates)
    validation = {
        "num_images": int(labels.size),
        "num_normal": int(normal.size),
        "num_anomalous": int(defective.size),
        "num_normal_pixels": int(sum(values.size for values in split.normal)),
        "rates": rates,
    }
    return Thresholds(image, soft, pixel, policy, validation)


def _pixel_threshold(split: SplitScores, policy: ThresholdPolicy) -> tuple[float | None, dict[str, float | None]]:
    """The pixel threshold of `policy` over every validation normal pixel, and the pixel FPR it reaches there."""
    if policy.pixel == "none":
        return None, {"pixel_fpr": None}
    normal = [values for values in split.normal if values.size]
    if not normal:
        raise InputError("a pixel threshold needs normal validation pixels, but every validation pixel is anomalous")
    if policy.pixel == "mean+3std":
        moments = EMPTY_MOMENTS
        for values in normal:
            moments = moments.merge(moments_of(values, is_sorted=True))
        std = math.sqrt(moments.m2 / moments.count)  # ddof = 0, as MVTec AD 2's baseline
        threshold = float32_at_or_above(moments.mean + 3.0 * std)
    else:
        threshold = threshold_at_frr(np.concatenate(normal), float(policy.pixel_fpr or 0.0))
    above = sum(values.size - int(np.searchsorted(values, np.float32(threshold), side="left")) for values in normal)
    return threshold, {"pixel_fpr": above / sum(values.size for values in normal)}


def write_thresholds(thresholds: Thresholds, path: Path, *, overwrite: bool, inputs: list[Path]) -> Path:
    """Write ``thresholds.json`` atomically (a temporary file, then a rename).

    Raises:
        InputError: `path` exists without `overwrite`, or is not a thresholds file of this tool (only those are
            replaced), or is an input; or writing failed (then nothing was changed).
    """
    from ..report.atomic import write_file_atomically
    from ..report.manifest import refuse_unsafe_target
    from ..report.writers import json_text

    path = Path(os.path.abspath(path))
    refuse_unsafe_target(path, inputs, option="--out")
    if path.exists():
        if path.is_dir() or not overwrite:
            raise InputError(f"--out {path} already exists; pass --overwrite to replace it, or choose another --out")
        Thresholds.load(path)  # refuses to replace a file that is not ours
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, json_text(thresholds.to_json()).encode("utf-8"))
    except OSError as error:
        raise InputError(
            f"could not write {path} ({error.strerror or error}); nothing was changed: free disk space, fix the "
            "permissions, or choose another --out"
        ) from error
    return path


def refuse_overlap(val_maps: Path, test_maps: Path) -> None:
    """Refuse validation maps that are, hold or lie inside the test maps: thresholds are never chosen on the test
    set.

    Raises:
        InputError: naming both folders.
    """
    val, test = Path(os.path.abspath(val_maps)), Path(os.path.abspath(test_maps))
    if val == test or val in test.parents or test in val.parents:
        raise InputError(
            f"the validation maps {val} overlap the test maps {test}: thresholds chosen on test images would be "
            "optimistic. Pass held-out validation maps (e.g. <category>/validation), never the test set"
        )


def common_mask_shape(masks_root: Path) -> tuple[int, int] | None:
    """The resolution shared by every mask under `masks_root` (read from their headers), or None if they differ
    or there are none."""
    from ..io.readers import MASK_EXTENSIONS, read_image_size

    shapes = {
        read_image_size(path)
        for path in sorted(masks_root.rglob("*"))
        if path.is_file() and path.suffix.lower() in MASK_EXTENSIONS and not path.name.startswith(".")
    }
    return shapes.pop() if len(shapes) == 1 else None


def calibrate_folders(
    val_maps: Path,
    val_masks: Path | None,
    policy: ThresholdPolicy,
    *,
    default_shape: tuple[int, int] | None = None,
    resolution_source: str = "",
    val_images: Path | None = None,
    normal_dirs: tuple[str, ...] | None = None,
    max_memory_bytes: int | None = None,
) -> Thresholds:
    """Load a validation set and choose its thresholds (`calibrate_split`).

    Args:
        val_maps: the validation maps; without `val_masks`, every one is a normal image.
        val_masks: their masks, mirroring them, or None.
        policy: how to choose the thresholds.
        default_shape: the resolution of mask-less validation maps (the test masks' common one), unless
            `val_images` gives each its own.
        resolution_source: where `default_shape` came from, for ``thresholds.json``.
        val_images: the validation images, whose headers give each map's full resolution.
        normal_dirs: normal folder names, when `val_masks` is given.
        max_memory_bytes: refuse a set that would not fit, before reading its maps.

    Raises:
        InputError: bad input, or a resolution that cannot be known.
    """
    from ..io.discovery import DEFAULT_NORMAL_DIRS, find_normal_maps, find_pairs
    from ..io.loader import load_category
    from ..metrics._pass import split_from_flats
    from .evaluate import input_fingerprint, memory_guard, split_while_loading

    if val_masks is not None:
        pairs = find_pairs(val_maps, val_masks, normal_dirs or DEFAULT_NORMAL_DIRS)
    else:
        pairs = find_normal_maps(val_maps)
    if val_masks is None and default_shape is None and val_images is None:
        raise InputError(
            f"the validation maps in {val_maps} have no masks, so their full resolution is unknown: give the test "
            "masks' resolution (--resolution HxW or --test-masks DIR), or the validation images (--val-images DIR)"
        )
    loaded = load_category(
        pairs,
        images_root=val_images,
        before_maps=memory_guard(max_memory_bytes),
        max_decoded_bytes=max_memory_bytes,
        after_map=split_while_loading(),
        default_shape=None if val_images is not None else default_shape,
        compact_masks=True,
    )
    labels = np.array([int(mask.any()) for mask in loaded.masks], dtype=np.int32)
    split = split_from_flats(
        [amap.reshape(-1) for amap in loaded.maps],
        [num for num, _ in loaded.after_map_results],
        loaded.masks,
        np.array([score for _, score in loaded.after_map_results], dtype=np.float64),
    )
    thresholds = calibrate_split(split, labels, policy)
    fingerprint, num_files = input_fingerprint(val_maps, val_masks or val_maps, loaded.pairs, loaded.file_digests)
    if val_masks is not None:
        resolution = "the validation masks'"
    elif val_images is not None:
        resolution = f"each validation image's ({os.path.abspath(val_images)})"
    else:
        resolution = resolution_source or (f"{default_shape[0]}x{default_shape[1]}" if default_shape else "")
    validation = {
        "maps": os.path.abspath(val_maps),
        "masks": None if val_masks is None else os.path.abspath(val_masks),
        "fingerprint": fingerprint,
        "num_files": num_files,
        "resolution": resolution,
        **thresholds.validation,
    }
    return Thresholds(thresholds.image, thresholds.soft, thresholds.pixel, policy, validation)
