"""Scan bodies that write into buffers their driver allocates once (backend/scan_buffers.py).

Checked three ways: the rewrite of a body's text (what becomes an output
argument, a work array, or is left alone); the generated module of an LSTM
loop and its gradient (no allocating call in a body, the drivers allocate
before their `for` loop); and Numba's own allocation counter, which must not
grow with the number of steps. Values and gradients are compared with a
Python loop of the same cell in NumPy (reverse mode by hand), on both
backends, and a body whose results alias its work arrays or its inputs is
compared with a Python loop too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.backend.scan_buffers import reuse

H, B, F = 8, 4, 3  # hidden, batch, features: h @ U is 4x8 @ 8x32 (a BLAS product), h @ V small


def test_reuse_turns_top_level_allocations_into_arguments() -> None:
    lines = [
        "def body(carry0, x0):",
        "    t0 = loop_blas_dot(carry0, x0)  # t0: f64[4,6] = matmul carry0 x0",
        "    t1 = loop_empty((4, 6), np.float64)",
        "    t2 = loop_full((4, 1), 0, np.float64)  # t2: f64[4,1] = sum",
        "    t3 = loop_empty((carry0.shape[0], 6), np.float64)",
        "    for i0 in range(4):",
        "        t9 = loop_empty((4,), np.float64)",
        "    t4 = matmul_small(t1, x0)  # t4: f64[4,6] = matmul t1 x0",
        "    return (t1, t4, t3, t0, t2)",
    ]
    outputs = [gc.input(f"o{k}", (4, 6)) for k in range(3)]
    buffers = reuse(lines, "body", outputs)
    text = "\n".join(buffers.lines)
    assert buffers.written == [0, 1, 2]  # t1, t4 and t3 (its shape known only by running: fine)
    assert buffers.work == ["np.empty((4, 6), np.float64)", "np.empty((4, 1), np.float64)"]
    assert text.splitlines()[0] == "def body(carry0, x0, out0, out1, out2, w0, w1):"
    assert "t3 = out2" in text
    assert "np.dot(carry0, x0, t0)" in text and "t0 = w0" in text
    assert "t2 = w1" in text and "t2.fill(0)" in text
    assert "matmul_small_into(t1, x0, t4)" in text and "t1 = out0" in text
    assert "        t9 = loop_empty((4,), np.float64)" in text  # inside a loop: left alone


def test_reuse_writes_outputs_of_any_shape_but_not_a_repeated_one() -> None:
    lines = ["def body(c):", "    t3 = loop_empty((c.shape[0], 6), np.float64)",
             "    t5 = loop_empty((2, 6), np.float64)", "    return (t3, t5, t5)"]
    outputs = [gc.input(f"o{k}", ("n", 6)) for k in range(3)]
    buffers = reuse(lines, "body", outputs)
    assert buffers.written == [0]  # a symbolic shape is fine for an output: the driver allocated it
    assert buffers.work == ["np.empty((2, 6), np.float64)"]  # t5, returned twice: a work array


def _cell(params: dict[str, gc.Tensor]):
    def step(carry, x):
        h, c = carry
        z = h @ params["U"] + x @ params["W"] + params["b"]
        i, f, o = (gc.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
        g = gc.tanh(z[:, 3 * H:])
        c = f * c + i * g
        h = o * gc.tanh(c)
        return (h, c), gc.sum((h @ params["V"]) ** 2)
    return step


def _numpy_loss_and_grads(U, W, b, V, xs):
    """The same LSTM, forward and backward by hand (a Python loop over steps)."""
    def sig(v):
        return 1 / (1 + np.exp(-v))
    h, c = np.zeros((B, H)), np.zeros((B, H))
    tape, loss = [], 0.0
    for x in xs:
        z = h @ U + x @ W + b
        i, f, o, g = sig(z[:, :H]), sig(z[:, H:2 * H]), sig(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        tape.append((h, c, x, i, f, o, g, c_new, h_new))
        loss += np.sum((h_new @ V) ** 2)
        h, c = h_new, c_new
    dU, dW, db, dV = (np.zeros_like(a) for a in (U, W, b, V))
    dh, dc = np.zeros((B, H)), np.zeros((B, H))
    for h, c, x, i, f, o, g, c_new, h_new in reversed(tape):
        y = h_new @ V
        dV += h_new.T @ (2 * y)
        dh = dh + 2 * y @ V.T
        tc = np.tanh(c_new)
        do = dh * tc
        dc = dc + dh * o * (1 - tc ** 2)
        di, df, dg = dc * g, dc * c, dc * i
        dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)], 1)
        dU += h.T @ dz
        dW += x.T @ dz
        db += dz.sum(0)
        dh, dc = dz @ U.T, dc * f
    return loss, [dU, dW, db, dV]


def _lstm(backend: str):
    shapes = {"U": (H, 4 * H), "W": (F, 4 * H), "b": (4 * H,), "V": (H, 3)}
    params = {name: gc.input(name, shape) for name, shape in shapes.items()}
    xs = gc.input("xs", ("T", B, F))
    zeros = gc.constant(np.zeros((B, H)))
    _, ys = gc.scan(_cell(params), (zeros, zeros), xs)
    loss = gc.sum(ys)
    order = list(params.values())
    return gc.compile([xs, *order], [loss, *gc.grad(loss, order)], backend=backend, verbose=False)


def _values(steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    U, W = rng.normal(size=(H, 4 * H)) * 0.4, rng.normal(size=(F, 4 * H)) * 0.4
    return rng.normal(size=(steps, B, F)), U, W, rng.normal(size=4 * H) * 0.1, rng.normal(size=(H, 3))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lstm_values_and_gradients_match_a_python_loop(backend: str) -> None:
    f = _lstm(backend)
    for steps in (0, 1, 7):
        xs, U, W, b, V = _values(steps, seed=steps)
        loss, *grads = f(xs, U, W, b, V)
        expected, expected_grads = _numpy_loss_and_grads(U, W, b, V, xs)
        np.testing.assert_allclose(loss, expected, rtol=1e-10, atol=1e-12)
        for got, want in zip(grads, expected_grads):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def _function(source: str, name: str) -> list[str]:
    lines = source.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"def {name}("))
    end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith("def ")), len(lines))
    return lines[start:end]


def test_lstm_loops_allocate_before_their_for_loop_and_never_per_step() -> None:
    from numba.core.runtime import _nrt_python, rtsys

    f = _lstm("numba")
    assert f.stats["loops"]["mode"] == "compiled with the graph"
    bodies = re.findall(r"^def (graph_loop\d+_body)\(", f.source, re.M)
    drivers = re.findall(r"^def (graph_loop\d+)\(", f.source, re.M)
    assert len(bodies) == len(drivers) == 2  # the forward loop and the reverse one
    allocating = re.compile(r"\b(empty|zeros|full|blas_dot|matmul_small|empty_like)\(|\.copy\(\)")
    for name in bodies:
        assert not [line for line in _function(f.source, name) if allocating.search(line)], name
    for name in drivers:
        lines = _function(f.source, name)
        loop = next(k for k, line in enumerate(lines) if line.lstrip().startswith("for "))
        assert any("np.empty_like(" in line for line in lines[:loop])  # the carries' second buffers
        assert not [line for line in lines[loop:] if allocating.search(line)], name
    counts = []
    enabled = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    try:
        for steps in (3, 3, 40):
            arrays = _values(steps)
            before = rtsys.get_allocation_stats().alloc
            f(*arrays)
            counts.append(rtsys.get_allocation_stats().alloc - before)
    finally:
        if not enabled:
            _nrt_python.memsys_disable_stats()
    assert counts[1] == counts[2], counts  # 40 steps allocate what 3 steps do: nothing per step


def _aliasing_step(c, x):
    a, keep = c
    wide = gc.concatenate([a * x, a + x])  # an intermediate (a work array) ...
    return (wide[:3], keep), a  # ... whose slice is the new carry; the input carry is the output


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("reverse", [False, True])
def test_results_that_alias_work_arrays_or_inputs_are_copied(backend: str, reverse: bool) -> None:
    xs = gc.input("xs", (5, 3))
    a0, k0 = gc.input("a0", (3,)), gc.input("k0", (2,))
    (a, keep), ys = gc.scan(_aliasing_step, (a0 * 1.0, k0 * 1.0), xs, reverse=reverse)
    f = gc.compile([xs, a0, k0], [a, keep, ys], backend=backend, verbose=False)
    rng = np.random.default_rng(1)
    xv, av, kv = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=2)
    got = f(xv, av, kv)
    state, rows = av.copy(), np.empty((5, 3))
    for t in (range(4, -1, -1) if reverse else range(5)):
        rows[t] = state
        state = np.concatenate([state * xv[t], state + xv[t]])[:3]
    for value, want in zip(got, [state, kv, rows]):
        np.testing.assert_allclose(value, want, rtol=1e-12)
