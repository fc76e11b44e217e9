"""The on-disk cache of generated modules: where it lives and how entries are written.

Owns the cache directory (GRAPHC_CACHE_DIR, else the user cache dir:
$XDG_CACHE_HOME/graphc or ~/.cache/graphc; ~/Library/Caches/graphc on macOS;
%LOCALAPPDATA%/graphc on Windows), naming a source file by the hash of its
text, and writing it atomically (temporary file + os.replace). An existing
file with the right content is never rewritten, because Numba's own cache
(`__pycache__/*.nbi|*.nbc` beside it) is keyed on the file's timestamp. An
entry whose content does not match its name (a torn or edited file) is
rewritten and its stale Numba cache files are removed. Imports: standard
library only (layer L4); entry point `store(source)`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path

ENVIRONMENT_VARIABLE = "GRAPHC_CACHE_DIR"


def cache_dir() -> Path:
    """The directory generated modules and Numba's machine code go to (created on demand)."""
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "graphc"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


# The sources linked into (or interpreting for) every generated module: part of its cache key.
LINKED_SOURCES = ("kernels.py", "library.py", "policy.py", "interpreter/opcodes.py",
                  "interpreter/program.py", "interpreter/run.py")


@functools.cache
def code_version() -> str:
    """The text of what generated code links in, and Numba's version: part of every key.

    Numba's version is read from its installed metadata, not by importing it:
    a tiered start must not wait for `import numba` (~0.4 s).
    """
    here = Path(__file__).parent
    texts = [(here / name).read_text() for name in LINKED_SOURCES]
    return digest("".join(texts) + importlib.metadata.version("numba"))


def module_name(key: str) -> str:
    """The module (and file) name of a generated source: graphc_<hash of its key>."""
    return f"graphc_{digest(key)}"


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` so readers see either no file or the whole file, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode() if isinstance(text, str) else text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def store(source: str, key: str) -> tuple[Path, bool]:
    """Put the source in the cache under the hash of `key` (the source plus what it links).

    Returns its path and whether a good copy was there already.
    """
    directory = cache_dir()
    path = directory / (module_name(key) + ".py")
    try:
        existing = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        existing = None
    if existing == source:
        return path, True
    if existing is not None:
        forget_compiled(path)
    write_atomic(path, source)
    return path, False


def forget_compiled(path: Path) -> None:
    """Remove Numba's cached machine code for a source file (after a corrupt or stale entry)."""
    pycache = path.parent / "__pycache__"
    if not pycache.is_dir():
        return
    for entry in pycache.glob(path.stem + ".*"):
        if entry.suffix in (".nbi", ".nbc"):
            try:
                entry.unlink()
            except OSError:
                pass
