"""A compiled Function pickles as its graph and options and rebuilds in another process.

The reference for every rebuilt function is the function it was pickled from
(same inputs, same outputs bit for bit) and, across processes, the NumPy
computation of the same formula.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc import portable


REMOTE_WAIT = 300  # seconds for another process's compile and call


def logistic(backend: str, **options: Any) -> gc.Function:
    """Loss and gradients of a logistic regression (sum over rows)."""
    X = gc.input("X", shape=("n", 3))
    y = gc.input("y", shape=("n",))
    W = gc.input("W", shape=(3,))
    b = gc.input("b")
    z = X @ W + b
    loss = gc.sum(gc.softplus(z) - y * z)
    return gc.compile([X, y, W, b], [loss, *gc.grad(loss, [W, b])], backend=backend, **options)


def numpy_logistic(X: np.ndarray, y: np.ndarray, W: np.ndarray, b: float) -> list[Any]:
    z = X @ W + b
    p = 1 / (1 + np.exp(-z))
    return [np.sum(np.logaddexp(0, z) - y * z), X.T @ (p - y), np.sum(p - y)]


@pytest.fixture
def values(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    return (rng.normal(size=(7, 3)), (rng.random(7) < 0.5).astype(float), rng.normal(size=3),
            np.array(0.25))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_round_trip_gives_the_same_outputs(backend: str, values: tuple[np.ndarray, ...]) -> None:
    f = logistic(backend)
    g = pickle.loads(pickle.dumps(f))
    assert g is not f and g.stats["unpickled"]
    for ours, theirs in zip(g(*values), f(*values)):
        np.testing.assert_array_equal(ours, theirs)
    assert g(X=values[0], y=values[1], W=values[2], b=values[3])[0] == f(*values)[0]
    assert g.source == f.source  # same code, so Numba's disk cache serves it
    assert isinstance(g(*values), list)


def test_output_structure_and_names_survive() -> None:
    x = gc.input("x", shape=(None,))
    single = gc.compile([x], gc.sum(x * x), backend="numpy")
    pair = gc.compile([x], (gc.sum(x), x * 2.0), backend="numpy", names=["total", "twice"])
    assert np.ndim(pickle.loads(pickle.dumps(single))(np.arange(3.0))) == 0
    result = pickle.loads(pickle.dumps(pair))(np.arange(3.0))
    assert isinstance(result, tuple) and result[0] == 3.0
    assert pickle.loads(pickle.dumps(pair)).options["names"] == ["total", "twice"]


def test_a_size_equality_simplification_removed_is_still_checked() -> None:
    # x + 0*y needs n == m, but the simplified graph no longer mentions y's size.
    x = gc.input("x", shape=("n",))
    y = gc.input("y", shape=("m",))
    f = gc.compile([x, y], x + gc.zeros_like(y), backend="numpy")
    g = pickle.loads(pickle.dumps(f))
    with pytest.raises(gc.InputError, match="must be equal"):
        g(np.ones(3), np.ones(4))
    np.testing.assert_array_equal(g(np.arange(3.0), np.ones(3)), np.arange(3.0))


def test_a_process_rebuilds_a_state_once() -> None:
    data = pickle.dumps(logistic("numpy"))
    assert pickle.loads(data) is pickle.loads(data)


def test_another_graphc_version_is_refused() -> None:
    state = dict(portable.state_of(logistic("numpy")), code="0123456789abcdef")
    with pytest.raises(gc.GraphcError, match="another version of graphc"):
        portable.rebuild(state)


@pytest.fixture(scope="module")
def spawned() -> Iterator[Any]:
    """One fresh Python process (spawn: nothing inherited but the environment)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        yield pool


@pytest.mark.parametrize("backend, options", [
    ("numpy", {}), ("numba", {}), ("numba", {"parallel": True}), ("numba", {"tiered": True}),
])
def test_another_process_computes_the_same(spawned: Any, backend: str, options: dict[str, Any],
                                           values: tuple[np.ndarray, ...]) -> None:
    f = logistic(backend, **options)
    expected = numpy_logistic(*values)
    # The pool pickles f itself as the callable: the child unpickles and calls it.
    # a bounded wait: a child that died would leave Pool.apply waiting for ever
    for ours, theirs in zip(spawned.apply_async(f, values).get(timeout=REMOTE_WAIT), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    stats = spawned.apply_async(getattr, (f, "stats")).get(timeout=REMOTE_WAIT)
    assert stats["unpickled"]
    if backend == "numba" and not options.get("tiered"):
        # Compiled here first, so the child loaded the machine code from the disk cache.
        assert stats["cache_hit"] and stats["parallel"] == options.get("parallel", False)
    if options.get("tiered"):
        assert stats["tiered"] and stats["calls"]["numpy"] + stats["calls"]["numba"] == 1


def test_joblib_processes_run_it(values: tuple[np.ndarray, ...]) -> None:
    joblib = pytest.importorskip("joblib")
    f = logistic("numpy")
    outputs = joblib.Parallel(n_jobs=2)(joblib.delayed(f)(*values) for _ in range(2))
    for result in outputs:
        for ours, theirs in zip(result, numpy_logistic(*values)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12)
