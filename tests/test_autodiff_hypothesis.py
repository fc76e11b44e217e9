"""Random graphs from the op registry: the gradient of every one matches central differences.

Hypothesis builds small DAGs: 1-3 inputs of shapes (), (3,), (2, 3), (2, 1),
(1, 3) (all broadcast together), then a few ops drawn from graphc.ir.OPS,
each operand picked from every node so far (so nodes are shared and fan
out). An operand is squashed into the op's input domain with a sigmoid
(lo + (hi - lo) * sigmoid(v)) unless it is an input already sampled there
or the output of a bounded op (sigmoid, tanh, ...), which keeps values finite
without hand-picking graphs. The loss is the sum
of every sink; gc.check_grad compares its gradient with central differences,
and the compiled backend must agree with the reference interpreter.

Ops with kinks or jumps (abs, relu, maximum, minimum, clip, sign, where,
max, min) are left out: central differences across a kink disagree with any
one-sided derivative. They are covered on their domains in
test_autodiff_rules.py and at their edge cases in test_autodiff_stability.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from autodiff_support import backend_fixture, run  # noqa: F401 - the `backend` fixture
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import graphc as gc
from graphc import ir
from graphc.interpret import evaluate

SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3)]
NOT_SMOOTH = {"abs", "relu", "maximum", "minimum", "clip", "sign", "where", "max", "min"}
ELEMENTWISE = sorted(
    name for name, op in ir.OPS.items()
    if op.elementwise and not op.samples and op.vjp is not None and name not in NOT_SMOOTH
    and op.arity in (1, 2) and name not in {"equal", "not_equal", "less", "less_equal",
                                            "greater", "greater_equal"})
REDUCTIONS = ["sum", "mean", "logsumexp", "softmax", "log_softmax"]
INPUT_RANGE = (-2.0, 2.0)


@dataclass(frozen=True)
class Step:
    """One op applied to nodes chosen by index; `axis` for reductions."""

    op: str
    operands: tuple[int, ...]
    axis: int = 0


@dataclass(frozen=True)
class Program:
    shapes: tuple[tuple[int, ...], ...]
    steps: tuple[Step, ...]
    seed: int


@st.composite
def programs(draw: st.DrawFn) -> Program:
    shapes = tuple(draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3)))
    ranks = [len(s) for s in shapes]
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        count = len(ranks)
        if any(ranks) and draw(st.integers(0, 4)) == 0:
            operand = draw(st.sampled_from([k for k in reversed(range(count)) if ranks[k] > 0]))
            steps.append(Step(draw(st.sampled_from(REDUCTIONS)), (operand,),
                              draw(st.integers(0, ranks[operand] - 1))))
            ranks.append(ranks[operand])
            continue
        name = draw(st.sampled_from(ELEMENTWISE))
        # counted back from the newest node, so draws (and shrinking) favour deep chains
        operands = tuple(count - 1 - draw(st.integers(0, count - 1))
                         for _ in range(int(ir.OPS[name].arity or 1)))
        steps.append(Step(name, operands))
        ranks.append(max(ranks[k] for k in operands))
    return Program(shapes, tuple(steps), draw(st.integers(0, 2**16)))


def squash(node: gc.Tensor, interval: ir.Interval) -> gc.Tensor:
    """A smooth map of node into the interval (the positive side of one that avoids a point)."""
    low = interval.avoid + 0.3 if interval.avoid is not None else interval.low
    return low + (interval.high - low) * gc.sigmoid(node)


BOUNDED = {"sigmoid", "tanh", "sin", "cos", "arctan", "softmax"}  # outputs within [-pi/2, pi/2]


def in_domain(node: gc.Tensor, interval: ir.Interval) -> bool:
    """Whether node's values already lie in the interval: inputs (sampled in INPUT_RANGE)
    and outputs of bounded ops need no squash when the interval covers them."""
    if interval.avoid is not None:
        return False
    if node.op.name == "input":
        return interval.low <= INPUT_RANGE[0] and INPUT_RANGE[1] <= interval.high
    return node.op.name in BOUNDED and interval.low <= -np.pi / 2 and np.pi / 2 <= interval.high


def sinks_of(program: Program, inputs: list[gc.Tensor]) -> list[gc.Tensor]:
    """The program's steps applied to `inputs`; returns the nodes no step consumed."""
    nodes: list[gc.Tensor] = list(inputs)
    used: set[int] = set()
    for step in program.steps:
        op = ir.OPS[step.op]
        operands = []
        for position, index in enumerate(step.operands):
            used.add(index)
            interval = op.domain[position] if op.domain else ir.REAL
            node = nodes[index]
            operands.append(node if in_domain(node, interval) else squash(node, interval))
        if step.op in REDUCTIONS:
            builder = getattr(gc, step.op)
            keep = {} if step.op in ("softmax", "log_softmax") else {"keepdims": True}
            nodes.append(builder(operands[0], axis=step.axis, **keep))
        else:
            nodes.append(ir.apply(op, *operands))
    return [node for k, node in enumerate(nodes) if k not in used and node.op.name != "input"]


def build(program: Program) -> tuple[list[gc.Tensor], gc.Tensor]:
    inputs = [gc.input(f"x{k}", shape) for k, shape in enumerate(program.shapes)]
    sinks = sinks_of(program, inputs)
    loss = sinks[0].sum()
    for extra in sinks[1:]:
        loss = loss + extra.sum()
    return inputs, loss


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=programs())
def test_random_graph_gradient_matches_central_differences(program: Program, backend: str) -> None:
    inputs, loss = build(program)
    note(gc.format_graph([loss]))
    rng = np.random.default_rng(program.seed)
    values = [rng.uniform(*INPUT_RANGE, size=shape) for shape in program.shapes]
    feed = dict(zip(inputs, values))
    gc.check_grad(loss, inputs, feed, eps=1e-6, rtol=1e-5, atol=1e-7)
    gradients = gc.grad(loss, inputs)
    for x, g in zip(inputs, gradients):
        assert g.shape == x.shape and g.dtype == x.dtype
    reference = evaluate([loss] + gradients, feed)
    compiled = run(inputs, [loss] + gradients, values, backend)
    for expected, got in zip(reference, compiled):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_the_generator_covers_the_registry() -> None:
    """The smooth elementwise ops drawn above are every differentiable elementwise op but the kinked."""
    assert {"add", "multiply", "divide", "power", "log", "sqrt", "tanh", "sigmoid",
            "softplus", "multiply_no_nan"} <= set(ELEMENTWISE)
    assert not set(ELEMENTWISE) & NOT_SMOOTH
