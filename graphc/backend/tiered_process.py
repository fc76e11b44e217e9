"""Tiered start in a helper process: NumPy answers while a worker process Numba-compiles.

Owns `ProcessTier` (the runner of a Function compiled with the tiered start)
and `is_warm` (is the machine code of a prepared graph already cached?).
Imports: jit.py (Prepared, finish), cache, compile_locks, compile_workers,
standard library; numba only when the caller loads the compiled tier. Entry
point: `ProcessTier(...)`, built by graphc.api.build.

Why a process and not a thread (backend/tiered.py): Numba's compile is mostly
Python (typing, lowering, wrappers) and holds the GIL, so a compile thread
stalls the calls it is meant to keep going and shares the caller's core. A
worker process (backend/compile_worker.py) has its own interpreter and runs
on the other core; it fills graphc's disk cache, and the caller then loads
the machine code (a warm load, ~0.1-0.3 s) and switches. One worker serves
every Function of the process, one graph at a time (compile_workers.py); it
is detached, so the caller's exit never waits for it: the worker finishes the
graphs it was given and the next process loads them ("a second process does
not compile again"). A graph being compiled holds a lock in the cache
directory (compile_locks.py): another process that builds the same graph
meanwhile does not compile it again; it answers from NumPy and loads the
machine code when the lock is released.

Life of a call: every call is served by one tier, chosen at its start. Until
the graph is compiled, calls run the NumPy interpreter. A graph of one
function is handed to the worker at gc.compile; a graph in kernel mode at its
first call, with the input arrays, so the worker compiles exactly the
specialisations the caller needs (inputs above INPUT_LIMIT bytes are not
written, and those kernels compile in the caller at its first Numba call),
but its worker is started at gc.compile (before simplifying, for a graph new
to the cache on a machine with a core to spare: compile_workers.speculate), so
Numba's import overlaps the caller's own work. After the first result a thread
imports numba in the caller (backend/numba_preload.py), so the switch does not. The
first call after the worker reported success (or after
another process's worker released the graph's lock, the cache being complete)
loads the Numba tier from the cache (`jit.finish`) and is served by it. A
worker that failed or crashed leaves `stats["tier_error"]` (its last error
line) and the function keeps the NumPy tier for good: a compile error would
recur in-process, and a crash is not worth risking again in the caller. A
compile error or a compile over the time limit (GRAPHC_COMPILE_LIMIT,
compile_workers.compile_limit) is also remembered in the cache directory
(compile_locks.failure): a process waiting for that worker, and later
processes, keep NumPy at once instead of compiling the graph again; a compile
stopped by the limit warns (GraphcWarning) with how to raise it. Tiers
agree to rounding (the op-contract tests hold both backends to rtol 1e-12 in
float64), not bit for bit.
"""

from __future__ import annotations

import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GraphcWarning
from . import compile_locks, compile_workers, numba_preload
from .direct import kernel, objects
from .jit import Prepared, _readable, finish

Runner = Callable[[list[np.ndarray], dict[str, int]], list[np.ndarray]]
INPUT_LIMIT = 64 * 2**20  # bytes of first-call inputs written for the worker
SETTLE_PATIENCE = 300.0  # seconds pickling a Function waits for its compile
CHECK_EVERY = 0.05  # seconds between looks at another process's lock


def _complete(path: Path) -> bool:
    """Whether machine code for the module at `path` is saved: an object file of this
    version of the direct path (backend/direct/objects.py) while it is on, or Numba's index
    and data (Numba writes the index of a new entry before the data file, each by rename)."""
    pycache = path.parent / "__pycache__"
    return (kernel.enabled() and objects.has_object(path)) or (
        any(pycache.glob(f"{path.stem}.*.nbi")) and any(pycache.glob(f"{path.stem}.*.nbc")))


def is_warm(prepared: Prepared) -> bool:
    """True if every kernel (or the one graph function) and graphc's own kernels are cached
    and no worker is compiling the graph now (a live lock: not finished; a stale one: a
    worker died mid-compile, so the cache may lack some of its kernels).

    A warm graph loads in the caller at once (today's path); a cold one goes to the
    worker. A miss here only costs a worker that loads instead of compiling.
    """
    from .cache import kernels_cached

    if not kernels_cached() or compile_locks.lock_path(prepared.path.stem).exists():
        return False
    if prepared.kernels:
        return all(_complete(path) for _, path, _ in prepared.kernels)
    return _complete(prepared.path)


QUICK_KERNELS = 6  # new direct kernels a graph may have and still compile in the caller


def compiles_quickly(prepared: Prepared) -> bool:
    """Whether the caller compiles the graph sooner than a worker would serve it: kernel mode,
    no loops, every kernel taken by the direct path (docs/codegen.md, "The direct path"),
    at most QUICK_KERNELS of them without object code yet (~0.05 s each, no Numba at all)."""
    generated = prepared.generated
    defined = re.findall(r"^def (\w+)\(", generated.source, re.MULTILINE)
    if not prepared.kernels or defined != [generated.function_name]:  # loop functions: Numba's
        return False
    if not all(kernel.accepted(k) is not None for k, _, _ in prepared.kernels):
        return False
    return sum(not objects.has_object(path) for _, path, _ in prepared.kernels) <= QUICK_KERNELS


def _known_now(prepared: Prepared) -> dict[str, Any]:
    """The compile stats that need no Numba (jit.finish's CompileStats), so `f.stats`
    has its documented keys from the start; `cache_hit` is False (a warm graph does
    not tier) until the caller has loaded the machine code."""
    lowered, generated = prepared.lowered, prepared.generated
    return {"cache_hit": False, "source_cached": prepared.found,
            "cache_path": str(prepared.path), "seconds": dict(prepared.seconds),
            "groups": lowered.groups, "parts": generated.parts, "nodes": lowered.nodes,
            "kernels_outlined": not generated.kernels_inlined,
            "interpreted_groups": generated.interpreted, "instructions": generated.instructions,
            "parallel": generated.parallel, "kernels": len(prepared.kernels),
            "kernels_new": sum(not found for _, _, found in prepared.kernels)}


class ProcessTier:
    """Runs the NumPy tier until the graph is compiled (by our worker or another
    process's), then the Numba tier.

    `stats` is the Function's stats dict: "tier" names the tier of the last
    call, "calls" counts calls per tier, "tiered" is "process"; "worker_pid" is
    the compiling worker's pid ("worker_shared" True if it belongs to another
    process); the Numba stats are merged in when the caller loads the compiled tier.
    """

    def __init__(self, prepared: Prepared, structure: str, requirements: Sequence[Any] | None,
                 numpy_runner: Runner, stats: dict[str, Any]) -> None:
        self._prepared, self._structure, self._requirements = prepared, structure, requirements
        self._numpy = numpy_runner
        self._numba: Runner | None = None
        self._failed = False
        self._switch = threading.Lock()
        self._job: compile_workers.Job | None = None
        self._outcome: dict[str, Any] | None = None  # our worker's, until loaded
        self._other = 0  # pid of another process's worker compiling this graph
        self._checked = 0.0  # when we last looked at its lock (time.monotonic)
        self._other_done = False  # it has finished: the next call loads (set by wait)
        self._waited = 0.0  # when we started waiting for it (time.perf_counter)
        self._request = ""
        self._name = prepared.path.stem  # the graph's compile lock
        self._limit: float | None = compile_workers.DEFAULT_LIMIT  # set by start
        self._preload: threading.Thread | None = None  # imports numba meanwhile (numba_preload)
        # Set by graphc.api: called with (runner, fast call) once the Numba tier is loaded.
        self.on_switch: Callable[[Runner, Any], None] | None = None
        self.stats = stats
        stats.update({"backend": "numba", "tiered": "process", "tier": None,
                      "calls": {"numpy": 0, "numba": 0}, "numba_ready": False,
                      "tier_times": {"tiered": time.time()}})
        stats.update(_known_now(prepared))

    def start(self, state: dict[str, Any]) -> None:
        """Write the request (the Function's portable state, tiered off). A graph another
        process compiles is waited for; one-function mode is handed to the worker now,
        kernel mode at the first call (with its inputs), its worker started now."""
        import pickle

        folder = compile_workers.request_folder()
        self._request = os.path.join(folder, "request.pickle")
        from .lowered_cache import declared_values

        # The declared settings as the caller has them now (a user may have changed one at
        # run time): the worker applies them before it lowers, so it compiles the module the
        # caller will load. In the state, so the worker's rebuilt Functions are told apart.
        state = dict(state, options=dict(state["options"], tiered=False), settings=declared_values(),
                     lowered=self._prepared.name)  # the worker compiles our lowering (adopting)
        state.pop("key", None)
        with open(self._request, "wb") as stream:
            pickle.dump(state, stream, protocol=pickle.HIGHEST_PROTOCOL)
        self._limit = compile_workers.compile_limit()
        other = compile_locks.holder(self._name)
        if self._remembered():
            compile_workers.drop(folder)
        elif other:
            self._follow(other)
        elif not self._prepared.kernels:
            self._hand(None)
        else:
            compile_workers.current_worker()  # Numba's import overlaps the caller's work

    def _follow(self, other: int) -> None:
        """Another process's worker compiles this graph: wait for it instead of compiling."""
        self._other, self._waited = other, time.perf_counter()
        self.stats.update(worker_pid=other, worker_shared=True)

    def _hand(self, arrays: list[np.ndarray] | None) -> None:
        """Claim the graph's lock and give the graph (and the first call's inputs, unless
        too large) to our worker; if another process holds the lock, wait for it instead."""
        try:  # claimed in our name first: no worker is started for a graph another compiles
            other = compile_locks.claim(self._name, os.getpid())
            lock = self._name
        except OSError:  # a cache directory we cannot lock in (or a hung guard): no lock
            other, lock = 0, "-"
        if other:
            self._follow(other)
            return
        try:
            worker = compile_workers.current_worker()
        except OSError:  # no process could start: the caller compiles (api.py), unlocked
            if lock != "-":
                compile_locks.release(self._name, os.getpid())
            raise
        folder = os.path.dirname(self._request)
        inputs = "-"
        if arrays is not None and sum(a.nbytes for a in arrays) <= INPUT_LIMIT:
            inputs = os.path.join(folder, "inputs.npz")
            try:
                np.savez(inputs, **{f"a{i}": a for i, a in enumerate(arrays)})  # type: ignore[arg-type]
            except OSError:  # a full disk costs the caller an in-process kernel compile, not the call
                inputs = "-"
        from .cache import cache_dir

        limit = "-" if self._limit is None else repr(self._limit)
        line = "\t".join([folder, self._request, inputs, str(cache_dir()), lock, limit])
        job = compile_workers.Job(folder, worker, line)
        other = job.submit()  # names the worker in the lock; a new worker if it just exited
        if other:  # another process took the lock over between our claim and now
            job.withdraw()
            self._follow(other)
            return
        self._job, self._other = job, 0
        self.stats["worker_pid"] = job.worker.pid
        self.stats["tier_times"].update(spawned=job.worker.spawned, handed=job.started)
        self.stats.pop("worker_shared", None)

    def source(self) -> str:
        return _readable(self._prepared)

    def _poll(self, arrays: list[np.ndarray] | None, load: bool = True) -> bool:
        """Under the switch lock: start, or look whether the compile is done and (if
        `load`) load it. True once the next call runs Numba (or NumPy for good)."""
        if self._numba is not None or self._failed:
            return True
        if self._job is None and not self._other:
            try:
                self._hand(arrays)
            except OSError as exc:  # no worker could start: NumPy keeps serving
                self._fail(f"could not start a compile worker: {exc}")
        elif self._job is not None:
            if self._outcome is None:
                self._outcome = self._job.poll()
                if self._outcome is not None:
                    self.stats["tier_times"]["noticed"] = time.time()
            if self._outcome is not None and (load or not self._outcome.get("ok")):
                self._finished(self._job, self._outcome)  # a failure needs no load
            return self._outcome is not None
        elif self._other_done or time.monotonic() - self._checked >= CHECK_EVERY:
            self._checked = time.monotonic()
            self._other_done = self._look(load)
            return self._other_done
        return False

    def _look(self, load: bool) -> bool:
        """Another process compiles the graph: load once its lock is gone and the cache
        is complete; take over (our own compile) if it is gone without that."""
        other = compile_locks.holder(self._name)
        if other:
            self._other = other  # the same worker, or one that took a stale lock over
            self.stats["worker_pid"] = other
            return False
        if not is_warm(self._prepared):  # it failed or died: we compile (at the next look)
            self._other = 0  # unless it failed for good (its failure marker)
            return self._remembered()
        if load:
            self.stats["worker_seconds"] = time.perf_counter() - self._waited
            self._other = 0
            compile_workers.drop(os.path.dirname(self._request))
            self._load()
            return False  # loaded: _poll answers from _numba from now on
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the graph is compiled, so that the next call runs Numba (or failed)
        (True), or `timeout` passed (False). Nobody called yet: compiled without inputs."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._switch:
                if self._poll(None, load=False):
                    return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def settle(self) -> None:
        """Wait until the graph is compiled (before the Function is pickled: the
        receiving process then loads the machine code instead of compiling again)."""
        self.wait(SETTLE_PATIENCE)

    def _finished(self, job: compile_workers.Job, outcome: dict[str, Any]) -> None:
        """Our worker is done: load the Numba tier, or record why not."""
        self._job, self._outcome = None, None
        if outcome.get("other"):  # a retried job whose lock another process took over
            job.withdraw()
            self._follow(int(outcome["other"]))
            return
        job.close()
        self.stats["worker_seconds"] = float(outcome.get("finished", time.time())) - job.started
        self.stats["worker"] = outcome.get("report", {})
        self.stats["tier_times"].update(self.stats["worker"].pop("times", {}),
                                        finished=float(outcome.get("finished", 0.0)))
        if not outcome.get("ok"):
            timeout = outcome.get("timeout")
            self._fail(str(outcome.get("error")), None if timeout is None else float(timeout))
            return
        self._load()

    def _remembered(self) -> bool:
        """An earlier worker failed on this graph (its failure marker, compile_locks.failure):
        keep NumPy for good without compiling it again. True if so."""
        try:
            failed = compile_locks.failure(self._name, self._limit)
        except OSError:
            return False
        if failed is None:
            return False
        error, limit = failed
        self._fail(f"{error} (remembered from an earlier compile of this graph: remove "
                   f"{compile_locks.failure_path(self._name)} to try again)", limit)
        return True

    def _load(self) -> None:
        """Load the machine code from the cache and switch (under the switch lock)."""
        try:
            loading = time.perf_counter()
            if self._preload is not None:  # numba's import: finished in the background by now
                self._preload.join()
            compiled = finish(self._prepared, self._structure, self._requirements)
            self.stats["load_seconds"] = time.perf_counter() - loading
        except Exception as exc:  # noqa: BLE001 - reported in stats; NumPy keeps serving
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        numba_stats = compiled.stats.as_dict()
        numba_stats.pop("backend", None)
        if self._prepared.kernels:  # kernel mode: were the worker's kernels there to load?
            numba_stats["cache_hit"] = all(_complete(path) for _, path, _ in self._prepared.kernels)
        self.stats.update(numba_stats)
        self.stats["numba_ready"] = True
        self.stats["tier_times"]["loaded"] = time.time()
        self._numba = compiled.runner
        if self.on_switch is not None:  # later calls skip this runner: the fast call
            self.on_switch(compiled.runner, compiled.fast)

    def _fail(self, why: str, limit: float | None = None) -> None:
        """NumPy serves for good; a compile stopped by its time `limit` says so in a warning."""
        self._failed = True
        self.stats["tier_error"] = why
        if limit is not None:
            warnings.warn(
                f"graphc: the Numba compile of this graph ({self._name}) ran longer than the compile time "
                f"limit of {limit:g} s and was stopped; calls keep running on NumPy (slower). "
                f"Set {compile_workers.LIMIT_VARIABLE} to more seconds (0: no limit) to let it "
                f"finish, or compile with tiered=False", GraphcWarning, stacklevel=4)

    def _tier(self, arrays: list[np.ndarray]) -> Runner:
        """The runner for this call: Numba once compiled and loaded, else NumPy."""
        if self._numba is not None or self._failed:
            return self._numba or self._numpy
        with self._switch:
            self._poll(arrays)
        return self._numba or self._numpy

    def __call__(self, arrays: list[np.ndarray], binding: dict[str, int]) -> list[np.ndarray]:
        runner = self._tier(arrays)
        tier = "numba" if runner is self._numba else "numpy"
        results = runner(arrays, binding)
        self.stats["calls"][tier] += 1
        self.stats["tier"] = tier
        if self._preload is None and tier == "numpy" and not self._failed:
            # After the first result (never before it): the switch need not import numba.
            self._preload = numba_preload.start()
        return results
