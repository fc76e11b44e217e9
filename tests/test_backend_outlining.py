"""Generated loops with many kernel call sites link the kernels noinline: same values.

Large graphs run their big groups in the block interpreter (graphc/backend/policy.py); the
loops that remain are outlined when they still have more than
OUTLINE_KERNEL_CALLS kernel call sites. To reach that path the test turns the
interpreter off. The value and gradient must equal the NumPy backend's
(reference: the interpreter, and the analytic derivative computed with NumPy).
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.backend import policy
from graphc.backend.codegen import OUTLINE_KERNEL_CALLS


def test_many_kernel_calls_are_outlined_and_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy, "LARGE_KERNEL_CALLS", 10**9)  # no block interpreter
    monkeypatch.setattr(policy, "LARGE_POINTWISE", 10**9)
    x = gc.input("x", shape=("n",))
    y = x
    steps = OUTLINE_KERNEL_CALLS // 2 + 4  # sin + cos per step in the gradient
    for _ in range(steps):
        y = gc.sin(y) * 0.9 + x
    loss = gc.sum(y)
    outputs = [loss, *gc.grad(loss, [x])]
    f = gc.compile([x], outputs)
    assert f.stats["kernels_outlined"] and not f.stats["interpreted_groups"]
    value = np.linspace(-1.5, 2.0, 37)
    got = f(value)
    want = gc.compile([x], outputs, backend="numpy")(value)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # independent reference: forward chain and its derivative by the chain rule
    v, dv = value.copy(), np.ones_like(value)
    for _ in range(steps):
        v, dv = np.sin(v) * 0.9 + value, np.cos(v) * 0.9 * dv + 1.0
    np.testing.assert_allclose(got[0], v.sum(), rtol=1e-12)
    np.testing.assert_allclose(got[1], dv, rtol=1e-10)


def test_small_graphs_keep_kernels_inline() -> None:
    x = gc.input("x", shape=(3,))
    f = gc.compile([x], gc.sum(gc.exp(x)))
    assert not f.stats["kernels_outlined"]
    np.testing.assert_allclose(f(np.array([0.0, 1.0, -1.0])), np.exp([0.0, 1.0, -1.0]).sum(),
                               rtol=1e-14)
