"""Fusion policy: which graphs are large, how they are scheduled, which groups are interpreted.

Why: Numba's and LLVM's time grows with the code they compile, faster than
linearly in one loop body, so a graph of a thousand elementwise ops took
35-50 s to compile as generated loops. A group lowered here costs a few lines
of generated code whatever its size: its pointwise members become rows of an
int32 *program* (opcode, output register, input registers) that one
precompiled interpreter (graphc/backend/interpreter/run.py) runs on blocks of
BLOCK values. Every instruction is a loop over one block, so the interpreter's
loops vectorize with the kernels inlined; values live in a small register
file that stays in cache, not in arrays of the group's size.

The interpreter is generated from the ops' own `Pointwise` templates by
`interpreter_source()` and committed (`python -m graphc.backend.interpreter.source`
rewrites it; a test fails when it is stale), so an op is still declared in
one place and the interpreter's machine code is cached once per installation.

"Large" counts the work Numba would compile, not the graph's size. In kernel
mode (codegen/outline.py) structurally identical groups share one kernel, so
a 64-layer MLP (900 nodes, 64 identical layers) compiles four small kernels:
counted by node it looked large, and its last group went to the interpreter,
whose entry point costs ~0.3 s of Numba set-up to load even when cached
(link.py) - most of a warm 64-layer compile. `distinct_work` counts one group
per structural form (`form`), which is what kernel mode compiles.

Owns: the thresholds of "large", what counts toward them (`distinct_work`),
`schedule_for` (the schedule, with the interpreter's domains in a large
graph) and `choose` (the groups the interpreter runs). Imports: schedule,
interpreter.opcodes; never numba. Entry points: `schedule_for`, `choose`,
both called by lower.py in order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from ..ir import Node, toposort
from ..lowering import Pointwise
from .interpreter.opcodes import domain
from .schedule import Group, Schedule, kind, schedule

# A graph is "large" above either figure; its groups of at least MIN_MEMBERS
# interpretable members then run in the interpreter (docs/codegen.md, "Large graphs").
LARGE_KERNEL_CALLS = 48
LARGE_POINTWISE = 384
MIN_MEMBERS = 8
GROUP_LIMIT = 64  # members of one generated loop body (the scheduler's cap)


def kernel_calls(nodes: Sequence[Node]) -> int:
    """Scalar-kernel call sites (exp_f64(...), ...) that generated loops of `nodes` contain."""
    return sum(1 for node in nodes
               if isinstance(node.op.lowering, Pointwise) and node.op.lowering.kernel is not None)


def interpretable(group: Group) -> np.dtype | None:
    """The float dtype of the group's registers, or None if the interpreter cannot run it.

    Every pointwise member must be in one interpreter domain (`domain`).
    """
    if not group.shape:
        return None
    kinds = {domain(n) for n in group.members if kind(n) == "pointwise"}
    if len(kinds) != 1:
        return None
    name = kinds.pop()
    return None if name is None else np.dtype(name)


def _pointwise_count(group: Group) -> int:
    return sum(1 for n in group.members if kind(n) == "pointwise")


def is_large(nodes: Sequence[Node]) -> bool:
    """Whether generated loops for these nodes would compile slowly enough to interpret."""
    pointwise = [n for n in nodes if kind(n) == "pointwise"]
    return kernel_calls(pointwise) > LARGE_KERNEL_CALLS or len(pointwise) > LARGE_POINTWISE


def _attribute(value: object) -> Hashable:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value  # type: ignore[return-value]


def _outside(node: Node) -> Hashable:
    """What a group's code depends on about a value it reads from outside: a view's
    index map, a scalar constant's literal, the rank, dtype and broadcast axes."""
    view = kind(node) == "view"
    literal = node.value.item() if node.value is not None and node.value.size == 1 else None
    return (kind(node), node.op.name if view else None, _attribute(node.attrs) if view else None,
            node.dtype.str, tuple(size == 1 for size in node.shape), literal, node.weak)


def form(group: Group, stored: set[Node] | frozenset[Node] = frozenset()) -> Hashable:
    """The group's structure: equal for groups whose generated loops are the same code on
    other arrays and sizes (every layer of an MLP), which kernel mode compiles once.

    Members by op, attributes, dtype and rank; their inputs by position in the group, or
    by order of first use outside it (so shared reads stay shared); `stored`: the members
    whose values leave the loop (the schedule's `materialized`). Sizes are left out: an
    outlined kernel takes them as arguments. Two groups this calls equal may still differ
    in a detail of their text; then they are two kernels of the same size, which is what
    `distinct_work` estimates.
    """
    index = {node: position for position, node in enumerate(group.members)}
    outside: dict[Node, int] = {}
    members = []
    for node in group.members:
        reads = tuple(index[source] if source in index
                      else -1 - outside.setdefault(source, len(outside)) for source in node.inputs)
        members.append((node.op.name, _attribute(node.attrs), node.dtype.str, node.ndim, reads,
                        node in stored))
    return (len(group.shape), group.source is not None, tuple(members),
            tuple(_outside(node) for node in outside))


def distinct_work(plan: Schedule) -> list[Node]:
    """The members of one group per structural form (`form`): what kernel mode compiles."""
    seen: set[Hashable] = set()
    members: list[Node] = []
    for group in (u for u in plan.units if isinstance(u, Group)):
        key = form(group, plan.materialized)
        if key not in seen:
            seen.add(key)
            members += group.members
    return members


def choose(plan: Schedule) -> dict[Group, np.dtype]:
    """The groups of `plan` the interpreter runs, with their register dtype.

    Only a plan `schedule_for` made for the interpreter (a large graph's: its groups
    carry the interpreter's domains) has any; a capped plan's loops all compile.
    """
    chosen: dict[Group, np.dtype] = {}
    for group in (u for u in plan.units if isinstance(u, Group)):
        if group.domain is not None and _pointwise_count(group) >= MIN_MEMBERS:
            dtype = interpretable(group)
            if dtype is not None:
                chosen[group] = dtype
    return chosen


def schedule_for(inputs: Sequence[Node], outputs: Sequence[Node],
                 shared: Callable[[Schedule], bool] | None = None) -> Schedule:
    """The schedule: in a large graph, uncapped groups of what the interpreter runs.

    `shared(plan)`: whether codegen will generate `plan` in kernel mode (one kernel per
    distinct group); then "large" is judged on `distinct_work`, else (one njit function,
    e.g. a loop body or a parallel graph) on every node.
    """
    if not is_large(toposort(outputs)):
        return schedule(inputs, outputs, max_group_size=GROUP_LIMIT)
    if shared is not None:
        plan = schedule(inputs, outputs, max_group_size=GROUP_LIMIT)
        if shared(plan) and not is_large(distinct_work(plan)):
            return plan
    return schedule(inputs, outputs, max_group_size=GROUP_LIMIT, domain=domain)
