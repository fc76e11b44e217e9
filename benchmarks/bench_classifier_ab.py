"""The MLP classifier (workloads/classifier.py) per call: median wall and process-CPU time, page faults.

    IMPLS=graphc_numba PYTHONPATH=/path/to/tree python benchmarks/bench_classifier_ab.py

IMPLS (comma-separated): graphc_numba, graphc_numba_nows (GRAPHC_WORKSPACE=0: temporaries
allocated per call, as before backend/workspace.py), graphc_numba_1t / graphc_numba_2t (the
BLAS thread rule forced: busy / a core to spare, i.e. what the 1-minute load average
said for a minute after a core became busy; backend/blas_threads.py), graphc_numpy, jax,
hand_numpy; BUSY=n keeps n cores busy (spinning processes) from the start; R rounds
of N calls each (default 9 x 50), interleaved. JAX=1 runs three JAX calls (untimed) first;
measured, that alone does not change graphc's page faults: JAX timed in the same process
(IMPLS=graphc_numba_nows,jax) does (docs/benchmarks.md, tables 17 and 22).
Per implementation: median wall and CPU time per call, minor page faults, system time and
involuntary context switches (preemptions, all threads) per call (getrusage). The graphc
imported is the one on PYTHONPATH.
"""
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("PYTHONPATH", "."), "benchmarks"))
from workloads import adapters
from workloads import classifier as C


def without_workspace():
    os.environ["GRAPHC_WORKSPACE"] = "0"
    try:
        return adapters.graphc_impl(C, vals, "numba")
    finally:
        del os.environ["GRAPHC_WORKSPACE"]


def forced(answer: bool):
    from graphc.backend import blas_threads

    blas_threads.busy = lambda: answer  # the wrapper looks busy() up at each call
    return adapters.graphc_impl(C, vals, "numba")


spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(int(os.environ.get("BUSY", 0)))]
vals = C.make_inputs(False)
impls = os.environ.get("IMPLS", "graphc_numba,jax").split(",")
builders = {"graphc_numba": lambda: adapters.graphc_impl(C, vals, "numba"),
            "graphc_numba_nows": without_workspace,
            "graphc_numba_1t": lambda: forced(True), "graphc_numba_2t": lambda: forced(False),
            "graphc_numpy": lambda: adapters.graphc_impl(C, vals, "numpy"),
            "jax": lambda: adapters.jax_impl(C, vals),
            "hand_numpy": lambda: adapters.numpy_impl(C.hand_numpy, vals)}
if os.environ.get("JAX") == "1" and "jax" not in impls:
    for _ in range(3):
        adapters.jax_impl(C, vals).run()
ready = {name: builders[name]().run for name in impls}
res: dict[str, list[list[float]]] = {n: [[], [], [], [], []] for n in ready}
R = int(os.environ.get("R", 9))
N = int(os.environ.get("N", 50))
for run in ready.values():
    for _ in range(30):
        run()
for _ in range(R):
    for n, run in ready.items():
        run()
        before = resource.getrusage(resource.RUSAGE_SELF)
        w, c = time.perf_counter(), time.process_time()
        for _ in range(N):
            run()
        wall, cpu = (time.perf_counter() - w) / N, (time.process_time() - c) / N
        after = resource.getrusage(resource.RUSAGE_SELF)
        for k, v in enumerate((wall, cpu, (after.ru_minflt - before.ru_minflt) / N,
                               (after.ru_stime - before.ru_stime) / N,
                               (after.ru_nivcsw - before.ru_nivcsw) / N)):
            res[n][k].append(v)
for spinner in spinners:
    spinner.kill()
print("load", os.getloadavg()[0], "busy cores", len(spinners))
for n, (w, c, f, s, v) in res.items():
    print(f"{n:18s} wall median {statistics.median(w) * 1e3:7.3f} ms  min {min(w) * 1e3:7.3f}   "
          f"cpu median {statistics.median(c) * 1e3:7.3f} ms min {min(c) * 1e3:7.3f}   "
          f"faults/call {statistics.median(f):6.0f}  sys {statistics.median(s) * 1e3:6.3f} ms  "
          f"preempted/call {statistics.median(v):5.2f}")
