"""Per-step work moved out of loops (graphc/control/scan_hoist.py, the loop pass's hoisting).

Each case is checked three ways: the hoist happened (the loop pass's counters
and the bodies left in the compiled graph), the values and gradients equal the
unhoisted loop (`simplify=False`) and a Python loop of the same step. float64
cases agree to 1e-12; float32 ones to 2e-5 relative (a batched product or sum
adds in another order than T per-step ones).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.ir import toposort

RNG = np.random.default_rng(15)
B, D, H, K = 3, 4, 5, 6


def fired(f):
    return {k: v for p in f.stats["simplify"]["passes"] if p["name"] == "loops"
            for k, v in p["rewrites"].items()}


def bodies(f):
    """The loop bodies of the compiled graph, forward ones first."""
    found = {n.attr["body"]: None for n in toposort(list(f.outputs)) if n.op.name == "scan"}
    return sorted(found, key=lambda b: b.inputs[0].name.startswith("g_"))


def ops(body):
    return [n.op.name for n in body.nodes() if n.inputs]


def rnn_loss(T, reverse=False, checkpoint=None, dtype="float64"):
    """An RNN with an input product, a readout, log_softmax and a per-step loss."""
    W = gc.input("W", (H, H), dtype=dtype)
    U = gc.input("U", (D, H), dtype=dtype)
    V = gc.input("V", (H, K), dtype=dtype)
    xs = gc.input("xs", (T, B, D), dtype=dtype)
    h0 = gc.input("h0", (B, H), dtype=dtype)

    def step(h, x):
        h = gc.tanh(h @ W + x @ U)
        logits = gc.log_softmax(h @ V, axis=-1)
        return h, -gc.sum(logits[:, 0])
    h, losses = gc.scan(step, h0, xs, reverse=reverse, checkpoint=checkpoint)
    return [W, U, V, xs, h0], gc.sum(losses) + gc.sum(h * h)


def rnn_reference(values, reverse=False):
    """The loss by a Python loop of the same step."""
    W, U, V, xs, h = values
    total = 0.0
    for t in (reversed(range(len(xs))) if reverse else range(len(xs))):
        h = np.tanh(h @ W + xs[t] @ U)
        z = h @ V
        z = z - z.max(axis=-1, keepdims=True)
        total += -np.sum((z - np.log(np.exp(z).sum(axis=-1, keepdims=True)))[:, 0])
    return total + np.sum(h * h)


def rnn_values(T, dtype=np.float64):
    return [(RNG.normal(size=s) * 0.5).astype(dtype) for s in
            [(H, H), (D, H), (H, K), (T, B, D), (B, H)]]


def compare(inputs, outputs, values, backend="numpy", rtol=1e-12):
    f = gc.compile(inputs, outputs, backend=backend)
    plain = gc.compile(inputs, outputs, backend="numpy", simplify=False)
    for got, want in zip(f(*values), plain(*values)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    return f


def test_the_readout_leaves_the_forward_loop_and_its_gradient_the_reverse_loop():
    inputs, loss = rnn_loss(7)
    values = rnn_values(7)
    f = compare(inputs, [loss, *gc.grad(loss, inputs)], values)
    rewrites = fired(f)
    assert rewrites.get("loops_hoisted_before", 0) >= 2  # x @ U, and the readout's cotangent
    assert rewrites.get("loops_hoisted_after", 0) >= 1  # readout, log_softmax and loss
    forward, backward = bodies(f)
    assert ops(forward).count("matmul") == 1 and "log_softmax" not in ops(forward)  # h @ W only
    assert ops(backward).count("matmul") == 1 and "exp" not in ops(backward)  # dh @ W.T only
    np.testing.assert_allclose(f(*values)[0], rnn_reference(values), rtol=1e-12)
    for wrt in inputs:
        gc.check_grad(loss, wrt, dict(zip(inputs, values)))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T", [0, 1, 6, "T"])
def test_reverse_symbolic_and_empty_loops_match_the_unhoisted_loop(reverse, T):
    inputs, loss = rnn_loss(T, reverse=reverse)
    values = rnn_values(T if isinstance(T, int) else 6)
    f = compare(inputs, [loss, *gc.grad(loss, inputs)], values)
    assert fired(f).get("loops_hoisted_after", 0) >= 1
    np.testing.assert_allclose(f(*values)[0], rnn_reference(values, reverse), rtol=1e-12)


def test_checkpointed_loop_matches_the_unhoisted_loop():
    inputs, loss = rnn_loss(8, checkpoint=3)
    values = rnn_values(8)
    f = compare(inputs, [loss, *gc.grad(loss, inputs)], values)
    assert "log_softmax" not in ops(bodies(f)[0])  # the forward loop is hoisted; the rebuilding
    np.testing.assert_allclose(f(*values)[0], rnn_reference(values), rtol=1e-12)  # one is not


def test_length_only_loop_with_outputs_computed_after_it():
    W = gc.input("W", (H, H))
    h0 = gc.input("h0", (B, H))

    def step(h, _):
        return gc.sin(h @ W), gc.exp(h).sum() + gc.sum(gc.tanh(h @ W) ** 2)  # reads the carry
    h, ys = gc.scan(step, h0, length=5)
    loss = gc.sum(ys) + gc.sum(h)
    values = [RNG.normal(size=(H, H)) * 0.5, RNG.normal(size=(B, H))]
    f = compare([W, h0], [ys, loss, *gc.grad(loss, [W, h0])], values)
    assert fired(f).get("loops_hoisted_after", 0) >= 1
    h, want = values[1], []
    for _ in range(5):
        want.append(np.exp(h).sum() + np.sum(np.tanh(h @ values[0]) ** 2))
        h = np.sin(h @ values[0])
    np.testing.assert_allclose(f(*values)[0], want, rtol=1e-12)


def test_hoisted_value_read_by_the_carry_and_by_an_output():
    """x @ U feeds the carry and an output; exp(x @ U) only an output (both move out)."""
    U = gc.input("U", (D, H))
    xs = gc.input("xs", (6, B, D))
    h0 = gc.input("h0", (B, H))

    def step(h, x):
        p = x @ U
        return h * 0.5 + p, gc.sum(gc.exp(p) * h)
    h, ys = gc.scan(step, h0, xs)
    loss = gc.sum(ys) + gc.sum(h)
    values = [RNG.normal(size=(D, H)), RNG.normal(size=(6, B, D)), RNG.normal(size=(B, H))]
    f = compare([U, xs, h0], [ys, loss, *gc.grad(loss, [U, xs, h0])], values)
    assert "matmul" not in ops(bodies(f)[0]) and "exp" not in ops(bodies(f)[0])
    h, want = values[2], []
    for x in values[1]:
        p = x @ values[0]
        want.append(np.sum(np.exp(p) * h))
        h = h * 0.5 + p
    np.testing.assert_allclose(f(*values)[0], want, rtol=1e-12)


def test_cheap_per_step_outputs_stay_in_the_loop():
    xs = gc.input("xs", (5, 3))
    c0 = gc.input("c0", (3,))
    _, ys = gc.scan(lambda c, x: (c + x, c * 2.0 + x), c0, xs)
    f = gc.compile([xs, c0], ys, backend="numpy")
    assert not {"loops_hoisted_before", "loops_hoisted_after"} & set(fired(f))


@pytest.mark.parametrize("reverse", [False, True])
def test_numba_backend_float32(reverse):
    inputs, loss = rnn_loss(5, reverse=reverse, dtype="float32")
    values = rnn_values(5, np.float32)
    f = compare(inputs, [loss, *gc.grad(loss, inputs)], values, backend="numba", rtol=2e-5)
    assert fired(f).get("loops_hoisted_after", 0) >= 1
    np.testing.assert_allclose(f(*values)[0], rnn_reference([v.astype(np.float64) for v in values],
                                                            reverse), rtol=2e-5)


def test_numba_backend_output_reading_the_carry_it_received():
    xs = gc.input("xs", (4, B, H))
    h0 = gc.input("h0", (B, H))
    _, ys = gc.scan(lambda h, x: (h * 0.9 + x, gc.sum(gc.exp(h), axis=1)), h0, xs)
    values = [RNG.normal(size=(4, B, H)), RNG.normal(size=(B, H))]
    f = compare([xs, h0], [ys, *gc.grad(gc.sum(ys), [xs, h0])], values, backend="numba")
    assert fired(f).get("loops_hoisted_after", 0) >= 1


@settings(max_examples=20, deadline=None)
@given(reverse=st.booleans(), length=st.integers(0, 5), symbolic=st.booleans(),
       readout=st.sampled_from(["log_softmax", "tanh", "sum"]), share=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_rnn_bodies_match_the_unhoisted_loop(reverse, length, symbolic, readout, share, seed):
    rng = np.random.default_rng(seed)
    W, U, V = gc.input("W", (H, H)), gc.input("U", (D, H)), gc.input("V", (H, K))
    xs = gc.input("xs", ("T" if symbolic else length, B, D))
    h0 = gc.input("h0", (B, H))

    def step(h, x):
        p = x @ U
        h = gc.tanh(h @ W + (p if share else x.sum() * 0.1))
        z = h @ V
        y = {"log_softmax": gc.log_softmax(z, axis=-1), "tanh": gc.tanh(z),
             "sum": gc.sum(z, axis=0)}[readout]
        return h, gc.sum(y * y) + gc.sum(gc.exp(p) * 0.1)
    h, ys = gc.scan(step, h0, xs, reverse=reverse)
    loss = gc.sum(ys) + gc.sum(h)
    inputs = [W, U, V, xs, h0]
    values = [rng.normal(size=(H, H)) * 0.5, rng.normal(size=(D, H)), rng.normal(size=(H, K)),
              rng.normal(size=(length, B, D)), rng.normal(size=(B, H))]
    compare(inputs, [ys, loss, *gc.grad(loss, inputs)], values)


def test_vmapped_loop_and_second_derivatives_are_hoisted_and_unchanged():
    """vmap of a scan (a batched body) and a Hessian (the reverse loop differentiated again)."""
    w = gc.input("w", (3,))
    rows = gc.input("rows", (5, 3))
    M = gc.input("M", (3, 4))

    def loss_of(r):
        _, ys = gc.scan(lambda c, x: (gc.sin(c * w) + x, gc.sum(gc.tanh(c @ M) ** 2)), w, r)
        return gc.sum(ys)
    batch = gc.input("batch", (2, 5, 3))
    per_row = gc.vmap(loss_of)(batch)
    values = [RNG.normal(size=3), RNG.normal(size=(3, 4)), RNG.normal(size=(2, 5, 3))]
    f = compare([w, M, batch], [per_row, *gc.grad(gc.sum(per_row), [w, M])], values)
    assert fired(f).get("loops_hoisted_after", 0) >= 1
    values = [RNG.normal(size=3), RNG.normal(size=(3, 4)), RNG.normal(size=(5, 3))]
    compare([w, M, rows], [gc.hessian(loss_of(rows), w)], values)


def test_a_per_step_sum_of_a_large_carry_stays_in_the_loop():
    """Moving `sum(c)` out would stack T copies of a 90,000-element carry: it stays."""
    c0 = gc.input("c0", (300, 300))
    _, ys = gc.scan(lambda c, _: (gc.sin(c), gc.sum(c)), c0, length=4)
    f = gc.compile([c0], ys, backend="numpy")
    assert "loops_hoisted_after" not in fired(f)
    c, want = np.full((300, 300), 0.5), []
    for _ in range(4):
        want.append(c.sum())
        c = np.sin(c)
    np.testing.assert_allclose(f(np.full((300, 300), 0.5)), want, rtol=1e-12)
    small = gc.input("small", (30, 30))
    _, ys = gc.scan(lambda c, _: (gc.sin(c), gc.sum(c)), small, length=4)
    assert fired(gc.compile([small], ys, backend="numpy")).get("loops_hoisted_after") == 1
