"""The simplifier's loop pass (graphc/control/optimize.py) and the residuals scan_vjp saves.

Every rewrite is checked two ways: the rewritten graph's values and gradients
against a Python loop / finite differences, and the shape of the rewritten
loops (what was pruned, merged or moved out), on the numpy backend.
"""

from __future__ import annotations

import numpy as np

import graphc as gc
from graphc.ir import toposort

RNG = np.random.default_rng(3)


def loops_of(f):
    """{body: sorted outputs} of the compiled graph's scan nodes."""
    found = {}
    for node in toposort(list(f.outputs)):
        if node.op.name == "scan":
            found.setdefault(node.attr["body"], set()).add(node.attr["output"])
    return found


def fired(f):
    return {k: v for p in f.stats["simplify"]["passes"] if p["name"] == "loops"
            for k, v in p["rewrites"].items()}


def test_unread_outputs_and_carries_are_pruned():
    xs = gc.input("xs", (6, 3))
    a0 = gc.input("a0", (3,))

    def step(carry, x):
        a, b = carry
        return (gc.sin(a) + x, b * 2.0 + a), (a.sum(), (b * b).sum())

    (a, _), (first, _) = gc.scan(step, (a0, gc.constant(np.zeros(3))), xs)
    f = gc.compile([xs, a0], [a, first], backend="numpy")
    (body, outputs), = loops_of(f).items()
    assert (body.carries, body.ys) == (1, 1)  # b and its per-step sum are gone
    xv, av = RNG.normal(size=(6, 3)), RNG.normal(size=3)
    want_ys = []
    c = av
    for row in xv:
        want_ys.append(c.sum())
        c = np.sin(c) + row
    got_a, got_first = f(xv, av)
    np.testing.assert_allclose(got_a, c, rtol=1e-12)
    np.testing.assert_allclose(got_first, want_ys, rtol=1e-12)


def rnn(T):
    W = gc.input("W", (4, 4))
    U = gc.input("U", (3, 4))
    xs = gc.input("xs", (T, 5, 3))
    h0 = gc.input("h0", (5, 4))

    def step(h, x):
        h = gc.tanh(h @ W + x @ U)
        return h, (h * h).sum()
    h, ys = gc.scan(step, h0, xs)
    loss = ys.sum() + (h * h).sum()
    return [W, U, xs, h0], loss


def test_weight_gradients_become_one_product_after_the_loop():
    inputs, loss = rnn(7)
    f = gc.compile(inputs, [loss, *gc.grad(loss, inputs[:2])], backend="numpy")
    assert fired(f).get("loops_accumulators") == 2  # dW and dU are no longer carries
    reverse = [b for b, outs in loops_of(f).items() if b.carries == 1 and any(
        o[0] == "ys" for o in outs) and b.inputs[0].name.startswith("g_")]
    assert len(reverse) == 1
    values = [RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(3, 4)), RNG.normal(size=(7, 5, 3)),
              RNG.normal(size=(5, 4))]
    for wrt in inputs:
        gc.check_grad(loss, wrt, dict(zip(inputs, values)))
    unoptimized = gc.compile(inputs, [loss, *gc.grad(loss, inputs[:2])], backend="numpy",
                             simplify=False)
    for a, b in zip(f(*values), unoptimized(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_forward_loop_runs_once_for_values_and_residuals():
    inputs, loss = rnn("T")
    f = gc.compile(inputs, [loss, *gc.grad(loss, inputs)], backend="numpy")
    forward = [b for b in loops_of(f) if not b.inputs[0].name.startswith("g_")]
    assert len(forward) == 1
    outputs = loops_of(f)[forward[0]]
    assert ("history", 0) in outputs and any(o[0] == "ys" and o[1] >= 1 for o in outputs)
    assert isinstance(f.stats["saved_bytes"], str)  # a formula in T: carries + two products
    values = [RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(3, 4)), RNG.normal(size=(9, 5, 3)),
              RNG.normal(size=(5, 4))]
    for wrt in inputs:
        gc.check_grad(loss, wrt, dict(zip(inputs, values)))


def test_backward_body_reads_saved_products_instead_of_recomputing_them():
    inputs, loss = rnn(6)
    f = gc.compile(inputs, gc.grad(loss, inputs[:2]), backend="numpy")
    backward = [b for b in loops_of(f) if b.inputs[0].name.startswith("g_")]
    (body,) = backward
    products = [n for n in body.nodes() if n.op.name == "matmul"]
    assert len(products) == 1  # dh @ W.T only: h @ W and x @ U are residuals, dW and dU outside
    assert not any(n.op.name == "transpose" for n in body.nodes())  # W.T is hoisted out


def test_products_of_xs_rows_and_a_weight_are_one_product_before_the_loop():
    inputs, loss = rnn(6)
    f = gc.compile(inputs, [loss, *gc.grad(loss, inputs)], backend="numpy")
    assert fired(f).get("loops_hoisted_before") == 1
    forward = [b for b in loops_of(f) if not b.inputs[0].name.startswith("g_")]
    assert [n.op.name for n in forward[0].nodes()].count("matmul") == 1  # h @ W only
    outer = [n for n in toposort(list(f.outputs)) if n.op.name == "matmul" and n.shape == (30, 4)]
    assert outer  # xs (6*5 rows) @ U, once
    values = [RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(3, 4)), RNG.normal(size=(6, 5, 3)),
              RNG.normal(size=(5, 4))]
    unoptimized = gc.compile(inputs, [loss, *gc.grad(loss, inputs)], backend="numpy", simplify=False)
    for a, b in zip(f(*values), unoptimized(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_an_accumulated_product_with_a_zero_width_factor_is_the_empty_init():
    # sum_t a_t^T b_t over a (T, 3, 0) or (T, 3, 0)-wide factor: the one-product form's reshape
    # to (-1, 0) has no answer, so an empty accumulator must stay its init (a Python loop agrees).
    rng = np.random.default_rng(0)
    for steps in (2, "T"):
        for width, cols in ((0, 4), (2, 0), (2, 4)):
            xs, ys = gc.input("xs", (steps, 3, width)), gc.input("ys", (steps, 3, cols))
            c0 = gc.input("c0", (width, cols))
            carry, _ = gc.scan(lambda c, xy: (c + gc.transpose(xy[0]) @ xy[1], None), c0, (xs, ys))
            f = gc.compile([xs, ys, c0], [carry], backend="numpy")
            for length in ((2,) if steps == 2 else (0, 1, 5)):
                a, b = rng.random((length, 3, width)), rng.random((length, 3, cols))
                init = rng.random((width, cols))
                want = init + sum((a[t].T @ b[t] for t in range(length)), np.zeros((width, cols)))
                np.testing.assert_allclose(f(a, b, init)[0], want, rtol=1e-12)
