"""L2-regularised logistic regression on a Dask cluster, fitted with L-BFGS.

The data set is generated chunk by chunk on the workers (dask.array's random
generator) and stays there; each L-BFGS step sends the current weights to
the workers once, every worker runs the compiled loss and gradient on its
chunks, and the sums come back. The fit is compared with the same fit in one
process (the client then builds the same data set in its own memory: skip
that with --no-compare when the data does not fit).

    python examples/dask_logistic.py                          # a LocalCluster, 2 workers
    python examples/dask_logistic.py --scheduler tcp://host:8786   # a running cluster
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from scipy.optimize import minimize

import graphc as gc


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--l2", type=float, default=1e-2, help="penalty: l2 / 2 * |W|^2")
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler "
                        "(default: start a LocalCluster here)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--in-process", action="store_true",
                        help="LocalCluster workers as threads of this process (quick; for tests)")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="skip the one-process fit (it holds all the data in this process)")
    return parser.parse_args(argv)


def objective_function(features: int, l2: float, backend: str) -> gc.Function:
    """Mean log-loss over the rows + l2 / 2 * |W|^2, and its gradients for W and b."""
    X = gc.input("X", shape=("n", features))
    y = gc.input("y", shape=("n",))
    W = gc.input("W", shape=(features,))
    b = gc.input("b")
    z = X @ W + b
    loss = gc.mean(gc.softplus(z) - y * z) + 0.5 * l2 * gc.sum(W * W)
    return gc.compile([X, y, W, b], [loss, *gc.grad(loss, [W, b])], backend=backend)


def synthetic(rows: int, features: int, chunk_rows: int) -> tuple[Any, Any]:
    """X ~ N(0, 1) and y ~ Bernoulli(sigmoid(X @ w_true - 0.5)), as dask arrays (lazy)."""
    import dask.array as da

    rng = da.random.default_rng(20261206)
    X = rng.standard_normal((rows, features), chunks=(chunk_rows, features))
    w_true = np.linspace(-1.0, 1.0, features)
    p = 1 / (1 + da.exp(-(X @ w_true - 0.5)))
    y = (rng.random(rows, chunks=chunk_rows) < p).astype(np.float64)
    return X, y


def connect(args: argparse.Namespace) -> tuple[Any, Any]:
    """A client of the given scheduler, or of a LocalCluster started here."""
    from distributed import Client, LocalCluster

    if args.scheduler:
        return Client(args.scheduler), None
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                           processes=not args.in_process, dashboard_address=":0")
    return Client(cluster), cluster


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse(argv)
    f = objective_function(args.features, args.l2, args.backend)
    start = {"W": np.zeros(args.features), "b": np.array(0.0)}
    client, cluster = connect(args)
    try:
        X, y = synthetic(args.rows, args.features, args.chunk_rows)
        X, y = client.persist([X, y])  # made on the workers, kept there between steps
        fun = gc.dask.objective(f, {"X": X, "y": y}, start, combine="mean", client=client)
        began = time.perf_counter()
        fun(fun.x0)  # the first evaluation: workers make the data and load the compiled f
        first = time.perf_counter() - began
        began = time.perf_counter()
        fitted = minimize(fun, fun.x0, jac=True, method="L-BFGS-B")
        seconds = time.perf_counter() - began
        print(f"Dask: {args.rows} rows x {args.features} features in {X.numblocks[0]} chunks on "
              f"{len(client.scheduler_info()['workers'])} workers: loss {fitted.fun:.6f} after "
              f"{fitted.nit} L-BFGS iterations ({fitted.nfev} evaluations, {seconds:.2f} s; "
              f"the first evaluation, {first:.2f} s, made the data and loaded f)")
        result = {"loss": float(fitted.fun), "evaluations": float(fitted.nfev)}
        if args.compare:
            result.update(compare(f, X, y, fitted, start))
        return result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def compare(f: gc.Function, X: Any, y: Any, fitted: Any, start: dict[str, np.ndarray],
            ) -> dict[str, float]:
    """The same fit in this process, on the same data gathered here."""
    X_all, y_all = (np.asarray(a) for a in (X.compute(), y.compute()))

    def local(x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, dW, db = f(X_all, y_all, x[:-1], x[-1])
        return float(loss), np.append(dW, db)

    began = time.perf_counter()
    reference = minimize(local, np.append(start["W"], start["b"]), jac=True, method="L-BFGS-B")
    seconds = time.perf_counter() - began
    difference = float(np.max(np.abs(fitted.x - reference.x)))
    print(f"One process: loss {reference.fun:.6f} after {reference.nit} iterations "
          f"({seconds:.2f} s); max |weights(Dask) - weights(one process)| = {difference:.1e}")
    return {"weights": difference, "loss_difference": abs(float(fitted.fun) - reference.fun)}


if __name__ == "__main__":
    main()
