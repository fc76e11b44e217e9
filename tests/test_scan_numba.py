"""Scan on the numba backend: the compiled loop agrees with the NumPy interpreter."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(3)


def both(inputs, outputs, *values):
    fast = gc.compile(inputs, outputs, backend="numba", verbose=False)
    reference = gc.compile(inputs, outputs, backend="numpy")
    got, want = fast(*values), reference(*values)
    for a, b in zip(got, want):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    return fast, got


@pytest.mark.parametrize("reverse", [False, True])
def test_rnn_values_and_gradients(reverse):
    xs = gc.input("xs", ("T", 2))
    W = gc.input("W", (3, 3))
    U = gc.input("U", (2, 3))
    c0 = gc.input("c0", (3,))

    def step(c, x):
        h = gc.tanh(c @ W + x @ U)
        return h, (h * h).sum()

    c, ys = gc.scan(step, c0, xs, reverse=reverse)
    loss = (ys * ys).sum() + c.sum()
    outputs = [loss, c, ys, *gc.grad(loss, [xs, W, U, c0])]
    values = RNG.normal(size=(20, 2)), RNG.normal(size=(3, 3)), RNG.normal(size=(2, 3)), RNG.normal(size=3)
    f, _ = both([xs, W, U, c0], outputs, *values)
    assert f.stats["loops"]["mode"] == "compiled with the graph"  # one module, loops included
    assert f.stats["loops"]["compiled"] >= 2 and "for s in range(count):" in f.source
    empty = f(np.zeros((0, 2)), *values[1:])
    np.testing.assert_array_equal(empty[1], values[3])
    assert empty[2].shape == (0,)


def test_scalar_int_and_float32_carries_and_a_loop_inside_a_loop():
    xs = gc.input("xs", (6, 4), dtype="float32")

    def inner_sum(row):
        total, _ = gc.scan(lambda s, v: (s + v, None), gc.constant(0.0, dtype="float32"), row)
        return total

    def step(carry, x):
        total, count = carry
        return (total + inner_sum(x), count + 1), total

    (total, count), ys = gc.scan(step, (gc.constant(0.0, dtype="float32"), gc.constant(0)), xs)
    data = RNG.normal(size=(6, 4)).astype(np.float32)
    _, (t, n, y) = both([xs], [total, count, ys], data)
    assert int(n) == 6 and np.isclose(float(t), data.sum(), rtol=1e-5)


def test_vmap_of_scan_compiles():
    batch = gc.input("batch", (5, 7, 3))
    W = gc.input("W", (3, 3))

    def model(x):
        c, _ = gc.scan(lambda c, r: (gc.sin(c @ W) + r, None), gc.constant(np.zeros(3)), x)
        return (c * c).sum()

    out = gc.vmap(model)(batch)
    both([batch, W], [out, gc.grad(out.sum(), W)], RNG.normal(size=(5, 7, 3)), RNG.normal(size=(3, 3)))


def test_checkpointed_loop_on_numba():
    xs = gc.input("xs", (50, 3))
    c0 = gc.input("c0", (3,))
    c, ys = gc.scan(lambda c, x: (gc.sin(c) * 0.9 + x, (c * c).sum()), c0, xs, checkpoint=7,
                    reverse=True)
    loss = ys.sum() + c.sum()
    f, _ = both([xs, c0], [loss, *gc.grad(loss, [xs, c0])], RNG.normal(size=(50, 3)), RNG.normal(size=3))
    assert f.stats["saved_bytes"] == 8 * 3 * 8


def test_while_loop_on_numba():
    x = gc.input("x", ())
    value, steps = gc.while_loop(lambda c: c[0] < 1000.0, lambda c: (c[0] * x + 1.0, c[1] + 1),
                                 (gc.constant(1.0), gc.constant(0)))
    f, (v, n) = both([x], [value, steps], np.array(2.5))
    assert int(n) == 7 and f.stats["loops"]["compiled"] == 1


def test_a_body_numba_cannot_compile_runs_interpreted(monkeypatch):
    from graphc.backend import scan_codegen, scan_loops

    def refuse(*args):
        raise gc.GraphcError("numba could not compile the generated code (simulated)")

    monkeypatch.setattr(scan_codegen, "_body_function", refuse)  # not in the graph's module
    monkeypatch.setattr(scan_loops, "_compile_body", refuse)  # nor apart
    xs = gc.input("xs", (5, 2))
    c, ys = gc.scan(lambda c, x: (c * x, c.sum()), gc.constant(np.ones(2)), xs)
    f, _ = both([xs], [c, ys], RNG.normal(size=(5, 2)))
    assert f.stats["loops"]["compiled"] == 0 and "simulated" in f.stats["loops"]["interpreted"][0]
    assert "simulated" in f.stats["loops"]["why"]


def test_a_body_large_enough_for_kernel_mode_is_still_compiled():
    """A body with many fused groups (an RK4 step) is one njit function, not kernel mode's Python."""
    rates = gc.input("rates", (2,))

    def field(s):
        return gc.stack([rates[0] * s[0] - s[0] * s[1], s[0] * s[1] - rates[1] * s[1]])

    def rk4(s, _):
        k1 = field(s)
        k2 = field(s + 0.05 * k1)
        k3 = field(s + 0.05 * k2)
        k4 = field(s + 0.1 * k3)
        s = s + 0.1 / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return s, s

    _, states = gc.scan(rk4, gc.constant(np.array([1.0, 0.5])), length=30)
    loss = gc.sum(states ** 2)
    f, _ = both([rates], [loss, gc.grad(loss, rates)], np.array([1.0, 0.4]))
    assert f.stats["loops"]["interpreted"] == [] and f.stats["loops"]["compiled"] == 2


def test_unroll_repeats_the_step_per_iteration_and_keeps_the_values():
    xs = gc.input("xs", ("T", 3))
    c0 = gc.input("c0", (3,))
    c, ys = gc.scan(lambda c, x: (gc.sin(c) + x, (c * c).sum()), c0, xs, unroll=3, reverse=True)
    loss = ys.sum() + c.sum()
    outputs = [c, ys, *gc.grad(loss, [xs, c0])]
    f, _ = both([xs, c0], outputs, RNG.normal(size=(7, 3)), RNG.normal(size=3))
    assert "for first in range(0, count - count % 3, 3):" in f.source
    reference = gc.compile([xs, c0], outputs, backend="numpy")
    for steps in (0, 2, 3):  # no full iteration, a remainder only, no remainder
        values = RNG.normal(size=(steps, 3)), RNG.normal(size=3)
        for a, b in zip(f(*values), reference(*values)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_generated_source_does_not_depend_on_loops_built_before():
    """The source is the disk cache's key: a subgraph's process-wide number must not be in it."""
    from graphc.backend import scan_codegen  # noqa: F401  (registers the loop statement)
    from graphc.backend.lower import lower

    def source():
        xs = gc.input("xs", ("T", 3))
        c, ys = gc.scan(lambda c, x: (gc.sin(c) + x, (c * c).sum()), gc.constant(np.zeros(3)), xs)
        return lower([xs], [c, ys]).generated.source

    first = source()
    gc.scan(lambda c, x: (c + x, None), gc.constant(np.zeros(2)), gc.input("other", (4, 2)))
    assert source() == first and "body#" not in first
