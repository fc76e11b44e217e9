"""Cold compile of the deep MLP step (benchmarks/compile_time.py's graph), two source trees A/B.

    /work/benchvenv/bin/python benchmarks/cold_ab.py --trees main=/work/main,branch=$PWD \
        --depths 16,64 --repeat 5

Each run is a fresh process with an empty GRAPHC_CACHE_DIR (graphc's own kernels and helpers
already cached in each tree) and PYTHONPATH set to the tree; the trees alternate order every
round, so both see the same load. Reported per tree and depth (medians): the cell's wall and CPU
(from before `gc.compile` to the first result, as compile_time.py), the whole process's wall and
CPU (resource.getrusage of the child), a hash of the results (bit-identical across trees?) and
whether scipy.linalg was imported. Child mode: --child DEPTH prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(depth: int) -> dict:
    import numba  # noqa: F401  imported before the clock, as in compile_time.py
    import numpy as np

    import benchmarks.compile_time as ct

    values = ct.make_inputs(depth, 32)
    compile_ = ct.build_graphc(depth, 32)
    wall, cpu = time.perf_counter(), time.process_time()
    outputs = compile_()(*values)
    digest = hashlib.sha1(b"".join(np.asarray(o).tobytes() for o in outputs)).hexdigest()[:10]
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "hash": digest, "scipy_linalg": "scipy.linalg" in sys.modules}


def run(tree: str, depth: int, scratch: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1",
               GRAPHC_CACHE_DIR=tempfile.mkdtemp(dir=scratch))
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(depth)],
                          env=env, capture_output=True, text=True, cwd=tree)  # graphc from `tree`
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{tree} depth {depth} failed: {done.stderr[-2000:]}")
    result = json.loads(lines[-1])
    result["process_wall"] = time.perf_counter() - start
    result["process_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", type=int)
    parser.add_argument("--trees", default=f"main=/work/main,branch={Path.cwd()}")
    parser.add_argument("--depths", default="16,64")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0
    trees = [tuple(item.split("=", 1)) for item in args.trees.split(",")]
    samples: dict[tuple[str, int], list[dict]] = {}
    loads = []
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.repeat):
            for depth in [int(d) for d in args.depths.split(",")]:
                for name, tree in (trees if round_ % 2 == 0 else trees[::-1]):
                    samples.setdefault((name, depth), []).append(run(tree, depth, scratch))
            loads.append(os.getloadavg()[0])
    print("1-minute load after each round:", ", ".join(f"{load:.1f}" for load in loads))
    print("| depth | tree | cell wall s | cell CPU s | process wall s | process CPU s | results "
          "| scipy.linalg |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, depth), runs in sorted(samples.items(), key=lambda item: (item[0][1], item[0][0])):
        med = {key: statistics.median(r[key] for r in runs)
               for key in ("wall", "cpu", "process_wall", "process_cpu")}
        print(f"| {depth} | {name} | {med['wall']:.2f} | {med['cpu']:.2f} | {med['process_wall']:.2f} "
              f"| {med['process_cpu']:.2f} | {' '.join(sorted({r['hash'] for r in runs}))} "
              f"| {'imported' if any(r['scipy_linalg'] for r in runs) else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
