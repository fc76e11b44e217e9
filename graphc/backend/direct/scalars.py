"""The types the direct path compiles, and Numba's rules for mixing them.

Owns: the LLVM types of the scalar codes of signature.py, `promote` (the
result type of a binary operation) and `convert` (the LLVM instructions of a
conversion). Why a rule table of its own: the
direct path must give the bits Numba gives for the same source, so it
accepts only the pairs whose Numba typing is unambiguous and raises
`Unsupported` for the rest (Numba then compiles the kernel, as before).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir

from .signature import Unsupported, code_of

FLOATS = ("f8", "f4")
LLVM_TYPES: dict[str, ir.Type] = {"f8": ir.DoubleType(), "f4": ir.FloatType(),
                                  "i8": ir.IntType(64), "i4": ir.IntType(32), "b1": ir.IntType(1)}
INTEGERS = ("i8", "i4")
STORED: dict[str, ir.Type] = dict(LLVM_TYPES, b1=ir.IntType(8))  # a bool array holds bytes
NUMPY_NAMES = {"float64": "f8", "float32": "f4", "int64": "i8", "intp": "i8", "int32": "i4", "bool_": "b1"}


def promote(left: str, right: str) -> str:
    """The type Numba gives `left op right` for arithmetic, bitwise operators and comparisons.

    Numba's rules, measured (tests/test_direct.py): integers compute in int64
    (int32 + int32 is int64), float32 stays float32 only with float32 or a
    bool, anything with float64 or float32 with an integer is float64.
    """
    pair = {left, right}
    if "f8" in pair or ("f4" in pair and pair & set(INTEGERS)):
        return "f8"
    if "f4" in pair:
        return "f4"
    return "b1" if pair == {"b1"} else "i8"


def unify(left: str, right: str) -> str:
    """The type of a variable or choice that is `left` on one path and `right` on another."""
    if left == right:
        return left
    return "i4" if {left, right} == {"i4", "b1"} else promote(left, right)  # bool -> int32 is safe


def convert(builder: ir.IRBuilder, value: ir.Value, source: str, target: str) -> ir.Value:
    """`value` of type `source` as `target`, with the instruction Numba uses."""
    if source == target:
        return value
    to = LLVM_TYPES[target]
    if source in FLOATS and target in FLOATS:
        return builder.fpext(value, to) if target == "f8" else builder.fptrunc(value, to)
    if source in INTEGERS and target in FLOATS:
        return builder.sitofp(value, to)
    if source == "i4" and target == "i8":
        return builder.sext(value, to)
    if source == "i8" and target == "i4":
        return builder.trunc(value, to)
    if source == "b1" and target in FLOATS:
        return builder.uitofp(value, to)
    if source == "b1" and target in INTEGERS:
        return builder.zext(value, to)
    if source in FLOATS and target in INTEGERS:
        return builder.fptosi(value, to)
    if target == "b1":  # truth of a number: != 0
        zero = ir.Constant(LLVM_TYPES[source], 0)
        return builder.fcmp_unordered("!=", value, zero) if source in FLOATS \
            else builder.icmp_signed("!=", value, zero)
    raise Unsupported(f"converting {source} to {target}")


def constant(value: Any) -> tuple[ir.Value, str]:
    """A Python or NumPy scalar as an LLVM constant and its code (Numba's typeof)."""
    if isinstance(value, (bool, np.bool_)):
        return ir.Constant(LLVM_TYPES["b1"], int(bool(value))), "b1"
    if isinstance(value, np.generic):
        code = code_of(value.dtype)
        return ir.Constant(LLVM_TYPES[code], value.item()), code
    if isinstance(value, int):
        if not -2**63 <= value < 2**63:
            raise Unsupported(f"integer {value} beyond int64")
        return ir.Constant(LLVM_TYPES["i8"], value), "i8"
    if isinstance(value, float):
        return ir.Constant(LLVM_TYPES["f8"], value), "f8"
    raise Unsupported(f"constant {value!r}")
