"""numba imported in a thread of the caller after the tiered start's first result; forks wait for it.

Owns: `start()` (the thread), `_finish_preloads` (a hook before every fork of
this process). Imports: threading, os, jit.import_numba (layer L4). Entry point:
backend/tiered_process.py, after the NumPy tier's first result.

Why: the switch to the Numba tier loads machine code, which needs numba
imported (~0.2-0.3 s idle). Imported in a thread while the worker still
compiles, it is done by the switch; the NumPy tier's calls share the GIL with
it meanwhile. Only numba itself (`jit.import_numba` never imports graphc, so no
import-lock cycle with the caller's own imports).

A child forked mid-import would find the half-imported modules' import locks
held by a thread it does not have, and hang the first time it imports numba
(say, a fork start method's pool worker that calls the function). So every
fork of this process first waits for such an import to finish (FORK_PATIENCE
at most: a fork made while the forking thread holds an import lock the import
needs).
"""

from __future__ import annotations

import os
import threading

from .jit import import_numba

_PRELOADS: list[threading.Thread] = []  # numba imports running in threads
FORK_PATIENCE = 10.0  # seconds a fork waits for such an import to finish (_finish_preloads)


def start() -> threading.Thread:
    """A daemon thread, started, that imports numba; the switch joins it before loading."""
    thread = threading.Thread(target=_import_numba, name="graphc-import-numba", daemon=True)
    _PRELOADS.append(thread)
    thread.start()
    return thread


def _import_numba() -> None:
    try:
        import_numba()
    except Exception:  # noqa: BLE001, S110 - the switch imports it again and reports why
        pass
    finally:
        _PRELOADS.remove(threading.current_thread())


def _finish_preloads() -> None:
    for thread in list(_PRELOADS):
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(FORK_PATIENCE)


if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(before=_finish_preloads)
