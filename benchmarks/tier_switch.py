"""Where the default tiered start's time goes, from gc.compile to the first call the Numba tier serves.

    PYTHONPATH=$PWD /work/benchvenv/bin/python benchmarks/tier_switch.py --trees new=.,main=/work/main
    (options: --depths 16,64 --rounds 3 --early auto|always|never)

Each cell is a FRESH process with an empty GRAPHC_CACHE_DIR (graphc's own kernels
compiled, as after `graphc warmup`) that builds the deep tanh MLP step of
benchmarks/compile_time.py (width 32), compiles it with the defaults and calls
it in a loop (a training loop) until a call is served by the Numba tier. The
trees are run interleaved (round by round), each with PYTHONPATH=<tree>, so a
busy machine hurts every tree alike; compare them within one run.

Columns: `first` (gc.compile to the first result, NumPy tier), `numba` (to the
end of the first call the Numba tier served), and for trees whose Function has
`stats["tier_times"]` (docs/codegen.md, "Tiered start in a process") the
medians of the steps, in seconds since gc.compile was called:
`spawned` (the worker process started), `main` (the worker has imported
graphc), `ready` (and numba), `turn` (it took the job), `rebuilt` (it has the
graph's Function, lowering loaded or redone), `called` (its first call on the
caller's inputs compiled the kernels), `finished` (the lock released, the
result written), `noticed` (the caller read the result), `loaded` (the caller
has the Numba tier). Child mode: --child DEPTH prints one JSON line.
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

HERE = Path(__file__).resolve()
STEPS = ("spawned", "main", "ready", "turn", "rebuilt", "called", "finished", "noticed", "loaded")


def child(depth: int, early: str) -> dict:
    sys.path.insert(0, str(HERE.parent))
    from compile_time import make_inputs, mlp_graph

    import graphc as gc
    from graphc.backend import compile_workers

    if early != "auto" and hasattr(compile_workers, "SPARE"):  # the early worker's load gate
        compile_workers.SPARE = -1e9 if early == "always" else 1e9

    values = make_inputs(depth, 32)
    inputs, outputs = mlp_graph(depth, 32)
    wall, start = time.time(), time.perf_counter()
    function = gc.compile(inputs, outputs)
    function(*values)
    first = time.perf_counter() - start
    while function.stats.get("tier") == "numpy" and not function.stats.get("tier_error"):
        function(*values)
    numba = time.perf_counter() - start
    times = {k: v - wall for k, v in function.stats.get("tier_times", {}).items() if v}
    return {"first": first, "numba": numba, "tier": function.stats.get("tier"),
            "calls": function.stats.get("calls"), "error": function.stats.get("tier_error"),
            "times": times}


def run(tree: str, depth: int, early: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    env.pop("GRAPHC_TIERED", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp(prefix="tier-switch-")
    env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run([sys.executable, str(HERE), "--child", str(depth), "--early", early], env=env,
                          capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        shutil.rmtree(env["GRAPHC_CACHE_DIR"], ignore_errors=True)
        return {"failed": (done.stderr.strip().splitlines() or ["?"])[-1]}
    time.sleep(1.0)  # the detached worker removes its lock and exits
    shutil.rmtree(env["GRAPHC_CACHE_DIR"], ignore_errors=True)
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", type=int)
    parser.add_argument("--trees", default="new=.")
    parser.add_argument("--depths", default="16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--early", choices=("auto", "always", "never"), default="auto",
                        help="the early worker (compile_workers.speculate): as the load says, "
                             "or forced on or off (trees that have it)")
    options = parser.parse_args()
    if options.child:
        print(json.dumps(child(options.child, options.early)))
        return 0
    trees = [item.split("=", 1) for item in options.trees.split(",")]
    depths = [int(d) for d in options.depths.split(",")]
    samples: dict[tuple[str, int], list[dict]] = {}
    for depth in depths:  # one warm-up per tree (pyc files, graphc's own kernels), not counted
        for _name, tree in trees:
            run(tree, depth, options.early)
    for _ in range(options.rounds):
        for depth in depths:
            for name, tree in trees:
                samples.setdefault((name, depth), []).append(run(tree, depth, options.early))
    print(f"load average {os.getloadavg()[0]:.2f} at the end; early worker {options.early}; "
          f"medians of {options.rounds} (min-max)")
    print("| tree | layers | first result | Numba tier serving | " + " | ".join(STEPS) + " |")
    print("|---|---|---|---|" + "---|" * len(STEPS))
    for (name, depth), runs in samples.items():
        good = [r for r in runs if "failed" not in r and not r.get("error")]
        if not good:
            print(f"| {name} | {depth} | failed: {runs[0]} |")
            continue

        def cell(values: list[float]) -> str:
            return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

        steps = [cell([r["times"][s] for r in good if s in r["times"]])
                 if all(s in r["times"] for r in good) else "-" for s in STEPS]
        print(f"| {name} | {depth} | {cell([r['first'] for r in good])} | "
              f"{cell([r['numba'] for r in good])} | " + " | ".join(steps) + " |")
    for depth in depths:  # the same round's runs ran back to back: their difference is steadier
        base = samples[(trees[-1][0], depth)]
        for name, _ in trees[:-1]:
            pairs = [(a, b) for a, b in zip(samples[(name, depth)], base)
                     if "failed" not in a and "failed" not in b]
            for key in ("first", "numba"):
                differences = sorted(a[key] - b[key] for a, b in pairs)
                if differences:
                    print(f"{name} - {trees[-1][0]}, {depth} layers, {key}: median "
                          f"{statistics.median(differences):+.2f} s per round "
                          f"({', '.join(f'{d:+.2f}' for d in differences)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
