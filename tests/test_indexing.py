"""Indexing with integer tensors (gc.take, gc.take_along_axis, x[idx], gc.add_at) against NumPy.

References are NumPy's own np.take, np.take_along_axis, advanced indexing and
np.add.at; gradients are checked against central finite differences
(gc.check_grad), vmap against a Python loop over the examples. Out-of-range
indices must raise gc.InputError on both backends, never read or write out of
bounds (huge indices, empty arrays included). Also the run-time check of
`int ** negative int` (issue 19). The numba cases compile one function with
symbolic sizes and call it on many shapes, so the file stays fast.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc

BACKENDS = ["numpy", "numba"]


def random_indices(rng: np.random.Generator, size: int, shape: tuple[int, ...],
                   dtype: str = "int64") -> np.ndarray:
    """Valid indices for an axis of `size`, negative ones included."""
    return rng.integers(-size, size, size=shape).astype(dtype) if size else np.zeros(shape, dtype)


# ------------------------------------------------------------------ take

@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       index_shape=st.lists(st.integers(0, 3), max_size=2),
       axis=st.integers(-3, 2), seed=st.integers(0, 2**16), int32=st.booleans())
def test_take_matches_numpy(shape: list[int], index_shape: list[int], axis: int, seed: int,
                            int32: bool) -> None:
    rng = np.random.default_rng(seed)
    axis = axis % len(shape)
    x_value = rng.standard_normal(shape)
    idx_value = random_indices(rng, shape[axis], tuple(index_shape), "int32" if int32 else "int64")
    x = gc.input("x", shape=tuple(shape))
    idx = gc.input("idx", shape=tuple(index_shape), dtype=idx_value.dtype)
    flat = gc.input("flat", shape=tuple(index_shape), dtype="int64")
    flat_value = random_indices(rng, x_value.size, tuple(index_shape))
    f = gc.compile([x, idx, flat], [gc.take(x, idx, axis=axis), gc.take(x, flat)], backend="numpy")
    along, flattened = f(x_value, idx_value, flat_value)
    np.testing.assert_array_equal(along, np.take(x_value, idx_value, axis=axis))
    np.testing.assert_array_equal(flattened, np.take(x_value, flat_value))


def test_take_on_numba_with_symbolic_sizes_matches_numpy(rng: np.random.Generator) -> None:
    x = gc.input("x", shape=("n", None, 3), dtype="float32")
    idx = gc.input("idx", shape=(None, None), dtype="int32")
    f = gc.compile([x, idx], [gc.take(x, idx, axis=1), gc.take(x, idx, axis=0)])
    for n, m, k in [(4, 5, 2), (1, 1, 1), (3, 7, 0), (6, 2, 5)]:
        x_value = rng.standard_normal((n, m, 3)).astype(np.float32)
        idx_value = random_indices(rng, min(n, m), (k, 2), "int32")
        on_axis1, on_axis0 = f(x_value, idx_value)
        np.testing.assert_array_equal(on_axis1, np.take(x_value, idx_value, axis=1))
        np.testing.assert_array_equal(on_axis0, np.take(x_value, idx_value, axis=0))
        assert on_axis1.dtype == np.float32


# ---------------------------------------------------------- take_along_axis

TAKE_ALONG = [((3, 4), (3, 2), 1), ((3, 4), (5, 4), 0), ((2, 3, 4), (2, 3, 6), -1),
              ((2, 1, 4), (1, 5, 3), 2), ((2, 3, 4), (2, 2, 1), 1), ((4,), (7,), 0)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_take_along_axis_matches_numpy(backend: str, rng: np.random.Generator) -> None:
    xs = [gc.input(f"x{k}", shape=s) for k, (s, _, _) in enumerate(TAKE_ALONG)]
    idxs = [gc.input(f"i{k}", shape=s, dtype="int64") for k, (_, s, _) in enumerate(TAKE_ALONG)]
    outs = [gc.take_along_axis(x, i, axis=a) for x, i, (_, _, a) in zip(xs, idxs, TAKE_ALONG)]
    f = gc.compile(xs + idxs, outs, backend=backend)
    x_values = [rng.standard_normal(s) for s, _, _ in TAKE_ALONG]
    idx_values = [random_indices(rng, xv.shape[a], s) for xv, (_, s, a) in zip(x_values, TAKE_ALONG)]
    for got, xv, iv, (_, _, a) in zip(f(*x_values, *idx_values), x_values, idx_values, TAKE_ALONG):
        np.testing.assert_array_equal(got, np.take_along_axis(xv, iv, axis=a))


def test_take_along_axis_refuses_a_rank_mismatch() -> None:
    x = gc.input("x", shape=(3, 4))
    with pytest.raises(gc.ShapeError, match="rank"):
        gc.take_along_axis(x, gc.input("i", shape=(3,), dtype="int64"), axis=1)


# -------------------------------------------------------- advanced indexing

ROWS = np.array([[0, -1, 2], [3, 3, 1]])  # shape (2, 3): valid on every axis of x (sizes 4, 5, 6)
COLUMNS = np.array([4, 0, -5])  # shape (3,): valid on axes 1 and 2, broadcasts with ROWS
EXPRESSIONS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "x[i]": lambda x, i, j: x[i],
    "x[i, :]": lambda x, i, j: x[i, :],
    "x[:, i]": lambda x, i, j: x[:, i],
    "x[:, :, i]": lambda x, i, j: x[:, :, i],
    "x[..., i]": lambda x, i, j: x[..., i],
    "x[1, i]": lambda x, i, j: x[1, i],
    "x[i, 2]": lambda x, i, j: x[i, 2],
    "x[1, :, i]": lambda x, i, j: x[1, :, i],  # int and tensor apart: gathered axes first
    "x[None, i, 1:3]": lambda x, i, j: x[None, i, 1:3],
    "x[::-1, i, ::2]": lambda x, i, j: x[::-1, i, ::2],
    "x[i, j]": lambda x, i, j: x[i, j],
    "x[:, j, i]": lambda x, i, j: x[:, j, i],
    "x[i, :, j]": lambda x, i, j: x[i, :, j],  # tensors apart: broadcast shape first
    "x[i, j, 0]": lambda x, i, j: x[i, j, 0],
    "x[i, 1:, i]": lambda x, i, j: x[i, 1:, i],
    "x[i, [1, 2, 0]]": lambda x, i, j: x[i, [1, 2, 0]] if isinstance(x, np.ndarray) else
    x[i, np.array([1, 2, 0])],
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_advanced_indexing_matches_numpy(backend: str, rng: np.random.Generator) -> None:
    x = gc.input("x", shape=(4, 5, 6))
    i = gc.input("i", shape=(2, 3), dtype="int64")
    j = gc.input("j", shape=(3,), dtype="int32")
    outs = [build(x, i, j) for build in EXPRESSIONS.values()]
    f = gc.compile([x, i, j], outs, backend=backend)
    x_value = rng.standard_normal((4, 5, 6))
    results = f(x_value, ROWS, COLUMNS.astype(np.int32))
    for name, got, build in zip(EXPRESSIONS, results, EXPRESSIONS.values()):
        expected = build(x_value, ROWS, COLUMNS)
        assert got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


@st.composite
def index_expressions(draw: Any) -> tuple[tuple[int, ...], tuple[Any, ...]]:
    """A shape and a NumPy index mixing integer arrays, ints, slices, None and '...'."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    index_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    entries: list[Any] = []
    for size in shape:
        kind = draw(st.sampled_from(["array", "array", "int", "slice", "full"]))
        if kind == "array":
            entries.append(random_indices(rng, size, index_shape[draw(st.integers(0, len(index_shape))):]))
        elif kind == "int":
            entries.append(int(rng.integers(-size, size)))
        elif kind == "slice":
            entries.append(slice(draw(st.integers(-size, size)), None, draw(st.sampled_from([1, 2, -1]))))
        else:
            entries.append(slice(None))
        if draw(st.integers(0, 5)) == 0:
            entries.append(None)
    if draw(st.booleans()):  # drop trailing entries, or replace a run of full slices by '...'
        cut = draw(st.integers(0, len(entries)))
        entries = entries[:cut] + [Ellipsis] if draw(st.booleans()) else entries[:cut]
    return shape, tuple(entries)


@settings(max_examples=150, deadline=None)
@given(case=index_expressions(), seed=st.integers(0, 2**16))
def test_random_advanced_indexing_and_add_at_match_numpy(case: tuple[Any, Any], seed: int) -> None:
    shape, index = case
    rng = np.random.default_rng(seed)
    x_value = rng.standard_normal(shape)
    expected = x_value[index]
    x = gc.input("x", shape=shape)
    picked = x[tuple(gc.constant(e) if isinstance(e, np.ndarray) else e for e in index)]
    assert picked.shape == expected.shape, (index, picked.shape, expected.shape)
    values = rng.standard_normal(expected.shape)
    added = x_value.copy()
    np.add.at(added, index, values)
    f = gc.compile([x], [picked, gc.add_at(x, index, values)], backend="numpy")
    got, got_added = f(x_value)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(got_added, added, rtol=1e-14, atol=1e-14)


def test_indexing_with_symbolic_sizes(rng: np.random.Generator) -> None:
    x = gc.input("x", shape=("n", "m"))
    i = gc.input("i", shape=("k",), dtype="int64")
    f = gc.compile([x, i], [x[i], x[:, i], x[i, i]])
    for n in (3, 7):
        x_value = rng.standard_normal((n, n + 1))
        i_value = random_indices(rng, n, (5,))
        for got, expected in zip(f(x_value, i_value), (x_value[i_value], x_value[:, i_value],
                                                       x_value[i_value, i_value])):
            np.testing.assert_array_equal(got, expected)


def test_boolean_masks_are_refused_with_the_alternative() -> None:
    x = gc.input("x", shape=(3,))
    mask = gc.input("mask", shape=(3,), dtype="bool")
    for index in (mask, np.array([True, False, True]), [True, False, True], x > 0):
        with pytest.raises(gc.DTypeError, match="gc.where"):
            x[index]
    with pytest.raises(gc.DTypeError, match="gc.where"):
        gc.take(x, mask)
    with pytest.raises(gc.DTypeError, match="integer"):
        x[gc.input("f", shape=(2,))]


# ------------------------------------------------------------------ add_at

ADD_AT = [  # (indices, values shape) for x of shape (5, 3)
    (np.array([0, 4, 0, -1, 0]), (5, 3)),
    (np.array([[1, 1], [2, -5]]), (3,)),  # values broadcast along the rows
    ((slice(None), np.array([2, 2, 0])), (5, 3)),
    ((np.array([0, 0, 4]), np.array([1, 1, -1])), ()),  # a scalar, at repeated (i, j) pairs
    ((np.array([3, 3]), 1), (2,)),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_add_at_matches_numpy(backend: str, rng: np.random.Generator) -> None:
    x = gc.input("x", shape=(5, 3))
    values = [gc.input(f"v{k}", shape=s) for k, (_, s) in enumerate(ADD_AT)]
    outs = [gc.add_at(x, index, v) for (index, _), v in zip(ADD_AT, values)]
    f = gc.compile([x, *values], outs, backend=backend)
    x_value = rng.standard_normal((5, 3))
    value_arrays = [rng.standard_normal(s) for _, s in ADD_AT]
    for got, (index, _), v in zip(f(x_value, *value_arrays), ADD_AT, value_arrays):
        expected = x_value.copy()
        np.add.at(expected, index, v)
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(f(x_value, *value_arrays)[0] * 0, x_value * 0)  # x unchanged


def test_add_at_with_tensor_indices_and_dtypes() -> None:
    x = gc.input("x", shape=(4,), dtype="float32")
    idx = gc.input("idx", shape=(None,), dtype="int32")
    out = gc.add_at(x, idx, 1.5)
    assert out.dtype == np.float32
    value = gc.compile([x, idx], out, backend="numpy")(np.zeros(4, np.float32),
                                                       np.array([1, 1, -1], np.int32))
    np.testing.assert_array_equal(value, [0, 3, 0, 1.5])
    for values in (gc.input("v", shape=(1,)), 0.5):  # NumPy's np.add.at refuses both too
        with pytest.raises(gc.DTypeError, match="same_kind"):
            gc.add_at(gc.input("k", shape=(4,), dtype="int64"), [0], values)
    counts = gc.add_at(gc.input("k", shape=(4,), dtype="int64"), [0, 0], 1)
    assert counts.dtype == np.int64
    with pytest.raises(gc.ShapeError, match="mode='raise'"):
        gc.take(x, [0], mode="wrap")
    with pytest.raises(gc.ArgumentError, match=r"np.add.at .*gc.add_at\(x, indices, values\)"):
        np.add.at(x, [0], 1.0)
    np.testing.assert_array_equal(  # NumPy's own np.take on a tensor builds gc.take
        gc.compile([x], np.take(x, [3, 0], mode="raise"), backend="numpy")(np.arange(4.0)), [3, 0])


# --------------------------------------------------------------- gradients

def test_gradients_match_finite_differences(rng: np.random.Generator) -> None:
    x = gc.input("x", shape=(4, 5))
    v = gc.input("v", shape=(2, 3, 5))
    w = gc.input("w", shape=(4, 5))
    i = np.array([[0, -1, 2], [3, 3, 1]])
    along = np.array([[0, 4], [1, 1], [-1, 3], [2, 2]])
    loss = (gc.sum(gc.sin(x[i]) * v) + gc.sum(gc.take(x, [1, 1, 3], axis=1) ** 2)
            + gc.sum(gc.take_along_axis(x, along, axis=1) * x[:, :2])
            + gc.sum(gc.tanh(gc.add_at(w * x, i, v)))
            + gc.sum(gc.exp(x[i[0], i[1] % 5])))
    values = {"x": rng.standard_normal((4, 5)), "v": rng.standard_normal((2, 3, 5)),
              "w": rng.standard_normal((4, 5))}
    gc.check_grad(loss, [x, v, w], values)


def test_gather_and_scatter_add_are_each_others_gradient() -> None:
    x = gc.input("x", shape=("n", 3))
    idx = gc.input("idx", shape=(4,), dtype="int64")
    [dx] = gc.grad(gc.sum(gc.take(x, idx, axis=0)), [x])
    assert "scatter_add" in gc.format_graph([dx], [x, idx])
    v = gc.input("v", shape=(4, 3))
    [dv] = gc.grad(gc.sum(gc.add_at(x, idx, v) * x), [v])
    assert "gather" in gc.format_graph([dv], [x, idx, v])
    f = gc.compile([x, idx, v], [dx, dv])
    x_value = np.arange(15.0).reshape(5, 3)
    got_dx, got_dv = f(x_value, np.array([1, 1, -1, 0]), np.ones((4, 3)))
    np.testing.assert_array_equal(got_dx[:, 0], [1, 2, 0, 0, 1])
    np.testing.assert_array_equal(got_dv, x_value[[1, 1, -1, 0]])


def test_jvp_of_a_gather_is_the_gather_of_the_tangent(rng: np.random.Generator) -> None:
    x = gc.input("x", shape=(4, 3))
    t = gc.input("t", shape=(4, 3))
    idx = np.array([[2, 0], [-1, 2]])
    y = gc.take(x, idx, axis=0) * 2.0
    tangent = gc.jvp(y, x, t)
    x_value, t_value = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    got = gc.compile([x, t], tangent, backend="numpy")(x_value, t_value)
    np.testing.assert_allclose(got, 2.0 * t_value[idx])
    v = gc.input("v", shape=(3, 3))
    out = gc.add_at(x, [0, 0, 2], v)
    forward = gc.jvp(out, [x, v], [t, gc.ones_like(v)])
    expected = t_value.copy()
    np.add.at(expected, [0, 0, 2], np.ones((3, 3)))
    np.testing.assert_allclose(gc.compile([x, t, v], forward, backend="numpy")(
        x_value, t_value, np.zeros((3, 3))), expected)


# ------------------------------------------------------------ out of range

BAD = [np.array([5]), np.array([-6]), np.array([2**62]), np.array([-(2**62)]),
       np.array([0, 1, 2**31]), np.array([[0, 0], [0, 9]])]


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_indices_raise_input_error(backend: str) -> None:
    x = gc.input("x", shape=("n",))
    idx = gc.input("idx", shape=None, dtype="int64")
    idx2 = gc.input("idx2", shape=(None, None), dtype="int64")
    y = gc.take(x, idx)
    forward = gc.compile([x, idx], [y, gc.grad(gc.sum(y * y), x)], backend=backend)
    table = gc.compile([x, idx2], [x[idx2], gc.add_at(x, idx2, 1.0)], backend=backend)
    x_value = np.arange(5.0)
    for bad in BAD:
        if bad.ndim == 1:
            worst = bad.max() if bad.max() > 4 else bad.min()
            with pytest.raises(gc.InputError, match=rf"take: index {worst} .* out of bounds .* size 5"):
                forward(x_value, bad)
        else:
            with pytest.raises(gc.InputError, match="index 9 .*flat position 3.* size 5"):
                table(x_value, bad)
    for empty_x, index in [(np.zeros(0), np.array([0])), (np.zeros(0), np.array([-1]))]:
        with pytest.raises(gc.InputError, match="size 0"):
            forward(empty_x, index)
    value, grad = forward(np.zeros(0), np.zeros(0, np.int64))  # nothing to read: fine
    assert value.shape == (0,) and grad.shape == (0,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_errors_name_the_users_line(backend: str) -> None:
    """Compiled code cannot know where a node was built: the error must say it all the same,
    on the fast call, the general path (a list argument) and a gradient's scatter."""
    x = gc.input("x", shape=("n",))
    idx = gc.input("idx", shape=(2,), dtype="int64")
    line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    y = gc.take(x, idx) * 2.0
    [dx] = gc.grad(gc.sum(gc.add_at(gc.zeros_like(x), idx, y)), [x])  # the scatter: same line
    f = gc.compile([x, idx], [y, dx], backend=backend)
    where = f"{__file__}:{line}"
    for arguments in [(np.arange(5.0), np.array([0, 7])), ([0.0, 1.0, 2.0], [-4, 1])]:
        with pytest.raises(gc.InputError, match="take: index (7|-4) .* out of bounds") as info:
            f(*arguments)
        assert where in str(info.value), str(info.value)
    np.testing.assert_array_equal(f(np.arange(5.0), np.array([4, -1]))[0], [8.0, 8.0])  # still runs


def test_constant_indices_on_static_axes_are_checked_while_building() -> None:
    x = gc.input("x", shape=(3, "n"))
    for build in (lambda: x[[0, 3]], lambda: gc.take(x, [-4], axis=0), lambda: x[np.array([[1], [5]]), 0],
                  lambda: gc.add_at(x, [7], 1.0), lambda: gc.take(gc.input("z", shape=(2, 2)), [4])):
        with pytest.raises(gc.ShapeError, match="out of bounds for an axis of size"):
            build()
    assert x[:, [5, -9]].shape[1] == 2  # a symbolic axis: checked when the function runs


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_scatter_checks_its_indices_too(backend: str) -> None:
    """The backward scatter writes at the indices: it must not write out of bounds either."""
    x = gc.input("x", shape=(3,))
    idx = gc.input("idx", shape=(2,), dtype="int64")
    v = gc.input("v", shape=(2,))
    [dv] = gc.grad(gc.sum(gc.add_at(x, idx, v) ** 2), [v])
    f = gc.compile([x, idx, v], [gc.add_at(x, idx, v), dv], backend=backend)
    with pytest.raises(gc.InputError, match="add_at: index 3 "):
        f(np.ones(3), np.array([0, 3]), np.ones(2))


# ------------------------------------------------------------------- vmap

@pytest.mark.parametrize("in_axes", [(0, 0), (0, None), (None, 0), (1, 1), (2, None)])
def test_vmap_of_take_matches_a_loop(in_axes: tuple[int | None, int | None],
                                     rng: np.random.Generator) -> None:
    batch, idx_axis = 3, in_axes[1]
    x_shape = [4, 5]
    i_shape = [2, 2]
    if in_axes[0] is not None:
        x_shape.insert(in_axes[0], batch)
    if idx_axis is not None:
        i_shape.insert(idx_axis, batch)
    x = gc.input("x", shape=tuple(x_shape))
    i = gc.input("i", shape=tuple(i_shape), dtype="int64")

    def per_example(xe: Any, ie: Any) -> tuple[Any, Any, Any]:
        return (gc.take(xe, ie, axis=1), xe[ie, ie[0]],
                gc.add_at(xe, ie, gc.take(xe, ie, axis=0)))

    outs = gc.vmap(per_example, in_axes=in_axes)(x, i)
    x_value = rng.standard_normal(x_shape)
    i_value = random_indices(rng, 4, tuple(i_shape))
    for backend in ("numpy",) if in_axes != (0, 0) else BACKENDS:
        got = gc.compile([x, i], list(outs), backend=backend)(x_value, i_value)
        for k in range(batch):
            xe = x_value if in_axes[0] is None else np.take(x_value, k, axis=in_axes[0])
            ie = i_value if idx_axis is None else np.take(i_value, k, axis=idx_axis)
            added = xe.copy()
            np.add.at(added, ie, np.take(xe, ie, axis=0))
            for out, expected in zip(got, (np.take(xe, ie, axis=1), xe[ie, ie[0]], added)):
                np.testing.assert_allclose(out[k], expected, rtol=1e-14)


def test_vmap_of_take_along_axis_and_its_gradient(rng: np.random.Generator) -> None:
    x = gc.input("x", shape=(3, 4, 5))
    i = gc.input("i", shape=(3, 4, 2), dtype="int64")

    def loss(xe: Any, ie: Any) -> Any:
        return gc.sum(gc.take_along_axis(xe, ie, axis=1) ** 2)

    per_example_grad = gc.vmap(lambda xe, ie: gc.grad(loss(xe, ie), xe))(x, i)
    x_value = rng.standard_normal((3, 4, 5))
    i_value = random_indices(rng, 5, (3, 4, 2))
    got = gc.compile([x, i], per_example_grad, backend="numpy")(x_value, i_value)
    for k in range(3):
        expected = np.zeros((4, 5))
        rows = np.arange(4)[:, None]
        np.add.at(expected, (rows, i_value[k]), 2 * x_value[k][rows, i_value[k]])
        np.testing.assert_allclose(got[k], expected)


# ------------------------------------------------- int ** negative int (issue 19)

@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_power_with_a_negative_runtime_exponent_raises(backend: str) -> None:
    x = gc.input("x", shape=(3,), dtype="int64")
    y = gc.input("y", shape=(3,), dtype="int32")
    s = gc.input("s", dtype="int64")
    f = gc.compile([x, y, s], [x ** y, x ** s, 2 ** s], backend=backend)
    base = np.array([2, 3, -4])
    got = f(base, np.array([0, 2, 3], np.int32), np.array(3))
    expected = [base ** np.array([0, 2, 3]), base ** 3, np.array(8)]
    for value, want in zip(got, expected):
        np.testing.assert_array_equal(value, want)
    with pytest.raises(gc.InputError, match=r"negative integer powers.*exponent -1 \(at flat position 2\)"):
        f(base, np.array([0, 2, -1], np.int32), np.array(1))
    with pytest.raises(gc.InputError, match="exponent -2 "):
        f(base, np.array([0, 2, 1], np.int32), np.array(-2))
    with pytest.raises(ValueError, match="Integers to negative integer powers"):
        np.power(base, np.array(-2))  # NumPy's own behaviour, which graphc matches with an InputError


def test_float_powers_are_not_checked() -> None:
    x = gc.input("x", shape=(3,))
    k = gc.input("k", shape=(3,), dtype="int64")
    f = gc.compile([x, k], x ** k, backend="numpy")
    np.testing.assert_allclose(f(np.array([2.0, 4.0, 0.5]), np.array([-1, -2, 3])), [0.5, 1 / 16, 0.125])
    assert "check_exponent" not in gc.format_graph([x ** k], [x, k])


@pytest.mark.parametrize("backend", BACKENDS)
def test_jacobian_and_hessian_through_a_gather(backend: str, rng: np.random.Generator) -> None:
    """jacrev/jacfwd/hessian are vmaps of the VJP/JVP: the batched scatter-add and gather."""
    x = gc.input("x", shape=(4,))
    idx = np.array([2, -1, 2])
    y = x[idx] ** 2
    f = gc.compile([x], [gc.jacrev(y, x), gc.jacfwd(y, x), gc.hessian(gc.sum(gc.take(x, idx) ** 3), x)],
                   backend=backend)
    x_value = rng.standard_normal(4)
    jac_rev, jac_fwd, hess = f(x_value)
    expected = np.eye(4)[idx] * 2 * x_value[idx][:, None]
    np.testing.assert_allclose(jac_rev, expected)
    np.testing.assert_allclose(jac_fwd, expected)
    counts = np.bincount(idx % 4, minlength=4)
    np.testing.assert_allclose(hess, np.diag(6 * x_value * counts))


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_and_bool_tensors_gather_and_add(backend: str) -> None:
    k = gc.input("k", shape=(4,), dtype="int32")
    b = gc.input("b", shape=(4,), dtype="bool")
    i = gc.input("i", shape=(3,), dtype="int64")
    f = gc.compile([k, b, i], [gc.add_at(k, i, 2), b[i], gc.take(k, i)], backend=backend)
    k_value, b_value, i_value = np.arange(4, dtype=np.int32), np.array([True, False, True, False]), \
        np.array([0, 0, -1])
    counted = k_value.copy()
    np.add.at(counted, i_value, 2)
    for got, expected in zip(f(k_value, b_value, i_value), (counted, b_value[i_value], k_value[i_value])):
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
