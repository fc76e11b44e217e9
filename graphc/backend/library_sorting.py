"""Array helpers of the scan and ordering ops: cumsum, argmax/argmin, argsort, iota.

Owns the helpers generated code calls for `gc.cumsum`, `gc.argmax`,
`gc.argmin`, `gc.sort` (its argsort; the gather that follows and its
gradient's scatter are take_along_axis's, library_indexing.py) and
`gc.arange` of a symbolic size.
Row helpers take a C-contiguous (rows, columns) array whose last axis is the
one worked along (codegen moves it there with `to_rows`); the last-axis
helpers take any rank and flatten the leading axes themselves. Plain Python
over NumPy, a family module of graphc/backend/library.py (jitted with
cache=True by graphc.backend.runtime); never imports numba. Imports: numpy
(layer L4).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def cumsum_rows(x: Any) -> Any:
    """Running sums along each row (np.cumsum(x, axis=1)), in x's dtype."""
    rows, columns = x.shape
    out = np.empty_like(x)
    for r in range(rows):
        for c in range(columns):
            out[r, c] = x[r, c] if c == 0 else out[r, c - 1] + x[r, c]
    return out


def arg_extreme_rows(x: Any, largest: bool) -> Any:
    """Index of the first largest (largest=True: np.argmax) or smallest (np.argmin) value of each
    row, NaN first, as (rows, 1) int64."""
    rows, columns = x.shape
    out = np.zeros((rows, 1), np.int64)
    for r in range(rows):
        best = 0
        for c in range(1, columns):
            current, value = x[r, best], x[r, c]
            if current != current:
                break
            if (value > current if largest else value < current) or value != value:
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


def iota(count: int) -> Any:
    """np.arange(count) as int64: gc.arange of a size known only at run time."""
    return np.arange(count)


HELPERS = ("cumsum_rows", "arg_extreme_rows", "argsort_last", "iota")
