"""The caller's side of the compile worker process: start it detached, hand it jobs, read outcomes.

Owns the one worker process per caller (`current_worker`: started on demand,
replaced if it exited), the jobs handed to it (`Job`: a private folder with the
request, read back from `result.json`), the compile time limit
(`compile_limit`, GRAPHC_COMPILE_LIMIT) and what happens at interpreter exit.
Imports: standard library, errors, cache, compile_locks, job_folders (who uses a job
folder; the sweep of dead processes' folders). Entry points: `current_worker`,
`speculate` and `retract` (a worker started early by gc.compile, stopped if unused),
`request_folder`, `Job`, `compile_limit`, `stop_workers` (tests and benchmarks: close and
reap our workers).

Detached: the worker (backend/compile_worker.py) runs in a session of its own,
with stdout to /dev/null and stderr to a log file (`stderr.log` in a private
folder named like a job folder, whose `owners` are the caller and the worker:
the worker removes it on a clean exit, the caller at exit if the worker ended
before it, and the sweep below once both died), and takes its jobs from a
pipe. At interpreter exit the caller closes that pipe and leaves: it does not
wait (a short script exits as soon as its own work is done); the worker reads
the jobs already written, finishes them, fills the disk cache and exits. Job
folders the caller did not read back are marked `abandoned`, so the worker
removes them when it is done. A worker killed mid-job leaves its job folder
(and its graph's compile lock goes stale: the next process compiles it again,
see compile_locks.py); each folder lists the processes that use it (`owners`:
its caller, then each worker it was handed to), and the next worker started on
the machine removes the folders none of whose owners lives (job_folders.sweep).

A job whose worker exited without its result (it went idle just as the job was
written, or another job of its queue ran over the time limit: exit code
TIMED_OUT) is handed once more, to a new worker, which is first named in the
graph's lock in place of the one that exited (or, if another process took the
lock over meanwhile, the caller waits for that one instead): a lock left naming
the exited worker would keep the graph "not warm" for every process until one
took it over and compiled it a second time.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import GraphcWarning
from . import blas_threads, cache, compile_locks, job_folders

LIMIT_VARIABLE = "GRAPHC_COMPILE_LIMIT"
LOG_NAME = "stderr.log"  # the worker's log, in its folder (job_folders.PREFIX + "worker-...")
DEFAULT_LIMIT = 600.0  # seconds a worker's compile may take (a 4,000-node graph takes ~5-30 s)
TIMED_OUT = 75  # a worker's exit code after a compile ran over its time limit


def compile_limit() -> float | None:
    """The time limit of a worker's compile in seconds (None: no limit): GRAPHC_COMPILE_LIMIT
    ("0", "none" or "off": no limit), else DEFAULT_LIMIT. Read at each hand-over; a value that
    is not a number of seconds warns and keeps the default (the compile is not the caller's
    call: a typo must not stop the program)."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip().lower()
    if not text:
        return DEFAULT_LIMIT
    if text in ("0", "none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value > 0:
        return None if value == float("inf") else value
    warnings.warn(f"{LIMIT_VARIABLE}={text!r} is not a number of seconds (e.g. 600, or 0 for "
                  f"no limit); the default {DEFAULT_LIMIT:g} s applies", GraphcWarning, stacklevel=2)
    return DEFAULT_LIMIT


def worker_environment() -> dict[str, str]:
    """The caller's environment, with the directories holding graphc first on PYTHONPATH."""
    environment = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root, *[p for p in sys.path if p and p != package_root]]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    # `python -m` would put the working directory first on sys.path: a script run from a folder
    # holding another graphc checkout would give the worker that graphc, which refuses this
    # caller's graph ("pickled by another version"). Safe-path mode (3.11+) leaves it out.
    environment["PYTHONSAFEPATH"] = "1"
    environment.setdefault("GRAPHC_CACHE_DIR", str(cache.cache_dir()))
    return environment


class Worker:
    """One detached compile worker process and the pipe its jobs go through."""

    def __init__(self) -> None:
        # The log (the worker's stderr) lives in a folder of its own, listing the caller and
        # then the worker as its owners like a job folder: the worker removes it when it exits
        # cleanly, the caller at exit once the worker has ended, and job_folders.sweep when both
        # died (a killed worker of a caller that exited left a graphc-worker-*.log behind).
        self.folder = tempfile.mkdtemp(prefix=job_folders.PREFIX + "worker-")
        job_folders.add_owner(self.folder, os.getpid())
        self.log = os.path.join(self.folder, LOG_NAME)
        self.spawned = time.time()  # stats["tier_times"]
        handle = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "graphc.backend.compile_worker", str(os.getpid()), self.log],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr,
                env=worker_environment(), close_fds=True,
                # A session of its own: Ctrl-C and a closing terminal reach the caller only,
                # the worker survives the caller's exit, and Linux's autogroup scheduler counts
                # it as a program of its own instead of splitting the caller's share with it.
                start_new_session=True)
        job_folders.add_owner(self.folder, self.process.pid)
        self.owner = os.getpid()  # a forked child of the caller must not use our pipe
        self.lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self.process.pid

    def submit(self, line: str) -> bool:
        """Write one job line; False if the worker is gone (the caller then starts another)."""
        with self.lock:
            if self.exited() is not None or self.process.stdin is None:
                return False
            try:
                self.process.stdin.write(line.encode() + b"\n")
                self.process.stdin.flush()
            except (OSError, ValueError):
                return False
        return True

    def exited(self) -> int | None:
        """The exit code once the worker has ended (reaping it), else None."""
        if self.owner != os.getpid():  # a forked child: not ours to reap
            return None if compile_locks.alive(self.pid) else -1
        return self.process.poll()

    def last_error(self) -> str:
        """The last line the worker wrote to stderr (why it crashed)."""
        try:
            text = Path(self.log).read_text(errors="replace")
        except OSError:
            return "(no output)"
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"

    def close(self) -> None:
        """End of input: the worker finishes the jobs it was given, then exits."""
        with self.lock:
            if self.process.stdin is not None and self.owner == os.getpid():
                try:
                    self.process.stdin.close()
                except OSError:
                    pass

    def stop(self, patience: float) -> None:
        """Close, wait up to `patience` seconds for the worker to finish, then terminate it."""
        self.close()
        try:
            self.process.wait(patience)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            self.process.terminate()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.remove_log()

    def remove_log(self) -> None:
        """Remove the log's folder (the worker has ended: nobody reads its stderr any more)."""
        shutil.rmtree(self.folder, ignore_errors=True)


_WORKERS: list[Worker] = []  # every worker this process started; the last one takes new jobs
_STARTING = threading.Lock()


_SPECULATIVE: list[Worker] = []  # started by `speculate`, not yet taken by current_worker
_SPECULATED_BY: dict[int, int] = {}  # id of such a worker -> the thread whose compile started it


def current_worker() -> Worker:
    """The live worker of this process, started (detached) if there is none."""
    with _STARTING:
        _SPECULATIVE.clear()  # a speculative worker is taken: it stays
        _SPECULATED_BY.clear()
        if not _WORKERS or _WORKERS[-1].exited() is not None or _WORKERS[-1].owner != os.getpid():
            _WORKERS.append(Worker())
        return _WORKERS[-1]


def speculate() -> None:
    """Start a worker now if this process has none, before the compile knows it needs one.

    gc.compile calls this when the graph is new to the cache (its simplified graph is not
    there), before simplifying and lowering: the worker's start-up (Python, graphc, numba:
    ~0.8 s idle, several times that on a loaded machine) then overlaps the caller's own
    compile instead of following it. If the compile does not hand the worker a graph (warm
    machine code, a graph with loops, another process compiles it), `retract` stops it.
    Only with a core to spare (`spare_core`): on a busy machine the worker's start-up
    takes CPU from the caller's compile and delays the first result (64-layer MLP step at
    load 3.8 on 2 cores: 0.47 -> 0.71 s), so it starts at the hand-over as before."""
    if not spare_core():
        return
    with _STARTING:
        if _WORKERS and _WORKERS[-1].exited() is None and _WORKERS[-1].owner == os.getpid():
            return  # a live worker: it will take the job
        try:
            worker = Worker()
        except OSError:
            return  # current_worker tries again (and reports) if the graph needs it
        _WORKERS.append(worker)
        _SPECULATIVE.append(worker)
        _SPECULATED_BY[id(worker)] = threading.get_ident()


def spare_core() -> bool:
    """Whether the machine has a core the caller does not need (blas_threads.busy: other
    processes' CPU use and cgroup quotas, the test that also allows a second BLAS thread)."""
    return not blas_threads.busy()


def retract() -> None:
    """Stop the worker `speculate` started in this thread's gc.compile if no compile took it
    (gc.compile's end): it had no job, so it is terminated at once (mid-import) and its log
    folder removed. One another thread's compile started is left to that compile, which
    may still hand it its graph."""
    with _STARTING:
        me = threading.get_ident()
        unused = [worker for worker in _SPECULATIVE if _SPECULATED_BY.get(id(worker)) == me]
        for worker in unused:
            _SPECULATIVE.remove(worker)
            _SPECULATED_BY.pop(id(worker), None)
            if worker in _WORKERS:
                _WORKERS.remove(worker)
    for worker in unused:
        worker.stop(0.0)


class Job:
    """One graph handed to a worker: its private folder and, once written, the outcome."""

    def __init__(self, folder: str, worker: Worker, line: str) -> None:
        self.folder, self.worker, self.line = folder, worker, line
        fields = line.split("\t")
        self.directory, self.lock = fields[3], fields[4]  # the graph's lock ("-": none)
        self.started = time.time()  # compared with the worker's `finished` stamp
        self.retried = False
        _UNUSED.discard(folder)
        _PENDING.add(folder)

    def _name(self, previous: int) -> int:
        """Name our worker in the graph's lock in place of `previous` (our provisional
        claim, or a worker that exited): 0, or another process's live worker holding it."""
        job_folders.add_owner(self.folder, self.worker.pid)
        if self.lock == "-":
            return 0
        try:
            return compile_locks.claim(self.lock, self.worker.pid, Path(self.directory),
                                       mine=previous)
        except OSError:  # a guard held too long: the worker also removes a lock naming us
            return 0

    def submit(self) -> int:
        """Hand the job to our worker (once more to a new one if it just exited), named in
        the lock in place of the caller's claim: 0, or the pid of another process's live
        worker that holds the graph's lock (the caller waits for it instead)."""
        previous = os.getpid()
        for _ in range(2):
            other = self._name(previous)
            if other:
                return other
            if self.worker.submit(self.line):
                return 0
            previous, self.worker = self.worker.pid, current_worker()
        self.retried = True  # poll reports the failure
        return 0

    def outcome(self) -> dict[str, Any] | None:
        """{"ok": True, "report": ...} or {"ok": False, "error": ...}; None while compiling."""
        try:
            with open(os.path.join(self.folder, "result.json")) as stream:
                return dict(json.load(stream))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            return {"ok": False, "error": f"unreadable worker result: {exc}"}

    def poll(self) -> dict[str, Any] | None:
        """The outcome, or a failure if the worker died without one; None while compiling.
        A worker that exited without our result, cleanly (it went idle just as we wrote the
        job) or after another job ran over its time limit, hands the job once to a new
        worker, named in the lock in its place; {"ok": False, "other": pid} if another
        process's worker took the lock over meanwhile."""
        outcome = self.outcome()
        if outcome is not None:
            return outcome
        code = self.worker.exited()
        if code is None:
            return None
        outcome = self.outcome()  # written just before it exited?
        if outcome is not None:
            return outcome
        if code in (0, TIMED_OUT) and not self.retried:
            self.retried = True
            previous, self.worker = self.worker.pid, current_worker()
            other = self._name(previous)
            if other:
                return {"ok": False, "other": other,
                        "error": f"another process's worker ({other}) compiles the graph"}
            if self.worker.submit(self.line):
                return None
        return {"ok": False, "error": f"compile worker exited with code {code}: "
                                      f"{self.worker.last_error()}"}

    def withdraw(self) -> None:
        """The job was not handed over (another process compiles the graph): keep the
        request for a later hand-over, removed at exit if unused."""
        _PENDING.discard(self.folder)
        _UNUSED.add(self.folder)

    def close(self) -> None:
        """The outcome was read: the folder is no longer needed."""
        _PENDING.discard(self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)


_PENDING: set[str] = set()  # folders of jobs whose outcome this process has not read
_UNUSED: set[str] = set()  # request folders not handed to a worker (yet)


def request_folder() -> str:
    """A private (0700) temporary folder for a graph's request; removed at exit if unused."""
    folder = tempfile.mkdtemp(prefix=job_folders.PREFIX)
    _UNUSED.add(folder)
    job_folders.add_owner(folder, os.getpid())
    return folder


def drop(folder: str) -> None:
    """A request folder no worker needs (another process compiled the graph)."""
    _UNUSED.discard(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _leave() -> None:
    """At interpreter exit: do not wait. Unread job folders are left to their worker
    (marked abandoned: it removes them when done), unsent requests are removed, and
    each worker's input is closed so it exits after its last job."""
    for folder in list(_PENDING):
        try:
            Path(folder, "abandoned").touch()
        except OSError:
            continue  # already removed
        if os.path.exists(os.path.join(folder, "result.json")):  # done before we marked it
            shutil.rmtree(folder, ignore_errors=True)
    for folder in list(_UNUSED):
        shutil.rmtree(folder, ignore_errors=True)
    for worker in _WORKERS:
        worker.close()
        if worker.owner == os.getpid() and worker.exited() is not None:
            worker.remove_log()  # it ended (killed, crashed, timed out): its log is not read


def stop_workers(patience: float = 300.0) -> list[int]:
    """Let this process's workers finish their jobs (at most `patience` seconds each), reap
    them; their pids. For tests and benchmarks that must leave no process behind."""
    pids = [worker.pid for worker in _WORKERS]
    for worker in list(_WORKERS):
        worker.stop(patience)
    _WORKERS.clear()
    return pids


def _forget_in_child() -> None:
    """After os.fork(), in the child: the parent's jobs, requests and workers are not ours.
    Without this, a child that exits normally runs `_leave` on them: it marks the parent's
    jobs abandoned and deletes its unsent requests, and the parent stays on NumPy for good."""
    _PENDING.clear()
    _UNUSED.clear()
    _WORKERS.clear()
    _SPECULATIVE.clear()
    _SPECULATED_BY.clear()


atexit.register(_leave)
if hasattr(os, "register_at_fork"):  # POSIX only; Windows has no fork
    os.register_at_fork(after_in_child=_forget_in_child)
