"""AUPRO (MVTec AD's official AU-PRO), and every pixel metric of the shared pass by key.

AUPRO follows the official MVTec AD evaluation code to the letter:

- regions are the 8-connected components of each mask (structure ``ones((3, 3))``), never merged across
  images;
- sorting every pixel by score, descending, a normal pixel adds 1 / (number of normal pixels) to the FPR
  and a pixel of region r adds 1 / (|r| * R) to the PRO, where R counts the regions of the whole set;
- one curve point per distinct score, (0, 0) prepended and (1, 1) appended, both rates clipped at 1;
- trapezoid rule up to the FPR limit U, interpolating linearly at U, divided by U.

FPR is accumulated in float64 (the official code keeps it in float32, so the two may differ by ~1e-6).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ._inputs import MapsLike, MasksLike, validate_pair
from ._pass import PixelPass, pixel_pass

DEFAULT_FPR_LIMITS: tuple[float, ...] = (0.3, 0.05)


def percent_suffix(rate: float) -> str:
    """A rate as a key suffix: 100 * rate as a two-digit whole percent where it is one (``05`` for 0.05,
    ``30`` for 0.3), else the percent with ``p`` for the decimal point (``0p5`` for 0.005)."""
    percent = round(rate * 100, 9)
    if percent == int(percent):
        return f"{int(percent):02d}"
    return format(percent, "g").replace(".", "p")


def aupro_key(fpr_limit: float) -> str:
    """Summary key of an AUPRO limit: ``aupro_30`` for 0.3, ``aupro_05`` for 0.05, ``aupro_0p5`` for 0.005
    (`percent_suffix`)."""
    return "aupro_" + percent_suffix(fpr_limit)


def pixel_pass_values(result: PixelPass, fpr_limits: Sequence[float]) -> dict[str, float]:
    """The pixel metrics of a pass by summary key: ``pixel_auroc``, one ``aupro_<pct>`` per limit, ``pixel_ap``,
    ``pixel_f1max`` and ``pixel_f1max_threshold``."""
    values = {"pixel_auroc": result.auroc}
    for limit, value in zip(fpr_limits, result.aupros, strict=True):
        values[aupro_key(limit)] = float(value)
    values["pixel_ap"] = result.average_precision
    values["pixel_f1max"] = result.f1_max
    values["pixel_f1max_threshold"] = result.f1_max_threshold
    return values


def pixel_metrics(
    maps: MapsLike, masks: MasksLike, fpr_limits: Sequence[float] = DEFAULT_FPR_LIMITS
) -> dict[str, float]:
    """Every pixel metric from one sort and one walk: AUROC, AUPRO at each FPR limit, AP and F1max.

    Args:
        maps: anomaly maps, float or integer, (N, H, W), (N, 1, H, W) or a sequence of N 2-D arrays (shapes
            may differ per image); higher = more anomalous.
        masks: ground truth with the same shapes, bool or integer; nonzero = anomalous.
        fpr_limits: FPR limits U of the AUPRO integrals, each in (0, 1].

    Returns:
        ``{"pixel_auroc", "aupro_30", "aupro_05", "pixel_ap", "pixel_f1max", "pixel_f1max_threshold"}`` for
        the default limits; the key of each limit is given by `aupro_key`.

    Raises:
        MetricInputError: invalid shapes or dtypes, a non-finite score, no anomalous or no normal pixel.

    Examples:
        >>> maps = np.array([[[0.1, 0.9], [0.2, 0.3]], [[0.1, 0.2], [0.3, 0.4]]], dtype=np.float32)
        >>> masks = np.array([[[0, 1], [0, 0]], [[0, 0], [0, 0]]])
        >>> values = pixel_metrics(maps, masks)
        >>> values["pixel_auroc"], values["aupro_30"], values["pixel_ap"], values["pixel_f1max"]
        (1.0, 1.0, 1.0, 1.0)
    """
    return pixel_pass_values(pixel_pass(*validate_pair(maps, masks), fpr_limits), fpr_limits)


def aupro(maps: MapsLike, masks: MasksLike, fpr_limit: float = 0.3) -> float:
    """Area under the PRO curve up to `fpr_limit`, divided by `fpr_limit` (MVTec AD's AU-PRO).

    See `pixel_metrics` for the arguments; use it directly to get several limits from one pass.

    Examples:
        >>> maps = np.array([[[0.1, 0.9], [0.95, 0.3]]], dtype=np.float32)
        >>> round(aupro(maps, np.array([[[0, 1], [0, 0]]]), fpr_limit=1.0), 6)
        0.666667
    """
    return float(pixel_pass(*validate_pair(maps, masks), (fpr_limit,)).aupros[0])


def pro_curve(maps: MapsLike, masks: MasksLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The PRO curve, as in the official MVTec AD evaluation.

    Returns:
        (fpr, pro): float64 arrays of the same length, one point per distinct score in descending score
        order (so ascending FPR), with (0, 0) first and (1, 1) last.
    """
    result = pixel_pass(*validate_pair(maps, masks), (), record_curve=True)
    return result.curve_fpr, result.curve_pro
