"""The numba backend fills a scatter's view with the `copy_into` loop helper, not a slice
assignment (which Numba compiled in 3-3.5 s per rank); the values must not change.

Reference: NumPy's own slice assignment into zeros (the VJP of x[index] is that scatter).
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

pytest.importorskip("numba")

# (shape, index): steps, negative bounds, ints dropping axes, a new axis, 1-3 dimensions
CASES = [
    ((6,), np.s_[1:]),
    ((6,), np.s_[:-1]),
    ((7,), np.s_[::-2]),
    ((5, 4), np.s_[:, :-1]),
    ((5, 4), np.s_[1:4, 2]),
    ((3, 4, 5), np.s_[1:, ::2, -1]),
    ((4, 3), np.s_[None, 2:, :]),
    ((4, 3), np.s_[2, 1]),  # one element: stays an element assignment
]


def test_scatter_through_copy_into_matches_numpy() -> None:
    rng = np.random.default_rng(7)
    inputs, outputs, arrays, weights = [], [], [], []
    for number, (shape, index) in enumerate(CASES):
        x = gc.input(f"x{number}", shape=shape)
        weight = rng.standard_normal(np.zeros(shape)[index].shape)
        w = gc.input(f"w{number}", shape=weight.shape)
        inputs += [x, w]
        outputs.append(gc.grad(gc.sum(x[index] * w), x))  # = scatter of w at index
        arrays += [rng.standard_normal(shape), weight]
        weights.append(weight)
    f = gc.compile(inputs, outputs, verbose=False)
    got = f(*arrays)
    for (shape, index), weight, value in zip(CASES, weights, got):
        expected = np.zeros(shape)
        expected[index] = weight
        np.testing.assert_array_equal(value, expected)
    assert "copy_into(" in f.source
    assert "[2, 1] = " in f.source  # the single element is assigned directly
