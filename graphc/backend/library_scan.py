"""Helpers for loop bodies that write into their driver's buffers: `matmul_small_into(a, b, out)`.

Owns the `HELPERS` list of the scan family (graphc/backend/library.py
FAMILIES). Why: backend/scan_buffers.py turns a body's `matmul_small(a, b)`
(small static products as plain loops, library.py) into a write into a
buffer allocated once per loop, so a step allocates nothing; BLAS products
use `np.dot(a, b, out)` instead, which Numba provides. Plain Python over
NumPy; never imports numba. Imports: numpy.
"""

from __future__ import annotations

from typing import Any

HELPERS = ("matmul_small_into",)


def matmul_small_into(a: Any, b: Any, out: Any) -> None:
    """out[...] = a @ b (both 2-D, inner size >= 1) as plain loops; library.matmul_small's sums."""
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            total = a[i, 0] * b[0, j]
            for p in range(1, a.shape[1]):
                total += a[i, p] * b[p, j]
            out[i, j] = total
