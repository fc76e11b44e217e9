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

Protocol, one job per stdin line: `FOLDER <tab> REQUEST <tab> INPUTS <tab> CACHE_DIR <tab> LOCK`.
REQUEST is a pickle of `portable.state_of` written by the caller in FOLDER, a
private (0700) temporary directory; INPUTS is `-` or an `.npz` of the first
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
read) or after IDLE_EXIT seconds without a job, and removes LOG on a clean exit.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import shutil
import sys
import time
from pathlib import Path
from typing import Any

IDLE_EXIT = 30.0  # seconds without a job before the worker exits


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
    with open(request, "rb") as stream:
        state = pickle.load(stream)  # noqa: S301 - written by our parent in a private 0700 directory
    function = portable.rebuild(state)
    report: dict[str, Any] = {"compiled": time.perf_counter() - start}
    if inputs != "-":
        report["call_error"] = _first_call(function, inputs)
    seconds = function.stats.get("seconds", {})
    report.update(seconds=time.perf_counter() - start, numba=seconds.get("numba"),
                  cache_hit=function.stats.get("cache_hit"), kernels=function.stats.get("kernels"))
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


def serve(line: str, caller: int) -> None:
    """One job: compile in our turn, release the graph's lock, report, tidy up."""
    from graphc.backend import cache, compile_locks

    folder, request, inputs, directory, lock = line.split("\t")
    os.environ["GRAPHC_CACHE_DIR"] = directory  # the caller's, as it was when it compiled
    try:
        with compile_locks.compile_turn(Path(directory)):
            outcome: dict[str, Any] = {"ok": True, "report": run_job(request, inputs)}
    except Exception as exc:  # noqa: BLE001 - reported to the caller, who keeps NumPy
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}".replace("\n", " ")}
    try:
        compile_locks.release(lock, os.getpid(), Path(directory))
    except OSError:
        pass  # no lock could be written there either ("-")
    outcome["finished"] = time.time()  # the caller's worker_seconds: from hand-over to here
    try:
        cache.write_atomic(Path(folder) / "result.json", json.dumps(outcome))
    except OSError:
        return  # the folder is gone: the caller gave up on this job
    abandoned = os.path.exists(os.path.join(folder, "abandoned"))
    if abandoned or not compile_locks.alive(caller):
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    caller, log = int(sys.argv[1]), sys.argv[2]
    import graphc.api  # noqa: F401 - the imports every job needs, while the caller is busy
    import graphc.backend.interpreter.link  # noqa: F401 - imports numba (its start-up) now

    for line in _lines(sys.stdin.fileno()):
        if line.strip():
            serve(line, caller)
    try:
        os.unlink(log)  # a clean exit: nobody needs our error output
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
