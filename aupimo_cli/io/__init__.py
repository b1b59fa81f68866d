"""The input layer: discovery and pairing of maps and masks, readers, resizing, and loading a category."""

from __future__ import annotations

from .discovery import DEFAULT_NORMAL_DIRS, ImagePair, find_pairs
from .loader import LoadedCategory, load_category, target_shapes
from .readers import IMAGE_EXTENSIONS, MAP_EXTENSIONS, MASK_EXTENSIONS, read_image_size, read_map, read_mask
from .resize import resize_bilinear

__all__ = [
    "DEFAULT_NORMAL_DIRS",
    "IMAGE_EXTENSIONS",
    "MAP_EXTENSIONS",
    "MASK_EXTENSIONS",
    "ImagePair",
    "LoadedCategory",
    "find_pairs",
    "load_category",
    "read_image_size",
    "read_map",
    "read_mask",
    "resize_bilinear",
    "target_shapes",
]
