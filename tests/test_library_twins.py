"""The NumPy-level twins of graphc's helpers (library*.NUMPY_TWINS) against the helpers themselves.

The kernel-mode graph function (plain Python) calls the twins, one-function graphs the jitted
helpers: both must give the same numbers and raise the same errors. Each twin is checked here
against its helper compiled by Numba (runtime.jitted: what one-function graphs run; the loops
are the independent reference, and this keeps every jitted helper checked on Numba now that the
kernel-mode graphs of tests/test_backend_ops.py call the twins), on
shapes with padding, stride, dilation, groups, batches and NaN where the helper takes them.
"""

from __future__ import annotations

import numpy as np
import pytest

from graphc.backend import library, runtime
from graphc.errors import InputError


def _pair(name: str):  # noqa: ANN202 - the jitted helper and its twin
    module = __import__(library.helper(name).__module__, fromlist=["x"])
    return runtime.jitted(name), getattr(module, library.NUMPY_TWINS[name])


def _same(name: str, *args: object) -> None:
    helper, twin = _pair(name)
    want, got = helper(*args), twin(*args)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_every_twin_names_a_helper_and_a_function() -> None:
    assert library.NUMPY_TWINS
    for name in library.NUMPY_TWINS:
        helper, twin = _pair(name)
        assert callable(library.helper(name)) and callable(twin) and name in library.HELPERS


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linalg_twins(dtype: str) -> None:
    rng = np.random.default_rng(3)
    m = rng.standard_normal((2, 4, 4)).astype(dtype)
    spd = (m @ m.transpose(0, 2, 1) + 4 * np.eye(4)).astype(dtype)
    b = rng.standard_normal((2, 4, 3)).astype(dtype)
    helper, twin = _pair("cholesky_stack")
    np.testing.assert_allclose(twin(spd), helper(spd), rtol=1e-5 if dtype == "float32" else 1e-12)
    assert twin(spd).dtype == spd.dtype
    lower = np.tril(spd)
    for flags in [(True, False), (False, False), (True, True)]:
        tri = lower if flags[0] else lower.transpose(0, 2, 1).copy()
        helper, twin = _pair("solve_triangular_stack")
        np.testing.assert_allclose(twin(tri, b, *flags), helper(tri, b, *flags),
                                   rtol=1e-4 if dtype == "float32" else 1e-10)
    for k in (-1, 0, 2):
        _same("band_stack", m, k, True)
        _same("band_stack", m, k, False)
    _same("diagonal_stack", m, 1, 3)
    _same("diagonal_stack", m, -2, 2)
    v = rng.standard_normal((2, 3)).astype(dtype)
    _same("diag_embed_stack", v, 1, 4, 4)
    _same("diag_embed_stack", v, -1, 4, 3)


def test_linalg_twins_raise_the_helpers_errors() -> None:
    bad = np.array([[[1.0, 2.0], [2.0, 1.0]]])
    for name, args in [("cholesky_stack", (bad,)),
                       ("solve_triangular_stack", (np.zeros((1, 2, 2)), np.ones((1, 2, 1)), True, False))]:
        helper, twin = _pair(name)
        with pytest.raises(InputError) as want:
            helper(*args)
        with pytest.raises(InputError) as got:
            twin(*args)
        assert str(got.value) == str(want.value)


@pytest.mark.parametrize("stride,padding,dilation,groups", [
    ((1, 1), ((1, 1), (1, 1)), (1, 1), 1), ((2, 1), ((0, 1), (2, 0)), (1, 2), 2)])
def test_conv_twins(stride, padding, dilation, groups) -> None:  # noqa: ANN001
    rng = np.random.default_rng(5)
    x_shape, w_shape = (2, 4, 7, 6), (6, 4 // groups, 3, 2)
    out_h = (7 + sum(padding[0]) - dilation[0] * 2 - 1) // stride[0] + 1
    out_w = (6 + sum(padding[1]) - dilation[1] * 1 - 1) // stride[1] + 1
    y_shape = (2, 6, out_h, out_w)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    args = (x_shape, w_shape, stride, padding, dilation, y_shape)
    _same("conv2d_unfold", x, *args, False)
    columns = runtime.jitted("conv2d_unfold")(x, *args, False)
    _same("conv2d_unfold", columns, *args, True)
    _same("conv2d_gemm", columns, w, groups, y_shape)
    g = rng.standard_normal(y_shape)
    _same("conv2d_cotangent_rows", g)
    rows = runtime.jitted("conv2d_cotangent_rows")(g)
    _same("conv2d_weight_gemm", columns, rows, groups, w_shape)
    _same("conv2d_columns_grad", rows, w, groups)


@pytest.mark.parametrize("kernel,stride,padding", [((2, 2), (2, 2), (0, 0)), ((3, 2), (1, 2), (1, 1))])
def test_pool_twins(kernel, stride, padding) -> None:  # noqa: ANN001
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 6, 5))
    x[0, 1, 2, 3] = np.nan
    x[1, 0, 1, :] = x[1, 0, 1, 0]  # ties: the first maximum wins
    out_shape = (2, 3, (6 + 2 * padding[0] - kernel[0]) // stride[0] + 1,
                 (5 + 2 * padding[1] - kernel[1]) // stride[1] + 1)
    _same("max_pool2d_forward", x, kernel, stride, padding, out_shape)
    helper, twin = _pair("max_pool2d_argmax")
    positions = helper(x, kernel, stride, padding, out_shape)
    np.testing.assert_array_equal(twin(x, kernel, stride, padding, out_shape), positions)
    g = rng.standard_normal(out_shape)
    _same("max_pool2d_route", positions, g, x.shape, True)
    _same("max_pool2d_route", positions, x, x.shape, False)


def test_one_hot_twin() -> None:
    labels = np.array([0, 3, 1, 3])
    _same("one_hot_flat", labels, 4, 1.0)
    _same("one_hot_flat", labels, 4, np.float32(1.0))
    helper, twin = _pair("one_hot_flat")
    with pytest.raises(InputError) as want:
        helper(np.array([0, 5]), 4, 1.0)
    with pytest.raises(InputError) as got:
        twin(np.array([0, 5]), 4, 1.0)
    assert str(got.value) == str(want.value)


def test_copy_into_twin() -> None:
    helper, twin = _pair("copy_into")
    want, got = np.zeros((3, 4)), np.zeros((3, 4))
    values = np.arange(6.0).reshape(3, 2)
    helper(want[:, 1:3], values)
    twin(got[:, 1:3], values)
    np.testing.assert_array_equal(got, want)


def test_kernel_mode_graph_calls_the_twins_and_one_function_graphs_the_helpers() -> None:
    """Generated code only (lower: no Numba): the plain-Python kernel-mode function imports the
    twins under the helpers' names; a one-function graph (njit) imports the jitted helpers."""
    import graphc as gc
    from graphc.backend.lower import lower

    a = gc.input("a", (4, 4))
    b = gc.input("b", (4, 2))
    factor = gc.linalg.cholesky(a @ a.T + 4.0)
    x = gc.linalg.solve_triangular(factor, b, lower=True)
    outputs = [gc.sum(gc.tanh(x) * gc.exp(x)), *gc.grad(gc.sum(x * x), [a, b])]
    shared = lower([a, b], outputs, kernels=True).generated.source
    assert "cholesky_stack_numpy as cholesky_stack" in shared
    assert "solve_triangular_stack_numpy as solve_triangular_stack" in shared
    alone = lower([a, b], outputs, kernels=False).generated.source
    assert "_numpy as" not in alone and "cholesky_stack" in alone


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["softmax_rows", "log_softmax_rows"])
def test_row_twins(name: str, dtype: str) -> None:
    """The row helpers' twins against the jitted helpers and SciPy, with NaN, inf, -inf and huge rows."""
    from scipy import special

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((9, 13)) * 4).astype(dtype)
    x[1, 3] = np.nan
    x[2, 5] = np.inf
    x[3, :] = -np.inf
    x[4, 7] = -np.inf
    x[5, :] = x[5, :] + (3e4 if dtype == "float32" else 1e17)  # the shift decides the answer
    helper, twin = _pair(name)
    want, got = helper(x), twin(x)
    assert got.shape == want.shape and got.dtype == want.dtype == x.dtype
    tight = {"rtol": 1e-13, "atol": 1e-13} if dtype == "float64" else {"rtol": 2e-6, "atol": 2e-6}
    np.testing.assert_allclose(got, want, **tight)
    finite = [0, 6, 7, 8]  # rows SciPy answers alike (no NaN, inf or cancellation)
    reference = {"softmax_rows": lambda v: special.softmax(v, axis=1),
                 "log_softmax_rows": lambda v: special.log_softmax(v, axis=1)}[name]
    np.testing.assert_allclose(got[finite], reference(x[finite].astype(np.float64)).astype(dtype), **tight)
    got = twin(np.zeros((3, 0), dtype))  # no column: nothing to compute (the helper's loops read none)
    assert got.dtype == x.dtype and got.shape == (3, 0)
