"""First use after installing: compile + first result of one model in this process, as JSON.

    cd <a copy of the package without __pycache__>   # a fresh installation: nothing compiled yet
    GRAPHC_CACHE_DIR=$(mktemp -d) PYTHONPATH=$PWD python benchmarks/first_use.py mlp|mlp2|mlp64|gp|conv|lstm

Run it once per model in a copy of graphc with no `graphc/backend/__pycache__` (a fresh
installation: graphc's own kernels and helpers compile), then again with fresh graph caches (a warm
installation). `total` is wall time from before gc.compile to the first result, `cpu` the
process's CPU time over the same span (robust to a busy machine), `seconds` graphc's stages.
docs/benchmarks.md, "First use after installing", has the figures. Run from the package root
(it imports benchmarks/compile_time.py, benchmarks/workloads, benchmarks/bench_lstm.py and
examples/conv_digits.py).
"""
import json
import os
import sys
import time

import numba  # noqa: F401 - imported before the clock (every tool pays its imports outside)
import numpy as np

import graphc as gc

os.environ.setdefault("GRAPHC_TIERED", "0")  # Numba compiles in this process (not a worker's)
case = sys.argv[1]
sys.path.insert(0, "benchmarks")  # the models: compile_time.py, workloads/


def mlp(depth=16, width=32):
    from compile_time import build_graphc, make_inputs
    return build_graphc(depth, width), make_inputs(depth, width)
def gp():
    from workloads import gaussian_process as w
    inputs, loss = w.graphc_graph()
    grads = gc.grad(loss, [inputs[2]])
    v = w.make_inputs(True)
    return (lambda: gc.compile(inputs, [loss, *grads])), [v["x"], v["y"], v["theta"]]
def conv():
    sys.path.insert(0, "examples")
    import conv_digits as c
    m = c.build_model("float64")
    grads = gc.grad(m["loss"], m["params"])
    rng = np.random.default_rng(0)
    vals = [rng.standard_normal((16, 1, 8, 8)), rng.integers(0, 10, 16), *c.init_params("float64", 0)]
    return (lambda: gc.compile([m["images"], m["labels"], *m["params"]], [m["loss"], *grads])), vals
def lstm():
    import bench_lstm as b
    inputs, outputs = b.graphc_graph()  # a gc.scan of 50 steps, loss + 5 gradients (issue 15)
    rng = np.random.default_rng(0)
    vals = [rng.normal(size=(b.STEPS, b.BATCH, b.FEATURES)).astype(np.float32),
            rng.integers(0, b.CLASSES, size=(b.STEPS, b.BATCH)), *b.weights(rng)]
    return (lambda: gc.compile(inputs, outputs)), vals
make = {"lstm": lstm, "mlp": mlp, "mlp2": lambda: mlp(2), "mlp64": lambda: mlp(64), "gp": gp,
        "conv": conv}[case]
build, values = make()
start, cpu0 = time.perf_counter(), time.process_time()
f = build()
t1 = time.perf_counter()
out = f(*values)
t2 = time.perf_counter()
s = f.stats
print(json.dumps({"case": case, "total": round(t2 - start, 3), "compile": round(t1 - start, 3),
                  "first_call": round(t2 - t1, 3), "cpu": round(time.process_time() - cpu0, 2),
                  "seconds": {k: round(v, 3) for k, v in s.get("seconds", {}).items()},
                  "kernels": s.get("kernels"), "groups": s.get("groups"), "nodes": s.get("nodes")}))
