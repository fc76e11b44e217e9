"""Numba-compiling through a disk cache that may be damaged, foreign or full.

Why: Numba trusts its cache files. Random bytes in a `.nbc` data file end in
an unpickling error; a data file of another graph (two graphs' files
swapped) loads that graph's machine code for this one (silently wrong, or a
crash if the types differ); a full or read-only disk makes saving raise
OSError after the compile succeeded. `jit` turns each of these into "compile
again, with one CacheWarning": an unreadable or foreign entry is removed and
compiled afresh; when saving fails the function is compiled without the
disk cache and the directory is given up for the rest of the process
(trust.demote), so later graphs go to a private directory. Numba writes
each file through a temporary name and os.replace, and the index after the
data, so a failed save leaves no half-written entry behind.
A directory that was good at the process's first compile may become
read-only or vanish later: before each cached compile `jit` checks that
Numba can write beside the module (else Numba would quietly cache in its
own per-user directory, outside trust.py's checks), and `lazy` gives the
same recovery to kernel-mode dispatchers, which compile on their first call.
Imports: the standard library, cache, trust (layer L4; numba itself is
reached only through the callables jit.py passes, and numba_hooks). Entry
points: `jit(build, path, module, names)`; for kernel mode's shared kernels,
which compile on the graph's first call, `guard_lazy(dispatcher, path,
module)` (a damaged or foreign entry when loading, a failed save) and
`lazy(dispatcher, path, disable_cache)` (the directory gone or read-only
since the module was stored).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import cache, trust


class ForeignEntry(Exception):
    """The cache held machine code compiled from another module (a swapped data file)."""


def jit(build: Callable[[bool], Any], path: Path, module: Any, names: Sequence[str],
        fatal: tuple[type[BaseException], ...] = ()) -> Any:
    """`build(use_disk_cache)` -> the compiled dispatcher, recovering from cache faults.

    The dispatcher and `names` (the module's other jitted functions: parts)
    must hold machine code compiled from this module; `fatal` errors (a typing error in generated code) are
    not cache faults and propagate at once.
    """
    try:
        numba_can_cache(path)
        return _checked(build(True), module, names)
    except fatal:
        raise
    except OSError as exc:  # saving (or reading) failed: disk full, read-only, I/O error
        return _without_disk(build, path, exc)
    except Exception as exc:  # noqa: BLE001 - whatever a damaged entry raises
        if not cache.forget_compiled(path):
            raise  # nothing was cached: a compile error, not a cache fault
        trust.warn_once(f"graphc could not use the cached machine code of {path} "
                        f"({type(exc).__name__}: {_short(exc)}); removed it and compiling again")
    try:
        return _checked(build(True), module, names)
    except OSError as exc:
        return _without_disk(build, path, exc)


def numba_can_cache(path: Path) -> None:
    """Raise OSError unless Numba can cache beside `path` (its own test: a temporary file).

    Numba keeps machine code in `__pycache__` beside the module when it can
    write there and otherwise silently in its per-user directory, which
    trust.py never checked; so an unwritable directory is a fault here. A
    vanished `__pycache__` is made again 0700 (Numba would use the umask).
    NUMBA_CACHE_DIR, when set, is the user's choice and Numba's rules apply.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    pycache = path.parent / "__pycache__"
    trust.make_private_directory(pycache)
    tempfile.TemporaryFile(dir=pycache).close()


def lazy(dispatcher: Any, path: Path, disable_cache: Callable[[Any], bool],
         fatal: tuple[type[BaseException], ...] = ()) -> None:
    """Give a dispatcher that compiles on its first call (a kernel-mode kernel) `jit`'s recovery.

    Wraps `dispatcher.compile`: a save that fails (the directory became
    read-only, vanished or filled since the module was stored) turns the
    disk cache off for this dispatcher (`disable_cache`) and gives the
    directory up; a damaged entry is removed and compiled again. Numba adds
    the compiled overload before saving it, so the retry after a failed save
    does not compile twice.
    """
    compile_ = dispatcher.compile

    def compile_recovering(signature: Any) -> Any:
        try:
            numba_can_cache(path)  # a vanished directory is made again 0700, not by Numba
            return compile_(signature)
        except fatal:
            raise
        except OSError as exc:
            give_up(path, exc)
            disable_cache(dispatcher)
            return compile_(signature)
        except Exception as exc:  # noqa: BLE001 - whatever a damaged entry raises
            if not cache.forget_compiled(path):
                raise
            trust.warn_once(f"graphc could not use the cached machine code of {path} "
                            f"({type(exc).__name__}: {_short(exc)}); removed it and compiling again")
            return compile_(signature)

    dispatcher.compile = compile_recovering


def _without_disk(build: Callable[[bool], Any], path: Path, exc: OSError) -> Any:
    """Compile without Numba's disk cache; later graphs go to a private directory."""
    give_up(path, exc)
    return build(False)


def give_up(path: Path, exc: OSError) -> None:
    """Remove what may be half-saved, stop using the directory for this process, warn once."""
    cache.forget_compiled(path)
    reason = exc.strerror or str(exc)
    trust.demote(path.parent, f"could not be written ({reason})",
                 "free some space or make it writable, or set GRAPHC_CACHE_DIR elsewhere")
    trust.warn_once(f"graphc could not save machine code in {path.parent} ({reason}); "
                    "compiling without the disk cache, and in a private temporary directory "
                    "for the rest of this process")


def _checked(dispatcher: Any, module: Any, names: Sequence[str]) -> Any:
    """The dispatcher, after checking that every loaded overload was compiled from `module`."""
    expected = getattr(module, "__name__", None)
    for function in (dispatcher, *(getattr(module, name, None) for name in names)):
        for result in getattr(function, "overloads", {}).values():
            found = getattr(getattr(result, "fndesc", None), "modname", expected)
            if found != expected:
                raise ForeignEntry(f"{expected} was loaded with machine code of {found}")
    return dispatcher


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]


def guard_lazy(dispatcher: Any, path: Path, module: Any) -> bool:
    """Recover a lazily compiled dispatcher (a shared kernel) from a damaged, foreign or
    unwritable cache entry: the entry is removed, Numba compiles, one CacheWarning says so.

    A failed save is not a fault of the entry: the code compiled is kept, and the
    directory is given up for the rest of the process as in `jit`.
    """
    from . import numba_hooks

    def fault(reason: str) -> None:
        if reason.startswith("saving failed"):
            cache.forget_compiled(path)
            trust.demote(path.parent, "could not be written",
                         "free some space or make it writable, or set GRAPHC_CACHE_DIR elsewhere")
            trust.warn_once(f"graphc could not save machine code in {path.parent} ({reason}); "
                            "later graphs of this process use a private temporary directory")
            return
        cache.forget_compiled(path)
        trust.warn_once(f"graphc could not use the cached machine code of {path} ({reason}); "
                        "removed it and compiling again")

    return numba_hooks.guard_cache(dispatcher, fault, getattr(module, "__name__", path.stem))
