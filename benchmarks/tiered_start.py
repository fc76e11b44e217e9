"""Tiered start: first result, full speed and the work done meanwhile, off vs thread vs process.

    python benchmarks/tiered_start.py                                   # every workload, 3 rounds
    python benchmarks/tiered_start.py --workloads mlp16,hess100 --rounds 5
    python benchmarks/tiered_start.py --scipy                           # + examples/scipy_optimize.py

Each cell is a FRESH process with an EMPTY graphc cache (graphc's own kernels
warm, as after `graphc warmup`), `gc.compile(..., tiered=MODE)` with MODE off
(tiered=False: compile before returning), thread (tiered="thread") or process
(tiered=True: the worker process of backend/tiered_process.py), then a
training-style loop of calls on the same inputs until --steps calls are done
AND the Numba tier serves. Times are from before `gc.compile` (graph already
built; numpy and graphc imported) to:

* first   - the first result;
* numba   - the first result served by the Numba tier (full speed);
* steps   - the --steps-th result (the work of a short training run);
* in Ts   - results returned within the first --window seconds;
* cpu     - CPU seconds of the caller + of the worker process (reaped first).

The modes run interleaved per round (A/B/C, then again), medians shown. The
machine may be shared: compare columns of one run, and read the cpu column.
Workloads: mlp16 (benchmarks/compile_time.py: 16 tanh layers, width 32, batch
64, loss + 32 gradients), mlp (benchmarks/workloads/mlp.py: 784-512-10 step),
hess10/hess100/hess1000 (benchmarks/bench_jacobian.py's Hessian). --scipy adds
`examples/scipy_optimize.py --backend numba` end to end (wall and CPU of the
whole run, GRAPHC_TIERED=0/thread/1).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODES = {"off": False, "thread": "thread", "process": True}
FAST_CALLS = 100  # calls timed once the Numba tier serves (per call column: their median)
WORKLOADS = ("mlp16", "mlp", "hess10", "hess100", "hess1000")


def build(workload: str) -> tuple[Any, list[Any], list[Any]]:
    """(inputs, outputs, values) of a workload's graph."""
    sys.path.insert(0, str(HERE))
    import graphc as gc

    if workload == "mlp16":
        import compile_time

        depth, width = 16, 32
        return (*compile_time.mlp_graph(depth, width), compile_time.make_inputs(depth, width))
    if workload == "mlp":
        from workloads import mlp

        values = mlp.make_inputs(False)
        graph_inputs, loss = mlp.graphc_graph()
        by_name = {node.name: node for node in graph_inputs}
        gradients = gc.grad(loss, [by_name[name] for name in mlp.WRT])
        return graph_inputs, [loss, *gradients], [values[str(node.name)] for node in graph_inputs]
    import bench_jacobian

    n = int(workload.removeprefix("hess"))
    x, A = gc.input("x", (n,)), gc.input("A", (n, n))
    out = gc.hessian(gc.sum(gc.log1p((x @ A) ** 2)) + gc.sum(x ** 3), x)
    return [x, A], out, bench_jacobian.inputs("hessian", n)


def child(workload: str, mode: str, steps: int, window: float, limit: float) -> dict[str, Any]:
    import numpy as np

    import graphc as gc
    from graphc.backend import compile_workers

    inputs, outputs, values = build(workload)
    reference = gc.compile(inputs, outputs, backend="numpy")(*values)
    cpu0, start = time.process_time(), time.perf_counter()
    f = gc.compile(inputs, outputs, tiered=MODES[mode])
    stamps, tiers = [], []
    while True:
        result = f(*values)
        stamps.append(time.perf_counter() - start)
        tiers.append(f.stats.get("tier") or "numba")
        if len(stamps) == 1:
            first = result
        done = len(stamps) >= steps and tiers[-FAST_CALLS:].count("numba") == FAST_CALLS
        if done or stamps[-1] > limit or f.stats.get("tier_error"):
            break
    cpu = time.process_time() - cpu0
    compile_workers.stop_workers()
    worker_cpu = sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
    numba_at = next((t for t, tier in zip(stamps, tiers) if tier == "numba"), None)
    fast = [b - a for a, b, tier in zip(stamps, stamps[1:], tiers[1:]) if tier == "numba"][-FAST_CALLS:]
    firsts = first if isinstance(first, (list, tuple)) else [first]
    wants = reference if isinstance(reference, (list, tuple)) else [reference]
    single = any(np.asarray(w).dtype == np.float32 for w in wants)  # the MLP step: float32
    rtol, atol = (2e-3, 2e-5) if single else (1e-9, 1e-12)  # the first result vs the numpy backend
    wrong = not all(np.allclose(g, w, rtol=rtol, atol=atol) for g, w in zip(firsts, wants))
    return {"first": stamps[0], "numba": numba_at, "steps": stamps[min(steps, len(stamps)) - 1],
            "window": sum(t <= window for t in stamps), "cpu": cpu, "worker_cpu": worker_cpu,
            "per_call": statistics.median(fast) if fast else None, "wrong": wrong,
            "error": float(wrong),
            "tier_error": f.stats.get("tier_error"), "numpy_calls": tiers.count("numpy"),
            "worker_seconds": f.stats.get("worker_seconds"), "load": f.stats.get("load_seconds")}


def run(command: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"failed": (done.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(lines[-1])


def environment() -> dict[str, str]:
    env = dict(os.environ, GRAPHC_CACHE_DIR=tempfile.mkdtemp(prefix="graphc-tiered-start-"))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    env.pop("GRAPHC_TIERED", None)
    return env


def scipy_cell(mode: str, timeout: float) -> dict[str, Any]:
    env = environment()
    env["GRAPHC_TIERED"] = {"off": "0", "thread": "thread", "process": "1"}[mode]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "scipy_optimize.py"),
                           "--backend", "numba"], env=env, capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        return {"failed": (done.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def median(samples: list[dict[str, Any]], key: str) -> str:
    values = [s[key] for s in samples if s.get(key) is not None]
    if not values:
        return "-"
    text = f"{statistics.median(values):.2f}"
    return text + (f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--limit", type=float, default=120.0, help="seconds a cell may run")
    parser.add_argument("--scipy", action="store_true")
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(*options.child, options.steps, options.window, options.limit)))
        return 0
    modes = options.modes.split(",")
    print(f"# fresh process, empty graph cache per cell, modes interleaved, median (min-max) of "
          f"{options.rounds}; load average {os.getloadavg()[0]:.1f} at start")
    print(f"| workload | tiered | first (s) | numba tier (s) | {options.steps} steps (s) | "
          f"calls in {options.window:g} s | per call (ms) | cpu caller + worker (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for workload in options.workloads.split(","):
        samples: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for _ in range(options.rounds):
            for mode in modes:
                command = [sys.executable, __file__, "--child", workload, mode, "--steps",
                           str(options.steps), "--window", str(options.window), "--limit",
                           str(options.limit)]
                samples[mode].append(run(command, environment(), options.limit + 300))
        for mode in modes:
            got = samples[mode]
            failed = [s["failed"] for s in got if "failed" in s]
            if failed:
                print(f"| {workload} | {mode} | failed: {failed[0]} |||||")
                continue
            per_call = [s["per_call"] * 1e3 for s in got if s.get("per_call")]
            cpu = f"{median(got, 'cpu')} + {median(got, 'worker_cpu')}"
            print(f"| {workload} | {mode} | {median(got, 'first')} | {median(got, 'numba')} | "
                  f"{median(got, 'steps')} | {median(got, 'window')} | "
                  f"{statistics.median(per_call):.3g} | {cpu} |"
                  + (" WRONG" if any(s["wrong"] for s in got) else ""), flush=True)
    if options.scipy:
        print("\n| examples/scipy_optimize.py --backend numba | wall (s) | cpu incl. workers (s) |")
        print("|---|---|---|")
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for _ in range(options.rounds):
            for mode in modes:
                runs[mode].append(scipy_cell(mode, options.limit + 600))
        for mode in modes:
            print(f"| GRAPHC_TIERED={mode} | {median(runs[mode], 'wall')} | "
                  f"{median(runs[mode], 'cpu')} |", flush=True)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
