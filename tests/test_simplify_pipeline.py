"""The pipeline as a whole: gc.simplify's contract, compile integration, stats,
forward-value sharing in joint graphs, the round cap, and deep graphs.

References: NumPy formulas written by hand for the gradients, and the
unsimplified graph run by the NumPy interpreter.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import special

import graphc as gc
from graphc.interpret import evaluate
from graphc.ir import Graph, toposort
from graphc.simplify import PassRecord, simplify_graph

RNG = np.random.default_rng(7)


def op_names(outputs: list[gc.Tensor]) -> Counter[str]:
    return Counter(node.op.name for node in toposort(outputs) if node.inputs)


def test_returns_the_structure_it_was_given() -> None:
    x = gc.input("x", shape=(3,))
    assert isinstance(gc.simplify(x * 1), gc.Tensor)
    assert isinstance(gc.simplify([x * 1, x + 0]), list)
    assert isinstance(gc.simplify((x * 1,)), tuple)
    assert gc.simplify(x * 1) is x


def test_bad_outputs_are_a_graphc_error() -> None:
    with pytest.raises(gc.GraphcError, match="simplify"):
        gc.simplify(["not a tensor"])


def test_trace_reports_every_pass_with_counts_and_times() -> None:
    x = gc.input("x", shape=(3,))
    records: list[PassRecord] = []
    gc.simplify(gc.exp(x) * 1 + gc.exp(x), trace=records)
    names = [r.name for r in records if r.round == 1]
    assert names == ["cse", "fold_constants", "algebraic", "stabilize", "loops", "cse", "dce"]
    first_cse, algebraic = records[0], records[2]
    assert (first_cse.ops_before, first_cse.ops_after) == (4, 3)  # two exp merged
    assert (algebraic.ops_before, algebraic.ops_after) == (3, 2)  # * 1 gone
    assert all(r.seconds >= 0 for r in records)
    seen: list[str] = []
    gc.simplify(x * 1, trace=lambda record: seen.append(record.name))
    assert seen[:7] == names


def test_round_cap_bounds_the_work() -> None:
    x = gc.input("x", shape=(3,))
    graph = Graph((x,), (gc.log(1 + gc.exp(x) * 1),))
    _, capped = simplify_graph(graph, max_rounds=1)
    assert capped.rounds == 1 and not capped.converged
    _, full = simplify_graph(graph)
    assert full.converged and full.rounds >= 2


def test_compile_simplifies_by_default_and_reports_stats() -> None:
    x = gc.input("x", shape=(2, 3))
    w = gc.input("w", shape=(3,))
    loss = gc.sum(gc.sigmoid(x * w) * 1 + 0)
    f = gc.compile([x, w], [loss, gc.grad(loss, w)], backend="numpy")
    g = gc.compile([x, w], [loss, gc.grad(loss, w)], backend="numpy", simplify=False)
    stats = f.stats["simplify"]
    assert stats["ops_after"] < stats["ops_before"] and stats["converged"]
    assert {"round", "name", "ops_before", "ops_after", "seconds"} <= set(stats["passes"][0])
    assert "simplify" not in g.stats
    xv, wv = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    s = special.expit(xv * wv)
    for got in (f(xv, wv), g(xv, wv)):
        np.testing.assert_allclose(got[0], s.sum())
        np.testing.assert_allclose(got[1], (s * (1 - s) * xv).sum(axis=0))


def test_sigmoid_layer_gradients_match_a_hand_derivation() -> None:
    X = gc.input("X", shape=("n", 3))
    W = gc.input("W", shape=(3, 2))
    y = gc.sum(gc.sigmoid(X @ W))
    outputs = gc.simplify([y, *gc.grad(y, [X, W])])
    xv, wv = RNG.normal(size=(5, 3)), RNG.normal(size=(3, 2))
    s = special.expit(xv @ wv)
    value, dx, dw = evaluate(outputs, {X: xv, W: wv}, {"n": 5})
    ds = s * (1 - s)
    np.testing.assert_allclose(value, s.sum())
    np.testing.assert_allclose(dx, ds @ wv.T)
    np.testing.assert_allclose(dw, xv.T @ ds)
    assert forward_copies(outputs, "sigmoid", "matmul") == 1


def forward_copies(outputs: list[gc.Tensor], op: str, source_op: str) -> int:
    """How many nodes compute op(forward value): 1 when the backward pass reuses it."""
    return sum(1 for node in toposort(outputs)
               if node.op.name == op and node.inputs[0].op.name == source_op)


def mlp_step(activation: str) -> tuple[list[gc.Tensor], list[gc.Tensor]]:
    X = gc.input("X", shape=("n", 4))
    labels = gc.input("labels", shape=("n",), dtype="int64")
    W1, b1 = gc.input("W1", shape=(4, 6)), gc.input("b1", shape=(6,))
    W2, b2 = gc.input("W2", shape=(6, 3)), gc.input("b2", shape=(3,))
    hidden = gc.ir.FUNCTIONS[activation](X @ W1 + b1)
    scores = gc.log(gc.softmax(hidden @ W2 + b2, axis=1))  # stabilized to log_softmax
    loss = -gc.mean(gc.sum(gc.one_hot(labels, 3) * scores, axis=1))
    params = [W1, b1, W2, b2]
    return [X, labels, *params], [loss, *gc.grad(loss, params)]


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_mlp_joint_graph_computes_each_forward_value_once(activation: str) -> None:
    inputs, outputs = mlp_step(activation)
    simplified = gc.simplify(outputs)
    names = op_names(simplified)
    assert forward_copies(simplified, activation, "add") == 1
    assert forward_copies(simplified, "exp", "log_softmax") <= 1  # softmax, for the backward
    assert names["log_softmax"] == 1 and names["softmax"] == 0 and names["log"] == 0
    assert sum(names.values()) < sum(op_names(outputs).values())
    assert gc.simplify(simplified) == simplified  # idempotent: the very same nodes
    values = {inputs[0]: RNG.normal(size=(5, 4)), inputs[1]: RNG.integers(0, 3, size=5)}
    values.update({p: RNG.normal(size=p.shape) for p in inputs[2:]})
    binding = {"n": 5}
    for want, have in zip(evaluate(outputs, values, binding),
                          evaluate(simplified, values, binding)):
        np.testing.assert_allclose(have, want, rtol=1e-10, atol=1e-12)


def test_deep_chain_needs_no_recursion() -> None:
    # 20,000 nodes with Python's default recursion limit of 1,000: every walk is iterative.
    x = gc.input("x", shape=(2,))
    node = x
    for i in range(10_000):
        node = gc.tanh(node) * 1 if i % 2 else node + 0.25
    result = gc.simplify(node)
    assert op_names([result]) == Counter({"tanh": 5000, "add": 5000})
    (value,) = evaluate([result], {x: np.array([0.1, -0.2])})
    expected = np.array([0.1, -0.2])
    for i in range(10_000):
        expected = np.tanh(expected) if i % 2 else expected + 0.25
    np.testing.assert_allclose(value, expected)
