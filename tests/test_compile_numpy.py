"""gc.compile(..., backend="numpy"): argument binding, coercion and output structure.

The failure cases (wrong count, shape, dtype kind, keyword) are in
test_errors.py; this module checks what a correct call does.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


Affine = tuple[gc.Tensor, gc.Tensor, gc.Tensor, gc.Tensor]


@pytest.fixture
def affine() -> Affine:
    x = gc.input("x", shape=("n", 3))
    W = gc.input("W", shape=(3, 2))
    b = gc.input("b", shape=(2,))
    return x, W, b, x @ W + b


def reference(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ W + b


# ------------------------------------------------------------ outputs

def test_single_output_is_an_array(affine: Affine, rng: np.random.Generator) -> None:
    x, W, b, y = affine
    f = gc.compile([x, W, b], y, backend="numpy")
    args = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    value = f(*args)
    assert type(value) is np.ndarray
    np.testing.assert_allclose(value, reference(*args))


def test_scalar_output_is_a_0d_array() -> None:
    x = gc.input("x", shape=(3,))
    value = gc.compile([x], gc.sum(x), backend="numpy")(np.arange(3.0))
    assert type(value) is np.ndarray and value.shape == () and value == 3.0


def test_list_and_tuple_outputs_keep_their_structure(affine: Affine, rng: np.random.Generator) -> None:
    x, W, b, y = affine
    args = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    as_list = gc.compile([x, W, b], [y, gc.sum(y)], backend="numpy")(*args)
    as_tuple = gc.compile([x, W, b], (y, gc.sum(y)), backend="numpy")(*args)
    one_list = gc.compile([x, W, b], [y], backend="numpy")(*args)
    assert type(as_list) is list and len(as_list) == 2
    assert type(as_tuple) is tuple and len(as_tuple) == 2
    assert type(one_list) is list and len(one_list) == 1
    for outputs in (as_list, as_tuple):
        assert all(type(v) is np.ndarray for v in outputs)
        np.testing.assert_allclose(outputs[0], reference(*args))
        np.testing.assert_allclose(outputs[1], reference(*args).sum())
    np.testing.assert_allclose(one_list[0], reference(*args))


def test_outputs_may_repeat_be_inputs_or_constants() -> None:
    x = gc.input("x", shape=(2,))
    f = gc.compile([x], [x, x * 2, x * 2, 7.0, np.ones(2)], backend="numpy")
    value = np.array([1.0, 2.0])
    same, double, again, seven, ones = f(value)
    np.testing.assert_array_equal(same, value)
    np.testing.assert_array_equal(double, [2.0, 4.0])
    np.testing.assert_array_equal(again, [2.0, 4.0])
    assert seven.shape == () and seven == 7.0
    np.testing.assert_array_equal(ones, np.ones(2))


def test_outputs_do_not_alias_inputs_or_constants() -> None:
    x = gc.input("x", shape=(2, 2))
    k = gc.constant(np.eye(2))
    f = gc.compile([x], [x, x.T, k, x[0]], backend="numpy")
    value = np.arange(4.0).reshape(2, 2)
    outputs = f(value)
    for out in outputs:
        out[...] = -1.0  # writable, and writing must not reach the caller's array or the graph
    np.testing.assert_array_equal(value, np.arange(4.0).reshape(2, 2))
    np.testing.assert_array_equal(f(value)[2], np.eye(2))


def test_function_exposes_source_and_inputs(affine: Affine) -> None:
    x, W, b, y = affine
    f = gc.compile([x, W, b], y, backend="numpy")
    assert f.inputs == (x, W, b)
    assert "matmul x W" in f.source
    assert "x" in repr(f) and "numpy" in repr(f)


# ---------------------------------------------------------- arguments

def test_keyword_arguments_by_input_name(affine: Affine, rng: np.random.Generator) -> None:
    x, W, b, y = affine
    f = gc.compile([x, W, b], y, backend="numpy")
    xv, Wv, bv = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    expected = reference(xv, Wv, bv)
    np.testing.assert_allclose(f(x=xv, W=Wv, b=bv), expected)
    np.testing.assert_allclose(f(b=bv, W=Wv, x=xv), expected)
    np.testing.assert_allclose(f(xv, b=bv, W=Wv), expected)


def test_inputs_order_is_the_compile_order_not_the_graph_order() -> None:
    a = gc.input("a", shape=(2,))
    b = gc.input("b", shape=(2,))
    f = gc.compile([b, a], a - b, backend="numpy")
    np.testing.assert_array_equal(f(np.ones(2), np.zeros(2)), -np.ones(2))


def test_unused_inputs_are_accepted_and_checked() -> None:
    a = gc.input("a", shape=(2,))
    unused = gc.input("unused", shape=(3,))
    f = gc.compile([a, unused], a * 2, backend="numpy")
    np.testing.assert_array_equal(f(np.ones(2), np.zeros(3)), 2 * np.ones(2))
    with pytest.raises(gc.InputError, match="'unused'"):
        f(np.ones(2), np.zeros(4))


def test_named_dims_take_any_consistent_size(affine: Affine, rng: np.random.Generator) -> None:
    x, W, b, y = affine
    f = gc.compile([x, W, b], y, backend="numpy")
    Wv, bv = rng.normal(size=(3, 2)), rng.normal(size=2)
    for n in (1, 5, 0):
        xv = rng.normal(size=(n, 3))
        np.testing.assert_allclose(f(xv, Wv, bv), reference(xv, Wv, bv))


def test_named_dim_shared_between_inputs_and_shapes_of_intermediates() -> None:
    x = gc.input("x", shape=("n", "d"))
    w = gc.input("w", shape=("d",))
    f = gc.compile([x, w], gc.reshape(x * w, -1), backend="numpy")
    xv, wv = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(f(xv, wv), (xv * wv).reshape(-1))
    xv = np.arange(20.0).reshape(5, 4)
    np.testing.assert_array_equal(f(xv, np.ones(4)), xv.reshape(-1))


def test_rank_0_inputs_take_numbers() -> None:
    s = gc.input("s")
    x = gc.input("x", shape=(2,))
    f = gc.compile([s, x], s * x, backend="numpy")
    np.testing.assert_array_equal(f(3, [1.0, 2.0]), [3.0, 6.0])
    np.testing.assert_array_equal(f(np.float64(0.5), np.ones(2)), [0.5, 0.5])


@pytest.mark.parametrize("declared, given", [
    ("float32", np.float64), ("float64", np.float32), ("float64", np.int64), ("float32", np.int32),
    ("int32", np.int64), ("int64", np.int32), ("int64", np.bool_), ("float64", np.bool_),
    ("bool", np.bool_),
])
def test_arguments_are_coerced_to_the_declared_dtype(declared: str, given: type) -> None:
    x = gc.input("x", shape=(3,), dtype=declared)
    f = gc.compile([x], [x, gc.sum(x)], backend="numpy")
    value = np.array([1, 0, 1]).astype(given)
    same, total = f(value)
    assert same.dtype == np.dtype(declared)
    np.testing.assert_array_equal(same, value.astype(declared))
    assert total == np.sum(value.astype(declared))


def test_python_lists_and_non_contiguous_arrays() -> None:
    x = gc.input("x", shape=(2, 3))
    f = gc.compile([x], x * 10, backend="numpy")
    np.testing.assert_array_equal(f([[1, 2, 3], [4, 5, 6]]), [[10, 20, 30], [40, 50, 60]])
    strided = np.arange(12.0).reshape(3, 4).T[::2, :2].T  # (2, 2) view -> wrong shape
    with pytest.raises(gc.InputError):
        f(strided)
    view = np.arange(12.0).reshape(4, 3)[::2]  # non-contiguous (2, 3)
    np.testing.assert_array_equal(f(view), view * 10)


def test_a_function_is_reusable_and_stateless(affine: Affine, rng: np.random.Generator) -> None:
    x, W, b, y = affine
    f = gc.compile([x, W, b], y, backend="numpy")
    first = [rng.normal(size=(2, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)]
    second = [rng.normal(size=(7, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)]
    a = f(*first)
    f(*second)
    np.testing.assert_array_equal(f(*first), a)


def test_compile_accepts_a_single_input_tensor() -> None:
    x = gc.input("x", shape=(2,))
    f = gc.compile(x, x + 1, backend="numpy")
    np.testing.assert_array_equal(f(np.zeros(2)), np.ones(2))


def test_simplify_false_gives_the_same_values(affine: Affine, rng: np.random.Generator) -> None:
    x, W, b, y = affine
    loss = gc.sum(gc.log(gc.softmax(y)) * 1.0 + 0.0)
    args = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    plain = gc.compile([x, W, b], loss, backend="numpy", simplify=False)(*args)
    simplified = gc.compile([x, W, b], loss, backend="numpy")(*args)
    expected = np.sum(np.log(np.exp(reference(*args)) / np.exp(reference(*args)).sum(-1, keepdims=True)))
    np.testing.assert_allclose(plain, expected)
    np.testing.assert_allclose(simplified, expected)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_size_equalities_survive_simplification(backend: str) -> None:
    """x + zeros_like(y) simplifies to x, but n == m was promised when it was built."""
    x = gc.input("x", shape=("n",))
    y = gc.input("y", shape=("m",))
    f = gc.compile([x, y], gc.sum(x + gc.zeros_like(y)), backend=backend)
    assert float(f(np.ones(3), np.ones(3))) == 3.0
    with pytest.raises(gc.InputError, match="'m' = 4 .* 'n' = 3"):
        f(np.ones(3), np.ones(4))


def test_gradients_are_named_after_their_inputs_in_generated_code() -> None:
    X = gc.input("X", shape=(3, 3))
    W = gc.input("W", shape=(3, 2))
    loss = gc.sum(gc.sigmoid(X @ W))
    f = gc.compile([X, W], [loss, *gc.grad(loss, [X, W])])
    assert "d_X = " in f.source and "d_W = " in f.source
