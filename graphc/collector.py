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
Nesting and threads: only the outermost `paused()` of a process that found the
collector running starts it again, and a collector the user disabled stays
disabled.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Run the body with the cyclic collector off (as it was found afterwards)."""
    running = gc.isenabled()
    if running:
        gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()
