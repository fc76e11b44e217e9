"""A matrix product written into a given array by BLAS gemm: `gemm_into(a, b, out)`.

Owns the `HELPERS` of the BLAS family (graphc/backend/library.py FAMILIES):
`gemm_into`, the statement matmul's lowering record writes a product into a
buffer with (`Kernel.into`), and its NumPy-level twin. Plain Python over
NumPy; never imports numba. Imports: numpy, blas_entry (layer L4).

Why (docs/performance.md, "Products inside compiled loops"): a scan body's
products ran as Numba's `np.dot(a, b, out)`, which calls SciPy's OpenBLAS;
`gemm_into` calls NumPy's own (blas_entry.py: 30% less per LSTM step product
here), and reads a transposed or row-sliced operand in place through
gemm's transpose flags and leading dimensions, where np.dot copied every
operand that is neither C- nor F-contiguous (`z[:, 128:256]`) on every call.
`beta = 0`: the output's old values are never read, so the loop's buffer
needs no clearing.

The calls `cblas_sgemm`/`cblas_dgemm` below are plain Python (ctypes, or a
NumPy emulation when NumPy's gemm is absent); graphc.backend.runtime binds
the names, in the jitted copy, to Numba external functions of the same ABI
(numba_hooks/blas.py), which LLVM resolves to NumPy's gemm or to a fallback.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import blas_entry

HELPERS = ("gemm_into", "gemm_operand")  # gemm_operand: called by gemm_into
# One compile per dtype serves every operand layout (backend/runtime.py): gemm_into reads the
# strides itself (gemm_operand), and Numba compiled it once per C/F combination of its
# arguments, ~1.1 s each on a fresh installation (the LSTM's loops: C,C and C,F; table 40).
ANY_LAYOUT = ("gemm_into",)
ROW_MAJOR, NO_TRANS, TRANS = blas_entry.ROW_MAJOR, blas_entry.NO_TRANS, blas_entry.TRANS


def gemm_operand(x: Any) -> tuple[int, int]:
    """(transpose flag, leading dimension) with which gemm reads the 2-D `x` where it lies,
    or (0, 0) when it cannot (negative, zero or unaligned strides): then it is copied.

    Rows of unit-step elements (C order, or a column slice of it) are read as they are;
    columns of unit-step elements (a transpose) with the TRANS flag. A length-1 axis has
    any stride (NumPy leaves it arbitrary), so it never decides against reading in place."""
    rows, cols = x.shape
    item = x.itemsize
    s0, s1 = x.strides
    if s1 == item or cols == 1:
        lead = s0 // item if rows > 1 else cols
        if s0 % item == 0 and lead >= cols:
            return NO_TRANS, lead
    if s0 == item or rows == 1:
        lead = s1 // item if cols > 1 else rows
        if s1 % item == 0 and lead >= rows:
            return TRANS, lead
    return 0, 0


def gemm_into(a: Any, b: Any, out: Any) -> None:
    """out[...] = a @ b for 2-D float32 or float64 arrays of one dtype (out not overlapping a or b).

    Zero-size products: an empty out is left alone, an empty inner axis gives zeros
    (BLAS is not called with a size-0 axis). An operand gemm cannot read where it lies
    (reversed, broadcast, stepped both ways) or an output it cannot write in row-major
    order (a transposed buffer) takes the loops below instead of copies: generated loop
    bodies pass C buffers, their rows, column slices and transposes, all read in place,
    and copying (np.empty, np.ascontiguousarray, slice assignment) was ~0.9 of the
    ~1.4 s that Numba spent compiling gemm_into on a fresh installation (table 41)."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    a_flag, lda = gemm_operand(a)
    b_flag, ldb = gemm_operand(b)
    out_flag, ldc = gemm_operand(out)
    if k == 0 or not a_flag or not b_flag or out_flag != NO_TRANS:
        for i in range(m):  # row i of out accumulated over k: unit steps along out's rows
            for j in range(n):
                out[i, j] = 0
            for p in range(k):
                left = a[i, p]
                for j in range(n):
                    out[i, j] += left * b[p, j]
        return
    if out.itemsize == 4:
        cblas_sgemm(ROW_MAJOR, a_flag, b_flag, m, n, k, 1.0, a.ctypes, lda,
                    b.ctypes, ldb, 0.0, out.ctypes, ldc)
    else:
        cblas_dgemm(ROW_MAJOR, a_flag, b_flag, m, n, k, 1.0, a.ctypes, lda,
                    b.ctypes, ldb, 0.0, out.ctypes, ldc)


def gemm_into_numpy(a: Any, b: Any, out: Any) -> None:
    """gemm_into at NumPy level (the kernel-mode graph function is plain Python)."""
    np.matmul(a, b, out=out)


NUMPY_TWINS = {"gemm_into": "gemm_into_numpy"}


def cblas_sgemm(*arguments: Any) -> None:
    """NumPy's cblas_sgemm (blas_entry.GEMM_ARGUMENTS), in plain Python; runtime binds the jitted
    copy's name to a Numba external function instead."""
    _call("s", np.float32, arguments)


def cblas_dgemm(*arguments: Any) -> None:
    """NumPy's cblas_dgemm, as cblas_sgemm."""
    _call("d", np.float64, arguments)


def _call(kind: str, dtype: Any, arguments: tuple[Any, ...]) -> None:
    function = blas_entry.gemm_function(kind)
    if function is not None:
        function(*arguments)
        return
    emulate(dtype, *(a.data if hasattr(a, "data") else a for a in arguments))


def _matrix(address: int, dtype: Any, flag: int, rows: int, cols: int, lead: int) -> Any:
    """The (rows, cols) operand gemm would read at `address` with this flag and leading dimension."""
    stored = (rows, cols) if flag == NO_TRANS else (cols, rows)
    length = (stored[0] - 1) * lead + stored[1]
    buffer = (np.ctypeslib.as_ctypes_type(dtype) * length).from_address(address)
    flat = np.ctypeslib.as_array(buffer)
    matrix = np.lib.stride_tricks.as_strided(flat, stored, (lead * flat.itemsize, flat.itemsize))
    return matrix if flag == NO_TRANS else matrix.T


def emulate(dtype: Any, order: int, transa: int, transb: int, m: int, n: int, k: int, alpha: float,
            a: int, lda: int, b: int, ldb: int, beta: float, c: int, ldc: int) -> None:
    """Row-major cblas gemm by NumPy on raw addresses: the plain-Python path without NumPy's gemm."""
    assert order == ROW_MAJOR
    left = _matrix(a, dtype, transa, m, k, lda)
    right = _matrix(b, dtype, transb, k, n, ldb)
    target = _matrix(c, dtype, NO_TRANS, m, n, ldc)
    product = alpha * np.matmul(left, right)
    target[...] = product if beta == 0 else product + beta * target


__all__ = ["HELPERS", "NUMPY_TWINS", "cblas_dgemm", "cblas_sgemm", "emulate", "gemm_into",
           "gemm_into_numpy", "gemm_operand"]
