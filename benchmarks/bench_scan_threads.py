"""A scan whose only threaded products are per step: per-call time under the one-BLAS-thread rule.

The step multiplies 32x256 @ 256x1024 and 32x1024 @ 1024x256 (8 M multiply-adds each, which
OpenBLAS runs on all its threads) for 50 steps, float32, and nothing outside the loop is a
product. backend/blas_threads.py limits BLAS to one thread on a busy machine for graphs with such
products; before it counted products inside loop bodies it left this graph on BLAS's own threads.
The result is checked against the NumPy backend first. Run with each tree (docs/benchmarks.md,
table 40), default BLAS threads:

    PYTHONPATH=<tree> python benchmarks/bench_scan_threads.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as gc
from graphc.backend import blas_threads
from graphc.ir import toposort

HIDDEN, BATCH, STEPS = 256, 32, 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    W = gc.input("W", (HIDDEN, 4 * HIDDEN), dtype="float32")
    V = gc.input("V", (4 * HIDDEN, HIDDEN), dtype="float32")
    h0 = gc.input("h0", (BATCH, HIDDEN), dtype="float32")
    xs = gc.input("xs", (STEPS, BATCH, HIDDEN), dtype="float32")

    def step(h: gc.Tensor, x: gc.Tensor) -> tuple[gc.Tensor, None]:
        return gc.tanh(gc.tanh(h @ W) @ V * 0.05 + x), None

    last, _ = gc.scan(step, h0, xs)
    loss = gc.sum(last)
    f = gc.compile([h0, xs, W, V], [loss], tiered=False)
    rng = np.random.default_rng(0)
    values = [rng.normal(size=(BATCH, HIDDEN)), rng.normal(size=(STEPS, BATCH, HIDDEN)),
              rng.normal(size=(HIDDEN, 4 * HIDDEN)) / 16, rng.normal(size=(4 * HIDDEN, HIDDEN)) / 32]
    values = [v.astype(np.float32) for v in values]
    want = gc.compile([h0, xs, W, V], [loss], backend="numpy")(*values)
    assert np.isclose(f(*values), want, rtol=1e-3), (f(*values), want)
    times, cpu = [], []
    for _ in range(args.repeat):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        f(*values)
        times.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
    print(f"one-thread rule applies: {blas_threads.wants_one_thread(toposort([loss]))}; "
          f"median {np.median(times) * 1e3:.1f} ms, best {min(times) * 1e3:.1f} ms, "
          f"median CPU {np.median(cpu) * 1e3:.1f} ms per call")


if __name__ == "__main__":
    main()
