"""NumPy's own BLAS gemm, found by name in the library NumPy loaded: the products of compiled loops.

Owns `numpy_gemm()` (the addresses of NumPy's ILP64 `cblas_sgemm` and
`cblas_dgemm`, or None), `GEMM_ARGUMENTS` (their C signature as ctypes
types: the ABI every graphc gemm call uses) and `numpy_blas_threads()`.
Imports: ctypes, numpy (layer L4). Used by numba_hooks/blas.py (which
registers the addresses with LLVM) and library_blas.py (its plain-Python calls).

Why: Numba's `np.dot` inside compiled code calls SciPy's BLAS (the Fortran
`sgemm` of scipy.linalg.cython_blas), a different OpenBLAS build from the one
NumPy's `matmul` uses. Measured in one process (OPENBLAS_NUM_THREADS=1, the
LSTM step's 32x128 @ 128x512 float32 product, 2,000 calls in a Numba loop):
Numba's np.dot 83-85 us, SciPy's own cblas_sgemm called directly 83 us, NumPy's
cblas_sgemm called directly 55-58 us, np.matmul from Python 60 us; a 1600x64 @
64x512 product costs the same through all of them (docs/performance.md). The
gap is the library (SciPy 1.17's OpenBLAS 0.3.30, NumPy 2.x's 0.3.31 here),
not the call, so compiled code calls the library NumPy itself uses.

Which symbol: NumPy's wheels on 64-bit platforms ship OpenBLAS with 64-bit
integers and renamed symbols, `scipy_cblas_sgemm64_` (NumPy >= 2.0) or
`cblas_sgemm64_` (NumPy 1.x). They are looked up through NumPy's
`_multiarray_umath` extension, whose handle also searches the libraries it
was linked against (dlsym), so no file path is guessed. Only those 64-bit
integer names are accepted (the ABI of GEMM_ARGUMENTS); any other BLAS
(MKL, Accelerate, a system OpenBLAS with 32-bit integers, a NumPy built
without BLAS) gives None, and numba_hooks/blas.py registers a fallback with
the same ABI that calls Numba's np.dot, as before.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
from dataclasses import dataclass
from typing import Any

# cblas_?gemm(order, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), 64-bit integers;
# alpha and beta are c_float for sgemm, c_double for dgemm (GEMM_ARGUMENTS lists sgemm's).
GEMM_ARGUMENTS = (ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                  ctypes.c_int64, ctypes.c_float, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                  ctypes.c_int64, ctypes.c_float, ctypes.c_void_p, ctypes.c_int64)
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS_ORDER / CBLAS_TRANSPOSE values
# (prefix, suffix) of NumPy's ILP64 OpenBLAS builds, newest first.
NAMINGS = (("scipy_", "64_"), ("", "64_"))
CORE_MODULES = ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath")
DISABLE = "GRAPHC_NUMPY_BLAS"  # "0": never use NumPy's gemm (the fallback; for tests and diagnosis)


@dataclass(frozen=True)
class Gemm:
    """NumPy's gemm entry points: symbol names and addresses, and the library's own description."""

    sgemm: str
    dgemm: str
    sgemm_address: int
    dgemm_address: int
    config: str  # openblas_get_config (version, integer width, the core it picked), or ""


def _library() -> ctypes.CDLL | None:
    for name in CORE_MODULES:
        try:
            module = importlib.import_module(name)
            return ctypes.CDLL(module.__file__)
        except (ImportError, OSError, AttributeError, TypeError):
            continue
    return None


def _address(library: ctypes.CDLL, symbol: str) -> int | None:
    try:
        return ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
    except AttributeError:
        return None


def _config(library: ctypes.CDLL, prefix: str, suffix: str) -> str:
    try:
        function = getattr(library, f"{prefix}openblas_get_config{suffix}")
    except AttributeError:
        return ""
    function.restype = ctypes.c_char_p
    return (function() or b"").decode(errors="replace").strip()


@functools.cache
def numpy_gemm() -> Gemm | None:
    """NumPy's ILP64 cblas_sgemm/cblas_dgemm, or None (module docstring; GRAPHC_NUMPY_BLAS=0: None)."""
    if os.environ.get(DISABLE, "1") == "0":
        return None
    library = _library()
    if library is None:
        return None
    for prefix, suffix in NAMINGS:
        names = (f"{prefix}cblas_sgemm{suffix}", f"{prefix}cblas_dgemm{suffix}")
        single, double = (_address(library, name) for name in names)
        if single and double:
            return Gemm(*names, single, double, _config(library, prefix, suffix))
    return None


def numpy_blas_threads() -> int | None:
    """The thread count of NumPy's OpenBLAS now (what a compiled loop's products run on), or None."""
    gemm = numpy_gemm()
    library = _library()
    if gemm is None or library is None:
        return None
    prefix = gemm.sgemm[:-len("cblas_sgemm64_")]
    function = getattr(library, f"{prefix}openblas_get_num_threads64_", None)
    if function is None:
        return None
    function.restype = ctypes.c_int
    return int(function())


def gemm_function(kind: str) -> Any:
    """NumPy's `kind` ('s' or 'd') gemm as a ctypes function (library_blas.py's plain-Python calls)."""
    gemm = numpy_gemm()
    if gemm is None:
        return None
    real = ctypes.c_float if kind == "s" else ctypes.c_double
    address = gemm.sgemm_address if kind == "s" else gemm.dgemm_address
    return ctypes.CFUNCTYPE(None, *GEMM_ARGUMENTS[:6], real, *GEMM_ARGUMENTS[7:11], real,
                            *GEMM_ARGUMENTS[12:])(address)


__all__ = ["DISABLE", "GEMM_ARGUMENTS", "NO_TRANS", "ROW_MAJOR", "TRANS", "Gemm", "gemm_function",
           "numpy_blas_threads", "numpy_gemm"]
