"""Hypothesis: on random graphs built from the op registry, simplify keeps values,
is idempotent and does not grow the graph.

The reference is the NumPy interpreter on the unsimplified graph. Values are
compared where the original is finite: stabilization may legitimately turn an
overflowed inf into the right finite number, never the other way round.
Node counts are op nodes (inputs and constants excluded); stabilization may
trade one log for a negation pair (log σ(z) -> -softplus(-z)), which the
count allows for explicitly.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.interpret import evaluate
from graphc.ir import OPS, toposort
from graphc.printing import format_graph
from graphc.simplify import PassRecord

SHAPE = (2, 3)
UNARY = sorted(name for name, op in OPS.items()
               if op.elementwise and op.arity == 1 and name not in ("astype", "sign")
               and not any(sample.attrs for sample in op.samples))  # polygamma needs its n
BINARY = sorted(name for name, op in OPS.items()
                if op.elementwise and op.arity == 2 and op.dtype(
                    (gc.constant(1.0), gc.constant(1.0))).kind == "f")
CONSTANTS = [0, 1, 2, -1, 0.5, 4.0]
GROWING_RULES = ("log_sigmoid", "log_one_minus_sigmoid")


def op_count(outputs: list[gc.Tensor]) -> int:
    return sum(1 for node in toposort(outputs) if node.inputs)


@st.composite
def random_graph(draw: st.DrawFn) -> tuple[list[gc.Tensor], dict[gc.Tensor, np.ndarray]]:
    dtype = draw(st.sampled_from(["float64", "float32"]))
    a = gc.input("a", shape=SHAPE, dtype=dtype)
    b = gc.input("b", shape=SHAPE, dtype=dtype)
    row = gc.input("row", shape=(SHAPE[1],), dtype=dtype)
    pool = [a, b, row]
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["unary", "binary", "constant", "shape", "reduce", "grad"]))
        first = draw(st.sampled_from(pool))
        try:
            node = build(draw, kind, first, pool)
        except gc.ShapeError:
            continue  # operands that do not broadcast together: draw another op
        if node.dtype.kind == "f" and node.ndim <= 3:
            pool.append(node)
    outputs = pool[3:] or [a * 1]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = {a: rng.uniform(0.3, 1.5, SHAPE), b: rng.uniform(-1.5, 1.5, SHAPE),
              row: rng.uniform(0.3, 1.5, SHAPE[1:])}
    return outputs[-3:], {k: v.astype(dtype) for k, v in values.items()}


def build(draw: st.DrawFn, kind: str, first: gc.Tensor, pool: list[gc.Tensor]) -> gc.Tensor:
    """One random op on nodes of the pool."""
    if kind == "unary":
        return gc.ir.apply(OPS[draw(st.sampled_from(UNARY))], first)
    if kind == "binary":
        return gc.ir.apply(OPS[draw(st.sampled_from(BINARY))], first, draw(st.sampled_from(pool)))
    if kind == "constant":
        value = draw(st.sampled_from(CONSTANTS))
        op = draw(st.sampled_from(["add", "subtract", "multiply", "divide", "power"]))
        return gc.ir.FUNCTIONS[op](*((first, value) if draw(st.booleans()) else (value, first)))
    if kind == "shape":
        return draw(st.sampled_from([
            lambda t: gc.transpose(gc.transpose(t)),
            lambda t: gc.broadcast_to(t, (2,) + t.shape),
            lambda t: gc.reshape(gc.reshape(t, (-1,)), t.shape),
            lambda t: gc.ones_like(t) * t,
            lambda t: gc.zeros_like(t) + t,
        ]))(first)
    if kind == "reduce":
        return gc.sum(first, axis=-1, keepdims=draw(st.booleans()))
    return gc.grad(gc.sum(first), pool[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph())
def test_simplify_keeps_values_is_idempotent_and_shrinks(case: tuple) -> None:
    outputs, values = case
    records: list[PassRecord] = []
    simplified = gc.simplify(outputs, trace=records)
    for old, new in zip(outputs, simplified):
        assert (old.shape, old.dtype) == (new.shape, new.dtype)
    expected = evaluate(outputs, values)
    got = evaluate(simplified, {k: v for k, v in values.items() if k in toposort(simplified)})
    for want, have in zip(expected, got):
        tolerance = 2e-4 if want.dtype == np.float32 else 1e-9
        finite = np.isfinite(want)
        np.testing.assert_allclose(have[finite], want[finite], rtol=tolerance, atol=tolerance)
    assert format_graph(gc.simplify(simplified)) == format_graph(simplified)
    fired = sum(r.rewrites.get(name, 0) for r in records for name in GROWING_RULES)
    assert op_count(simplified) <= op_count(outputs) + 2 * fired


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph())
def test_fast_math_keeps_values_on_finite_inputs(case: tuple) -> None:
    outputs, values = case
    simplified = gc.simplify(outputs, fast_math=True)
    expected = evaluate(outputs, values)
    got = evaluate(simplified, {k: v for k, v in values.items() if k in toposort(simplified)})
    for want, have in zip(expected, got):
        tolerance = 2e-4 if want.dtype == np.float32 else 1e-9
        finite = np.isfinite(want)
        np.testing.assert_allclose(have[finite], want[finite], rtol=tolerance, atol=tolerance)
