"""A rerolled loop (codegen/reroll.py) that Numba cannot compile runs as plain Python instead.

Owns `guarded(dispatcher, original)`. Why: the loop function is made of the
graph function's own statements, each of which Numba compiles elsewhere
(a one-function graph, a scan body), but a statement only the kernel-mode
Python function ever ran could still fail Numba's typing; then the user
would get a Numba traceback from their first call. The loop's source is
valid Python calling the same kernels and jitted helpers, so on a compile
error (raised before the loop runs a single step) the call is repeated by
the plain function: slower, the same results. Imports: nothing (a Numba
error is known by its class's name, so numba stays in its homes).
Entry point: jit._shared_kernel (a re-rolled loop's module).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Guarded:
    """The jitted loop; on a Numba compile error, its plain Python function from then on."""

    def __init__(self, dispatcher: Any, original: Callable[..., Any]) -> None:
        self.function, self.original = dispatcher, original
        self.fell_back: str | None = None  # the compile error's first line, after a fall-back

    def __call__(self, *arguments: Any) -> Any:
        try:
            return self.function(*arguments)
        except Exception as exc:
            compile_error = any(c.__name__ == "NumbaError" for c in type(exc).__mro__)
            if self.function is self.original or not compile_error:
                raise
            self.fell_back = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.function = self.original
            return self.original(*arguments)


def guarded(dispatcher: Any, original: Callable[..., Any]) -> Guarded:
    return Guarded(dispatcher, original)
