"""Cold and warm start of the three graphs of examples/scipy_optimize.py, in CPU and wall seconds.

Each round is a fresh process on one graphc cache directory (a temporary one,
empty for the first round): the first round compiles (cold), the later ones
load what it left (warm: "a graph already in the disk cache, loaded in a fresh
process"). Each process reports, in CPU seconds (`time.process_time`, which a
busy machine inflates far less than wall time) and wall seconds: `import
graphc`, `import numba`, and for each graph `gc.compile` plus its first call.
No scikit-learn and no scipy.optimize: only graphc's part. The graphs are
those of the example (Rosenbrock in 5 dimensions: value, gradient and
Hessian; logistic regression with 30 features: value, gradient and Hessian
(kernel mode); its Hessian-vector product), on random data of the same shape.

    python benchmarks/warm_start.py            # one cold round, three warm rounds
    python benchmarks/warm_start.py --warm 5
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["import graphc", "import numba", "rosenbrock", "logistic", "hvp"]


def child() -> dict[str, list[float]]:
    """One process: every phase's (CPU, wall) seconds, and whether each graph's machine code was cached."""
    times: dict[str, list[float]] = {}
    clock = [time.process_time(), time.perf_counter()]

    def mark(name: str) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        times[name] = [cpu - clock[0], wall - clock[1]]
        clock[:] = [time.process_time(), time.perf_counter()]

    import numpy as np

    clock[:] = [time.process_time(), time.perf_counter()]
    import graphc as gc
    mark("import graphc")
    import numba  # noqa: F401 - timed on its own: every numba-backend process pays it
    mark("import numba")
    x = gc.input("x", shape=(5,))
    rosen = gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    f = gc.compile([x], [rosen, gc.grad(rosen, x), gc.hessian(rosen, x)], verbose=False)
    f(np.linspace(-1.0, 1.0, 5))
    mark("rosenbrock")
    theta, X, y = gc.input("theta", shape=(31,)), gc.input("X", shape=("n", 30)), gc.input("y", shape=("n",))
    objective = (gc.sum(gc.softplus(-(2 * y - 1) * (X @ theta[:30] + theta[30])))
                 + 0.5 * gc.sum(theta[:30] ** 2))
    g = gc.compile([theta, X, y], [objective, gc.grad(objective, theta), gc.hessian(objective, theta)],
                   verbose=False)
    rng = np.random.default_rng(0)
    data, labels = rng.standard_normal((569, 30)), (rng.random(569) > 0.5) * 1.0
    g(np.zeros(31), data, labels)
    mark("logistic")
    v = gc.input("v", shape=(31,))
    h = gc.compile([theta, v, X, y], gc.hvp(objective, theta, v), verbose=False)
    h(np.zeros(31), np.ones(31), data, labels)
    mark("hvp")
    times["cached"] = [float(all(c.stats["cache_hit"] for c in (f, g, h)))] * 2
    return times


def run(cache: str) -> dict[str, list[float]]:
    env = dict(os.environ, GRAPHC_CACHE_DIR=cache,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True,
                          env=env, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _pick(result: dict[str, list[float]], phase: str, column: int) -> float:
    """A phase's CPU (column 0) or wall (1) seconds; "total" sums the phases."""
    if phase == "total":
        return sum(result[p][column] for p in PHASES)
    return result[phase][column]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm", type=int, default=3, help="warm rounds after the cold one")
    options = parser.parse_args(argv)
    if options.child:
        print(json.dumps(child()))
        return 0
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="graphc_warm_start_") as cache:
        cold = run(cache)
        warm = [run(cache) for _ in range(options.warm)]
    if cold["cached"][0] or not all(w["cached"][0] for w in warm):
        raise SystemExit("the cold round found machine code cached, or a warm round did not")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("\n| phase | cold CPU | cold wall | warm CPU (median) | warm wall (median) |")
    print("|---|---|---|---|---|")
    for phase in [*PHASES, "total"]:
        print(f"| {phase} | {_pick(cold, phase, 0):.2f} s | {_pick(cold, phase, 1):.2f} s | "
              f"{statistics.median(_pick(w, phase, 0) for w in warm):.2f} s | "
              f"{statistics.median(_pick(w, phase, 1) for w in warm):.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
