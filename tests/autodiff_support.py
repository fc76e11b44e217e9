"""Shared helpers for the autodiff tests: the backend fixture, running graphs, finite differences.

Every autodiff test runs its symbolic results through `run(..., backend)`,
so extending `BACKENDS` (e.g. with "numba") re-runs the same test bodies on
another backend. References are computed independently: NumPy formulas,
analytic derivatives, or central differences of the ops' NumPy references.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import graphc as gc

BACKENDS = ["numpy"]


@pytest.fixture(params=BACKENDS, name="backend")
def backend_fixture(request: pytest.FixtureRequest) -> str:
    """The backend a test's symbolic results are compiled with (import this; use `backend`)."""
    return str(request.param)


def run(inputs: Sequence[gc.Tensor], outputs: Sequence[gc.Tensor], values: Sequence[Any],
        backend: str) -> list[np.ndarray]:
    """Compile `outputs` over `inputs` with `backend` and call it once."""
    function = gc.compile(list(inputs), list(outputs), backend=backend)
    return [np.asarray(v) for v in function(*values)]


def numeric_gradient(function: Callable[[np.ndarray], float], point: np.ndarray,
                     eps: float = 1e-6) -> np.ndarray:
    """d function / d point by central differences, entry by entry, in float64."""
    point = np.asarray(point, dtype=np.float64)
    result = np.zeros(point.shape)
    for flat in range(point.size):
        step = np.zeros(point.size)
        step[flat] = eps
        step = step.reshape(point.shape)
        result.reshape(-1)[flat] = (function(point + step) - function(point - step)) / (2 * eps)
    return result


def numeric_jacobian(function: Callable[[np.ndarray], np.ndarray], point: np.ndarray,
                     eps: float = 1e-6) -> np.ndarray:
    """d function / d point with shape f(point).shape + point.shape, by central differences."""
    point = np.asarray(point, dtype=np.float64)
    out_shape = np.shape(function(point))
    result = np.zeros(out_shape + point.shape)
    for flat in range(point.size):
        step = np.zeros(point.size)
        step[flat] = eps
        step = step.reshape(point.shape)
        column = (np.asarray(function(point + step)) - np.asarray(function(point - step))) / (2 * eps)
        index = (Ellipsis,) + np.unravel_index(flat, point.shape)
        result[index] = column
    return result
