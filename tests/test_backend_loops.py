"""Fast fused loops (graphc/backend/codegen.py): blocked float sums, reduced sin/cos, prange.

Each of these changes how a loop computes, not what: every test compares with
NumPy on the same inputs, at sizes around the SUM_BLOCK boundaries, and the
sin/cos fallback with arguments beyond the reduced kernels' range. One graph
with many outputs is compiled once serially and once with parallel=True
(module fixtures), so the file costs two Numba compiles plus one LLVM check.
"""

from __future__ import annotations

import types
from typing import Any

import numba
import numpy as np
import pytest

import graphc as gc
from graphc.backend.codegen import SUM_BLOCK

SIZES = [1, 7, SUM_BLOCK - 1, SUM_BLOCK, SUM_BLOCK + 1, 3 * SUM_BLOCK + 5]


def _outputs(x: Any, a: Any) -> list[Any]:
    """Reductions of every layout the loops handle differently, plus sin/cos and a gradient."""
    loss = gc.sum(gc.sin(x) * gc.cos(x) + gc.tanh(x))
    return [
        loss,                                 # rank-0 sum, blocked, with reduced sin/cos
        *gc.grad(loss, [x]),                  # elementwise output, no reduction
        gc.mean(gc.exp(-x * x)),              # mean: blocked sum, then the division
        gc.max(x),                            # rank-0 max: a running maximum (not parallel)
        gc.sum(a * a, axis=1),                # reduces the last axis: blocked, rows in parallel
        gc.sum(gc.sin(a), axis=0),            # reduces the first axis: running, never prange
        gc.sum(a),                            # rank-0 over two axes
    ]


def _reference(x: np.ndarray, a: np.ndarray) -> list[Any]:
    s, c, t = np.sin(x), np.cos(x), np.tanh(x)
    return [np.sum(s * c + t), c * c - s * s + (1 - t * t), np.mean(np.exp(-x * x)),
            np.max(x), np.sum(a * a, axis=1), np.sum(np.sin(a), axis=0), np.sum(a)]


def _build(dtype: str, parallel: bool) -> gc.Function:
    x = gc.input("x", shape=("n",), dtype=dtype)
    a = gc.input("a", shape=("r", "c"), dtype=dtype)
    return gc.compile([x, a], _outputs(x, a), parallel=parallel)


@pytest.fixture(scope="module")
def serial() -> gc.Function:
    return _build("float64", parallel=False)


@pytest.fixture(scope="module")
def parallel() -> gc.Function:
    return _build("float64", parallel=True)


def _inputs(n: int, dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    x = rng.uniform(-3.0, 3.0, n).astype(dtype)
    a = rng.uniform(-2.0, 2.0, (3, n)).astype(dtype)
    return x, a


def _check(got: list[np.ndarray], x: np.ndarray, a: np.ndarray, rtol: float) -> None:
    for index, (value, want) in enumerate(zip(got, _reference(x, a))):
        np.testing.assert_allclose(value, want, rtol=rtol, atol=rtol * 10,
                                   err_msg=f"output {index}")


@pytest.mark.parametrize("n", SIZES)
def test_serial_loops_match_numpy(serial: gc.Function, n: int) -> None:
    x, a = _inputs(n)
    _check(serial(x, a), x, a, rtol=1e-12)


@pytest.mark.parametrize("n", SIZES)
def test_parallel_loops_match_numpy(parallel: gc.Function, n: int) -> None:
    x, a = _inputs(n)
    _check(parallel(x, a), x, a, rtol=1e-12)


def test_long_float_sums_are_blocked_short_static_ones_are_not(serial: gc.Function) -> None:
    assert serial.source.count("sum_block(") == 4  # loss, mean, sum(axis=1), sum(a)
    x = gc.input("x", shape=(3, 4))
    small = gc.compile([x], gc.sum(x * x))
    assert "sum_block" not in small.source
    np.testing.assert_allclose(small(np.arange(12.0).reshape(3, 4)), np.sum(np.arange(12.0) ** 2))


def test_prange_only_where_iterations_are_independent(parallel: gc.Function) -> None:
    assert parallel.stats["parallel"]
    loops = [line.strip() for line in parallel.source.splitlines()
             if line.strip().startswith("for ")]
    assert any("prange" in line for line in loops)
    # the running max over x and the axis-0 sum (rows accumulate into one row) stay serial
    lines = parallel.source.splitlines()
    for node_text in ("= max[axis=(0,)] x", "f64[c] = sum[axis=(0,)]"):
        line = next(i for i, text in enumerate(lines) if node_text in text)
        assert not any("prange" in loop for loop in _enclosing_loops(lines, line)), node_text
    line = next(i for i, text in enumerate(lines) if "= sum[axis=(0,1)] a" in text)
    assert "prange" in _enclosing_loops(lines, line)[-1]  # a rank-0 sum: Numba combines threads


def _enclosing_loops(lines: list[str], line: int) -> list[str]:
    """The `for` lines enclosing lines[line], innermost first."""
    def indent(text: str) -> int:
        return len(text) - len(text.lstrip())

    loops, level = [], indent(lines[line])
    for text in reversed(lines[:line]):
        if text.strip() and indent(text) < level:
            level = indent(text)
            if text.strip().startswith("for "):
                loops.append(text)
    return loops


def test_sum_block_adds_like_numpy() -> None:
    from graphc.backend.runtime import jitted

    sum_block = jitted("sum_block")
    rng = np.random.default_rng(3)
    for count in (0, 1, 7, 8, 9, 100, 1024):
        terms = rng.normal(size=1024)
        assert sum_block(terms, count, 0.0) == pytest.approx(terms[:count].sum(), rel=1e-14,
                                                             abs=1e-14)
    terms = np.array([1.0, np.inf, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -np.inf])
    assert np.isnan(sum_block(terms, 9, 0.0))  # inf + -inf in different lanes: NaN like NumPy


@pytest.mark.parametrize("function_name", ["serial", "parallel"])
def test_sin_cos_beyond_the_reduced_range_are_exact(function_name: str,
                                                    request: pytest.FixtureRequest) -> None:
    function = request.getfixturevalue(function_name)
    x, a = _inputs(2000)
    x[5], x[1500] = 1.0e7, -3.0e12  # beyond 2**19 * pi/2: the reduced kernels give NaN
    a[1, 7] = 5.0e9
    _check(function(x, a), x, a, rtol=1e-12)  # fast call path
    _check(function(list(x), a), x, a, rtol=1e-12)  # general path (converts the list)
    x[7] = np.inf
    got = function(x, a)
    assert np.isnan(got[0]) and np.isnan(got[1][7]) and np.isfinite(got[1][6])


def test_float32_loops_match_numpy() -> None:
    function = _build("float32", parallel=False)
    x, a = _inputs(3 * SUM_BLOCK + 5, "float32")
    got = function(x, a)
    assert all(np.asarray(value).dtype == np.float32 for value in got)
    x[3] = 3.0e9  # beyond the float32 reduced range
    got = function(x, a)
    for index, (value, want) in enumerate(zip(got, _reference(x.astype(np.float64),
                                                             a.astype(np.float64)))):
        np.testing.assert_allclose(value, want, rtol=2e-5, atol=2e-4, err_msg=f"output {index}")


def test_elementwise_loop_vectorizes() -> None:
    """The reason for inlined kernels, reduced sin/cos and blocked sums: LLVM's loop vectorizer."""
    x = gc.input("x", shape=("n",))
    loss = gc.sum(gc.tanh(x) * gc.sigmoid(x) + gc.exp(-x * x) * gc.sin(x) + gc.log1p(x * x))
    f = gc.compile([x], [loss, *gc.grad(loss, [x])])
    module = types.ModuleType("vectorize_check")
    exec(compile(f.source, "<generated>", "exec"), module.__dict__)
    jitted = numba.njit(error_model="numpy")(module.graph)
    value = np.linspace(-4.0, 4.0, 4099)
    np.testing.assert_allclose(jitted(value)[0], f(value)[0], rtol=1e-15)
    assert "vector.body" in jitted.inspect_llvm(jitted.signatures[0])


@pytest.mark.parametrize("reduce", [gc.max, gc.min])
def test_running_max_alone_imports_its_helper(reduce: Any) -> None:
    """Regression: a max/min reduction with no other use of maximum() failed with NameError."""
    x = gc.input("x", shape=("n",))
    value = np.array([3.0, -1.0, 7.5, 2.0])
    reference = np.max(value) if reduce is gc.max else np.min(value)
    assert gc.compile([x], reduce(x))(value) == reference


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_small_static_matmul_is_loops_and_matches_numpy(dtype: str) -> None:
    a = gc.input("a", shape=(3, 4), dtype=dtype)
    b = gc.input("b", shape=(4, 2), dtype=dtype)
    outputs = [a @ b, a.T @ a, gc.matmul(b.T, a.T)]  # transposed (F-order) operands too
    f = gc.compile([a, b], outputs)
    assert f.source.count("matmul_small(") == 3 and "blas_dot" not in f.source
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(3, 4)) * 4).astype(dtype)
    y = (rng.normal(size=(4, 2)) * 4).astype(dtype)
    for got, want in zip(f(x, y), [x @ y, x.T @ x, y.T @ x.T]):
        assert got.dtype == want.dtype
        tolerance = 1e-5 if dtype == "float32" else 1e-13  # float32: order of the adds
        np.testing.assert_allclose(got, want, rtol=tolerance,
                                   atol=tolerance * float(np.abs(want).max()))
    big = gc.input("big", shape=(32, 32))
    assert "blas_dot" in gc.compile([big], big @ big).source  # 32768 multiply-adds: BLAS
