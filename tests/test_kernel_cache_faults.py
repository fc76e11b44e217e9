"""Kernel mode's shared kernels: their compile time is reported, and their cache entries recover.

The kernels compile (or load) on the graph's first call, after gc.compile
returned, so f.stats["seconds"]["numba"] grows by that call's compile time;
and a damaged or foreign cache entry of a kernel module is removed and
compiled again with one CacheWarning (backend/recovery.guard_lazy), never a
traceback or another kernel's code. The reference is the MLP's loss and
gradients by hand in NumPy (tests/test_backend_kernel_mode.py).
"""

from __future__ import annotations

from pathlib import Path

import cache_support
import numpy as np
import pytest
from test_backend_kernel_mode import by_hand, mlp, values

import graphc as gc
from graphc.backend import jit

own_cache = cache_support.own_cache
DEPTH, WIDTH = 6, 5


@pytest.fixture(autouse=True)
def numba_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """These are Numba's cache entries: every kernel compiles with Numba here (the direct
    path's object files have their own fault tests in tests/test_direct.py)."""
    from graphc.backend.direct import kernel

    monkeypatch.setenv("GRAPHC_DIRECT", "0")
    monkeypatch.setattr(kernel, "STAND_INS", {})


def compile_and_check(monkeypatch: pytest.MonkeyPatch) -> gc.Function:
    """A fresh process's view: no kernel dispatcher in memory, so each loads or compiles."""
    monkeypatch.setattr(jit, "_SHARED", {})
    f = gc.compile(*mlp(DEPTH, WIDTH))
    assert f.stats["kernels"] > 0
    arrays = values(DEPTH, WIDTH, 7)
    for got, want in zip(f(*arrays), by_hand(arrays, DEPTH)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    return f


def kernel_files(directory: Path, suffix: str) -> list[Path]:
    return sorted((directory / "__pycache__").glob(f"graphc_*{suffix}"))


def test_the_first_call_adds_the_kernels_compile_to_numba_seconds(
        own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jit, "_SHARED", {})
    f = gc.compile(*mlp(DEPTH, WIDTH))
    linking = f.stats["seconds"]["numba"]
    assert "first_call" not in f.stats["seconds"]
    f(*values(DEPTH, WIDTH, 7))
    seconds = f.stats["seconds"]
    assert seconds["numba"] > linking + 0.05, seconds  # each kernel compiled (new cache)
    assert seconds["numba"] - linking <= seconds["first_call"], seconds
    assert kernel_files(own_cache, ".nbc"), "the kernels were saved"
    again = compile_and_check(monkeypatch)  # loads: still counted, and much less
    assert again.stats["seconds"]["numba"] < seconds["numba"]


def test_random_bytes_in_a_kernels_machine_code_recompile(
        own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compile_and_check(monkeypatch)
    files = kernel_files(own_cache, ".nbc")
    assert files
    rng = np.random.default_rng(3)
    for path in files:
        path.write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.warns(gc.CacheWarning, match="could not use the cached machine code"):
        compile_and_check(monkeypatch)
    compile_and_check(monkeypatch)  # rewritten whole: loads without a warning


def test_swapped_machine_code_of_two_kernels_is_not_run(
        own_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compile_and_check(monkeypatch)
    first, second = kernel_files(own_cache, ".nbc")[:2]
    swapped = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(swapped)
    with pytest.warns(gc.CacheWarning, match="holds the machine code of graphc_"):
        compile_and_check(monkeypatch)
