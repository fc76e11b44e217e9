"""Loss + gradient of a logistic regression over many rows: one process vs a Dask cluster.

Run:  python benchmarks/bench_dask.py [--rows 40000000] [--features 100] [--repeat 5]

Prints one table (docs/benchmarks.md, "Dask"):

1. one process: the compiled f (numba, one thread) on all rows at once;
2. gc.dask.map_reduce on a LocalCluster of 1 and of 2 worker processes (one
   thread each), the data generated chunk by chunk on the workers and kept
   there (persisted): seconds per loss + gradient, median of --repeat calls
   after one warm-up call;
3. out of core: a data set 4x larger than each worker's memory_limit
   (--ooc-memory), not persisted: every chunk is generated, used and dropped
   during the call. Its reference is the same chunks evaluated one by one in
   this process and added in float64.

Every Dask result is compared with its reference (the max relative
difference over the outputs is printed). The data of rows 1-2 must fit in
this machine's memory (rows x features x 8 bytes, twice: once here, once on
the workers, one after the other); the default 4x10^7 rows x 100 features is
32 GB, so on a smaller machine pass --rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

import graphc as gc

SEED = 20261206


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=40_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ooc-memory", default="1GiB", help="each worker's memory_limit in the "
                        "out-of-core row (its data set is 4x this)")
    parser.add_argument("--skip-ooc", action="store_true")
    return parser.parse_args(argv)


def make_chunk(index: int, rows: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk `index`: the same numbers in any process (seeded by the chunk's index)."""
    rng = np.random.default_rng([SEED, index])
    X = rng.standard_normal((rows, features))
    z = X @ np.linspace(-1.0, 1.0, features) - 0.5
    y = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return X, y


def chunk_sizes(total: int, chunk: int) -> list[int]:
    return [min(chunk, total - start) for start in range(0, total, chunk)]


def logistic(features: int) -> gc.Function:
    X = gc.input("X", shape=("n", features))
    y = gc.input("y", shape=("n",))
    W = gc.input("W", shape=(features,))
    b = gc.input("b")
    z = X @ W + b
    loss = gc.sum(gc.softplus(z) - y * z)
    return gc.compile([X, y, W, b], [loss, *gc.grad(loss, [W, b])])


def dask_data(sizes: list[int], features: int) -> dict[str, Any]:
    """X and y as dask arrays whose chunks are made by make_chunk on the workers."""
    import dask
    import dask.array as da

    parts = [dask.delayed(make_chunk, pure=True, nout=2)(i, n, features) for i, n in enumerate(sizes)]
    X = da.concatenate([da.from_delayed(p[0], (n, features), np.float64)
                        for p, n in zip(parts, sizes)])
    y = da.concatenate([da.from_delayed(p[1], (n,), np.float64) for p, n in zip(parts, sizes)])
    return {"X": X, "y": y}


def difference(ours: Any, theirs: Any) -> float:
    """Max over outputs of |ours - theirs| / max|theirs|."""
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) / max(float(np.max(np.abs(b))), 1e-300)
               for a, b in zip(ours, theirs))


def timed(call: Any, repeat: int, cpu: Any = time.process_time) -> tuple[float, float, Any]:
    """(median seconds per call, CPU seconds per call summed over the processes, result).

    The CPU time does not grow when other jobs take the cores, so on a busy
    machine it shows the parallel efficiency the wall time cannot: 2 workers
    spending the CPU time of 1 would run 2x faster on 2 idle cores."""
    result = call()  # warm-up: workers load f, the cluster settles
    samples = []
    cpu_start = cpu()
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), (cpu() - cpu_start) / repeat, result


def one_process(f: gc.Function, args: argparse.Namespace, params: dict[str, np.ndarray],
                ) -> tuple[float, float, Any]:
    sizes = chunk_sizes(args.rows, args.chunk_rows)
    X = np.empty((args.rows, args.features))
    y = np.empty(args.rows)
    start = 0
    for index, n in enumerate(sizes):
        X[start:start + n], y[start:start + n] = make_chunk(index, n, args.features)
        start += n
    return timed(lambda: f(X, y, **params), args.repeat)


def on_cluster(f: gc.Function, args: argparse.Namespace, params: dict[str, np.ndarray],
               workers: int) -> tuple[float, float, Any]:
    from distributed import Client, LocalCluster

    per_worker = args.rows * args.features * 8 / workers
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0",
                      memory_limit=int(3 * per_worker + 2**30)) as cluster, Client(cluster) as client:
        data = dask_data(chunk_sizes(args.rows, args.chunk_rows), args.features)
        data = dict(zip(data, client.persist(list(data.values()))))
        client.wait_for_workers(workers)

        def worker_cpu() -> float:
            return sum(client.run(time.process_time).values())

        return timed(lambda: gc.dask.map_reduce(f, data, params, client=client), args.repeat,
                     worker_cpu)


def out_of_core(f: gc.Function, args: argparse.Namespace, params: dict[str, np.ndarray],
                ) -> dict[str, Any]:
    """2 workers, a data set 4x each one's memory_limit, streamed: time and exactness."""
    from dask.utils import parse_bytes
    from distributed import Client, LocalCluster

    limit = parse_bytes(args.ooc_memory)
    rows = 4 * limit // (args.features * 8 + 8) + 1
    sizes = chunk_sizes(rows, args.chunk_rows)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                      memory_limit=limit) as cluster, Client(cluster) as client:
        start = time.perf_counter()
        result = gc.dask.map_reduce(f, dask_data(sizes, args.features), params, client=client)
        seconds = time.perf_counter() - start
    reference = None
    for index, n in enumerate(sizes):  # the same chunks, one at a time, here
        X, y = make_chunk(index, n, args.features)
        outputs = f(X, y, **params)
        reference = outputs if reference is None else [a + b for a, b in zip(reference, outputs)]
    return {"rows": rows, "seconds": seconds, "difference": difference(result, reference),
            "bytes": rows * (args.features + 1) * 8, "limit": limit}


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    need = args.rows * (args.features + 1) * 8
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:
        available = need * 2
    if need * 1.3 > available:
        sys.exit(f"{args.rows} rows x {args.features} features need {need / 2**30:.1f} GiB in one "
                 f"process, {available / 2**30:.1f} GiB are available: pass a smaller --rows")
    f = logistic(args.features)
    rng = np.random.default_rng(1)
    params = {"W": rng.normal(size=args.features) * 0.1, "b": np.array(0.1)}
    load = os.getloadavg()
    single, single_cpu, reference = one_process(f, args, params)
    rows = [("one process (numba, 1 thread)", single, single_cpu, None)]
    for workers in (1, 2):
        seconds, cpu, result = on_cluster(f, args, params, workers)
        rows.append((f"LocalCluster, {workers} worker{'s' * (workers > 1)} x 1 thread", seconds, cpu,
                     difference(result, reference)))
    gigabytes = need / 1e9
    print(f"\nLoss + gradient of logistic regression, {args.rows:,} rows x {args.features} features "
          f"(float64, {gigabytes:.1f} GB), chunks of {args.chunk_rows:,} rows; median of {args.repeat}; "
          f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)\n")
    print("| configuration | seconds per call | rows/s | vs 1 worker | CPU seconds per call "
          "(all workers) | max rel. difference vs one process |")
    print("|---|---|---|---|---|---|")
    one_worker = rows[1][1]
    for name, seconds, cpu, diff in rows:
        print(f"| {name} | {seconds:.3f} | {args.rows / seconds:.3g} | {one_worker / seconds:.2f}x | "
              f"{cpu:.3f} | {'reference' if diff is None else f'{diff:.1e}'} |")
    if not args.skip_ooc:
        ooc = out_of_core(f, args, params)
        print(f"| out of core: 2 workers, memory_limit {ooc['limit'] / 2**30:.2f} GiB each, "
              f"{ooc['rows']:,} rows ({ooc['bytes'] / 2**30:.2f} GiB, generated during the call) | "
              f"{ooc['seconds']:.3f} | {ooc['rows'] / ooc['seconds']:.3g} | - | - | "
              f"{ooc['difference']:.1e} (vs the chunks added here) |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
