"""gc.check_grad and gc.check_node_grads: they pass on correct rules and catch wrong ones.

A deliberately wrong rule is an op declared here (not registered) whose VJP
uses 3a instead of 2a for d(a^2)/da, so the size of its error at each entry
is known in advance and the checkers must point at the right place.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import ir

WRONG_SQUARE = ir.Op(
    "wrong_square", shape=lambda inputs: inputs[0].shape, dtype=lambda inputs: inputs[0].dtype,
    impl=np.square, arity=1, elementwise=True,
    vjp=lambda g, out, a: (g * (3 * a),),  # should be 2a
)

RNG = np.random.default_rng(190204)
X_VALUE, W_VALUE = RNG.standard_normal((3, 3)), RNG.standard_normal((3, 2))
# The wrong rule's error at W[i, j] is |W[i, j]|: largest at W[1, 0].
W_SKEWED = np.array([[0.1, 0.2], [3.0, 0.3], [0.1, -0.1]])


def sigmoid_layer(dtype: str = "float64") -> tuple[gc.Tensor, gc.Tensor, gc.Tensor]:
    X, W = gc.input("X", (3, 3), dtype), gc.input("W", (3, 2), dtype)
    return X, W, gc.sum(gc.sigmoid(X @ W))


def test_check_grad_passes_on_correct_gradients() -> None:
    X, W, y = sigmoid_layer()
    worst = gc.check_grad(y, [X, W], {X: X_VALUE, W: W_VALUE})
    assert 0 <= worst < 1e-8


def test_check_grad_names_the_worst_entry() -> None:
    W = gc.input("W", (3, 2))
    y = gc.sum(ir.apply(WRONG_SQUARE, W))
    with pytest.raises(gc.GradientCheckError) as info:
        gc.check_grad(y, W, {W: W_SKEWED})
    message = str(info.value)
    assert "W[1, 0]" in message
    assert "symbolic 9" in message and "numeric 6" in message  # 3 * 3.0 vs 2 * 3.0
    assert isinstance(info.value, AssertionError) and isinstance(info.value, gc.GraphcError)


def test_check_grad_in_a_larger_graph_names_the_input_and_entry() -> None:
    X, W = gc.input("X", (3, 3)), gc.input("W", (3, 2))
    y = gc.sum(gc.tanh(X @ W)) + gc.sum(ir.apply(WRONG_SQUARE, W))
    gc.check_grad(y, X, {X: X_VALUE, W: W_SKEWED})  # the X path has no wrong rule
    with pytest.raises(AssertionError, match=r"'W'.*W\[1, 0\]"):
        gc.check_grad(y, [X, W], {X: X_VALUE, W: W_SKEWED})


def test_direction_mode() -> None:
    X, W, y = sigmoid_layer()
    assert gc.check_grad(y, [X, W], {X: X_VALUE, W: W_VALUE}, mode="direction") < 1e-8
    wrong = gc.sum(ir.apply(WRONG_SQUARE, W)) + y
    for seed in range(3):
        with pytest.raises(gc.GradientCheckError, match="direction"):
            gc.check_grad(wrong, [X, W], {X: X_VALUE, W: W_SKEWED}, mode="direction", seed=seed)
    with pytest.raises(gc.GraphcError, match="mode"):
        gc.check_grad(y, W, {X: X_VALUE, W: W_VALUE}, mode="diagonal")


def test_names_as_keys_and_as_wrt() -> None:
    _, _, y = sigmoid_layer()
    assert gc.check_grad(y, "W", {"X": X_VALUE, "W": W_VALUE}) < 1e-8
    assert gc.check_grad(y, ["X", "W"], {"X": X_VALUE, "W": W_VALUE}) < 1e-8


def test_bad_values_are_reported() -> None:
    X, W, y = sigmoid_layer()
    with pytest.raises(gc.GraphcError, match="'V' is not an input"):
        gc.check_grad(y, W, {"X": X_VALUE, "V": W_VALUE})
    with pytest.raises(gc.GraphcError, match="no value for input.*W"):
        gc.check_grad(y, X, {X: X_VALUE})
    with pytest.raises(gc.GraphcError, match="'V' is not an input"):
        gc.check_grad(y, "V", {X: X_VALUE, W: W_VALUE})


def test_an_input_y_does_not_use_has_a_zero_gradient() -> None:
    X, W, y = sigmoid_layer()
    unused = gc.input("unused", (2,))
    values = {X: X_VALUE, W: W_VALUE, unused: np.ones(2)}
    assert gc.check_grad(y, [W, unused], values) < 1e-8


def test_float32_inputs_are_checked_against_float64_differences() -> None:
    X, W, y = sigmoid_layer("float32")
    values = {X: X_VALUE.astype(np.float32), W: W_VALUE.astype(np.float32)}
    assert gc.check_grad(y, [X, W], values, rtol=1e-5, atol=1e-6) < 1e-6
    wrong = y + gc.sum(ir.apply(WRONG_SQUARE, W))
    with pytest.raises(gc.GradientCheckError, match=r"W\[1, 0\]"):
        gc.check_grad(wrong, W, {X: values[X], W: W_SKEWED.astype(np.float32)}, rtol=1e-3)


def test_check_node_grads_counts_the_nodes_it_checked() -> None:
    X, W, y = sigmoid_layer()
    # matmul, sigmoid, sum: every non-leaf float node with a rule
    assert gc.check_node_grads(y, {X: X_VALUE, W: W_VALUE}) == 3
    loss = -gc.mean(gc.log_softmax(gc.tanh(X @ W) * 2.0 + 1.0)[:, 0])
    assert gc.check_node_grads(loss, {"X": X_VALUE, "W": W_VALUE}) >= 7


def test_check_node_grads_names_the_first_bad_node() -> None:
    X, W = gc.input("X", (3, 3)), gc.input("W", (3, 2))
    hidden = gc.tanh(X @ W)
    bad = ir.apply(WRONG_SQUARE, hidden)  # built on this line
    y = gc.sum(gc.exp(bad) * 0.5)
    with pytest.raises(gc.GradientCheckError) as info:
        gc.check_node_grads(y, {X: X_VALUE, W: W_VALUE})
    message = str(info.value)
    assert "wrong_square" in message
    assert bad.origin in message and "test_gradcheck.py" in bad.origin
    # the overall gradient check fails too, but cannot say which node is wrong
    with pytest.raises(gc.GradientCheckError) as overall:
        gc.check_grad(y, W, {X: X_VALUE, W: W_VALUE})
    assert "wrong_square" not in str(overall.value)


def test_casts_to_float32_inside_the_graph_are_differenced_in_float64() -> None:
    """A float64 input cast to float32 mid-graph: differences of a rounded function would be noise."""
    X, W = gc.input("X", (3, 3)), gc.input("W", (3, 2), "float32")
    labels = gc.input("labels", (3,), "int64")
    hidden = gc.astype(gc.tanh(X), "float32")
    loss = -gc.mean(gc.sum(gc.one_hot(labels, 2, "float32") * gc.log(gc.softmax(hidden @ W)), axis=1))
    values = {X: X_VALUE, W: W_VALUE.astype(np.float32), labels: np.array([0, 1, 1])}
    assert gc.check_grad(loss, [X, W], values, rtol=1e-4, atol=1e-6) < 1e-5
    assert gc.check_node_grads(loss, values, rtol=1e-4, atol=1e-6) >= 8
