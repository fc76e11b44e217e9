"""Products inside compiled loops: library_blas.gemm_into on NumPy's own gemm (or the fallback).

Every product is checked against NumPy's `a @ b` (an independent BLAS call
from Python): the jitted helper and its plain-Python (ctypes) version, float32
and float64, C/F-ordered, sliced, strided, reversed and broadcast operands, a
strided output, zero-size axes. Then scans whose bodies have products, on the
numba backend against the numpy backend; in fresh processes: the fallback
(GRAPHC_NUMPY_BLAS=0) and a second process loading the first one's cached
machine code; and that the BLAS thread limit covers NumPy's library; and that
compiling gemm_into compiles no NumPy copy, allocation or slice assignment
(its cost on a fresh installation).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphc as gc
from graphc.backend import blas_entry, library_blas

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(7)


def _tolerance(dtype: Any) -> dict[str, float]:
    return {"rtol": 2e-5, "atol": 2e-4} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def _layouts(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """The same values in different memory layouts (each a view or copy equal to `matrix`)."""
    rows, cols = matrix.shape
    wide = np.zeros((rows, 3 * cols + 1), matrix.dtype)
    wide[:, 1:1 + cols] = matrix  # a column slice: rows 3*cols+1 apart
    tall = np.zeros((2 * rows, cols), matrix.dtype)
    tall[::2] = matrix  # every other row
    stepped = np.zeros((rows, 2 * cols), matrix.dtype)
    stepped[:, ::2] = matrix  # every other column: neither rows nor columns unit-step
    return {"C": matrix.copy(), "F": np.asfortranarray(matrix), "column slice": wide[:, 1:1 + cols],
            "row step": tall[::2], "column step": stepped[:, ::2], "reversed": matrix[::-1].copy()[::-1],
            "transposed slice": np.ascontiguousarray(wide.T)[1:1 + cols].T}


def _products(function: Any, dtype: Any) -> None:
    for m, k, n in [(5, 7, 3), (1, 4, 6), (6, 4, 1), (1, 1, 1), (32, 128, 64)]:
        a = RNG.normal(size=(m, k)).astype(dtype)
        b = RNG.normal(size=(k, n)).astype(dtype)
        for a_name, left in _layouts(a).items():
            for b_name, right in _layouts(b).items():
                out = np.full((m, n), np.nan, dtype)
                function(left, right, out)
                np.testing.assert_allclose(out, a @ b, **_tolerance(dtype), err_msg=f"{a_name} @ {b_name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jitted_gemm_into_matches_numpy_for_every_layout(dtype: Any) -> None:
    from graphc.backend import runtime

    _products(runtime.jitted("gemm_into"), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_callers_share_one_version_per_dtype(dtype: Any) -> None:
    """Calls of gemm_into from compiled code (a scan body's) are typed with arrays of layout A
    (library_blas.ANY_LAYOUT, runtime.any_layout): C, F and strided operands run one machine
    code version per dtype (each C/F combination was a compile of ~1 s on a fresh
    installation), and every product matches NumPy's."""
    import numba

    from graphc.backend import runtime

    gemm = runtime.jitted("gemm_into")

    @numba.njit
    def call(a: Any, b: Any, out: Any) -> None:
        gemm(a, b, out)

    before = set(gemm.signatures)
    a, b = RNG.normal(size=(6, 5)).astype(dtype), RNG.normal(size=(5, 4)).astype(dtype)
    left, right = _layouts(a), _layouts(b)
    for a_name, b_name, out in [("C", "C", np.zeros((6, 4), dtype)), ("C", "F", np.zeros((6, 4), dtype)),
                                ("F", "column slice", np.zeros((4, 6), dtype).T),
                                ("column step", "row step", np.zeros((6, 4), dtype))]:
        out[...] = np.nan
        call(left[a_name], right[b_name], out)
        np.testing.assert_allclose(out, a @ b, **_tolerance(dtype), err_msg=f"{a_name} @ {b_name}")
    added = set(gemm.signatures) - before
    assert len(added) <= 1 and all(t.layout == "A" for s in added for t in s), added
    assert any(all(t.layout == "A" and t.dtype == numba.from_dtype(np.dtype(dtype)) for t in s)
               for s in gemm.signatures)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_python_gemm_into_matches_numpy_for_every_layout(dtype: Any) -> None:
    _products(library_blas.gemm_into, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_broadcast_operands_and_strided_outputs(dtype: Any) -> None:
    from graphc.backend import runtime

    gemm = runtime.jitted("gemm_into")
    row = RNG.normal(size=(1, 5)).astype(dtype)
    a = np.broadcast_to(row, (4, 5))  # a zero row stride: copied, not read in place
    b = RNG.normal(size=(5, 3)).astype(dtype)
    for out in (np.zeros((3, 4), dtype).T, np.zeros((4, 6), dtype)[:, ::2], np.zeros((8, 3), dtype)[1::2]):
        gemm(a, b, out)
        np.testing.assert_allclose(out, np.repeat(row, 4, axis=0) @ b, **_tolerance(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 4, 3), (3, 4, 0), (3, 0, 4), (0, 0, 0)])
def test_zero_size_axes(dtype: Any, shape: tuple[int, int, int]) -> None:
    from graphc.backend import runtime

    m, k, n = shape
    a, b = np.ones((m, k), dtype), np.ones((k, n), dtype)
    for gemm in (runtime.jitted("gemm_into"), library_blas.gemm_into):
        out = np.full((m, n), np.nan, dtype)
        gemm(a, b, out)
        np.testing.assert_array_equal(out, a @ b)  # zeros for an empty inner axis


def test_operand_flags_and_leading_dimensions() -> None:
    """Which flag and leading dimension gemm reads each layout with (cblas row-major rules)."""
    matrix = np.zeros((6, 10), np.float32)
    assert library_blas.gemm_operand(matrix) == (blas_entry.NO_TRANS, 10)
    assert library_blas.gemm_operand(matrix[:, 2:5]) == (blas_entry.NO_TRANS, 10)
    assert library_blas.gemm_operand(matrix[::2]) == (blas_entry.NO_TRANS, 20)
    assert library_blas.gemm_operand(matrix.T) == (blas_entry.TRANS, 10)
    assert library_blas.gemm_operand(matrix[:, 2:5].T) == (blas_entry.TRANS, 10)
    assert library_blas.gemm_operand(matrix[:, ::2]) == (0, 0)  # neither axis unit-step
    assert library_blas.gemm_operand(matrix[::-1]) == (0, 0)  # a negative stride
    assert library_blas.gemm_operand(np.broadcast_to(matrix[:1], (6, 10))) == (0, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_emulation_follows_cblas(dtype: Any) -> None:
    """The plain-Python path without NumPy's gemm: row-major gemm with both flags, alpha and beta."""
    a, b = RNG.normal(size=(4, 3)).astype(dtype), RNG.normal(size=(3, 5)).astype(dtype)
    stored_a, stored_b = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)
    c = RNG.normal(size=(4, 7)).astype(dtype)
    expected = c.copy()
    expected[:, :5] = 2.0 * (a @ b) + 0.5 * c[:, :5]
    library_blas.emulate(dtype, blas_entry.ROW_MAJOR, blas_entry.TRANS, blas_entry.TRANS, 4, 5, 3, 2.0,
                         stored_a.ctypes.data, 4, stored_b.ctypes.data, 3, 0.5, c.ctypes.data, 7)
    np.testing.assert_allclose(c, expected, **_tolerance(dtype))



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flags", [("NO_TRANS", "NO_TRANS"), ("TRANS", "TRANS"), ("NO_TRANS", "TRANS")])
def test_the_fallback_cfuncs_follow_cblas(dtype: Any, flags: tuple[str, str]) -> None:
    """numba_hooks.blas's fallback (Numba's np.dot behind the gemm ABI): one body compiled per
    precision, row-major gemm with either flag, alpha and beta, against NumPy."""
    from graphc.backend.numba_hooks import blas

    a, b = RNG.normal(size=(4, 3)).astype(dtype), RNG.normal(size=(3, 5)).astype(dtype)
    stored_a = np.ascontiguousarray(a.T) if flags[0] == "TRANS" else a
    stored_b = np.ascontiguousarray(b.T) if flags[1] == "TRANS" else b
    c = RNG.normal(size=(4, 7)).astype(dtype)
    expected = c.copy()
    expected[:, :5] = 2.0 * (a @ b) + 0.5 * c[:, :5]
    function = blas._fallback("s" if dtype == np.float32 else "d")
    function.ctypes(blas_entry.ROW_MAJOR, getattr(blas_entry, flags[0]), getattr(blas_entry, flags[1]),
                    4, 5, 3, 2.0, stored_a.ctypes.data, stored_a.shape[1], stored_b.ctypes.data,
                    stored_b.shape[1], 0.5, c.ctypes.data, 7)
    np.testing.assert_allclose(c, expected, **_tolerance(dtype))

def test_numpys_gemm_is_found_here() -> None:
    gemm = blas_entry.numpy_gemm()
    if gemm is None:
        pytest.skip("this NumPy has no ILP64 OpenBLAS gemm (the fallback is tested below)")
    assert gemm.sgemm.endswith("cblas_sgemm64_") and gemm.dgemm.endswith("cblas_dgemm64_")
    assert gemm.sgemm_address and gemm.dgemm_address != gemm.sgemm_address


def _lstm_like(dtype: str) -> tuple[list[Any], list[Any]]:
    """A scan whose body multiplies its carry by a weight (and a transposed one) each step, with gradients."""
    W = gc.input("W", (16, 24), dtype=dtype)
    V = gc.input("V", (24, 16), dtype=dtype)
    xs = gc.input("xs", (5, 8, 24), dtype=dtype)

    def step(h: Any, x: Any) -> Any:
        z = gc.tanh(h @ W + x)  # 8x16 @ 16x24: a BLAS product into the loop's buffer
        h = gc.tanh(z @ W.T + z[:, 1:23] @ V[1:23])  # a transposed weight and sliced operands
        return h, gc.sum(h * h)

    h0 = gc.constant(np.full((8, 16), 0.1, dtype))
    final, ys = gc.scan(step, h0, xs)
    loss = gc.sum(ys) + gc.sum(final)
    return [W, V, xs], [loss, *gc.grad(loss, [W, V])]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scan_bodies_with_products_match_the_numpy_backend(dtype: str) -> None:
    inputs, outputs = _lstm_like(dtype)
    compiled = gc.compile(inputs, outputs, backend="numba")
    reference = gc.compile(inputs, outputs, backend="numpy")
    assert "gemm_into(" in compiled.source
    args = [RNG.normal(size=(16, 24)).astype(dtype) * 0.3, RNG.normal(size=(24, 16)).astype(dtype) * 0.3,
            RNG.normal(size=(5, 8, 24)).astype(dtype)]
    for got, want in zip(compiled(*args), reference(*args)):
        np.testing.assert_allclose(got, want, rtol=2e-4 if dtype == "float32" else 1e-10, atol=1e-5)


CHILD = f"""
import json, sys
sys.path.insert(0, {str(ROOT / "tests")!r})
import numpy as np
import graphc as gc
import test_library_blas as t
from graphc.backend import runtime
inputs, outputs = t._lstm_like("float32")
f = gc.compile(inputs, outputs, backend="numba")
rng = np.random.default_rng(1)
args = [rng.normal(size=(16, 24)).astype(np.float32) * 0.3,
        rng.normal(size=(24, 16)).astype(np.float32) * 0.3, rng.normal(size=(5, 8, 24)).astype(np.float32)]
got = f(*args)
want = gc.compile(inputs, outputs, backend="numpy")(*args)
error = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want))
print(json.dumps({{"target": runtime.numba_blas.register(), "error": error,
                  "source_cached": f.stats["source_cached"], "gemm": "gemm_into(" in f.source}}))
"""


def _child(tmp_path: Path, **environment: str) -> tuple[dict[str, Any], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRAPHC_CACHE_DIR=str(tmp_path / "graphc"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"), **environment)
    run = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env,
                         timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1]), run.stdout + run.stderr


def test_a_fresh_process_loads_the_cached_loop_code(tmp_path: Path) -> None:
    """The second process registers the symbols before Numba loads the cached body calling them."""
    first, _ = _child(tmp_path)
    second, log = _child(tmp_path, NUMBA_DEBUG_CACHE="1")
    expected = "numpy" if blas_entry.numpy_gemm() is not None else "fallback"
    assert first["target"] == second["target"] == expected
    assert first["error"] < 1e-4 and second["error"] < 1e-4
    assert first["gemm"] and second["source_cached"] and not first["source_cached"]
    # the graph's machine code (its loops and their gemm calls inlined) came from the disk cache
    loaded = [line for line in log.splitlines() if "data loaded" in line]
    assert any(".graph-" in line for line in loaded), log[-2000:]


def test_the_fallback_without_numpys_gemm(tmp_path: Path) -> None:
    """GRAPHC_NUMPY_BLAS=0: the symbols resolve to the fallback cfunc; code cached with NumPy's gemm
    before still loads and is right (one ABI)."""
    first, _ = _child(tmp_path)
    fallback, _ = _child(tmp_path, GRAPHC_NUMPY_BLAS="0")
    assert fallback["target"] == "fallback" and fallback["source_cached"]
    assert first["error"] < 1e-4 and fallback["error"] < 1e-4


def test_the_one_thread_limit_covers_numpys_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    """backend/blas_threads.py limits every loaded BLAS, NumPy's (the loops' products) among them."""
    from graphc.backend import blas_threads

    before = blas_entry.numpy_blas_threads()
    if before is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS graphc found")
    monkeypatch.setattr(blas_threads, "busy", lambda: True)
    seen = blas_threads.one_thread(blas_entry.numpy_blas_threads)()
    assert seen == 1
    assert blas_entry.numpy_blas_threads() == before


LEAN_CHILD = """
import json
import numba
import numpy as np
from numba.core import event
from numba.core import types
from graphc.backend import library, runtime
# a new dispatcher (no disk cache) of gemm_into, its callees bound as runtime binds them
helper = numba.njit(runtime._calling_jitted(library.helper("gemm_into")))
array = types.Array(types.float64, 2, "A")
with event.install_recorder("numba:compile") as recorder:
    helper.compile((array, array, array))
names = sorted({getattr(getattr(e.data["dispatcher"], "py_func", None), "__qualname__", "?")
                for _, e in recorder.buffer})
a, b, out = np.arange(12.0).reshape(3, 4)[::-1], np.ones((2, 4)).T, np.zeros((4, 3)).T[:, ::2]
helper(a, b, out)
print(json.dumps({"names": names, "error": float(abs(out - a @ b).max())}))
"""


def test_gemm_into_compiles_no_numpy_copy_allocation_or_slice_assignment(tmp_path: Path) -> None:
    """A fresh installation compiles gemm_into once per dtype: operands gemm cannot read in place
    (reversed, stepped) and a transposed output take loops, so Numba's np.ascontiguousarray,
    np.empty and slice assignment (with its shape check) are not compiled with it (~0.9 of its
    ~1.4 s; docs/benchmarks.md table 41). Results as NumPy's for such operands."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRAPHC_KERNEL_CACHE_DIR=str(tmp_path / "kernels"))
    run = subprocess.run([sys.executable, "-c", LEAN_CHILD], capture_output=True, text=True, env=env,
                         timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["error"] < 1e-12
    assert "gemm_into" in report["names"], report
    copying = ("ascontiguousarray", "_cheap", "np_empty")
    assert not any(word in name for word in copying for name in report["names"]), report
