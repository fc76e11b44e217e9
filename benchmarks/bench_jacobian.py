"""Hessians, Jacobians and per-example gradients: graphc (vmap-based) against JAX, PyTorch and NumPy.

One table (issue 14). Workloads, all float64:

* hessian n:   H of f(x) = sum(log1p((x @ A)**2)) + sum(x**3), A fixed (n x n)
* jacobian n:  J of g(x) = log1p((x @ A)**2) + x**3 (the vector inside f)
* per-example: the gradient of each example's logistic loss, batch 256, 100 features

Tools: graphc (numba and numpy backends; gc.hessian / gc.jacobian /
gc.vmap(gc.grad)), `jax.jit(jax.hessian)` / `jax.jit(jax.jacrev)` /
`jax.jit(jax.vmap(jax.grad))`, `torch.func.hessian` / `jacrev` / `vmap(grad)`,
and the hand-written NumPy formula. Every result is checked against the
formula before it is timed (a wrong one is reported, never timed).

`graphc_tiered` (not in the default tools) is the numba backend's tiered start
in a worker process: its compile cell is "first result -> Numba tier serving"
(a loop of calls meanwhile), its per-call time the Numba tier's.

Columns per tool: graph size (graphc: nodes after simplify; JAX: jaxpr
equations), cold compile (a fresh process with an empty graphc cache: build,
differentiate, compile and the first call; for torch the first call), and
the median per call. Every cell runs in its own child process. A tool that is
not installed only empties its column. By default every tool runs on one
thread (`--threads`), which keeps numbers comparable on a shared machine.

`--cpu` reports CPU seconds of the child (`time.process_time`: what a loaded
machine inflates least) instead of wall seconds; a graphc numba cell then
also says how much of its cold compile was Numba's own per-process set-up
(the first njit compile of a trivial function, timed before the graph).
`--trees main=/work/main,new=.` runs the graphc tools once per source tree
(A/B in one run); `--rounds R` repeats every row R times, the tools
interleaved, and reports medians.

    python benchmarks/bench_jacobian.py                  # the whole table
    python benchmarks/bench_jacobian.py --sizes 10,100 --tools graphc_numpy,numpy
    python benchmarks/bench_jacobian.py --tasks hessian --tools graphc_numba,graphc_tiered,jax
    python benchmarks/bench_jacobian.py --cpu --rounds 3 --tools graphc_numba,jax,numpy \
        --trees main=/work/main,branch=.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

TOOLS = ["graphc_numba", "graphc_numpy", "jax", "torch", "numpy"]  # also graphc_tiered
TITLES = {"graphc_numba": "graphc numba", "graphc_numpy": "graphc numpy", "jax": "JAX jit",
          "graphc_tiered": "graphc tiered (process)",
          "torch": "torch.func", "numpy": "hand NumPy"}
BATCH, FEATURES = 256, 100


# ------------------------------------------------------------------ inputs and references

def inputs(task: str, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(n)
    if task == "per_example":
        X = rng.standard_normal((BATCH, FEATURES))
        return [rng.standard_normal(FEATURES) / 10, X, (rng.uniform(size=BATCH) > 0.5) * 1.0]
    return [rng.standard_normal(n), rng.standard_normal((n, n)) / np.sqrt(n)]


def hand_numpy(task: str) -> Callable[..., np.ndarray]:
    def hessian(x: np.ndarray, A: np.ndarray) -> np.ndarray:
        z = x @ A
        out = (A * ((2 - 2 * z ** 2) / (1 + z ** 2) ** 2)) @ A.T
        out[np.diag_indices_from(out)] += 6 * x
        return out

    def jacobian(x: np.ndarray, A: np.ndarray) -> np.ndarray:
        z = x @ A
        out = (2 * z / (1 + z ** 2))[:, None] * A.T
        out[np.diag_indices_from(out)] += 3 * x ** 2
        return out

    def per_example(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (1 / (1 + np.exp(-(X @ w))) - y)[:, None] * X

    return {"hessian": hessian, "jacobian": jacobian, "per_example": per_example}[task]


# ----------------------------------------------------------------- implementations

def build_graphc(task: str, n: int, backend: str) -> tuple[Callable[..., Any], int]:
    """backend "numba" compiles before returning (tiered=False); "tiered" is the numba
    backend's tiered start in a worker process (tiered=True)."""
    import graphc as gc

    options = {"backend": "numba", "tiered": True} if backend == "tiered" else \
        {"backend": backend, "tiered": False}

    if task == "per_example":
        w, X, y = gc.input("w", (FEATURES,)), gc.input("X", ("batch", FEATURES)), gc.input("y", ("batch",))

        def loss(x: Any, label: Any) -> Any:
            margin = x @ w
            return gc.softplus(margin) - label * margin

        out = gc.vmap(lambda x, label: gc.grad(loss(x, label), w))(X, y)
        f = gc.compile([w, X, y], out, **options)
    else:
        x, A = gc.input("x", (n,)), gc.input("A", (n, n))
        inner = gc.log1p((x @ A) ** 2)
        if task == "hessian":
            out = gc.hessian(gc.sum(inner) + gc.sum(x ** 3), x)
        else:
            out = gc.jacobian(inner + x ** 3, x)
        f = gc.compile([x, A], out, **options)
    return f, int(f.stats["simplify"]["nodes_after"])


def build_jax(task: str, n: int) -> tuple[Callable[..., Any], int]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    if task == "per_example":
        def loss(w: Any, x: Any, label: Any) -> Any:
            margin = x @ w
            return jax.nn.softplus(margin) - label * margin
        fn = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))
    elif task == "hessian":
        fn = jax.hessian(lambda x, A: jnp.sum(jnp.log1p((x @ A) ** 2)) + jnp.sum(x ** 3))
    else:
        fn = jax.jacrev(lambda x, A: jnp.log1p((x @ A) ** 2) + x ** 3)
    jitted = jax.jit(fn)
    return (lambda *a: np.asarray(jitted(*a).block_until_ready())), -1


def _jaxpr_size(task: str, n: int) -> int:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    values = inputs(task, n)
    if task == "per_example":
        def loss(w: Any, x: Any, label: Any) -> Any:
            margin = x @ w
            return jax.nn.softplus(margin) - label * margin
        fn: Any = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))
    elif task == "hessian":
        fn = jax.hessian(lambda x, A: jnp.sum(jnp.log1p((x @ A) ** 2)) + jnp.sum(x ** 3))
    else:
        fn = jax.jacrev(lambda x, A: jnp.log1p((x @ A) ** 2) + x ** 3)
    return len(jax.make_jaxpr(fn)(*values).eqns)


def build_torch(task: str, n: int) -> tuple[Callable[..., Any], int]:
    import torch
    from torch import func

    if task == "per_example":
        def loss(w: Any, x: Any, label: Any) -> Any:
            margin = x @ w
            return torch.nn.functional.softplus(margin) - label * margin
        fn = func.vmap(func.grad(loss), in_dims=(None, 0, 0))
    elif task == "hessian":
        fn = func.hessian(lambda x, A: torch.sum(torch.log1p((x @ A) ** 2)) + torch.sum(x ** 3))
    else:
        fn = func.jacrev(lambda x, A: torch.log1p((x @ A) ** 2) + x ** 3)

    def call(*arrays: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return fn(*(torch.from_numpy(a) for a in arrays)).numpy()
    return call, -1


def build(tool: str, task: str, n: int) -> tuple[Callable[..., Any], int]:
    if tool.startswith("graphc_"):
        return build_graphc(task, n, tool.removeprefix("graphc_"))
    if tool == "jax":
        return build_jax(task, n)
    if tool == "torch":
        return build_torch(task, n)
    return hand_numpy(task), -1


# ------------------------------------------------------------------------ measuring

def time_calls(fn: Callable[..., Any], values: list[np.ndarray], budget: float = 1.0,
               clock: Callable[[], float] = time.perf_counter) -> float:
    """Median seconds per call (by `clock`) over rounds of a few calls each, within about `budget`."""
    start = clock()
    fn(*values)
    once = max(clock() - start, 1e-7)
    per_round = max(1, int(0.02 / once))
    samples = []
    deadline = time.perf_counter() + budget
    while len(samples) < 5 or (time.perf_counter() < deadline and len(samples) < 200):
        begin = clock()
        for _ in range(per_round):
            fn(*values)
        samples.append((clock() - begin) / per_round)
    return statistics.median(samples)


def numba_setup(clock: Callable[[], float]) -> float:
    """Seconds of Numba's per-process set-up: the first njit compile of a trivial function."""
    import numba

    start = clock()
    numba.njit(lambda a: a.shape[0] + 1)(np.zeros(1))
    return clock() - start


def child(tool: str, task: str, n: int, cpu: bool = False) -> dict[str, Any]:
    """One cell, in a fresh process: import, then build + compile + first call, check, time."""
    clock = time.process_time if cpu else time.perf_counter
    if tool == "jax":
        import jax  # noqa: F401 - imported before the clock starts, like graphc and torch below
    elif tool == "torch":
        import torch
        torch.set_num_threads(max(1, int(os.environ.get("BENCH_THREADS", "1"))))
    elif tool.startswith("graphc"):
        import graphc  # noqa: F401
        if tool == "graphc_numba":
            import numba  # noqa: F401 - its import is not compile time
    values = inputs(task, n)
    start = clock()
    setup = numba_setup(clock) if cpu and tool == "graphc_numba" else None
    fn, nodes = build(tool, task, n)
    got = np.asarray(fn(*values))
    compile_seconds = clock() - start
    ready, tier_error = None, None
    if tool == "graphc_tiered":  # call in a loop until the Numba tier serves
        while fn.stats["tier"] != "numba" and not fn.stats.get("tier_error"):  # type: ignore[attr-defined]
            fn(*values)
        ready = clock() - start
        tier_error = fn.stats.get("tier_error")  # type: ignore[attr-defined]
    if tool == "jax":
        nodes = _jaxpr_size(task, n)
    expected = hand_numpy(task)(*values)
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-9, atol=1e-9):
        same = got.shape == expected.shape
        return {"wrong": f"max difference {np.max(np.abs(got - expected))}" if same else f"shape {got.shape}"}
    return {"nodes": nodes, "compile": compile_seconds, "setup": setup, "ready": ready,
            "tier_error": tier_error, "call": time_calls(fn, values, clock=clock)}


def run_child(tool: str, task: str, n: int, threads: int, cpu: bool = False,
              tree: str | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env["BENCH_THREADS"] = str(threads)
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_jacobian_")
    source = Path(tree).resolve() if tree else Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(source) + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", tool, task, str(n)] + (
        ["--cpu"] if cpu else [])
    # Run in the tree: the tiered start's compile worker (`python -m graphc.backend.compile_worker`)
    # puts its working directory first on sys.path, so from another tree it would import that
    # tree's graphc and refuse the graph ("pickled by another version"): the Numba tier then
    # never comes and the cell reports NumPy's per call.
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800,
                               cwd=source)
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["failed"])[-1]
        return {"missing" if "ModuleNotFoundError" in last else "failed": last[:100]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def cell(results: list[dict[str, Any]]) -> str:
    """One table cell from the rounds of one tool and row: medians of compile, set-up and call."""
    for result in results:
        if "missing" in result:
            return ""
        if "wrong" in result:
            return f"WRONG ({result['wrong']})"
        if "failed" in result:
            return f"failed: {result['failed']}"
    first = results[0]
    nodes = f"{first['nodes']} / " if first["nodes"] >= 0 else ""
    compile_text = format_seconds(statistics.median(r["compile"] for r in results))
    if first.get("ready") is not None:  # tiered: first result -> Numba tier serving
        compile_text += f" -> {format_seconds(statistics.median(r['ready'] for r in results))}"
        failed = sum(1 for r in results if r.get("tier_error"))
        if failed:  # its "ready" is the failure and its per call the NumPy tier's: say so
            compile_text += f" (Numba tier failed in {failed} of {len(results)})"
    if first.get("setup") is not None:
        compile_text += f" ({format_seconds(statistics.median(r['setup'] for r in results))} set-up)"
    return f"{nodes}{compile_text} / {format_seconds(statistics.median(r['call'] for r in results))}"


def columns(tools: list[str], trees: str) -> list[tuple[str, str, str | None]]:
    """(title, tool, source tree) per column: the graphc tools once per tree of `--trees`."""
    pairs = [tuple(item.split("=", 1)) for item in trees.split(",") if item] if trees else []
    found: list[tuple[str, str, str | None]] = []
    for tool in tools:
        if tool.startswith("graphc_") and pairs:
            found += [(f"{TITLES[tool]} ({label})", tool, path) for label, path in pairs]
        else:
            found.append((TITLES[tool], tool, None))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "TASK", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--tasks", default="hessian,jacobian,per_example")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cpu", action="store_true", help="CPU seconds (process_time), not wall")
    parser.add_argument("--trees", default="", help="label=path,... : graphc tools once per tree")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per row (medians reported)")
    args = parser.parse_args(argv)
    if args.child:
        tool, task, n = args.child
        print(json.dumps(child(tool, task, int(n), args.cpu)))
        return 0
    table = columns(args.tools.split(","), args.trees)
    rows = [(task, n) for task in args.tasks.split(",") if task != "per_example"
            for n in map(int, args.sizes.split(","))]
    if "per_example" in args.tasks.split(","):
        rows.append(("per_example", BATCH))
    print(f"load average before: {os.getloadavg()[0]:.2f}; threads per tool: {args.threads}; "
          f"{'CPU' if args.cpu else 'wall'} seconds; {args.rounds} round(s), medians")
    print("cells: graph size (graphc nodes after simplify, JAX jaxpr equations) / cold compile "
          "(fresh process: build, differentiate, compile, first call) / median per call\n")
    print("| workload | " + " | ".join(title for title, _, _ in table) + " |")
    print("|---" * (len(table) + 1) + "|")
    failed = False
    for task, n in rows:
        label = f"{task} n={n}" if task != "per_example" else f"per-example grads {BATCH}x{FEATURES}"
        results: list[list[dict[str, Any]]] = [[] for _ in table]
        for _ in range(args.rounds):
            for i, (_, tool, tree) in enumerate(table):
                results[i].append(run_child(tool, task, n, args.threads, args.cpu, tree))
        failed |= any("wrong" in r or "failed" in r for column in results for r in column)
        print(f"| {label} | " + " | ".join(cell(r) for r in results) + " |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
