"""Higher order and forward mode: grad of grad, hessian, jacobian, hvp, jvp.

Gradients are graph nodes, so they can be differentiated again. References:
analytic second derivatives, SciPy's Rosenbrock Hessian, and central
differences of the function (jacobian, jvp) or of its symbolic gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_support import numeric_jacobian, run


@pytest.fixture(params=["numpy", "numba"], name="backend")
def both_backends(request: pytest.FixtureRequest) -> str:
    """Higher-order derivatives must work compiled too (issue 3's "done when")."""
    return str(request.param)
from scipy import optimize

import graphc as gc
from graphc.interpret import evaluate


def rosenbrock(x: gc.Tensor) -> gc.Tensor:
    return gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_grad_of_grad_of_a_scalar_function(backend: str) -> None:
    x = gc.input("x")
    y = x**3 * gc.sin(x)
    first = gc.grad(y, x)
    second = gc.grad(first, x)
    third = gc.grad(second, x)
    for point in (-1.3, 0.4, 2.0):
        d1, d2, d3 = run([x], [first, second, third], [point], backend)
        s, c = np.sin(point), np.cos(point)
        assert d1 == pytest.approx(3 * point**2 * s + point**3 * c, rel=1e-13)
        assert d2 == pytest.approx(6 * point * s + 6 * point**2 * c - point**3 * s, rel=1e-13)
        assert d3 == pytest.approx(6 * s + 18 * point * c - 9 * point**2 * s - point**3 * c,
                                   rel=1e-12)


def test_mixed_partial_derivative(backend: str) -> None:
    x, y = gc.input("x"), gc.input("y")
    f = x**2 * y**3 + gc.exp(x * y)
    dx = gc.grad(f, x)
    dxdy = gc.grad(dx, y)
    dydx = gc.grad(gc.grad(f, y), x)
    a, b = 0.7, -1.2
    got_xy, got_yx = run([x, y], [dxdy, dydx], [a, b], backend)
    expected = 6 * a * b**2 + np.exp(a * b) * (1 + a * b)
    assert got_xy == pytest.approx(expected, rel=1e-13)
    assert got_yx == pytest.approx(expected, rel=1e-13)


def test_rosenbrock_gradient_and_hessian_match_scipy(backend: str) -> None:
    x = gc.input("x", (5,))
    y = rosenbrock(x)
    hessian = gc.hessian(y, x)
    assert hessian.shape == (5, 5) and hessian.dtype == np.float64
    point = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    value, gradient, got = run([x], [y, gc.grad(y, x), hessian], [point], backend)
    assert value == pytest.approx(optimize.rosen(point), rel=1e-14)
    np.testing.assert_allclose(gradient, optimize.rosen_der(point), rtol=1e-13)
    np.testing.assert_allclose(got, optimize.rosen_hess(point), rtol=1e-13, atol=1e-12)


def test_hessian_of_a_matrix_input(backend: str) -> None:
    """Hessian of sum(tanh(W @ v)) w.r.t. a 2x3 W has shape (2, 3, 2, 3)."""
    W = gc.input("W", (2, 3))
    v = np.array([0.5, -1.0, 2.0])
    y = gc.sum(gc.tanh(W @ v))
    hessian = gc.hessian(y, W)
    assert hessian.shape == (2, 3, 2, 3)
    point = np.random.default_rng(0).standard_normal((2, 3)) * 0.5
    (got,) = run([W], [hessian], [point], backend)
    t = np.tanh(point @ v)
    expected = np.zeros((2, 3, 2, 3))
    for i in range(2):
        expected[i, :, i, :] = -2 * t[i] * (1 - t[i] ** 2) * np.outer(v, v)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["vector-vector", "matrix-matrix", "scalar-vector"])
def test_jacobian_shape_and_values(kind: str, backend: str) -> None:
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 3))
    if kind == "vector-vector":
        x = gc.input("x", (4,))
        y = gc.tanh(A.T @ x) * gc.sum(x)
        point = rng.standard_normal(4)
    elif kind == "matrix-matrix":
        x = gc.input("x", (2, 4))
        y = gc.sin(x @ A)
        point = rng.standard_normal((2, 4))
    else:
        x = gc.input("x", (4,))
        y = gc.logsumexp(x)
        point = rng.standard_normal(4)
    jacobian = gc.jacobian(y, x)
    assert jacobian.shape == y.shape + x.shape
    (got,) = run([x], [jacobian], [point], backend)
    expected = numeric_jacobian(lambda p: evaluate([y], {x: p})[0], point)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


def test_hvp_matches_hessian_times_vector(backend: str) -> None:
    x = gc.input("x", (5,))
    v = gc.input("v", (5,))
    y = rosenbrock(x) + gc.sum(gc.sin(x) * gc.exp(x[::-1]))
    product = gc.hvp(y, x, v)
    assert product.shape == (5,)
    point, direction = np.array([0.3, -0.2, 1.1, 0.5, -0.9]), np.arange(1.0, 6.0)
    got, hessian = run([x, v], [product, gc.hessian(y, x)], [point, direction], backend)
    np.testing.assert_allclose(got, hessian @ direction, rtol=1e-12)
    # and the Hessian is symmetric, as second derivatives of a smooth function are
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12)


def test_jvp_matches_central_differences(backend: str) -> None:
    x = gc.input("x", (3,))
    t = gc.input("t", (3,))
    y = gc.softmax(x) * gc.tanh(x)
    tangent_out = gc.jvp(y, x, t)
    assert tangent_out.shape == y.shape
    point, direction = np.array([0.2, -1.0, 0.7]), np.array([1.0, 0.5, -2.0])
    (got,) = run([x, t], [tangent_out], [point, direction], backend)
    eps = 1e-6
    plus, minus = (evaluate([y], {x: point + s * direction})[0] for s in (eps, -eps))
    np.testing.assert_allclose(got, (plus - minus) / (2 * eps), rtol=1e-7, atol=1e-10)


def test_jvp_with_lists_of_wrt_and_tangents(backend: str) -> None:
    x, w = gc.input("x", (3,)), gc.input("w", (2, 3))
    tx, tw = gc.input("tx", (3,)), gc.input("tw", (2, 3))
    y = gc.sigmoid(w @ x) + gc.sum(x**2)
    tangent_out = gc.jvp(y, [x, w], [tx, tw])
    assert tangent_out.shape == (2,)
    rng = np.random.default_rng(5)
    xv, wv, txv, twv = (rng.standard_normal(s) for s in [(3,), (2, 3), (3,), (2, 3)])
    (got,) = run([x, w, tx, tw], [tangent_out], [xv, wv, txv, twv], backend)
    eps = 1e-6
    plus, minus = (evaluate([y], {x: xv + s * txv, w: wv + s * twv})[0] for s in (eps, -eps))
    np.testing.assert_allclose(got, (plus - minus) / (2 * eps), rtol=1e-7, atol=1e-10)


def test_jvp_of_a_linear_function_is_the_function_of_the_tangent(backend: str) -> None:
    x, t = gc.input("x", (2, 3)), gc.input("t", (2, 3))
    A = np.arange(12.0).reshape(3, 4)
    tangent_out = gc.jvp(gc.transpose(x) * 2.0, x, t)
    (got,) = run([x, t], [tangent_out], [np.zeros((2, 3)), np.ones((2, 3))], backend)
    np.testing.assert_array_equal(got, 2.0 * np.ones((3, 2)))
    tangent_out = gc.jvp(x @ A, x, t)
    tv = np.arange(6.0).reshape(2, 3)
    (got,) = run([x, t], [tangent_out], [np.ones((2, 3)), tv], backend)
    np.testing.assert_allclose(got, tv @ A)


def test_jvp_rejects_a_tangent_of_the_wrong_shape() -> None:
    x = gc.input("x", (3,))
    with pytest.raises(gc.ShapeError, match="tangent"):
        gc.jvp(gc.exp(x), x, gc.input("t", (4,)))
