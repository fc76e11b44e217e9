"""Per-graph compile locks in the cache directory: one compile of a graph per machine.

Owns the lock files `locks/<module>.lock` in a cache directory (cache.cache_dir()
unless given) and the rule for a stale one. A lock names the compile worker
process that compiles the graph (its pid and, on Linux, its start time, so a
reused pid is not mistaken for the worker). It is written by the caller that
hands the graph to its worker (backend/tiered_process.py) and removed by that
worker once the graph's machine code is in the cache (backend/compile_worker.py).
A process that finds a live lock does not compile the graph a second time: it
answers from NumPy and loads the machine code when the lock is gone. A lock
whose worker died (killed mid-compile, a crash, a reboot) or that is older than
MAX_AGE is stale: the next process takes it over and compiles. Also owns the
machine-wide compile turn (`compile_turn`): workers compile one graph at a time
per cache directory, so several short scripts leave one compile running beside
the next script, not several.

Reading, writing and taking over a lock happen under an flock on `locks/guard`
(released by the kernel if its holder dies), so two processes that both find a
stale lock do not both take it. The guard is held for microseconds; a process
that cannot get it within GUARD_PATIENCE (a hung or hostile holder) gets
`GuardTimeout` (an OSError) instead of waiting: the caller then hands its graph
to its worker unlocked, exactly as for a cache directory it cannot lock in
(the first result stays fast; at worst a second process compiles the graph
too). Where fcntl is missing (Windows) the guard is a no-op: at worst two
processes compile the same graph, as without locks.

Also owns the failure markers `locks/<module>.failed` (`remember_failure`,
`failure`): a worker whose compile raised (a graph Numba cannot compile) or
ran over its time limit writes one before it releases the lock, so a process
waiting for that worker, and any later process, keeps NumPy instead of
compiling the graph again. The module name hashes the generated code with
Numba's version and graphc's linked code, so an upgrade gets a fresh chance;
a marker older than FAILURE_MEMORY is ignored (one retry a day at most), and a
time-limit marker is ignored by a process whose limit is higher (or none).
Imports: standard library, cache (layer L4). Entry points: `claim`, `holder`,
`release`, `compile_turn`, `remember_failure`, `failure`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from . import cache

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MAX_AGE = 3600.0  # seconds: a lock this old is stale even if its process lives (a hung worker)
TURN_PATIENCE = 600.0  # seconds a worker waits for its compile turn before compiling anyway
GUARD_PATIENCE = 2.0  # seconds a process waits for `locks/guard` (held for microseconds)
FAILURE_MEMORY = 86400.0  # seconds a failure marker keeps later processes from compiling


class GuardTimeout(OSError):
    """`locks/guard` stayed held for GUARD_PATIENCE seconds (a hung or hostile holder)."""


def locks_dir(directory: Path | None = None) -> Path:
    return (directory if directory is not None else cache.cache_dir()) / "locks"


def lock_path(name: str, directory: Path | None = None) -> Path:
    """The lock file of the graph whose generated module is `name` (graphc_<hash>)."""
    return locks_dir(directory) / f"{name}.lock"


def started(pid: int) -> str:
    """The process's start time (clock ticks since boot) on Linux, else ''."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            fields = stream.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return fields[19].decode() if len(fields) > 19 else ""


def alive(pid: int, start: str = "") -> bool:
    """Whether process `pid` runs (not a zombie) and, if `start` is known, is the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            state = stream.read().rsplit(b")", 1)[1].split()[0]
        if state in (b"Z", b"X"):  # exited, not yet reaped by its parent
            return False
    except (OSError, IndexError):
        pass  # no /proc: kill(0) is all we know
    return not start or started(pid) in ("", start)


@contextlib.contextmanager
def _guard(directory: Path) -> Iterator[None]:
    """Hold the flock on `locks/guard` (creating the folder): lock files change under it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    descriptor = os.open(directory / "guard", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _flock_within(descriptor, GUARD_PATIENCE, directory / "guard")
        yield
    finally:
        _unlock_and_close(descriptor)


def _flock_within(descriptor: int, patience: float, path: Path) -> None:
    """Take the exclusive flock with non-blocking attempts for at most `patience` seconds
    (an attempt costs a system call; the wait between them grows from 1 to 50 ms)."""
    deadline = time.monotonic() + patience
    pause = 0.001
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise GuardTimeout(f"{path} was held by another process for more than "
                                   f"{patience:g} s") from None
            time.sleep(pause)
            pause = min(2 * pause, 0.05)


def _read(path: Path) -> tuple[int, str, float] | None:
    """(pid, start, age in seconds) of a lock file, or None if there is none (or it is unreadable)."""
    try:
        text = path.read_text()
        age = time.time() - path.stat().st_mtime
        pid, start = (text.split() + [""])[:2]
        return int(pid), start, age
    except (OSError, ValueError):
        return None


def _live(entry: tuple[int, str, float] | None) -> int:
    """The pid of the lock's worker if the lock is live, else 0."""
    if entry is None or entry[2] >= MAX_AGE or not alive(entry[0], entry[1]):
        return 0
    return entry[0]


def holder(name: str, directory: Path | None = None) -> int:
    """The pid of the live worker compiling graph `name`, 0 if none (no lock, or a stale one)."""
    return _live(_read(lock_path(name, directory)))  # no guard: a write is one rename


def claim(name: str, pid: int, directory: Path | None = None, mine: int = 0) -> int:
    """Write a lock naming worker `pid` unless a live one of another process exists
    (a lock naming `mine`, the caller's provisional claim, is ours): 0 on success,
    else the live holder's pid. A stale lock (dead or hung worker) is taken over."""
    path = lock_path(name, directory)
    with _guard(path.parent):
        other = _live(_read(path))
        if other and other not in (pid, mine):
            return other
        cache.write_atomic(path, f"{pid} {started(pid)}\n")
    return 0


def release(name: str, pid: int, directory: Path | None = None, mine: int = 0) -> None:
    """Remove graph `name`'s lock if it names `pid` or `mine` (the worker's caller, whose
    provisional claim stays when naming the worker timed out); one taken over by another stays."""
    path = lock_path(name, directory)
    with _guard(path.parent):
        entry = _read(path)
        if entry is not None and entry[0] in (pid, mine or pid):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def compile_turn(directory: Path) -> Iterator[None]:
    """One compile at a time per cache directory (workers of other processes wait their
    turn, at most TURN_PATIENCE seconds); the flock is freed by the kernel if we die."""
    folder = locks_dir(directory)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = -1 if fcntl is None else os.open(folder / "turn", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:  # a cache directory we cannot write to: no turns (store() fell back)
        descriptor = -1
    if descriptor < 0:
        yield
        return
    try:
        deadline = time.monotonic() + TURN_PATIENCE
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break  # a stuck turn holder must not stop every other compile
                time.sleep(0.05)
        yield
    finally:
        _unlock_and_close(descriptor)


def _unlock_and_close(descriptor: int) -> None:
    """Release the flock, then close. Closing alone frees it only once every copy of the
    descriptor is closed: a child forked meanwhile (backend/fork_compile.py, in a worker's
    compile) would hold our turn until it exits, and with it every compile of the cache."""
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def failure_path(name: str, directory: Path | None = None) -> Path:
    return locks_dir(directory) / f"{name}.failed"


def remember_failure(name: str, error: str, limit: float | None = None,
                     directory: Path | None = None) -> None:
    """Write graph `name`'s failure marker: its error and, for a compile stopped by the time
    limit, that `limit` (seconds). Written by the worker before it releases the lock."""
    record = {"error": error, "limit": limit, "when": time.time()}
    cache.write_atomic(failure_path(name, directory), json.dumps(record))


def failure(name: str, limit: float | None = None, directory: Path | None = None,
            now: float | None = None) -> tuple[str, float | None] | None:
    """Why graph `name` failed in an earlier worker, and the time limit it ran over (None for
    a compile error); None if it did not fail, or if that is not worth remembering any more:
    a marker older than FAILURE_MEMORY, or a time limit lower than `limit`, the caller's own
    (None: no limit). One failed open() when there is no marker."""
    path = failure_path(name, directory)
    try:
        record = json.loads(path.read_text())
        error, stopped_at = str(record["error"]), record.get("limit")
        age = (time.time() if now is None else now) - float(record["when"])
        stopped = None if stopped_at is None else float(stopped_at)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if age >= FAILURE_MEMORY:
        return None
    if stopped is not None and (limit is None or limit > stopped):
        return None  # a longer compile is allowed now: try again
    return error, stopped


def forget_failures(directory: Path | None = None) -> int:
    """Remove every failure marker: the number removed. `graphc cache clear` calls it, because
    a user who clears the cache asks for every graph to be compiled again, those that failed too."""
    removed = 0
    for path in locks_dir(directory).glob("*.failed"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed
