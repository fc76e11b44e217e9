"""Slicing a symbolic axis: the size n[1:] is computed from n, on both backends."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc
from graphc import shapes


def test_slice_length_source_matches_slice_indices() -> None:
    starts, stops, steps = [None, 0, 1, 2, 5, -1, -3, -7], [None, 0, 1, 3, 6, -1, -2, -8], [None, 1, 2, -1, -2]
    for start, stop, step in itertools.product(starts, stops, steps):
        length = shapes.Slice(shapes.Dim.named("n"), start, stop, step)
        for n in range(9):
            expected = len(range(*slice(start, stop, step).indices(n)))
            assert eval(length.source("n"), {"n": n}) == expected, (start, stop, step, n)  # noqa: S307
            assert length.resolve({"n": n}) == expected


def test_equal_slices_are_equal_sizes_and_print_readably() -> None:
    x = gc.input("x", shape=("n", 3))
    assert x[1:].shape == x[1:, :].shape
    assert str(x[1:].shape[0]) == "n-1" and str(x[1:-2].shape[0]) == "n-3"
    assert str(x[::2].shape[0]) == "n[::2]" and repr(x[::2].shape[0]) == "Dim('n[::2]')"
    assert x[::2].shape[0] != x[1:].shape[0]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_slices_of_a_symbolic_axis_and_their_gradients(backend: str) -> None:
    x = gc.input("x", shape=("n",))
    differences = x[1:] - x[:-1]
    outputs = [x[1:] * 2.0, differences, x[::-2], gc.grad(x[1:].sum(), x),
               gc.grad(gc.sum(differences ** 2), x)]
    f = gc.compile([x], outputs, backend=backend)
    for n in (1, 2, 5):
        v = np.arange(float(n)) ** 2
        got = f(v)
        first = np.zeros(n)
        first[1:] = 1
        d = np.diff(v)
        second = np.zeros(n)
        second[1:] += 2 * d
        second[:-1] -= 2 * d
        for actual, expected in zip(got, [v[1:] * 2, d, v[::-2], first, second]):
            np.testing.assert_allclose(actual, expected)


def test_unequal_slices_are_rejected_at_call_time() -> None:
    x = gc.input("x", shape=("n",))
    y = gc.input("y", shape=("m",))
    f = gc.compile([x, y], x[1:] + y[2:], backend="numpy")
    np.testing.assert_allclose(f(np.ones(4), np.ones(5)), 2 * np.ones(3))
    with pytest.raises(gc.InputError, match=r"n-1"):
        f(np.ones(4), np.ones(4))
