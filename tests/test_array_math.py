"""var, std, prod, cumsum, sort, argmax/argmin, arange, roll, pad against NumPy, on both backends.

One compiled function per backend computes every case and its gradient
(Numba compiles once); gradients are checked against the analytic rule and,
on the numpy backend, against central differences (gc.check_grad). Batching
rules are checked against a loop over examples, and bad arguments must fail
while the graph is built, naming what was wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.special

import graphc as gc

RNG = np.random.default_rng(21)
X = RNG.standard_normal((4, 5))
X[1, 2] = X[1, 4]  # a tie for sort and argmax
W = RNG.standard_normal((4, 5))
Z = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, 4.0]])  # one zero, two zeros, none
N = np.array([1.0, np.nan, 3.0, np.nan, -1.0])


def _cases(x: gc.Tensor, w: gc.Tensor, z: gc.Tensor, nan: gc.Tensor) -> dict[str, gc.Tensor]:
    def grad(y: gc.Tensor, wrt: gc.Tensor = x) -> gc.Tensor:
        return gc.grad(gc.sum(w * y) if y.shape == w.shape else gc.sum(y), wrt)

    return {
        "var": gc.var(x), "var1": gc.var(x, axis=1, ddof=1, keepdims=True), "std0": gc.std(x, axis=0),
        "d_var1": gc.grad(gc.sum(gc.var(x, axis=1, ddof=1, keepdims=True) * w), x),
        "d_std": grad(gc.std(x)),
        "cumsum": gc.cumsum(x, axis=1), "cumsum0": gc.cumsum(x, axis=0), "cumsum_flat": gc.cumsum(x),
        "d_cumsum": grad(gc.cumsum(x, axis=1)),
        "prod": gc.prod(z, axis=1), "prod_all": gc.prod(x), "d_prod": grad(gc.prod(z, axis=1), z),
        "sort": gc.sort(x), "sort0": gc.sort(x, axis=0), "sort_nan": gc.sort(nan),
        "d_sort": grad(gc.sort(x)), "d_sort0": grad(gc.sort(x, axis=0)),
        "argmax": gc.argmax(x, axis=1), "argmin": gc.argmin(x, axis=0, keepdims=True),
        "argmax_flat": gc.argmax(x), "argmax_nan": gc.argmax(nan), "argmin_nan": gc.argmin(nan),
        "roll": gc.roll(x, 2, axis=1), "roll_flat": gc.roll(z, -4), "roll2": gc.roll(z, (1, -2), (0, 1)),
        "d_roll": grad(gc.roll(x, 2, axis=1)),
        "pad": gc.pad(x, ((0, 0), (2, 3)), constant_values=((7, 8), (9, 10))),
        "pad_edge": gc.pad(z, 2, mode="edge"), "d_pad": gc.grad(gc.sum(gc.pad(z, 1) ** 2), z),
        "arange": gc.arange(x.shape[0]), "arange_step": gc.arange(1, x.shape[0], 2, dtype="float32"),
        "arange_static": gc.arange(0.5, 3.0, 0.5),
        "rows_times_index": x * gc.arange(x.shape[1]),
    }


def _expected() -> dict[str, Any]:
    rows = np.arange(4)[:, None]
    order = np.argsort(X, axis=1, kind="stable")
    order0 = np.argsort(X, axis=0, kind="stable")
    d_sort = np.zeros_like(X)
    d_sort[rows, order] = W
    d_sort0 = np.zeros_like(X)
    d_sort0[order0, np.arange(5)] = W
    others = np.array([[np.prod(np.delete(r, i)) for i in range(3)] for r in Z])
    return {
        "var": np.var(X), "var1": np.var(X, axis=1, ddof=1, keepdims=True), "std0": np.std(X, axis=0),
        "d_var1": 2 * (X - X.mean(axis=1, keepdims=True)) / 4 * W.sum(axis=1, keepdims=True),
        "d_std": (X - X.mean()) / (X.size * np.std(X)),
        "cumsum": np.cumsum(X, axis=1), "cumsum0": np.cumsum(X, axis=0), "cumsum_flat": np.cumsum(X),
        "d_cumsum": np.cumsum(W[:, ::-1], axis=1)[:, ::-1],
        "prod": np.prod(Z, axis=1), "prod_all": np.prod(X), "d_prod": others,
        "sort": np.sort(X), "sort0": np.sort(X, axis=0), "sort_nan": np.sort(N),
        "d_sort": d_sort, "d_sort0": d_sort0,
        "argmax": np.argmax(X, axis=1), "argmin": np.argmin(X, axis=0, keepdims=True),
        "argmax_flat": np.argmax(X), "argmax_nan": np.argmax(N), "argmin_nan": np.argmin(N),
        "roll": np.roll(X, 2, axis=1), "roll_flat": np.roll(Z, -4), "roll2": np.roll(Z, (1, -2), (0, 1)),
        "d_roll": np.roll(W, -2, axis=1),
        "pad": np.pad(X, ((0, 0), (2, 3)), constant_values=((7, 8), (9, 10))),
        "pad_edge": np.pad(Z, 2, mode="edge"), "d_pad": 2 * Z,
        "arange": np.arange(4), "arange_step": np.arange(1, 4, 2, dtype=np.float32),
        "arange_static": np.arange(0.5, 3.0, 0.5), "rows_times_index": X * np.arange(5),
    }


@pytest.fixture(scope="module", params=["numpy", "numba"])
def results(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    x, w = gc.input("x", shape=("n", 5)), gc.input("w", shape=("n", 5))
    z, nan = gc.input("z", shape=(3, 3)), gc.input("nan", shape=(5,))
    cases = _cases(x, w, z, nan)
    names = list(cases)
    f = gc.compile([x, w, z, nan], [cases[n] for n in names], backend=request.param)
    return dict(zip(names, f(X, W, Z, N)))


@pytest.mark.parametrize("name", sorted(_expected()))
def test_matches_numpy(results: dict[str, np.ndarray], name: str) -> None:
    got, want = results[name], np.asarray(_expected()[name])
    assert got.shape == want.shape and got.dtype == want.dtype, (name, got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=name)


def test_gradients_agree_with_central_differences() -> None:
    x = gc.input("x", shape=(3, 4))
    values = {x: RNG.standard_normal((3, 4))}
    weights = RNG.standard_normal((3, 4))
    for y in [gc.sum(weights * gc.sort(x, axis=0)), gc.sum(weights * gc.cumsum(x, axis=1)),
              gc.std(x, axis=1, ddof=1).sum(), gc.sum(gc.prod(x, axis=0) ** 2),
              gc.sum(weights[:2] * gc.roll(x, 1, axis=0)[1:]), gc.sum(gc.pad(x, 2, mode="edge") ** 3),
              gc.sum(gc.logaddexp(x, 2 * x)), gc.sum(x % 0.7)]:
        gc.check_grad(y, x, values)


def test_second_order_through_sort_and_prod() -> None:
    x = gc.input("x", shape=(4,))
    value = np.array([3.0, -1.0, 2.0, 0.5])
    hessian = gc.compile([x], gc.hessian(gc.sum(gc.sort(x) ** 3 * np.arange(4.0)) + gc.prod(x), x),
                         backend="numpy")(value)
    rank = np.argsort(np.argsort(value))  # the position each entry sorts to
    expected = np.diag(6 * value * rank)
    for i in range(4):
        for j in range(4):
            if i != j:
                expected[i, j] += np.prod(np.delete(value, [i, j]))
    np.testing.assert_allclose(hessian, expected, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sort_jvp_and_vjp_follow_the_permutation(backend: str) -> None:
    """Sort's tangent is the tangent taken in sorted order; its cotangent goes back to where
    each value came from (NumPy's stable argsort as the reference, ties included)."""
    x, t = gc.input("x", shape=(4, 5)), gc.input("t", shape=(4, 5))
    jvp0, jvp1 = gc.jvp(gc.sort(x, axis=0), x, t), gc.jvp(gc.sort(x), x, t)
    vjp1 = gc.vjp(gc.sort(x), x, t)
    tangent = RNG.standard_normal((4, 5))
    got = gc.compile([x, t], [jvp0, jvp1, vjp1], backend=backend)(X, tangent)
    order0, order1 = np.argsort(X, axis=0, kind="stable"), np.argsort(X, axis=1, kind="stable")
    np.testing.assert_array_equal(got[0], np.take_along_axis(tangent, order0, axis=0))
    np.testing.assert_array_equal(got[1], np.take_along_axis(tangent, order1, axis=1))
    back = np.zeros_like(tangent)
    for row in range(4):
        for column in range(5):
            back[row, order1[row, column]] += tangent[row, column]
    np.testing.assert_array_equal(got[2], back)


@pytest.mark.parametrize("in_axes", [0, 1])
def test_vmap_matches_a_loop(in_axes: int) -> None:
    value = X if in_axes == 0 else X.T.copy()
    x = gc.input("x", shape=value.shape)
    functions = {
        "sort": (gc.sort, np.sort), "cumsum": (gc.cumsum, np.cumsum),
        "argmax": (gc.argmax, np.argmax), "var": (lambda r: gc.var(r, ddof=1), lambda r: np.var(r, ddof=1)),
        "polygamma": (lambda r: gc.special.polygamma(2, gc.exp(r)),
                      lambda r: scipy.special.polygamma(2, np.exp(r))),
        "index": (lambda r: r * gc.arange(r.shape[0]), lambda r: r * np.arange(r.size)),
        "prod": (gc.prod, np.prod), "roll": (lambda r: gc.roll(r, 2), lambda r: np.roll(r, 2)),
    }
    batched = [gc.vmap(f, in_axes=in_axes)(x) for f, _ in functions.values()]
    got = gc.compile([x], batched, backend="numpy")(value)
    for (name, (_, reference)), result in zip(functions.items(), got):
        np.testing.assert_allclose(result, np.stack([reference(r) for r in X]), rtol=1e-12, err_msg=name)


def test_sort_gradient_under_vmap_with_the_batch_axis_last() -> None:
    x = gc.input("x", shape=(5, 4))
    d_sorted = gc.vmap(lambda r: gc.grad(gc.sum(gc.sort(r) * np.arange(5.0)), r), in_axes=1)(x)
    got = gc.compile([x], d_sorted, backend="numpy")(X.T.copy())
    np.testing.assert_allclose(got, np.argsort(np.argsort(X, axis=1, kind="stable"), axis=1))


def test_numpy_names_build_the_same_graphs() -> None:
    x = gc.input("x", shape=(4, 5))
    for through_numpy, direct in [(np.var(x, axis=0, ddof=1), gc.var(x, axis=0, ddof=1)),
                                  (np.std(x), gc.std(x)), (np.cumsum(x, 1), gc.cumsum(x, 1)),
                                  (np.prod(x, axis=1), gc.prod(x, axis=1)), (np.sort(x), gc.sort(x)),
                                  (np.argmax(x, axis=0), gc.argmax(x, axis=0)), (x % 2.0, gc.mod(x, 2.0)),
                                  (np.roll(x, 1), gc.roll(x, 1)), (np.pad(x, 1), gc.pad(x, 1)),
                                  (np.round(x, 1), gc.round(x, 1)), (np.floor(x), gc.floor(x)),
                                  (np.logaddexp(x, 1.0), gc.logaddexp(x, 1.0))]:
        assert gc.format_graph([through_numpy], [x]) == gc.format_graph([direct], [x])


def test_float32_and_integer_dtypes_follow_numpy() -> None:
    f32, i32 = gc.input("f", shape=(3,), dtype="float32"), gc.input("i", shape=(3,), dtype="int32")
    assert gc.var(f32).dtype == np.float32 and gc.var(i32).dtype == np.float64
    assert gc.cumsum(i32).dtype == np.int64 and gc.prod(i32).dtype == np.int64
    assert gc.logaddexp(f32, 2.0).dtype == np.float32 and gc.special.xlogy(f32, 2.0).dtype == np.float32
    assert gc.special.digamma(i32).dtype == np.float64 and gc.special.digamma(f32).dtype == np.float32
    assert gc.floor(i32) is i32 and gc.round(i32) is i32 and gc.mod(i32, 2).dtype == np.int32
    assert gc.argmax(f32).dtype == np.int64 and gc.sort(i32).dtype == np.int32


@pytest.mark.parametrize("build, error, words", [
    (lambda x, s: gc.special.polygamma(-1, x), gc.ShapeError, "order n must be >= 0"),
    (lambda x, s: gc.special.polygamma(1.5, x), gc.ShapeError, "static int"),
    (lambda x, s: gc.pad(x, -1), gc.ShapeError, "non-negative"),
    (lambda x, s: gc.pad(x, 1, mode="reflect"), gc.ArgumentError, "'constant' and 'edge'"),
    (lambda x, s: gc.pad(s, 1), gc.ShapeError, "symbolic size"),
    (lambda x, s: gc.roll(x, 1.5), gc.ShapeError, "static int"),
    (lambda x, s: gc.roll(s, 1, axis=0), gc.ShapeError, "symbolic size"),
    (lambda x, s: gc.sort(x, order="a"), gc.ArgumentError, "order"),
    (lambda x, s: gc.sort(gc.sum(x)), gc.ShapeError, "rank-0"),
    (lambda x, s: gc.argmax(x, axis=(0, 1)), gc.ShapeError, "must be an int"),
    (lambda x, s: gc.argmax(gc.input("e", shape=(0, 2)), axis=0), gc.ShapeError, "empty axis"),
    (lambda x, s: gc.arange(gc.sum(x)), gc.ShapeError, "static number"),
    (lambda x, s: gc.arange(2, s.shape[0], -1), gc.ShapeError, "step > 0"),
    (lambda x, s: gc.var(x, ddof=gc.sum(x)), gc.ShapeError, "ddof"),
    (lambda x, s: gc.round(x.astype("int64"), -1), gc.DTypeError, "negative decimals"),
    (lambda x, s: gc.prod(x, out=np.empty(3)), gc.ArgumentError, "out="),
])
def test_bad_arguments_fail_when_the_graph_is_built(build: Any, error: type, words: str) -> None:
    x, s = gc.input("x", shape=(3, 4)), gc.input("s", shape=("n", 4))
    with pytest.raises(error, match=words):
        build(x, s)
