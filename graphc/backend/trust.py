"""Whether the cache directory may be trusted, and where to compile when it may not.

Why: the cache directory holds code that the next process runs. Numba's
index files (`__pycache__/*.nbi`) are pickles, its data files (`*.nbc`) are
machine code, CPython loads `__pycache__/*.pyc` for the generated modules,
and the file names are predictable (hashes of the graph). Whoever can write
into the directory can therefore run code in every process that compiles a
graph. The trust boundary is the directory's owner, as for OpenSSH's
`~/.ssh` (StrictModes) and pip's cache: the directory (and its
`__pycache__` and `graphs` entries) must belong to the user running graphc,
must not be writable by group or others, must not be a symbolic link, and
each directory above it must belong to the user or root and not be writable
by others (a sticky directory such as /tmp is fine: others cannot rename
what is in it). graphc creates what is missing with mode 0700, whatever the
umask. A directory that fails a check is refused with one CacheWarning
saying what is wrong and how to fix it, and compiling goes on in a private
per-process directory (mode 0700, removed at exit). docs/cache.md explains
the model. Imports: the standard library and errors (layer L4). Entry
point: `directory(configured)`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from ..errors import CacheWarning

ENTRIES = ("__pycache__", "graphs")  # the subdirectories graphc and Numba write into
PRIVATE_MODE = 0o700
POSIX = os.name == "posix"

Problem = tuple[str, str]  # (what is wrong, how to fix it)
Lstat = Callable[[Path], os.stat_result]

# Per-process: what this process has checked about the cache directories it uses.
_verified: dict[str, tuple[tuple[int, ...], ...] | None] = {}  # trusted, as it was then
_demoted: dict[str, Problem] = {}  # configured directory -> why this process stopped using it
_private: list[Path | None] = []  # the fallback directory once made (None: could not be made)
_warned: set[str] = set()


def directory(configured: Path) -> Path | None:
    """The directory to cache in: `configured` if it can be trusted and written, else a
    private per-process directory (None if even that cannot be made)."""
    configured = Path(os.path.abspath(configured.expanduser()))
    fingerprint = _fingerprint(configured)
    if fingerprint is not None and fingerprint == _verified.get(str(configured)) \
            and str(configured) not in _demoted and still_writable(configured):
        return configured  # checked earlier in this process and unchanged since
    problem = _demoted.get(str(configured)) or prepare(configured)
    if problem is None:
        _verified[str(configured)] = _fingerprint(configured)
        return configured
    if str(configured) in _verified:  # it was good earlier in this process: give it up for good
        _verified.pop(str(configured))
        _demoted[str(configured)] = problem
    fallback = private_directory()
    if fallback is not None and str(fallback) in _demoted:
        fallback = None
    what, fix = problem
    instead = (f"compiling in a private temporary directory ({fallback}) instead, so nothing "
               "is kept for later processes" if fallback is not None else
               "no temporary directory could be made either, so compiling without a disk cache")
    warn_once(f"graphc is not using the cache directory {configured}: it {what}. To fix: {fix}. "
              f"Until then {instead}.")
    return fallback


def _fingerprint(path: Path) -> tuple[tuple[int, ...], ...] | None:
    """Identity, owner and mode of the directory and its entries: a verdict stays valid
    while these are unchanged (only their owner can change them once they pass)."""
    try:
        return tuple((s.st_dev, s.st_ino, s.st_uid, s.st_mode)
                     for s in (os.lstat(path), *(os.lstat(path / n) for n in ENTRIES)))
    except OSError:
        return None


def still_writable(path: Path) -> bool:
    """Whether the directory and its `__pycache__` can still be written (~2 us).

    Why: a verdict is remembered while owner and mode are unchanged, but a
    file system remounted read-only keeps both, and Numba, finding
    `__pycache__` unwritable, would quietly cache graphc's machine code in its
    own per-user directory instead (outside these checks).
    """
    return all(os.access(place, os.W_OK | os.X_OK) for place in (path, path / "__pycache__"))


def demote(configured: Path, what: str, fix: str) -> None:
    """Stop using `configured` for the rest of this process (a write failed: disk full, ...)."""
    _demoted[str(Path(os.path.abspath(configured.expanduser())))] = (what, fix)


def warn_once(message: str) -> None:
    """One CacheWarning per distinct message per process (compiles repeat; the cause does not)."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, CacheWarning, stacklevel=4)


def prepare(path: Path) -> Problem | None:
    """Create the cache directory and its entries (0700) if missing; then what is wrong, if anything."""
    try:
        make_private_directory(path)
    except OSError as exc:
        return (f"cannot be created ({_reason(exc)})",
                "set GRAPHC_CACHE_DIR to a directory you can create, or remove what is in the way")
    problem = check(path)  # before writing anything into it
    if problem is not None:
        return problem
    try:
        for name in ENTRIES:
            if not os.path.lexists(path / name):
                make_private_directory(path / name)
    except OSError as exc:
        return (f"is not writable ({_reason(exc)})",
                "make it writable, free some space, or set GRAPHC_CACHE_DIR to another directory")
    problem = check(path)
    if problem is None and POSIX:
        problem = _check_writable(path)
    return problem


def make_private_directory(path: Path) -> None:
    """mkdir -p with mode 0700 for every directory it creates, whatever the umask."""
    missing = []
    parent = path
    while not os.path.lexists(parent) and parent.parent != parent:
        missing.append(parent)
        parent = parent.parent
    for entry in reversed(missing):
        try:
            os.mkdir(entry, PRIVATE_MODE)
        except FileExistsError:
            continue  # another process made it first: check() judges it
        os.chmod(entry, PRIVATE_MODE)  # mkdir's mode is masked by the umask (0o277 -> 0500)


def check(path: Path, lstat: Lstat = os.lstat, uid: int | None = None,
          entries: tuple[str, ...] = ENTRIES) -> Problem | None:
    """What makes `path` untrustworthy as a cache directory (None: nothing).

    `lstat` and `uid` are parameters so tests can present any owner and mode.
    """
    if not POSIX:
        return None  # Windows: per-user profile directories, no POSIX modes to check
    uid = os.geteuid() if uid is None else uid
    try:
        status = lstat(path)
    except OSError as exc:
        return f"cannot be read ({_reason(exc)})", "set GRAPHC_CACHE_DIR to a directory of your own"
    problem = _check_entry(path, status, uid, "")
    if problem is not None:
        return problem
    for name in entries:
        try:
            status = lstat(path / name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return (f"has an entry {name} that cannot be read ({_reason(exc)})",
                    f"remove {path / name}")
        problem = _check_entry(path / name, status, uid, f"has an entry {name} that ")
        if problem is not None:
            return problem
    return _check_ancestors(path, lstat, uid)


def _check_entry(path: Path, status: os.stat_result, uid: int, prefix: str) -> Problem | None:
    """The rules for the directory itself and for each entry graphc or Numba writes into."""
    redo = f"remove {path}" if prefix else "point GRAPHC_CACHE_DIR at a directory of your own"
    if stat.S_ISLNK(status.st_mode):
        return f"{prefix}is a symbolic link", redo + " (graphc never follows links in its cache)"
    if not stat.S_ISDIR(status.st_mode):
        return f"{prefix}is not a directory", redo
    if status.st_uid != uid:
        return (f"{prefix}is owned by {_user(status.st_uid)}, not by you ({_user(uid)})",
                redo + " (someone else's cache could run their code in your process)")
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"{prefix}is writable by {_writers(status.st_mode)} (mode "
                f"{stat.S_IMODE(status.st_mode):04o})", f"chmod go-w {path}")
    return None


def _check_ancestors(path: Path, lstat: Lstat, uid: int) -> Problem | None:
    """Each directory above must be the user's or root's and not writable by others
    (unless sticky): whoever can write there can swap the whole cache directory."""
    parent = Path(os.path.realpath(path.parent))
    for ancestor in (parent, *parent.parents):
        try:
            status = lstat(ancestor)
        except OSError:
            continue
        if status.st_uid not in (0, uid):
            return (f"is inside {ancestor}, which is owned by {_user(status.st_uid)}",
                    "set GRAPHC_CACHE_DIR to a directory in a tree only you and root control")
        writable = status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if writable and not status.st_mode & stat.S_ISVTX:
            return (f"is inside {ancestor}, which is writable by {_writers(status.st_mode)} "
                    f"(mode {stat.S_IMODE(status.st_mode):04o}) without the sticky bit",
                    f"chmod go-w {ancestor}, or set GRAPHC_CACHE_DIR elsewhere")
    return None


def _check_writable(path: Path) -> Problem | None:
    """Numba needs to write beside the generated modules (else it looks elsewhere)."""
    for place in (path, path / "__pycache__"):
        try:
            tempfile.TemporaryFile(dir=place).close()
        except OSError as exc:
            return (f"is not writable ({_reason(exc)})",
                    "make it writable, free some space, or set GRAPHC_CACHE_DIR to another directory")
    return None


def private_directory() -> Path | None:
    """A directory only this process uses (0700, removed at exit); made once per process."""
    if not _private:
        try:
            made = Path(tempfile.mkdtemp(prefix="graphc-cache-"))
            for name in ENTRIES:
                os.mkdir(made / name, PRIVATE_MODE)
        except OSError:
            _private.append(None)
        else:
            _private.append(made)
            atexit.register(_remove, made, os.getpid())
    return _private[0]


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # a forked child exiting normally must not remove its parent's
        shutil.rmtree(path, ignore_errors=True)


def reset() -> None:
    """Forget this process's verdicts (tests; a user who fixed the directory can call it too)."""
    _verified.clear()
    _demoted.clear()
    _warned.clear()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _writers(mode: int) -> str:
    return " and ".join(w for w, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
                        if mode & bit)


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"
