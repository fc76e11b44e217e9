"""Array helpers for the linear-algebra ops (gc.linalg) that generated Numba code calls.

Owns: the stacked-matrix kernels `cholesky_stack`, `solve_stack`,
`solve_triangular_stack`, `inv_stack`, `slogdet_stack`, `eigh_stack` (each on a
C-contiguous (batch, n, n) array made by `to_stack`, one LAPACK call per matrix
through Numba's own np.linalg, which calls SciPy's LAPACK), and the triangle and
diagonal helpers `band_stack`, `diagonal_stack`, `diag_embed_stack`. A failure
LAPACK reports (a matrix that is not positive definite, a singular matrix) becomes
a graphc InputError with the same text the NumPy backend raises
(graphc/ops/decompositions.py), never a Numba traceback. Plain Python over
NumPy: graphc.backend.runtime jits these with cache=True; this module never
imports numba. Imports: numpy and graphc.errors (layer L4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

TRIANGULAR_BLOCK = 48  # rows solved by substitution at a time; the rest of the work is BLAS


def to_stack(x: Any) -> Any:
    """x (..., m, n) as a C-contiguous (batch, m, n) array (a view when it already is)."""
    return np.ascontiguousarray(x).reshape((-1, x.shape[-2], x.shape[-1]))


def cholesky_stack(a: Any) -> Any:
    """The lower Cholesky factor of the symmetric part of each matrix."""
    out = np.empty_like(a)
    for item in range(a.shape[0]):
        symmetric = 0.5 * (a[item] + a[item].T)
        failed = False
        try:  # Numba catches only `Exception`, and cannot raise inside `except`
            out[item] = np.linalg.cholesky(symmetric)
        except Exception:  # noqa: BLE001
            failed = True
        if failed:
            raise InputError("cholesky: matrix is not positive definite")
    return out


def solve_stack(a: Any, b: Any) -> Any:
    """x with a @ x = b per item (LU with partial pivoting); a singular matrix raises."""
    out = np.empty_like(b)
    for item in range(a.shape[0]):
        failed = False
        try:
            out[item] = np.linalg.solve(a[item], b[item])
        except Exception:  # noqa: BLE001
            failed = True
        if failed:
            raise InputError("solve: matrix is singular")
    return out


def inv_stack(a: Any) -> Any:
    """The inverse of each matrix; a singular matrix raises."""
    out = np.empty_like(a)
    for item in range(a.shape[0]):
        failed = False
        try:
            out[item] = np.linalg.inv(a[item])
        except Exception:  # noqa: BLE001
            failed = True
        if failed:
            raise InputError("inv: matrix is singular")
    return out


def slogdet_stack(a: Any) -> Any:
    """(batch, 2): the sign and log|det| of each matrix (LU; a singular matrix gives 0, -inf)."""
    out = np.empty((a.shape[0], 2), a.dtype)
    for item in range(a.shape[0]):
        sign, logdet = np.linalg.slogdet(a[item])
        out[item, 0] = sign
        out[item, 1] = logdet
    return out


def eigh_stack(a: Any) -> Any:
    """(batch, 2, n, n): [:, 0, 0] the ascending eigenvalues of the symmetric part, [:, 1] the
    eigenvectors (columns), packed in one array because a node has one output."""
    n = a.shape[-1]
    out = np.zeros((a.shape[0], 2, n, n), a.dtype)
    for item in range(a.shape[0]):
        symmetric = np.ascontiguousarray(0.5 * (a[item] + a[item].T))
        failed = False
        try:
            values, vectors = np.linalg.eigh(symmetric)
            out[item, 0, 0] = values
            out[item, 1] = vectors
        except Exception:  # noqa: BLE001
            failed = True
        if failed:
            raise InputError("eigh: the eigenvalue iteration did not converge")
    return out


def solve_triangular_stack(a: Any, b: Any, lower: bool, unit: bool) -> Any:
    """x with a @ x = b per item, a triangular (only its `lower` or upper triangle is read);
    a zero on the diagonal raises, as SciPy's LinAlgError does.

    Blocks of TRIANGULAR_BLOCK rows are solved by substitution; the update of a
    block by the rows already solved is one BLAS product, so a matrix right-hand
    side runs at BLAS speed (one function: Numba helpers cannot call plain Python).
    """
    n, columns = a.shape[1], b.shape[2]
    out = np.empty_like(b)
    for item in range(a.shape[0]):
        matrix, solved = a[item], out[item]
        for i in range(n):
            if not unit and matrix[i, i] == 0:
                raise InputError("solve_triangular: matrix is singular (a zero on the diagonal)")
        for block in range(0, n, TRIANGULAR_BLOCK):
            if lower:
                start, stop = block, min(block + TRIANGULAR_BLOCK, n)
            else:
                start, stop = max(n - block - TRIANGULAR_BLOCK, 0), n - block
            rhs = b[item, start:stop].copy()
            if lower and start > 0:
                rhs -= np.dot(np.ascontiguousarray(matrix[start:stop, :start]), solved[:start])
            elif not lower and stop < n:
                rhs -= np.dot(np.ascontiguousarray(matrix[start:stop, stop:]), solved[stop:])
            for step in range(stop - start):
                i = start + step if lower else stop - 1 - step
                low, high = (start, i) if lower else (i + 1, stop)
                row = rhs[i - start]
                for j in range(low, high):  # row -= a[i, j] * x[j]: contiguous along the columns
                    coefficient = matrix[i, j]
                    for c in range(columns):
                        row[c] -= coefficient * solved[j, c]
                scale = 1.0 if unit else matrix[i, i]
                for c in range(columns):
                    solved[i, c] = row[c] / scale
    return out


def band_stack(x: Any, k: int, lower: bool) -> Any:
    """np.tril(x, k) (lower) or np.triu(x, k) of each matrix."""
    out = np.empty_like(x)
    for item in range(x.shape[0]):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                keep = j - i <= k if lower else j - i >= k
                out[item, i, j] = x[item, i, j] if keep else 0
    return out


def diagonal_stack(x: Any, offset: int, size: int) -> Any:
    """(batch, size): the offset diagonal of each matrix (np.diagonal of the last two axes)."""
    out = np.empty((x.shape[0], size), x.dtype)
    row, column = max(-offset, 0), max(offset, 0)
    for item in range(x.shape[0]):
        for i in range(size):
            out[item, i] = x[item, row + i, column + i]
    return out


def diag_embed_stack(v: Any, offset: int, rows: int, columns: int) -> Any:
    """(batch, rows, columns) zeros with each vector on the offset diagonal."""
    out = np.zeros((v.shape[0], rows, columns), v.dtype)
    row, column = max(-offset, 0), max(offset, 0)
    for item in range(v.shape[0]):
        for i in range(v.shape[1]):
            out[item, row + i, column + i] = v[item, i]
    return out


HELPERS = ("to_stack", "cholesky_stack", "solve_stack", "inv_stack", "slogdet_stack",
           "eigh_stack", "solve_triangular_stack", "band_stack", "diagonal_stack",
           "diag_embed_stack")


# NumPy-level twins: the kernel-mode graph function (plain Python) calls these instead of the
# jitted helpers above (codegen's NUMPY_LEVEL). Each is one NumPy/SciPy call on the whole stack,
# as fast as the jitted loop, and a fresh installation compiles nothing for it: the jitted
# cholesky/solve_triangular/band/diagonal/diag_embed helpers cost ~4 s of Numba's first use
# on the Gaussian-process graph (benchmarks/first_use.py gp). Same errors, same texts.
def cholesky_stack_numpy(a: Any) -> Any:
    """cholesky_stack at NumPy level (NumPy's LAPACK, as the NumPy backend)."""
    try:
        return np.linalg.cholesky(0.5 * (a + np.swapaxes(a, -1, -2))).astype(a.dtype, copy=False)
    except np.linalg.LinAlgError:
        raise InputError("cholesky: matrix is not positive definite") from None


def solve_triangular_stack_numpy(a: Any, b: Any, lower: bool, unit: bool) -> Any:
    """solve_triangular_stack at NumPy level: SciPy's LAPACK trtrs per matrix."""
    import scipy.linalg  # here, not at import: `import graphc` stays fast

    if not unit and np.any(np.diagonal(a, 0, -2, -1) == 0):
        raise InputError("solve_triangular: matrix is singular (a zero on the diagonal)")
    out = np.empty(b.shape, b.dtype)
    for item in range(a.shape[0]):
        out[item] = scipy.linalg.solve_triangular(a[item], b[item], lower=lower, unit_diagonal=unit,
                                                  check_finite=False)
    return out


def band_stack_numpy(x: Any, k: int, lower: bool) -> Any:
    """band_stack at NumPy level (np.tril/np.triu act on the last two axes)."""
    return np.tril(x, k) if lower else np.triu(x, k)


def diagonal_stack_numpy(x: Any, offset: int, size: int) -> Any:
    """diagonal_stack at NumPy level: a (batch, size) copy of each matrix's offset diagonal."""
    return np.ascontiguousarray(np.diagonal(x, offset, 1, 2)[:, :size])


def diag_embed_stack_numpy(v: Any, offset: int, rows: int, columns: int) -> Any:
    """diag_embed_stack at NumPy level."""
    out = np.zeros((v.shape[0], rows, columns), v.dtype)
    row, column = max(-offset, 0), max(offset, 0)
    steps = np.arange(v.shape[1])
    out[:, row + steps, column + steps] = v
    return out


NUMPY_TWINS = {name: f"{name}_numpy" for name in
               ("cholesky_stack", "solve_triangular_stack", "band_stack", "diagonal_stack",
                "diag_embed_stack")}
