"""The helper process of the tiered start: Numba-compile graphs into the disk cache, one at a time.

Owns the worker side of backend/tiered_process.py. Entry point:
`python -m graphc.backend.compile_worker CALLER_PID LOG`, started by the
calling process (one per caller, on demand) with the caller's environment
(GRAPHC_CACHE_DIR, NUMBA_CACHE_DIR) and sys.path, detached from it: a session
of its own, stdout to /dev/null, stderr to the file LOG. It outlives the caller:
a script that exits right after its first (NumPy) result leaves the worker to
finish, and the next process loads the machine code instead of compiling.
Imports: graphc.portable (each Function is rebuilt from its pickled graph
exactly as an unpickled Function is, with `tiered=False`, so the worker lowers
the same graph to the same cached modules the caller will load), compile_locks,
numba (imported at start, while the caller still builds its graph).

Protocol, one job per stdin line: `FOLDER <tab> REQUEST <tab> INPUTS <tab> CACHE_DIR <tab> LOCK
<tab> LIMIT`.
REQUEST is a pickle of `portable.state_of` written by the caller in FOLDER, a
private (0700) temporary directory, plus `settings` (the caller's declared
lowering and simplifier settings, lowered_cache.declared_values: set here
before the graph is lowered) and `lowered` (the name of the caller's lowering
in the cache: adopted instead of lowering again, lowered_cache.adopting, so the
worker compiles exactly the module the caller loads); INPUTS is `-` or an `.npz` of the first
call's input arrays: the worker calls the compiled function once on them,
which compiles exactly the kernel specialisations (kernel mode) the caller
will need. LOCK names the graph's compile lock (compile_locks), which the
worker removes once the machine code is saved (Numba writes each cache file
to a temporary name and renames it, so a reader never sees half of one). Then
it writes `FOLDER/result.json` (`{"ok": true, "report": ...}` or `{"ok": false,
"error": ...}`, with `finished`, the time.time() it was done; also by rename);
a caller that is gone (exited, or left `FOLDER/abandoned`) no longer needs
FOLDER, so the worker removes it. It exits
at end of input (the caller closed the pipe, or exited: queued lines are still
read) or after IDLE_EXIT seconds without a job, and removes LOG (and the folder
the caller made for it) on a clean exit.

LIMIT is the compile's time limit in seconds (`-`: none; the caller's
GRAPHC_COMPILE_LIMIT, compile_workers.compile_limit), counted from the
worker's compile turn. A compile still running then cannot be interrupted (a
thread of Numba's cannot be stopped), so a watchdog thread ends the job: it
writes the graph's failure marker (compile_locks.remember_failure: later
processes keep NumPy instead of hanging a worker again) and a result with
`"timeout": LIMIT`, releases the lock and exits the process with code
compile_workers.TIMED_OUT; the caller gives the jobs still queued behind it to
a new worker. A compile that raised writes a failure marker too (not for an
OSError or MemoryError: those depend on the machine, not on the graph).
At start the worker removes job folders of dead callers and workers
(job_folders.sweep), off the caller's critical path. Each report carries
`times` (time.time() of our start-up's steps and the job's), which the caller
shows as stats["tier_times"].
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import select
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

IDLE_EXIT = 30.0  # seconds without a job before the worker exits
_exit = os._exit  # the watchdog's way out (a test replaces it)
_LOG: list[str] = []  # our stderr file, removed by a clean exit and by the watchdog's
# time.time() of our start-up's steps (main: graphc imported; ready: numba imported), in each
# job's report with the job's own steps: the caller's stats["tier_times"] (docs/codegen.md).
_TIMES: dict[str, float] = {}


def _first_call(function: Any, path: str) -> str | None:
    """Call `function` on the saved inputs; the error text if the call raised (compiles happened)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as saved:
        arrays = [saved[f"a{i}"] for i in range(len(saved.files))]
    try:
        function(*arrays)
    except Exception as exc:  # noqa: BLE001 - the caller's own call reports errors of the values
        return f"{type(exc).__name__}: {exc}"
    return None


def run_job(request: str, inputs: str) -> dict[str, Any]:
    """Compile one graph (and call it once on `inputs` unless '-'): its stats."""
    from graphc import portable

    start = time.perf_counter()
    times = dict(_TIMES, turn=time.time())
    with open(request, "rb") as stream:
        state = pickle.load(stream)  # noqa: S301 - written by our parent in a private 0700 directory
    from graphc.backend.lowered_cache import adopting, apply_values

    apply_values(state.get("settings", []))  # the caller's declared settings, before lowering
    with adopting(state.get("lowered")):  # the caller's lowering, if it is in the cache
        function = portable.rebuild(state)
    report: dict[str, Any] = {"compiled": time.perf_counter() - start}
    times["rebuilt"] = time.time()
    if inputs != "-":
        report["call_error"] = _first_call(function, inputs)
        times["called"] = time.time()
    seconds = function.stats.get("seconds", {})
    report.update(seconds=time.perf_counter() - start, numba=seconds.get("numba"),
                  cache_hit=function.stats.get("cache_hit"), kernels=function.stats.get("kernels"),
                  cache_path=function.stats.get("cache_path"), times=times)
    return report


def _lines(descriptor: int) -> Any:
    """Lines of the file descriptor; stops at end of input or after IDLE_EXIT idle seconds."""
    pending = b""
    while True:
        while b"\n" not in pending:
            if sys.platform != "win32":  # select() needs a socket on Windows: no idle exit there
                readable, _, _ = select.select([descriptor], [], [], IDLE_EXIT)
                if not readable:
                    return
            chunk = os.read(descriptor, 65536)
            if not chunk:
                return
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        yield line.decode()


class Job:
    """One job line, and who reported its outcome first: the compile or the watchdog."""

    def __init__(self, line: str, caller: int) -> None:
        self.folder, self.request, self.inputs, self.directory, self.lock, limit = line.split("\t")
        self.limit = None if limit == "-" else float(limit)
        self.caller = caller
        self.mutex = threading.Lock()
        self.over = False  # its outcome is reported


def serve(line: str, caller: int) -> None:
    """One job: compile in our turn (within its time limit), release the graph's lock,
    report, tidy up."""
    job = Job(line, caller)
    received = time.time()
    os.environ["GRAPHC_CACHE_DIR"] = job.directory  # the caller's, as it was when it compiled
    try:
        from graphc.backend import compile_locks

        with compile_locks.compile_turn(Path(job.directory)), _time_limit(job):
            outcome: dict[str, Any] = {"ok": True, "report": run_job(job.request, job.inputs)}
            outcome["report"].setdefault("times", {})["received"] = received
    except Exception as exc:  # noqa: BLE001 - reported to the caller, who keeps NumPy
        error = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        outcome = {"ok": False, "error": error}
        if not isinstance(exc, (OSError, MemoryError)):  # the graph's, not the machine's
            _remember(job, error, None)
    with job.mutex:
        if job.over:  # the watchdog reported (reached only when a test replaces _exit)
            return
        job.over = True
        _report(job, outcome)


@contextlib.contextmanager
def _time_limit(job: Job) -> Iterator[None]:
    """Run the block under a watchdog that ends the job after `job.limit` seconds."""
    if job.limit is None:
        yield
        return
    watchdog = threading.Timer(job.limit, _overtime, (job,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


def _overtime(job: Job) -> None:
    """The compile ran over its limit: fail the job, remember that, free the lock, exit."""
    from graphc.backend.compile_workers import LIMIT_VARIABLE, TIMED_OUT

    with job.mutex:
        if job.over:
            return
        job.over = True
        error = (f"the Numba compile ran over its time limit of {job.limit:g} s and was "
                 f"stopped (set {LIMIT_VARIABLE} to more seconds, or 0 for no limit)")
        _remember(job, error, job.limit)
        _report(job, {"ok": False, "error": error, "timeout": job.limit})
        for log in _LOG:  # the caller reads result.json, not our log
            _remove_log(log)
        _exit(TIMED_OUT)  # the compile thread cannot be stopped: the process ends


def _remember(job: Job, error: str, limit: float | None) -> None:
    """The graph's failure marker, so that later processes do not compile it again."""
    from graphc.backend import compile_locks

    if job.lock != "-":
        with contextlib.suppress(OSError):
            compile_locks.remember_failure(job.lock, error, limit, Path(job.directory))


def _report(job: Job, outcome: dict[str, Any]) -> None:
    """Release the graph's lock, write the outcome, remove the folder nobody will read."""
    from graphc.backend import cache, compile_locks

    if job.lock != "-":
        try:
            compile_locks.release(job.lock, os.getpid(), Path(job.directory), mine=job.caller)
        except OSError:
            pass  # a guard held too long: the lock goes stale when we exit
    outcome["finished"] = time.time()  # the caller's worker_seconds: from hand-over to here
    try:
        cache.write_atomic(Path(job.folder) / "result.json", json.dumps(outcome))
    except OSError:
        return  # the folder is gone: the caller gave up on this job
    abandoned = os.path.exists(os.path.join(job.folder, "abandoned"))
    if abandoned or not compile_locks.alive(job.caller):
        shutil.rmtree(job.folder, ignore_errors=True)


def main() -> int:
    caller, log = int(sys.argv[1]), sys.argv[2]
    _LOG.append(log)
    _TIMES["main"] = time.time()
    import graphc.api  # noqa: F401 - the imports every job needs, while the caller is busy
    import graphc.backend.interpreter.link  # noqa: F401 - imports numba (its start-up) now

    _TIMES["ready"] = time.time()
    from graphc.backend import job_folders

    job_folders.sweep()  # job folders of dead callers and workers (bounded)

    for line in _lines(sys.stdin.fileno()):
        if line.strip():
            serve(line, caller)
    _remove_log(log)  # a clean exit: nobody needs our error output
    return 0


def _remove_log(log: str) -> None:
    """Remove our log, and the folder of its own the caller made for it (compile_workers.Worker;
    named like a job folder so that job_folders.sweep removes it if we are killed)."""
    from graphc.backend import job_folders

    folder = os.path.dirname(log)
    if os.path.basename(folder).startswith(job_folders.PREFIX):
        shutil.rmtree(folder, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(log)


if __name__ == "__main__":
    sys.exit(main())
