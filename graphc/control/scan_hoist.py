"""Per-step work that does not depend on the carry, moved out of a loop as one batched op.

Owns `hoist_before` and `hoist_after`, two rewrites of a scan body used by the
simplifier's loop pass (control/optimize.py). What cuDNN and PyTorch's LSTM do
and a step-by-step loop does not: every node of a step that does not need the
carry can run for all T steps at once, as one op over the stacked rows (a
(T*B, D) @ (D, K) product instead of T products of B rows).

- before the loop: a costly body node that reads only the step's xs slices
  and loop invariants (`x_t @ Wx`, the readout's gradient in a reverse loop)
  is computed, with what it reads of that kind, by the body's sub-graph
  vmapped over axis 0 of the xs (graphc.vmap's batch_graph: the batching
  rules turn the product into one GEMM); the body reads the stacked result
  as a new per-step input.
- after the loop: a per-step output no carry depends on (the readout, the
  log-softmax and the loss of an RNN step, a bias gradient `sum(dz_t)`) is
  computed from stacked values the loop writes instead (its *frontier*: the
  carry-side nodes it reads, `h_t`), by the same vmap, after the loop.

Only regions holding a costly node (scan_vjp._costly: a product, a reduction,
a transcendental) move: cheap elementwise work stays fused in the body. A
region with an op that has no batching rule stays too. Results equal the
unhoisted loop up to float rounding (a batched product or sum may add in
another order). Imports: ir, subgraph, vmap, ops.batching, control.scan_vjp/trace
(layer L3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import shapes
from ..errors import GraphcError
from ..ir import Node, substitute, toposort
from ..ops.base import CONSTANT, INPUT
from ..ops.batching import to_front
from ..subgraph import Subgraph
from ..vmap import batch_graph
from .scan import SCAN
from .scan_vjp import _costly
from .trace import placeholder


def _movable(node: Node) -> bool:
    """An op the rewrite may run batched: not an input or constant, not a loop (nested loops
    keep their place), with a batching rule."""
    return bool(node.inputs) and node.op not in (CONSTANT, SCAN) and node.op.batch is not None


STACK_LIMIT = 1 << 16  # elements per step a rewrite may newly stack beyond what the loop reads or writes
SIMPLIFY_SETTINGS = ("STACK_LIMIT",)  # in the simplified graph's cache key (api._simplified)


def _elements(nodes: Sequence[Node]) -> int | None:
    """Elements of one step of `nodes`; None when a size is symbolic."""
    total = 0
    for node in nodes:
        size = shapes.product(node.shape)
        if not isinstance(size, int):
            return None
        total += size
    return total


def _affordable(stacked: Sequence[Node], reference: Sequence[Node]) -> bool:
    """Whether stacking `stacked` for every step costs no more memory per step than `reference`
    (what the loop already reads or writes per step), or than STACK_LIMIT elements: a per-step
    sum of a large carry must not become T copies of that carry."""
    extra, known = _elements(stacked), _elements(reference)
    if extra is None:
        return known is None
    return extra <= max(known if known is not None else extra, STACK_LIMIT)


def _depends(order: Sequence[Node], sources: set[Node]) -> set[Node]:
    found = set(sources)
    for node in order:
        if node not in found and any(i in found for i in node.inputs):
            found.add(node)
    return found


def _batched(outputs: Sequence[Node], stacked: dict[Node, Node], invariant: dict[Node, Node],
             ) -> list[Node] | None:
    """`outputs` for every step at once: body nodes in `stacked` replaced by their stacks
    (axis 0: the step), the loop-invariant placeholders by the outer tensors; None when a
    region cannot be batched."""
    mapping: dict[Node, tuple[Node, int | None]] = {k: (v, 0) for k, v in stacked.items()}
    mapping.update({k: (v, None) for k, v in invariant.items()})
    size = next(iter(stacked.values())).shape[0]
    try:
        results = batch_graph(list(outputs), mapping)
    except GraphcError:
        return None
    return [to_front(node, axis, size) for node, axis in results]


def hoist_before(work: Subgraph, inputs: list[Node], fixed: int = 0,
                 keep: frozenset[Node] | set[Node] = frozenset()) -> tuple[Subgraph, list[Node], int]:
    """(body, loop inputs, how many values moved): costly xs-only work computed before the loop
    for all steps and read by the body as new per-step inputs (after the other xs).

    `fixed`: how many leading xs are not per-step slices (the checkpoints a rebuilding loop
    reads whole); they count as carry-side.
    """
    nc, nx = work.carries, work.xs
    if nx <= fixed:
        return work, inputs, 0
    order = work.nodes()
    xs_nodes = work.inputs[nc + fixed:nc + nx]
    carry_side = _depends(order, set(work.inputs[:nc + fixed]))
    xs_only = [n for n in _depends(order, set(xs_nodes)) - carry_side if n not in xs_nodes]
    allowed = {n for n in xs_only if _movable(n) and n not in keep}
    seeds = [n for n in order if n in allowed and _costly(n)]
    if not seeds:
        return work, inputs, 0
    region: set[Node] = set()
    stack = list(seeds)
    while stack:
        node = stack.pop()
        if node in region:
            continue
        region.add(node)
        stack.extend(i for i in node.inputs if i in allowed)
    readers = {i for n in order if n not in region for i in n.inputs}
    frontier = [n for n in order if n in region and (n in readers or n in work.outputs)]
    if not _affordable(frontier, list(xs_nodes)):
        return work, inputs, 0
    position = {node: k for k, node in enumerate(work.inputs)}
    stacked = {x: inputs[position[x]] for x in xs_nodes}
    invariant = {c: inputs[position[c]] for c in work.inputs[nc + nx:]}
    values = _batched(frontier, stacked, invariant)
    if values is None:
        return work, inputs, 0
    stand_ins = [placeholder(n, f"pre{k}") for k, n in enumerate(frontier)]
    outputs = substitute(list(work.outputs), dict(zip(frontier, stand_ins)))
    body = Subgraph(work.inputs[:nc + nx] + tuple(stand_ins) + work.inputs[nc + nx:],
                    tuple(outputs), nc, nx + len(stand_ins))
    return body, list(inputs[:nc + nx]) + values + list(inputs[nc + nx:]), len(frontier)


@dataclass
class After:
    """What `hoist_after` moved: the per-step outputs now computed after the loop, the
    carry-side body nodes the loop stacks for them, and how to compute them from those stacks."""

    moved: list[Node]
    frontier: list[Node]
    xs: dict[Node, Node]
    invariant: dict[Node, Node]

    def values(self, stacks: Sequence[Node]) -> dict[Node, Node]:
        """Moved body node -> its stacked value, given the loop's stacks of the frontier."""
        stacked = dict(self.xs)
        stacked.update(zip(self.frontier, stacks))
        results = _batched(self.moved, stacked, self.invariant)
        assert results is not None  # checked by hoist_after on the same region
        return dict(zip(self.moved, results))


def hoist_after(work: Subgraph, inputs: Sequence[Node], carry_outputs: Sequence[Node],
                per_step: Sequence[Node], count: Any, fixed: int = 0) -> After | None:
    """The per-step outputs (of `per_step`) that no carry needs, when their region holds a
    costly node and batches: computed after the loop from stacked frontier values.

    `count`: the number of steps (a size); `fixed` as for hoist_before.
    """
    nc, nx = work.carries, work.xs
    own = set(work.inputs)
    varying = _depends(work.nodes(), set(work.inputs[:nc + nx]))
    carry_side = set(toposort(list(carry_outputs))) if carry_outputs else set()
    carry_side = (carry_side | set(work.inputs[:nc + fixed])) & varying
    moved = [n for n in dict.fromkeys(per_step) if n not in carry_side and n in varying
             and n not in own]
    if not moved:
        return None
    region: set[Node] = set()
    stack = list(moved)
    while stack:  # what the moved outputs need, up to the carry side and the inputs
        node = stack.pop()
        if node in region or node in carry_side or node in own:
            continue
        region.add(node)
        stack.extend(node.inputs)
    if not all(_movable(n) for n in region if n.inputs) or not any(_costly(n) for n in region):
        return None
    read = {i for n in region for i in n.inputs if i not in region}
    xs_nodes = set(work.inputs[nc + fixed:nc + nx])
    frontier = [n for n in work.nodes() if n in read and n in carry_side and n not in xs_nodes]
    if not _affordable([f for f in frontier if f not in per_step], moved):
        return None
    position = {node: k for k, node in enumerate(work.inputs)}
    plan = After(moved, frontier,
                 {x: inputs[position[x]] for x in work.inputs[nc + fixed:nc + nx] if x in read},
                 {c: inputs[position[c]] for c in work.inputs[nc + nx:] if c in read})
    probe = dict(plan.xs)
    probe.update({f: Node(INPUT, (), (), (count,) + tuple(f.shape), f.dtype, name=f"probe{k}")
                  for k, f in enumerate(frontier)})
    if not probe or _batched(moved, probe, plan.invariant) is None:
        return None
    return plan


__all__ = ["After", "hoist_after", "hoist_before"]
