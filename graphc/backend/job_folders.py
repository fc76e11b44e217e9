"""Who uses a compile job's folder, and the sweep of folders whose users all died.

Owns the `owners` file of a job folder (compile_workers.request_folder makes the
folder, a private temporary directory named PREFIX...): one line per process that
uses it, "pid start" (start: compile_locks.started, so a reused pid is told apart),
written by the caller when it makes the folder and at each hand-over to a worker.
A worker killed after its caller exited leaves its folder (the pickled request,
up to 64 MiB of first-call inputs), and the folder of its log (PREFIX + "worker-",
owned by its caller and itself: compile_workers.Worker); `sweep` removes the
folders of this user none of whose owners lives. Each new compile worker runs it at its start
(compile_worker.main), so it costs the caller nothing; it looks at SWEEP_LIMIT
folders at most. A folder without `owners` (being made right now, or left by an
older graphc) is removed only once it is SWEEP_GRACE seconds old.
Imports: standard library, compile_locks. Entry points: `add_owner`, `sweep`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from . import compile_locks

PREFIX = "graphc-tier-"
SWEEP_LIMIT = 64  # job folders a sweep looks at, at most
SWEEP_GRACE = 600.0  # seconds: a folder without `owners` younger than this may be being made


def add_owner(folder: str, pid: int) -> None:
    """List `pid` (and its start time) among the processes that use `folder` (one append
    of one line, ~15 us: it is on the way to the caller's first result)."""
    line = f"{pid} {_started(pid)}\n".encode()
    with contextlib.suppress(OSError):  # the folder is gone
        descriptor = os.open(os.path.join(folder, "owners"),
                             os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)


_STARTS: dict[int, str] = {}  # this process's start time (by pid: a forked child has its own)


def _started(pid: int) -> str:
    """`compile_locks.started`, kept for our own pid (another pid may be reused meanwhile)."""
    if pid not in _STARTS or pid != os.getpid():
        _STARTS[pid] = compile_locks.started(pid)
    return _STARTS[pid]


def _in_use(folder: Path, now: float) -> bool:
    """Whether a process listed in `folder/owners` lives (no list, or an empty one that
    add_owner has opened but not written yet: made less than SWEEP_GRACE seconds ago,
    so possibly being made right now)."""
    try:
        text = (folder / "owners").read_text()
    except FileNotFoundError:
        text = ""
    except OSError:
        return True
    if not text.strip():  # no list, or one created but not written yet (add_owner's open)
        try:
            return now - folder.stat().st_mtime < SWEEP_GRACE
        except OSError:
            return True
    for line in text.splitlines():
        pid, start = (line.split() + [""])[:2]
        if pid.isdigit() and compile_locks.alive(int(pid), start):
            return True
    return False


def sweep(directory: str | None = None, limit: int = SWEEP_LIMIT) -> list[str]:
    """Remove job folders (ours: owned by this user) whose caller and workers all died, e.g.
    a worker killed after its caller exited; looks at `limit` folders at most. The removed."""
    root = Path(directory if directory is not None else tempfile.gettempdir())
    removed: list[str] = []
    now, looked = time.time(), 0
    try:
        entries = os.scandir(root)
    except OSError:
        return removed
    with entries:
        for entry in entries:
            if not entry.name.startswith(PREFIX):
                continue
            if looked >= limit:
                break
            looked += 1
            try:
                if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.getuid():
                    continue
            except (OSError, AttributeError):  # AttributeError: no getuid (Windows)
                continue
            if not _in_use(Path(entry.path), now):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
    return removed
