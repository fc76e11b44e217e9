"""Array helpers of the scan and ordering ops: cumsum, argmax/argmin, argsort, gather/scatter, iota.

Owns the helpers generated code calls for `gc.cumsum`, `gc.argmax`,
`gc.argmin`, `gc.sort` (an argsort, then a gather along the last axis; its
gradient a scatter along the last axis) and `gc.arange` of a symbolic size.
Row helpers take a C-contiguous (rows, columns) array whose last axis is the
one worked along (codegen moves it there with `to_rows`); the last-axis
helpers take any rank and flatten the leading axes themselves. Plain Python
over NumPy, a family module of graphc/backend/library.py (jitted with
cache=True by graphc.backend.runtime); never imports numba. Imports: numpy,
graphc.errors (layer L4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError


def cumsum_rows(x: Any) -> Any:
    """Running sums along each row (np.cumsum(x, axis=1)), in x's dtype."""
    rows, columns = x.shape
    out = np.empty_like(x)
    for r in range(rows):
        for c in range(columns):
            out[r, c] = x[r, c] if c == 0 else out[r, c - 1] + x[r, c]
    return out


def argmax_rows(x: Any) -> Any:
    """Index of the first largest value of each row, NaN first (np.argmax), as (rows, 1) int64."""
    rows, columns = x.shape
    out = np.zeros((rows, 1), np.int64)
    for r in range(rows):
        best = 0
        for c in range(1, columns):
            if x[r, best] != x[r, best]:
                break
            if x[r, c] > x[r, best] or x[r, c] != x[r, c]:
                best = c
        out[r, 0] = best
    return out


def argmin_rows(x: Any) -> Any:
    """Index of the first smallest value of each row, NaN first (np.argmin), as (rows, 1) int64."""
    rows, columns = x.shape
    out = np.zeros((rows, 1), np.int64)
    for r in range(rows):
        best = 0
        for c in range(1, columns):
            if x[r, best] != x[r, best]:
                break
            if x[r, c] < x[r, best] or x[r, c] != x[r, c]:
                best = c
        out[r, 0] = best
    return out


def argsort_last(x: Any) -> Any:
    """np.argsort(x, axis=-1, kind="stable"): ties keep their order, NaN sorts last."""
    values = np.ascontiguousarray(x)
    columns = values.shape[-1]
    rows = values.size // columns if columns else 0
    flat = values.reshape((rows, columns))
    out = np.empty((rows, columns), np.int64)
    for r in range(rows):
        out[r] = np.argsort(flat[r], kind="mergesort")
    return out.reshape(values.shape)


def gather_last(values: Any, index: Any) -> Any:
    """np.take_along_axis(values, index, axis=-1) for same-shaped arrays; bad indices raise."""
    source = np.ascontiguousarray(values)
    positions = np.ascontiguousarray(index)
    columns = source.shape[-1]
    rows = source.size // columns if columns else 0
    flat, where = source.reshape((rows, columns)), positions.reshape((rows, columns))
    out = np.empty((rows, columns), source.dtype)
    for r in range(rows):
        for c in range(columns):
            p = where[r, c]
            if not 0 <= p < columns:
                raise InputError("gather along the last axis: index " + str(p)
                                 + " is out of range for size " + str(columns))
            out[r, c] = flat[r, p]
    return out.reshape(source.shape)


def scatter_last(cotangent: Any, index: Any) -> Any:
    """The transpose of gather_last: out[..., index[..., c]] += cotangent[..., c]."""
    source = np.ascontiguousarray(cotangent)
    positions = np.ascontiguousarray(index)
    columns = source.shape[-1]
    rows = source.size // columns if columns else 0
    flat, where = source.reshape((rows, columns)), positions.reshape((rows, columns))
    out = np.zeros((rows, columns), source.dtype)
    for r in range(rows):
        for c in range(columns):
            p = where[r, c]
            if not 0 <= p < columns:
                raise InputError("scatter along the last axis: index " + str(p)
                                 + " is out of range for size " + str(columns))
            out[r, p] += flat[r, c]
    return out.reshape(source.shape)


def iota(count: int) -> Any:
    """np.arange(count) as int64: gc.arange of a size known only at run time."""
    return np.arange(count)


HELPERS = ("cumsum_rows", "argmax_rows", "argmin_rows", "argsort_last", "gather_last",
           "scatter_last", "iota")
