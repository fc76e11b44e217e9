"""Running a loop: the Python loop over a body's step, shared by both backends.

Owns `run_loop(body, arguments, length, reverse, wanted, step, binding)`:
slices xs per step, passes carries on, stacks the per-step outputs and
saves the carries each step received ("history") when asked. `step` runs
the body once: `interpreter_step` with the NumPy interpreter; the numba
backend passes a compiled body instead (graphc/backend/loops.py). A
zero-step loop returns the init and empty stacks, their shapes found from the
body's shapes (or one step on zeros when a size is only known by running).
Imports: interpret, shapes, subgraph (layer L3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import shapes
from ..errors import ShapeError
from ..interpret import FAMILIES, evaluate
from ..ir import Node
from ..subgraph import Subgraph

Step = Callable[[Subgraph, list[np.ndarray], dict[str, int]], list[np.ndarray]]


def interpreter_step(body: Subgraph, values: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
    """The body's outputs for one step, by the NumPy interpreter.

    The body's order and its nodes' attributes are worked out once per body and
    sizes, not per step (interpret.evaluate would sort the body every step);
    a body holding a loop of its own goes through evaluate, which runs loop families.
    """
    key = ("plan", tuple(sorted(binding.items())))
    plan = body.derived.get(key)
    if plan is None:
        plan = _plan(body, binding)
        body.derived[key] = plan
    if plan == "evaluate":
        return evaluate(body.outputs, dict(zip(body.inputs, values)), binding)
    env: dict[Node, Any] = dict(zip(body.inputs, values))
    with np.errstate(all="ignore"):
        for node, impl, attrs in plan:
            if impl is None:
                env[node] = node.value
                continue
            result = np.asarray(impl(*[env[i] for i in node.inputs], **attrs))
            env[node] = result if result.dtype == node.dtype else result.astype(node.dtype)
    return [env[o] for o in body.outputs]


def _plan(body: Subgraph, binding: dict[str, int]) -> Any:
    """(node, impl or None for a constant, resolved attrs) in order, or "evaluate"."""
    own = set(body.inputs)
    steps: list[tuple[Node, Any, dict[str, Any]]] = []
    for node in body.nodes():
        if node in own:
            continue
        if node.op.name in FAMILIES or node.op.name == "input":
            return "evaluate"
        if node.value is not None:
            steps.append((node, None, {}))
        else:
            steps.append((node, node.op.impl,
                           {k: shapes.resolve_attr(v, binding) for k, v in node.attrs}))
    return steps


@dataclass(frozen=True)
class Checkpoints:
    """How a loop keeps the carries a reverse pass reads.

    `every=k` on a forward loop: its ("history", i) outputs hold the carry of
    every k-th step only. `forward` set on a reverse loop: its first
    `forward.carries` xs are such checkpoints, and the loop rebuilds the k
    carries of a segment from its checkpoint (running `forward`, the forward
    body) when it enters the segment, so only k carries are live at a time.
    """

    every: int = 1
    forward: Subgraph | None = None
    forward_reverse: bool = False


def run_loop(body: Subgraph, arguments: Sequence[np.ndarray], length: Any, reverse: bool,
             wanted: Sequence[tuple[str, int]], step: Step, binding: dict[str, int],
             checkpoints: Checkpoints = Checkpoints()) -> list[np.ndarray]:
    """The wanted outputs of the loop: ("carry", i), ("ys", j) or ("history", i)."""
    nc, nx = body.carries, body.xs
    carries = [np.asarray(a) for a in arguments[:nc]]
    xs = [np.asarray(a) for a in arguments[nc:nc + nx]]
    consts = [np.asarray(a) for a in arguments[nc + nx:]]
    rebuilt = _Rebuilder(checkpoints, xs, consts, int(length) if length is not None else 0, step,
                         binding) if checkpoints.forward is not None else None
    sliced = xs[rebuilt.saved:] if rebuilt else xs
    count = sliced[0].shape[0] if sliced else int(length)
    for x in sliced:
        if x.shape[0] != count:
            raise ShapeError(f"scan: xs entries have {count} and {x.shape[0]} steps at run time")
    kinds = {kind for kind, _ in wanted}
    every = checkpoints.every
    histories = [np.empty((-(-count // every),) + c.shape, c.dtype) for c in carries] \
        if "history" in kinds else []
    stacks: list[np.ndarray | None] = [None] * body.ys
    for s in range(count):
        t = count - 1 - s if reverse else s
        if s % every == 0:  # all carries by data index, or every k-th in the loop's order
            for i, c in enumerate(histories):
                c[t if every == 1 else s // every] = carries[i]
        rows = rebuilt.carries_at(t) if rebuilt else []
        results = step(body, carries + rows + [x[t] for x in sliced] + consts, binding)
        carries = results[:nc]
        for j, y in enumerate(results[nc:]):
            if stacks[j] is None:
                stacks[j] = np.empty((count,) + np.shape(y), body.outputs[nc + j].dtype)
            stacks[j][t] = y  # type: ignore[index]
    if count == 0 and "ys" in kinds:
        zero_rows = [np.zeros(x.shape[1:], x.dtype) for x in xs[:rebuilt.saved]] if rebuilt else []
        stacks = _empty_stacks(body, carries + zero_rows, sliced, consts, step, binding)
    chosen: dict[str, list[Any]] = {"carry": carries, "ys": stacks, "history": histories}
    return [np.asarray(chosen[kind][index]) for kind, index in wanted]


class _Rebuilder:
    """The carries a checkpointed forward loop did not save, rebuilt one segment at a time."""

    def __init__(self, checkpoints: Checkpoints, xs: list[np.ndarray], consts: list[np.ndarray],
                 count: int, step: Step, binding: dict[str, int]) -> None:
        forward = checkpoints.forward
        assert forward is not None
        self.forward, self.every, self.reverse = forward, checkpoints.every, checkpoints.forward_reverse
        self.saved = forward.carries
        self.points = xs[:self.saved]
        self.forward_xs = xs[self.saved:self.saved + forward.xs]
        self.forward_consts = consts[len(consts) - forward.consts:] if forward.consts else []
        self.count, self.step, self.binding = count, step, binding
        self.segment = -1
        self.buffer: list[list[np.ndarray]] = []

    def carries_at(self, t: int) -> list[np.ndarray]:
        """The carry the forward loop's step at data index t received."""
        position = self.count - 1 - t if self.reverse else t  # its place in the forward order
        segment = position // self.every
        if segment != self.segment:
            self._rebuild(segment)
        return self.buffer[position - segment * self.every]

    def _rebuild(self, segment: int) -> None:
        carries = [p[segment] for p in self.points]
        self.buffer = []
        for position in range(segment * self.every, min((segment + 1) * self.every, self.count)):
            self.buffer.append(carries)
            t = self.count - 1 - position if self.reverse else position
            results = self.step(self.forward, carries + [x[t] for x in self.forward_xs]
                                + self.forward_consts, self.binding)
            carries = results[:self.saved]
        self.segment = segment


def _empty_stacks(body: Subgraph, carries: list[np.ndarray], xs: list[np.ndarray],
                  consts: list[np.ndarray], step: Step, binding: dict[str, int]) -> list[Any]:
    """Zero-row stacks of the per-step outputs: shapes from the graph, else one step on zeros."""
    outputs = body.outputs[body.carries:]
    zeros = [np.zeros(x.shape[1:], x.dtype) for x in xs]
    sizes = dict(binding)
    for placeholder, value in zip(body.inputs, carries + zeros + consts):
        for axis, size in enumerate(placeholder.shape):
            if isinstance(size, shapes.Dim) and len(size.factors) == 1 and size.coefficient == 1:
                sizes.setdefault(size.factors[0], value.shape[axis])
    try:
        found = [shapes.resolve(y.shape, sizes) for y in outputs]
    except ShapeError:
        found = [np.shape(y) for y in step(body, carries + zeros + consts, binding)[body.carries:]]
    return [np.empty((0,) + tuple(shape), y.dtype) for shape, y in zip(found, outputs)]
