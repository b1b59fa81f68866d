"""Shared fixtures: the reference cases copied from the project's shared reference folder into tests/data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
REFERENCE_CASES = ("tiff", "npy_ties")


def load_case(name: str) -> tuple[dict[str, np.ndarray], dict]:
    arrays = np.load(DATA / name / "arrays.npz")
    expected = json.loads((DATA / name / "expected.json").read_text())
    return {key: arrays[key] for key in arrays.files}, expected


@pytest.fixture(params=REFERENCE_CASES)
def reference_case(request: pytest.FixtureRequest) -> tuple[str, dict[str, np.ndarray], dict]:
    arrays, expected = load_case(request.param)
    return request.param, arrays, expected
