"""Numba set-up only a compile needs waits for a compile (graphc/backend/numba_hooks/deferred.py).

A process that loads a cached graph compiles nothing: it must not import
numba.np.arrayobj (install_shape_errors) nor numpy.ma (Numba's typeof of an
ndarray), ~60 ms of a warm start. References: the process's own sys.modules,
and Numba's own typeof (the function the hook replaces) on the same arrays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from graphc.backend.numba_hooks import HOOKS, deferred  # noqa: E402

_GRAPH = r"""
import sys
import numpy as np
import graphc as gc

x = gc.input("x", ("n", 4))
w = gc.input("w", (4, 4))
h = x
for _ in range(4):  # enough groups for kernel mode (shared kernels from the cache)
    h = gc.tanh(h @ w + 1.0)
loss = gc.sum(h ** 2)
f = gc.compile([x, w], [loss, *gc.grad(loss, [w])], tiered=False)
xv, wv = np.linspace(-1, 1, 12).reshape(3, 4), np.linspace(0.5, -0.5, 16).reshape(4, 4)
hv = xv
for _ in range(4):
    hv = np.tanh(hv @ wv + 1.0)
assert abs(f(xv, wv)[0] - np.sum(hv ** 2)) < 1e-10
print("compiled" if f.stats["kernels_new"] else "loaded",
      *[m for m in ("numba.np.arrayobj", "numba.np.arraymath", "numpy.ma") if m in sys.modules])
"""


@pytest.mark.parametrize("direct", ["0", "1"], ids=["numba-kernels", "direct-kernels"])
def test_a_warm_start_imports_no_compile_set_up(tmp_path: Path, direct: str) -> None:
    """First process compiles (and so, with Numba, imports what a compile needs, hooks
    installed); the second loads everything from the cache and imports none of it. With
    the direct path (backend/direct/) no Numba compile runs at all: neither process does."""
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(tmp_path), GRAPHC_TIERED="0", GRAPHC_DIRECT=direct)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", _GRAPH], env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(done.stdout.split())
    if direct == "0":
        assert runs[0][0] == "compiled" and "numba.np.arrayobj" in runs[0], runs[0]
    else:
        assert runs[0] == ["compiled"], runs[0]
    assert runs[1] == ["loaded"], runs[1]


def test_hooks_run_before_numba_first_imports_arraymath(monkeypatch: pytest.MonkeyPatch) -> None:
    """before_compiling runs its hooks when the trigger module is first looked for,
    and at once when it is loaded already."""
    calls: list[str] = []
    monkeypatch.setattr(deferred, "TRIGGER", "graphc_test_no_such_module")
    monkeypatch.setattr(deferred, "_FINDER", deferred._BeforeImport())  # the process's own stays as it is
    deferred.before_compiling(lambda: calls.append("first"))
    assert calls == []
    with pytest.raises(ImportError):
        __import__("graphc_test_no_such_module")
    assert calls == ["first"]
    with pytest.raises(ImportError):  # once only
        __import__("graphc_test_no_such_module")
    assert calls == ["first"]
    monkeypatch.setattr(deferred, "TRIGGER", "numba")  # loaded: runs now
    deferred.before_compiling(lambda: calls.append("now"))
    assert calls == ["first", "now"]



def test_a_hook_queued_while_another_thread_imports_the_trigger_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trigger's lookup has run (another thread is importing it: not in sys.modules yet):
    a hook queued now would wait for a lookup that never comes again, so it runs at once."""
    calls: list[str] = []
    monkeypatch.setattr(deferred, "TRIGGER", "graphc_test_no_such_module")
    finder = deferred._BeforeImport()
    monkeypatch.setattr(deferred, "_FINDER", finder)
    finder.find_spec("graphc_test_no_such_module")  # the other thread's import, still running
    assert "graphc_test_no_such_module" not in sys.modules
    deferred.before_compiling(lambda: calls.append("late"))
    assert calls == ["late"] and finder.waiting == []

_ARRAYS = [np.zeros(3, [("a", np.float64), ("b", np.int32)]), np.zeros(2, "U3"),
           np.zeros((3, 4)), np.zeros((3, 4), order="F"), np.zeros((4, 6))[::2, ::3],
           np.float32(1.5) * np.ones(5, np.float32), np.zeros((), np.int64),
           np.zeros((2, 2, 2), np.complex128), np.ones(3, bool)]


@pytest.mark.parametrize("array", _ARRAYS + [np.broadcast_to(np.arange(3.0), (2, 3))],
                         ids=lambda a: f"{a.dtype}{a.shape}{'F' if a.flags.f_contiguous else ''}")
def test_array_typeof_agrees_with_numbas_own(array: np.ndarray,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook's type of an array is Numba's: dtype, rank, layout, read-only flag
    (on its own path, as before anything imports numpy.ma)."""
    from numba.core.typing import typeof

    monkeypatch.setattr(deferred, "masked_arrays_possible", lambda: False)

    assert deferred.cheap_array_typeof(), "Numba's typeof of ndarray changed"
    ours = typeof.typeof_impl.dispatch(np.ndarray)
    assert ours.__module__ == deferred.__name__
    theirs = ours.__wrapped__  # Numba's own
    context = typeof.Purpose.argument
    assert ours(array, context) == theirs(array, context) == numba.typeof(array)


def test_array_typeof_still_rejects_masked_arrays_and_odd_dtypes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert deferred.cheap_array_typeof() and HOOKS["array_typeof"]

    @numba.njit
    def first(a: np.ndarray) -> float:
        return a[0]

    with monkeypatch.context() as patched:
        patched.setattr(deferred, "masked_arrays_possible", lambda: False)
        for odd in ("V4", [("a", object)]):
            with pytest.raises(numba.core.errors.NumbaValueError, match="Unsupported array dtype"):
                numba.typeof(np.zeros(2, odd))
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])  # imports numpy.ma
    with pytest.raises(numba.core.errors.TypingError, match="MaskedArray"):
        first(masked)
    assert first(np.array([4.0, 5.0])) == 4.0
