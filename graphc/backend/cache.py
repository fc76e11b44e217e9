"""The on-disk cache of generated modules: where it lives and how entries are written.

Owns the cache directory (GRAPHC_CACHE_DIR, else the user cache dir:
$XDG_CACHE_HOME/graphc or ~/.cache/graphc; ~/Library/Caches/graphc on macOS;
%LOCALAPPDATA%/graphc on Windows), naming a source file by the hash of its
text, and writing it atomically (temporary file + os.replace). An existing
file with the right content is never rewritten, because Numba's own cache
(`__pycache__/*.nbi|*.nbc` beside it) is keyed on the file's timestamp. An
entry whose content does not match its name (a torn or edited file) is
rewritten and its stale Numba cache files are removed. Whether the
directory may be used at all (owner, modes, symlinks) is trust.py's job.
Entries are marked used (mark_used) and the cache is kept under its size cap
by cachesize.py. Imports: standard library, errors, trust (layer L4); entry
point `store(source)`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType, ModuleType

from ..errors import GraphcError
from . import cachesize, trust

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
LINKED_SOURCES = ("kernels.py", *(f"transcendental/{name}.py" for name in (
                      "__init__", "precision", "exp_log", "activation", "trig", "generate")),
                  "library.py", "policy.py", "interpreter/opcodes.py",
                  "interpreter/program.py", "interpreter/run.py",
                  "../threefry.py",  # the random helpers' code (library_random re-exports it)
                  "numba_hooks/lean.py")  # how a kernel's CPython wrapper is compiled


@functools.cache
def code_version() -> str:
    """The text of what generated code links in, and Numba's version: part of every key.

    Numba's version is read from its installed metadata, not by importing it:
    a tiered start must not wait for `import numba` (~0.4 s).
    """
    here = Path(__file__).parent
    families = sorted(path.name for path in here.glob("library_*.py"))  # op families' helpers
    texts = [(here / name).read_text() for name in (*LINKED_SOURCES, *families)]
    return digest("".join(texts) + numba_version())


def numba_version() -> str:
    """Numba's installed version (importlib.metadata.version's answer), without `import numba`.

    Read from the METADATA beside the package Python would import; importing
    importlib.metadata itself (~30-70 ms: it pulls in email and socket) is the
    fallback when that file is not where an installed wheel keeps it.
    """
    spec = importlib.util.find_spec("numba")  # a top-level package: found, not imported
    if spec is not None and spec.origin:
        for info in Path(spec.origin).parents[1].glob("numba-*.dist-info"):
            try:
                with open(info / "METADATA", encoding="utf-8") as stream:
                    for line in stream:
                        if line.startswith("Version:"):
                            return line.split(":", 1)[1].strip()
                        if not line.strip():
                            break  # the headers ended without a version
            except OSError:
                break
    from importlib import metadata

    return metadata.version("numba")


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

    Returns its path and whether a good copy was there already. The directory
    is the configured one if it can be trusted (trust.py), else a private
    one; a write that fails (disk full, read-only) moves this process to the
    private directory with a CacheWarning instead of failing the compile.
    """
    configured = cache_dir()
    while True:
        directory = trust.directory(configured)
        if directory is None:
            raise GraphcError(
                f"graphc cannot write the generated code anywhere: the cache directory "
                f"{configured} and a temporary directory ({tempfile.gettempdir()}) both failed; "
                "set GRAPHC_CACHE_DIR (or TMPDIR) to a writable directory of your own")
        try:
            return _store_in(directory, source, key)
        except OSError as exc:
            trust.demote(directory, f"could not be written ({exc.strerror or exc})",
                         "free some space or make it writable, or set GRAPHC_CACHE_DIR elsewhere")


def _store_in(directory: Path, source: str, key: str) -> tuple[Path, bool]:
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
    cachesize.enforce_limit(directory, keep=path)  # a new entry may take the cache over its cap
    return path, False


def forget_compiled(path: Path) -> int:
    """Remove Numba's cached machine code for a source file (after a corrupt or stale entry).

    Returns how many files were removed (0: there was nothing cached to blame).
    """
    pycache = path.parent / "__pycache__"
    if not pycache.is_dir():
        return 0
    removed = 0
    for entry in pycache.glob(path.stem + ".*"):
        if entry.suffix in (".nbi", ".nbc"):
            try:
                entry.unlink()
                removed += 1
            except OSError:
                pass
    return removed


class _GeneratedLoader(importlib.machinery.SourceFileLoader):
    """CPython's loader, except that an unreadable .pyc is removed and the source compiled.

    CPython checks a .pyc's header but not its body: a torn or damaged one
    ends in "ValueError: bad marshal data" on import.
    """

    def get_code(self, fullname: str) -> CodeType:
        try:
            return super().get_code(fullname)  # type: ignore[return-value]
        except (ValueError, EOFError, TypeError, MemoryError):
            try:
                os.unlink(importlib.util.cache_from_source(self.path))
            except OSError:
                pass
            return self.source_to_code(self.get_data(self.path), self.path)  # type: ignore[return-value]


def load_module(path: Path, name: str) -> ModuleType:
    """Import a generated module from its file (registered in sys.modules: Numba's cache
    finds functions through their module)."""
    loader = _GeneratedLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        raise GraphcError(f"cannot import generated module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


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
# Per-process: kernel cache directories this process has already seeded.
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


def seed(source: Path, target: Path, module: str) -> None:
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


def kernels_cached() -> bool:
    """Whether graphc's kernels have machine code in the cache (a warm-up or an earlier compile)."""
    directory, _ = kernels_dir()
    return any(directory.glob("kernels.*.nbi")) or any(package_kernels_dir().glob("kernels.*.nbi"))
