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
Imports: standard library, errors, trust (layer L4); entry point `store(source)`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType, ModuleType

from ..errors import GraphcError
from . import trust

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
        return path, True
    if existing is not None:
        forget_compiled(path)
    write_atomic(path, source)
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
