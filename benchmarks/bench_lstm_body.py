"""The LSTM step's backward loop body from two generated sources, A/B in one process.

bench_lstm_ab.py compares whole calls in separate processes, and on a loaded
machine processes differ by up to 30%. This times one loop body of two
trees' generated code in ONE process instead: save each tree's
`f.source` (bench_lstm.graphc_step("numba").source) to a file, then

    PYTHONPATH=$PWD OPENBLAS_NUM_THREADS=1 /work/benchvenv/bin/python benchmarks/bench_lstm_body.py \\
        main.py branch.py [--body graph_loop1_body]

Each file's body is jitted apart (Numba, no cache), fed the same arrays
(shaped as the backward body of bench_lstm.py's step), checked to give the
same results, and timed in interleaved rounds (CPU time). Only the
backward body's argument list is built here, so a body with another
signature is refused.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lstm as b  # noqa: E402

PARAMETERS = ("g_carry0", "g_carry1", "carry1", "g_ys0", "saved0", "saved1", "saved2", "saved3",
              "saved4", "saved5", "saved6", "h0", "h1", "out0", "w0")


def _body(path: str, name: str) -> Any:
    import numba

    spec = importlib.util.spec_from_file_location(f"generated_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function = getattr(module, name)
    found = function.__code__.co_varnames[:function.__code__.co_argcount]
    if found != PARAMETERS:
        raise SystemExit(f"{path}: {name}{found} is not the LSTM backward body this script feeds")
    return numba.njit(cache=False, error_model="numpy")(function)


def _arguments(rng: np.random.Generator) -> tuple[Any, ...]:
    h, n, k = b.HIDDEN, b.BATCH, b.CLASSES
    f32 = np.float32

    def normal(*shape: int) -> np.ndarray:
        return (rng.normal(size=shape) * 0.3).astype(f32)

    def gate() -> np.ndarray:
        return (1 / (1 + np.exp(-normal(n, h)))).astype(f32)

    Wh, Wy = normal(h, 4 * h), normal(h, k)
    return (normal(n, h), normal(n, h), normal(n, h), f32(1 / (b.STEPS * n)), gate(), gate(), gate(),
            np.tanh(normal(n, h)), np.tanh(normal(n, h)), np.eye(k)[rng.integers(0, k, n)],
            normal(n, k), Wy.T, Wh.T, np.empty((n, h), f32), np.empty((n, h), f32))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs=2)
    parser.add_argument("--body", default="graph_loop1_body")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    bodies = {path: _body(path, args.body) for path in args.sources}
    arguments = _arguments(np.random.default_rng(0))
    results = [bodies[path](*arguments) for path in args.sources]
    for first, second in zip(*results):
        np.testing.assert_allclose(np.asarray(first), np.asarray(second), rtol=1e-5, atol=1e-6)
    times: dict[str, list[float]] = {path: [] for path in args.sources}
    for _ in range(args.rounds):
        for path, body in bodies.items():
            start = time.process_time()
            for _ in range(args.calls):
                body(*arguments)
            times[path].append((time.process_time() - start) / args.calls)
    print(f"| {args.body} of | median CPU per step | best |\n|---|---|---|")
    for path, values in times.items():
        print(f"| {path} | {np.median(values) * 1e6:.1f} us | {min(values) * 1e6:.1f} us |")
    return {path: float(np.median(values)) for path, values in times.items()}


if __name__ == "__main__":
    main()
