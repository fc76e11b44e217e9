"""Composite functions with exactly known derivatives, and the rules of the reverse sweep.

Each gradient is checked against an independent reference: an analytic
derivative, a hand-written NumPy backward pass, or a value worked out by hand.
The second half covers what the sweep itself must do: zeros for an unused
wrt, stop_gradient, fan-out, and the errors for int inputs, non-scalar
outputs and ops without a rule.
"""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_support import backend_fixture, run  # noqa: F401 - the `backend` fixture
from scipy import special

import graphc as gc
from graphc import ir

GRID = np.arange(-3, 3, 0.01)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return special.expit(x)


# ------------------------------------------------------------- elementwise chains

@pytest.mark.parametrize("name", ["sigmoid(x**2)", "sigmoid(x)**2", "sin(exp(tanh(x)))"])
def test_chain_rule_on_a_grid(name: str, backend: str) -> None:
    x = gc.input("x", GRID.shape)
    build, derivative = {
        "sigmoid(x**2)": (lambda x: gc.sigmoid(x**2),
                          lambda v: sigmoid(v**2) * (1 - sigmoid(v**2)) * 2 * v),
        "sigmoid(x)**2": (lambda x: gc.sigmoid(x) ** 2,
                          lambda v: 2 * sigmoid(v) * sigmoid(v) * (1 - sigmoid(v))),
        "sin(exp(tanh(x)))": (lambda x: gc.sin(gc.exp(gc.tanh(x))),
                              lambda v: np.cos(np.exp(np.tanh(v))) * np.exp(np.tanh(v))
                              * (1 - np.tanh(v) ** 2)),
    }[name]
    (got,) = run([x], [gc.grad(gc.sum(build(x)), x)], [GRID], backend)
    np.testing.assert_allclose(got, derivative(GRID), rtol=1e-12, atol=1e-15)


def test_sum_sigmoid_matmul(backend: str) -> None:
    np.random.seed(190204)
    x_value, w_value = np.random.randn(3, 3), np.random.randn(3, 2)
    X, W = gc.input("X", (3, 3)), gc.input("W", (3, 2))
    L = gc.sum(gc.sigmoid(X @ W))
    dX, dW = gc.grad(L, [X, W])
    loss, got_x, got_w = run([X, W], [L, dX, dW], [x_value, w_value], backend)
    assert round(float(loss), 4) == 2.3755
    s = sigmoid(x_value @ w_value)
    np.testing.assert_allclose(got_x, (s * (1 - s)) @ w_value.T, rtol=1e-12)
    np.testing.assert_allclose(got_w, x_value.T @ (s * (1 - s)), rtol=1e-12)


def test_scalar_graph_with_abs(backend: str) -> None:
    x, w, b, y_true = (gc.input(n) for n in ("x", "w", "b", "y_true"))
    x1 = x * w
    x2 = x1 + b
    loss = gc.abs(y_true - x2)
    grads = gc.grad(loss, [w, b])
    value, grad_w, grad_b = run([x, w, b, y_true], [loss] + grads, [2.0, 3.0, 1.0, 4.0], backend)
    assert (float(value), float(grad_w), float(grad_b)) == (3.0, 2.0, 1.0)


def test_composition_through_intermediate_names(backend: str) -> None:
    t = gc.input("t", (7,))
    u = t**2
    x = 1 - u
    f = 5 * x
    points = np.linspace(-2, 2, 7)
    (got,) = run([t], [gc.grad(gc.sum(f), t)], [points], backend)
    np.testing.assert_allclose(got, -10 * points, rtol=1e-14)


# ------------------------------------------------------------------ models

def test_mlp_softmax_cross_entropy_matches_numpy_backward(backend: str) -> None:
    rng = np.random.default_rng(7)
    n, d, h, k = 6, 4, 5, 3
    x = gc.input("x", ("n", d))
    labels = gc.input("labels", ("n",), "int64")
    W1, b1 = gc.input("W1", (d, h)), gc.input("b1", (h,))
    W2, b2 = gc.input("W2", (h, k)), gc.input("b2", (k,))
    hidden = gc.tanh(x @ W1 + b1)
    logits = hidden @ W2 + b2
    loss = -gc.mean(gc.sum(gc.one_hot(labels, k) * gc.log_softmax(logits), axis=1))
    params = [W1, b1, W2, b2]
    grads = gc.grad(loss, params)
    for p, g in zip(params, grads):
        assert g.shape == p.shape and g.dtype == p.dtype
    values = [rng.standard_normal((n, d)), rng.integers(0, k, n), rng.standard_normal((d, h)),
              rng.standard_normal(h), rng.standard_normal((h, k)), rng.standard_normal(k)]
    got = run([x, labels] + params, [loss] + grads, values, backend)

    xv, yv, w1, c1, w2, c2 = values
    a = np.tanh(xv @ w1 + c1)
    z = a @ w2 + c2
    p = special.softmax(z, axis=1)
    onehot = np.eye(k)[yv]
    expected_loss = -np.mean(np.sum(onehot * special.log_softmax(z, axis=1), axis=1))
    dz = (p - onehot) / n
    da = dz @ w2.T
    dpre = da * (1 - a**2)
    expected = [xv.T @ dpre, dpre.sum(0), a.T @ dz, dz.sum(0)]
    np.testing.assert_allclose(got[0], expected_loss, rtol=1e-12)
    for name, g, e in zip(["W1", "b1", "W2", "b2"], got[1:], expected):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-14, err_msg=name)


def test_logistic_regression_gradient(backend: str) -> None:
    rng = np.random.default_rng(11)
    n = 8
    X, y, w = gc.input("X", ("n", 3)), gc.input("y", ("n",)), gc.input("w", (3,))
    p = gc.sigmoid(X @ w)
    loss = -gc.mean(y * gc.log(p) + (1 - y) * gc.log(1 - p))
    xv, yv, wv = rng.standard_normal((n, 3)), (rng.uniform(size=n) > 0.5) * 1.0, rng.standard_normal(3)
    value, got = run([X, y, w], [loss, gc.grad(loss, w)], [xv, yv, wv], backend)
    s = sigmoid(xv @ wv)
    np.testing.assert_allclose(value, -np.mean(yv * np.log(s) + (1 - yv) * np.log(1 - s)), rtol=1e-12)
    np.testing.assert_allclose(got, xv.T @ (s - yv) / n, rtol=1e-12)


# ------------------------------------------------------- what the sweep does

def test_unused_wrt_gets_zeros_of_its_shape_and_dtype(backend: str) -> None:
    x, unused = gc.input("x", (3,)), gc.input("unused", (2, 3), "float32")
    gx, gu = gc.grad(gc.sum(gc.exp(x)), [x, unused])
    assert gu.shape == (2, 3) and gu.dtype == np.float32
    value_x, value_u = run([x, unused], [gx, gu], [np.zeros(3), np.ones((2, 3), np.float32)], backend)
    np.testing.assert_array_equal(value_x, np.ones(3))
    assert value_u.dtype == np.float32 and value_u.shape == (2, 3) and not value_u.any()


def test_stop_gradient_blocks(backend: str) -> None:
    x = gc.input("x", (4,))
    y = gc.sum(x * gc.stop_gradient(x))  # d/dx = stop_gradient(x), not 2x
    points = np.array([-1.0, 0.5, 2.0, 3.0])
    (got,) = run([x], [gc.grad(y, x)], [points], backend)
    np.testing.assert_array_equal(got, points)
    (blocked,) = run([x], [gc.grad(gc.sum(gc.stop_gradient(gc.exp(x))), x)], [points], backend)
    assert not blocked.any()


def test_fan_out_contributions_are_summed(backend: str) -> None:
    x = gc.input("x", (5,))
    y = gc.sum(gc.sin(x) + x * x + gc.exp(x))  # x used three times (four uses in all)
    points = np.linspace(-1, 1, 5)
    (got,) = run([x], [gc.grad(y, x)], [points], backend)
    np.testing.assert_allclose(got, np.cos(points) + 2 * points + np.exp(points), rtol=1e-14)


def test_broadcast_input_gradient_is_summed_back(backend: str) -> None:
    x, b = gc.input("x", (4, 3)), gc.input("b", (3,))
    y = gc.sum((x + b) ** 2)
    xv, bv = np.arange(12.0).reshape(4, 3), np.array([1.0, -2.0, 0.5])
    (got,) = run([x, b], [gc.grad(y, b)], [xv, bv], backend)
    np.testing.assert_allclose(got, (2 * (xv + bv)).sum(axis=0), rtol=1e-14)


def test_bias_gradient_of_a_summed_broadcast(backend: str) -> None:
    """d sum(x + b) / db counts the rows: the seed is a broadcast constant, summed back once."""
    x, b = gc.input("x", (2, 3)), gc.input("b", (3,))
    (got,) = run([x, b], [gc.grad(gc.sum(x + b), b)], [np.zeros((2, 3)), np.zeros(3)], backend)
    np.testing.assert_array_equal(got, [2.0, 2.0, 2.0])


def test_comparisons_give_no_contribution(backend: str) -> None:
    x = gc.input("x", (3,))
    y = gc.sum(gc.where(x > 0, x, 2 * x) + gc.astype(x > 1, "float64"))
    (got,) = run([x], [gc.grad(y, x)], [np.array([-1.0, 0.5, 2.0])], backend)
    np.testing.assert_array_equal(got, [2.0, 1.0, 1.0])


def test_grad_wrt_int_input_raises() -> None:
    counts = gc.input("counts", (3,), "int64")
    y = gc.sum(gc.astype(counts, "float64") ** 2)
    with pytest.raises(gc.GraphcError, match=r"'counts'.*int64"):
        gc.grad(y, counts)


def test_grad_of_non_scalar_raises_shape_error() -> None:
    x = gc.input("x", (3,))
    with pytest.raises(gc.ShapeError, match=r"scalar"):
        gc.grad(gc.exp(x), x)


def test_missing_rule_names_the_op_and_the_user_line() -> None:
    cube_root = ir.Op("cube_root", shape=lambda inputs: inputs[0].shape,
                      dtype=lambda inputs: inputs[0].dtype, impl=np.cbrt, arity=1)
    x = gc.input("x", (3,))
    node = ir.apply(cube_root, x)
    assert "test_autodiff_corpus.py" in node.origin
    with pytest.raises(gc.NotDifferentiableError) as info:
        gc.grad(gc.sum(node), x)
    assert "cube_root" in str(info.value)
    assert node.origin in str(info.value)
    # A stop_gradient around it is the documented way out.
    assert gc.grad(gc.sum(gc.stop_gradient(node) + x), x).shape == (3,)


def test_vjp_spreads_a_broadcastable_cotangent(backend: str) -> None:
    x = gc.input("x", (2, 3))
    y = gc.exp(x)
    points = np.arange(6.0).reshape(2, 3) / 6
    scalar, row = run([x], [gc.vjp(y, x, 2.0), gc.vjp(y, x, np.array([1.0, 0.0, -1.0]))],
                      [points], backend)
    np.testing.assert_allclose(scalar, 2 * np.exp(points), rtol=1e-15)
    np.testing.assert_allclose(row, np.array([1.0, 0.0, -1.0]) * np.exp(points), rtol=1e-15)
    for wrong in [np.ones(4), np.ones((3, 2, 3))]:
        with pytest.raises(gc.ShapeError, match=r"cotangent has shape .* y's shape \[2,3\]"):
            gc.vjp(y, x, wrong)


def test_wrt_must_be_tensors() -> None:
    x = gc.input("x", (3,))
    with pytest.raises(gc.GraphcError, match="tensor"):
        gc.grad(gc.sum(x), 3.0)
    with pytest.raises(gc.GraphcError, match="tensor"):
        gc.grad(gc.sum(x), [x, "x"])
