"""gc.custom_vjp, gc.custom_jvp and user op records (gc.Op, gc.apply, gc.register_op).

References: analytic derivatives, central differences (gc.check_grad), and a
Python loop over examples for vmap. The rule must be what autodiff uses: a
body whose own derivative is zero (stop_gradient) or different gets the
user's derivative.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import graphc as gc
from graphc import ir


@gc.custom_vjp
def cube(x: gc.Tensor) -> gc.Tensor:
    """x**3 whose body hides its derivative: only the rule can give 3 x^2."""
    return gc.stop_gradient(x * x * x)


cube.defvjp(lambda x: (cube(x), x), lambda x, g: (3.0 * gc.square(x) * g,))


@gc.custom_vjp
def scaled(x: gc.Tensor, y: gc.Tensor) -> tuple[gc.Tensor, gc.Tensor]:
    """(sin(x) * y, x^2): two outputs, two arguments, residuals of different kinds."""
    return gc.sin(x) * y, gc.square(x)


def _scaled_fwd(x: gc.Tensor, y: gc.Tensor) -> tuple[tuple[gc.Tensor, gc.Tensor], tuple]:
    return scaled(x, y), (gc.cos(x), gc.sin(x), y, x, 2.0)


def _scaled_bwd(residuals: tuple, cotangents: tuple[gc.Tensor, gc.Tensor]) -> tuple:
    cos_x, sin_x, y, x, two = residuals
    g_first, g_second = cotangents
    return gc.sum(g_first * cos_x * y, axis=0) + g_second * two * x, g_first * sin_x


scaled.defvjp(_scaled_fwd, _scaled_bwd)


@gc.custom_jvp
def softclip(x: gc.Tensor) -> gc.Tensor:
    """log(1 + e^x) whose JVP the user writes: sigmoid(x) * t."""
    return gc.softplus(x)


@softclip.defjvp
def _softclip_jvp(primals: tuple, tangents: tuple) -> tuple[gc.Tensor, gc.Tensor]:
    (x,), (t,) = primals, tangents
    return softclip(x), gc.sigmoid(x) * t


BACKENDS = pytest.mark.parametrize("backend", ["numpy", "numba"])


@BACKENDS
def test_the_rule_replaces_the_body_and_grad_of_grad_uses_it(backend: str) -> None:
    x = gc.input("x", shape=(4,))
    y = gc.sum(cube(x))
    first = gc.grad(y, x)
    second = gc.grad(gc.sum(first * gc.constant(np.arange(1.0, 5.0))), x)
    value = np.array([-1.5, 0.2, 1.0, 3.0])
    got_y, got_first, got_second = gc.compile([x], [y, first, second], backend=backend)(value)
    np.testing.assert_allclose(got_y, np.sum(value ** 3), rtol=1e-14)
    np.testing.assert_allclose(got_first, 3 * value ** 2, rtol=1e-14)
    np.testing.assert_allclose(got_second, 6 * value * np.arange(1.0, 5.0), rtol=1e-14)


def test_several_outputs_and_arguments_against_finite_differences() -> None:
    x, y = gc.input("x", shape=(3,)), gc.input("y", shape=(2, 3))
    first, second = scaled(x, y)
    assert first.shape == (2, 3) and second.shape == (3,)
    loss = gc.sum(gc.tanh(first)) + gc.sum(second * gc.constant([1.0, -2.0, 0.5]))
    values = {"x": np.array([0.3, -1.0, 2.0]), "y": np.array([[1.0, 0.5, -1.0], [2.0, -0.3, 0.7]])}
    gc.check_grad(loss, [x, y], values)
    gc.check_grad(gc.sum(gc.grad(loss, x) ** 2), [x, y], values)  # second order, through bwd


def test_check_node_grads_leaves_custom_calls_to_check_grad() -> None:
    """A custom_call's rule is not the derivative of its impl (the identity): no false alarm."""
    x, y = gc.input("x", shape=(3,)), gc.input("y", shape=(2, 3))
    first, second = scaled(x, y)
    loss = gc.sum(softclip(x)) + gc.sum(first) + gc.sum(second)
    values = {"x": np.array([0.5, -1.0, 2.0]), "y": np.ones((2, 3))}
    assert gc.check_node_grads(loss, values) > 0
    gc.check_grad(loss, [x, y], values)


def test_nondiff_argnums_pass_python_values_to_the_rules() -> None:
    @functools.partial(gc.custom_vjp, nondiff_argnums=(1,))
    def power(x: gc.Tensor, n: int) -> gc.Tensor:
        return x ** n

    power.defvjp(lambda x, n: (power(x, n), x), lambda n, x, g: (n * x ** (n - 1) * g,))
    x = gc.input("x", shape=(3,))
    gradient = gc.grad(gc.sum(power(x, n=4)), x)  # a keyword argument binds by the signature
    value = np.array([0.5, -2.0, 1.5])
    np.testing.assert_allclose(gc.compile([x], gradient, backend="numpy")(value), 4 * value ** 3)


@BACKENDS
def test_vmap_batches_the_body_and_the_rule(backend: str) -> None:
    xs, y = gc.input("xs", shape=(5, 3)), gc.input("y", shape=(2, 3))

    def per_example(x: gc.Tensor) -> tuple[gc.Tensor, gc.Tensor]:
        first, second = scaled(x, y)
        loss = gc.sum(first * first) + gc.sum(second)
        return gc.grad(loss, x), loss

    grads, losses = gc.vmap(per_example)(xs)
    total = gc.sum(gc.vmap(lambda x: gc.sum(scaled(x, y)[0] ** 2))(xs))
    d_y = gc.grad(total, y)  # y is shared by every example: its cotangent sums over the batch
    rng = np.random.default_rng(3)
    xv, yv = rng.standard_normal((5, 3)), rng.standard_normal((2, 3))
    got_grads, got_losses, got_d_y = gc.compile([xs, y], [grads, losses, d_y], backend=backend)(xv, yv)
    for b in range(5):
        first = np.sin(xv[b]) * yv
        np.testing.assert_allclose(got_grads[b], np.sum(2 * first * np.cos(xv[b]) * yv, axis=0)
                                   + 2 * xv[b], rtol=1e-12)
        np.testing.assert_allclose(got_losses[b], np.sum(first ** 2) + np.sum(xv[b] ** 2), rtol=1e-12)
    np.testing.assert_allclose(got_d_y, sum(2 * np.sin(xv[b]) ** 2 * yv for b in range(5)), rtol=1e-12)


@BACKENDS
def test_custom_jvp_gives_reverse_mode_forward_mode_and_hessians(backend: str) -> None:
    x = gc.input("x", shape=(3,))
    value = np.array([-2.0, 0.1, 3.0])
    sigmoid = 1 / (1 + np.exp(-value))
    loss = gc.sum(softclip(x) * gc.constant([1.0, 2.0, 3.0]))
    outputs = [gc.grad(loss, x), gc.jvp(softclip(x), x, gc.ones_like(x)), gc.hessian(loss, x)]
    gradient, tangent, hessian = gc.compile([x], outputs, backend=backend)(value)
    np.testing.assert_allclose(gradient, sigmoid * [1.0, 2.0, 3.0], rtol=1e-14)
    np.testing.assert_allclose(tangent, sigmoid, rtol=1e-14)
    np.testing.assert_allclose(hessian, np.diag(sigmoid * (1 - sigmoid) * [1.0, 2.0, 3.0]), rtol=1e-12)
    gc.check_grad(gc.sum(softclip(x) ** 2), x, {x: value})


def test_a_wrong_rule_is_an_error_at_the_calling_line() -> None:
    x = gc.input("x", shape=(3,))
    f = gc.custom_vjp(lambda a, b: a * b)
    f.defvjp(lambda a, b: (a * b, (a, b)), lambda r, g: (g * r[1],))
    with pytest.raises(gc.GraphcError, match=r"called at .*test_custom.py:\d+\): bwd returned 1 "
                                             r"cotangent, but the function has 2 differentiable"):
        f(x, x)
    f.defvjp(lambda a, b: (a * b, (a, b)), lambda r, g: (gc.sum(g), g))
    with pytest.raises(gc.ShapeError, match=r"bwd's cotangent 0 has shape \[\], but its argument has "
                                            r"shape \[3\]"):
        f(x, x)
    f.defvjp(lambda a, b: (a * b, (a, b)), lambda r, g: (g > 0, g))
    with pytest.raises(gc.DTypeError, match="cotangent 0 has dtype bool"):
        f(x, x)
    f.defvjp(lambda a, b: a * b, lambda r, g: (g, g))
    with pytest.raises(gc.GraphcError, match=r"fwd must return a pair \(output, residuals\)"):
        f(x, x)
    g = gc.custom_vjp(lambda a: a)
    with pytest.raises(gc.GraphcError, match=r"no rule yet: call <lambda>.defvjp\(fwd, bwd\)"):
        g(x)
    h = gc.custom_jvp(lambda a: a * 2)
    h.defjvp(lambda primals, tangents: (h(*primals), gc.sum(tangents[0])))
    with pytest.raises(gc.ShapeError, match=r"jvp rule's tangent 0 has shape \[\]"):
        h(x)
    with pytest.raises(gc.GraphcError, match="argument 1 is a str; .*nondiff_argnums"):
        f(x, "three")


# ------------------------------------------------------------- user op records

def _triple_vjp(g: gc.Tensor, out: gc.Tensor, x: gc.Tensor) -> tuple[gc.Tensor]:
    return (3.0 * g,)


TRIPLE = gc.Op(
    "user_triple", label="triple", arity=1, elementwise=True,
    shape=lambda inputs: inputs[0].shape, dtype=lambda inputs: inputs[0].dtype,
    impl=lambda x: 3 * np.asarray(x), scalar="(3.0 * {0})", vjp=_triple_vjp,
    batch=lambda args, batch_axes: (gc.apply(TRIPLE, args[0]), batch_axes[0]),
)
ROW_NORMS = gc.Op(
    "user_row_norms", label="row_norms", arity=1,
    shape=lambda inputs: inputs[0].shape[:1], dtype=lambda inputs: inputs[0].dtype,
    impl=lambda x: np.sqrt(np.sum(np.square(x), axis=1)),
    vjp=lambda g, out, x: (gc.expand_dims(g / out, 1) * x,),
)


@BACKENDS
def test_a_user_op_record_builds_differentiates_batches_and_lowers(backend: str) -> None:
    x = gc.input("x", shape=("n",))
    y = gc.apply(TRIPLE, gc.sin(x))
    gradient = gc.grad(gc.sum(y * y), x)
    rows = gc.input("rows", shape=(4, 2))
    batched = gc.vmap(lambda r: gc.apply(TRIPLE, r))(rows)
    value = np.array([0.1, -0.4, 2.0])
    got, got_gradient, got_batched = gc.compile([x, rows], [y, gradient, batched], backend=backend)(
        value, np.arange(8.0).reshape(4, 2))
    np.testing.assert_allclose(got, 3 * np.sin(value), rtol=1e-14)
    np.testing.assert_allclose(got_gradient, 18 * np.sin(value) * np.cos(value), rtol=1e-14)
    np.testing.assert_array_equal(got_batched, 3 * np.arange(8.0).reshape(4, 2))


def test_a_user_op_without_lowering_runs_on_numpy_and_says_so_on_numba() -> None:
    m = gc.input("m", shape=(3, 2))
    norms = gc.apply(ROW_NORMS, m)
    value = np.array([[3.0, 4.0], [1.0, 0.0], [0.5, -0.5]])
    gc.check_grad(gc.sum(norms), m, {m: value})
    np.testing.assert_allclose(gc.compile([m], norms, backend="numpy")(value), [5.0, 1.0, np.sqrt(0.5)])
    with pytest.raises(gc.GraphcError, match="no lowering for op 'user_row_norms'"):
        gc.compile([m], norms, backend="numba")


def test_register_op_adds_to_the_registry_once() -> None:
    record = gc.Op("user_registered", shape=lambda inputs: (), dtype=lambda inputs: np.dtype("float64"),
                   impl=lambda: np.float64(1.0), arity=0)
    try:
        assert gc.register_op(record) is record and ir.OPS["user_registered"] is record
        with pytest.raises(gc.GraphcError, match="already registered"):
            gc.register_op(record)
    finally:
        ir.OPS.pop("user_registered", None)  # keep the registry-driven suites to graphc's own ops
    with pytest.raises(gc.GraphcError, match="needs a gc.Op record"):
        gc.register_op("exp")


POSITIVE = gc.Op(  # declares float64 while its scalar template computes a bool
    "user_positive", label="positive", arity=1, differentiable=False,
    shape=lambda inputs: (), dtype=lambda inputs: np.dtype("float64"),
    impl=lambda a: np.array(float(np.asarray(a) > 0)), scalar="({0} > 0)",
)


def test_a_user_ops_rank0_result_has_its_declared_dtype_on_every_call_path() -> None:
    """The fast call (positional arrays) and the checked path (keywords) both return the
    dtype the record declares, whatever the template computes (the fast call once built a
    float64 result without naming its dtype and returned a bool array here)."""
    s = gc.input("s")
    f = gc.compile([s], [gc.apply(POSITIVE, s), s * 2.0])
    for got in (f(np.array(1.5)), f(s=np.array(1.5))):
        assert got[0].dtype == np.float64 and got[0].shape == () and got[0] == 1.0
        assert got[1].dtype == np.float64 and got[1] == 3.0
