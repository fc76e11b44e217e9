"""Temporaries reused across calls: a per-thread workspace for the kernel-mode graph function.

Owns `reuse(lines, results, taken) -> list[str]` (a text rewrite of the generated
graph function, called by codegen.generate in kernel mode) and the runtime
objects the rewritten function uses, `Pool` and `Workspace`.

Why: a call of the graph function used to allocate every temporary afresh
(`empty`, `full`, `blas_dot`'s result) and free it on return. Arrays of more
than glibc's mmap threshold (128 KB, raised dynamically as large blocks are
freed; but once something in the process, e.g. JAX, has set the thresholds, no
longer) are then mapped and unmapped on every call, and the next call takes a
page fault per 4 KB page: the MLP classifier of benchmarks/compare.py paid 810
faults and 2.7 ms of system time per call (docs/benchmarks.md, table 17). With
the rewrite a steady-state call allocates only its outputs.

The rewrite, on lines at the function's top level (indent 4):

    t2 = empty((batch, 200), np.float64)   ->  t2 = _workspace.empty(0, (batch, 200), np.float64)
    t63 = full((10,), 0, np.float64)       ->  t63 = _workspace.full(1, (10,), 0, np.float64)
    t0 = blas_dot(x, W1)                   ->  t0 = _workspace.dot(2, x, W1)

plus `_workspace = _pool.acquire()` first and `_pool.release(_workspace)` before
the return. Slot k keeps its array while the shape and dtype asked for stay the
same (a named size that changes replaces it). Not rewritten: a result and
anything a result may be a view of (any variable an assignment other than
those fresh allocations reads, followed back from the results), so the arrays
returned to the user are always fresh and never change under them. Re-entrancy:
a workspace belongs to one call at a time. `acquire` pops one from the calling
thread's free list or makes a new one, so two threads never share one, and a
nested call of the same function (from a custom op) gets its own; a call that
raises never releases its workspace, which is then simply dropped. Memory: each
thread keeps up to KEEP workspaces per graph function, each the size of the
call's temporaries. GRAPHC_WORKSPACE=0 (read when the graph is generated) turns
the rewrite off. Imports: numpy (layer L4).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

KEEP = 2  # free workspaces kept per thread and function: a call, and one nested call
POOL = "_pool"
NAME = "_workspace"
_ASSIGN = re.compile(r"^\s+(?P<lhs>\w+(?:\s*,\s*\w+)*\s*,?)\s*=\s*(?P<rhs>.*)$")
_FRESH = {  # top-level statements that allocate a fresh array -> their workspace form
    "empty": re.compile(r"^    (?P<var>\w+) = empty\((?P<args>.*?)\)(?P<comment>  # .*)?$"),
    "full": re.compile(r"^    (?P<var>\w+) = full\((?P<args>.*?)\)(?P<comment>  # .*)?$"),
    "dot": re.compile(r"^    (?P<var>\w+) = blas_dot\((?P<args>\w+, \w+)\)(?P<comment>  # .*)?$"),
}
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


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
        """np.dot(a, b) (library.blas_dot) written into slot's array for float matrices."""
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


def _code(line: str) -> str:
    """A generated line without its trailing comment."""
    index = line.find("  # ")
    return line if index < 0 else line[:index]


def _aliased(lines: Sequence[str], results: Sequence[str]) -> set[str]:
    """Variables a result may be, or be a view of: followed back through every assignment
    that is not one of the fresh allocations (a kernel may return an input, a reshape
    shares its input's memory...)."""
    reads: dict[str, set[str]] = {}
    for line in lines:
        match = _ASSIGN.match(_code(line))
        if match is None or any(p.match(line) for p in _FRESH.values()):
            continue
        read = set(_IDENTIFIER.findall(match.group("rhs")))
        for name in re.findall(r"\w+", match.group("lhs")):
            reads.setdefault(name, set()).update(read)
    aliased, todo = set(), list(results)
    while todo:
        name = todo.pop()
        if name not in aliased:
            aliased.add(name)
            todo.extend(reads.get(name, ()))
    return aliased


def reuse(lines: list[str], results: Sequence[str], taken: set[str]) -> list[str]:
    """The graph function's body lines (after its `def` line, before its return) with fresh
    temporaries taken from a per-thread workspace; unchanged when nothing qualifies, when
    GRAPHC_WORKSPACE=0, or when a user's name is one of the names the rewrite needs."""
    if not enabled() or {POOL, NAME} & taken:
        return lines
    definitions: dict[str, int] = {}
    for line in lines:
        match = _ASSIGN.match(_code(line))
        for name in re.findall(r"\w+", match.group("lhs")) if match else ():
            definitions[name] = definitions.get(name, 0) + 1
    aliased = _aliased(lines, results)
    rewritten, slots = [], 0
    for line in lines:
        for kind, pattern in _FRESH.items():
            match = pattern.match(line)
            if match and match["var"] not in aliased and definitions[match["var"]] == 1:
                comment = match["comment"] or ""
                line = f"    {match['var']} = {NAME}.{kind}({slots}, {match['args']}){comment}"
                slots += 1
                break
        rewritten.append(line)
    if not slots:
        return lines
    return [f"    {NAME} = {POOL}.acquire()  # temporaries reused across calls "
            f"({slots} slots; graphc/backend/workspace.py)", *rewritten,
            f"    {POOL}.release({NAME})"]


def header(lines: Sequence[str]) -> list[str]:
    """The module lines that define the pool `reuse`'s lines use (none if they use none)."""
    for line in lines:
        match = re.search(r"\((\d+) slots; graphc/backend/workspace\.py\)", line)
        if match:
            return ["from graphc.backend.workspace import Pool",
                    f"{POOL} = Pool({match.group(1)})  # per thread: see graphc/backend/workspace.py", ""]
    return []
