"""Numba set-up a process pays only when it compiles: hooks run just before the first compile.

Owns: `before_compiling(*hooks)` (run hooks just before Numba first imports
`numba.np.arraymath`, which every compile's target set-up does before it
types anything; at once if that happened already) and `cheap_array_typeof()`
(Numba types an ndarray argument without importing `numpy.ma`).
Imports: numba, lazily; the standard library.

Why: a process that only LOADS cached machine code (a warm start, or a new
graph built from known kernels, issue 17) compiles nothing, yet paid for
set-up only a compile needs: `install_shape_errors` imports
`numba.np.arrayobj` (with its string and hashing modules: ~30 ms) and
`defer_blas_import` `numba.np.linalg`; and Numba's first call with an array
argument types it in Python (`typeof`), whose check `isinstance(val,
np.ma.MaskedArray)` imports `numpy.ma` (~30 ms). Together ~60 ms of a
64-layer MLP's 0.2 s warm start. A hook deferred here still runs before the
compile that needs it: Numba's target set-up (`BaseContext.refresh`, called
by every compile) imports linalg, arraymath and arrayobj, in that order.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from typing import Any

from .state import installed_once

TRIGGER = "numba.np.arraymath"  # imported by Numba's target set-up, before any typing
# The names Numba's own `_typeof_ndarray` uses (Numba 0.60-0.68): a Numba whose function
# reads anything else keeps its own (cheap_array_typeof's feature check).
_TYPEOF_NAMES = ("isinstance", "np", "ma", "MaskedArray", "errors", "NumbaTypeError",
                 "numpy_support", "from_dtype", "dtype", "NumbaNotImplementedError",
                 "NumbaValueError", "map_layout", "flags", "writeable", "types", "Array", "ndim")


class _BeforeImport:
    """A meta-path finder that finds nothing: it runs the waiting hooks when `TRIGGER` is
    first looked for, then leaves the import to the finders after it."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], Any]] = []
        self.triggered = False  # TRIGGER was looked for: its import began (maybe in another thread)
        self.lock = threading.RLock()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name == TRIGGER:
            with self.lock:
                self.triggered = True
                hooks, self.waiting = self.waiting, []  # cleared first: a hook may import more
            for hook in hooks:
                hook()
        return None

    def invalidate_caches(self) -> None:
        """Nothing cached (importlib.invalidate_caches calls every finder's)."""


_FINDER = _BeforeImport()


def before_compiling(*hooks: Callable[[], Any]) -> None:
    """Run `hooks` just before Numba's first compile in this process (now, if one happened).

    Each hook runs once per call of this function; they are idempotent (numba_hooks).
    Deciding and queueing happen under the finder's lock: a hook queued while another
    thread begins importing TRIGGER is either taken by that import's lookup or run here.
    """
    with _FINDER.lock:
        if not (_FINDER.triggered or TRIGGER in sys.modules):
            if _FINDER not in sys.meta_path:
                sys.meta_path.insert(0, _FINDER)
            _FINDER.waiting.extend(h for h in hooks if h not in _FINDER.waiting)
            return
    for hook in hooks:
        hook()


def masked_arrays_possible() -> bool:
    """Whether numpy.ma is loaded: no MaskedArray can exist before (it is defined there)."""
    return "numpy.ma" in sys.modules


@installed_once("array_typeof")
def cheap_array_typeof() -> bool:
    """Numba types an ndarray argument without importing numpy.ma while no MaskedArray can exist.

    Numba's `typeof` for ndarray first rejects masked arrays with
    `isinstance(val, np.ma.MaskedArray)`; NumPy imports `numpy.ma` on that
    attribute access (~30 ms, once per process, on the first call of any
    dispatcher). Until something imports numpy.ma no MaskedArray exists, so
    the check cannot fire: this typeof answers as Numba's does (same dtype
    error, layout and read-only flag) without it, and hands every call to
    Numba's own function once numpy.ma is loaded. Applies only when Numba's
    function reads exactly the names it is known to (`_TYPEOF_NAMES`); else
    Numba's stays. Idempotent; returns whether the hook is active.
    """
    import numpy as np
    from numba.core import errors, types
    from numba.core.typing import typeof
    from numba.np import numpy_support

    original: Any = typeof.typeof_impl.dispatch(np.ndarray)
    code = getattr(original, "__code__", None)
    if code is None or tuple(code.co_names) != _TYPEOF_NAMES:
        return False

    def typeof_ndarray(val: Any, c: Any) -> Any:
        if masked_arrays_possible():  # Numba's own check, then
            return original(val, c)
        try:
            dtype = numpy_support.from_dtype(val.dtype)
        except errors.NumbaNotImplementedError:
            raise errors.NumbaValueError(f"Unsupported array dtype: {val.dtype}") from None
        layout = numpy_support.map_layout(val)
        return types.Array(dtype, val.ndim, layout, readonly=not val.flags.writeable)

    typeof_ndarray.__wrapped__ = original  # type: ignore[attr-defined]  # Numba's own (for tests)
    typeof.typeof_impl.register(np.ndarray, typeof_ndarray)
    return True
