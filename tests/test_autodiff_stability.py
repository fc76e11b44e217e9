"""Gradients at extreme inputs: stabilization before differentiation, and NaN-safe selections.

Values and gradients at z = ±40 and ±700 (where exp overflows or 1 - σ
rounds to 0) are compared with float64 analytic results from SciPy; the
gradient graph is checked to contain the stable op (log_softmax, softplus,
log1p, expm1, logsumexp) rather than the unstable composition the user wrote.
The NaN-safety cases put an inf or a NaN in the branch a selection does not
take and require the gradient there to be exactly 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from autodiff_support import backend_fixture, run  # noqa: F401 - the `backend` fixture
from scipy import special

import graphc as gc
from graphc.ir import toposort

EXTREMES = [-800.0, -700.0, -40.0, 40.0, 700.0, 800.0]  # e^800 overflows, e^-800 underflows to 0


def ops_of(*nodes: gc.Tensor) -> set[str]:
    return {n.op.name for n in toposort(nodes)}


def value_and_gradient(build: Callable[[gc.Tensor], gc.Tensor], point: np.ndarray,
                       backend: str) -> tuple[np.ndarray, np.ndarray, gc.Tensor]:
    z = gc.input("z", np.shape(point))
    y = build(z)
    gradient = gc.grad(gc.sum(y) if y.ndim else y, z)
    value, slope = run([z], [y, gradient], [point], backend)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(slope)), (value, slope)
    return value, slope, gradient


# -------------------------------------------------------------- scalar functions

SCALAR_CASES = {
    # name: (graph, value, derivative). The stable gradient is a sigmoid with no division:
    # the chain rule through log(σ) would divide by σ, which underflows to 0.
    "softplus": (gc.softplus, lambda z: np.logaddexp(0, z), special.expit),
    "sigmoid": (gc.sigmoid, special.expit, lambda z: special.expit(z) * special.expit(-z)),
    "log(sigmoid(z))": (lambda z: gc.log(gc.sigmoid(z)), special.log_expit,
                        lambda z: special.expit(-z)),
    "log(1 - sigmoid(z))": (lambda z: gc.log(1 - gc.sigmoid(z)), lambda z: special.log_expit(-z),
                            lambda z: -special.expit(z)),
}


@pytest.mark.parametrize("z", EXTREMES)
@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_scalar_functions_at_extremes(name: str, z: float, backend: str) -> None:
    build, value_of, derivative_of = SCALAR_CASES[name]
    value, slope, gradient = value_and_gradient(build, np.array(z), backend)
    np.testing.assert_allclose(value, value_of(z), rtol=1e-13, atol=0)
    # σ'(z) = σ(1 - σ) is computed as out * (1 - out), as JAX and PyTorch do: once σ
    # rounds to 1 (z > 37) it is 0 instead of e^-z, an absolute error below 1e-16.
    absolute = 1e-16 if name == "sigmoid" and z > 0 else 0
    np.testing.assert_allclose(slope, derivative_of(z), rtol=1e-13, atol=absolute)
    assert "sigmoid" in ops_of(gradient)
    assert not ops_of(gradient) & {"log", "divide"}


@pytest.mark.parametrize("tiny", [1e-10, 1e-17, -3e-13])
def test_log1p_and_expm1_keep_the_digits_of_tiny_inputs(tiny: float, backend: str) -> None:
    value, slope, gradient = value_and_gradient(lambda z: gc.log(1 + z), np.array(tiny), backend)
    np.testing.assert_allclose(value, np.log1p(tiny), rtol=1e-15)
    np.testing.assert_allclose(slope, 1 / (1 + tiny), rtol=1e-15)
    assert "log1p" in ops_of(gradient) or "log" not in ops_of(gradient)
    value, slope, gradient = value_and_gradient(lambda z: gc.exp(z) - 1, np.array(tiny), backend)
    np.testing.assert_allclose(value, np.expm1(tiny), rtol=1e-15)
    np.testing.assert_allclose(slope, np.exp(tiny), rtol=1e-15)
    assert "expm1" in ops_of(gradient) and "exp" not in ops_of(gradient)


# ------------------------------------------------------------ vector functions

WEIGHTS = np.array([1.0, -2.0, 0.5])

VECTOR_CASES = {
    # name: (graph, value, gradient, op that must be in the gradient graph, ops that must not)
    "logsumexp": (gc.logsumexp, special.logsumexp, special.softmax, "logsumexp", set()),
    "log(sum(exp(z)))": (lambda z: gc.log(gc.sum(gc.exp(z))), special.logsumexp, special.softmax,
                         "logsumexp", {"log"}),
    "log_softmax": (lambda z: gc.sum(WEIGHTS * gc.log_softmax(z)),
                    lambda v: np.sum(WEIGHTS * special.log_softmax(v)),
                    lambda v: WEIGHTS - special.softmax(v) * WEIGHTS.sum(), "log_softmax", set()),
    "log(softmax(z))": (lambda z: gc.sum(WEIGHTS * gc.log(gc.softmax(z))),
                        lambda v: np.sum(WEIGHTS * special.log_softmax(v)),
                        lambda v: WEIGHTS - special.softmax(v) * WEIGHTS.sum(), "log_softmax",
                        {"log", "softmax"}),
}


@pytest.mark.parametrize("z", EXTREMES)
@pytest.mark.parametrize("name", sorted(VECTOR_CASES))
def test_reductions_at_extremes(name: str, z: float, backend: str) -> None:
    build, value_of, gradient_of, stable_op, unstable = VECTOR_CASES[name]
    point = np.array([z, 0.0, 1.0])
    value, slope, gradient = value_and_gradient(build, point, backend)
    np.testing.assert_allclose(value, value_of(point), rtol=1e-13)
    np.testing.assert_allclose(slope, gradient_of(point), rtol=1e-12, atol=1e-300)
    assert stable_op in ops_of(gradient)
    assert not ops_of(gradient) & unstable


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("written", ["log(softmax)", "log_softmax"])
def test_large_logit_cross_entropy(written: str, dtype: str, backend: str) -> None:
    """Logits of size ~1e3: softmax underflows to exact 0s, yet loss and gradient stay accurate."""
    rng = np.random.default_rng(3)
    n, k = 6, 5
    logits_value = (rng.standard_normal((n, k)) * 1e3).astype(dtype)
    labels_value = rng.integers(0, k, n)
    logits, labels = gc.input("logits", ("n", k), dtype), gc.input("labels", ("n",), "int64")
    normalized = gc.log(gc.softmax(logits)) if written == "log(softmax)" else gc.log_softmax(logits)
    loss = -gc.mean(gc.sum(gc.one_hot(labels, k, dtype) * normalized, axis=1))
    gradient = gc.grad(loss, logits)
    value, slope = run([logits, labels], [loss, gradient], [logits_value, labels_value], backend)
    assert value.dtype == slope.dtype == np.dtype(dtype)
    assert np.isfinite(value) and np.all(np.isfinite(slope))
    wide = logits_value.astype(np.float64)
    onehot = np.eye(k)[labels_value]
    expected_loss = np.mean(special.logsumexp(wide, axis=1) - wide[np.arange(n), labels_value])
    expected_gradient = (special.softmax(wide, axis=1) - onehot) / n
    rtol = 1e-13 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(value, expected_loss, rtol=rtol)
    np.testing.assert_allclose(slope, expected_gradient, rtol=rtol, atol=rtol / n)
    assert "log_softmax" in ops_of(gradient) and not ops_of(gradient) & {"log", "softmax"}


# ------------------------------------------------------------------ NaN safety

def gradient_at(build: Callable[[gc.Tensor], gc.Tensor], points: list[float],
                backend: str) -> np.ndarray:
    x = gc.input("x", (len(points),))
    (slope,) = run([x], [gc.grad(gc.sum(build(x)), x)], [np.array(points)], backend)
    return slope


def test_where_sqrt_dead_branch_at_zero_and_negative(backend: str) -> None:
    slope = gradient_at(lambda x: gc.where(x > 0, gc.sqrt(x), 0), [0.0, -1.0, 4.0], backend)
    np.testing.assert_array_equal(slope, [0.0, 0.0, 0.25])


def test_where_overflowing_dead_branch(backend: str) -> None:
    """exp(1000) = inf in the branch not taken must not reach the gradient."""
    slope = gradient_at(lambda x: gc.where(x > 10, x, gc.exp(x)), [1000.0, 0.0], backend)
    np.testing.assert_array_equal(slope, [1.0, 1.0])
    # With the condition the other way round, exp(x) IS taken at 1000: its derivative is
    # exp(1000) = inf, and inf is the right answer there (see docs/autodiff.md).
    slope = gradient_at(lambda x: gc.where(x < 10, x, gc.exp(x)), [1000.0, 5.0], backend)
    assert slope[0] == np.inf and slope[1] == 1.0


@pytest.mark.parametrize("name", ["maximum", "minimum", "relu", "clip", "clip-high"])
def test_selections_do_not_leak_a_dead_operand(name: str, backend: str) -> None:
    """The operand a selection discards has an infinite derivative; the gradient is 0, not NaN."""
    build = {
        # log(0) = -inf loses to x; d log / dz = 1/0 = inf
        "maximum": lambda z: gc.maximum(gc.log(z), 1.0),
        # exp(1000) = inf loses to 5; d exp / dz = inf
        "minimum": lambda z: gc.minimum(gc.exp(z + 1000), 5.0),
        "relu": lambda z: gc.relu(gc.log(z)),
        "clip": lambda z: gc.clip(gc.log(z), -1.0, 1.0),
        "clip-high": lambda z: gc.clip(gc.exp(z + 1000), -1.0, 1.0),
    }[name]
    slope = gradient_at(build, [0.0, 0.0], backend)
    np.testing.assert_array_equal(slope, [0.0, 0.0])


def test_abs_gradient_is_a_selection_of_plus_minus_one(backend: str) -> None:
    slope = gradient_at(gc.abs, [-np.inf, -2.0, 0.0, 3.0, np.inf], backend)
    np.testing.assert_array_equal(slope, [-1.0, -1.0, 1.0, 1.0, 1.0])
    # abs of a branch whose derivative is inf, but multiplied by a zero cotangent
    slope = gradient_at(lambda x: gc.where(x > 0, gc.abs(gc.log(x)), 0), [0.0, 1.0 / np.e], backend)
    np.testing.assert_array_equal(slope, [0.0, -np.e])


def test_nan_in_unselected_where_branch(backend: str) -> None:
    """sqrt(-1) = NaN and log(-1) = NaN in the dead branch give a 0 gradient."""
    slope = gradient_at(lambda x: gc.where(x < 0, -x, gc.sqrt(x) + gc.log(x)), [-1.0, 1.0], backend)
    np.testing.assert_array_equal(slope, [-1.0, 1.5])
