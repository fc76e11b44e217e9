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

Owns: the thresholds of "large", `schedule_for` (the schedule, with the
interpreter's domains in a large graph) and `choose` (the groups the
interpreter runs). Imports: schedule, interpreter.opcodes; never numba.
Entry points: `schedule_for`, `choose`, both called by lower.py in order.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def choose(plan: Schedule) -> dict[Group, np.dtype]:
    """The groups of `plan` the interpreter runs, with their register dtype."""
    groups = [u for u in plan.units if isinstance(u, Group)]
    if not is_large([n for g in groups for n in g.members]):
        return {}
    chosen: dict[Group, np.dtype] = {}
    for group in groups:
        if _pointwise_count(group) >= MIN_MEMBERS:
            dtype = interpretable(group)
            if dtype is not None:
                chosen[group] = dtype
    return chosen


def schedule_for(inputs: Sequence[Node], outputs: Sequence[Node]) -> Schedule:
    """The schedule: in a large graph, uncapped groups of what the interpreter runs."""
    if not is_large(toposort(outputs)):
        return schedule(inputs, outputs, max_group_size=GROUP_LIMIT)
    return schedule(inputs, outputs, max_group_size=GROUP_LIMIT, domain=domain)
