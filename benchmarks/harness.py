"""Measuring: prepare and check every implementation, time them round-robin, run start-up children.

Owns the three kinds of measurement behind benchmarks/compare.py's table:

* per call   - `prepare` builds each implementation, runs it once and compares
               its outputs with hand NumPy's (a wrong one is never timed);
               `time_round_robin` then takes one sample of every
               implementation per round, rotating the order, so machine drift
               spreads over all of them; the median per call is reported.
* start-up   - `startup` spawns a fresh Python (compare.py --child-startup) that
               imports, builds, differentiates, compiles and computes the first
               result; the time runs from spawning to that result. Cold runs get
               empty cache directories, warm runs the ones a cold run filled.
* compile    - `compile_growth` spawns a child per chain length that reports how
               long gc.compile took (empty GRAPHC_CACHE_DIR).

Imports: numpy, the standard library and the workloads package (no framework
at module level, so a child only imports what it times).
"""

from __future__ import annotations

import gc as garbage_collector
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from workloads import adapters

COMPARE = Path(__file__).resolve().parent / "compare.py"


@dataclass
class Cell:
    """One table cell: a time in seconds (median), or a note saying why there is none."""

    seconds: float | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)
    wrong: bool = False
    detail: str = ""  # extra facts for the footnotes (e.g. build and grad time of a compile)

    @property
    def spread(self) -> float | None:
        """Interquartile range over the median: how noisy the samples were."""
        if len(self.samples) < 4 or not self.seconds:
            return None
        quartiles = statistics.quantiles(self.samples, n=4)
        return (quartiles[2] - quartiles[0]) / self.seconds


def describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:160]


def prepare(module: ModuleType, names: list[str], inputs: dict[str, Any]
            ) -> tuple[dict[str, adapters.Prepared], dict[str, Cell]]:
    """Build, run once and check each implementation against hand NumPy; the ones that pass get timed."""
    reference = list(module.hand_numpy(*inputs.values()))
    ready: dict[str, adapters.Prepared] = {}
    cells: dict[str, Cell] = {}
    for name in names:
        builder = module.IMPLEMENTATIONS.get(name)
        if builder is None:
            continue
        try:
            prepared = builder(inputs)
            outputs = prepared.to_numpy(prepared.run())
        except adapters.Unavailable as error:
            cells[name] = Cell(note=f"n/a ({error})")
            continue
        except Exception as error:  # noqa: BLE001 - a failing tool empties its cell, the run goes on
            cells[name] = Cell(note=f"failed: {describe(error)}")
            continue
        mismatch = adapters.max_error(outputs, reference, module.RTOL, module.ATOL)
        if mismatch:
            cells[name] = Cell(note=f"WRONG vs hand NumPy: {mismatch}", wrong=True)
            continue
        ready[name] = prepared
        cells[name] = Cell()
    return ready, cells


# What a per-call sample measures: wall time, or (compare.py --cpu) the process's CPU time,
# all its threads (a BLAS's or XLA's workers, spinning ones too): on a machine loaded by
# other work, wall time mostly measures the scheduler and CPU time the work.
CLOCK = [time.perf_counter]


def _sample(prepared: adapters.Prepared, number: int) -> float:
    run, clock = prepared.run, CLOCK[0]
    enabled = garbage_collector.isenabled()
    garbage_collector.disable()
    try:
        start = clock()
        for _ in range(number):
            run()
        return (clock() - start) / number
    finally:
        if enabled:
            garbage_collector.enable()


def time_round_robin(ready: dict[str, adapters.Prepared], cells: dict[str, Cell],
                     rounds: int, sample_seconds: float, settle: float = 0.0) -> None:
    """Median seconds per call; each round samples every implementation once, in a rotated order.

    Before each sample: `settle` seconds of busy waiting, then one untimed call. BLAS and
    OpenMP worker threads keep spinning for up to ~0.1 s after a call, and on 2 cores one
    tool's spinning threads would otherwise slow the next tool's sample; busy waiting (not
    sleep) and the untimed call keep the idle-core wake-up (~3 ms here) out of the sample.
    """
    numbers = {}
    for name, prepared in ready.items():
        warm_until = time.perf_counter() + 0.05  # first calls fill caches and allocator pools
        while time.perf_counter() < warm_until:
            prepared.run()
        single = min(_sample(prepared, 1) for _ in range(3))
        numbers[name] = max(1, math.ceil(sample_seconds / max(single, 1e-9)))
    order = list(ready)
    for round_index in range(rounds):
        shift = round_index % max(len(order), 1)
        for name in order[shift:] + order[:shift]:
            pause_until = time.perf_counter() + settle
            while time.perf_counter() < pause_until:
                pass
            ready[name].run()
            cells[name].samples.append(_sample(ready[name], numbers[name]))
    for name in ready:
        cells[name].seconds = statistics.median(cells[name].samples)


# ---------------------------------------------------------------- start-up in fresh processes

def thread_environment(threads: int) -> dict[str, str]:
    """Environment that caps every tool's worker threads (set before any of them is imported)."""
    count = str(threads)
    return {"OMP_NUM_THREADS": count, "OPENBLAS_NUM_THREADS": count, "MKL_NUM_THREADS": count,
            "NUMBA_NUM_THREADS": count,
            "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                         f"intra_op_parallelism_threads={count}"}


def cache_environment(name: str, directory: Path) -> dict[str, str]:
    """Where each tool keeps compiled code across processes, pointed at `directory`."""
    if name.startswith("graphc"):
        return {"GRAPHC_CACHE_DIR": str(directory)}
    if name == "hand_numba":
        return {"NUMBA_CACHE_DIR": str(directory)}
    if name == "jax":
        return {"JAX_COMPILATION_CACHE_DIR": str(directory),
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}
    if name.startswith("pytensor"):
        return {"PYTENSOR_FLAGS": f"base_compiledir={directory}"}
    return {}


def run_child(arguments: list[str], environment: dict[str, str], timeout: float) -> tuple[float, dict]:
    """Spawn compare.py in child mode; seconds from spawn to the child's `ready` stamp, and its report."""
    env = {**os.environ, **environment}
    start = time.time()
    try:
        completed = subprocess.run([sys.executable, str(COMPARE), *arguments], env=env, timeout=timeout,
                                   capture_output=True, text=True)
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout.decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        early = [line for line in output.splitlines() if line.startswith("{")]
        if not early:
            raise
        report = {**json.loads(early[-1]), "timed_out": True}  # the tiered child's first result
        return report["ready"] - start, report
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"child exited {completed.returncode}: {tail[:200]}")
    report = json.loads(lines[-1])
    return report.get("ready", start) - start, report


def startup(workload: str, names: list[str], rounds: int, timeout: float, extra: list[str],
            root: Path) -> tuple[dict[str, Cell], dict[str, Cell], dict[str, Path]]:
    """Cold and warm first-result times per implementation, rounds interleaved; slow ones get one round."""
    cold = {name: Cell() for name in names}
    warm = {name: Cell() for name in names}
    warm_dirs: dict[str, Path] = {}
    for round_index in range(rounds):
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            if cold[name].note or (cold[name].samples and max(cold[name].samples) > 20.0):
                continue
            directory = Path(tempfile.mkdtemp(prefix=f"{workload}-{name}-", dir=root))
            arguments = ["--child-startup", workload, name, *extra]
            for kind, cell in (("cold", cold[name]), ("warm", warm[name])):
                try:
                    seconds, report = run_child(arguments, cache_environment(name, directory), timeout)
                except subprocess.TimeoutExpired:
                    cell.note = f"skipped: {kind} start > {timeout:.0f} s"
                    if kind == "cold":
                        warm[name].note = f"skipped: cold start > {timeout:.0f} s"
                    break
                except Exception as error:  # noqa: BLE001
                    cell.note = f"failed: {describe(error)}"
                    if kind == "cold":
                        warm[name].note = "not run: the cold start failed"
                    break
                if report.get("skipped"):
                    cell.note = report["skipped"]
                    if kind == "cold":
                        warm[name].note = report["skipped"]
                    break
                if report.get("mismatch"):
                    cell.note, cell.wrong = f"WRONG vs hand NumPy: {report['mismatch']}", True
                    break
                cell.samples.append(seconds)
                if report.get("timed_out"):
                    cell.detail = f"{kind}: Numba tier not ready within {timeout:.0f} s"
                if "full_speed" in report:
                    full = report["full_speed"] - report["ready"] + seconds
                    error = f", tier error: {report['tier_error']}" if report.get("tier_error") else ""
                    cell.detail = f"{kind}: Numba tier ready after {full:.2f} s (last round){error}"
                warm_dirs.setdefault(name, directory)
    for cell in (*cold.values(), *warm.values()):
        if cell.samples and not cell.note:
            cell.seconds = statistics.median(cell.samples)
    return cold, warm, warm_dirs


def compile_growth(lengths: list[int], timeout: float, root: Path) -> dict[int, Cell]:
    """gc.compile seconds (numba backend, empty cache) for chains of each length, in fresh processes."""
    cells: dict[int, Cell] = {}
    for length in lengths:
        directory = Path(tempfile.mkdtemp(prefix=f"compile-{length}-", dir=root))
        try:
            _, report = run_child(["--child-compile", str(length)], {"GRAPHC_CACHE_DIR": str(directory)},
                                  timeout)
        except subprocess.TimeoutExpired:
            cells[length] = Cell(note=f"skipped: > {timeout:.0f} s")
            continue
        except Exception as error:  # noqa: BLE001
            cells[length] = Cell(note=f"failed: {describe(error)}")
            continue
        if report.get("mismatch"):
            cells[length] = Cell(note=f"WRONG vs hand NumPy: {report['mismatch']}", wrong=True)
            continue
        cells[length] = Cell(seconds=report["compile"], samples=[report["compile"]])
        stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in report.get("stages", {}).items())
        parts = f", {report['parts']} part(s)" if report.get("parts") else ""
        cells[length].detail = (f"build {report['build']:.2f} s, grad {report['grad']:.2f} s; "
                                f"compile stages: {stages or 'not reported'}{parts}")
    return cells
