"""Stacked elementwise work the loop already stacks, reused (graphc/control/scan_reuse.py).

Checked by structure (the pass's counter; no node left in the compiled graph
that multiplies two of one loop's stacked outputs) and by values: equal to
the unsimplified graph (`simplify=False`) and to a Python loop, both
backends, forward and reverse loops, and the LSTM's gradients. Cases the
rewrite must leave alone (an op the body does not compute, a broadcast over
the step axis, outputs of two different loops) keep their node.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.control.scan import SCAN
from graphc.ir import toposort

RNG = np.random.default_rng(7)


def fired(f) -> int:
    return sum(p["rewrites"].get("loops_outputs_reused", 0) for p in f.stats["simplify"]["passes"])


def stacked_products(f) -> list:
    """Multiplies in the compiled graph whose inputs are all per-step outputs of loops."""
    return [n for n in toposort(list(f.outputs)) if n.op.name == "multiply"
            and all(i.op is SCAN and i.attr["output"][0] == "ys" for i in n.inputs)]


def _step(c, x):
    a = gc.tanh(c * x)
    b = gc.exp(-x * x)
    return a, (a, b, a * b)


def _reference(c, xs, reverse):
    rows = np.empty((3,) + xs.shape)
    for t in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        a, b = np.tanh(c * xs[t]), np.exp(-xs[t] * xs[t])
        rows[:, t] = a, b, a * b
        c = a
    return c, rows


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("reverse", [False, True])
def test_a_product_of_stacked_outputs_becomes_the_loops_own_output(backend: str, reverse: bool) -> None:
    xs, c0 = gc.input("xs", ("T", 4)), gc.input("c0", (4,))
    c, (ya, yb, _) = gc.scan(_step, c0, xs, reverse=reverse)
    out = ya * yb  # what the body returns as its third per-step output
    f = gc.compile([xs, c0], [c, out], backend=backend, verbose=False)
    plain = gc.compile([xs, c0], [c, out], backend="numpy", simplify=False, verbose=False)
    assert fired(f) >= 1 and not stacked_products(f)
    for steps in (0, 1, 5):
        values = [RNG.normal(size=(steps, 4)), RNG.normal(size=4)]
        final, rows = _reference(values[1], values[0], reverse)
        for got, want, plain_value in zip(f(*values), [final, rows[2]], plain(*values)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(got, plain_value, rtol=1e-12, atol=1e-12)


def test_what_the_body_does_not_compute_is_left_alone() -> None:
    xs, c0 = gc.input("xs", (5, 4)), gc.input("c0", (4,))
    _, (ya, yb, _) = gc.scan(_step, c0, xs)
    _, (za, _, _) = gc.scan(_step, c0 * 2.0, xs)
    outputs = [yb * ya,  # the operands swapped: not the body's node
               ya + yb,  # another op
               ya * za,  # outputs of two loops
               ya[:1] * yb]  # a broadcast over the step axis
    f = gc.compile([xs, c0], outputs, backend="numpy", verbose=False)
    plain = gc.compile([xs, c0], outputs, backend="numpy", simplify=False, verbose=False)
    assert fired(f) == 0
    values = [RNG.normal(size=(5, 4)), RNG.normal(size=4)]
    for got, want in zip(f(*values), plain(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_lstm_readout_gradient_reads_the_stacked_h(backend: str) -> None:
    """h = o * tanh(c), recomputed from the residuals for the readout's weight gradient after
    the reverse loop, is the forward loop's stacked h (the per-step output it already writes)."""
    from test_scan_buffers import _lstm, _numpy_loss_and_grads, _values

    f = _lstm(backend)
    assert fired(f) >= 1 and not stacked_products(f)
    for steps in (0, 1, 6):
        xs, U, W, b, V = _values(steps, seed=10 + steps)
        loss, *grads = f(xs, U, W, b, V)
        expected, expected_grads = _numpy_loss_and_grads(U, W, b, V, xs)
        np.testing.assert_allclose(loss, expected, rtol=1e-10, atol=1e-12)
        for got, want in zip(grads, expected_grads):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
