"""One BLAS thread during a call, on a machine with no core to spare.

Owns: `THREADED_PRODUCT` (the size from which OpenBLAS may use threads),
`wants_one_thread(nodes)` (the graph has such a product) and
`one_thread(function)` (the function, calling with every loaded BLAS set
to one thread and restored afterwards). Imports: shapes, ir; threadpoolctl (a
runtime dependency, imported on the first limited call: its public
`ThreadpoolController.limit`). Entry point: jit.finish.

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
for the duration of the call and restored; the controller is built once (a
scan of the loaded libraries, ~1.5 ms), setting and restoring costs 25-60 us
per limited call (threadpoolctl reads each library's state; measured,
docs/codegen.md), only paid by calls with such a product on a busy machine.
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
from ..lowering import Kernel

THREADED_PRODUCT = 2 ** 16  # below this OpenBLAS runs one thread anyway: no wrapper
NAMED_SIZE = 256  # what a named size counts as in that estimate


def _estimate(size: shapes.Size) -> int:
    return size if isinstance(size, int) else size.coefficient * NAMED_SIZE ** len(size.factors)


def multiply_adds(node: Node) -> int:
    """m * k * n of a product node (a `Kernel` with `product`; batched: times the batch), sizes estimated."""
    a, b = node.inputs
    inner = _estimate(a.shape[-1]) if a.ndim else 1
    total = inner
    for size in node.shape:
        total *= _estimate(size)
    return total


def wants_one_thread(nodes: Sequence[Node]) -> bool:
    """Whether the graph has a product OpenBLAS may run on several threads."""
    products = [multiply_adds(n) for n in nodes
                if isinstance(n.op.lowering, Kernel) and n.op.lowering.product and len(n.inputs) == 2]
    return bool(products) and max(products) >= THREADED_PRODUCT


def _controller() -> Any:
    """A threadpoolctl controller of the BLAS libraries loaded now (numpy's; scipy's, which
    Numba's np.dot uses: scipy.linalg may be imported after the first call, so it is built
    again then). Built once per state: building one scans the loaded libraries (~1.5 ms)."""
    return _controller_of("scipy.linalg" in sys.modules)


@functools.cache
def _controller_of(scipy_loaded: bool) -> Any:
    import threadpoolctl  # a runtime dependency (pyproject.toml); imported on first use (10 ms)

    return threadpoolctl.ThreadpoolController().select(user_api="blas")


# Per-process: the BLAS thread limit is a process-wide setting of the BLAS library.
_LOCK = threading.Lock()
_HELD: list[Any] = [None]  # the limiter in force (entered by the call that set it), or None


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
    """`function`, with every BLAS at one thread while it runs on a busy machine.

    The call that sets the limit restores it, from its own thread: threadpoolctl lets only
    one thread at a time change a process-wide OpenBLAS pool, and hands that control back
    when that thread leaves its `with` block. Calls that overlap it (nested, or from other
    threads) run under its limit; if it ends first they finish with BLAS's own threads (a
    slower call, never a limit left behind)."""

    def call(*arguments: Any) -> Any:
        if _HELD[0] is not None or not busy():
            return function(*arguments)
        with _LOCK:
            mine = _HELD[0] is None
            if mine:
                limiter = _controller().limit(limits=1, user_api="blas")
                limiter.__enter__()
                _HELD[0] = limiter
        try:
            return function(*arguments)
        finally:
            if mine:
                with _LOCK:
                    _HELD[0] = None
                    limiter.__exit__(None, None, None)

    call.__wrapped__ = function  # type: ignore[attr-defined]
    return call
