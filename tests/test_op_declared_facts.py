"""Facts that passes outside graphc/ops read from an op's or a lowering's declaration, not its name.

- `Op.outer_sum` (matmul declares it): the loop pass (control/optimize.py) stacks a and b of an
  accumulated `transpose(a) @ b` instead of the per-step product. Checked against NumPy, and by
  its effect: with whole-value stacking turned off (STACKED_LIMIT = 0) the RNN's weight gradients
  are still accumulators only because matmul declares the fact (removing it makes them carries).
- `scan_codegen.drivers`: the loop drivers a graph's generated module has (stats["loops"]),
  counted from its loop families, not from the generated text.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.backend import scan_codegen
from graphc.control import optimize
from graphc.ir import OPS

RNG = np.random.default_rng(11)


def test_matmul_declares_the_outer_sum_of_a_transposed_product() -> None:
    a, b = gc.input("a", (5, 3)), gc.input("b", (5, 4))
    product = gc.transpose(a) @ b
    assert product.op is OPS["matmul"]
    assert product.op.outer_sum(product) == (a, b)
    av, bv = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 4))
    rows = sum(np.outer(av[r], bv[r]) for r in range(5))  # what the declaration claims
    f = gc.compile([a, b], [product], backend="numpy")
    np.testing.assert_allclose(f(av, bv)[0], rows, rtol=1e-12)
    c = gc.input("c", (3, 5))
    assert product.op.outer_sum(c @ b) is None  # no transpose: not a sum of row outer products
    batched = gc.input("d", (2, 5, 3))
    assert product.op.outer_sum(gc.transpose(batched, (0, 2, 1)) @ gc.input("e", (2, 5, 4))) is None


def rnn_step_and_grads(T: int = 6):
    W, U = gc.input("W", (4, 4)), gc.input("U", (3, 4))
    xs, h0 = gc.input("xs", (T, 5, 3)), gc.input("h0", (5, 4))

    def step(h, x):
        h = gc.tanh(h @ W + x @ U)
        return h, (h * h).sum()
    h, ys = gc.scan(step, h0, xs)
    loss = ys.sum() + (h * h).sum()
    inputs = [W, U, xs, h0]
    return inputs, [loss, *gc.grad(loss, [W, U])]


def accumulators(f) -> int:
    return sum(p["rewrites"].get("loops_accumulators", 0)
               for p in f.stats["simplify"]["passes"] if p["name"] == "loops")


@pytest.mark.parametrize("declared", [True, False])
def test_the_loop_pass_stacks_what_matmul_declares(monkeypatch, tmp_path, declared: bool) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))  # not the graph simplified with the rule
    monkeypatch.setattr(optimize, "STACKED_LIMIT", 0)  # no per-step value is small enough
    inputs, outputs = rnn_step_and_grads()
    matmul, rule = OPS["matmul"], OPS["matmul"].outer_sum
    if not declared:  # as if matmul had not declared it: the pass must not know by the name
        object.__setattr__(matmul, "outer_sum", None)  # a frozen record
    try:
        f = gc.compile(inputs, outputs, backend="numpy")
    finally:
        object.__setattr__(matmul, "outer_sum", rule)
    assert accumulators(f) == (2 if declared else 0)  # dW and dU: stacked rows, one product
    values = [RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(3, 4)), RNG.normal(size=(6, 5, 3)),
              RNG.normal(size=(5, 4))]
    plain = gc.compile(inputs, outputs, backend="numpy", simplify=False)
    for got, want in zip(f(*values), plain(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_drivers_count_loop_families_not_generated_text() -> None:
    xs, c0 = gc.input("xs", (4, 3)), gc.input("c0", (3,))
    (c, total), ys = gc.scan(lambda carry, x: ((carry[0] * x, carry[1] + x.sum()), carry[0]),
                             (c0, gc.constant(0.0)), xs)
    assert scan_codegen.drivers([c, total, ys]) == 1  # three outputs of one loop: one driver
    d, _ = gc.scan(lambda carry, x: (carry + x, carry), c, xs, reverse=True)
    assert scan_codegen.drivers([c, total, ys, d]) == 2
    assert scan_codegen.drivers([xs * 2.0]) == 0
