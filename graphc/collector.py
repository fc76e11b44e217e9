"""The cyclic garbage collector paused over graphc's own Python stages of a compile (layer L0).

Owns `paused()`, a context manager. Imports: the standard library only.

Why: simplifying and generating the code of a graph allocate many small
objects (nodes, tuples, dicts, lines) that live until the stage ends, so the
collector's generation-0 and -1 passes keep walking objects that are not
garbage: ~50 collections, ~15-20 ms of a 64-layer MLP's ~0.2 s simplify and
lowering (CPU, measured in one process, collector on against off, 6 runs
each). These stages make no reference cycles that must be freed before they
end; whatever cycles they leave are collected by the next automatic
collection after the collector is running again.
Nesting and threads: the collector's switch is process-wide, so pauses are
counted process-wide (under a lock): the first pause to begin turns the
collector off if it was running, and only the last one to end (in whichever
thread) turns it on again; a collector the user disabled before stays disabled.
(A flag per `paused()` restarted it when the first of two overlapping threads'
pauses ended, while the other thread was still simplifying.)
Fork: a child forked while another thread was paused has no such thread, so
nothing would restart its collector: the child's copy starts with no pause
running and its collector as found before the pauses (`_forked`).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
_state = {"depth": 0, "restart": False}  # pauses running now (all threads); whether to restart


@contextmanager
def paused() -> Iterator[None]:
    """Run the body with the cyclic collector off (as found before the first pause, afterwards)."""
    counted = False  # set with the count, so an exception before the `try` cannot leak it
    try:
        with _LOCK:
            if _state["depth"] == 0:
                _state["restart"] = gc.isenabled()
                if _state["restart"]:
                    gc.disable()
            _state["depth"] += 1
            counted = True
        yield
    finally:
        if counted:
            with _LOCK:
                # (depth 0: this pause began before a fork, in this forked child: _forked)
                _state["depth"] = max(0, _state["depth"] - 1)
                if _state["depth"] == 0 and _state["restart"]:
                    _state["restart"] = False
                    gc.enable()


def _forked() -> None:
    """In a forked child: no pause of the parent's threads runs here (and the lock may have been
    held by one of them at the fork): a fresh lock, no pause, the collector as it was found."""
    global _LOCK
    _LOCK = threading.Lock()
    restart = _state["depth"] > 0 and _state["restart"]
    _state.update(depth=0, restart=False)
    if restart:
        gc.enable()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
