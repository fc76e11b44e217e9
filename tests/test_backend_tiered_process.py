"""The default tiered start, for real: a compile worker process Numba-compiles while the
NumPy interpreter answers, then the caller loads the machine code and switches.

The rest of the suite runs with GRAPHC_TIERED=0 (tests/conftest.py); here the
variable is removed and each test gets a fresh graph cache, so its graphs are
cold and a worker is spawned. References: the numpy backend (same values to
rtol 1e-12, the documented rounding contract) and the non-tiered numba backend
(the same machine code: equal bit for bit). Each test ends with no worker
process left alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend import tiered_process

WAIT = 300  # seconds: a cold compile on a loaded 2-core machine


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def cold(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """Default settings (no GRAPHC_TIERED), an empty graph cache; no worker left afterwards."""
    monkeypatch.delenv("GRAPHC_TIERED", raising=False)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    yield
    pids = [worker.process.pid for worker in tiered_process._WORKERS]
    tiered_process._stop_workers()
    assert not any(alive(pid) for pid in pids)


def sigmoid_matmul() -> tuple[list[Any], list[Any]]:
    X = gc.input("X", shape=("n", 3))
    W = gc.input("W", shape=(3, 2))
    loss = gc.sum(gc.sigmoid(X @ W))
    return [X, W], [loss, *gc.grad(loss, [X, W])]


def mlp(depth: int) -> tuple[list[Any], list[Any]]:
    """Enough fused groups for kernel mode (codegen.KERNEL_MODE_GROUPS)."""
    x, y = gc.input("x", shape=("n", 4)), gc.input("y", shape=("n", 4))
    weights = [gc.input(f"W{i}", shape=(4, 4)) for i in range(depth)]
    biases = [gc.input(f"b{i}", shape=(4,)) for i in range(depth)]
    h = x
    for W, b in zip(weights, biases):
        h = gc.tanh(h @ W + b)
    loss = gc.mean((h - y) ** 2)
    return [x, y, *weights, *biases], [loss, *gc.grad(loss, [*weights, *biases])]


def check_switch(inputs: list[Any], outputs: list[Any], values: list[np.ndarray]) -> Any:
    f = gc.compile(inputs, outputs)  # defaults
    assert f.stats["tiered"] == "process" and f.stats["tier"] is None
    assert f.stats["cache_hit"] is False and f.stats["nodes"] > 0  # documented keys at once
    first = f(*values)
    assert f.stats["tier"] == "numpy" and f.stats["calls"] == {"numpy": 1, "numba": 0}
    numpy_reference = gc.compile(inputs, outputs, backend="numpy")(*values)
    for got, want in zip(first, numpy_reference):
        np.testing.assert_array_equal(got, want)  # the NumPy tier is the numpy backend
    pid = f.stats["worker_pid"]
    assert pid > 0
    assert f.runner.wait(WAIT)
    second = f(*values)
    assert "tier_error" not in f.stats, f.stats.get("tier_error")
    assert f.stats["tier"] == "numba" and f.stats["numba_ready"]
    assert f.stats["calls"] == {"numpy": 1, "numba": 1}
    assert f.stats["cache_hit"]  # the caller loaded what the worker compiled
    compiled = gc.compile(inputs, outputs, tiered=False)  # warm now: the same machine code
    for got, slow, want in zip(second, first, compiled(*values)):
        np.testing.assert_allclose(got, slow, rtol=1e-12)
        np.testing.assert_array_equal(got, want)
    assert f.source == compiled.source
    return f


def test_default_compiles_in_a_worker_and_switches(cold: None) -> None:
    rng = np.random.default_rng(3)
    f = check_switch(*sigmoid_matmul(), [rng.normal(size=(7, 3)), rng.normal(size=(3, 2))])
    assert f.stats["worker"]["cache_hit"] is False and f.stats["kernels"] == 0
    again = gc.compile(*sigmoid_matmul())  # warm cache: no worker, loaded at once
    assert "tiered" not in again.stats and "worker_pid" not in again.stats
    assert again.stats["cache_hit"]


def test_kernel_mode_worker_gets_the_first_inputs(cold: None) -> None:
    rng = np.random.default_rng(4)
    depth = 3
    values = [rng.normal(size=(5, 4)), rng.normal(size=(5, 4))]
    values += [rng.normal(size=(4, 4)) / 2 for _ in range(depth)]
    values += [rng.normal(size=4) / 10 for _ in range(depth)]
    f = check_switch(*mlp(depth), values)
    assert f.stats["kernels"] > 0
    assert f.stats["worker"]["call_error"] is None  # it ran the graph on our inputs


def test_input_errors_are_the_same_on_each_tier(cold: None) -> None:
    f = gc.compile(*sigmoid_matmul())
    with pytest.raises(gc.InputError, match="W"):
        f(np.ones((2, 3)), np.ones((4, 2)))
    assert f.runner.wait(WAIT)
    f(np.ones((2, 3)), np.ones((3, 2)))
    assert f.stats["tier"] == "numba"
    with pytest.raises(gc.InputError, match="W"):
        f(np.ones((2, 3)), np.ones((4, 2)))


def test_compile_error_in_the_worker_keeps_numpy(cold: None) -> None:
    a = gc.input("a", shape=("n", "n"), dtype="int64")  # Numba's np.dot has no integer matmul
    b = gc.input("b", shape=("n", "n"), dtype="int64")
    f = gc.compile([a, b], a @ b)
    assert f.runner.wait(WAIT)
    x = np.arange(4, dtype=np.int64).reshape(2, 2)
    np.testing.assert_array_equal(f(x, x), x @ x)
    assert f.stats["tier"] == "numpy" and "tier_error" in f.stats
    np.testing.assert_array_equal(f(x, x), x @ x)
    assert f.stats["calls"] == {"numpy": 2, "numba": 0}


def test_crashed_worker_falls_back_and_is_replaced(cold: None) -> None:
    f = gc.compile(*sigmoid_matmul())
    pid = f.stats["worker_pid"]
    os.kill(pid, signal.SIGKILL)  # like the OOM killer, mid-compile
    assert f.runner.wait(WAIT)
    X, W = np.ones((2, 3)), np.full((3, 2), 0.5)
    for got, want in zip(f(X, W), gc.compile(*sigmoid_matmul(), backend="numpy")(X, W)):
        np.testing.assert_array_equal(got, want)
    assert f.stats["tier"] == "numpy"
    assert "exited with code" in f.stats["tier_error"] and not alive(pid)
    inputs, outputs = sigmoid_matmul()
    g = gc.compile(inputs, [outputs[0]])  # another graph: a new worker compiles it
    assert g.stats["worker_pid"] not in (0, pid)
    assert g.runner.wait(WAIT)
    g(X, W)
    assert g.stats["tier"] == "numba", g.stats.get("tier_error")


def test_tiered_false_and_environment_turn_it_off(cold: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, outputs = sigmoid_matmul()
    assert "tiered" not in gc.compile(inputs, outputs[:1], tiered=False).stats
    monkeypatch.setenv("GRAPHC_TIERED", "0")
    assert "tiered" not in gc.compile(inputs, outputs[1:], tiered=None).stats
    with pytest.raises(gc.GraphcError, match="tiered"):
        gc.compile(inputs, outputs, tiered="sometimes")


SCRIPT = """
import numpy as np, graphc as gc
X = gc.input("X", shape=("n", 3)); W = gc.input("W", shape=(3, 2))
loss = gc.sum(gc.sigmoid(X @ W))
f = gc.compile([X, W], [loss, *gc.grad(loss, [X, W])])
f(np.ones((2, 3)), np.ones((3, 2)))
print(f.stats.get("tier"), f.stats.get("worker_pid", 0), f.stats["cache_hit"])
"""


def run_script() -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], capture_output=True,
                          text=True, timeout=WAIT,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_script_that_exits_at_once_still_fills_the_cache(cold: None) -> None:
    """API.md: a second process compiling the same graph does not compile it again."""
    tier, pid, hit = run_script()
    assert tier == "numpy" and hit == "False" and not alive(int(pid))  # finished and reaped
    assert run_script() == ["None", "0", "True"]  # warm: loaded at once, no worker


def test_no_temporary_directory_compiles_here(cold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tiered_process.tempfile, "mkdtemp", refuse)
    inputs, outputs = sigmoid_matmul()
    f = gc.compile(inputs, outputs)
    assert "tiered" not in f.stats and "simplify" in f.stats and "nodes" in f.stats
    X, W = np.ones((2, 3)), np.full((3, 2), 0.5)
    for got, want in zip(f(X, W), gc.compile(inputs, outputs, backend="numpy")(X, W)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
