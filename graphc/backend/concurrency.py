"""Calling `parallel=True` functions safely from threads and in forked children.

Why: a parallel function runs its loops on Numba's threading layer, picked
once per process (tbb, else omp, else workqueue, unless the user set
NUMBA_THREADING_LAYER). Not every layer survives every use:

    layer        several threads at once     fork after parallel code ran
    tbb          safe                        safe
    omp (GNU)    safe                        the child is killed (SIGTERM)
    omp (Intel)  safe                        safe
    workqueue    the process aborts          safe

graphc keeps Numba's choice (it is process-wide; user code shares it) and
guards each parallel function for what its layer cannot do, whoever started
the layer (the user's own `parallel=True` code may have, before graphc
compiled anything: the fork handler asks Numba, not graphc's own record).
On workqueue the calls of every graphc parallel function are serialized with one
process-wide lock (on 2 cores a parallel call uses them all anyway; fork
waits for a running call and the child gets a fresh lock); in a child forked
after a fork-unsafe layer started, the function runs on graphc's NumPy
interpreter instead (correct, slower, one GraphcWarning), since the child
must never enter the layer. (A process that imports graphc only after it
was forked cannot be told from its parent: import graphc before forking.)
With `pip install tbb` Numba picks tbb and no guard is needed. Imports: the
standard library, interpret, calling, errors, numba_hooks (layer L4; jit.py
reports the layer). Entry point: `guard(...)`.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import calling, interpret
from ..errors import GraphcWarning
from ..ir import Node
from . import numba_hooks

THREAD_SAFE = {"tbb", "omp"}

_lock = threading.Lock()  # serializes parallel calls on a thread-unsafe layer
# Per-process: the threading layer Numba loaded in this process, and whether we warned.
_state = {"unsafe_parent": False, "unsafe_child": False, "warned": False}


def is_fork_safe(layer: str, vendor: str | None) -> bool:
    """Numba's own table: GNU OpenMP (Linux) is the one layer a forked child cannot use."""
    return not (layer == "omp" and (vendor or "GNU") == "GNU")


def guard(dispatcher: Any, layer: str, vendor: str | None, inputs: Sequence[Node],
          outputs: Sequence[Node], range_flag: bool) -> Any:
    """The dispatcher, or a function of the same arguments that is safe on `layer`.

    Call only after Numba launched its threads (it does when compiling a
    parallel function). The fallback returns what the dispatcher would:
    the outputs (rank 0 as scalars) plus the range flag when the graph has one.
    """
    thread_safe, fork_safe = layer in THREAD_SAFE, is_fork_safe(layer, vendor)
    if not fork_safe:
        _state["unsafe_parent"] = True
    if thread_safe and fork_safe:
        return dispatcher
    count = len(inputs)

    def call(*arguments: Any) -> Any:
        if _state["unsafe_child"]:
            return _interpreted(inputs, outputs, arguments[:count], range_flag)
        if thread_safe:
            return dispatcher(*arguments)
        with _lock:
            return dispatcher(*arguments)

    return call


def _interpreted(inputs: Sequence[Node], outputs: Sequence[Node], arguments: Sequence[Any],
                 range_flag: bool) -> tuple[Any, ...]:
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(
            "graphc: a parallel=True function was called in a process forked after Numba's "
            "GNU OpenMP threading layer started, which a forked child cannot use; running it "
            "on graphc's NumPy interpreter instead (slower). Use the 'spawn' or 'forkserver' "
            "start method, or `pip install tbb` (a fork-safe layer Numba then prefers).",
            GraphcWarning, stacklevel=3)
    arrays = [np.asarray(a, dtype=node.dtype) for a, node in zip(arguments, inputs)]
    binding = calling.bind(list(inputs), arrays, calling.collect_constraints(outputs))
    results = [np.array(r, copy=True) for r in
               interpret.evaluate(outputs, dict(zip(inputs, arrays)), binding)]
    values = [r[()] if node.ndim == 0 else r for r, node in zip(results, outputs)]
    return (*values, False) if range_flag else tuple(values)


def _before_fork() -> None:
    _lock.acquire()  # no parallel call is half-way through the workqueue at the fork


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    if _state["unsafe_parent"] or _started_unsafe_layer():
        _state["unsafe_child"] = True


def _started_unsafe_layer() -> bool:
    """Whether anyone (the user's own Numba code too) started a fork-unsafe layer before the fork."""
    started = numba_hooks.started_layer()
    return started is not None and not is_fork_safe(*started)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
