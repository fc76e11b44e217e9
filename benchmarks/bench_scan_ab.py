"""The RK4 benchmark of bench_scan.py per call, A/B: graphc from several source trees and JAX, interleaved.

Each implementation runs in its own worker process (graphc from the tree given
with --trees), warmed up first; the parent asks the workers in turn for
`--calls` calls each, round after round, and each reports its CPU time
(time.process_time). Values must agree. A loop rewrite that speeds up the
LSTM must not slow this one down.

    OPENBLAS_NUM_THREADS=1 XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
    /work/benchvenv/bin/python benchmarks/bench_scan_ab.py --trees main=/work/main,new=$PWD --rounds 12
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORKER = f"""
import json, sys, time
sys.path.insert(0, {str(HERE)!r}); sys.path.insert(0, {str(HERE.parent / "examples")!r})
import numpy as np
import bench_scan as b, ode_fit
steps = int(sys.argv[2])
data = ode_fit.numpy_trajectory(np.exp(b.RATES) * 1.1, steps)
call = b.jax_function(steps) if sys.argv[1] == "jax" else b.graphc_function(steps, "numba")
print(json.dumps({{"value": float(call(b.RATES, data)[0])}}), flush=True)
for line in sys.stdin:
    cpu = time.process_time()
    for _ in range(int(line)):
        call(b.RATES, data)
    print(json.dumps({{"cpu": time.process_time() - cpu}}), flush=True)
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", default=f"graphc={HERE.parent}", help="label=path,... graphc trees")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--calls", type=int, default=10, help="calls per worker per round")
    parser.add_argument("--no-jax", action="store_true")
    args = parser.parse_args(argv)
    plan = [(label, "graphc", tree) for label, tree in (t.split("=", 1) for t in args.trees.split(","))]
    if not args.no_jax:
        plan.append(("jax", "jax", str(HERE.parent)))
    workers = {}
    for label, tool, tree in plan:
        env = dict(os.environ, PYTHONPATH=tree)
        worker = subprocess.Popen([sys.executable, "-c", WORKER, tool, str(args.steps)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                  cwd="/tmp")
        assert worker.stdout is not None
        workers[label] = (worker, json.loads(worker.stdout.readline())["value"])
    values = [value for _, value in workers.values()]
    if max(values) - min(values) > 1e-9 * abs(values[0]):
        raise SystemExit(f"the implementations disagree: {values}")
    cpu: dict[str, list[float]] = {label: [] for label in workers}
    for _ in range(args.rounds):
        for label, (worker, _) in workers.items():
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(f"{args.calls}\n")
            worker.stdin.flush()
            cpu[label].append(json.loads(worker.stdout.readline())["cpu"] / args.calls)
    print(f"RK4 {args.steps} steps, value + gradient, {args.rounds} rounds x {args.calls} calls, "
          f"interleaved; load average {os.getloadavg()[0]:.1f}")
    print("| implementation | median CPU per call | best CPU |\n|---|---|---|")
    for label, (worker, _) in workers.items():
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
        print(f"| {label} | {np.median(cpu[label]) * 1e3:.3f} ms | {min(cpu[label]) * 1e3:.3f} ms |")


if __name__ == "__main__":
    main()
