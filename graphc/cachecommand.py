"""`graphc cache`: where compiled code is kept, how much, and its size cap (layer L5).

    graphc cache [info]          location, entries, size and cap; where graphc's kernels live
    graphc cache clear           remove every entry and remembered compile failure (the cap stays)
    graphc cache limit [SIZE]    show or set the cap (200MB, 2GB, 0 for none)

The cache itself is graphc/backend/cache.py (writing entries, kernels'
location) and graphc/backend/cachesize.py (entries, cap, eviction).
Imports: backend.cache, backend.cachesize, backend.compile_locks, errors. Entry points:
`add_parser` (used by graphc.cli) and `plural`.
"""

from __future__ import annotations

import argparse
from typing import Any

from .errors import GraphcError


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def run(arguments: argparse.Namespace) -> int:
    from .backend import cache as kernels_cache
    from .backend import cachesize, compile_locks, trust

    action = arguments.action or "info"
    root = kernels_cache.cache_dir()
    if action != "info" and trust.directory(root) != root:  # never clear what we do not own
        raise GraphcError(f"the cache directory {root} cannot be trusted (see the warning above); "
                          "graphc leaves it alone")
    if action == "info":
        found = cachesize.entries(root)
        cap, source = cachesize.limit(root)
        print(f"graph cache: {kernels_cache.cache_dir()}")
        print(f"  {plural(len(found), 'entry', 'entries')}, {_size(sum(e.size for e in found))}; "
              f"size cap {_size(cap) if cap else 'none'} ({source}); "
              "least recently used entries go first")
        print(f"graphc's own kernels: {kernels_cache.describe_kernels()}")
    elif action == "clear":
        count, freed = cachesize.clear(root)
        forgotten = compile_locks.forget_failures(root)
        failed = plural(forgotten, "remembered compile failure", "remembered compile failures")
        failures = f" and {failed}" if forgotten else ""
        print(f"removed {plural(count, 'entry', 'entries')} ({_size(freed)}){failures} from "
              f"{kernels_cache.cache_dir()}")
    else:  # limit
        if arguments.size is None:
            cap, source = cachesize.limit(root)
            print(f"size cap: {_size(cap) if cap else 'none'} ({source})")
            return 0
        try:
            size = cachesize.parse_size(arguments.size)
        except ValueError as exc:
            raise GraphcError(str(exc)) from None
        path = cachesize.set_limit(size, root)
        removed = cachesize.enforce_limit(root)
        print(f"size cap {_size(size) if size else 'none'} saved in {path}"
              + (f"; removed {plural(removed, 'entry', 'entries')}" if removed else ""))
    return 0


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def add_parser(commands: Any) -> None:
    summary = ("the graph cache (generated modules, their machine code, simplified graphs): "
               "info (default), clear, or limit [SIZE]")
    sub = commands.add_parser("cache", help=summary, description=summary + ". The cache lives in "
                              "$GRAPHC_CACHE_DIR, else the user cache directory; it is kept "
                              "under a size cap (default 500MB; $GRAPHC_CACHE_LIMIT overrides "
                              "`limit`) by removing the least recently used entries.")
    sub.add_argument("action", nargs="?", choices=["info", "clear", "limit"], default="info")
    sub.add_argument("size", nargs="?", help="for limit: the cap, e.g. 200MB, 2GB, 0 for none")
    sub.set_defaults(handler=run)
