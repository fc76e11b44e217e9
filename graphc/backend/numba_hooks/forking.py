"""Numba's set-up done, and Numba's and llvmlite's locks held, around a fork of a compiling process.

Owns: `ready_to_fork()`. Imports: numba and llvmlite internals, lazily. Entry
point: backend/fork_compile.py, which forks a child to compile some of a cold
graph's kernels while this process compiles the others.

Why: a forked child should inherit a finished Numba set-up (the ~0.15 s of
`refresh()` every process pays before its first compile), so it is run here
once, before the fork, instead of once in each process. And a forked child has
only the thread that forked: a lock that another thread held at that moment
stays held in the child for good. Holding Numba's compiler lock and
llvmlite's library lock across the fork makes sure no other thread is inside
a compile or an LLVM call then; the forking thread itself lives on in both
processes (same thread id), so each releases its copy when the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager


@contextmanager
def ready_to_fork() -> Iterator[None]:
    """Run Numba's set-up, then hold its compiler lock and llvmlite's lock while the caller forks."""
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
    with ExitStack() as stack:
        stack.enter_context(global_compiler_lock)
        try:
            from llvmlite.binding import ffi
            llvm_lock = ffi.lib._lock  # the lock around every LLVM C-API call
        except (ImportError, AttributeError):  # another llvmlite: Numba's lock must do
            llvm_lock = None
        if hasattr(llvm_lock, "__enter__"):
            stack.enter_context(llvm_lock)
        yield
