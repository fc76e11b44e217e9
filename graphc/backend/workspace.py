"""Temporaries reused across calls: a per-thread workspace for the kernel-mode graph function.

Owns `plan(schedule, outputs)` (which nodes' arrays may come from a
workspace, decided on the schedule and the lowering records, like
scan_buffers.py), `Reusable` (a generated allocation that knows its
workspace form), `place(lines)` (those forms, numbered, in the final
function body) and the runtime objects the function uses, `Pool` and
`Workspace`. Codegen asks `plan` in kernel mode and emits each planned
array's allocation as a `Reusable`; this module never parses generated code.

Why: a call of the graph function used to allocate every temporary afresh
(`empty`, `full`, a BLAS product's result) and free it on return. Arrays of more
than glibc's mmap threshold (128 KB, raised dynamically as large blocks are
freed; but once something in the process, e.g. JAX, has set the thresholds, no
longer) are then mapped and unmapped on every call, and the next call takes a
page fault per 4 KB page: the MLP classifier of benchmarks/compare.py paid 810
faults and 2.7 ms of system time per call (docs/benchmarks.md, table 17). With
the workspace a steady-state call allocates only its outputs.

The statements, at the function's top level:

    t2 = _workspace.empty(0, (batch, 200), np.float64)   # a kernel's output array
    t63 = _workspace.full(1, (10,), 0, np.float64)        # an accumulator's
    t0 = _workspace.empty(2, (batch, 200), np.float64)    # a product, then its
    gemm_into(x, W1, t0)                                  # record's `Kernel.into`

plus `_workspace = _pool.acquire()` first and `_pool.release(_workspace)` before
the return. Slot k keeps its array while the shape and dtype asked for stay the
same (a named size that changes replaces it). Never from the workspace: a result
and any node a result may be or view (followed back through every node whose
record does not promise a new array: views, kernels that may return an input),
so the arrays returned to the user are always fresh and never change under
them. Re-rolling (codegen/reroll.py) runs before `place`: a `Reusable` it moves
into a compiled loop becomes that loop's plain text (`empty(...)`), one it keeps
in Python is passed through unchanged and gets a slot.
Re-entrancy: a workspace belongs to one call at a time. `acquire` pops one from
the calling thread's free list or makes a new one, so two threads never share
one, and a nested call of the same function (from a custom op) gets its own; a
call that raises never releases its workspace, which is then simply dropped.
Memory: each thread keeps up to KEEP workspaces per graph function, each the size
of the call's temporaries. GRAPHC_WORKSPACE=0 (read when the graph is generated)
turns it off. Imports: ir, lowering, schedule (layer L4).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence, Set
from typing import Any

import numpy as np

from ..ir import Node
from ..lowering import Kernel, Leaf, Rows, View
from .schedule import Schedule

KEEP = 2  # free workspaces kept per thread and function: a call, and one nested call
POOL = "_pool"
NAME = "_workspace"


def enabled() -> bool:
    """Whether generated graph functions reuse temporaries (GRAPHC_WORKSPACE=0: no)."""
    return os.environ.get("GRAPHC_WORKSPACE", "1") != "0"


class Workspace:
    """One call's temporaries, by slot: kept while the shape and dtype asked for stay the same."""

    __slots__ = ("buffers",)

    def __init__(self, slots: int) -> None:
        self.buffers: list[Any] = [None] * slots

    def empty(self, slot: int, shape: Any, dtype: Any) -> Any:
        """np.empty(shape, dtype), or slot's array from an earlier call when it has that form."""
        buffer = self.buffers[slot]
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = self.buffers[slot] = np.empty(shape, dtype)
        return buffer

    def full(self, slot: int, shape: Any, value: Any, dtype: Any) -> Any:
        """np.full(shape, value, dtype) in slot's array."""
        buffer = self.empty(slot, shape, dtype)
        buffer.fill(value)
        return buffer

    def dot(self, slot: int, a: Any, b: Any) -> Any:
        """a @ b into slot's array by np.dot, for float matrices of one dtype: the workspace form
        of a `Kernel.into` statement whose record declares it a product (`Kernel.into_product`,
        matmul's gemm_into(a, b, out)); else np.dot(a, b). Any other `into` statement follows
        an `empty(...)` of the node's shape and dtype."""
        if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.dtype.kind == "f":
            return np.dot(a, b, self.empty(slot, (a.shape[0], b.shape[1]), a.dtype))
        return np.dot(a, b)


class Pool:
    """The workspaces of one graph function: per thread, one per call in progress."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.local = threading.local()

    def acquire(self) -> Workspace:
        """A workspace no other call in progress uses (this thread's free one, else a new one)."""
        try:
            free = self.local.free
        except AttributeError:
            free = self.local.free = []
        return free.pop() if free else Workspace(self.slots)

    def release(self, workspace: Workspace) -> None:
        """Give a finished call's workspace back to this thread (up to KEEP kept)."""
        try:
            free = self.local.free
        except AttributeError:
            free = self.local.free = []
        if len(free) < KEEP:
            free.append(workspace)


# ------------------------------------------------------------ planning (the schedule)

def _new_array(node: Node, plan: Schedule) -> bool:
    """Whether the node's value is always a new array, never (a view of) an input: a fused
    group's member (a kernel writes it, or NumPy computes it), a record that says so
    (`Kernel.allocates`), a `Rows` helper's result, a view copied by a loop."""
    lowering = node.op.lowering
    if node in plan.group_of or isinstance(lowering, Rows):
        return True
    if isinstance(lowering, Kernel):
        return lowering.allocates_for(node)
    if isinstance(lowering, View) and node in plan.materialized:
        return lowering.copy is None or lowering.copy.allocates_for(node)
    return False


def _aliased(plan: Schedule, results: Sequence[Node]) -> set[Node]:
    """The nodes an array result may be, or be a view of: followed back from the results
    through every node whose record does not promise a new array."""
    aliased: set[Node] = set()
    todo = [node for node in results if node.ndim]  # a rank-0 result is a number, no view
    while todo:
        node = todo.pop()
        if node in aliased:
            continue
        aliased.add(node)
        if not isinstance(node.op.lowering, Leaf) and not _new_array(node, plan):
            todo.extend(node.inputs)
    return aliased


def plan(schedule: Schedule, results: Sequence[Node], taken: Set[str] = frozenset()) -> frozenset[Node]:
    """The nodes whose new arrays may come from the workspace (none when GRAPHC_WORKSPACE=0 or
    a user's name is one the workspace statements need). Codegen emits the allocation of
    each (a kernel's output array, an accumulator, a product written by `Kernel.into`) as
    a `Reusable`; which of those stay in the Python function is known only after outlining
    and re-rolling, so `place` numbers the slots."""
    if not enabled() or {POOL, NAME} & set(taken):
        return frozenset()
    aliased = _aliased(schedule, results)
    return frozenset(node for node in schedule.order if node.ndim and node not in aliased
                     and not isinstance(node.op.lowering, Leaf))


# ------------------------------------------------------------ the statements

class Reusable(str):
    """A generated statement that allocates a planned node's array: its text is the plain form
    (`t3 = empty((batch, 8), np.float64)`, what kernels, outlining and re-rolling read),
    `reusing(slot)` the workspace form. Stages that keep the line keep this object
    (`retext` for one that edits it), so the record reaches `place`."""

    name: str
    call: str  # the Workspace method: "empty", "full", or "dot" (then `arguments` are a, b)
    arguments: str  # the call's arguments after the slot: `(batch, 8), np.float64`
    then: str | None  # a statement writing the value into the array (a product's `Kernel.into`)
    step: Any = None  # its structure for re-rolling (codegen/steps.py), kept by `retext`

    def __new__(cls, plain: str, name: str, call: str, arguments: str,
                then: str | None = None) -> Reusable:
        line = super().__new__(cls, plain)
        line.name, line.call, line.arguments, line.then = name, call, arguments, then
        return line

    def retext(self, edit: Callable[[str], str]) -> Reusable:
        """The same statement with `edit` applied to its texts (outlining's static sizes)."""
        line = Reusable(edit(str(self)), self.name, self.call, edit(self.arguments),
                        None if self.then is None else edit(self.then))
        line.step = None if self.step is None else self.step.retext(edit)
        return line

    def reusing(self, slot: int) -> list[str]:
        """The workspace form: the array from `slot`, then the statement that fills it."""
        pad = self[:len(self) - len(self.lstrip())]
        _, mark, comment = self.partition("  # ")
        lines = [f"{pad}{self.name} = {NAME}.{self.call}({slot}, {self.arguments}){mark}{comment}"]
        return lines + ([pad + self.then] if self.then is not None else [])


def place(lines: Sequence[str]) -> tuple[list[str], int]:
    """(the graph function's body with every `Reusable` still in it in its workspace form,
    slots numbered in order; the slot count). Unchanged, 0, when there is none."""
    placed: list[str] = []
    slots = 0
    for line in lines:
        if isinstance(line, Reusable):
            placed += line.reusing(slots)
            slots += 1
        else:
            placed.append(line)
    if not slots:
        return list(lines), 0
    return [f"    {NAME} = {POOL}.acquire()  # temporaries reused across calls "
            f"({slots} slots; graphc/backend/workspace.py)", *placed,
            f"    {POOL}.release({NAME})"], slots


def header(slots: int) -> list[str]:
    """The module lines that define the pool `place`'s lines use (none for no slot)."""
    if not slots:
        return []
    return ["from graphc.backend.workspace import Pool",
            f"{POOL} = Pool({slots})  # per thread: see graphc/backend/workspace.py", ""]
