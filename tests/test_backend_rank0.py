"""Rank-0 values in generated code: reductions to a scalar, squeezes to rank 0, sum_to.

A rank-0 value is a scalar variable in generated code; a store `t18[] = ...`
was a SyntaxError (issue 12, item 3: the forward-mode derivative of
Rosenbrock). References: the NumPy backend (graphc/interpret.py, independent
of code generation), an analytic derivative, and Python's own parser.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backend.lower import lower
from graphc.ops.shape import sum_to


def rosenbrock(x: Any) -> Any:
    return gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_forward_mode_rosenbrock_compiles_and_matches_the_analytic_derivative() -> None:
    x = gc.input("x", shape=("n",))
    v = gc.input("v", shape=("n",))
    tangent = gc.jvp(rosenbrock(x), x, v)
    f = gc.compile([x, v], tangent)
    ast.parse(f.source)
    point = np.array([0.3, -1.2, 0.8, 1.5, -0.4])
    direction = np.array([1.0, 0.5, -2.0, 0.25, 3.0])
    a, b = point[:-1], point[1:]
    gradient = np.zeros_like(point)  # d/dx of the Rosenbrock sum, by hand
    gradient[:-1] += -400 * a * (b - a ** 2) - 2 * (1 - a)
    gradient[1:] += 200 * (b - a ** 2)
    got = f(point, direction)
    np.testing.assert_allclose(got, gradient @ direction, rtol=1e-12)
    np.testing.assert_allclose(got, gc.compile([x, v], tangent, backend="numpy")(point, direction),
                               rtol=1e-12)


PIECES = ("sum", "max", "mean", "squeeze11", "sum_to1", "scalar_broadcast")


def piece(kind: str, t: Any, s: Any) -> Any:
    """A rank-0 value of `t` (shape (n, 3)) and the scalar input `s`, by one route to rank 0."""
    if kind == "sum":
        return gc.sum(t) * s
    if kind == "max":
        return gc.max(t) + s
    if kind == "mean":
        return gc.mean(t * s)
    if kind == "squeeze11":  # (1, 1) -> rank 0
        return gc.squeeze(gc.sum(t * s, axis=(0, 1), keepdims=True), axis=(0, 1))
    if kind == "sum_to1":  # (n,) -> (1,) -> rank 0
        return gc.squeeze(sum_to(gc.sum(t, axis=1) * s, (1,)), axis=0)
    # the scalar broadcast through expand_dims: its gradient is a sum_to (1, 1) + squeeze
    return gc.sum(t * gc.expand_dims(gc.expand_dims(s, 0), 0))


@st.composite
def rank0_graphs(draw: Any) -> tuple[list[Any], list[Any]]:
    x = gc.input("x", shape=("n", 3))
    s = gc.input("s", shape=())
    t = x
    for name in draw(st.lists(st.sampled_from(("sin", "tanh", "square", "exp")), max_size=2)):
        t = getattr(gc, name)(t)
    kinds = draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=4))
    values = [piece(kind, t, s) for kind in kinds]
    loss = values[0]
    for value in values[1:]:
        loss = loss + value
    outputs = [loss, *values[:1], *gc.grad(loss, [x, s])]
    if draw(st.booleans()):
        outputs.append(gc.jvp(loss, s, gc.constant(1.0)))
    return [x, s], outputs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rank0_graphs(), st.booleans())
def test_every_generated_module_parses(graph: tuple[list[Any], list[Any]], simplified: bool) -> None:
    inputs, outputs = graph
    if simplified:
        outputs = list(gc.simplify(outputs))
    ast.parse(lower(inputs, outputs).generated.source)  # code generation only: no Numba


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rank0_graphs())
def test_generated_code_matches_the_numpy_backend(graph: tuple[list[Any], list[Any]]) -> None:
    inputs, outputs = graph
    x = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    s = np.array(0.7)
    want = gc.compile(inputs, outputs, backend="numpy")(x, s)
    got = gc.compile(inputs, outputs)(x, s)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
