"""Compile time of a deep tanh MLP (loss + every gradient): graphc against jax.jit and PyTensor.

    /work/benchvenv/bin/python benchmarks/compile_time.py                 # depths 2 8 16 64, widths 32 512
    python benchmarks/compile_time.py --depths 2,16 --widths 32 --tools graphc,jax --repeat 3
    python benchmarks/compile_time.py --depths 16 --widths 32 --tools graphc,graphc_tiered,jax
    python benchmarks/compile_time.py --depths 16 --widths 32 --tools graphc,graphc_numba,jax --repeat 9

Each cell is the time of compile + first result in a FRESH process, measured
inside it from before the graph is built to the first result (numpy, numba,
graphc, jax and pytensor are imported before the clock starts: every tool pays
its own imports outside the cell). Each cell includes building the graph and
its gradient (graphc's graph and `gc.grad`, jax's tracing and
`value_and_grad`, pytensor's graph and `pytensor.grad`); before 2026-12-07
(table 49) graphc's and pytensor's clocks started after their graphs were
built (~4 ms for graphc's 16-layer step). The stages column is graphc's
`f.stats["seconds"]`, which starts at `gc.compile`. Other scripts that call
`build_graphc` (cold_ab.py, cold_stages.py, ...) still time from `gc.compile`. The graph is
`h = tanh(h @ W_i + b_i)` for each layer, `loss = mean((h - y)**2)`, outputs
loss and the gradients of every W_i and b_i; float64, batch 64 (a named size
`n` for graphc).

Columns:
* graphc cold    - empty GRAPHC_CACHE_DIR (graphc's own kernels and helpers
                   compiled once per installation, as after `graphc warmup`).
* graphc new     - a graph this cache has not seen, whose kernels it has:
                   the cache directory first compiled the depth-3 and depth-4 MLPs of the
                   same width (a copy of that directory is used per cell).
* graphc warm    - the same graph again (second process, same cache).
* graphc_numba   - (tool graphc_numba) graphc cold with GRAPHC_DIRECT=0: every fused kernel
                   compiled by Numba, as before the direct path (docs/codegen.md).
* graphc tiered  - (tool graphc_tiered) empty cache, `tiered=True`: the first
                   result from the NumPy tier while a worker process compiles
                   (docs/codegen.md, "Tiered start in a process"), then the
                   time until a call in a loop is served by the Numba tier.
The graphc cold/new/warm columns compile with tiered=False (the time to
compiled code).
* jax            - jax.jit(value_and_grad) (no persistent cache: always cold).
* pytensor C / pytensor numba - pytensor.function(mode=...) with an empty
                   compiledir (and an empty NUMBA_CACHE_DIR for the numba mode).

Cells show the median over --repeat runs and the spread (min-max), then
the median CPU time of the process over the same span (to the first result).
With graphc and jax both measured, "graphc cold / jax" is the median (min-max) of
the ratios of the runs made in the same repetition (the issue's goal: <= 2x).
The machine is shared: compare columns within one run. Child mode:
--child TOOL DEPTH WIDTH prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 64
HERE = Path(__file__).resolve()


def make_inputs(depth: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(depth * 1000 + width)
    values = [rng.standard_normal((BATCH, width)), rng.standard_normal((BATCH, width))]
    values += [rng.standard_normal((width, width)) / np.sqrt(width) for _ in range(depth)]
    values += [rng.standard_normal(width) * 0.1 for _ in range(depth)]
    return values


def reference(values: list[np.ndarray], depth: int) -> list[np.ndarray]:
    """Loss and gradients by hand (NumPy): the check every tool must pass."""
    x, y, Ws, bs = values[0], values[1], values[2:2 + depth], values[2 + depth:]
    hs = [x]
    for W, b in zip(Ws, bs):
        hs.append(np.tanh(hs[-1] @ W + b))
    loss = np.mean((hs[-1] - y) ** 2)
    dh = 2 * (hs[-1] - y) / hs[-1].size
    dWs, dbs = [None] * depth, [None] * depth
    for i in reversed(range(depth)):
        dz = dh * (1 - hs[i + 1] ** 2)
        dWs[i], dbs[i] = hs[i].T @ dz, dz.sum(axis=0)
        dh = dz @ Ws[i].T
    return [np.asarray(loss), *dWs, *dbs]


def mlp_graph(depth: int, width: int):
    """The deep tanh MLP's inputs and outputs (loss, then the gradient of every W_i and b_i)."""
    import graphc as gc

    x, y = gc.input("x", ("n", width)), gc.input("y", ("n", width))
    Ws = [gc.input(f"W{i}", (width, width)) for i in range(depth)]
    bs = [gc.input(f"b{i}", (width,)) for i in range(depth)]
    h = x
    for W, b in zip(Ws, bs):
        h = gc.tanh(h @ W + b)
    loss = gc.mean((h - y) ** 2)
    return [x, y, *Ws, *bs], [loss, *gc.grad(loss, Ws + bs)]


def build_graphc(depth: int, width: int, tiered: bool = False):
    import graphc as gc

    inputs, outputs = mlp_graph(depth, width)
    return lambda: gc.compile(inputs, outputs, tiered=tiered)


def child(tool: str, depth: int, width: int) -> dict:
    values = make_inputs(depth, width)
    stages: dict = {}
    cpu = 0.0  # this process's CPU time over the same span as `seconds`
    if tool == "graphc":
        import numba  # noqa: F401  imported before the clock, like jax below

        import graphc as gc

        start, cpu = time.perf_counter(), time.process_time()
        inputs, results = mlp_graph(depth, width)  # the graph and gc.grad: jax traces inside its cell
        function = gc.compile(inputs, results, tiered=False)
        outputs = function(*values)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        stages = {k: round(v, 3) for k, v in function.stats.get("seconds", {}).items()}
        stages["kernels"] = function.stats.get("kernels")
    elif tool == "graphc_tiered":  # the process tier: numba is imported by the switch, not before
        import graphc as gc

        start, cpu = time.perf_counter(), time.process_time()
        inputs, results = mlp_graph(depth, width)
        function = gc.compile(inputs, results, tiered=True)
        outputs = function(*values)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        while function.stats["tier"] != "numba" and not function.stats.get("tier_error"):
            function(*values)  # a training loop: the NumPy tier serves until the switch
        stages = {"numba_tier": round(time.perf_counter() - start, 3)}
    elif tool == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        def loss_of(params, x, y):
            Ws, bs = params
            h = x
            for W, b in zip(Ws, bs):
                h = jnp.tanh(h @ W + b)
            return jnp.mean((h - y) ** 2)

        step = jax.jit(jax.value_and_grad(loss_of))
        start, cpu = time.perf_counter(), time.process_time()
        params = (values[2:2 + depth], values[2 + depth:])
        loss, (dWs, dbs) = step(params, values[0], values[1])
        outputs = [np.asarray(loss), *[np.asarray(a) for a in dWs], *[np.asarray(a) for a in dbs]]
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    else:
        import pytensor
        import pytensor.tensor as pt

        mode = {"pytensor_c": "FAST_RUN", "pytensor_numba": "NUMBA"}[tool]
        start, cpu = time.perf_counter(), time.process_time()  # the graph inside, as graphc's
        x, y = pt.dmatrix("x"), pt.dmatrix("y")
        Ws = [pt.dmatrix(f"W{i}") for i in range(depth)]
        bs = [pt.dvector(f"b{i}") for i in range(depth)]
        h = x
        for W, b in zip(Ws, bs):
            h = pt.tanh(h @ W + b)
        loss = pt.mean((h - y) ** 2)
        grads = pytensor.grad(loss, Ws + bs)
        function = pytensor.function([x, y, *Ws, *bs], [loss, *grads], mode=mode)
        outputs = function(*values)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    want = reference(values, depth)
    worst = max(float(np.max(np.abs(np.asarray(g) - w) / (1e-8 + np.abs(w))))
                for g, w in zip(outputs, want))
    return {"seconds": seconds, "cpu": cpu, "stages": stages, "ok": worst < 1e-6, "error": worst}


def run_child(tool: str, depth: int, width: int, env: dict, timeout: float) -> dict:
    command = [sys.executable, str(HERE), "--child", tool, str(depth), str(width)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"seconds": None, "note": f">{timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"seconds": None, "note": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


def fresh_env(root: Path, tool: str, graphc_cache: Path | None = None) -> dict:
    env = dict(os.environ)
    scratch = Path(tempfile.mkdtemp(dir=root))
    env["GRAPHC_CACHE_DIR"] = str(graphc_cache or scratch / "graphc")
    if tool.startswith("pytensor"):
        env["PYTENSOR_FLAGS"] = f"compiledir={scratch / 'pytensor'}"
        env["NUMBA_CACHE_DIR"] = str(scratch / "numba")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def cell(samples: list[dict]) -> str:
    times = [s["seconds"] for s in samples if s.get("seconds") is not None]
    if not times:
        return samples[0].get("note", "n/a") if samples else "n/a"
    wrong = "" if all(s.get("ok", True) for s in samples if "ok" in s) else " WRONG"
    text = f"{statistics.median(times):.2f}"
    if len(times) > 1:
        text += f" ({min(times):.2f}-{max(times):.2f})"
    ready = [s["stages"]["numba_tier"] for s in samples if "numba_tier" in s.get("stages", {})]
    if ready:
        text += f" -> {statistics.median(ready):.2f}"
    cpus = [s["cpu"] for s in samples if s.get("cpu") is not None]
    if cpus:  # the first result's CPU time (the machine may be shared: wall time is not all ours)
        text += f", CPU {statistics.median(cpus):.2f}"
    return text + wrong


def ratio_cell(numerators: list[dict], denominators: list[dict]) -> str:
    """The median (min-max) of the ratios of runs made in the same repetition.

    Why: each repetition runs every column back to back, so pairing a graphc run with the
    JAX run next to it cancels most of the drift of a shared machine, which the ratio of
    two column medians keeps.
    """
    ratios = [a["seconds"] / b["seconds"] for a, b in zip(numerators, denominators)
              if a.get("seconds") and b.get("seconds")]
    if not ratios:
        return "n/a"
    text = f"{statistics.median(ratios):.2f}x"
    return text + (f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else "")


def primed_library(root: Path, width: int, timeout: float) -> Path:
    """A graphc cache that compiled the depth-3 and depth-4 MLPs of this width (its kernels)."""
    library = root / f"library-{width}"
    if not library.exists():
        for depth in (3, 4):
            run_child("graphc", depth, width, fresh_env(root, "graphc", library), timeout)
    return library


def measure(column: str, depth: int, width: int, root: Path, library: Path | None, warm: dict,
            timeout: float) -> dict:
    """One cell's run; "graphc cold" fills the cache `warm` that "graphc warm" then reuses."""
    if column in ("graphc cold", "graphc warm"):
        return run_child("graphc", depth, width, warm, timeout)
    if column == "graphc_numba":  # the same cold compile with Numba for every kernel
        env = dict(fresh_env(root, "graphc"), GRAPHC_DIRECT="0")
        return run_child("graphc", depth, width, env, timeout)
    if column == "graphc new":
        assert library is not None
        copy = Path(tempfile.mkdtemp(dir=root)) / "graphc"
        shutil.copytree(library, copy)
        return run_child("graphc", depth, width, fresh_env(root, "graphc", copy), timeout)
    return run_child(column, depth, width, fresh_env(root, column), timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "DEPTH", "WIDTH"))
    parser.add_argument("--depths", default="2,8,16,64")
    parser.add_argument("--widths", default="32,512")
    parser.add_argument("--tools", default="graphc,jax,pytensor_c,pytensor_numba")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0)
    options = parser.parse_args()
    if options.child:
        tool, depth, width = options.child
        print(json.dumps(child(tool, int(depth), int(width))))
        return 0
    tools = options.tools.split(",")
    columns = (["graphc cold", "graphc new", "graphc warm"] if "graphc" in tools else []) + \
        [t for t in tools if t != "graphc"]
    print(f"# compile + first result (s), median (min-max) of {options.repeat}, fresh process each; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    paired = "graphc cold" in columns and "jax" in columns  # the goal: cold <= 2x jax
    extra = ["graphc cold / jax"] if paired else []
    print("| depth | width | " + " | ".join(columns + extra) + " | graphc stages (cold, last run) |")
    print("|" + "---|" * (len(columns) + len(extra) + 3))
    status = 0
    with tempfile.TemporaryDirectory(prefix="graphc-compile-time-") as name:
        root = Path(name)
        for width in map(int, options.widths.split(",")):
            library = primed_library(root, width, options.timeout) if "graphc" in tools else None
            for depth in map(int, options.depths.split(",")):
                samples: dict[str, list[dict]] = {c: [] for c in columns}
                for _ in range(options.repeat):
                    warm = fresh_env(root, "graphc")
                    for column in columns:
                        samples[column].append(measure(column, depth, width, root, library, warm,
                                                       options.timeout))
                stages = samples["graphc cold"][-1].get("stages", {}) if "graphc cold" in samples else {}
                if any(not s.get("ok", True) for c in samples.values() for s in c):
                    status = 1
                cells = [cell(samples[c]) for c in columns]
                if paired:
                    cells.append(ratio_cell(samples["graphc cold"], samples["jax"]))
                print(f"| {depth} | {width} | " + " | ".join(cells) + f" | {json.dumps(stages)} |",
                      flush=True)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    return status


if __name__ == "__main__":
    sys.exit(main())
