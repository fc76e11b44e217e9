"""The graph cache's entries, its size cap and least-recently-used eviction (`graphc cache`).

Owns what an entry of the cache directory (cache.cache_dir()) is -- a
generated module `graphc_<hash>.py` with its use mark `graphc_<hash>.used`
and its machine code `__pycache__/graphc_<hash>.*` (Numba's, or the direct path's
object files), or a simplified graph
`graphs/<key>.pickle` -- and the size cap: GRAPHC_CACHE_LIMIT (e.g. "200MB",
"0" for no cap), else the limit `graphc cache limit SIZE` saved in the
directory, else DEFAULT_LIMIT. After each new entry the least recently used
entries are removed until the cache is under the cap (entries are small, so
this rarely removes more than a few). graphc's own kernels are not here (see
kernels_dir in cache.py). Imports: the standard library only (cache.py calls it; callers pass the directory).
Entry points: `entries`, `limit`, `set_limit`, `clear`, `enforce_limit`, `parse_size`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

LIMIT_VARIABLE = "GRAPHC_CACHE_LIMIT"
LIMIT_FILE = "size-limit"  # in the cache directory: the cap `graphc cache limit` set
DEFAULT_LIMIT = 500 * 2**20
UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30}


@dataclass
class Entry:
    """One cached graph: its files, their total size and when it was last used."""

    name: str
    paths: list[Path] = field(default_factory=list)
    size: int = 0
    used: float = 0.0


def _add(entry: Entry, path: Path) -> None:
    try:
        status = path.stat()
    except OSError:
        return
    entry.paths.append(path)
    entry.size += status.st_size
    entry.used = max(entry.used, status.st_mtime)


def entries(directory: Path) -> list[Entry]:
    """Every entry of the cache directory, least recently used first."""
    root = directory
    found: dict[str, Entry] = {}
    if not root.is_dir():
        return []
    for path in root.glob("graphc_*"):
        stem = path.name.split(".", 1)[0]
        if path.suffix in (".py", ".used"):
            _add(found.setdefault(stem, Entry(stem)), path)
    for path in (root / "__pycache__").glob("graphc_*"):
        stem = path.name.split(".", 1)[0]
        _add(found.setdefault(stem, Entry(stem)), path)
    for path in (root / "graphs").glob("*.pickle"):
        _add(found.setdefault("graphs/" + path.stem, Entry("graphs/" + path.stem)), path)
    return sorted(found.values(), key=lambda e: e.used)


def parse_size(text: str) -> int:
    """"200MB", "1.5G", "0" (no cap) -> bytes; ValueError for anything else."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in UNITS:
        raise ValueError(f"not a size: {text!r} (expected e.g. 500MB, 2GB, 0 for no cap)")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def limit(directory: Path) -> tuple[int, str]:
    """(cap in bytes, where it comes from); 0 means no cap."""
    if os.environ.get(LIMIT_VARIABLE):
        return parse_size(os.environ[LIMIT_VARIABLE]), f"${LIMIT_VARIABLE}"
    saved = directory / LIMIT_FILE
    try:
        return parse_size(saved.read_text()), f"set with `graphc cache limit` ({saved})"
    except (OSError, ValueError):
        return DEFAULT_LIMIT, "default"


def set_limit(size: int, directory: Path) -> Path:
    root = directory
    root.mkdir(parents=True, exist_ok=True)
    path = root / LIMIT_FILE
    path.write_text(f"{size}\n", encoding="utf-8")
    return path


def _remove(entry: Entry) -> int:
    freed = 0
    for path in entry.paths:
        try:
            size = path.stat().st_size
            path.unlink()
            freed += size
        except OSError:
            pass
    return freed


def enforce_limit(directory: Path, keep: Path | None = None) -> int:
    """Remove least recently used entries until the cache is under its cap: the entries removed.

    Never fails a compile: an unreadable or read-only cache is left as it is.
    """
    try:
        cap, _ = limit(directory)
        if cap <= 0:
            return 0
        found = entries(directory)
        total = sum(e.size for e in found)
        removed = 0
        for entry in found:
            if total <= cap:
                break
            if keep is not None and entry.name == keep.stem:
                continue
            total -= _remove(entry)
            removed += 1
        return removed
    except (OSError, ValueError):
        return 0


def clear(directory: Path) -> tuple[int, int]:
    """Remove every entry (not the saved cap): (entries removed, bytes freed)."""
    found = entries(directory)
    return len(found), sum(_remove(e) for e in found)
