"""The on-disk cache of generated modules: where it lives and how entries are written.

Owns the cache directory (GRAPHC_CACHE_DIR, else the user cache dir:
$XDG_CACHE_HOME/graphc or ~/.cache/graphc; ~/Library/Caches/graphc on macOS;
%LOCALAPPDATA%/graphc on Windows), naming a source file by the hash of its
text, and writing it atomically (temporary file + os.replace). An existing
file with the right content is never rewritten, because Numba's own cache
(`__pycache__/*.nbi|*.nbc` beside it) is keyed on the file's timestamp. An
entry whose content does not match its name (a torn or edited file) is
rewritten and its stale Numba cache files are removed. Imports: standard
library only (layer L4); entry point `store(source)`. Entries are marked
used (mark_used) and the cache is kept under its size cap by cachesize.py.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

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
        mark_used(path)
        return path, True
    if existing is not None:
        forget_compiled(path)
    write_atomic(path, source)
    mark_used(path)
    from .cachesize import enforce_limit  # a new entry may take the cache over its cap

    enforce_limit(directory, keep=path)
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


# ---------------------------------------------------------------- size cap (graphc cache)
# Kept apart from store()'s writing: see graphc/backend/cachesize.py for the entries, the
# size cap and least-recently-used eviction. store() only marks an entry used.

def mark_used(path: Path) -> None:
    """Record that a generated module was used now, for least-recently-used eviction.

    The mark is a separate empty file (`graphc_<hash>.used`): the module's own
    timestamp must not change, because Numba's cache is keyed on it.
    """
    marker = path.with_suffix(".used")
    try:
        marker.touch()
        os.utime(marker)
    except OSError:  # a read-only cache only loses the ordering
        pass


# ---------------------------------------------------------------- graphc's own kernels
# Numba caches graphc's kernels, helpers and block interpreter (cache=True functions in
# graphc/backend/) in `__pycache__` next to the package when that is writable. In a shared
# install (root ran `graphc warmup` into site-packages) it is not writable for other users,
# and Numba then ignores it and compiles everything again into ~/.cache/numba. The locator
# below keeps the package's cache for them: their own kernel cache starts as a copy of it.

KERNELS_VARIABLE = "GRAPHC_KERNEL_CACHE_DIR"
_PACKAGE_BACKEND = Path(__file__).resolve().parent
_installed: list[bool] = []
_seeded: set[str] = set()


def user_cache_root() -> Path:
    """The per-user cache root of the platform (~/.cache, ~/Library/Caches, %LOCALAPPDATA%)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def writable(directory: Path) -> bool:
    """Whether this process can create files in `directory` (made if missing), as Numba tests it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
        return True
    except OSError:
        return False


def package_kernels_dir() -> Path:
    return _PACKAGE_BACKEND / "__pycache__"


def user_kernels_dir() -> Path:
    """Where a user who cannot write the package keeps graphc's kernels (one per installation)."""
    override = os.environ.get(KERNELS_VARIABLE)
    if override:
        return Path(override).expanduser()
    tag = hashlib.sha1(str(_PACKAGE_BACKEND).encode()).hexdigest()[:12]
    return user_cache_root() / "graphc-kernels" / tag


def kernels_dir() -> tuple[Path, bool]:
    """(where graphc's kernels are cached, whether that is the installation's shared copy)."""
    if os.environ.get(KERNELS_VARIABLE):
        return user_kernels_dir(), False
    if writable(package_kernels_dir()):
        return package_kernels_dir(), True
    return user_kernels_dir(), False


def describe_kernels() -> str:
    directory, shared = kernels_dir()
    if shared:
        return f"{directory} (next to the package: one `graphc warmup` serves every user)"
    return (f"{directory} (this user's copy: the package's cache {package_kernels_dir()} is "
            "not writable here; its warm kernels are copied in when first needed)")


def _seed(source: Path, target: Path, module: str) -> None:
    """Copy the package's cached machine code for `module` (kernels, library, ...) to `target`.

    Numba's index files record the source file's hash, which is the same
    file for every user, so the copies load as they are; a file the user
    already has is replaced only by a newer one (a later warm-up).
    """
    if module in _seeded or not source.is_dir():
        return
    _seeded.add(module)
    for path in source.glob(f"{module}.*"):
        if path.suffix not in (".nbi", ".nbc"):
            continue
        copy = target / path.name
        try:
            if not copy.exists() or copy.stat().st_mtime < path.stat().st_mtime:
                write_atomic(copy, path.read_bytes())
        except OSError:
            pass


def install_kernel_locator(numba: Any) -> None:
    """Make Numba cache graphc's own functions as described above (idempotent).

    `numba` is the imported numba module (graphc/backend/compile.py owns the
    import). NUMBA_CACHE_DIR, when set, still wins.
    """
    if _installed:
        return
    _installed.append(True)
    caching = numba.core.caching
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    in_tree = (getattr(caching, "InTreeCacheLocator", None)
               or getattr(caching, "_InTreeCacheLocator", None))
    if impl is None or in_tree is None:  # an unknown Numba: keep its own locators
        return

    class KernelLocator(in_tree):  # type: ignore[misc, valid-type]
        def __init__(self, py_func: Any, py_file: str) -> None:
            super().__init__(py_func, py_file)
            self._cache_path = str(user_kernels_dir())

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            source = Path(py_file).resolve()
            if source.parent != _PACKAGE_BACKEND or numba.config.CACHE_DIR:
                return None  # not graphc's, or NUMBA_CACHE_DIR: Numba's own locators
            if not os.environ.get(KERNELS_VARIABLE) and writable(package_kernels_dir()):
                return None  # Numba's in-tree locator: the package's __pycache__
            locator = cls(py_func, py_file)
            if not writable(Path(locator._cache_path)):
                return None
            _seed(package_kernels_dir(), Path(locator._cache_path), source.stem)
            return locator

    classes = impl._locator_classes
    position = 1 if classes and "UserProvided" in classes[0].__name__ else 0
    classes.insert(position, KernelLocator)


def kernels_cached() -> bool:
    """Whether graphc's kernels have machine code in the cache (a warm-up or an earlier compile)."""
    directory, _ = kernels_dir()
    return any(directory.glob("kernels.*.nbi")) or any(package_kernels_dir().glob("kernels.*.nbi"))
