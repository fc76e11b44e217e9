"""NumPy's own functions on graphc tensors, checked both ways against the registry.

graphc.numpy_dispatch holds the one table from NumPy names to graphc
builders. These tests read that table: every graphc function NumPy also
names must be in it; every entry must build exactly the graph of the graphc
call (same printed graph) and, compiled with the numpy backend, give what
NumPy gives on arrays; every NumPy function outside it must raise
gc.ArgumentError naming the function. docs/api.md's table must equal the
registry's. Finally, code written for arrays (autograd style) builds a
graph when handed a tensor, and its gradient is right.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc import numpy_dispatch

ROOT = Path(__file__).resolve().parent.parent
F64, F32, I64, B = "float64", "float32", "int64", "bool"
Spec = tuple[tuple[int, ...], str]

# NumPy name -> (operand specs, call(f, *operands) with f = the NumPy or graphc function).
# Names the registry maps but this graphc does not have yet are skipped until it does.
CASES: dict[str, tuple[list[Spec], Callable[..., Any]]] = {
    "sum": ([((3, 4), F64)], lambda f, x: f(x, axis=0)),
    "mean": ([((3, 4), F32)], lambda f, x: f(x, axis=(0, 1), keepdims=True)),
    "max": ([((3, 4), F64)], lambda f, x: f(x, axis=-1)),
    "amax": ([((3, 4), F64)], lambda f, x: f(x)),
    "min": ([((3, 4), I64)], lambda f, x: f(x, axis=1, keepdims=True)),
    "amin": ([((3, 4), F64)], lambda f, x: f(x, 0)),
    "dot": ([((3, 4), F64), ((4,), F64)], lambda f, a, b: f(a, b)),
    "matmul": ([((2, 3, 4), F64), ((4, 2), F64)], lambda f, a, b: f(a, b)),
    "outer": ([((3,), F64), ((4,), F64)], lambda f, a, b: f(a, b)),
    "where": ([((3, 4), B), ((3, 4), F64), ((4,), F64)], lambda f, c, x, y: f(c, x, y)),
    "concatenate": ([((2, 3), F64), ((4, 3), F64)], lambda f, a, b: f([a, b], axis=0)),
    "stack": ([((2, 3), F64), ((2, 3), F64)], lambda f, a, b: f([a, b], 1)),
    "transpose": ([((2, 3, 4), F64)], lambda f, x: f(x, (2, 0, 1))),
    "reshape": ([((2, 6), F64)], lambda f, x: f(x, (3, -1))),
    "clip": ([((3, 4), F64)], lambda f, x: f(x, -0.5, 0.5)),
    "expand_dims": ([((3, 4), F64)], lambda f, x: f(x, 1)),
    "squeeze": ([((3, 1, 4), F64)], lambda f, x: f(x, axis=1)),
    "broadcast_to": ([((4,), F64)], lambda f, x: f(x, (3, 4))),
    "zeros_like": ([((3, 4), F64)], lambda f, x: f(x)),
    "ones_like": ([((3, 4), F64)], lambda f, x: f(x, dtype="float32")),
    "astype": ([((3, 4), F64)], lambda f, x: f(x, "float32")),
    "tanh": ([((3, 4), F64)], lambda f, x: f(x)),
    "maximum": ([((3, 4), F64)], lambda f, x: f(x, 0.0)),
    "power": ([((3, 4), F64)], lambda f, x: f(x, 2)),
    "sqrt": ([((3, 4), F64)], lambda f, x: f(x * x)),
    "log": ([((3, 4), F64)], lambda f, x: f(x * x + 1.0)),
    "log1p": ([((3, 4), F64)], lambda f, x: f(x * x)),
    "divide": ([((3, 4), F64), ((3, 4), F64)], lambda f, x, y: f(x, y * y + 1.0)),
    "roll": ([((3, 4), F64)], lambda f, x: f(x, 1, axis=1)),
    "pad": ([((3, 4), F64)], lambda f, x: f(x, 1)),
    "einsum": ([((3, 4), F64), ((4, 2), F64)], lambda f, a, b: f("ij,jk->ik", a, b)),
    "round": ([((3, 4), F64)], lambda f, x: f(x * 10.0)),
    "arange": ([((3,), F64)], lambda f, x: f(4, like=x) if f is np.arange else f(4)),
    "linalg.solve": ([((3, 3), F64), ((3,), F64)], lambda f, a, b: f(a @ a.T + 3.0 * np.eye(3), b)),
    "linalg.inv": ([((3, 3), F64)], lambda f, a: f(a @ a.T + 3.0 * np.eye(3))),
    "linalg.det": ([((3, 3), F64)], lambda f, a: f(a @ a.T + 3.0 * np.eye(3))),
    "linalg.slogdet": ([((3, 3), F64)], lambda f, a: f(a @ a.T + 3.0 * np.eye(3))[1]),
    "linalg.cholesky": ([((3, 3), F64)], lambda f, a: f(a @ a.T + 3.0 * np.eye(3))),
    "linalg.eigh": ([((3, 3), F64)], lambda f, a: f(a @ a.T + 3.0 * np.eye(3))[0]),
    "linalg.norm": ([((3, 4), F64)], lambda f, x: f(x, axis=1)),
    "take": ([((3, 4), F64)], lambda f, x: f(x, [0, 3, -1, 3], axis=1)),
    "take_along_axis": ([((3, 4), F64)], lambda f, x: f(x, np.array([[0], [3], [-2]]), axis=1)),
}


def dotted(module: Any, name: str) -> Any:
    """np.linalg.solve for (np, "linalg.solve")."""
    return functools.reduce(getattr, name.split("."), module)


def default_case(name: str) -> tuple[list[Spec], Callable[..., Any]]:
    """Elementwise ufuncs and one-tensor functions need no explicit case."""
    function = dotted(np, name)
    count = function.nin if isinstance(function, np.ufunc) else 1
    return [((3, 4), F64)] * count, lambda f, *xs: f(*xs)


def numpy_key(function: Any) -> str:
    return function.__name__ if isinstance(function, np.ufunc) else numpy_dispatch.qualified_name(function)


def leaves(specs: list[Spec]) -> list[gc.Tensor]:
    return [gc.input(f"x{i}", shape=shape, dtype=dtype) for i, (shape, dtype) in enumerate(specs)]


def values(specs: list[Spec], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for shape, dtype in specs:
        if dtype == B:
            out.append(rng.random(shape) < 0.5)
        else:
            out.append((rng.standard_normal(shape) * (3 if dtype == I64 else 1)).astype(dtype))
    return out


# ------------------------------------------------------------- both ways

def test_every_graphc_function_numpy_names_dispatches() -> None:
    """gc.<f> for every f NumPy also has: np.<f> is in the registry and maps to gc.<f>."""
    takes_no_tensor = {"eye"}  # np.eye(N, M, k) builds from sizes: nothing to dispatch on
    shared = [n for n in gc.__all__
              if callable(getattr(gc, n)) and not isinstance(getattr(gc, n), type)
              and callable(getattr(np, n, None)) and n not in takes_no_tensor]
    assert len(shared) > 30, shared
    supported = numpy_dispatch.supported_names()
    missing = [n for n in shared if supported.get(numpy_key(getattr(np, n))) != n]
    assert not missing, f"NumPy functions with a graphc equivalent that do not dispatch: {missing}"


@pytest.mark.parametrize("name", sorted(numpy_dispatch.supported_names()))
def test_the_numpy_function_builds_the_graphc_graph(name: str) -> None:
    specs, call = CASES.get(name) or default_case(name)
    graphc_function = dotted(gc, numpy_dispatch.supported_names()[name])
    tensors = leaves(specs)
    through_numpy = call(dotted(np, name), *tensors)
    direct = call(graphc_function, *tensors)
    assert isinstance(through_numpy, gc.Tensor), type(through_numpy)
    assert gc.format_graph([through_numpy], tensors) == gc.format_graph([direct], tensors)
    arrays = values(specs)
    expected = np.asarray(call(dotted(np, name), *arrays))
    got = gc.compile(tensors, through_numpy, backend="numpy", simplify=False)(*arrays)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


# NumPy functions (with their non-tensor arguments) that graphc does not have, at least yet.
UNSUPPORTED_FUNCTIONS: list[tuple[Any, tuple[Any, ...]]] = [
    (np.unique, ()), (np.argsort, ()), (np.median, ()),
    (np.diff, ()), (np.nonzero, ()), (np.tile, (2,)), (np.repeat, (2,)), (np.linalg.svd, ()),
    (np.fft.fft, ()), (np.cumprod, ()), (np.flip, ()), (np.histogram, ()), (np.cross, ())]


def unsupported() -> list[tuple[str, Any, int, tuple[Any, ...]]]:
    """(name, function, tensor count, other arguments) for every NumPy ufunc graphc lacks, and more."""
    supported = numpy_dispatch.supported_names()
    ufuncs = sorted({f.__name__: f for f in vars(np).values() if isinstance(f, np.ufunc)}.items())
    cases = [(name, f, f.nin, ()) for name, f in ufuncs if name not in supported]
    cases += [(numpy_key(f), f, 2 if f is np.cross else 1, extra)
              for f, extra in UNSUPPORTED_FUNCTIONS if numpy_key(f) not in supported]
    return cases


@pytest.mark.parametrize("name, function, count, extra", unsupported(),
                         ids=[case[0] for case in unsupported()])
def test_numpy_functions_without_an_equivalent_raise_a_graphc_error(
        name: str, function: Any, count: int, extra: tuple[Any, ...]) -> None:
    x = gc.input("x", shape=(3,))
    with pytest.raises(gc.ArgumentError, match=rf"np\.{re.escape(name)} has no graphc equivalent"):
        function(*[x] * count, *extra)


def test_ufunc_methods_other_than_a_call_are_refused() -> None:
    x = gc.input("x", shape=(3,))
    for method, text, args in [(np.add.reduce, "np.add.reduce", (x,)),
                               (np.add.accumulate, "np.add.accumulate", (x,)),
                               (np.multiply.outer, "np.multiply.outer", (x, x))]:
        with pytest.raises(gc.ArgumentError, match=re.escape(text) + " has no graphc equivalent"):
            method(*args)


def test_docs_table_is_the_registry() -> None:
    page = (ROOT / "docs" / "api.md").read_text()
    assert numpy_dispatch.markdown_table() in page, (
        "docs/api.md's 'NumPy functions on tensors' table differs from the registry; paste "
        "graphc.numpy_dispatch.markdown_table() there")


# ---------------------------------------------------------------- keywords

def test_keywords_graphc_cannot_honour_are_graphc_errors() -> None:
    x = gc.input("x", shape=(3,))
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: np.exp(x, out=np.empty(3)), r"np\.exp\(\.\.\., out=\.\.\.\)"),
        (lambda: np.add(x, 1, where=np.array([True, False, True])), r"np\.add\(\.\.\., where="),
        (lambda: np.sum(x, out=np.empty(())), r"np\.sum\(\.\.\., out="),
        (lambda: np.sum(x, where=np.array([True, False, True])), r"np\.sum\(\.\.\., where="),
        (lambda: np.max(x, initial=0.0), r"np\.max\(\.\.\., initial="),
        (lambda: np.reshape(x, (3,), order="F"), r"np\.reshape\(\.\.\., order="),
        (lambda: np.exp(x, casting="unsafe"), r"np\.exp\(\.\.\., casting="),
        (lambda: np.where(x > 0), r"np\.where\(\) missing required argument 'x'"),
    ]
    for call, pattern in cases:
        with pytest.raises(gc.ArgumentError, match=pattern):
            call()


def test_keywords_at_numpy_defaults_and_dtype_casts_work() -> None:
    x = gc.input("x", shape=(2, 3), dtype="float64")
    value = np.arange(6.0).reshape(2, 3) / 7
    outputs = [np.sum(x, dtype="float32"), np.exp(x, dtype="float32"), np.mean(x, out=None),
               np.reshape(x, shape=(3, 2)), np.clip(x, min=0.2, max=0.5),
               np.add(x, 1, where=True, casting="same_kind"), np.concatenate([x, x], dtype="float32")]
    expected = [np.sum(value, dtype="float32"), np.exp(value, dtype="float32"), np.mean(value),
                np.reshape(value, (3, 2)), np.clip(value, 0.2, 0.5), value + 1,
                np.concatenate([value, value]).astype("float32")]
    got = gc.compile([x], outputs, backend="numpy")(value)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=1e-6)


def test_facts_and_the_first_hour_cases() -> None:
    """The issue's failures: np.exp, np.maximum(x, 0), np.mean(x); np.shape reads the shape."""
    x = gc.input("x", shape=("n", 3))
    assert np.shape(x) == ("n", 3) and np.ndim(x) == 2
    f = gc.compile([x], [np.exp(x), np.maximum(x, 0), np.mean(x)], backend="numpy")
    value = np.linspace(-1, 1, 12).reshape(4, 3)
    for g, e in zip(f(value), [np.exp(value), np.maximum(value, 0), np.mean(value)]):
        np.testing.assert_allclose(g, e)


def test_arrays_on_the_left_of_an_operator_build_nodes() -> None:
    """ndarray <op> tensor goes through __array_ufunc__ and must build the graphc node."""
    x = gc.input("x", shape=(3,))
    a = np.array([1.0, -2.0, 3.0])
    operators: list[Callable[[Any, Any], Any]] = [
        lambda p, q: p + q, lambda p, q: p - q, lambda p, q: p * q, lambda p, q: p / q,
        lambda p, q: p ** q, lambda p, q: p < q, lambda p, q: p <= q, lambda p, q: p > q,
        lambda p, q: p >= q, lambda p, q: np.float32(2) * q, lambda p, q: np.float64(1) - q]
    built = [op(a, x) for op in operators] + [np.eye(3) @ x]
    assert all(isinstance(b, gc.Tensor) for b in built)
    value = np.array([0.5, 1.5, 2.0])
    got = gc.compile([x], built, backend="numpy")(value)
    expected = [op(a, value) for op in operators] + [np.eye(3) @ value]
    for g, e in zip(got, expected):
        assert g.dtype == np.asarray(e).dtype
        np.testing.assert_allclose(g, e)


def test_numpy_cannot_make_an_array_of_a_tensor() -> None:
    x = gc.input("x", shape=(3,))
    with pytest.raises(gc.ConcretizationError, match="no values until the compiled function runs"):
        np.asarray(x)
    with pytest.raises(gc.GraphcError):
        np.array([x, x])


# --------------------------------------------------------- autograd style

def loss_written_for_arrays(w: Any, X: np.ndarray) -> Any:
    """Plain NumPy, as an autograd user writes it: nothing graphc-specific."""
    return np.sum(np.tanh(X @ w) ** 2) + 0.5 * np.dot(w, w) + np.mean(np.maximum(X @ w, 0.0))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_code_written_for_arrays_builds_a_graph_and_differentiates(backend: str) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 3))
    w = gc.input("w", shape=(3,))
    loss = loss_written_for_arrays(w, X)
    assert isinstance(loss, gc.Tensor) and loss.shape == ()
    f = gc.compile([w], [loss, gc.grad(loss, w)], backend=backend)
    point = rng.standard_normal(3)
    value, gradient = f(point)
    np.testing.assert_allclose(value, loss_written_for_arrays(point, X), rtol=1e-12)
    z = X @ point
    analytic = X.T @ (2 * np.tanh(z) * (1 - np.tanh(z) ** 2)) + point + X.T @ (z > 0) / len(z)
    np.testing.assert_allclose(gradient, analytic, rtol=1e-10)
