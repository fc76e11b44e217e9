"""The gemm that compiled code calls: NumPy's own, registered with LLVM under a graphc name.

Owns `register()` (binds the symbols `graphc_cblas_sgemm`/`graphc_cblas_dgemm`
in this process, once) and `externals()` (the Numba external functions of those
names that runtime binds into library_blas.gemm_into's jitted copy).
Imports: numba and llvmlite lazily, blas_entry (layer L4).

Why a symbol and not an address: machine code that holds an address cannot
be cached (Numba refuses a function with a ctypes pointer), while a call to
a named external is cached as a relocation that LLVM resolves when the code
is loaded, in each process, against the symbols registered then
(`llvmlite.binding.add_symbol`). So every process must register both names
before any cached code that calls them is loaded: runtime registers them
when it jits `gemm_into` (generated code imports the helpers it calls from
runtime before Numba loads any of its functions), and a name that is never
registered would abort the process in LLVM ("could not be resolved").
Hence the names always resolve: to NumPy's gemm (blas_entry.numpy_gemm), or,
when this NumPy has none, to a fallback compiled here with the same ABI that
computes with Numba's np.dot (SciPy's BLAS, what compiled products used
before). The fallback is a `cfunc` cached on disk (compiled once, ~8-10 s of
CPU for both on a loaded machine, mostly np.dot's typing), never where NumPy's gemm is found.
One ABI in all cases (64-bit integers, blas_entry.GEMM_ARGUMENTS), so code
cached with either target is valid with the other.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import blas_entry
from .state import HOOKS

SYMBOLS = {"s": "graphc_cblas_sgemm", "d": "graphc_cblas_dgemm"}
NAMES = {"s": "cblas_sgemm", "d": "cblas_dgemm"}  # library_blas's names bound to the externals


def _signature(kind: str) -> Any:
    from numba import types

    real = types.float32 if kind == "s" else types.float64
    i32, i64, pointer = types.intc, types.int64, types.voidptr
    return types.void(i32, i32, i32, i64, i64, i64, real, pointer, i64, pointer, i64, real, pointer, i64)


@functools.cache
def externals() -> dict[str, Any]:
    """library_blas name -> Numba external function calling the registered symbol."""
    from numba import types

    return {NAMES[kind]: types.ExternalFunction(SYMBOLS[kind], _signature(kind)) for kind in SYMBOLS}


@functools.cache
def register() -> str:
    """Register both symbols (idempotent); returns what they call: "numpy" or "fallback"."""
    import llvmlite.binding as llvm

    gemm = blas_entry.numpy_gemm()
    if gemm is not None:
        addresses = {"s": gemm.sgemm_address, "d": gemm.dgemm_address}
        HOOKS["numpy_gemm"] = True
    else:
        addresses = {kind: _fallback(kind).address for kind in SYMBOLS}
        HOOKS["numpy_gemm"] = False
    for kind, symbol in SYMBOLS.items():
        llvm.add_symbol(symbol, addresses[kind])
    return "numpy" if gemm is not None else "fallback"


def _fallback(kind: str) -> Any:
    """A cfunc with the gemm ABI over Numba's np.dot (cached on disk like graphc's helpers).

    One body serves both precisions: `numba.carray` needs the dtype as a compile-time
    constant, so each copy gets it as the global DTYPE, and its own name (`_sgemm_by_dot`,
    `_dgemm_by_dot`), which names its disk-cache index (the two never share one)."""
    import types as pytypes

    import numba

    name = f"_{kind}gemm_by_dot"
    dtype = np.float32 if kind == "s" else np.float64
    globals_ = dict(_gemm_by_dot.__globals__, carray=numba.carray, DTYPE=dtype)
    bound = pytypes.FunctionType(_gemm_by_dot.__code__, globals_, name)
    bound.__qualname__, bound.__module__ = name, _gemm_by_dot.__module__
    return numba.cfunc(_signature(kind), cache=True)(bound)


# The fallbacks' body (row-major only: the order graphc passes). `carray` and DTYPE are
# bound to numba.carray and the precision when a copy is compiled (_fallback): this
# module imports numba only lazily. An operand is read as its `lead`-wide rows, then
# sliced (and transposed) to (rows, cols).
carray: Any = None  # numba.carray in the compiled copies
DTYPE: Any = None  # np.float32 or np.float64 in the compiled copies


def _gemm_by_dot(order: int, transa: int, transb: int, m: int, n: int, k: int, alpha: Any,
                 a: Any, lda: int, b: Any, ldb: int, beta: Any, c: Any, ldc: int) -> None:
    if transa == blas_entry.NO_TRANS:
        left = np.ascontiguousarray(carray(a, (m, lda), DTYPE)[:, :k])
    else:
        left = np.ascontiguousarray(carray(a, (k, lda), DTYPE)[:, :m].T)
    if transb == blas_entry.NO_TRANS:
        right = np.ascontiguousarray(carray(b, (k, ldb), DTYPE)[:, :n])
    else:
        right = np.ascontiguousarray(carray(b, (n, ldb), DTYPE)[:, :k].T)
    target = carray(c, (m, ldc), DTYPE)[:, :n]
    product = np.dot(left, right) * alpha
    if beta == 0:
        target[:, :] = product
    else:
        target[:, :] = product + beta * target


__all__ = ["NAMES", "SYMBOLS", "externals", "register"]
