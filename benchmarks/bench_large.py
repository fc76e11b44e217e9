"""Large graphs (issue 17): cold compile and per-call time of the unrolled HMM forward pass.

The graph is benchmarks/workloads/hmm.py (autograd's hmm_em forward pass and
its gradient, unrolled over T steps; ~15 nodes per step after simplify). For
each T, a fresh process with an empty graphc cache (graphc's own kernels stay
warm, as after `graphc warmup`) times build + grad + gc.compile + first call;
then it times calls of the numba and the numpy backends, round-robin, after
checking both against the hand-written forward-backward recursion. Goals:
a ~400-node graph cold in <= 3 s, a ~4,000-node graph in <= 10 s, and per
call no slower than the numpy backend. The first-result column gives wall and CPU
time (the machine is shared: CPU time is what the compile itself cost). Under
the default tier (gc.compile(tiered=None)) that first result comes from NumPy
while a worker process compiles; the next column is when the Numba tier serves,
and the numba per-call column is timed after that switch. GRAPHC_TIERED=0 times
the untiered compile instead (both columns are then the same).
Each T's graph is the same in every process, so running this script with
PYTHONPATH set to another checkout is an A/B comparison.

    PYTHONPATH=$PWD python3 benchmarks/bench_large.py                 # T = 27, 100, 270
    PYTHONPATH=$PWD python3 benchmarks/bench_large.py --steps 27 --rounds 5
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
from typing import Any

HERE = Path(__file__).resolve().parent


def child(steps: int, rounds: int) -> None:
    """In a fresh process: cold compile, then check and time both backends."""
    sys.path.insert(0, str(HERE))
    import numpy as np
    from workloads import adapters, hmm

    import graphc as gc

    hmm.configure(steps)
    inputs = hmm.make_inputs(False)
    start, start_cpu = time.perf_counter(), time.process_time()
    graph_inputs, loss = hmm.graphc_graph()
    outputs = [loss, *gc.grad(loss, graph_inputs)]
    function = gc.compile(graph_inputs, outputs, verbose=False)
    arrays = inputs_in_order(graph_inputs, inputs)
    result = function(*arrays)
    cold, cold_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    # The default tiers a cold graph: the first result comes from NumPy while a worker compiles.
    # Per call must be timed on the Numba tier, so call until it serves (loaded in a call).
    while function.stats.get("tier") and not function.stats.get("numba_ready"):
        if function.stats.get("tier_error"):
            raise RuntimeError(f"the Numba tier failed: {function.stats['tier_error']}")
        time.sleep(0.01)
        function(*inputs_in_order(graph_inputs, inputs))
    full_speed = time.perf_counter() - start
    numpy_function = gc.compile(graph_inputs, outputs, backend="numpy")
    want = hmm.hand_numpy(*arrays)
    mismatch = [adapters.max_error(list(f(*arrays)), want, hmm.RTOL, hmm.ATOL)
                for f in (function, numpy_function)]
    times: dict[str, list[float]] = {"numba": [], "numpy": []}
    for _ in range(rounds):
        for name, f in (("numba", function), ("numpy", numpy_function)):
            begin = time.perf_counter()
            f(*arrays)
            times[name].append(time.perf_counter() - begin)
    del result
    print(json.dumps({"steps": steps, "nodes": function.stats.get("nodes"), "cold": cold,
                      "cold_cpu": cold_cpu, "full_speed": full_speed,
                      "kernels": function.stats.get("kernels"),
                      "interpreted": function.stats.get("interpreted_groups"),
                      "numba": statistics.median(times["numba"]),
                      "numpy": statistics.median(times["numpy"]), "mismatch": mismatch,
                      "load": os.getloadavg()[0], "ok": bool(np.isfinite(function(*arrays)[0]))}))


def inputs_in_order(graph_inputs: list[Any], inputs: dict[str, Any]) -> list[Any]:
    """The arrays in the order of the graph's inputs."""
    return [inputs[node.name] for node in graph_inputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[27, 100, 270])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child is not None:
        child(options.child, options.rounds)
        return
    print("| T | nodes | kernels | interpreted groups | first result (CPU) | Numba tier serves "
          "| numba per call | numpy per call | numba / numpy | load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for steps in options.steps:
        with tempfile.TemporaryDirectory() as cache:
            environment = dict(os.environ, GRAPHC_CACHE_DIR=cache)
            completed = subprocess.run([sys.executable, __file__, "--child", str(steps),
                                        "--rounds", str(options.rounds)],
                                       capture_output=True, text=True, env=environment, check=False)
        if completed.returncode:
            print(f"| {steps} | failed: {completed.stderr.strip().splitlines()[-1:]} |")
            continue
        row = json.loads(completed.stdout.strip().splitlines()[-1])
        wrong = "" if row["mismatch"] == [None, None] else f" WRONG {row['mismatch']}"
        print(f"| {steps} | {row['nodes']} | {row['kernels']} | {row['interpreted']} "
              f"| {row['cold']:.2f} s ({row['cold_cpu']:.2f} s) | {row['full_speed']:.2f} s "
              f"| {row['numba'] * 1e3:.2f} ms | {row['numpy'] * 1e3:.2f} ms "
              f"| {row['numba'] / row['numpy']:.2f}x{wrong} | {row['load']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
