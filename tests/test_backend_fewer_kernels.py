"""Fewer Numba compilations per graph (issue 17): what kernel mode no longer compiles.

- `size` reads only its input's sizes (Kernel(shape_only=True)), so a mean's
  backward neither waits for nor stores the mean's input: the last layer's
  forward loop, the loss and the first backward loop are one kernel.
- float64 groups of rank 0 run in the plain Python graph function.
- a group that is one or two `+ - * /` of whole same-shape arrays is NumPy ufunc calls.
References: the MLP by hand in NumPy (test_backend_kernel_mode.by_hand), the NumPy
backend, and the same graph compiled as one njit function (kernels=False), bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_backend_kernel_mode import by_hand, mlp, values

import graphc as gc
from graphc.backend import codegen
from graphc.backend.codegen import KERNEL_MODE_GROUPS, generate
from graphc.backend.policy import schedule_for
from graphc.backend.schedule import schedule
from graphc.ir import toposort
from graphc.lowering import Kernel


def simplified(inputs: list[gc.Tensor], outputs: list[gc.Tensor]) -> tuple[tuple, tuple]:
    f = gc.compile(inputs, outputs, backend="numpy")
    return f.inputs, f.outputs


def test_a_mean_backward_does_not_store_the_means_input() -> None:
    x = gc.input("x", ("n", 4))
    loss = gc.mean(gc.tanh(x) ** 2)
    inputs, outputs = simplified([x], [loss, gc.grad(loss, x)])
    plan = schedule(inputs, outputs)
    sizes = [n for n in plan.order if isinstance(n.op.lowering, Kernel) and n.op.lowering.shape_only]
    assert sizes, "the graph has no size node: the test no longer tests anything"
    for node in sizes:
        assert not any(i in plan.materialized for i in node.inputs if i.ndim > 0)
    # one loop nest for tanh, the square, the mean and the whole backward
    assert sum(1 for u in plan.units if hasattr(u, "members") and u.shape) == 1


def test_deep_mlp_compiles_three_kernels_and_matches_numpy_by_hand() -> None:
    inputs, outputs = mlp(7, 5)
    f = gc.compile(inputs, outputs)
    assert f.stats["groups"] >= KERNEL_MODE_GROUPS
    # forward layer, last layer + loss + first backward, backward layer
    assert f.stats["kernels"] == 3
    arrays = values(7, 5, batch=6)
    for got, want in zip(f(*arrays), by_hand(arrays, 7)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    one = gc.compile(inputs, outputs, backend="numpy")(*arrays)
    for got, want in zip(f(*arrays), one):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def chain(n: int) -> tuple[list[gc.Tensor], list[gc.Tensor]]:
    """Enough loop nests for kernel mode, a scalar group dividing by a run-time size,
    and a sum of two matrix products (a ufunc unit)."""
    x, A, z = gc.input("x", ("n", 3)), gc.input("A", (3, 3)), gc.input("z", (4,))
    h = x
    for _ in range(KERNEL_MODE_GROUPS):
        h = gc.exp(-(h @ A) ** 2)
    s = h @ A + x @ A.T  # two products: one `+` of whole arrays
    scale = gc.sum(h) / gc.sum(z * 0.0)  # x/0 at run time: inf, silently
    return [x, A, z], [s, scale]


def test_scalar_and_ufunc_units_run_in_python_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, outputs = chain(5)
    f = gc.compile(inputs, outputs)
    assert f.stats["kernels"] > 0
    graph_part = f.source.split("# ---- graph")[1]
    assert 'np.add(' in graph_part and "with np.errstate" in graph_part
    monkeypatch.setattr(codegen, "KERNEL_MODE_GROUPS", 10_000)  # the same graph as one njit function
    whole = gc.compile(inputs, outputs)
    assert whole.stats["kernels"] == 0
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((5, 3)), rng.standard_normal((3, 3)) / 2, rng.standard_normal(4)]
    reference = gc.compile(inputs, outputs, backend="numpy")(*arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Numba is silent on x/0; so must Python be
        got = f(*arrays)
    for a, b in zip(got, reference):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=0, equal_nan=True)
    assert np.isinf(got[1])
    for a, b in zip(got, whole(*arrays)):
        np.testing.assert_array_equal(a, b)


def test_generated_units_for_python_are_not_kernels() -> None:
    inputs, outputs = simplified(*chain(4))
    plan = schedule_for(inputs, outputs)
    generated = generate(plan, kernels=True)
    sources = "".join(k.source for k in generated.kernels)
    assert "np.add" not in sources and "errstate" not in sources
    top = generated.source
    assert top.count("with np.errstate") >= 2  # the scalar division and the sum of products
    assert len(toposort(outputs)) >= KERNEL_MODE_GROUPS


def hmm_like(steps: int) -> tuple[list[gc.Tensor], list[gc.Tensor]]:
    """Each step adds a row of B to a logsumexp: one `+` of whole (4,) arrays per step."""
    pi, A, B = gc.input("pi", (4,)), gc.input("A", (4, 4)), gc.input("B", (4, 6))
    alpha = pi
    for step in range(steps):
        alpha = gc.logsumexp(alpha[:, None] + A, axis=0) + B[:, step]
    return [pi, A, B], [gc.logsumexp(alpha)]


def test_a_ufunc_unit_repeated_often_stays_one_shared_kernel() -> None:
    for steps, in_python in ((2, True), (6, False)):
        inputs, outputs = simplified(*hmm_like(steps))
        generated = generate(schedule_for(inputs, outputs), kernels=True)
        assert ("np.add(" in generated.source) is in_python, steps
    inputs, outputs = hmm_like(6)
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(4), rng.standard_normal((4, 4)), rng.standard_normal((4, 6))]
    want = gc.compile(inputs, outputs, backend="numpy")(*arrays)
    np.testing.assert_allclose(gc.compile(inputs, outputs)(*arrays), want, rtol=1e-13)


def test_scalar_functions_stay_in_kernels_where_python_would_raise() -> None:
    """`math.sqrt`/`math.log` of a rank-0 value give nan/-inf in Numba but raise in Python (and
    need `import math`): such scalar groups stay kernels; the results match the NumPy backend."""
    x, A, z = gc.input("x", ("n", 3)), gc.input("A", (3, 3)), gc.input("z", (4,))
    h = x
    for _ in range(KERNEL_MODE_GROUPS):
        h = gc.exp(-(h @ A) ** 2)
    negative = gc.sum(h) * 0.0 - gc.sum(z * z) - 1.0  # < 0 at run time
    outputs = [gc.sqrt(negative), gc.log(negative + gc.sum(z * z) + 1.0), gc.mean(h)]
    f = gc.compile([x, A, z], outputs)
    assert f.stats["groups"] >= KERNEL_MODE_GROUPS
    graph_part = f.source.split("# ---- graph")[1]
    assert "math." not in graph_part
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((5, 3)), rng.standard_normal((3, 3)) / 2, rng.standard_normal(4)]
    want = gc.compile([x, A, z], outputs, backend="numpy")(*arrays)
    got = f(*arrays)
    assert np.isnan(got[0]) and np.isneginf(got[1])
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-13, equal_nan=True)
