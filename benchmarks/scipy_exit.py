"""examples/scipy_optimize.py in fresh processes, cold then warm, and where a cold process spends its exit.

    python3 benchmarks/scipy_exit.py --rounds 3                        # this tree
    python3 benchmarks/scipy_exit.py --tree before=/tmp/old --tree after=$PWD   # A/B, interleaved

Per round and tree: an empty GRAPHC_CACHE_DIR, a cold run, a wait until the cold run's compile
worker has released its locks (locks/*.lock, backend/compile_locks.py), a warm run. Each run is
the example under `runpy` with an `atexit` stamp registered first (so it runs last): "atexit" is
the time the interpreter spent in exit handlers (before the detached worker: waiting for the
compile), "teardown" the rest of the exit. "cpu" is the CPU time of the process and of the
children it reaped (a detached worker is not reaped by it). Prints one JSON line per round and
tree (docs/benchmarks.md, table 25). Imports: the standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRAP = """
import atexit, runpy, sys, time
atexit.register(lambda: print(f"@@atexit-done {time.time()}", file=sys.stderr, flush=True))
path = sys.argv[1]
sys.argv = [path, "--backend", "numba"]
try:
    runpy.run_path(path, run_name="__main__")
finally:
    print(f"@@script-done {time.time()}", file=sys.stderr, flush=True)
"""


def run(tree: str, cache: str) -> dict[str, float | None]:
    """One process of the example: wall, CPU and the exit's parts (seconds)."""
    environment = dict(os.environ, PYTHONPATH=tree, GRAPHC_CACHE_DIR=cache)
    environment.pop("GRAPHC_TIERED", None)  # the default tier
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    # cwd=tree: `python -c` puts the working directory first on sys.path, before PYTHONPATH
    done = subprocess.run([sys.executable, "-c", WRAP, f"{tree}/examples/scipy_optimize.py"],
                          env=environment, capture_output=True, text=True, check=False, cwd=tree)
    end = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    stamps = {key: float(value) for key, value in re.findall(r"@@(\S+) (\S+)", done.stderr)}
    part = re.search(r"graphc's part .*?: ([\d.]+) s", done.stdout)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"wall": round(end - start, 2), "cpu": round(cpu, 2),
            "script": round(stamps["script-done"] - start, 2),
            "atexit": round(stamps["atexit-done"] - stamps["script-done"], 2),
            "teardown": round(end - stamps["atexit-done"], 2),
            "graphc_part": float(part.group(1)) if part else None}


def settle(cache: str) -> float:
    """Seconds until no compile lock is left in the cache (the cold run's worker is done)."""
    start = time.time()
    while any(Path(cache, "locks").glob("*.lock")):
        time.sleep(0.1)
    return round(time.time() - start, 2)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[],
                        help="NAME=PATH of a graphc checkout (default: this one)")
    options = parser.parse_args(argv)
    here = str(Path(__file__).resolve().parents[1])
    trees = dict(entry.split("=", 1) for entry in options.tree) or {"this": here}
    names = list(trees)
    for index in range(options.rounds):
        for name in names[index % len(names):] + names[:index % len(names)]:  # interleaved
            cache = tempfile.mkdtemp(prefix=f"graphc-exit-{name}-")
            load = os.getloadavg()[0]
            cold = run(trees[name], cache)
            waited = settle(cache)
            warm = run(trees[name], cache)
            print(json.dumps({"tree": name, "round": index, "load": round(load, 2), "cold": cold,
                              "worker_after_exit": waited, "warm": warm}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
