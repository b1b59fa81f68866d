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


def invoke(app: object, *args: object) -> tuple[int, str, str]:
    """Run a typer app in-process: (exit code, stdout, stderr); an unexpected exception is re-raised."""
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [str(a) for a in args])  # type: ignore[arg-type]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr
