"""Scan bodies that write into buffers their driver allocates once (backend/scan_buffers.py).

Checked three ways: the rewrite of a body's text (which products become
writes into an output argument or a work array, what is left alone); the
generated module of an LSTM loop and its gradient (no allocating product in
a body, the drivers allocate before their `for` loop); and Numba's own
allocation counter, which per step must count only the fused elementwise
loops' arrays that are not results (a result is written into the driver's
buffer) and the concatenate joining the gates' cotangents. Values and
gradients are compared with a
Python loop of the same cell in NumPy (reverse mode by hand), on both
backends, and a body whose results alias its work arrays or its inputs is
compared with a Python loop too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.backend.scan_buffers import plan_buffers

H, B, F = 8, 4, 3  # hidden, batch, features: h @ U is 4x8 @ 8x32 (a BLAS product), h @ V small


def _body(outputs_of):
    """A body-like graph: inputs carry0 (4, 5), x0 (5, 6), m (n, 5), i (4, 5) int; its outputs."""
    carry0, x0 = gc.input("carry0", (4, 5)), gc.input("x0", (5, 6))
    m, i = gc.input("m", ("n", 5)), gc.input("i", (4, 5), dtype="int64")
    inputs = [carry0, x0, m, i]
    return inputs, outputs_of(*inputs)


def _generated(inputs, outputs):
    from graphc.backend import policy
    from graphc.backend.codegen import generate

    plan = policy.schedule_for([i.node if hasattr(i, "node") else i for i in inputs],
                               [o.node if hasattr(o, "node") else o for o in outputs])
    buffers = plan_buffers(plan, plan.outputs)
    source = generate(plan, (), function_name="body", part_budget=10 ** 9, kernels=False,
                      into=buffers.buffers).source
    return buffers, source


def test_products_write_into_outputs_and_work_arrays() -> None:
    def outputs_of(carry0, x0, m, i):
        big = gc.tanh(carry0) @ gc.tanh(x0 @ gc.constant(np.ones((6, 40))))  # 5x6 @ 6x40: BLAS, static
        small = carry0 @ gc.constant(np.ones((5, 2)))  # a small static product: matmul_small
        unknown = m @ x0  # (n, 6): its shape known only by running
        cast = i @ x0  # an operand cast to float: left allocating
        return [small, unknown, gc.sum(big), gc.sum(cast), gc.sum(m @ x0 * 2.0)]

    inputs, outputs = _body(outputs_of)
    buffers, source = _generated(inputs, outputs)
    assert buffers.written == [0, 1]  # small and unknown (any shape is fine for an output row)
    assert buffers.work == ["np.empty((5, 40), np.float64)", "np.empty((4, 40), np.float64)"]
    head = next(line for line in source.splitlines() if line.startswith("def body("))
    assert head.endswith(", out0, out1, w0, w1):"), head
    assert "gemm_into(m, x0, t" in source and "matmul_small_into(carry0, " in source
    assert source.count("gemm_into(") == 3 and "blas_dot(m, x0)" in source  # m @ x0 * 2: not static
    assert "= matmul_small(i.astype(np.float64), x0)" in source  # a cast operand: allocating as before
    assert "= w0" in source and "= w1" in source and "= out0" in source and "= out1" in source


def test_a_result_returned_twice_goes_to_a_work_array() -> None:
    inputs, outputs = _body(lambda carry0, x0, m, i: [carry0 @ x0 @ gc.constant(np.ones((6, 40)))] * 2)
    buffers, source = _generated(inputs, outputs)
    assert buffers.written == []
    assert buffers.work == ["np.empty((4, 6), np.float64)", "np.empty((4, 40), np.float64)"]


def test_fused_loop_results_write_into_output_arguments() -> None:
    """A result a fused elementwise loop computes whole is written into out<k> (the driver
    passes the stacked row ys[t] or the carry's second buffer): no array per step, no copy.
    A result returned twice goes to its first position; a reduction keeps its accumulator."""
    def outputs_of(carry0, x0, m, i):
        a = gc.tanh(carry0) * 2.0
        b = gc.exp(carry0) + 1.0
        return [a, b, a, gc.sum(b, axis=1)]

    inputs, outputs = _body(outputs_of)
    buffers, source = _generated(inputs, outputs)
    assert buffers.written == [0, 1]  # a (first position), b; not the repeat, not the sum
    head = next(line for line in source.splitlines() if line.startswith("def body("))
    assert head.endswith(", out0, out1):"), head
    assert re.search(r"^    t\d+ = out0$", source, re.M) and re.search(r"^    t\d+ = out1$", source, re.M)
    assert source.count("empty((4, 5)") == 0  # neither result allocates
    assert "full((4,)" in source or "zeros((4,)" in source  # the sum's accumulator does


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_results_written_into_buffers_match_a_python_loop(backend: str, reverse: bool) -> None:
    """Carries and per-step outputs a fused loop writes into the driver's buffers (a carry that
    is also a per-step output, a carry read after its new value is written) agree with a loop."""
    def step(carry, x):
        a, b = carry
        new_a = gc.tanh(a * x + b)
        new_b = b * 0.5 + new_a
        return (new_a, new_b), (new_a, new_b * a)

    xs = gc.input("xs", ("T", 3))
    a0, b0 = gc.input("a0", (3,)), gc.input("b0", (3,))
    (a, b), (ys_a, ys_ab) = gc.scan(step, (a0, b0), xs, reverse=reverse)
    f = gc.compile([xs, a0, b0], [a, b, ys_a, ys_ab], backend=backend, verbose=False)
    if backend == "numba":
        body = _function(f.source, "graph_loop0_body")
        assert sum(bool(re.match(r"    t\d+ = out\d+$", line)) for line in body) == 3, body
        driver = _function(f.source, "graph_loop0")
        assert not [line for line in driver if "loop_copy_into" in line], driver
    rng = np.random.default_rng(3)
    for steps in (0, 1, 6):
        xv, av, bv = rng.normal(size=(steps, 3)), rng.normal(size=3), rng.normal(size=3)
        got = f(xv, av, bv)
        sa, sb, rows_a, rows_ab = av.copy(), bv.copy(), np.empty((steps, 3)), np.empty((steps, 3))
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            na = np.tanh(sa * xv[t] + sb)
            nb = sb * 0.5 + na
            rows_a[t], rows_ab[t] = na, nb * sa
            sa, sb = na, nb
        for value, want in zip(got, [sa, sb, rows_a, rows_ab]):
            np.testing.assert_allclose(value, want, rtol=1e-12)


def test_graphs_outside_loops_are_generated_as_before() -> None:
    """No buffers: the products allocate (the graph function's results are the caller's)."""
    inputs, outputs = _body(lambda carry0, x0, m, i: [gc.tanh(carry0) @ x0 @ gc.constant(np.ones((6, 40))),
                                                      carry0 @ x0])
    from graphc.backend import policy
    from graphc.backend.codegen import generate

    source = generate(policy.schedule_for(inputs, outputs), ()).source
    assert "blas_dot(" in source and "= matmul_small(" in source
    assert "np.dot(" not in source and "_into(" not in source  # gemm_into, matmul_small_into


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
        assert any("gemm_into(" in line for line in lines)  # NumPy's BLAS (library_blas.py)
        # the readout (h @ V, a small product) and its cotangent run after / before the loops,
        # for all steps at once (control/scan_hoist.py); small products into buffers: above
        assert not any("matmul_small_into(" in line for line in lines)
        fused += sum(bool(re.match(r"    \w+ = (loop_(empty|zeros|full)|np\.concatenate)\(", line))
                     for line in lines)  # the gates' cotangents joined: one concatenate (accumulate.py)
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
