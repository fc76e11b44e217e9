"""What a direct kernel is compiled for: the types of its arguments (no llvmlite here).

Owns: `Array`, the scalar type codes ("f8", "f4", "i8", "i4", "b1"), `Unsupported`,
and `signature`, the types of a call's arguments as the direct path sees
them. Kept apart from scalars.py so that deciding whether a kernel takes
the direct path (kernel.py) imports no LLVM binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DTYPES: dict[str, np.dtype[Any]] = {"f8": np.dtype(np.float64), "f4": np.dtype(np.float32),
                                    "i8": np.dtype(np.int64), "i4": np.dtype(np.int32),
                                    "b1": np.dtype(np.bool_)}


class Unsupported(Exception):
    """Source the direct path does not compile (Numba compiles the kernel instead)."""


@dataclass(frozen=True)
class Array:
    """An array parameter: element type, rank, layout ("C": C-contiguous, indexed by its shape;
    "A": any strides, read from the array)."""

    dtype: str
    ndim: int
    layout: str = "C"


Type = Any  # str (a scalar code) or Array


def code_of(dtype: np.dtype) -> str:
    """The scalar code of a NumPy dtype, or Unsupported."""
    for code, known in DTYPES.items():
        if dtype == known and dtype.isnative:
            return code
    raise Unsupported(f"dtype {dtype}")


def signature(arguments: tuple[Any, ...]) -> list[Type] | None:
    """The direct path's types of a call's arguments, or None if it does not take them."""
    types: list[Type] = []
    for value in arguments:
        kind = type(value)
        if kind is np.ndarray:
            layout = "C" if value.flags.c_contiguous else "A"
            try:
                types.append(Array(code_of(value.dtype), value.ndim, layout))
            except Unsupported:
                return None
        elif kind is int:
            types.append("i8")
        elif kind is float or kind is np.float64:
            types.append("f8")
        elif kind is np.float32:
            types.append("f4")
        else:
            return None
    return types


def signature_text(types: list[Type]) -> str:
    return ",".join(f"{t.dtype}[{t.ndim}{t.layout}]" if isinstance(t, Array) else t for t in types)
