"""Gaussian-process regression: hyperparameters fitted by L-BFGS-B on graphc's exact gradient.

Data: scikit-learn's bundled diabetes set (442 patients), three standardized
features (body-mass index, blood pressure, serum s5) predicting the
standardized disease progression. Kernel: s2 * exp(-|x - x'|^2 / (2 l^2)) +
noise * I, the same as scikit-learn's ConstantKernel * RBF + WhiteKernel, with
parameters theta = (log s2, log l, log noise) as scikit-learn orders them.

The negative log marginal likelihood is written with gc.linalg:

    L = cholesky(K);  alpha = solve_triangular(L, y, lower=True)
    -log p(y) = alpha.alpha / 2 + sum(log diag(L)) + n/2 log(2 pi)

and gc.grad gives its gradient through the Cholesky factorisation (Murray's
rule) and the triangular solve. One compiled function returns both; scipy's
L-BFGS-B fits theta with it. Checks: value and gradient against scikit-learn's
log_marginal_likelihood at the starting point, and the fitted theta and
log-likelihood against GaussianProcessRegressor's own fit from the same start.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
from scipy.optimize import minimize

import graphc as gc

START = np.log([1.0, 1.0, 0.1])  # (s2, l, noise): scikit-learn's kernel at its initial values
BOUNDS = [(math.log(1e-5), math.log(1e5))] * 3  # scikit-learn's default hyperparameter bounds


def diabetes(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `size` patients: three standardized features, standardized target."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    x = data.data[:size, [2, 3, 8]]
    y = data.target[:size]
    return (x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std()


def negative_log_likelihood(theta: gc.Tensor, x: gc.Tensor, y: gc.Tensor) -> gc.Tensor:
    """-log p(y | x, theta) for the RBF + white-noise kernel, through a Cholesky factor."""
    signal, lengthscale, noise = gc.exp(theta[0]), gc.exp(theta[1]), gc.exp(theta[2])
    scaled = x / lengthscale
    squared = gc.sum(scaled * scaled, axis=1)
    distances = squared[:, None] + squared[None, :] - 2.0 * (scaled @ scaled.T)
    kernel = signal * gc.exp(-0.5 * gc.maximum(distances, 0.0)) + gc.diag(noise + 1e-10 + 0.0 * y)
    factor = gc.linalg.cholesky(kernel)
    alpha = gc.linalg.solve_triangular(factor, y, lower=True)
    count = y.shape[0]
    return 0.5 * gc.sum(alpha * alpha) + gc.sum(gc.log(gc.diagonal(factor))) \
        + 0.5 * math.log(2 * math.pi) * count


def compile_objective(backend: str) -> Any:
    """One compiled function (theta, x, y) -> (value, gradient); any number of points."""
    theta, x, y = gc.input("theta", (3,)), gc.input("x", ("n", 3)), gc.input("y", ("n",))
    value = negative_log_likelihood(theta, x, y)
    return gc.compile([theta, x, y], [value, gc.grad(value, theta)], backend=backend)


def scikit_learn_fit(x: np.ndarray, y: np.ndarray) -> tuple[Any, float]:
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    kernel = ConstantKernel(1.0) * RBF(1.0) + WhiteKernel(0.1)
    start = time.perf_counter()
    model = GaussianProcessRegressor(kernel, alpha=1e-10, random_state=0).fit(x, y)
    return model, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    parser.add_argument("--size", type=int, default=442, help="patients used (at most 442)")
    args = parser.parse_args(argv)
    x, y = diabetes(args.size)
    start = time.perf_counter()
    objective = compile_objective(args.backend)
    compiled = time.perf_counter() - start
    model, sklearn_seconds = scikit_learn_fit(x, y)
    sklearn_value, sklearn_gradient = model.log_marginal_likelihood(START, eval_gradient=True)
    value, gradient = objective(START, x, y)
    start = time.perf_counter()
    result = minimize(lambda t: tuple(objective(t, x, y)), START, jac=True, method="L-BFGS-B",
                      bounds=BOUNDS)
    seconds = time.perf_counter() - start
    fitted, sklearn_theta = np.exp(result.x), np.exp(model.kernel_.theta)
    print(f"n = {len(y)} patients, 3 features; backend {args.backend} (compiled in {compiled:.2f} s)")
    print(f"at the start: |graphc - scikit-learn| log-likelihood {abs(-value - sklearn_value):.1e}, "
          f"gradient {np.max(np.abs(-gradient - sklearn_gradient)):.1e}")
    names = ("signal variance", "lengthscale", "noise variance")
    for name, ours, theirs in zip(names, fitted, sklearn_theta):
        print(f"  {name:16s} graphc {ours:.5f}   scikit-learn {theirs:.5f}")
    print(f"log marginal likelihood: graphc {-result.fun:.5f} ({result.nit} L-BFGS-B iterations, "
          f"{seconds:.2f} s), scikit-learn {model.log_marginal_likelihood_value_:.5f} "
          f"({sklearn_seconds:.2f} s)")
    return {"value_error": abs(-float(value) - sklearn_value),
            "gradient_error": float(np.max(np.abs(-gradient - sklearn_gradient))),
            "theta": result.x, "sklearn_theta": model.kernel_.theta,
            "log_likelihood": -float(result.fun),
            "sklearn_log_likelihood": float(model.log_marginal_likelihood_value_)}


if __name__ == "__main__":
    main()
