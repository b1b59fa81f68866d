"""Which dataset each category belongs to, for the per-dataset rows of a comparison.

MVTec AD's 15, VisA's 12 and MVTec LOCO AD's 5 categories are known by name; a category found in a dataset
folder of the AUPIMO paper's layout (``mvtec``, ``visa``) or of a folder of benchmark folders takes that folder's
dataset; any other needs ``--dataset-of CATEGORY=NAME``, and is otherwise in ``other``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import InputError

MVTEC_AD = "MVTec AD"
VISA = "VisA"
MVTEC_LOCO = "MVTec LOCO AD"
OTHER = "other"

_MVTEC_AD_CATEGORIES = (
    "bottle cable capsule carpet grid hazelnut leather metal_nut pill screw tile toothbrush transistor wood zipper"
)
_VISA_CATEGORIES = "candle capsules cashew chewinggum fryum macaroni1 macaroni2 pcb1 pcb2 pcb3 pcb4 pipe_fryum"
_MVTEC_LOCO_CATEGORIES = "breakfast_box juice_bottle pushpins screw_bag splicing_connectors"
KNOWN_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(_MVTEC_AD_CATEGORIES.split(), MVTEC_AD),
    **dict.fromkeys(_VISA_CATEGORIES.split(), VISA),
    **dict.fromkeys(_MVTEC_LOCO_CATEGORIES.split(), MVTEC_LOCO),
}
"""MVTec AD's, VisA's and MVTec LOCO AD's categories, by name."""

FOLDER_NAMES: dict[str, str] = {
    "mvtec": MVTEC_AD, "mvtec_ad": MVTEC_AD, "mvtecad": MVTEC_AD, "visa": VISA,
    "mvtec_loco": MVTEC_LOCO, "mvtec_loco_ad": MVTEC_LOCO, "loco": MVTEC_LOCO,
}  # fmt: skip
"""Dataset folder names (any case) of the paper's layout and of common benchmark folders."""


def parse_dataset_of(texts: Sequence[str]) -> dict[str, str]:
    """``--dataset-of CATEGORY=NAME`` texts as {category: dataset}.

    Raises:
        InputError: a text that is not ``CATEGORY=NAME``, or a category given twice.

    Examples:
        >>> parse_dataset_of(["sealed_box=MVTec AD 2", "can=MVTec AD 2"])
        {'sealed_box': 'MVTec AD 2', 'can': 'MVTec AD 2'}
    """
    mapping: dict[str, str] = {}
    for text in texts:
        category, sep, name = text.partition("=")
        category, name = category.strip(), name.strip()
        if not sep or not category or not name:
            raise InputError(f"--dataset-of: expected CATEGORY=NAME such as sealed_box='MVTec AD 2', got {text!r}")
        if category in mapping:
            raise InputError(f"--dataset-of: category {category!r} given twice")
        mapping[category] = name
    return mapping


def dataset_of(category: str, hint: str | None, given: Mapping[str, str]) -> str:
    """The dataset of `category`: `given` (``--dataset-of``), else its known dataset, else its dataset folder's
    (`hint`), else `OTHER`.

    Examples:
        >>> dataset_of("bottle", None, {}), dataset_of("widget", "visa", {}), dataset_of("widget", None, {})
        ('MVTec AD', 'VisA', 'other')
        >>> dataset_of("pushpins", None, {}), dataset_of("splicer", "mvtec_loco", {})
        ('MVTec LOCO AD', 'MVTec LOCO AD')
    """
    if category in given:
        return given[category]
    if category in KNOWN_CATEGORIES:
        return KNOWN_CATEGORIES[category]
    if hint is not None and hint.lower() in FOLDER_NAMES:
        return FOLDER_NAMES[hint.lower()]
    return OTHER
