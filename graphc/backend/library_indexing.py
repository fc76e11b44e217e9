"""Array helpers of the indexing family that generated code calls: gather, scatter-add, checks.

Owns `take_rows` and `scatter_add_rows` (the numba lowering of the `gather`
and `scatter_add` ops of graphc/ops/indexing.py, on the 4-D view
(batches, outer, size, inner) their kernel templates reshape to), the
bounds check they share (`positions`), and `nonnegative_exponents` (the run-time
check in front of an integer `**`). Every index is checked before any element
is read or written: an index outside [-size, size) raises InputError with the
same message as the NumPy reference, never a read or write out of bounds.
Plain Python over NumPy (graphc.backend.runtime jits each function; this module
never imports numba), listed in library.FAMILIES. Imports: numpy, graphc.errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError


def positions(idx: Any, size: int, op: str) -> Any:
    """idx (B, I) as int64 rows in [0, size), negative ones counted from the end; else InputError."""
    batches, count = idx.shape
    rows = np.empty((batches, count), np.int64)
    for b in range(batches):
        for i in range(count):
            j = np.int64(idx[b, i])
            if j < -size or j >= size:
                raise InputError(op + ": index " + str(j) + " (at flat position "
                                 + str(b * count + i) + " of the indices) is out of bounds for an "
                                 "axis of size " + str(size))
            rows[b, i] = j + size if j < 0 else j
    return rows


def take_rows(x: Any, rows: Any) -> Any:
    """out[b, p, i, :] = x[b, p, rows[b, i], :] for x (B, P, n, T) and checked rows (B, I)."""
    batches, outer, size, inner = x.shape
    count = rows.shape[1]
    out = np.empty((batches, outer, count, inner), x.dtype)
    for b in range(batches):
        for p in range(outer):
            for i in range(count):
                j = rows[b, i]
                for t in range(inner):
                    out[b, p, i, t] = x[b, p, j, t]
    return out


def scatter_add_rows(values: Any, rows: Any, size: int) -> Any:
    """zeros (B, P, size, T) with values[b, p, i, :] added at checked row rows[b, i]; repeats add."""
    batches, outer, count, inner = values.shape
    out = np.zeros((batches, outer, size, inner), values.dtype)
    for b in range(batches):
        for p in range(outer):
            for i in range(count):
                j = rows[b, i]
                for t in range(inner):
                    out[b, p, j, t] += values[b, p, i, t]
    return out


def nonnegative_exponents(exponent: Any) -> Any:
    """The integer exponents unchanged; a negative one raises InputError (NumPy raises ValueError)."""
    flat = np.asarray(exponent).ravel()
    for k in range(flat.size):
        if flat[k] < 0:
            raise InputError("power: integers to negative integer powers are not allowed (as in "
                             "NumPy); the exponent " + str(flat[k]) + " (at flat position " + str(k)
                             + ") is negative; make the base a float, e.g. x.astype('float64')")
    return exponent


HELPERS = ("take_rows", "scatter_add_rows", "positions", "nonnegative_exponents")
