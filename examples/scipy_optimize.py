"""graphc-compiled value, gradient, Hessian and Hessian-vector product handed to scipy.optimize.minimize.

1. Rosenbrock's function: graphc's gradient and Hessian are compared with
   scipy's own rosen_der and rosen_hess, then trust-exact finds (1, ..., 1).
2. L2-regularised logistic regression on scikit-learn's bundled
   breast-cancer data, solved twice: trust-exact with the full Hessian
   (gc.hessian, a vmap of one backward pass over an identity basis, so its
   graph does not grow with the number of parameters) and Newton-CG with
   Hessian-vector products (gc.hvp). Both must match scikit-learn's
   LogisticRegression with the same penalty.

Each problem is one compiled function returning value, gradient and Hessian
together (`Evaluations` hands scipy the parts, computing them once per point),
so a cold start compiles three functions in all. Times (wall and CPU) are printed per solve.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

import graphc as gc

try:
    from _cli import backend_from_args
except ImportError:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _cli import backend_from_args


class Evaluations:
    """scipy's fun / jac / hess from one compiled function of (x, *args) -> (value, gradient, Hessian)."""

    def __init__(self, compiled: Callable[..., Any]) -> None:
        self.compiled = compiled
        self.point: np.ndarray | None = None
        self.results: Any = None

    def _at(self, x: np.ndarray, *args: Any) -> Any:
        if self.point is None or not np.array_equal(x, self.point):
            self.point, self.results = np.array(x), self.compiled(x, *args)
        return self.results

    def fun(self, x: np.ndarray, *args: Any) -> tuple[float, np.ndarray]:
        value, gradient, _ = self._at(x, *args)
        return float(value), gradient

    def hess(self, x: np.ndarray, *args: Any) -> np.ndarray:
        return self._at(x, *args)[2]


def rosenbrock(size: int, backend: str) -> dict[str, float]:
    x = gc.input("x", shape=(size,))
    value = gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    start, cpu = time.perf_counter(), time.process_time()
    both = Evaluations(gc.compile([x], [value, gc.grad(value, x), gc.hessian(value, x)],
                                  backend=backend))
    point = np.random.default_rng(0).uniform(-2, 2, size)
    got_value, got_gradient, got_hessian = both.compiled(point)
    errors = {
        "value": abs(float(got_value) - rosen(point)),
        "gradient": float(np.max(np.abs(got_gradient - rosen_der(point)))),
        "hessian": float(np.max(np.abs(got_hessian - rosen_hess(point)))),
    }
    result = minimize(both.fun, np.zeros(size), jac=True, hess=both.hess, method="trust-exact")
    errors["solution"] = float(np.max(np.abs(result.x - 1)))
    errors["seconds_rosenbrock"] = time.perf_counter() - start
    errors["cpu_rosenbrock"] = time.process_time() - cpu
    print(f"Rosenbrock in {size} dimensions: |graphc - scipy| value {errors['value']:.1e}, "
          f"gradient {errors['gradient']:.1e}, Hessian {errors['hessian']:.1e}; "
          f"trust-exact reached x = 1 within {errors['solution']:.1e} in {result.nit} iterations "
          f"({errors['seconds_rosenbrock']:.2f} s, {errors['cpu_rosenbrock']:.2f} s CPU, with compiling)")
    return errors


def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    return StandardScaler().fit_transform(data.data), data.target.astype(np.float64)


def logistic_objective(d: int, C: float) -> tuple[gc.Tensor, gc.Tensor, gc.Tensor, gc.Tensor]:
    """sklearn's objective: C * sum(log-loss) + ||w||^2 / 2 (intercept not penalised)."""
    theta = gc.input("theta", shape=(d + 1,))
    X = gc.input("X", shape=("n", d))
    y = gc.input("y", shape=("n",))
    weights, intercept = theta[:d], theta[d]
    margin = X @ weights + intercept
    # log(1 + exp(-s * m)) with s = 2y - 1 is softplus(-s * m): stable for large margins.
    objective = C * gc.sum(gc.softplus(-(2 * y - 1) * margin)) + 0.5 * gc.sum(weights ** 2)
    return theta, X, y, objective


def logistic_regression(backend: str, C: float = 1.0) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    features, labels = breast_cancer()
    n, d = features.shape
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(features, labels)
    expected = np.concatenate([reference.coef_.ravel(), reference.intercept_])
    theta, X, y, objective = logistic_objective(d, C)
    gradient = gc.grad(objective, theta)
    differences = {}

    start, cpu = time.perf_counter(), time.process_time()
    both = Evaluations(gc.compile([theta, X, y], [objective, gradient, gc.hessian(objective, theta)],
                                  backend=backend))
    exact = minimize(both.fun, np.zeros(d + 1), args=(features, labels), jac=True, hess=both.hess,
                     method="trust-exact", options={"gtol": 1e-10})
    differences["logistic"] = float(np.max(np.abs(exact.x - expected)))
    differences["seconds_trust_exact"] = time.perf_counter() - start
    differences["cpu_trust_exact"] = time.process_time() - cpu
    print(f"logistic regression on breast cancer ({n} x {d}), trust-exact with the Hessian: "
          f"{exact.nit} iterations in {differences['seconds_trust_exact']:.2f} s "
          f"({differences['cpu_trust_exact']:.2f} s CPU) with compiling; "
          f"max |graphc - scikit-learn| coefficient difference {differences['logistic']:.1e}")

    start, cpu = time.perf_counter(), time.process_time()
    direction = gc.input("v", shape=(d + 1,))
    product = gc.compile([theta, direction, X, y], gc.hvp(objective, theta, direction),
                         backend=backend)
    value_and_gradient = Evaluations(both.compiled)
    newton = minimize(value_and_gradient.fun, np.zeros(d + 1), args=(features, labels), jac=True,
                      hessp=lambda t, v, a, b: product(t, v, a, b), method="Newton-CG",
                      options={"xtol": 1e-12})
    differences["logistic_hessp"] = float(np.max(np.abs(newton.x - expected)))
    differences["seconds_newton_cg"] = time.perf_counter() - start
    differences["cpu_newton_cg"] = time.process_time() - cpu
    print(f"logistic regression, Newton-CG with Hessian-vector products: {newton.nit} iterations "
          f"in {differences['seconds_newton_cg']:.2f} s ({differences['cpu_newton_cg']:.2f} s CPU) "
          f"with compiling; max |graphc - scikit-learn| "
          f"coefficient difference {differences['logistic_hessp']:.1e}")
    return differences


def main(argv: list[str] | None = None) -> dict[str, float]:
    backend = backend_from_args(__doc__.splitlines()[0], argv)
    errors = rosenbrock(size=5, backend=backend)
    errors.update(logistic_regression(backend))
    total = sum(v for k, v in errors.items() if k.startswith("seconds_"))
    cpu = sum(v for k, v in errors.items() if k.startswith("cpu_"))
    print(f"graphc's part (compiling, then every call scipy made): {total:.2f} s, {cpu:.2f} s CPU; "
          f"the whole process so far {time.process_time():.2f} s CPU (Python, NumPy, SciPy and "
          "scikit-learn imports and scikit-learn's reference fits included)")
    return errors


if __name__ == "__main__":
    main()
