"""A new graph whose kernels the cache already has: one more layer, or another width (issue 17).

    /work/benchvenv/bin/python benchmarks/new_graph.py            # depths 16 and 64
    python3 benchmarks/new_graph.py --depths 16 --repeat 3

compile_time.py's "new" column primes the cache with the depth-3 and depth-4 MLPs; this script
primes it with the graph itself (depth D, width 32) and then compiles, each in a fresh process
with a copy of that cache (untiered: the time to compiled code), the D+1-layer graph and the
D-layer graph at width 48. The warm column is graph D again. Goal: a new graph built only from
known kernels in <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import compile_time


def seconds(depth: int, width: int, cache: Path, root: Path) -> tuple[float, float]:
    """Compile + first result of one MLP in a fresh process using (a copy of) `cache`:
    (wall seconds, the process's CPU seconds over the same span)."""
    env = compile_time.fresh_env(root, "graphc", cache)
    env["GRAPHC_TIERED"] = "0"
    result = compile_time.run_child("graphc", depth, width, env, 600.0)
    if result.get("seconds") is None:
        raise RuntimeError(f"depth {depth} width {width}: {result.get('note')}")
    return float(result["seconds"]), float(result.get("cpu", float("nan")))


def cell(samples: list[tuple[float, float]]) -> str:
    """median (min-max) wall seconds, then the median CPU seconds."""
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return (f"{statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}), "
            f"CPU {statistics.median(cpus):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="16,64")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="graphc-new-graph-"))
    print(f"# load average {os.getloadavg()[0]:.1f} at start")
    print("| graph | new graph (s, median (min-max), CPU) | warm, the primed graph again (s, CPU) |")
    print("|---|---|---|")
    for depth in (int(d) for d in options.depths.split(",")):
        base = root / f"depth{depth}"
        seconds(depth, 32, base, root)  # prime: compiles graph D's kernels into `base`
        warm = cell([seconds(depth, 32, base, root) for _ in range(options.repeat)])
        for label, new_depth, width in ((f"{depth} -> {depth + 1} layers", depth + 1, 32),
                                        (f"{depth} layers, width 32 -> 48", depth, 48)):
            times = []
            for _ in range(options.repeat):
                copy = Path(tempfile.mkdtemp(dir=root)) / "graphc"
                shutil.copytree(base, copy)
                times.append(seconds(new_depth, width, copy, root))
            print(f"| {label} | {cell(times)} | {warm} |", flush=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
