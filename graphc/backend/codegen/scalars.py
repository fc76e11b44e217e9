"""Kernel mode: float64 groups of rank 0 run in the plain Python graph function, not in a kernel.

Owns: `in_python(unit)` (which units) and `wrapped(lines)` (their lines, under
`np.errstate`). Why: a group of scalars (a mean's backward `1 / (n * 32)`)
is one division at run time but a whole Numba compilation cold (~0.05-0.1 s:
typing, lowering, the CPython wrapper and finalisation are per function). Its
lines are plain arithmetic on float64 values and calls of graphc's jitted
scalar kernels, so Python computes the same IEEE doubles (NumPy's float64
scalars and Python floats round like Numba's doubles); only float64 qualifies,
since Python's and NumPy's rules widen float32 and integers differently from
Numba's. NumPy scalars warn on overflow or division by zero where Numba
(error_model="numpy") is silent, hence the `np.errstate` block (~1 us a call).
Imports: schedule. Entry point: codegen.generate (`_outlined`, `_kernel_mode`).
"""

from __future__ import annotations

import numpy as np

from ...ir import Node
from ..schedule import Group, data_inputs

_F64 = np.dtype("float64")


def in_python(unit: Group | Node) -> bool:
    """Whether kernel mode computes this unit in the graph function itself (see above)."""
    if not isinstance(unit, Group) or unit.shape != () or unit.source is not None:
        return False
    return all(member.dtype == _F64 and all(i.dtype == _F64 for i in data_inputs(member))
               for member in unit.members)


def wrapped(lines: list[str]) -> list[str]:
    """The unit's lines inside `with np.errstate(all="ignore"):` (silent, as in Numba)."""
    if not lines:
        return lines
    return ['    with np.errstate(all="ignore"):  # scalars in Python: as silent as Numba',
            *("    " + line for line in lines)]
