"""Tiered start in a helper process: NumPy answers while a worker process Numba-compiles.

Owns `ProcessTier` (the runner of a Function compiled with the tiered start),
`is_warm` (is the machine code of a prepared graph already cached?) and the
one worker process per caller (`_Worker`: started on demand, compiles jobs
in order, exits when idle; stopped and reaped at interpreter exit). Imports: jit.py (Prepared,
finish), cache, standard library; numba only when the caller loads the
compiled tier. Entry point: `ProcessTier(...)`, built by graphc.api.build.

Why a process and not a thread (backend/tiered.py): Numba's compile is mostly
Python (typing, lowering, wrappers) and holds the GIL, so a compile thread
stalls the calls it is meant to keep going and shares the caller's core. A
worker process (backend/compile_worker.py) has its own interpreter and runs
on the other core; it fills graphc's disk cache, and the caller then loads
the machine code (a warm load, ~0.1-0.3 s) and switches. One worker serves
every Function of the process, one graph at a time: a program (or a test
suite) that compiles many graphs pays Numba's start-up once and never runs
more than one compile beside itself.

Life of a call: every call is served by one tier, chosen at its start. Until
the worker has compiled the graph, calls run the NumPy interpreter (a graph in
kernel mode is handed to the worker at its first call, with the input arrays, so the worker compiles exactly
the specialisations the caller needs; inputs above INPUT_LIMIT bytes are not
written, and those kernels compile in the caller at its first Numba call).
The first call after the worker reported success loads the Numba tier from
the cache (`jit.finish`) and is served by it. A worker that failed or crashed
leaves `stats["tier_error"]` (its last error line) and the function keeps the
NumPy tier for good: a compile error would recur in-process, and a crash is
not worth risking again in the caller. Tiers agree to rounding (the
op-contract tests hold both backends to rtol 1e-12 in float64), not bit for
bit. At interpreter exit the worker finishes the graphs it was given (so the
next process loads them: "a second process does not compile again"), at most
EXIT_PATIENCE seconds, then it is terminated; it is always reaped, none is
left behind.
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..ir import Node
from .jit import Prepared, _readable, finish

Runner = Callable[[list[np.ndarray], dict[str, int]], list[np.ndarray]]
INPUT_LIMIT = 64 * 2**20  # bytes of first-call inputs written for the worker
EXIT_PATIENCE = 300.0  # seconds the interpreter's exit waits for a compiling worker
MARK = "@@graphc-compile-worker@@"  # compile_worker.MARK (not imported: it is the worker's module)


def _indexed(path: Path) -> bool:
    """Whether Numba's cache index of a module beside `path` exists (machine code was saved)."""
    return any((path.parent / "__pycache__").glob(f"{path.stem}.*.nbi"))


def is_warm(prepared: Prepared) -> bool:
    """True if every kernel (or the one graph function) and graphc's own kernels are cached.

    A warm graph loads in the caller at once (today's path); a cold one goes to the
    worker. A miss here only costs a worker that loads instead of compiling.
    """
    from .cache import kernels_cached

    if not kernels_cached():
        return False
    if prepared.kernels:
        return all(found and _indexed(path) for _, path, found in prepared.kernels)
    return prepared.found and _indexed(prepared.path)


def _worker_environment() -> dict[str, str]:
    """The caller's environment, with the directories holding graphc first on PYTHONPATH."""
    environment = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root, *[p for p in sys.path if p and p != package_root]]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    from .cache import cache_dir

    environment.setdefault("GRAPHC_CACHE_DIR", str(cache_dir()))
    return environment


def _known_now(prepared: Prepared) -> dict[str, Any]:
    """The compile stats that need no Numba (jit.finish's CompileStats), so `f.stats`
    has its documented keys from the start; `cache_hit` is False (a warm graph does
    not tier) until the caller has loaded the machine code."""
    plan, generated = prepared.lowered.plan, prepared.generated
    return {"cache_hit": False, "source_cached": prepared.found,
            "cache_path": str(prepared.path), "seconds": dict(prepared.seconds),
            "groups": sum(1 for u in plan.units if not isinstance(u, Node)),
            "parts": generated.parts, "nodes": len(plan.order),
            "kernels_outlined": not generated.kernels_inlined,
            "interpreted_groups": generated.interpreted, "instructions": generated.instructions,
            "parallel": generated.parallel, "kernels": len(prepared.kernels),
            "kernels_new": sum(not found for _, _, found in prepared.kernels)}


class Job:
    """One graph handed to the worker: done (an Event) with an outcome."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.done = threading.Event()
        self.error: str | None = None
        self.report: dict[str, Any] = {}
        self.started = time.perf_counter()
        self.seconds = 0.0

    def complete(self, error: str | None, report: dict[str, Any] | None = None) -> None:
        self.error, self.report = error, report or {}
        self.seconds = time.perf_counter() - self.started
        self.done.set()


class _Worker:
    """The compile worker process; a daemon thread reads its replies (blocked in read, no GIL)."""

    def __init__(self) -> None:
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graphc.backend.compile_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.stderr, env=_worker_environment(),
            # A session of its own: Ctrl-C in the terminal reaches the caller only (whose
            # exit ends the worker), and Linux's autogroup scheduler counts the worker as
            # a program of its own instead of splitting the caller's share with it.
            start_new_session=True)
        self.jobs: dict[int, Job] = {}
        self.lock = threading.Lock()
        self.count = 0
        self.reader = threading.Thread(target=self._read, name="graphc-compile-worker",
                                       daemon=True)
        self.reader.start()

    def submit(self, job: Job, request: str, inputs: str) -> bool:
        """Queue a job; False if the worker is gone (then the caller starts another)."""
        with self.lock:
            if self.process.poll() is not None or self.process.stdin is None:
                return False
            self.count += 1
            self.jobs[self.count] = job
            try:
                from .cache import cache_dir

                line = f"{self.count}\t{request}\t{inputs}\t{cache_dir()}\n"
                self.process.stdin.write(line.encode())
                self.process.stdin.flush()
            except OSError:
                del self.jobs[self.count]
                return False
        return True

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if not line.startswith(MARK):
                continue  # a graph's own output (print op): not ours
            _, number, outcome, text = line.split(" ", 3)
            with self.lock:
                job = self.jobs.pop(int(number), None)
            if job is not None:
                job.complete(None, json.loads(text)) if outcome == "ok" else job.complete(text)
        code = self.process.wait()
        with self.lock:
            orphans, self.jobs = list(self.jobs.values()), {}
            if _WORKERS and _WORKERS[0] is self:
                _WORKERS.clear()
        for job in orphans:
            job.complete(f"compile worker exited with code {code}: {self._last_error()}")

    def _last_error(self) -> str:
        self.stderr.seek(0)
        lines = [line for line in self.stderr.read().decode(errors="replace").splitlines()
                 if line.strip()]
        return lines[-1] if lines else "(no output)"

    def stop(self, patience: float) -> None:
        """End the worker: it finishes the graphs it was given (within `patience`
        seconds; then, or on Ctrl-C, it is terminated), reads end of input and exits."""
        with self.lock:
            if self.process.stdin is not None:
                try:
                    self.process.stdin.close()
                except OSError:
                    pass
        try:
            self.process.wait(patience)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            self.process.terminate()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_WORKERS: list[_Worker] = []  # the live worker, if any
_STARTING = threading.Lock()


def _submit(job: Job, request: str, inputs: str) -> int:
    """Hand a job to the live worker (starting one if needed): the worker's pid."""
    with _STARTING:
        for _ in range(2):  # a worker that just exited (idle) is replaced once
            if not _WORKERS:
                _WORKERS.append(_Worker())
            worker = _WORKERS[0]
            if worker.submit(job, request, inputs):
                return worker.process.pid
            _WORKERS.clear()
    job.complete("could not hand the graph to a compile worker")
    return 0


def _stop_workers(patience: float = EXIT_PATIENCE) -> None:
    """At interpreter exit: let the worker finish what it was given, then reap it.

    Waiting (like the thread tier's non-daemon thread) keeps the disk-cache
    promise: a short script that exits right after its first (NumPy) result
    still leaves the machine code for the next process, which then loads
    instead of compiling. The wait is bounded by the compile itself: a script
    never ends later than it would have without the tier, plus the worker's
    start-up. `patience` caps it; Ctrl-C ends it at once.
    """
    for worker in list(_WORKERS):
        worker.stop(patience)
    _WORKERS.clear()


atexit.register(_stop_workers)


class ProcessTier:
    """Runs the NumPy tier until the worker has compiled the graph, then the Numba tier.

    `stats` is the Function's stats dict: "tier" names the tier of the last
    call, "calls" counts calls per tier, "tiered" is "process"; the Numba
    stats are merged in when the caller loads the compiled tier.
    """

    def __init__(self, prepared: Prepared, structure: str, requirements: Sequence[Any] | None,
                 numpy_runner: Runner, stats: dict[str, Any]) -> None:
        self._prepared, self._structure, self._requirements = prepared, structure, requirements
        self._numpy = numpy_runner
        self._numba: Runner | None = None
        self._failed = False
        self._switch = threading.Lock()
        self._job: Job | None = None
        self._request = ""
        # Set by graphc.api: called with (runner, fast call) once the Numba tier is loaded.
        self.on_switch: Callable[[Runner, Any], None] | None = None
        self.stats = stats
        stats.update({"backend": "numba", "tiered": "process", "tier": None,
                      "calls": {"numpy": 0, "numba": 0}, "numba_ready": False})
        stats.update(_known_now(prepared))

    def start(self, state: dict[str, Any]) -> None:
        """Write the request (the Function's portable state, tiered off); one-function
        mode is handed to the worker now, kernel mode at the first call (with its inputs)."""
        import pickle

        folder = tempfile.mkdtemp(prefix="graphc-tier-")  # private (0700)
        self._request = os.path.join(folder, "request.pickle")
        state = dict(state, options=dict(state["options"], tiered=False))
        state.pop("key", None)
        with open(self._request, "wb") as stream:
            pickle.dump(state, stream, protocol=pickle.HIGHEST_PROTOCOL)
        if not self._prepared.kernels:
            self._hand(None)

    def _hand(self, arrays: list[np.ndarray] | None) -> None:
        """Give the graph (and the first call's inputs, unless too large) to the worker."""
        folder = os.path.dirname(self._request)
        self._job = Job(folder)
        inputs = "-"
        if arrays is not None and sum(a.nbytes for a in arrays) <= INPUT_LIMIT:
            inputs = os.path.join(folder, "inputs.npz")
            try:
                np.savez(inputs, **{f"a{i}": a for i, a in enumerate(arrays)})  # type: ignore[arg-type]
            except OSError:  # a full disk costs the caller an in-process kernel compile, not the call
                inputs = "-"
        self.stats["worker_pid"] = _submit(self._job, self._request, inputs)

    def source(self) -> str:
        return _readable(self._prepared)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker is done with this graph (True) or `timeout` passed (False)."""
        with self._switch:
            if self._job is None and not self._failed and self._numba is None:
                self._hand(None)  # nobody called yet: compile without inputs
        return self._job is None or self._job.done.wait(timeout)

    def settle(self) -> None:
        """Wait until the worker is done with this graph (before the Function is pickled:
        the receiving process then loads the machine code instead of compiling again)."""
        self.wait(EXIT_PATIENCE)

    def _finished(self, job: Job) -> None:
        """The worker is done: load the Numba tier, or record why not (under the switch lock)."""
        self.stats["worker_seconds"] = job.seconds
        self.stats["worker"] = job.report
        shutil.rmtree(job.folder, ignore_errors=True)
        self._job = None
        if job.error is not None:
            self._fail(job.error)
            return
        try:
            loading = time.perf_counter()
            compiled = finish(self._prepared, self._structure, self._requirements)
            self.stats["load_seconds"] = time.perf_counter() - loading
        except Exception as exc:  # noqa: BLE001 - reported in stats; NumPy keeps serving
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        numba_stats = compiled.stats.as_dict()
        numba_stats.pop("backend", None)
        if self._prepared.kernels:  # kernel mode: were the worker's kernels there to load?
            numba_stats["cache_hit"] = all(_indexed(path) for _, path, _ in self._prepared.kernels)
        self.stats.update(numba_stats)
        self.stats["numba_ready"] = True
        self._numba = compiled.runner
        if self.on_switch is not None:  # later calls skip this runner: the fast call
            self.on_switch(compiled.runner, compiled.fast)

    def _fail(self, why: str) -> None:
        self._failed = True
        self.stats["tier_error"] = why

    def _tier(self, arrays: list[np.ndarray]) -> Runner:
        """The runner for this call: Numba once the worker is done and loaded, else NumPy."""
        if self._numba is not None or self._failed:
            return self._numba or self._numpy
        with self._switch:
            if self._job is None and self._numba is None and not self._failed:
                self._hand(arrays)  # kernel mode: the first call's inputs
            elif self._job is not None and self._job.done.is_set():
                self._finished(self._job)
        return self._numba or self._numpy

    def __call__(self, arrays: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
        runner = self._tier(arrays)
        tier = "numba" if runner is self._numba else "numpy"
        results = runner(arrays, binding)
        self.stats["calls"][tier] += 1
        self.stats["tier"] = tier
        return results
