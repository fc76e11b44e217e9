"""Loops: an RK4 ODE (Lotka-Volterra), value + gradient w.r.t. its rates, graphc's scan vs JAX's lax.scan.

Two tables (issue 15, docs/benchmarks.md "Loops"):

* per call: 1,000 RK4 steps, the mean squared misfit to data and its gradient
  with respect to the 4 rates, float64. graphc (numba backend: the body
  compiled, the loop jitted; numpy backend: the reference interpreter),
  `jax.jit(jax.value_and_grad(...))` over `lax.scan`, and the value alone by a
  hand-written NumPy loop. Outputs are checked against each other first.
* cold compile for T = 10, 100, 1000 steps (--compile-repeats rounds, round-robin): build,
  differentiate, compile and the first call, each in a fresh process with an empty graphc cache (JAX:
  trace + XLA compile + first call), and the graph size (graphc: nodes after
  simplify, loop bodies counted once; JAX: jaxpr equations, scan bodies counted
  once). Flat in T is the goal.

    /work/benchvenv/bin/python benchmarks/bench_scan.py [--steps 1000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
RATES = np.log(np.array([1.0, 0.4, 0.1, 0.4]))


def graphc_function(steps: int, backend: str, unroll: int = 1) -> Any:
    import ode_fit

    import graphc as gc

    log_rates = gc.input("log_rates", (4,))
    observed = gc.input("observed", (steps, 2))
    misfit = gc.mean((ode_fit.trajectory(gc.exp(log_rates), steps, unroll) - observed) ** 2)
    f = gc.compile([log_rates, observed], [misfit, gc.grad(misfit, log_rates)], backend=backend,
                   verbose=False)
    return f


def jax_function(steps: int) -> Any:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    dt = 0.05

    def field(s: Any, r: Any) -> Any:
        return jnp.stack([r[0] * s[0] - r[1] * s[0] * s[1], r[2] * s[0] * s[1] - r[3] * s[1]])

    def misfit(log_rates: Any, observed: Any) -> Any:
        r = jnp.exp(log_rates)

        def step(s: Any, _: Any) -> Any:
            k1 = field(s, r)
            k2 = field(s + dt / 2 * k1, r)
            k3 = field(s + dt / 2 * k2, r)
            k4 = field(s + dt * k3, r)
            s = s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            return s, s
        _, states = jax.lax.scan(step, jnp.array([10.0, 5.0]), None, length=steps)
        return jnp.mean((states - observed) ** 2)
    jitted = jax.jit(jax.value_and_grad(misfit))

    def call(log_rates: Any, observed: Any) -> Any:  # JAX dispatches asynchronously: wait for it
        return jax.block_until_ready(jitted(log_rates, observed))
    call.jaxpr_size = lambda *a: _equations(jax.make_jaxpr(jax.value_and_grad(misfit))(*a).jaxpr)  # type: ignore[attr-defined]
    return call


def _equations(jaxpr: Any) -> int:
    """Equations of a jaxpr, those of nested ones (a scan's body) included."""
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", None)
            if inner is not None:
                total += _equations(getattr(inner, "jaxpr", inner))
    return total


def numpy_value(steps: int) -> Any:
    import ode_fit

    def value(log_rates: np.ndarray, observed: np.ndarray) -> float:
        return float(np.mean((ode_fit.numpy_trajectory(np.exp(log_rates), steps) - observed) ** 2))
    return value


def per_call(steps: int, repeat: int) -> dict[str, Any]:
    import ode_fit

    data = ode_fit.numpy_trajectory(np.exp(RATES) * 1.1, steps)
    calls = {"graphc numba": graphc_function(steps, "numba"),
             "graphc numpy": graphc_function(steps, "numpy"),
             "hand NumPy loop (value only)": numpy_value(steps)}
    try:
        calls["JAX jit(value_and_grad), lax.scan"] = jax_function(steps)
    except ImportError:
        pass
    reference = calls["graphc numpy"](RATES, data)
    rows = {}
    for name, call in calls.items():
        result = call(RATES, data)
        value = float(result[0]) if isinstance(result, (list, tuple)) else float(result)
        agree = abs(value - float(reference[0])) <= 1e-9 * abs(float(reference[0]))
        if isinstance(result, (list, tuple)):
            agree = agree and np.allclose(np.asarray(result[1]), reference[1], rtol=1e-8)
        times, cpu = [], []
        rounds = repeat if "numpy" not in name else max(3, repeat // 10)
        for _ in range(rounds):
            start, start_cpu = time.perf_counter(), time.process_time()
            call(RATES, data)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        rows[name] = {"median_seconds": float(np.median(times)), "agrees": bool(agree),
                      "cpu_seconds": float(np.median(cpu))}
    return rows


def unrolled(steps: int, repeat: int, factors: list[int]) -> dict[str, Any]:
    """graphc numba per call for several `unroll` factors, timed round-robin (median, CPU time)."""
    import ode_fit

    data = ode_fit.numpy_trajectory(np.exp(RATES) * 1.1, steps)
    calls = {u: graphc_function(steps, "numba", u) for u in factors}
    first = calls[factors[0]](RATES, data)
    for call in calls.values():
        assert np.allclose(call(RATES, data)[1], first[1], rtol=1e-12)
    times: dict[int, list[float]] = {u: [] for u in factors}
    cpu: dict[int, list[float]] = {u: [] for u in factors}
    for _ in range(repeat):
        for u, call in calls.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            call(RATES, data)
            times[u].append(time.perf_counter() - start)
            cpu[u].append(time.process_time() - start_cpu)
    print(f"RK4, {steps} steps, graphc numba, value + gradient\n| unroll | median per call | "
          "median CPU time |\n|---|---|---|")
    for u in factors:
        print(f"| {u} | {np.median(times[u]) * 1e3:.3f} ms | {np.median(cpu[u]) * 1e3:.3f} ms |")
    return {"unroll": {u: float(np.median(cpu[u])) for u in factors}}


def cold(tool: str, steps: int) -> dict[str, Any]:
    """One cold compile in a fresh process with an empty graphc cache."""
    code = f"""
import json, sys, time
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r})
import numpy as np
import bench_scan as b
start = time.perf_counter()
if {tool!r} == "graphc":
    f = b.graphc_function({steps}, "numba")
    from graphc.ir import toposort
    bodies = {{n.attr["body"] for n in toposort(f.outputs) if n.op.name == "scan"}}
    size = len(toposort(f.outputs)) + sum(len(body.nodes()) for body in bodies)
else:
    f = b.jax_function({steps})
    size = f.jaxpr_size(b.RATES, np.zeros(({steps}, 2)))
f(b.RATES, np.zeros(({steps}, 2)))
print(json.dumps({{"seconds": time.perf_counter() - start, "size": size,
                  "cpu": time.process_time()}}))
"""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, GRAPHC_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def memory(steps: int, checkpoint: int | None, points: int = 1000) -> dict[str, Any]:
    """Peak RSS of a gradient through `steps` explicit heat-equation steps (a carry of `points`
    floats), in a fresh process: saved carries vs checkpoint=k."""
    code = f"""
import json, resource, time
import numpy as np
import graphc as gc
u0 = gc.input("u0", ({points},))
kappa = gc.input("kappa", ())
def step(u, _):
    lap = gc.concatenate([u[1:2] - u[:1], u[2:] - 2 * u[1:-1] + u[:-2], u[-2:-1] - u[-1:]])
    return u + 0.1 * kappa * lap, None
final, _ = gc.scan(step, u0, length={steps}, checkpoint={checkpoint!r})
loss = gc.sum(final * final)
f = gc.compile([u0, kappa], [loss, *gc.grad(loss, [u0, kappa])], verbose=False)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
f(np.sin(np.linspace(0, 3, {points})), np.array(0.5))  # first call: compiles the loop driver
start = time.perf_counter()
f(np.sin(np.linspace(0, 3, {points})), np.array(0.5))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"saved_bytes": f.stats["saved_bytes"], "peak_rss_mb": peak / 1024,
                  "growth_mb": (peak - before) / 1024, "seconds": seconds}}))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def compile_table(tools: list[str], steps: list[int], repeats: int) -> dict[str, Any]:
    """Cold compiles round-robin (every T once per round, `repeats` rounds), so a load change hits
    every T alike; the median CPU time of the fresh process (imports included) per T, and the
    spread of those medians (max / min - 1: the issue's "flat within 10%")."""
    runs: dict[str, list[dict[str, Any]]] = {f"{tool} {t}": [] for tool in tools for t in steps}
    for tool in tools:  # discarded: fills the caches that outlive a process (Numba's helpers, the OS's)
        cold(tool, steps[0])
    for _ in range(repeats):
        for tool in tools:
            for t in steps:
                runs[f"{tool} {t}"].append(cold(tool, t))
    print("\n| tool | " + " | ".join(f"T = {t}" for t in steps) + " | spread of the CPU medians |")
    print("|---|" + "---|" * (len(steps) + 1))
    for tool in tools:
        cells, medians = [], []
        for t in steps:
            rows = runs[f"{tool} {t}"]
            cpu = [row["cpu"] for row in rows]
            medians.append(float(np.median(cpu)))
            cells.append(f"CPU {medians[-1]:.2f} s (min {min(cpu):.2f}, max {max(cpu):.2f}); wall "
                         f"{np.median([row['seconds'] for row in rows]):.1f} s ({rows[0]['size']} nodes)")
        print(f"| {tool} cold compile + first call, median of {repeats} | " + " | ".join(cells)
              + f" | {max(medians) / min(medians) - 1:.0%} |")
    return runs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--compile-steps", default="10,100,1000")
    parser.add_argument("--tools", default="graphc,jax")
    parser.add_argument("--compile-only", action="store_true")
    parser.add_argument("--compile-repeats", type=int, default=1,
                        help="rounds of cold compiles (round-robin), after one discarded warm-up")
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--unroll-only", default="", help="e.g. 1,4,8: graphc numba per call by unroll")
    args = parser.parse_args(argv)
    if args.unroll_only:
        return unrolled(args.steps, args.repeat, [int(u) for u in args.unroll_only.split(",")])
    if args.memory_only:
        print("| heat equation, 1000 points, 10,000 steps, gradient | saved bytes | peak RSS | "
              "RSS growth during the calls | second call |\n|---|---|---|---|---|")
        for every in (None, 100):
            row = memory(10000, every)
            print(f"| checkpoint={every} | {row['saved_bytes'] / 1e6:.1f} MB | "
                  f"{row['peak_rss_mb']:.0f} MB | {row['growth_mb']:.0f} MB | {row['seconds']:.2f} s |")
        return {}
    rows = {} if args.compile_only else per_call(args.steps, args.repeat)
    print(f"RK4 Lotka-Volterra, {args.steps} steps, misfit + gradient w.r.t. 4 rates (float64)")
    print("| implementation | median per call | median CPU time | agrees with graphc numpy |\n"
          "|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['median_seconds'] * 1e3:.3f} ms | {row['cpu_seconds'] * 1e3:.3f} ms | "
              f"{'yes' if row['agrees'] else 'NO'} |")
    compiles = compile_table(args.tools.split(","), [int(t) for t in args.compile_steps.split(",")],
                             args.compile_repeats)
    return {"per_call": rows, "compile": compiles}


if __name__ == "__main__":
    main()
