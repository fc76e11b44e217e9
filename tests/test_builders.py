"""The public builders, operators and methods against NumPy itself.

Each case is written once as `fn(m, *operands)` and run twice: with `m = numpy`
on arrays (the reference) and with `m = graphc` on symbolic inputs, compiled
with backend="numpy". Because graphc's functions have NumPy's names and
semantics, the same expression must give the same shape, dtype and values.
Functions NumPy lacks (sigmoid, one_hot, ...) give their reference explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.special

import graphc as gc

F64, F32, I64, I32 = "float64", "float32", "int64", "int32"

# (id, expression over (module, *operands), operand shapes and dtypes)
Spec = tuple[tuple[int, ...], str]
CASES: list[tuple[str, Callable[..., Any], list[Spec]]] = [
    # reductions, functions and methods
    ("sum-all", lambda m, x: m.sum(x), [((2, 3), F64)]),
    ("sum-axis", lambda m, x: m.sum(x, axis=1), [((2, 3, 4), F64)]),
    ("sum-negative-axis-keepdims", lambda m, x: m.sum(x, axis=-1, keepdims=True), [((2, 3), F64)]),
    ("sum-tuple-axis", lambda m, x: m.sum(x, axis=(0, 2)), [((2, 3, 4), F32)]),
    ("sum-int", lambda m, x: m.sum(x, axis=0), [((3, 2), I32)]),
    ("sum-method", lambda m, x: x.sum(axis=0, keepdims=True), [((2, 3), F64)]),
    ("mean-method", lambda m, x: x.mean(axis=(1,)), [((2, 3), F32)]),
    ("mean-int", lambda m, x: m.mean(x), [((4,), I64)]),
    ("max-method", lambda m, x: x.max(), [((2, 3), F64)]),
    ("max-axis", lambda m, x: m.max(x, axis=0), [((2, 3), I32)]),
    ("min-method", lambda m, x: x.min(axis=-1, keepdims=True), [((2, 3), F64)]),
    ("sum-scalar", lambda m, x: m.sum(x), [((), F64)]),
    # shape functions
    ("transpose", lambda m, x: m.transpose(x), [((2, 3, 4), F64)]),
    ("transpose-axes", lambda m, x: m.transpose(x, (1, 0, 2)), [((2, 3, 4), F64)]),
    ("transpose-method", lambda m, x: x.transpose(2, 0, 1), [((2, 3, 4), F64)]),
    ("transpose-method-tuple", lambda m, x: x.transpose((1, 0)), [((2, 3), F64)]),
    (".T", lambda m, x: x.T, [((2, 3), F64)]),
    (".T-vector", lambda m, x: x.T, [((3,), F64)]),
    ("reshape-minus-one", lambda m, x: m.reshape(x, (-1, 4)), [((2, 3, 4), F64)]),
    ("reshape-flat", lambda m, x: m.reshape(x, -1), [((2, 3), F64)]),
    ("reshape-method-args", lambda m, x: x.reshape(3, -1), [((2, 3), F64)]),
    ("reshape-to-scalar", lambda m, x: m.reshape(x, ()), [((1, 1), F64)]),
    ("concatenate", lambda m, x, y: m.concatenate([x, y]), [((2, 3), F64), ((1, 3), F64)]),
    ("concatenate-axis", lambda m, x, y: m.concatenate((x, y), axis=-1), [((2, 3), F64), ((2, 1), F32)]),
    ("concatenate-int-float", lambda m, x, y: m.concatenate([x, y]), [((2,), I64), ((3,), F32)]),
    ("stack", lambda m, x, y: m.stack([x, y]), [((2, 3), F64), ((2, 3), F64)]),
    ("stack-axis", lambda m, x, y: m.stack([x, y], axis=1), [((2, 3), F64), ((2, 3), F64)]),
    ("stack-last", lambda m, x, y: m.stack([x, y], axis=-1), [((3,), F64), ((3,), F64)]),
    ("squeeze-all", lambda m, x: m.squeeze(x), [((1, 3, 1), F64)]),
    ("squeeze-axis", lambda m, x: m.squeeze(x, axis=2), [((1, 3, 1), F64)]),
    ("squeeze-negative-axes", lambda m, x: m.squeeze(x, axis=(0, -1)), [((1, 3, 1), F64)]),
    ("expand_dims", lambda m, x: m.expand_dims(x, 1), [((2, 3), F64)]),
    ("expand_dims-negative", lambda m, x: m.expand_dims(x, -1), [((2, 3), F64)]),
    ("expand_dims-tuple", lambda m, x: m.expand_dims(x, (0, 3)), [((2, 3), F64)]),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (4, 2, 3)), [((2, 1), F64)]),
    # linear algebra
    ("matmul-operator", lambda m, x, y: x @ y, [((3, 4), F64), ((4, 2), F64)]),
    ("matmul-batched", lambda m, x, y: m.matmul(x, y), [((2, 3, 4), F32), ((4, 5), F32)]),
    ("matmul-mixed", lambda m, x, y: m.matmul(x, y), [((3, 4), F32), ((4,), F64)]),
    ("matmul-int", lambda m, x, y: x @ y, [((3, 4), I64), ((4, 2), I64)]),
    ("dot-vectors", lambda m, x, y: m.dot(x, y), [((4,), F64), ((4,), F64)]),
    ("dot-matrix-vector", lambda m, x, y: m.dot(x, y), [((3, 4), F64), ((4,), F64)]),
    ("dot-vector-matrix", lambda m, x, y: m.dot(x, y), [((3,), F64), ((3, 4), F64)]),
    ("dot-matrices", lambda m, x, y: m.dot(x, y), [((3, 4), F64), ((4, 2), F64)]),
    ("dot-scalar", lambda m, x, y: m.dot(x, y), [((), F64), ((3, 2), F64)]),
    ("outer", lambda m, x, y: m.outer(x, y), [((3,), F64), ((4,), F64)]),
    ("outer-flattens", lambda m, x, y: m.outer(x, y), [((2, 2), F64), ((3,), F32)]),
    # elementwise functions
    ("clip", lambda m, x: m.clip(x, -1.0, 0.5), [((3, 4), F64)]),
    ("clip-no-low", lambda m, x: m.clip(x, None, 0.5), [((3, 4), F64)]),
    ("clip-no-high", lambda m, x: m.clip(x, -0.5, None), [((3, 4), F32)]),
    ("clip-int-no-high", lambda m, x: m.clip(x, 0, None), [((5,), I32)]),
    ("clip-arrays", lambda m, x, lo: m.clip(x, lo, 1.0), [((3, 4), F64), ((4,), F64)]),
    ("where-bool", lambda m, x, y: m.where(x > y, x, y), [((3, 4), F64), ((4,), F64)]),
    ("where-scalars", lambda m, x: m.where(x > 0, 1.0, x), [((3,), F32)]),
    ("maximum-scalar", lambda m, x: m.maximum(x, 0.0), [((3, 2), F32)]),
    ("minimum", lambda m, x, y: m.minimum(x, y), [((3, 1), F64), ((2,), I32)]),
    ("power-int", lambda m, x: m.power(x, 2), [((4,), I64)]),
    ("square-sqrt", lambda m, x: m.sqrt(m.square(x)), [((4,), F64)]),
    ("exp-log", lambda m, x: m.log(m.exp(x) + 1), [((2, 2), F32)]),
    ("trig", lambda m, x: m.sin(x) * m.cos(x) + m.tan(x / 4) - m.arctan(x) + m.tanh(x),
     [((5,), F64)]),
    ("log1p-expm1", lambda m, x: m.log1p(m.abs(x)) + m.expm1(x), [((5,), F64)]),
    ("sign-negative", lambda m, x: m.sign(x) + m.negative(x), [((5,), I64)]),
    ("comparisons", lambda m, x, y: m.stack([m.equal(x, y), m.not_equal(x, y), m.less(x, y),
                                               m.less_equal(x, y), m.greater(x, y),
                                               m.greater_equal(x, y)]),
     [((4,), I64), ((4,), I64)]),
    ("zeros_like-ones_like", lambda m, x: m.zeros_like(x) + 2 * m.ones_like(x), [((2, 3), F32)]),
    ("astype", lambda m, x: m.astype(x * 10, "int32"), [((2, 3), F64)]),
    ("astype-method", lambda m, x: x.astype(np.float32), [((2, 3), I64)]),
    # operators with tensors, Python numbers and arrays on either side
    ("operators", lambda m, x, y: (x + y) * (x - y) / (y + 4.0) - x ** 2, [((2, 3), F64), ((3,), F64)]),
    ("reflected-operators", lambda m, x: 1 - 2.0 * x + 3 / (x + 5) - 2 ** x, [((3,), F32)]),
    ("unary", lambda m, x: -abs(x) + (+x), [((3,), F64)]),
    ("array-left", lambda m, x: np.arange(3.0) + x, [((2, 3), F64)]),
    ("array-left-matmul", lambda m, x: np.ones((2, 3)) @ x, [((3, 4), F64)]),
    ("comparison-operators", lambda m, x: m.stack([x < 0.5, x <= 0.5, x > 0.5, x >= 0.5]),
     [((3,), F64)]),
    ("comparison-reflected", lambda m, x: 0.5 < x, [((3,), F64)]),
    ("integer-division", lambda m, x, y: x / y, [((3,), I64), ((3,), I32)]),
    # basic indexing, against NumPy's own indexing
    ("index-int", lambda m, x: x[1], [((3, 4), F64)]),
    ("index-negative-int", lambda m, x: x[-1, -2], [((3, 4), F64)]),
    ("index-slice", lambda m, x: x[1:3], [((4, 2), F64)]),
    ("index-open-slices", lambda m, x: x[:2, 1:], [((4, 3), F64)]),
    ("index-step", lambda m, x: x[::2, 1::2], [((5, 4), F64)]),
    ("index-negative-step", lambda m, x: x[::-1], [((5,), F64)]),
    ("index-negative-step-bounds", lambda m, x: x[3:0:-2, ::-1], [((5, 3), F64)]),
    ("index-negative-bounds", lambda m, x: x[-3:-1], [((5,), F64)]),
    ("index-out-of-range-slice", lambda m, x: x[2:100], [((5,), F64)]),
    ("index-empty-slice", lambda m, x: x[3:1], [((5,), F64)]),
    ("index-None", lambda m, x: x[:, None], [((3,), F64)]),
    ("index-None-first", lambda m, x: x[None], [((2, 3), F64)]),
    ("index-ellipsis", lambda m, x: x[..., 0], [((2, 3, 4), F64)]),
    ("index-ellipsis-middle", lambda m, x: x[1, ..., ::-1], [((2, 3, 4), F64)]),
    ("index-ellipsis-None", lambda m, x: x[..., None, 1:], [((2, 3), F64)]),
    ("index-full", lambda m, x: x[:, :], [((2, 3), F64)]),
    ("index-to-scalar", lambda m, x: x[1, 2], [((2, 3), I32)]),
    ("index-numpy-int", lambda m, x: x[np.int64(1)], [((3,), F64)]),
]

# Functions graphc has and NumPy does not: the reference for the `numpy` run.
EXTRA = {
    "sigmoid": scipy.special.expit,
    "relu": lambda x: np.maximum(x, 0),
    "softplus": lambda x: np.logaddexp(0, x),
    "logsumexp": scipy.special.logsumexp,
    "softmax": scipy.special.softmax,
    "log_softmax": scipy.special.log_softmax,
    "one_hot": lambda labels, n: np.eye(n)[labels],
    "stop_gradient": lambda x: x,
}


class NumpyPlus:
    """numpy, plus the few graphc functions NumPy lacks (from EXTRA)."""

    def __getattr__(self, name: str) -> Any:
        return EXTRA[name] if name in EXTRA else getattr(np, name)


CASES += [
    ("sigmoid", lambda m, x: m.sigmoid(x), [((3, 4), F32)]),
    ("relu-softplus", lambda m, x: m.relu(x) + m.softplus(x), [((3, 4), F64)]),
    ("logsumexp-axis", lambda m, x: m.logsumexp(x, axis=1, keepdims=True), [((3, 4), F64)]),
    ("logsumexp-all", lambda m, x: m.logsumexp(x), [((3, 4), F32)]),
    ("softmax-default-axis", lambda m, x: m.softmax(x, axis=-1), [((3, 4), F64)]),
    ("log_softmax-axis0", lambda m, x: m.log_softmax(x, axis=0), [((3, 4), F64)]),
    ("one_hot", lambda m, y: m.one_hot(y, 4), [((5,), I64)]),
    ("one_hot-2d", lambda m, y: m.one_hot(y, 3), [((2, 2), I32)]),
    ("stop_gradient", lambda m, x: m.stop_gradient(x) * 2, [((3,), F64)]),
]


def operand(spec: Spec, rng: np.random.Generator) -> np.ndarray:
    shape, dtype = spec
    if np.dtype(dtype).kind == "i":
        return rng.integers(0, 3, size=shape).astype(dtype)
    return rng.uniform(-2, 2, size=shape).astype(dtype)


@pytest.mark.parametrize("fn, specs", [(fn, specs) for _, fn, specs in CASES],
                         ids=[name for name, _, _ in CASES])
def test_builder_matches_numpy(fn: Callable[..., Any], specs: list[Spec],
                               rng: np.random.Generator) -> None:
    arrays = [operand(spec, rng) for spec in specs]
    with np.errstate(all="ignore"):
        expected = np.asarray(fn(NumpyPlus(), *arrays))
    inputs = [gc.input(f"x{i}", shape=a.shape, dtype=a.dtype) for i, a in enumerate(arrays)]
    node = fn(gc, *inputs)
    assert isinstance(node, gc.Tensor)
    assert node.shape == expected.shape
    assert node.dtype == expected.dtype
    value = gc.compile(inputs, node, backend="numpy")(*arrays)
    assert isinstance(value, np.ndarray)
    assert value.shape == expected.shape and value.dtype == expected.dtype
    tolerance = 1e-6 if expected.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(value, expected, rtol=tolerance, atol=tolerance)


def test_functions_of_api_md_are_exported() -> None:
    names = """add subtract multiply divide negative power square sqrt exp log log1p expm1 sin
    cos tan tanh arctan abs sign maximum minimum where clip sigmoid relu softplus sum mean max
    min logsumexp softmax log_softmax matmul dot transpose outer reshape broadcast_to
    expand_dims squeeze concatenate stack equal not_equal less less_equal greater
    greater_equal astype zeros_like ones_like one_hot stop_gradient input constant""".split()
    missing = [n for n in names if not callable(getattr(gc, n, None))]
    assert not missing


def test_numbers_and_arrays_become_constants() -> None:
    x = gc.input("x", shape=(3,))
    for value in (2, 2.5, True, np.float32(2), np.arange(3.0), [1.0, 2.0, 3.0]):
        node = gc.add(x, value)
        assert node.shape == (3,)
        np.testing.assert_allclose(gc.compile([x], node, backend="numpy")(np.ones(3)),
                                   np.ones(3) + np.asarray(value))


def test_constant_node() -> None:
    k = gc.constant(np.eye(3))
    assert k.shape == (3, 3) and k.dtype == np.float64
    x = gc.input("x", shape=(3,))
    f = gc.compile([x], k @ x, backend="numpy")
    np.testing.assert_array_equal(f(np.arange(3.0)), np.arange(3.0))


def test_symbolic_attributes() -> None:
    x = gc.input("x", shape=("n", 784), dtype="float32")
    assert x.name == "x" and x.ndim == 2 and x.dtype == np.float32
    assert x.shape[1] == 784 and str(x.shape[0]) == "n"
    assert (x * 2).name is None
    assert x.T.shape[0] == 784


def test_named_dims_propagate() -> None:
    x = gc.input("x", shape=("n", 3))
    W = gc.input("W", shape=(3, "m"))
    y = x @ W
    assert [str(s) for s in y.shape] == ["n", "m"]
    assert [str(s) for s in (y + gc.input("b", shape=("m",))).shape] == ["n", "m"]
    assert [str(s) for s in gc.sum(y, axis=0).shape] == ["m"]
    f = gc.compile([x, W], y.sum(axis=1), backend="numpy")
    a, b = np.ones((5, 3)), np.ones((3, 2))
    np.testing.assert_allclose(f(a, b), (a @ b).sum(axis=1))


def test_none_dims_run_with_any_size() -> None:
    x = gc.input("x", shape=(None, 2))
    f = gc.compile([x], gc.mean(x, axis=0), backend="numpy")
    for rows in (1, 4, 7):
        value = np.arange(rows * 2.0).reshape(rows, 2)
        np.testing.assert_allclose(f(value), value.mean(axis=0))


def test_reshape_of_a_named_dim_is_exact() -> None:
    x = gc.input("x", shape=("n", 3))
    flat = gc.reshape(x, -1)
    assert str(flat.shape[0]) == "3*n"
    back = gc.reshape(flat, ("n", 3))
    f = gc.compile([x], back * 1.0, backend="numpy")
    np.testing.assert_array_equal(f(np.ones((4, 3))), np.ones((4, 3)))
