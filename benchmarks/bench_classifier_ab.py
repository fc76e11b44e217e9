"""The MLP classifier (workloads/classifier.py) per call: median wall and process-CPU time.

    IMPLS=graphc_numba PYTHONPATH=/path/to/tree python benchmarks/bench_classifier_ab.py

IMPLS (comma-separated): graphc_numba, graphc_numpy, jax, hand_numpy; R rounds of N
calls each (default 9 x 50), interleaved. Run one implementation per process for an
A/B of two trees: JAX in the process changes glibc malloc's state and doubles graphc's
call (docs/benchmarks.md, Table 17). The graphc imported is the one on PYTHONPATH.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("PYTHONPATH", "."), "benchmarks"))
from workloads import adapters
from workloads import classifier as C

vals = C.make_inputs(False)
impls = os.environ.get("IMPLS", "graphc_numba,jax").split(",")
builders = {"graphc_numba": lambda: adapters.graphc_impl(C, vals, "numba"),
            "graphc_numpy": lambda: adapters.graphc_impl(C, vals, "numpy"),
            "jax": lambda: adapters.jax_impl(C, vals),
            "hand_numpy": lambda: adapters.numpy_impl(C.hand_numpy, vals)}
ready = {name: builders[name]().run for name in impls}
res: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in ready}
R = int(os.environ.get("R", 9))
N = int(os.environ.get("N", 50))
for run in ready.values():
    for _ in range(30):
        run()
for _ in range(R):
    for n, run in ready.items():
        run()
        w, c = time.perf_counter(), time.process_time()
        for _ in range(N):
            run()
        res[n][0].append((time.perf_counter() - w) / N)
        res[n][1].append((time.process_time() - c) / N)
print("load", os.getloadavg()[0])
for n, (w, c) in res.items():
    print(f"{n:14s} wall median {statistics.median(w) * 1e3:7.3f} ms  min {min(w) * 1e3:7.3f}   "
          f"cpu median {statistics.median(c) * 1e3:7.3f} ms min {min(c) * 1e3:7.3f}")
