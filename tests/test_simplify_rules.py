"""One golden before/after graph per simplifier rule, plus each rewrite's values.

Each case builds a small graph, simplifies it, and checks three things:
- the printed graph before and after matches tests/golden/simplify/<case>.txt
  (to regenerate after an intended change: GRAPHC_UPDATE_GOLDEN=1 pytest
  tests/test_simplify_rules.py, then review the diff);
- the rule the case is named for fired (from the pass trace);
- the simplified graph evaluates (NumPy interpreter) to the original's values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.interpret import evaluate
from graphc.ir import toposort
from graphc.ops.elementwise import times
from graphc.simplify import PassRecord

GOLDEN = Path(__file__).parent / "golden" / "simplify"
UPDATE = os.environ.get("GRAPHC_UPDATE_GOLDEN") == "1"

x = gc.input("x", shape=(3, 4))
y = gc.input("y", shape=(3, 4))
v = gc.input("v", shape=(4,))
s = gc.input("s", shape=())
n = gc.input("n", shape=("n", 4))
labels = gc.input("labels", shape=(3, 4), dtype="int64")
x32 = gc.input("x32", shape=(3, 4), dtype="float32")

Case = tuple[Callable[[], list[gc.Tensor]], str, bool]  # graph, rule expected, fast_math

CASES: dict[str, Case] = {
    "add_identity": (lambda: [x + 0], "add_identity", False),
    "add_identity_left": (lambda: [0.0 + x], "add_identity", False),
    "subtract_identity": (lambda: [x - 0], "subtract_identity", False),
    "multiply_identity": (lambda: [x * 1], "multiply_identity", False),
    "multiply_identity_broadcasts": (lambda: [v * np.ones((3, 4))], "multiply_identity", False),
    "multiply_identity_float32": (lambda: [x32 * 1.0], "multiply_identity", False),
    "divide_identity": (lambda: [x / 1], "divide_identity", False),
    "power_zero": (lambda: [x ** 0], "power_zero", False),
    "multiply_identity_scalar_times_ones": (lambda: [1 * gc.broadcast_to(gc.constant(1.0), (3, 4)) * x],
                                             "multiply_identity", False),
    "power_one": (lambda: [x ** 1], "power_one", False),
    "power_two": (lambda: [x ** 2], "power_two", False),
    "times_minus_one": (lambda: [-1 * x], "times_minus_one", False),
    "negative_involution": (lambda: [gc.negative(gc.negative(x))], "negative_involution", False),
    "zero_minus": (lambda: [0 - x], "zero_minus", False),
    "add_negative": (lambda: [-y + x], "add_negative", False),
    "subtract_negative": (lambda: [x - (-y)], "subtract_negative", False),
    "negative_times_constant": (lambda: [-x * 3.0], "negative_times_constant", False),
    "negate_product_with_constant": (lambda: [-(x * 3.0)], "negate_product_with_constant", False),
    "negate_quotient_by_constant": (lambda: [-(x / 3.0)], "negate_quotient_by_constant", False),
    "sum_of_sum": (lambda: [gc.sum(gc.sum(x, axis=1), axis=0)], "sum_of_sum", False),
    "mean_of_sum": (lambda: [gc.mean(gc.sum(x, axis=1))], "mean_of_sum", False),
    "divide_by_power_of_two": (lambda: [x / 4, x32 / 0.5], "divide_by_power_of_two", False),
    "log_exp": (lambda: [gc.log(gc.exp(x))], "log_exp", False),
    "exp_log_known_positive": (lambda: [gc.exp(gc.log(gc.softplus(x)))], "exp_log", False),
    "exp_log_fast_math": (lambda: [gc.exp(gc.log(x))], "exp_log_fast", True),
    "multiply_absorbing_fast_math": (lambda: [x * 0 + y], "multiply_absorbing", True),
    "subtract_self_fast_math": (lambda: [gc.exp(x) - gc.exp(x)], "subtract_self", True),
    "divide_self_fast_math": (lambda: [y * (x / x)], "divide_self", True),
    "where_same": (lambda: [gc.where(x > 0, y, y)], "where_same", False),
    "transpose_transpose": (lambda: [gc.transpose(gc.transpose(x)) + y,
                                     gc.transpose(gc.transpose(gc.reshape(x, (2, 3, 2)),
                                                               (1, 0, 2)), (0, 2, 1))],
                            "transpose_transpose", False),
    "reshape_reshape": (lambda: [gc.reshape(gc.reshape(x, (2, 6)), (4, 3))],
                        "reshape_reshape", False),
    "broadcast_broadcast": (lambda: [gc.broadcast_to(gc.broadcast_to(v, (3, 4)), (2, 3, 4))],
                            "broadcast_broadcast", False),
    "squeeze_expand": (lambda: [gc.squeeze(gc.expand_dims(x, 1), 1)], "squeeze_expand", False),
    "sum_of_broadcast": (lambda: [gc.sum(gc.broadcast_to(s, (3, 4)), axis=0) + gc.sum(x)],
                         "sum_of_broadcast", False),
    "sum_to_of_broadcast": (lambda: [gc.ops.sum_to(gc.broadcast_to(v, (3, 4)), (4,))],
                            "sum_to_of_broadcast", False),
    "ones_like_seed": (lambda: [x * gc.ones_like(x)], "multiply_identity", False),
    "zeros_like": (lambda: [gc.zeros_like(n) + gc.ones_like(n)], "zeros_like", False),
    "uniform_shape": (lambda: [n * gc.broadcast_to(gc.expand_dims(gc.constant([2.0]), 0),
                                                   ("n", 4))], "uniform_shape", False),
    "single_element_shape": (lambda: [n * gc.broadcast_to(gc.expand_dims(gc.expand_dims(s, 0),
                                                                         1), ("n", 4))],
                             "single_element_shape", False),
    "elementwise_broadcast": (lambda: [x + gc.broadcast_to(v, (3, 4))],
                              "elementwise_broadcast", False),
    "no_nan_nonzero": (lambda: [times(gc.constant(2.0), gc.log(x))], "no_nan_nonzero", False),
    # sigmoid of a finite value is finite (sigmoid of an input could be NaN: not this rule)
    "no_nan_known_finite": (lambda: [times(gc.log(x), gc.sigmoid(gc.astype(labels, "float64")))],
                            "no_nan_known_finite", False),
    "no_nan_zero": (lambda: [times(gc.zeros_like(x), gc.log(y))], "no_nan_zero", False),
    "cse": (lambda: [gc.sigmoid(x) * gc.sigmoid(x)], "merged", False),
    "fold_constants": (lambda: [x * (gc.constant(2.0) + gc.exp(gc.constant([1.0, 2.0, 3.0, 4.0])))],
                       "folded", False),
    "stabilize_joint_graph": (lambda: [gc.sum(gc.log(gc.softmax(x)) * y)], "log_softmax", False),
    "scatter_new_axes": (lambda: gc.grad(gc.sum(gc.exp(v[:, None])), [v]), "scatter_new_axes", False),
    "squeeze_sum_to": (lambda: [gc.squeeze(gc.ops.sum_to(x, (3, 1)), 1)], "squeeze_sum_to", False),
    "gradient_seed": (lambda: gc.grad(gc.sum(gc.exp(x) * y), [x]), "no_nan_nonzero",
                      False),
}

FEED_SHAPES = {"x": (3, 4), "y": (3, 4), "v": (4,), "s": (), "n": (5, 4), "x32": (3, 4), "labels": (3, 4)}


def feed(outputs: list[gc.Tensor]) -> dict[gc.Tensor, np.ndarray]:
    rng = np.random.default_rng(0)
    leaves = [node for node in toposort(outputs) if node.op.name == "input"]
    return {leaf: rng.uniform(0.5, 2.0, FEED_SHAPES[str(leaf.name)]).astype(leaf.dtype)
            for leaf in leaves}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule(case: str) -> None:
    build, expected_rule, fast_math = CASES[case]
    before = build()
    records: list[PassRecord] = []
    after = gc.simplify(before, fast_math=fast_math, trace=records)
    fired = {name for record in records for name in record.rewrites}
    assert expected_rule in fired, f"{expected_rule} did not fire; fired: {sorted(fired)}"
    text = (f"# {case}{' (fast_math)' if fast_math else ''}\nbefore:\n"
            f"{gc.format_graph(before)}\n\nafter:\n{gc.format_graph(after)}\n")
    path = GOLDEN / f"{case}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with GRAPHC_UPDATE_GOLDEN=1"
    assert text == path.read_text()
    for old, new in zip(before, after):
        assert (old.shape, old.dtype) == (new.shape, new.dtype)
    values = feed(before)
    expected = evaluate(before, values, {"n": 5})
    got = evaluate(after, {k: a for k, a in values.items() if k in toposort(after)}, {"n": 5})
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want, rtol=1e-6 if have.dtype == np.float32 else 1e-12)


def test_inexact_reciprocal_is_left_alone() -> None:
    after = gc.simplify(x / 3)
    assert after.op.name == "divide"


def test_ieee_rules_wait_for_fast_math() -> None:
    for graph in (x * 0, x - x, gc.exp(gc.log(x)), x / x):
        assert gc.simplify(graph) is graph


def test_x_times_zero_keeps_nan_without_fast_math() -> None:
    after = gc.simplify(gc.sum(x * 0))
    (value,) = evaluate([after], {x: np.full((3, 4), np.inf)})
    assert np.isnan(value)


def test_a_replacement_that_would_widen_the_dtype_is_rejected() -> None:
    # int32 * 1.0 is float64: the int32 x cannot stand for it.
    i = gc.input("i", shape=(3,), dtype="int32")
    graph = i * 1.0
    after = gc.simplify(graph)
    assert after.dtype == np.float64 and after.op.name == "multiply"


def test_weak_scalar_result_keeps_float32() -> None:
    after = gc.simplify((x32 * 2.0 - x32 * 2.0) * 1, fast_math=True)
    assert after.dtype == np.float32 and after.shape == (3, 4)
    np.testing.assert_array_equal(evaluate([after], {x32: np.ones((3, 4), np.float32)})[0], 0)


def test_bounded_functions_of_possibly_nan_inputs_keep_the_nan_guard() -> None:
    """sin(inf) and sigmoid(NaN) are NaN: times(g, sin(t)) must stay NaN-safe (review bug)."""
    a, t = gc.input("a", shape=(2,)), gc.input("t", shape=(2,))
    gradient = gc.grad(gc.sum(gc.where(a > 0, a * gc.sin(t), 0.0)), a)
    for simplify in (False, True):
        f = gc.compile([a, t], gradient, backend="numpy", simplify=simplify)
        np.testing.assert_allclose(f(np.array([-1.0, 1.0]), np.array([np.inf, 0.5])),
                                   [0.0, np.sin(0.5)])
