"""The LSTM training step of bench_lstm.py, A/B: graphc from two source trees, JAX and PyTorch, interleaved.

Each implementation runs in its own worker process (graphc from the tree
given with --trees, so two branches compare in one run), warmed up first;
the parent then asks the workers in turn for `--calls` calls each, round
after round, and each worker reports the CPU time (time.process_time) and
wall time of its calls. Interleaving the rounds makes a load change on a
shared machine hit every implementation alike; CPU time with one thread per
tool is the figure the load disturbs least. Losses must agree (float32).

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
    /work/benchvenv/bin/python benchmarks/bench_lstm_ab.py --trees main=/work/main,new=$PWD --rounds 15
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
WORKER = f"""
import json, sys, time
sys.path.insert(0, {str(HERE)!r})
import numpy as np
import bench_lstm as b
tool = sys.argv[1]
rng = np.random.default_rng(0)
values = b.weights(rng)
xs = rng.normal(size=(b.STEPS, b.BATCH, b.FEATURES)).astype(np.float32)
targets = rng.integers(0, b.CLASSES, size=(b.STEPS, b.BATCH))
call = {{"graphc": lambda: b.graphc_step("numba"), "jax": b.jax_step,
         "torch": lambda: b.torch_step(values),
         "numpy": lambda: __import__("lstm_numpy").loss_and_grads}}[tool]()
loss = float(np.asarray(call(xs, targets, *values)[0]))
print(json.dumps({{"loss": loss}}), flush=True)
for line in sys.stdin:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(int(line)):
        call(xs, targets, *values)
    print(json.dumps({{"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}}), flush=True)
"""


def start(tool: str, tree: str | None) -> tuple[subprocess.Popen[str], float]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    worker = subprocess.Popen([sys.executable, "-c", WORKER, tool], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env, cwd="/tmp")
    assert worker.stdout is not None
    return worker, json.loads(worker.stdout.readline())["loss"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", default=f"graphc={HERE.parent}", help="label=path,... graphc trees")
    parser.add_argument("--tools", default="jax,torch,numpy")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=3, help="calls per worker per round")
    args = parser.parse_args(argv)
    workers: dict[str, subprocess.Popen[str]] = {}
    losses: dict[str, float] = {}
    for item in args.trees.split(","):
        label, tree = item.split("=", 1)
        workers[f"graphc {label}"], losses[f"graphc {label}"] = start("graphc", tree)
    for tool in [t for t in args.tools.split(",") if t]:
        workers[tool], losses[tool] = start(tool, None)
    cpu: dict[str, list[float]] = {name: [] for name in workers}
    wall: dict[str, list[float]] = {name: [] for name in workers}
    names = list(workers)
    for round_ in range(args.rounds):  # the order rotates: no tool always runs first after a pause
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            worker = workers[name]
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(f"{args.calls}\n")
            worker.stdin.flush()
            row = json.loads(worker.stdout.readline())
            cpu[name].append(row["cpu"] / args.calls)
            wall[name].append(row["wall"] / args.calls)
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
    reference = losses[next(iter(workers))]
    print(f"LSTM step, {args.rounds} rounds x {args.calls} calls, interleaved; load average "
          f"{os.getloadavg()[0]:.1f}\n| implementation | median CPU per call | best CPU | median wall | "
          "loss rel. diff |\n|---|---|---|---|---|")
    for name in workers:
        print(f"| {name} | {np.median(cpu[name]) * 1e3:.2f} ms | {min(cpu[name]) * 1e3:.2f} ms | "
              f"{np.median(wall[name]) * 1e3:.2f} ms | {abs(losses[name] - reference) / reference:.1e} |")
    return {name: float(np.median(cpu[name])) for name in workers}


if __name__ == "__main__":
    main()
