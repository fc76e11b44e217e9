"""`parallel=True` functions from several threads and in forked children, on each layer.

Numba's workqueue layer aborts the process when two threads enter it; GNU
OpenMP kills a child forked after it started. Each case runs in a fresh
interpreter (an abort must not take pytest with it), once per threading
layer this machine has, and checks every result against NumPy.
"""

from __future__ import annotations

import os

import pytest
from cache_support import run_python

PROLOGUE = """
import os, sys, threading, warnings
import numpy as np
import graphc as gc
x = gc.input("x", shape=("n",))
f = gc.compile([x], gc.sin(x) * 2.0 + x * x, parallel=True)
assert f.stats["parallel"], f.stats
values = np.linspace(-3.0, 3.0, 200_000)
want = np.sin(values) * 2.0 + values * values
def check(result):
    np.testing.assert_allclose(result, want, rtol=1e-13, atol=1e-13)
"""

THREADS = PROLOGUE + """
check(f(values))
errors = []
def work(seed):
    try:
        for _ in range(25):
            check(f(values))
    except BaseException as exc:
        errors.append(exc)
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
print("threads ok")
"""

FORK = PROLOGUE + """
if sys.argv[-1] == "call":
    check(f(values))
pid = os.fork()
if pid == 0:
    code = 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gc.GraphcWarning)
            check(f(values))
            check(f(values))
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)
check(f(values))  # the parent still runs in parallel
print("fork ok")
"""

LAYERS = ["default", "workqueue", "omp"]


def _run(code: str, layer: str, *arguments: str) -> None:
    env = {} if layer == "default" else {"NUMBA_THREADING_LAYER": layer}
    result = run_python(code.replace("sys.argv[-1]", repr(arguments[-1] if arguments else "")),
                        env)
    if layer != "default" and "No threading layer could be loaded" in result.stderr:
        pytest.skip(f"Numba's {layer} layer is not available here")
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    assert "ok" in result.stdout


@pytest.mark.parametrize("layer", LAYERS)
def test_eight_threads_call_one_parallel_function(layer: str) -> None:
    _run(THREADS, layer)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("when", ["call", "compile"])
def test_fork_after_a_parallel_function(layer: str, when: str) -> None:
    """Forked after the function was called (or only compiled); the child calls it."""
    _run(FORK, layer, when)


USER_FIRST = """
import os, sys, threading, warnings
import numba
import numpy as np
numba.config.THREADING_LAYER = sys.argv[-1]  # the user's code chooses the layer ...
@numba.njit(parallel=True)
def users_own(a):
    total = 0.0
    for i in numba.prange(a.size):
        total += a[i]
    return total
assert users_own(np.ones(1000)) == 1000.0  # ... and starts it before graphc compiles anything
assert numba.threading_layer() == sys.argv[-1]
import graphc as gc
values = np.linspace(-3.0, 3.0, 200_000)
def compile_and_check(calls):
    x = gc.input("x", shape=("n",))
    f = gc.compile([x], gc.sin(x) * 2.0 + x * x, parallel=True)
    for _ in range(calls):
        np.testing.assert_allclose(f(values), np.sin(values) * 2.0 + values * values, rtol=1e-13)
    return f
pid = os.fork()
if pid == 0:  # graphc's first parallel compile happens in a child of the layer's process
    code = 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gc.GraphcWarning)
            compile_and_check(2)
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, os.waitstatus_to_exitcode(status)
f = compile_and_check(1)
errors = []
def work():
    try:
        for _ in range(10):
            np.testing.assert_allclose(f(values), np.sin(values) * 2.0 + values * values, rtol=1e-13)
    except BaseException as exc:
        errors.append(exc)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
print("user first ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("layer", ["omp", "workqueue"])
def test_layer_chosen_and_started_by_the_users_code_first(layer: str) -> None:
    """The user's own `parallel=True` function picks and starts the layer before graphc's
    first compile; a child forked then compiles and calls a graphc parallel function
    (GNU OpenMP would kill it: graphc runs it on the interpreter), and eight threads call
    one in the parent (workqueue would abort: graphc serializes)."""
    result = run_python(USER_FIRST.replace("sys.argv[-1]", repr(layer)), {})
    if "No threading layer could be loaded" in result.stderr:
        pytest.skip(f"Numba's {layer} layer is not available here")
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    assert "user first ok" in result.stdout
