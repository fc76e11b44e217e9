"""A warm start (the graph's machine code already in the disk cache, a fresh process) skips
Numba's whole target set-up (numba_hooks.light_cache_loads) and still gives identical results.

Each case runs two fresh processes on one empty cache: the first compiles (a cache miss,
which goes through the hook's fallback to Numba's own path), the second loads. Both must
match an independent NumPy reference, and each other bit for bit; the second must have
loaded machine code without the registries Numba's full set-up imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parent.parent

# One graph of each mode: one njit function (Rosenbrock's value, gradient and Hessian) and
# kernel mode (a logistic loss, its gradient and Hessian: shared fused kernels called from
# Python, each kernel and helper loaded through its own dispatcher).
SCRIPT = r"""
import json, sys
import numpy as np
import graphc as gc
from graphc.backend import numba_hooks

x = gc.input("x", shape=(5,))
rosen = gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
f = gc.compile([x], [rosen, gc.grad(rosen, x), gc.hessian(rosen, x)], verbose=False)
theta, X, y = gc.input("theta", shape=(4,)), gc.input("X", shape=("n", 3)), gc.input("y", shape=("n",))
margin = X @ theta[:3] + theta[3]
loss = gc.sum(gc.softplus(-(2 * y - 1) * margin)) + 0.5 * gc.sum(theta[:3] ** 2)
g = gc.compile([theta, X, y], [loss, gc.grad(loss, theta), gc.hessian(loss, theta)], verbose=False)
rng = np.random.default_rng(3)
point, t = rng.uniform(-2, 2, 5), rng.normal(size=4)
data, labels = rng.normal(size=(40, 3)), (rng.random(40) > 0.5) * 1.0
results = [np.asarray(r) for r in [*f(point), *g(t, data, labels)]]
print(json.dumps({
    "results": [r.tolist() for r in results],
    "hits": [f.stats["cache_hit"], g.stats["cache_hit"]],
    "kernel_mode": g.stats["kernels"] > 0,
    "hook": numba_hooks.HOOKS.get("light_cache_loads"),
    "full_setup": "numba.typed.typedlist" in sys.modules,
}))
"""


def _run(cache: Path) -> dict:
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _references() -> list[np.ndarray]:
    """Rosenbrock by scipy's formulas' definition, the logistic parts by hand."""
    rng = np.random.default_rng(3)
    point, t = rng.uniform(-2, 2, 5), rng.normal(size=4)
    data, labels = rng.normal(size=(40, 3)), (rng.random(40) > 0.5) * 1.0
    a, b = point[:-1], point[1:]
    value = np.sum(100 * (b - a ** 2) ** 2 + (1 - a) ** 2)
    grad = np.zeros(5)
    grad[:-1] += -400 * a * (b - a ** 2) - 2 * (1 - a)
    grad[1:] += 200 * (b - a ** 2)
    hess = np.diag(np.r_[1200 * a ** 2 - 400 * b + 2, 0.0] + np.r_[0.0, np.full(4, 200.0)])
    hess += np.diag(-400 * a, 1) + np.diag(-400 * a, -1)
    design = np.c_[data, np.ones(len(data))]
    s = 2 * labels - 1
    m = design @ t
    loss = np.sum(np.logaddexp(0, -s * m)) + 0.5 * np.sum(t[:3] ** 2)
    p = 1 / (1 + np.exp(s * m))  # sigmoid(-s m)
    penalty = np.r_[t[:3], 0.0]
    grad_l = design.T @ (-s * p) + penalty
    weight = p * (1 - p)
    hess_l = design.T @ (design * weight[:, None]) + np.diag([1.0, 1.0, 1.0, 0.0])
    return [np.asarray(value), grad, hess, np.asarray(loss), grad_l, hess_l]


def test_warm_load_skips_numba_setup_and_gives_identical_results(tmp_path: Path) -> None:
    cold = _run(tmp_path / "cache")
    warm = _run(tmp_path / "cache")
    assert cold["hits"] == [False, False] and warm["hits"] == [True, True]
    assert warm["kernel_mode"], "the logistic graph should be in kernel mode (shared kernels)"
    assert warm["hook"], "numba_hooks.light_cache_loads is inactive: Numba moved an internal"
    assert cold["full_setup"], "a cold compile runs Numba's whole set-up"
    assert not warm["full_setup"], "the warm load ran Numba's whole target set-up"
    for got_cold, got_warm, want in zip(cold["results"], warm["results"], _references()):
        assert np.array_equal(np.asarray(got_cold), np.asarray(got_warm))  # bit for bit
        np.testing.assert_allclose(np.asarray(got_warm), want, rtol=1e-10, atol=1e-10)


def test_light_load_falls_back_to_numba_on_a_miss_and_on_a_fault() -> None:
    """The hook's own contract, on a dispatcher of this process: a miss (or a load that
    raises) goes to Numba's load_overload, whose answer is returned."""
    import numba

    from graphc.backend import numba_hooks

    calls: list[str] = []

    class FakeCache:
        def __init__(self, light: object) -> None:
            self.light = light

        def _load_overload(self, signature: object, context: object) -> object:
            calls.append("light")
            if isinstance(self.light, Exception):
                raise self.light
            return self.light

        def load_overload(self, signature: object, context: object) -> object:
            calls.append("numba")
            return "from numba"

    class FakeDispatcher:
        def __init__(self, light: object) -> None:
            self._cache = FakeCache(light)

    context = numba.core.registry.cpu_target.target_context
    for light, want, path in [("hit", "hit", ["light"]), (None, "from numba", ["light", "numba"]),
                              (ValueError("bad data"), "from numba", ["light", "numba"])]:
        calls.clear()
        dispatcher = FakeDispatcher(light)
        assert numba_hooks.light_cache_loads(dispatcher)
        assert dispatcher._cache.load_overload(("sig",), context) == want
        assert calls == path
    assert not numba_hooks.light_cache_loads(numba.njit(cache=False)(lambda v: v))  # NullCache
