"""Tiered execution (`gc.compile(..., tiered="thread")`): the NumPy interpreter serves calls
until the background Numba compile is ready, then Numba does; each call uses one tier.

The background compile is held on an event (monkeypatched `tiered.finish`) so which
tier serves a call is deterministic. References: the plain numpy and numba backends.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend import tiered


def sigmoid_matmul() -> tuple[list[Any], list[Any]]:
    X = gc.input("X", shape=("n", 3))
    W = gc.input("W", shape=(3, 2))
    loss = gc.sum(gc.sigmoid(X @ W))
    return [X, W], [loss, *gc.grad(loss, [X, W])]


def held_compile(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the background compile wait until the returned event is set."""
    release = threading.Event()
    real_finish = tiered.finish

    def finish(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(tiered, "finish", finish)
    return release


def test_tiers_switch_and_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    release = held_compile(monkeypatch)
    inputs, outputs = sigmoid_matmul()
    f = gc.compile(inputs, outputs, tiered="thread")
    reference_numpy = gc.compile(inputs, outputs, backend="numpy")
    reference_numba = gc.compile(inputs, outputs)
    assert f.source == reference_numba.source  # the code the Numba tier runs
    rng = np.random.default_rng(5)
    X, W = rng.normal(size=(7, 3)), rng.normal(size=(3, 2))

    first = f(X, W)
    assert f.stats["tier"] == "numpy" and f.stats["calls"] == {"numpy": 1, "numba": 0}
    for got, want in zip(first, reference_numpy(X, W)):
        np.testing.assert_array_equal(got, want)

    release.set()
    assert f.runner.wait(120)  # type: ignore[attr-defined]
    assert f.stats["numba_ready"] and "tier_error" not in f.stats
    assert "numba" in f.stats["seconds"]
    second = f(X=X, W=W)
    assert f.stats["tier"] == "numba" and f.stats["calls"] == {"numpy": 1, "numba": 1}
    for got, want, slow in zip(second, reference_numba(X, W), first):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(got, slow, rtol=1e-12)
    assert isinstance(second, list) and second[0].shape == ()


def test_input_errors_on_either_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    release = held_compile(monkeypatch)
    f = gc.compile(*sigmoid_matmul(), tiered="thread")
    with pytest.raises(gc.InputError):
        f(np.ones((2, 4)), np.ones((3, 2)))
    release.set()
    f.runner.wait(120)  # type: ignore[attr-defined]
    with pytest.raises(gc.InputError):
        f(np.ones((2, 4)), np.ones((3, 2)))


def test_failed_compile_keeps_numpy_tier() -> None:
    a = gc.input("a", shape=("n", "n"), dtype="int64")  # symbolic: np.dot, not loops
    b = gc.input("b", shape=("n", "n"), dtype="int64")
    with pytest.raises(gc.GraphcError):
        gc.compile([a, b], a @ b)  # Numba's np.dot has no integer matmul
    f = gc.compile([a, b], a @ b, tiered="thread")
    assert f.runner.wait(120)  # type: ignore[attr-defined]
    assert "tier_error" in f.stats and not f.stats["numba_ready"]
    x = np.arange(4, dtype=np.int64).reshape(2, 2)
    np.testing.assert_array_equal(f(x, x), x @ x)
    assert f.stats["tier"] == "numpy"
