"""Array-level helpers that generated code calls for the ops that are not loops.

Owns: row-wise kernels (`logsumexp_rows`, `softmax_rows`, `log_softmax_rows`)
on a 2-D array whose last axis is the reduced one (codegen moves the op's
`axis` last and flattens the rest, so one helper serves every rank), the
rank-generic reshaping around them (`to_rows`), batched matmul and one-hot.
Plain Python over NumPy: `graphc.backend.runtime` wraps each function with
`numba.njit`, exactly like the scalar kernels in `kernels.py`; this module
never imports numba. Imports: numpy and graphc.errors (layer L4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from . import (
    library_blas,
    library_conv,
    library_indexing,
    library_linalg,
    library_random,
    library_sorting,
    library_special,
    library_views,
)


# Array allocation and BLAS go through these cached helpers, not np.* in the
# generated function: Numba compiles an np.* implementation afresh in every
# process that types a call to it (np.dot ~0.3-0.6 s per operand layout,
# np.empty/np.full ~0.05-0.2 s per shape type), while a call to a cached helper
# loads its machine code. Measured on the MLP step: cold compile 4.0 -> 1.x s.
def blas_dot(a: Any, b: Any) -> Any:
    """np.dot of operands of rank <= 2 (BLAS for float matrices)."""
    return np.dot(a, b)


def empty(shape: Any, dtype: Any) -> Any:
    """np.empty(shape, dtype)."""
    return np.empty(shape, dtype)


def full(shape: Any, value: Any, dtype: Any) -> Any:
    """np.full(shape, value, dtype)."""
    return np.full(shape, value, dtype)


def zeros(shape: Any, dtype: Any) -> Any:
    """np.zeros(shape, dtype)."""
    return np.zeros(shape, dtype)


def contiguous(x: Any) -> Any:
    """np.ascontiguousarray(x): x itself when it already is."""
    return np.ascontiguousarray(x)


def select(condition: Any, if_true: Any, if_false: Any) -> Any:
    """`if_true if condition else if_false` as a call: keeps branches out of the big function.

    Numba's analyses of one function slow down with its number of basic blocks;
    a call is one instruction there, and LLVM inlines it to a branch-free select.
    """
    return if_true if condition else if_false


def maximum(a: Any, b: Any) -> Any:
    """np.maximum of two scalars: NaN wins."""
    return a if a >= b or a != a else b


def minimum(a: Any, b: Any) -> Any:
    """np.minimum of two scalars: NaN wins."""
    return a if a <= b or a != a else b


def sum_block(terms: Any, count: int, zero: Any) -> Any:
    """terms[:count].sum() in eight interleaved partial sums.

    A loop that adds into one float accumulator cannot vectorize (each add
    waits for the previous, and IEEE forbids reordering); fused loops write a
    block of terms instead and add them here, where the eight independent
    sums become SIMD adds. The order is fixed (not the machine's vector
    width), so results are the same everywhere, and closer to NumPy's
    pairwise sum than one running total.
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    full = count - count % 8
    for j in range(0, full, 8):
        s0 += terms[j]
        s1 += terms[j + 1]
        s2 += terms[j + 2]
        s3 += terms[j + 3]
        s4 += terms[j + 4]
        s5 += terms[j + 5]
        s6 += terms[j + 6]
        s7 += terms[j + 7]
    for j in range(full, count):
        s0 += terms[j]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


def to_rows(x: Any, order: tuple[int, ...], rows: int, columns: int) -> Any:
    """x with its axes permuted to `order`, as a C-contiguous (rows, columns) array."""
    return np.ascontiguousarray(np.transpose(x, order)).reshape((rows, columns))


def logsumexp_rows(x: Any) -> Any:
    """log(sum(exp(row))) per row, shifted by the row's max (inf/nan rows as NumPy)."""
    rows, columns = x.shape
    out = np.empty((rows, 1), dtype=x.dtype)
    for r in range(rows):
        peak = -np.inf
        for c in range(columns):
            if x[r, c] > peak or x[r, c] != x[r, c]:
                peak = x[r, c]
        if not np.isfinite(peak):
            peak = 0.0
        total = 0.0
        for c in range(columns):
            total += np.exp(x[r, c] - peak)
        out[r, 0] = np.log(total) + peak
    return out


def row_peak(x: Any, r: int) -> Any:
    """max(x[r]) of a row of at least one element, NaN if the row has one (np.max's answer).

    softmax_rows and log_softmax_rows shift each row by it (runtime binds the
    call to the jitted helper and inlines it)."""
    peak = x[r, 0]
    for c in range(1, x.shape[1]):
        if x[r, c] > peak or x[r, c] != x[r, c]:
            peak = x[r, c]
    return peak


def softmax_rows(x: Any) -> Any:
    """exp(row - max(row)) / sum(...), per row."""
    rows, columns = x.shape
    out = np.empty_like(x)
    for r in range(rows):
        peak = row_peak(x, r)
        total = 0.0
        for c in range(columns):
            value = np.exp(x[r, c] - peak)
            out[r, c] = value
            total += value
        for c in range(columns):
            out[r, c] = out[r, c] / total
    return out


def log_softmax_rows(x: Any) -> Any:
    """row - max(row) - log(sum(exp(row - max(row)))), per row."""
    rows, columns = x.shape
    out = np.empty_like(x)
    for r in range(rows):
        peak = row_peak(x, r)
        total = 0.0
        for c in range(columns):
            total += np.exp(x[r, c] - peak)
        # (x - peak) - log(total), not x - (peak + log(total)): at |peak| ~ 1e17 the sum
        # peak + log(total) rounds back to peak and the log term is lost.
        shift = np.log(total)
        for c in range(columns):
            out[r, c] = (x[r, c] - peak) - shift
    return out


def matmul_batched(a: Any, b: Any, batch: tuple[int, ...]) -> Any:
    """np.matmul for operands of rank >= 2 with broadcast batch axes: np.dot per batch item."""
    m, k = a.shape[-2], a.shape[-1]
    n = b.shape[-1]
    left = np.ascontiguousarray(np.broadcast_to(a, batch + (m, k))).reshape((-1, m, k))
    right = np.ascontiguousarray(np.broadcast_to(b, batch + (k, n))).reshape((-1, k, n))
    out = np.empty((left.shape[0], m, n), dtype=left.dtype)
    for item in range(left.shape[0]):
        out[item] = np.dot(left[item], right[item])
    return out


def matmul_small(a: Any, b: Any) -> Any:
    """a @ b (both 2-D, inner size >= 1) as plain loops, for small static shapes.

    BLAS's fixed cost per call (argument checks, dispatch, a copy of a strided
    operand) is most of a 3x3 @ 3x2 product; LLVM unrolls these loops instead.
    The loops are `matmul_small_into`'s (runtime binds the call to its jitted
    version, and LLVM inlines it).
    """
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    matmul_small_into(a, b, out)
    return out


def matmul_small_into(a: Any, b: Any, out: Any) -> None:
    """out[...] = a @ b as matmul_small, into a given array.

    backend/scan_buffers.py turns a loop body's `matmul_small(a, b)` into a
    write into a buffer allocated once per loop, so a step allocates nothing
    (BLAS products use library_blas.gemm_into instead).
    """
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            total = a[i, 0] * b[0, j]
            for p in range(1, a.shape[1]):
                total += a[i, p] * b[p, j]
            out[i, j] = total


class LabelOutOfRange(InputError):
    """one_hot's label outside 0..depth-1; the text is made here, in Python.

    Raised from compiled code with the numbers as arguments (Numba's dynamic
    exceptions): building the text there compiled Numba's `str(int)` and
    string concatenation, ~1.5 s of the helper's first compile.
    """

    def __init__(self, label: int, position: int, depth: int) -> None:
        super().__init__(f"one_hot: label {label} (at flat position {position}) is out of range "
                         f"for {depth} classes (0 to {depth - 1})")


def one_hot_flat(labels: Any, depth: int, one: Any) -> Any:
    """(len(labels), depth) rows with `one` at each label's column; a label out of range raises."""
    out = np.full((labels.shape[0], depth), one)
    out[:, :] = 0
    for r in range(labels.shape[0]):
        if not 0 <= labels[r] < depth:
            raise LabelOutOfRange(labels[r], r, depth)
        out[r, labels[r]] = one
    return out


def one_hot_flat_numpy(labels: Any, depth: int, one: Any) -> Any:
    """one_hot_flat at NumPy level (the kernel-mode graph function is plain Python)."""
    bad = (labels < 0) | (labels >= depth)
    if bad.any():
        position = int(np.argmax(bad))
        raise LabelOutOfRange(int(labels[position]), position, depth)
    out = np.full((labels.shape[0], depth), one)
    out[:, :] = 0
    out[np.arange(labels.shape[0]), labels] = one
    return out


# The row helpers at NumPy level (NUMPY_TWINS): the kernel-mode graph function, plain Python,
# calls these, so a graph whose softmax runs outside compiled loops compiles no row helper (the
# float32 LSTM's loss: log_softmax_rows and row_peak were ~0.5 s of its first use on a fresh
# installation, table 45). The same arithmetic as the loops above: the row's peak (NaN wins),
# exponentials in x's precision summed in float64, the last step in float64 rounded to x's
# dtype; only the float64 sums' order differs (pairwise, not one running total). One array of
# x's size is allocated and reused: float64 temporaries of that size and a cast of them cost
# 2.5x the helper's time per call (page faults of fresh arrays). (logsumexp_rows has no twin:
# its (rows, 1) result is small and a MLP classifier's call would pay NumPy's per-call cost.)
def softmax_rows_numpy(x: Any) -> Any:
    """softmax_rows at NumPy level."""
    with np.errstate(all="ignore"):  # as silent as the compiled helper
        if x.shape[1] == 0:
            return np.empty_like(x)
        values = np.subtract(x, np.max(x, axis=1, keepdims=True))
        np.exp(values, out=values)
        total = values.sum(axis=1, dtype=np.float64, keepdims=True)
        return np.divide(values, total, out=values, casting="unsafe")  # in float64, as there


def log_softmax_rows_numpy(x: Any) -> Any:
    """log_softmax_rows at NumPy level: (x - peak) - log(total), as there."""
    with np.errstate(all="ignore"):  # as silent as the compiled helper
        if x.shape[1] == 0:
            return np.empty_like(x)
        peak = np.max(x, axis=1, keepdims=True)
        values = np.subtract(x, peak)
        np.exp(values, out=values)
        total = values.sum(axis=1, dtype=np.float64, keepdims=True)
        np.subtract(x, peak, out=values)
        return np.subtract(values, np.log(total), out=values, casting="unsafe")  # in float64


OWN_HELPERS = ("blas_dot", "empty", "full", "zeros", "contiguous", "select", "maximum", "minimum",
                "sum_block", "to_rows", "logsumexp_rows", "row_peak", "softmax_rows", "log_softmax_rows",
                "matmul_batched", "matmul_small", "matmul_small_into", "one_hot_flat")

# An op family with array helpers of its own keeps them in a sibling module
# `library_<family>.py` (plain Python over NumPy, a `HELPERS` tuple) listed here,
# so adding a family touches one line of this file.
FAMILIES: tuple[Any, ...] = (library_linalg, library_special, library_sorting, library_indexing,
                              library_conv, library_random, library_views, library_blas)

HELPERS: tuple[str, ...] = OWN_HELPERS + tuple(name for family in FAMILIES for name in family.HELPERS)


# Helpers with a NumPy-level twin (`NUMPY_TWINS` of a family module: helper -> twin's name in
# that module): the kernel-mode graph function, plain Python, calls the twin, so a graph
# compiles no helper it does not run inside a compiled loop (issue 17 item 4, first use).
NUMPY_TWINS: dict[str, str] = {"one_hot_flat": "one_hot_flat_numpy", "softmax_rows": "softmax_rows_numpy",
                               "log_softmax_rows": "log_softmax_rows_numpy"} | {
    name: twin for family in FAMILIES for name, twin in getattr(family, "NUMPY_TWINS", {}).items()}


# Helpers compiled once per dtype for arrays of any layout (`ANY_LAYOUT` of a family module):
# backend/runtime.py types their calls with every array argument of layout "A".
ANY_LAYOUT: tuple[str, ...] = tuple(name for family in FAMILIES for name in getattr(family, "ANY_LAYOUT", ()))


def helper(name: str) -> Any:
    """The plain-Python function of helper `name`, from this module or a family module."""
    if name in OWN_HELPERS:
        return globals()[name]
    for family in FAMILIES:
        if name in family.HELPERS:
            return getattr(family, name)
    raise AttributeError(name)
