"""Random small loop bodies: scan against a Python loop of the same body, and its VJP by finite differences.

A body is a random chain of elementwise steps mixing the carry, the step's
row of xs and a loop-invariant weight vector; the same chain is applied with
NumPy in a Python loop (the reference). Both directions, a random length
(zero included), and a random per-step output.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc

# (graphc, numpy) pairs: each maps (carry, row, weight) -> new carry, kept bounded
STEPS = [
    (lambda c, x, w: gc.tanh(c * w + x), lambda c, x, w: np.tanh(c * w + x)),
    (lambda c, x, w: gc.sin(c) + x * w, lambda c, x, w: np.sin(c) + x * w),
    (lambda c, x, w: c * gc.sigmoid(x), lambda c, x, w: c / (1 + np.exp(-x))),
    (lambda c, x, w: 0.5 * c + 0.1 * c * c, lambda c, x, w: 0.5 * c + 0.1 * c * c),
    (lambda c, x, w: c + gc.sum(x * w) * 0.1, lambda c, x, w: c + np.sum(x * w) * 0.1),
]
OUTPUTS = [
    (lambda c: gc.sum(c * c), lambda c: np.sum(c * c)),
    (lambda c: c * 2.0, lambda c: c * 2.0),
    (lambda c: gc.exp(c[0]), lambda c: np.exp(c[0])),
]


@settings(max_examples=25, deadline=None)
@given(chain=st.lists(st.integers(0, len(STEPS) - 1), min_size=1, max_size=4),
       output=st.integers(0, len(OUTPUTS) - 1), length=st.integers(0, 6), reverse=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_bodies_match_a_python_loop(chain, output, length, reverse, seed):
    rng = np.random.default_rng(seed)
    xs = gc.input("xs", ("T", 3))
    w = gc.input("w", (3,))
    c0 = gc.input("c0", (3,))

    def body(c, x):
        for k in chain:
            c = STEPS[k][0](c, x, w)
        return c, OUTPUTS[output][0](c)

    final, ys = gc.scan(body, c0, xs, reverse=reverse)
    loss = gc.sum(final) + gc.sum(ys * ys)
    values = {xs: rng.uniform(-1, 1, (length, 3)), w: rng.uniform(-1, 1, 3), c0: rng.uniform(-1, 1, 3)}
    f = gc.compile([xs, w, c0], [final, ys, loss], backend="numpy")
    got_final, got_ys, _ = f(*values.values())

    c, stacked = values[c0], [None] * length
    for t in (reversed(range(length)) if reverse else range(length)):
        for k in chain:
            c = STEPS[k][1](c, values[xs][t], values[w])
        stacked[t] = OUTPUTS[output][1](c)
    np.testing.assert_allclose(got_final, c, rtol=1e-12, atol=1e-12)
    if length:
        np.testing.assert_allclose(got_ys, np.stack(stacked), rtol=1e-12, atol=1e-12)
    else:
        assert got_ys.shape[0] == 0
    for wrt in (xs, w, c0):
        gc.check_grad(loss, wrt, values, rtol=1e-5, atol=1e-7)
