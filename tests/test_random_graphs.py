"""Thousands of random well-typed graphs: the numba backend agrees with the reference interpreter.

A seeded generator (derandomized: the same graphs every run) builds small
programs over every family of ops: elementwise (smooth and kinked, unary and
binary, comparisons feeding `where`), reductions with and without keepdims
and over all axes (rank-0 results), softmax/log_softmax, squeeze to rank 0,
expand_dims, transpose, reshape, broadcast_to, static indexing, gathers with
integer arrays and their scatter-add (`gc.add_at`), concatenate and
matmul. Each program's value and the gradient of a weighted sum of all
programs (so the backward pass, with its `sum_to`s and scatters, is in every
batch) are compiled on both backends, many programs per compiled function so
that the whole run costs a few dozen Numba compiles. Every generated module
must import (executed, not only parsed), nothing may crash, and the two
backends must agree.

The count is `--random-graphs N` (default 2000, what CI runs); a larger,
nightly-style run is `python3 -m pytest tests/test_random_graphs.py
--random-graphs 20000`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import special

import graphc as gc
from graphc.backend.lower import lower

INPUT_SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3), (3, 3)]
UNARY_SMOOTH = ["negative", "square", "exp", "tanh", "sigmoid", "softplus", "sin", "cos", "arctan",
                "expm1"]
UNARY_POSITIVE = ["log", "sqrt", "log1p"]  # applied to a squashed (positive) operand
UNARY_KINKED = ["abs", "relu", "sign"]
BINARY = ["add", "subtract", "multiply", "maximum", "minimum"]
COMPARISONS = ["less", "greater", "less_equal", "greater_equal"]
REDUCTIONS = ["sum", "mean", "max", "min", "logsumexp"]


NUMPY = {  # the independent reference: each op applied by NumPy/SciPy to the twin arrays
    "sigmoid": special.expit, "softplus": lambda v: np.logaddexp(0.0, v),
    "relu": lambda v: np.maximum(v, 0.0), "logsumexp": special.logsumexp,
    "softmax": special.softmax, "log_softmax": special.log_softmax,
}


@dataclass(frozen=True)
class Twin:
    """A symbolic tensor and the array the same program computes in plain NumPy."""

    tensor: gc.Tensor
    array: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    @property
    def ndim(self) -> int:
        return self.tensor.ndim


def apply(name: str, *operands: Twin, **attrs: object) -> Twin:
    reference = NUMPY.get(name) or getattr(np, name)
    with np.errstate(all="ignore"):
        array = np.asarray(reference(*(o.array for o in operands), **attrs))
    return Twin(getattr(gc, name)(*(o.tensor for o in operands), **attrs), array)


def _positive(x: Twin) -> Twin:
    return Twin(0.3 + 2.0 * gc.sigmoid(x.tensor), 0.3 + 2.0 * special.expit(x.array))


def _pick(rng: np.random.Generator, nodes: list[Twin], want: Callable[[Twin], bool]) -> Twin | None:
    candidates = [n for n in nodes if want(n)]
    if not candidates:
        return None
    # favour recent nodes: deep chains
    return candidates[len(candidates) - 1 - min(int(rng.geometric(0.4)) - 1, len(candidates) - 1)]


def _step(rng: np.random.Generator, nodes: list[Twin]) -> Twin | None:
    kind = rng.integers(0, 12)
    x = _pick(rng, nodes, lambda n: True)
    assert x is not None
    if kind <= 2:
        return apply(str(rng.choice(UNARY_SMOOTH)), x)
    if kind == 3:
        return apply(str(rng.choice(UNARY_POSITIVE)), _positive(x))
    if kind == 4:
        return apply(str(rng.choice(UNARY_KINKED)), x)
    if kind == 5:
        y = _pick(rng, nodes, lambda n: _broadcastable(n.shape, x.shape))
        return apply(str(rng.choice(BINARY)), x, y) if y is not None else None
    if kind == 6:
        y = _pick(rng, nodes, lambda n: _broadcastable(n.shape, x.shape))
        if y is None:
            return None
        if rng.integers(0, 2):
            return apply("clip", x, Twin(gc.constant(-1.0), np.array(-1.0)),
                         Twin(gc.constant(0.5), np.array(0.5)))
        condition = apply(str(rng.choice(COMPARISONS)), x, y)
        return apply("where", condition, x, Twin(y.tensor * 0.5, y.array * 0.5))
    if kind == 7:
        return _reduce(rng, x)
    if kind == 8 and x.ndim > 0:
        return apply(str(rng.choice(["softmax", "log_softmax"])), x, axis=int(rng.integers(0, x.ndim)))
    if kind == 9:
        return _reshape_like(rng, x)
    if kind == 10 and x.ndim > 0 and rng.integers(0, 3) == 0:
        return _gather(rng, x, nodes)
    if kind == 10 and x.ndim > 0:
        index = tuple(int(rng.integers(-s, s)) if rng.integers(0, 2) else slice(None, None, -1)
                      for s in x.shape)
        return Twin(x.tensor[index], x.array[index])
    if kind == 11 and x.ndim == 2:
        y = _pick(rng, nodes, lambda n: n.ndim in (1, 2) and n.shape[0] == x.shape[1])
        if y is not None:
            return apply("matmul", x, y)
        axis = int(rng.integers(0, 2))
        return Twin(gc.concatenate([x.tensor, x.tensor * 2.0], axis=axis),
                    np.concatenate([x.array, x.array * 2.0], axis=axis))
    return None


def _gather(rng: np.random.Generator, x: Twin, nodes: list[Twin]) -> Twin:
    """x[..., idx] with an integer array on a random axis (repeats, negatives; never empty, as max
    over an empty axis has no value),
    or gc.add_at of another node's values there: the gather and its scatter-add (issue 16)."""
    axis = int(rng.integers(0, x.ndim))
    size = x.shape[axis]
    idx = rng.integers(-size, size, size=tuple(rng.integers(1, 4, size=rng.integers(0, 3))))
    index = (slice(None),) * axis + (idx,)
    gathered = Twin(x.tensor[index], x.array[index])
    values = _pick(rng, nodes, lambda n: _broadcastable(n.shape, gathered.shape)
                   and np.broadcast_shapes(n.shape, gathered.shape) == gathered.shape)
    if values is None or rng.integers(0, 2):
        return gathered
    added = x.array.copy()
    np.add.at(added, index, values.array)
    return Twin(gc.add_at(x.tensor, index, values.tensor), added)


def _reduce(rng: np.random.Generator, x: Twin) -> Twin:
    name = str(rng.choice(REDUCTIONS))
    if x.ndim == 0:
        return apply(name, x)
    axis = None if rng.integers(0, 3) == 0 else int(rng.integers(0, x.ndim))
    return apply(name, x, axis=axis, keepdims=bool(rng.integers(0, 2)))


def _reshape_like(rng: np.random.Generator, x: Twin) -> Twin:
    choice = rng.integers(0, 5)
    if choice == 0 and x.ndim > 0 and 1 in x.shape:
        return apply("squeeze", x, axis=x.shape.index(1))  # (1,) or (1, 1) -> rank 0 included
    if choice == 1:
        return apply("expand_dims", x, axis=int(rng.integers(0, x.ndim + 1)))
    if choice == 2 and x.ndim >= 2:
        return apply("transpose", x)
    if choice == 3:
        return Twin(gc.reshape(x.tensor, (-1,)), x.array.reshape(-1))
    if x.ndim < 3:
        return Twin(gc.broadcast_to(x.tensor, (2, *x.shape)), np.broadcast_to(x.array, (2, *x.shape)))
    return x


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def build(rng: np.random.Generator, leaves: list[Twin]) -> Twin:
    """One random program over the shared inputs, reduced to a rank-0 value."""
    chosen = rng.choice(len(leaves), size=rng.integers(1, 4), replace=False)
    nodes = [leaves[i] for i in sorted(chosen)]
    for _ in range(int(rng.integers(1, 9))):
        made = _step(rng, nodes)
        if made is not None:
            nodes.append(made)
    value = nodes[-1] if nodes[-1].ndim == 0 else apply("sum", nodes[-1])
    return apply("tanh", value) if rng.integers(0, 2) else value


def leaves(rng: np.random.Generator) -> list[Twin]:
    return [Twin(gc.input(f"x{k}", shape), rng.uniform(-2.0, 2.0, size=shape))
            for k, shape in enumerate(INPUT_SHAPES)]


def test_rank0_shapes_are_generated() -> None:
    """The generator makes the rank-0 cases that once broke code generation."""
    rng = np.random.default_rng(0)
    inputs = leaves(rng)
    ops = {n.op.name for _ in range(300) for n in gc.ir.toposort([build(rng, inputs).tensor])}
    assert {"squeeze", "max", "getitem", "matmul", "where", "log_softmax", "concatenate",
            "logsumexp", "gather", "scatter_add"} <= ops


def _batches(count: int, size: int, seed: int) -> Iterator[tuple[list[Twin], list[Twin], gc.Tensor]]:
    """(inputs, programs, weighted total) for `count` programs, `size` per batch."""
    rng = np.random.default_rng(seed)
    inputs = leaves(rng)
    for start in range(0, count, size):
        programs = [build(rng, inputs) for _ in range(min(size, count - start))]
        weights = rng.uniform(0.5, 1.5, size=len(programs))
        total = functools.reduce(gc.add, [p.tensor * float(w) for p, w in zip(programs, weights)])
        yield inputs, programs, total


def _check(got: Sequence[np.ndarray], expected: Sequence[np.ndarray], what: str) -> None:
    for k, (g, e) in enumerate(zip(got, expected)):
        assert np.shape(g) == np.shape(e), f"{what}, output {k}"
        np.testing.assert_allclose(g, e, rtol=1e-7, atol=1e-9, equal_nan=True,
                                   err_msg=f"{what}, output {k}")


def test_random_graphs_match_numpy_and_generate_valid_code(random_graph_count: int) -> None:
    """Every program, simplified and run by the reference backend, equals NumPy's own result;
    the numba backend's generated module for it (forward and backward) compiles as Python."""
    from graphc.simplify import simplify_graph

    for number, (inputs, programs, total) in enumerate(_batches(random_graph_count, 50, 20261206)):
        nodes = [i.tensor for i in inputs]
        outputs = [p.tensor for p in programs] + gc.grad(total, nodes)
        # Simplified once (what compile does), then run and lowered: half the time of two passes.
        simplified, _ = simplify_graph(gc.ir.Graph(tuple(nodes), tuple(outputs)))
        got = gc.compile(nodes, list(simplified.outputs), backend="numpy",
                         simplify=False)(*(i.array for i in inputs))
        _check(got[:len(programs)], [p.array for p in programs], f"batch {number}")
        source = lower(simplified.inputs, simplified.outputs).generated.source
        exec(compile(source, f"<batch {number}>", "exec"), {"__name__": f"batch_{number}"})  # imports


@pytest.mark.parametrize("size", [5, 30])  # loops, and the block interpreter for large graphs
def test_random_graphs_agree_on_both_backends(size: int) -> None:
    """Compiled by Numba and run: the same numbers as the reference backend (a Numba compile
    per batch costs seconds, so this runs fewer programs than the test above)."""
    for number, (inputs, programs, total) in enumerate(_batches(size, size, 7 + size)):
        nodes = [i.tensor for i in inputs]
        outputs = [p.tensor for p in programs] + gc.grad(total, nodes)
        arrays = [i.array for i in inputs]
        expected = gc.compile(nodes, outputs, backend="numpy")(*arrays)
        with np.errstate(all="ignore"):
            got = gc.compile(nodes, outputs)(*arrays)
        _check(got, expected, f"batch {number} of {size}")


@pytest.fixture(scope="session")
def random_graph_count(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--random-graphs"))
