"""Which ops the block interpreter runs, by which opcode, in which register dtype.

Owns: the opcode table compiled into interpreter/run.py (`opcodes()`, read
from its text), the table a regeneration would write (`registry_opcodes()`),
`domain(node)` (the register dtype a node would run in), and the block and
program sizes. Imports: ir, ops, schedule; never numba. Entry points:
`opcodes`, `domain`, `is_literal`, `uniform`.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import numpy as np

from ... import ops as _ops  # noqa: F401 - registers every op, so the opcode table is complete
from ...ir import OPS, Node, Op
from ...lowering import Pointwise
from ..kernels import REDUCED_RANGE
from ..schedule import is_constant, kind

BLOCK = 512  # values per register: 258 registers of float64 are ~1 MB, streamed through L2
COLUMNS = 5  # opcode, output register, up to three input registers
INTERPRETER_PATH = Path(__file__).with_name("run.py")
FLOAT_SUFFIXES: dict[str, np.dtype] = {"f64": np.dtype("float64"), "f32": np.dtype("float32")}


def _runs(op: Op) -> bool:
    """Whether the interpreter can run the op: a `Pointwise` template of 1-3 inputs only."""
    if not isinstance(op.lowering, Pointwise) or op.arity is None or not 1 <= op.arity <= 3:
        return False
    return not op.lowering.attributes


def registry_opcodes() -> dict[str, int]:
    """Op name -> opcode for every registered op the interpreter could run: append-only.

    The committed table (`opcodes()`, read from run.py) keeps its numbers; an
    op new to the interpreter gets the next free code, so adding an op adds a
    few lines to run.py instead of renumbering it. An op that no longer runs
    keeps its number unused. This numbers the interpreter's source when it is
    generated; code generation uses `opcodes()`, the table compiled into it.
    """
    table = {name: code for name, code in opcodes().items() if name in OPS and _runs(OPS[name])}
    following = max(opcodes().values(), default=-1) + 1
    for name in sorted(name for name, op in OPS.items() if _runs(op) and name not in table):
        table[name], following = following, following + 1
    return table


@functools.cache
def opcodes() -> dict[str, int]:
    """Op name -> opcode as compiled into graphc/backend/interpreter/run.py.

    The table is read from the file's text (importing it would import numba).
    An op registered later, at run time, is not in it: its nodes stay
    generated loops, and its arrival cannot renumber what the interpreter runs.
    """
    tree = ast.parse(INTERPRETER_PATH.read_text())
    table = next(ast.literal_eval(statement.value) for statement in tree.body
                 if isinstance(statement, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "OPCODES" for t in statement.targets))
    return {str(name): int(code) for name, code in table.items()}


def _returns_bool(op: Op) -> bool:
    """Comparisons: their value is kept in a register as 1.0 or 0.0.

    Ops whose dtype is an attribute (zeros_like) need it to run; their
    register value is the same either way ({zero}: False and 0.0 are both 0).
    """
    return _bool_result(op)


@functools.cache
def _bool_result(op: Op) -> bool:
    try:
        value = op.impl(*[np.float64(0.5)] * (op.arity or 1))
    except TypeError:
        return False
    return bool(np.asarray(value).dtype == np.dtype("bool"))


def is_literal(node: Node) -> bool:
    """A constant that is one value everywhere: a rank-0 constant, or a uniform array."""
    if not is_constant(node) or node.value is None:
        return False
    return node.value.ndim == 0 or uniform(node.value)


def uniform(value: np.ndarray | None) -> bool:
    """Whether an array constant is one value repeated (0.0 and -0.0 count as different).

    Folding `broadcast_to(100.0, (1,))` gives such arrays; read in a loop they
    are a literal, not one more argument for the call to pass and check.
    """
    if value is None or value.size == 0:
        return False
    first = value.flat[0]
    same = value == first
    if value.dtype.kind == "f":
        same &= np.signbit(value) == np.signbit(first)
    return bool(np.all(same))


def domain(node: Node) -> str | None:
    """The register dtype ("float64"/"float32") the interpreter would run `node` in, or None.

    Registers hold one float dtype, and a bool as 1.0/0.0. So the node must
    read values of that dtype, bools or literals, and be of that dtype itself,
    or be a comparison (its bool is exactly 1.0 or 0.0; `add` of two bools
    would give 2.0 where NumPy gives True). The scheduler keeps nodes of
    different domains in different groups and does not cap groups of an
    interpreter domain (schedule.py, "Domains"): a long chain becomes one
    program, and the int arithmetic or casts next to it stay in capped loops
    of their own. A string, not a dtype: `np.dtype("float64") == None` is True.
    """
    if kind(node) != "pointwise" or node.op.name not in opcodes():
        return None
    floats = {i.dtype for i in node.inputs if i.dtype.kind == "f" and not is_literal(i)}
    if node.dtype.kind == "b":
        if not _returns_bool(node.op):
            return None
    else:
        floats.add(node.dtype)
    if len(floats) != 1:
        return None
    dtype = floats.pop()
    for source in node.inputs:
        if source.dtype not in (dtype, np.dtype("bool")) and not is_literal(source):
            return None
    return dtype.name if dtype in FLOAT_SUFFIXES.values() else None


def _reduced(op: Op, suffix: str) -> tuple[str, float] | None:
    """(sin_reduced_f64, limit) for ops whose kernel has a reduced-range form."""
    assert isinstance(op.lowering, Pointwise)
    if op.lowering.kernel is None:
        return None
    reduced = f"{op.lowering.kernel}_reduced_{suffix}"
    return (reduced, REDUCED_RANGE[reduced]) if reduced in REDUCED_RANGE else None
