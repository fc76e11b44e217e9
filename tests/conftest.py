"""Fixtures shared by the whole test suite.

Keep this file generic: fixtures any test module may want (a seeded random
generator, a one-call "compile and run with the NumPy backend" helper).
Topic-specific helpers belong in their own `tests/<topic>_support.py` module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import graphc as gc


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test, so every test sees the same numbers."""
    return np.random.default_rng(20240611)


def _run_numpy(inputs: Sequence[gc.Tensor], outputs: Any, *values: Any) -> Any:
    return gc.compile(list(inputs), outputs, backend="numpy")(*values)


@pytest.fixture
def run_numpy() -> Callable[..., Any]:
    """`run_numpy([x, y], outputs, x_value, y_value)`: compile with backend="numpy" and call once."""
    return _run_numpy
