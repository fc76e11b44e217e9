"""One BLAS thread during a call, on a machine with no core to spare.

Owns: `THREADED_PRODUCT` (the size from which OpenBLAS may use threads),
`wants_one_thread(nodes)` (the graph has such a product) and
`one_thread(function)` (the function, calling with every loaded OpenBLAS set
to one thread and restored afterwards). Imports: shapes, ir; threadpoolctl
lazily (optional: without it nothing changes). Entry point: jit.finish.

Why: OpenBLAS runs a product of more than a few ten thousand multiply-adds on
all its threads, which spin while they wait for each other. When another
process holds a core, a spinning thread is descheduled and every product
waits for it: the MLP classifier of issue 17 (products of 1-5 M
multiply-adds) took 81-117 ms per call with two BLAS threads on the loaded
2-core machine, 11 ms with one, and JAX 5-9 ms (hand NumPy collapses the same
way; the 784x512 products of the benchmark MLP too: 237 ms per step against
JAX's 22 ms). When the machine has no core to spare (1-minute load average at
least the number of cores minus one half, this process's own running thread
included) another BLAS thread cannot run anyway, so a graph with a product
OpenBLAS may thread (an estimated THREADED_PRODUCT multiply-adds or more, a
named size counted as 256) is called with one BLAS thread. On a machine with
a core to spare BLAS keeps its threads: JAX uses both cores of an idle 2-core
machine for these products. The thread count is process-wide, so it is set
for the duration of the call and restored (2-6 us per call, measured).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import shapes
from ..ir import Node

THREADED_PRODUCT = 2 ** 16  # below this OpenBLAS runs one thread anyway: no wrapper
NAMED_SIZE = 256  # what a named size counts as in that estimate


def _estimate(size: shapes.Size) -> int:
    return size if isinstance(size, int) else size.coefficient * NAMED_SIZE ** len(size.factors)


def multiply_adds(node: Node) -> int:
    """m * k * n of a matmul node (batched: times the batch), sizes estimated."""
    a, b = node.inputs
    inner = _estimate(a.shape[-1]) if a.ndim else 1
    total = inner
    for size in node.shape:
        total *= _estimate(size)
    return total


def wants_one_thread(nodes: Sequence[Node]) -> bool:
    """Whether the graph has a product OpenBLAS may run on several threads."""
    products = [multiply_adds(n) for n in nodes if n.op.name == "matmul" and len(n.inputs) == 2]
    return bool(products) and max(products) >= THREADED_PRODUCT


def _controls() -> tuple[tuple[Any, Any], ...]:
    """(get, set) of each OpenBLAS loaded now (numpy's, and scipy's, which Numba's np.dot uses;
    scipy.linalg may be imported after the first call: looked up again then)."""
    return _controls_of("scipy.linalg" in sys.modules)


@functools.cache
def _controls_of(scipy_loaded: bool) -> tuple[tuple[Any, Any], ...]:
    try:
        import threadpoolctl
    except ImportError:
        return ()
    found = []
    try:
        for library in threadpoolctl.ThreadpoolController().select(internal_api="openblas").lib_controllers:
            get = library._get_symbol("openblas_get_num_threads")
            set_ = library._get_symbol("openblas_set_num_threads")
            if get is not None and set_ is not None:
                found.append((get, set_))
    except Exception:  # noqa: BLE001 - an unknown threadpoolctl: leave BLAS alone
        return ()
    return tuple(found)


_LOCK = threading.Lock()
_DEPTH = [0]  # calls in progress that hold BLAS at one thread (nested or from several threads)
_SAVED: list[int] = []


_LOAD = [-1.0, True]  # (when it was read, busy?): os.getloadavg reads /proc (~20 us), once a second


def busy() -> bool:
    """Whether the machine has no core to spare (no load average, e.g. Windows: assume busy)."""
    now = time.monotonic()
    if now - _LOAD[0] >= 1.0:
        try:
            _LOAD[1] = os.getloadavg()[0] >= (os.cpu_count() or 1) - 0.5
        except (AttributeError, OSError):
            _LOAD[1] = True
        _LOAD[0] = now
    return bool(_LOAD[1])


def one_thread(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, with every OpenBLAS at one thread while it runs on a busy machine
    (restored after the last call in progress)."""

    def call(*arguments: Any) -> Any:
        controls = _controls()
        if not controls or (_DEPTH[0] == 0 and not busy()):
            return function(*arguments)
        with _LOCK:
            if _DEPTH[0] == 0:
                _SAVED[:] = [get() for get, _ in controls]
                for _, set_ in controls:
                    set_(1)
            _DEPTH[0] += 1
        try:
            return function(*arguments)
        finally:
            with _LOCK:
                _DEPTH[0] -= 1
                if _DEPTH[0] == 0:
                    for (_, set_), count in zip(controls, _SAVED):
                        set_(count)

    call.__wrapped__ = function  # type: ignore[attr-defined]
    return call
