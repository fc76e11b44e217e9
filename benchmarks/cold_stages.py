"""Where a cold compile of the deep MLP step goes, stage by stage inside Numba; trees A/B.

    /work/benchvenv/bin/python benchmarks/cold_stages.py --trees main=/work/main,branch=$PWD \
        --depth 16 --repeat 3

Each run is a fresh process with an empty GRAPHC_CACHE_DIR (graphc's own kernels and helpers
already cached in each tree) and PYTHONPATH set to the tree; the trees alternate every round, so
both see the same load. The child wraps Numba's internal stages with timers before graphc installs
its hooks, then compiles compile_time.py's tanh MLP (width 32) untiered and calls it once.
Reported per tree (medians over rounds; wall seconds and the main thread's CPU seconds, which a
busy machine inflates less): `gc.compile` itself, then inside the first call Numba's set-up
(`BaseContext.refresh`, run once per process before the first compile), disk-cache look-ups,
and summed over the kernels compiled: the rest of Numba's pipeline (bytecode, untyped passes,
`compile_extra` minus what follows), type inference, lowering of the kernel body, its CPython
wrapper, IR text to an LLVM module with the function-level passes (`add_ir_module`), linking the
helpers in and verifying (`finalize` minus what follows), the module pipeline
(`_optimize_final_module`), machine code (`_finalize_specific`), the disk-cache write; `other` is
the rest of the first call (dispatch, helpers loaded, the call itself). Each stage's time
excludes the stages nested in it, so the rows add up.
Child mode: --child DEPTH prints one JSON line. Measuring only: the timers are Numba internals
that may move between releases (a missing one is reported as absent, not timed).
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

# (label, module, class or None, attribute): each wrapped so its time excludes nested stages
STAGES = [
    ("numba set-up (refresh)", "numba.core.base", "BaseContext", "refresh"),
    ("cache look-up", "numba.core.caching", "Cache", "load_overload"),
    ("numba pipeline, rest", "numba.core.compiler", None, "compile_extra"),
    ("typing", "numba.core.typed_passes", None, "type_inference_stage"),
    ("lowering", "numba.core.lowering", "Lower", "lower_normal_function"),
    ("cpython wrapper", "numba.core.cpu", "CPUContext", "create_cpython_wrapper"),
    ("IR to LLVM + function passes", "numba.core.codegen", "CPUCodeLibrary", "add_ir_module"),
    ("linking, verifying", "numba.core.codegen", "CPUCodeLibrary", "finalize"),
    ("module passes", "numba.core.codegen", "CPUCodeLibrary", "_optimize_final_module"),
    ("machine code", "numba.core.codegen", "JITCodeLibrary", "_finalize_specific"),
    ("cache write", "numba.core.caching", "Cache", "save_overload"),
]


class Timers:
    """Exclusive wall and thread-CPU time per label (a stage minus the stages inside it)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.stack: list[list[Any]] = []  # [label, wall start, cpu start, nested wall, nested cpu]

    def wrap(self, owner: Any, attribute: str, label: str) -> bool:
        original = getattr(owner, attribute, None)
        if original is None:
            return False

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append([label, time.perf_counter(), time.thread_time(), 0.0, 0.0])
            try:
                return original(*args, **kwargs)
            finally:
                _, wall, cpu, nested_wall, nested_cpu = self.stack.pop()
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                self.wall[label] = self.wall.get(label, 0.0) + wall - nested_wall
                self.cpu[label] = self.cpu.get(label, 0.0) + cpu - nested_cpu
                if self.stack:
                    self.stack[-1][3] += wall
                    self.stack[-1][4] += cpu

        setattr(owner, attribute, timed)
        return True


def child(depth: int) -> dict:
    import importlib

    import numba  # noqa: F401  imported before the clock, as in compile_time.py

    import benchmarks.compile_time as ct

    timers, absent = Timers(), []
    for label, module, owner, attribute in STAGES:
        target = importlib.import_module(module)
        if not timers.wrap(getattr(target, owner) if owner else target, attribute, label):
            absent.append(label)
    values = ct.make_inputs(depth, 32)
    compile_ = ct.build_graphc(depth, 32)
    wall, cpu = time.perf_counter(), time.thread_time()
    function = compile_()
    built_wall, built_cpu = time.perf_counter() - wall, time.thread_time() - cpu
    wall, cpu = time.perf_counter(), time.thread_time()
    function(*values)
    call_wall, call_cpu = time.perf_counter() - wall, time.thread_time() - cpu
    walls = {"gc.compile": built_wall, **timers.wall}
    cpus = {"gc.compile": built_cpu, **timers.cpu}
    walls["other (first call)"] = call_wall - sum(timers.wall.values())
    cpus["other (first call)"] = call_cpu - sum(timers.cpu.values())
    return {"wall": walls, "cpu": cpus, "total_wall": built_wall + call_wall,
            "total_cpu": built_cpu + call_cpu, "kernels": function.stats.get("kernels"),
            "absent": absent}


def run(tree: str, depth: int, scratch: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS="1",
               GRAPHC_CACHE_DIR=tempfile.mkdtemp(dir=scratch))
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(depth)],
                          env=env, capture_output=True, text=True, cwd=tree)  # graphc from `tree`
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{tree} failed: {done.stderr[-2000:]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", type=int, metavar="DEPTH")
    parser.add_argument("--trees", default=f"this={Path(__file__).resolve().parents[1]}")
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    if options.child is not None:
        print(json.dumps(child(options.child)))
        return 0
    trees = dict(item.split("=", 1) for item in options.trees.split(","))
    samples: dict[str, list[dict]] = {name: [] for name in trees}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="graphc-cold-stages-") as scratch:
        for round_ in range(options.repeat):
            names = list(trees) if round_ % 2 == 0 else list(reversed(trees))
            for name in names:
                samples[name].append(run(trees[name], options.depth, scratch))
    load.append(os.getloadavg()[0])
    print(f"# {options.depth}-layer MLP step, width 32, cold: medians of {options.repeat} fresh "
          f"processes per tree, wall s / main-thread CPU s; load {load[0]:.1f} -> {load[1]:.1f}")
    print("| stage | " + " | ".join(trees) + " |")
    print("|---|" + "---|" * len(trees))
    labels = ["gc.compile", *[label for label, *_ in STAGES], "other (first call)"]
    for label in [*labels, "total"]:
        cells = []
        for name in trees:
            if label == "total":
                walls = [s["total_wall"] for s in samples[name]]
                cpus = [s["total_cpu"] for s in samples[name]]
            else:
                walls = [s["wall"].get(label, 0.0) for s in samples[name]]
                cpus = [s["cpu"].get(label, 0.0) for s in samples[name]]
            cells.append(f"{statistics.median(walls):.3f} / {statistics.median(cpus):.3f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    kernels = {name: samples[name][0]["kernels"] for name in trees}
    absent = {name: samples[name][0]["absent"] for name in trees if samples[name][0]["absent"]}
    print(f"\nkernels compiled: {kernels}" + (f"; stages not found: {absent}" if absent else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
