"""graphc.stabilize: each rule produces the stable op, keeps values, and fixes the overflow.

References are NumPy/SciPy formulas evaluated in float64 on moderate inputs,
and analytic limits (log σ(z) -> z for z -> -inf) on extreme ones.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import graphc as gc
from graphc.interpret import evaluate
from graphc.ir import toposort
from graphc.stabilize import stabilize

X = gc.input("x", shape=(3, 4))
MODERATE = np.linspace(-2.0, 2.0, 12).reshape(3, 4)

CASES = {
    # name: (graph builder, op expected after, reference on moderate inputs)
    "log_softmax": (lambda x: gc.log(gc.softmax(x, axis=1)), "log_softmax",
                    lambda v: special.log_softmax(v, axis=1)),
    "log_sigmoid": (lambda x: gc.log(gc.sigmoid(x)), "softplus",
                    lambda v: np.log(special.expit(v))),
    "log_one_minus_sigmoid": (lambda x: gc.log(1 - gc.sigmoid(x)), "softplus",
                              lambda v: np.log(1 - special.expit(v))),
    "log_one_plus_exp": (lambda x: gc.log(1 + gc.exp(x)), "softplus",
                         lambda v: np.log(1 + np.exp(v))),
    "log1p_exp": (lambda x: gc.log1p(gc.exp(x)), "softplus", lambda v: np.log1p(np.exp(v))),
    "log1p": (lambda x: gc.log(1 + x * x), "log1p", lambda v: np.log1p(v * v)),
    "expm1": (lambda x: gc.exp(x) - 1, "expm1", np.expm1),
    "logsumexp": (lambda x: gc.log(gc.sum(gc.exp(x), axis=0)), "logsumexp",
                  lambda v: special.logsumexp(v, axis=0)),
}


def ops_of(node: gc.Tensor) -> set[str]:
    return {n.op.name for n in toposort([node])}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_gives_stable_op_and_same_values(name: str) -> None:
    build, stable_op, reference = CASES[name]
    (result,) = stabilize([build(X)])
    assert stable_op in ops_of(result)
    assert "log" not in ops_of(result) or stable_op == "log_softmax"
    (value,) = evaluate([result], {X: MODERATE})
    np.testing.assert_allclose(value, reference(MODERATE), rtol=1e-12, atol=1e-14)


EXTREME = {
    # name: (input value, exact answer the stable form must give)
    "log_softmax": (np.array([[0.0, -1000.0, 0.0, 0.0]] * 3), lambda v: v - np.log(3.0)),
    "log_sigmoid": (np.full((3, 4), -800.0), lambda v: v),            # log σ(z) ≈ z
    "log_one_minus_sigmoid": (np.full((3, 4), 800.0), lambda v: -v),  # log σ(-z) ≈ -z
    "log_one_plus_exp": (np.full((3, 4), 800.0), lambda v: v),        # softplus(z) ≈ z
    "log1p": (np.full((3, 4), 1e-10), lambda v: v * v),               # log(1 + 1e-20) = 1e-20
    "expm1": (np.full((3, 4), 1e-12), lambda v: v),                   # e^z - 1 ≈ z
    "logsumexp": (np.full((3, 4), 1000.0), lambda v: v[0] + np.log(3.0)),
}


@pytest.mark.parametrize("name", sorted(EXTREME))
def test_stable_form_survives_extreme_inputs(name: str) -> None:
    build, _, _ = CASES[name]
    value, exact = EXTREME[name]
    naive = build(X)
    (stable,) = stabilize([naive])
    (result,) = evaluate([stable], {X: value})
    np.testing.assert_allclose(result, exact(value), rtol=1e-9)
    (unstable,) = evaluate([naive], {X: value})
    assert not np.allclose(unstable, exact(value), rtol=1e-9, atol=0), "the naive form was already fine"


def test_graph_without_unstable_forms_keeps_its_identity() -> None:
    y = gc.sum(gc.exp(X) * 2 + gc.log(X))
    assert stabilize([y])[0] is y


def test_rebuilds_users_and_preserves_inputs() -> None:
    y = gc.sum(gc.log(gc.sigmoid(X)) * X)
    (result,) = stabilize([y])
    assert result is not y and X in toposort([result])
    assert "sigmoid" not in ops_of(result)


def test_keep_leaves_a_subgraph_alone() -> None:
    inner = gc.log(gc.sigmoid(X))
    y = gc.sum(inner)
    (result,) = stabilize([y], keep=[inner])
    assert result is y


def test_float32_stays_float32() -> None:
    x32 = gc.input("x32", shape=(4,), dtype="float32")
    (result,) = stabilize([gc.log(1 + x32)])
    assert result.op.name == "log1p" and result.dtype == np.float32


def test_broadcasting_constant_keeps_the_shape() -> None:
    # 1 is (3, 4) and z is (4,): log1p(z) has the smaller shape, so it is broadcast back.
    z = gc.input("z", shape=(4,))
    y = gc.log(gc.constant(np.ones((3, 4))) + z)
    (result,) = stabilize([y])
    assert result.shape == (3, 4) and "log1p" in ops_of(result)
    value = np.array([0.5, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(evaluate([result], {z: value})[0],
                               np.broadcast_to(np.log1p(value), (3, 4)))


def test_not_every_one_is_one() -> None:
    assert stabilize([gc.log(2 + X)])[0].op.name == "log"
    assert stabilize([gc.exp(X) - 1.5])[0].op.name == "subtract"


def test_gradient_of_log_sigmoid_is_finite_far_out() -> None:
    # autodiff stabilizes first: d/dz log σ(z) = 1 - σ(z) = σ(-z), exactly 1 at z = -800.
    y = gc.sum(gc.log(gc.sigmoid(X)))
    (gradient,) = evaluate([gc.grad(y, X)], {X: np.full((3, 4), -800.0)})
    np.testing.assert_allclose(gradient, np.ones((3, 4)))


# Logistic functions written out by hand, as PyTensor's logistic-regression tutorial does:
# p = 1 / (1 + exp(-z)) underflows to 0 (log p = -inf) and e^-z overflows for z << 0.
BY_HAND = {
    # name: (graph builder, exact answer at z, extreme z)
    "log(1/(1+exp(-z)))": (lambda z: gc.log(1 / (1 + gc.exp(-z))), lambda v: v, -800.0),
    "log(1-1/(1+exp(-z)))": (lambda z: gc.log(1 - 1 / (1 + gc.exp(-z))), lambda v: -v, 800.0),
    "log(exp(z)/(1+exp(z)))": (lambda z: gc.log(gc.exp(z) / (1 + gc.exp(z))), lambda v: v, -800.0),
    "log(1/(1+exp(z)))": (lambda z: gc.log(1 / (gc.exp(z) + 1)), lambda v: -v, 800.0),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_hand_written_sigmoid_is_stabilized(name: str, dtype: str) -> None:
    build, exact, far = BY_HAND[name]
    z = gc.input("z", shape=(4,), dtype=dtype)
    naive = build(z)
    (stable,) = stabilize([naive])
    assert "softplus" in ops_of(stable) and "exp" not in ops_of(stable)
    assert stable.dtype == np.dtype(dtype)
    # float32's exp overflows beyond 88, float64's beyond 709: pick a point past both.
    value = np.array([far, far / 2, far / 8, far / 40], dtype=dtype)
    (result,) = evaluate([stable], {z: value})
    np.testing.assert_allclose(result, exact(value.astype(np.float64)), rtol=1e-6)
    with np.errstate(all="ignore"):
        (unstable,) = evaluate([naive], {z: value})
    assert not np.all(np.isfinite(unstable)), "the naive form was already fine"
    moderate = np.linspace(-3, 3, 4).astype(dtype)
    (small,) = evaluate([stable], {z: moderate})
    np.testing.assert_allclose(small, evaluate([naive], {z: moderate})[0], rtol=1e-5)


def test_pytensor_tutorial_logistic_regression_has_finite_gradient() -> None:
    """PyTensor's tutorial loss, written out by hand: graphc's gradient equals the stable formula."""
    rng = np.random.default_rng(0)
    data, labels = rng.standard_normal((400, 784)), rng.integers(0, 2, 400).astype(np.float64)
    w0 = rng.standard_normal(784)
    x, y = gc.input("x", shape=("n", 784)), gc.input("y", shape=("n",))
    w, b = gc.input("w", shape=(784,)), gc.input("b")
    p = 1 / (1 + gc.exp(-gc.dot(x, w) - b))
    xent = -y * gc.log(p) - (1 - y) * gc.log(1 - p)
    cost = gc.mean(xent) + 0.01 * gc.sum(w ** 2)
    gw, gb = gc.grad(cost, [w, b])
    value, dw, db = gc.compile([x, y, w, b], [cost, gw, gb], backend="numpy")(data, labels, w0, 0.0)
    z = data @ w0
    assert np.any(1 - 1 / (1 + np.exp(-z)) == 0), "the test needs p to round to 1 somewhere"
    np.testing.assert_allclose(value, np.mean(np.logaddexp(0, -z) * labels
                                              + np.logaddexp(0, z) * (1 - labels))
                               + 0.01 * np.sum(w0 ** 2), rtol=1e-12)
    residual = special.expit(z) - labels
    np.testing.assert_allclose(dw, data.T @ residual / 400 + 0.02 * w0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, residual.mean(), rtol=1e-10, atol=1e-14)
