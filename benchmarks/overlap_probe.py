"""Probe: would overlapping kernels' compiles in two threads shorten a cold compile? (not a graphc feature)

    /work/benchvenv/bin/python benchmarks/overlap_probe.py --depth 16 --repeat 5

Measures the best case of the idea in docs/codegen.md ("Evaluated and not done", overlapping one
kernel's LLVM work with the next kernel's typing and lowering): an oracle process compiles the
tanh MLP step of compile_time.py once and records each shared kernel's Numba signature; then fresh
processes with empty caches compile it cold, alternating

* serial   - as graphc does: the graph function's first call compiles each kernel when it gets there;
* overlap  - a second thread compiles kernels 2.. with the recorded signatures while the first call
             compiles kernel 1, Numba's compiler lock is released around the LLVM passes of graphc's
             kernel modules (llvmlite's calls release the GIL), `sys.setswitchinterval(0.0005)`, and a
             caller that reaches a kernel still compiling in the other thread waits for it.

Prints wall and process-CPU seconds (compile + first result) per run and the medians; each run's
results are checked against compile_time.py's hand NumPy reference. Overlap can
only pay with a second idle core: on a busy machine expect it to lose. This reaches into Numba's and
graphc's internals for measuring only. Child modes: --oracle DEPTH, --child MODE DEPTH SIGNATURES.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def oracle(depth: int) -> dict:
    """Each shared kernel's signatures, in the order the graph function first calls them."""
    import benchmarks.compile_time as ct
    from graphc.backend import jit

    ct.build_graphc(depth, 32)()(*ct.make_inputs(depth, 32))
    return {name: base64.b64encode(pickle.dumps(list(d.signatures))).decode()
            for name, d in jit._SHARED.items() if getattr(d, "signatures", None)}


def _release_around(original: Any, active: list[bool]) -> Any:
    """`original(library, ...)` with Numba's compiler lock released while it runs on a kernel module."""
    from numba.core.compiler_lock import global_compiler_lock

    def released(library: Any, *args: Any) -> Any:
        lock: Any = global_compiler_lock._lock
        if not (active[0] and "fused_" in library.name and lock._is_owned()):
            return original(library, *args)
        state = lock._release_save()
        try:
            return original(library, *args)
        finally:
            lock._acquire_restore(state)

    return released


def child(mode: str, depth: int, recorded: dict) -> dict:
    import numba  # noqa: F401  imported before the clock, as in compile_time.py
    from numba.core import codegen

    import benchmarks.compile_time as ct
    from graphc.backend import jit, numba_hooks

    values, compile_ = ct.make_inputs(depth, 32), ct.build_graphc(depth, 32)
    start, cpu = time.perf_counter(), time.process_time()
    function = compile_()
    kernels = [(name, pickle.loads(base64.b64decode(text))) for name, text in recorded.items()]
    worker = None
    if mode == "overlap" and len(kernels) > 1:
        sys.setswitchinterval(0.0005)
        numba_hooks.install_lean_wrappers()  # graphc's own hook first, then the release around it
        library: Any = codegen.CPUCodeLibrary
        active = [True]
        library._optimize_functions = _release_around(library._optimize_functions, active)
        library._optimize_final_module = _release_around(library._optimize_final_module, active)
        done = {name: threading.Event() for name, _ in kernels[1:]}
        for name, event in done.items():
            dispatcher, compile_one = jit._SHARED[name], jit._SHARED[name].compile

            def waiting(signature: Any, compile_one: Any = compile_one, event: Any = event) -> Any:
                if threading.current_thread() is threading.main_thread():
                    event.wait()
                return compile_one(signature)

            dispatcher.compile = waiting

        def ahead() -> None:
            for name, signatures in kernels[1:]:
                for signature in signatures:
                    jit._SHARED[name].compile(signature)
                done[name].set()

        worker = threading.Thread(target=ahead, daemon=True)
        worker.start()
    outputs = function(*values)
    if worker is not None:
        worker.join()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    import numpy as np

    same = all(np.allclose(np.asarray(got), want, rtol=1e-10, atol=1e-12)
               for got, want in zip(outputs, ct.reference(values, depth)))
    return {"wall": wall, "cpu": cpu, "ok": same}


def _run(arguments: list[str], scratch: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", GRAPHC_CACHE_DIR=tempfile.mkdtemp(dir=scratch))
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parents[1]), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, str(HERE), *arguments], env=env, capture_output=True,
                          text=True, cwd=str(HERE.parents[1]))
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{arguments[0]} failed: {done.stderr[-2000:]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--oracle", type=int, metavar="DEPTH")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DEPTH", "SIGNATURES"))
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    if options.oracle is not None:
        print(json.dumps(oracle(options.oracle)))
        return 0
    if options.child:
        mode, depth, path = options.child
        print(json.dumps(child(mode, int(depth), json.loads(Path(path).read_text()))))
        return 0
    samples: dict[str, list[dict]] = {"serial": [], "overlap": []}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="graphc-overlap-") as scratch:
        signatures = Path(scratch) / "signatures.json"
        signatures.write_text(json.dumps(_run(["--oracle", str(options.depth)], scratch)))
        for round_ in range(options.repeat):
            for mode in (["serial", "overlap"] if round_ % 2 == 0 else ["overlap", "serial"]):
                sample = _run(["--child", mode, str(options.depth), str(signatures)], scratch)
                samples[mode].append(sample)
                print(f"{mode:8s} wall {sample['wall']:.3f} s, CPU {sample['cpu']:.3f} s"
                      + ("" if sample["ok"] else "  WRONG RESULTS"))
    print(f"# {options.depth}-layer step, width 32, cold; load {load:.1f} -> {os.getloadavg()[0]:.1f}")
    for mode, runs in samples.items():
        print(f"{mode:8s} median wall {statistics.median(r['wall'] for r in runs):.3f} s, "
              f"CPU {statistics.median(r['cpu'] for r in runs):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
