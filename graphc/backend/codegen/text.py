"""Vocabulary shared by the code generator's modules: constants, `Generated`, literals, `Writer`.

Owns: the reserved names and limits (SUM_BLOCK, OUTLINE_KERNEL_CALLS,
RANGE_FLAG), the `Generated` result, `literal()` (a typed Python literal),
`subscript()`, `fresh()` (may a node's value alias an argument? read from
its lowering record), `kernel_of()` (a node's `Kernel` record), and `Writer`
(indented lines with the equation comment). Imports: ir, lowering. Entry
point: none (a library for the other modules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import GraphcError
from ...ir import Node
from ...lowering import Kernel, Pointwise, Reduction, Rows, View

RESERVED = {"np", "math", "range", "prange", "len", "max", "min", "abs", "float", "int", "bool",
            *(f"i{axis}" for axis in range(32)),  # i0, i1, ...: loop indices
            *(f"block{axis}" for axis in range(32)),  # block starts (SUM_BLOCK)
            *(f"block_index{axis}" for axis in range(32)),
            "block_start", "block_count", "block_number", "flat", "rest"}  # interpreted groups
# Above this many kernel call sites the kernels are called, not inlined: Numba and
# LLVM time grows with the inlined code (docs/codegen.md, "Compile time").
OUTLINE_KERNEL_CALLS = 48
SUM_BLOCK = 1024  # terms per block of a vectorized float sum (8 KB in float64: L1)
RANGE_FLAG = "sin_cos_far"  # counts arguments beyond a reduced sin/cos's range



@dataclass
class Generated:
    """The function's source and what the caller must pass it."""

    source: str
    function_name: str
    parameters: list[str]  # input names, then constant-array names
    constants: list[np.ndarray]  # values for the constant parameters, in order
    helpers: list[str] = field(default_factory=list)  # jitted helpers the source imports
    parts: int = 1  # functions the body is split into (each jitted on its own)
    kernels_inlined: bool = True  # False: kernels are calls (a graph with many call sites)
    parallel: bool = False  # some loops are `prange`: jit with parallel=True
    range_flag: bool = False  # the function returns one more value: RANGE_FLAG
    interpreted: int = 0  # groups run by the block interpreter (interpreter/)
    instructions: int = 0  # their program rows, in all
    # Kernel mode (outline.py): the shared kernels the function calls; empty: one njit function
    kernels: list[Any] = field(default_factory=list)


class ShapeText(list):  # type: ignore[type-arg]
    """Size expressions that format as a Python tuple and index as a list ({out_shape[0]})."""

    def __format__(self, spec: str) -> str:
        return "(" + ", ".join(self) + ("," if len(self) == 1 else "") + ")"


def subscript(name: str, index: Sequence[str]) -> str:
    """`name[i0, i1]`; `name[()]` for rank 0 (`name[]` would be a syntax error)."""
    return f"{name}[{', '.join(index) or '()'}]"


def fresh(node: Node) -> bool:
    """Whether the node's value is always a new array (never a view of an argument)."""
    match node.op.lowering:
        case Pointwise() | Reduction() | Rows():
            return True
        case Kernel() as kernel:
            return kernel.allocates_for(node)
    return False  # leaves, views, loops


def kernel_of(node: Node) -> Kernel:
    """The node's whole-array statement: its op's `Kernel`, or the copy of a `View`."""
    lowering = node.op.lowering
    if isinstance(lowering, View) and lowering.copy is not None:
        return lowering.copy
    if not isinstance(lowering, Kernel):
        raise GraphcError(f"the numba backend has no lowering for op {node.op.name!r} "
                          f"(node built at {node.origin}): declare a Kernel record for it "
                          "(graphc/lowering.py)")
    return lowering


def template_of(node: Node) -> str:
    """The op's kernel template for this node (ops may choose it per node)."""
    return kernel_of(node).text(node)


def literal(value: Any, dtype: np.dtype) -> str:
    """A Python literal of `value` typed as `dtype` in Numba (np.float32(0.5), 3, True)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return str(bool(value))
    if dtype.kind in "iu":
        text = str(int(value))
    else:
        number = float(value)
        if np.isnan(number):
            text = "np.nan"
        elif np.isinf(number):
            text = "np.inf" if number > 0 else "-np.inf"
        else:
            text = repr(number)
    if dtype in (np.dtype("float64"), np.dtype("int64")):
        return text
    return f"np.{dtype.name}({text})"


def _identifier(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in text) or "t"
    if cleaned[0].isdigit():
        cleaned = "t" + cleaned
    return cleaned


class Writer:
    """Indented lines, each statement with the comment of the node(s) it computes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def emit(self, statement: str, comment: str = "") -> None:
        pad = "    " * self.depth
        for index, line in enumerate(statement.split("\n")):
            note = f"  # {comment}" if comment and index == 0 else ""
            self.lines.append(pad + line + note)
