"""graphc/accumulate.py: many gathered pieces of one tensor accumulate as one scatter_add.

References: finite differences (gc.check_grad), np.add.at written out as a
Python loop, and the hand-written forward-backward recursion of the HMM
(tests/test_large_graphs.py's). The structural test counts the nodes of the
accumulation: at T = 10 and T = 100 steps they are the same.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from test_large_graphs import STATES, SYMBOLS, _forward_backward, _hmm, _values

import graphc as gc
from graphc import accumulate
from graphc.ir import toposort


def _picks(x: gc.Tensor, steps: int, axis: int) -> list[tuple[int, gc.Tensor]]:
    """(index, x[..., index, ...]) at `steps` indices along `axis`, negative ones and repeats included."""
    size = x.shape[axis]
    picked = []
    for t in range(steps):
        index = (t * 7) % size - (size if t % 3 == 0 else 0)  # every third one counted from the end
        picked.append((index, x[(slice(None),) * axis + (index,)]))
    return picked


def _backward_only(forward: list[gc.Tensor], gradients: list[gc.Tensor]) -> list[gc.ir.Node]:
    known = set(toposort(forward))
    return [node for node in toposort(gradients) if node not in known]


def _repeated_gather(steps: int) -> tuple[gc.Tensor, gc.Tensor, gc.Tensor]:
    x = gc.input("x", shape=(6, 9))
    loss = gc.sum(gc.stack([gc.sum(gc.sin(piece) * (t + 1.0)) for t, (_, piece) in
                            enumerate(_picks(x, steps, 1))]))
    return x, loss, gc.grad(loss, x)


def test_accumulation_of_a_repeated_gather_has_constant_size() -> None:
    """From T = 10 to T = 100 the backward part grows by the VJPs of each step's forward ops
    (sum, sin, stack), never by the scatters, adds and joins of the accumulation."""
    counts = {}
    for steps in (10, 100):
        x, loss, gradient = _repeated_gather(steps)
        counts[steps] = Counter(node.op.name for node in _backward_only([loss], [gradient]))
        assert counts[steps]["scatter"] == 0 and counts[steps]["scatter_add"] == 1
    growth = counts[100] - counts[10]
    assert set(growth) == {"cos", "multiply_no_nan", "expand_dims", "broadcast_to", "getitem", "squeeze"}
    assert all(count % 90 == 0 for count in growth.values())  # a fixed number per step


def test_gradient_of_repeated_picks_matches_finite_differences(rng: np.random.Generator) -> None:
    x, loss, gradient = _repeated_gather(12)
    value = rng.standard_normal((6, 9))
    gc.check_grad(loss, x, {"x": value})
    want = np.zeros((6, 9))
    for t, (index, _) in enumerate(_picks(x, 12, 1)):  # np.add.at as a loop: repeats add up
        want[:, index] += np.cos(value[:, index]) * (t + 1.0)
    got = gc.compile([x], [gradient], backend="numpy")(value)[0]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


AXES = [((5,), 0), ((5, 4), 0), ((3, 5, 4), 1), ((3, 4, 5), 2)]


def _axis_case(shape: tuple[int, ...], axis: int, seed: int) -> tuple[gc.Tensor, gc.Tensor, np.ndarray,
                                                                      np.ndarray]:
    """x, the gradient of its picked pieces' weighted sum, a value of x and the gradient there
    written out as a loop (np.add.at's meaning: repeats add up)."""
    rng = np.random.default_rng(seed)
    x = gc.input(f"x{seed}", shape=shape)
    picked = _picks(x, 6, axis)
    weights = [rng.standard_normal(piece.shape) for _, piece in picked]
    loss = gc.sum(x * x) * 0.5  # a contribution that is not a scatter is added as before
    for weight, (_, piece) in zip(weights, picked):
        loss = loss + gc.sum(gc.exp(piece) * weight)
    gradient = gc.grad(loss, x)
    value = rng.standard_normal(shape)
    want = value.copy()
    for weight, (index, _) in zip(weights, picked):
        where = (slice(None),) * axis + (index,)
        want[where] += np.exp(value[where]) * weight
    return x, gradient, value, want


@pytest.fixture(scope="module")
def every_axis_on_numba() -> list[np.ndarray]:
    """All AXES cases' gradients in ONE numba function: one compile instead of one per case."""
    cases = [_axis_case(shape, axis, seed) for seed, (shape, axis) in enumerate(AXES)]
    function = gc.compile([c[0] for c in cases], [c[1] for c in cases], verbose=False)
    return [np.asarray(g) for g in function(*[c[2] for c in cases])]


@pytest.mark.parametrize("number", range(len(AXES)), ids=[f"{s}-{a}" for s, a in AXES])
def test_every_axis_and_rank_including_scalar_pieces(number: int,
                                                      every_axis_on_numba: list[np.ndarray]) -> None:
    x, gradient, value, want = _axis_case(*AXES[number], number)
    assert [n.op.name for n in toposort([gradient])].count("scatter_add") == 1
    got = gc.compile([x], [gradient], backend="numpy", verbose=False)(value)[0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(every_axis_on_numba[number], want, rtol=1e-12, atol=1e-12)


def test_elements_of_a_matrix_merge_over_both_axes(rng: np.random.Generator) -> None:
    """L[i, j] read element by element (an unrolled Cholesky's access): one flat scatter_add."""
    x = gc.input("x", shape=(2, 4, 5))
    picks = [(i % 4, (3 * i) % 5 - (5 if i % 4 == 0 else 0)) for i in range(11)]
    loss = sum((gc.sum(gc.exp(x[:, i, j]) * (k + 1.0)) for k, (i, j) in enumerate(picks)),
               gc.constant(0.0))
    gradient = gc.grad(loss, x)
    kinds = [n.op.name for n in toposort([gradient])]
    assert kinds.count("scatter_add") == 1 and "scatter" not in kinds
    value = rng.standard_normal((2, 4, 5))
    want = np.zeros((2, 4, 5))
    for k, (i, j) in enumerate(picks):
        want[:, i, j] += np.exp(value[:, i, j]) * (k + 1.0)
    for backend in ("numpy", "numba"):
        got = gc.compile([x], [gradient], backend=backend, verbose=False)(value)[0]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_few_pieces_or_other_indices_keep_their_scatters() -> None:
    x = gc.input("x", shape=(6, 9))
    z = gc.input("z", shape=(6, 3, 9))
    few = gc.sum(x[:, 0]) + gc.sum(x[:, 1] * 2.0)
    sliced = sum((gc.sum(gc.sin(x[1:, t])) for t in range(6)), gc.constant(0.0))
    apart = sum((gc.sum(gc.sin(z[t, :, t])) for t in range(6)), gc.constant(0.0))
    for loss, wrt in ((few, x), (sliced, x), (apart, z)):
        kinds = [n.op.name for n in toposort([gc.grad(loss, wrt)])]
        assert "scatter_add" not in kinds and "scatter" in kinds
    assert accumulate.MIN_PIECES > 2


def test_hmm_gradient_matches_forward_backward_and_second_order(rng: np.random.Generator) -> None:
    sequence = [int(y) for y in rng.integers(0, SYMBOLS, 9)]
    inputs, outputs = _hmm(sequence)
    values = _values(rng)
    got = gc.compile(inputs, outputs, backend="numpy")(*values)
    for mine, reference in zip(got, _forward_backward(sequence, *values)):
        np.testing.assert_allclose(mine, reference, rtol=1e-10, atol=1e-13)
    direction = rng.standard_normal((STATES, SYMBOLS))  # through the scatter_add's own VJP (gather)
    inner = gc.sum(outputs[3] * gc.constant(direction))
    gc.check_grad(inner, inputs[2], dict(zip(["log_pi", "log_A", "log_B"], values)), rtol=1e-4,
                  atol=1e-7)


def test_gradient_of_new_axes_is_a_sum_not_zeros_and_a_copy(rng: np.random.Generator) -> None:
    """simplify: scatter of x[:, None] is a squeeze, and squeeze(sum_to(...)) one sum."""
    v = gc.input("v", shape=(4,))
    w = gc.input("w", shape=(4, 3))
    loss = gc.sum(gc.exp(v[:, None, None] + w[:, None, :]))
    gradients = gc.grad(loss, [v, w])
    simplified = gc.simplify(gradients)
    kinds = {node.op.name for node in toposort(simplified)}
    assert "scatter" not in kinds and "sum_to" not in kinds and "sum" in kinds
    values = [rng.standard_normal((4,)), rng.standard_normal((4, 3))]
    pair = np.exp(values[0][:, None] + values[1])
    for backend in ("numpy", "numba"):
        got = gc.compile([v, w], gradients, backend=backend, verbose=False)(*values)
        np.testing.assert_allclose(got[0], pair.sum(axis=1), rtol=1e-13)
        np.testing.assert_allclose(got[1], pair, rtol=1e-13)


def test_jacobian_and_hessian_through_merged_pieces(rng: np.random.Generator) -> None:
    """jacrev vmaps the sweep (batching rules of concatenate, transpose, scatter_add); hessian
    differentiates the scatter_add again (its VJP is a gather)."""
    x = gc.input("x", shape=(3, 5))
    columns = [gc.sin(x[:, t % 5]) * (t + 1.0) for t in range(7)]
    y = gc.stack(columns)  # (7, 3)
    value = rng.standard_normal((3, 5))
    jacobian = gc.compile([x], [gc.jacobian(y, x)], backend="numpy")(value)[0]
    want = np.zeros((7, 3, 3, 5))
    for t in range(7):
        for i in range(3):
            want[t, i, i, t % 5] = np.cos(value[i, t % 5]) * (t + 1.0)
    np.testing.assert_allclose(jacobian, want, rtol=1e-13, atol=1e-13)
    loss = gc.sum(y * y)
    hessian = gc.compile([x], [gc.hessian(loss, x)], backend="numpy")(value)[0]
    weights = np.zeros((3, 5))
    for t in range(7):
        weights[:, t % 5] += (t + 1.0) ** 2
    # d2/dx2 of w sin(x)^2 is 2 w cos(2x), on the diagonal
    want_h = np.diag((2 * weights * np.cos(2 * value)).ravel()).reshape(3, 5, 3, 5)
    np.testing.assert_allclose(hessian, want_h, rtol=1e-12, atol=1e-12)


def _gate_cut(x: gc.Tensor, bounds: list[tuple[int, int]]) -> gc.Tensor:
    """A loss reading x[:, a:b] for each (a, b), each slice through its own function."""
    z = x * 1.5
    functions = [gc.sin, gc.tanh, gc.exp, gc.sigmoid]
    return gc.sum(gc.stack([gc.sum(functions[k % 4](z[:, a:b]) * (k + 1.0)) for k, (a, b) in
                            enumerate(bounds)]))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_slices_that_tile_an_axis_get_one_concatenate_not_zeros_and_adds(
        rng: np.random.Generator, backend: str) -> None:
    x = gc.input("x", shape=(3, 10))
    bounds = [(6, 10), (0, 2), (2, -4)]  # out of order, a negative stop: together the whole axis
    loss = _gate_cut(x, bounds)
    (gradient,) = gc.grad(loss, [x])
    ops = Counter(node.op.name for node in _backward_only([loss], [gradient]))
    assert ops["concatenate"] == 1 and ops["scatter"] == 0, ops
    value = rng.normal(size=(3, 10))
    pieces = {0: np.sin, 1: np.tanh, 2: np.exp, 3: lambda v: 1 / (1 + np.exp(-v))}
    derivatives = {0: np.cos, 1: lambda v: 1 - np.tanh(v) ** 2, 2: np.exp,
                   3: lambda v: pieces[3](v) * (1 - pieces[3](v))}
    expected = np.zeros_like(value)
    for k, (a, b) in enumerate(bounds):  # the chain rule by hand, slice by slice
        expected[:, a:b] = derivatives[k](1.5 * value[:, a:b]) * (k + 1.0) * 1.5
    got = gc.compile([x], [gradient], backend=backend)(value)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_slices_that_leave_a_gap_or_overlap_keep_their_scatters(rng: np.random.Generator) -> None:
    x = gc.input("x", shape=(3, 10))
    for bounds in ([(0, 2), (4, 10)], [(0, 6), (4, 10)]):
        loss = _gate_cut(x, bounds)
        (gradient,) = gc.grad(loss, [x])
        ops = Counter(node.op.name for node in _backward_only([loss], [gradient]))
        assert ops["concatenate"] == 0 and ops["scatter"] == 2, (bounds, ops)
        gc.check_grad(loss, x, {"x": rng.normal(size=(3, 10))})


def test_the_same_slice_read_twice_is_added_not_compared(rng: np.random.Generator) -> None:
    """Two pieces with equal bounds (x[1:] read twice, x[:-1] overlapping them): summed as before."""
    x = gc.input("x", shape=(5,))
    loss = gc.sum(gc.sin(x[1:]) * x[:-1]) + gc.sum(gc.exp(x[1:]))
    (gradient,) = gc.grad(loss, [x])
    value = rng.normal(size=5)
    expected = np.zeros(5)
    expected[1:] += np.cos(value[1:]) * value[:-1] + np.exp(value[1:])
    expected[:-1] += np.sin(value[1:])
    np.testing.assert_allclose(gc.compile([x], [gradient], backend="numpy")(value)[0], expected,
                               rtol=1e-12)
