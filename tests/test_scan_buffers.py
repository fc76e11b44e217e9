"""Scan bodies that write into buffers their driver allocates once (backend/scan_buffers.py).

Checked three ways: the rewrite of a body's text (which products become
writes into an output argument or a work array, what is left alone); the
generated module of an LSTM loop and its gradient (no allocating product in
a body, the drivers allocate before their `for` loop); and Numba's own
allocation counter, which per step must count only the fused elementwise
loops' arrays (left allocating on purpose: scan_buffers.py says why). Values and gradients are compared with a
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


def test_reuse_writes_products_into_outputs_and_work_arrays() -> None:
    lines = [
        "def body(carry0, x0):",
        "    t0 = loop_blas_dot(carry0, x0)  # t0: f64[4,6] = matmul carry0 x0",
        "    t1 = loop_empty((4, 6), np.float64)",
        "    t3 = loop_blas_dot(t1, x0)  # t3: f64[n,6] = matmul t1 x0",
        "    t5 = loop_blas_dot(t1, x0)  # t5: f64[n,6] = matmul t1 x0",
        "    t6 = loop_blas_dot(t1, x0.astype(np.float64))  # t6: f64[4,6] = matmul t1 x0",
        "    for i0 in range(4):",
        "        t9 = matmul_small(t1, t1)  # t9: f64[4,4] = matmul t1 t1",
        "    t4 = matmul_small(t1, x0)  # t4: f64[4,6] = matmul t1 x0",
        "    return (t4, t3, t1, t0, t5, t6)",
    ]
    outputs = [gc.input(f"o{k}", ("n", 6)) for k in range(3)]
    buffers = reuse(lines, "body", outputs)
    text = "\n".join(buffers.lines)
    assert buffers.written == [0, 1]  # t4 and t3 (its shape known only by running: fine for an output)
    assert buffers.work == ["np.empty((4, 6), np.float64)"]  # t0; t5's shape is not static
    assert text.splitlines()[0] == "def body(carry0, x0, out0, out1, w0):"
    assert "t0 = w0" in text and "np.dot(carry0, x0, t0)" in text
    assert "t3 = out1" in text and "np.dot(t1, x0, t3)" in text
    assert "t4 = out0" in text and "matmul_small_into(t1, x0, t4)" in text
    assert "    t1 = loop_empty((4, 6), np.float64)" in text  # a fused loop's array: left alone
    assert "    t5 = loop_blas_dot(t1, x0)  # t5" in text  # not static, not an output
    assert "t6 = loop_blas_dot(t1, x0.astype" in text  # an operand cast: left alone
    assert "        t9 = matmul_small(t1, t1)" in text  # inside a loop: left alone


def test_reuse_leaves_a_result_returned_twice_to_a_work_array() -> None:
    lines = ["def body(c, x):", "    t5 = blas_dot(c, x)  # t5: f32[2,6] = matmul c x", "    return (t5, t5)"]
    buffers = reuse(lines, "body", [gc.input(f"o{k}", (2, 6)) for k in range(2)])
    assert buffers.written == [] and buffers.work == ["np.empty((2, 6), np.float32)"]


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
    end = next((k for k in range(start + 1, len(lines)) if lines[k] and not lines[k].startswith(" ")),
               len(lines))
    return lines[start:end]


def test_lstm_products_write_into_buffers_and_the_drivers_allocate_before_their_loop() -> None:
    from numba.core.runtime import _nrt_python, rtsys

    f = _lstm("numba")
    assert f.stats["loops"]["mode"] == "compiled with the graph"
    bodies = re.findall(r"^def (graph_loop\d+_body)\(", f.source, re.M)
    drivers = re.findall(r"^def (graph_loop\d+)\(", f.source, re.M)
    assert len(bodies) == len(drivers) == 2  # the forward loop and the reverse one
    fused = 0  # arrays a step still allocates: the fused elementwise loops' results
    for name in bodies:
        lines = _function(f.source, name)
        assert not [line for line in lines if re.search(r"blas_dot\(|matmul_small\(", line)], name
        assert any("np.dot(" in line for line in lines)
        assert any("matmul_small_into(" in line for line in lines)
        fused += sum(bool(re.match(r"    \w+ = loop_(empty|zeros|full)\(", line)) for line in lines)
    for name in drivers:
        lines = _function(f.source, name)
        loop = next(k for k, line in enumerate(lines) if line.lstrip().startswith("for "))
        assert any("np.empty_like(" in line for line in lines[:loop])  # the carries' second buffers
        assert not [line for line in lines[loop:] if re.search(r"empty|\.copy\(\)", line)], name
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
    # Numba's allocation counter: per step exactly the fused loops' arrays, none for the 6 products
    assert (counts[2] - counts[1]) == 37 * fused, (counts, fused)


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
