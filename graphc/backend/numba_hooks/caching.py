"""Numba-internal hooks of graphc's disk cache (part of graphc.backend.numba_hooks).

Owns: `disable_disk_cache(dispatcher)`, `install_kernel_locator()` (where
kernel-mode kernels cache), `light_cache_loads(dispatcher)` (a warm load
without Numba's full target set-up) and `guard_cache(dispatcher, fault)` (a
damaged or foreign cache entry of a lazily compiled kernel). Imports: numba,
lazily, and .state. Entry points: re-exported by graphc.backend.numba_hooks,
whose docstring says why hooks at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .state import HOOKS

# Per-process: whether the cache locator is installed in this process's Numba.
_KERNEL_LOCATOR: list[bool] = []


def disable_disk_cache(dispatcher: Any) -> bool:
    """Stop a dispatcher from loading or saving machine code on disk (its later compiles).

    Why: a kernel-mode kernel compiles on its first call; if its cache
    directory became read-only or vanished since, saving fails after the
    compile (recovery.lazy). Numba has no public way to turn caching off on
    an existing dispatcher; its constructor's `NullCache` is what `cache=False`
    gives. Returns whether it applied (without it the error propagates).
    """
    from numba.core import caching

    null = getattr(caching, "NullCache", None)
    if null is None or not hasattr(dispatcher, "_cache"):
        return False
    dispatcher._cache = null()
    return True



def install_kernel_locator() -> bool:
    """Cache graphc's own jitted functions where every user of an installation finds them.

    Why: Numba caches a `cache=True` function in the `__pycache__` beside its
    source only when that is writable; in a shared install (root ran `graphc
    warmup` into site-packages) other users recompile everything (~7 s) into
    ~/.cache/numba. This locator, consulted before Numba's own, gives such a
    user a per-installation copy (cache.user_kernels_dir) seeded from the
    package's warm cache. Numba has no public way to add a cache locator, so
    this inserts one into `_CacheImpl._locator_classes`; without those
    internals it does nothing (Numba's default behaviour). Idempotent;
    NUMBA_CACHE_DIR still wins. Tested by tests/test_cli.py's shared-install case.
    """
    if _KERNEL_LOCATOR:
        return True
    import os
    from pathlib import Path

    import numba

    from .. import cache

    caching = numba.core.caching
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    in_tree = (getattr(caching, "InTreeCacheLocator", None)
               or getattr(caching, "_InTreeCacheLocator", None))
    if impl is None or in_tree is None or not hasattr(impl, "_locator_classes"):
        return False
    _KERNEL_LOCATOR.append(True)
    backend = Path(cache.__file__).resolve().parent

    class KernelLocator(in_tree):  # type: ignore[misc, valid-type]
        def __init__(self, py_func: Any, py_file: str) -> None:
            super().__init__(py_func, py_file)
            self._cache_path = str(cache.user_kernels_dir())

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            source = Path(py_file).resolve()
            if backend not in source.parents or numba.config.CACHE_DIR:  # type: ignore[attr-defined]
                return None  # not graphc's, or NUMBA_CACHE_DIR: Numba's own locators
            in_package = source.parent / "__pycache__"
            if not os.environ.get(cache.KERNELS_VARIABLE) and cache.writable(in_package):
                return None  # Numba's in-tree locator: the package's __pycache__
            locator = cls(py_func, py_file)
            if not cache.writable(Path(locator._cache_path)):
                return None
            cache.seed(in_package, Path(locator._cache_path), source.stem)
            return locator

    classes = impl._locator_classes
    position = 1 if classes and "UserProvided" in classes[0].__name__ else 0
    classes.insert(position, KernelLocator)
    HOOKS["kernel_locator"] = True
    return True



def light_cache_loads(dispatcher: Any) -> bool:
    """Load this dispatcher's cached machine code without Numba's whole target set-up.

    Why: before it loads a cached overload Numba calls `target_context.refresh()`,
    which imports and installs every lowering registry it has (typed containers,
    random, datetime, linalg, ...): 0.5-0.6 s of CPU once per process, the largest
    part of a warm start (a graph already in the disk cache, loaded in a fresh
    process). Loading machine code needs only the runtime's (NRT) symbols, which
    this initializes; the registries matter to a compile, and a compile still
    refreshes first (`compiler.compile_extra`). A load that misses or fails goes
    on through Numba's own `load_overload` (refresh, then load), so the worst
    case is Numba's behaviour. Set on one dispatcher's cache object, not on the
    class: a user's own cached functions keep Numba's path. Returns whether the
    hook applied (not with `cache=False`, or without these internals).
    """
    cache: Any = getattr(dispatcher, "_cache", None)
    original = getattr(cache, "load_overload", None)
    load = getattr(cache, "_load_overload", None)
    try:
        from numba.core.runtime import rtsys
    except ImportError:  # a Numba that moved its runtime
        HOOKS["light_cache_loads"] = False
        return False
    HOOKS.setdefault("light_cache_loads", hasattr(rtsys, "initialize"))
    if not HOOKS["light_cache_loads"] or original is None or load is None:
        return False

    def load_overload(signature: Any, target_context: Any) -> Any:
        try:
            rtsys.initialize(target_context)
            found = load(signature, target_context)
        except Exception:  # noqa: BLE001 - Numba's own path decides (and reports) below
            found = None
        return found if found is not None else original(signature, target_context)

    cache.load_overload = load_overload
    return True



def guard_cache(dispatcher: Any, fault: Callable[[str], None], expected_module: str) -> bool:
    """Turn a damaged or foreign disk-cache entry of `dispatcher` into a fresh compile.

    Why: a lazily compiled function (kernel mode's shared kernels compile on
    the graph's first call) cannot be rebuilt from outside the way
    recovery.jit rebuilds an eagerly compiled one, because the graph module
    already holds its dispatcher. Numba's `Dispatcher.compile` asks
    `dispatcher._cache.load_overload(signature, context)` first and compiles
    when it returns None; this wraps that call on this one dispatcher: an
    entry that raises while loading (random bytes, a torn file), or holds
    machine code compiled from another module than `expected_module` (two
    data files swapped), calls `fault(reason)` (which removes the entry and
    warns) and returns None, so Numba compiles and saves a good entry. Also
    wraps `save_overload`: an OSError while saving (full or read-only disk)
    calls `fault` and keeps the compiled code. Returns whether it applied.
    """
    cache: Any = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "load_overload", None)
    save = getattr(cache, "save_overload", None)
    HOOKS["guard_cache"] = load is not None and save is not None
    if load is None or save is None:
        return False

    def load_overload(signature: Any, context: Any) -> Any:
        try:
            result = load(signature, context)
        except Exception as exc:  # noqa: BLE001 - whatever a damaged entry raises
            fault(f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
            return None
        found = getattr(getattr(result, "fndesc", None), "modname", expected_module)
        if result is not None and found != expected_module:
            fault(f"it holds the machine code of {found}")
            return None
        return result

    def save_overload(signature: Any, data: Any) -> None:
        try:
            save(signature, data)
        except OSError as exc:
            fault(f"saving failed: {exc.strerror or exc}")

    cache.load_overload = load_overload
    cache.save_overload = save_overload
    return True
