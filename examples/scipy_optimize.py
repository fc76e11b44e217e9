"""graphc-compiled fun, jac and hess handed to scipy.optimize.minimize.

1. Rosenbrock's function: graphc's gradient and Hessian are compared with
   scipy's own rosen_der and rosen_hess, then Newton's method finds (1, ..., 1).
2. L2-regularised logistic regression on scikit-learn's bundled
   breast-cancer data: the coefficients must match scikit-learn's
   LogisticRegression with the same penalty.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess

import graphc as gc

try:
    from _cli import backend_from_args
except ImportError:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _cli import backend_from_args


def rosenbrock(size: int, backend: str) -> dict[str, float]:
    x = gc.input("x", shape=(size,))
    value = gc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    fun = gc.compile([x], value, backend=backend)
    jac = gc.compile([x], gc.grad(value, x), backend=backend)
    hess = gc.compile([x], gc.hessian(value, x), backend=backend)

    point = np.random.default_rng(0).uniform(-2, 2, size)
    errors = {
        "value": abs(float(fun(point)) - rosen(point)),
        "gradient": float(np.max(np.abs(jac(point) - rosen_der(point)))),
        "hessian": float(np.max(np.abs(hess(point) - rosen_hess(point)))),
    }
    result = minimize(fun, np.zeros(size), jac=jac, hess=hess, method="trust-exact")
    errors["solution"] = float(np.max(np.abs(result.x - 1)))
    print(f"Rosenbrock in {size} dimensions: |graphc - scipy| value {errors['value']:.1e}, "
          f"gradient {errors['gradient']:.1e}, Hessian {errors['hessian']:.1e}; "
          f"trust-exact reached x = 1 within {errors['solution']:.1e} in {result.nit} iterations")
    return errors


def logistic_regression(backend: str, C: float = 1.0) -> float:
    """sklearn's objective: C * sum(log-loss) + ||w||^2 / 2 (intercept not penalised)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    features = StandardScaler().fit_transform(data.data)
    labels = data.target.astype(np.float64)
    n, d = features.shape

    theta = gc.input("theta", shape=(d + 1,))
    X = gc.input("X", shape=("n", d))
    y = gc.input("y", shape=("n",))
    weights, intercept = theta[:d], theta[d]
    margin = X @ weights + intercept
    signs = 2 * y - 1
    # log(1 + exp(-s * m)) is softplus(-s * m): stable for large margins.
    objective = C * gc.sum(gc.softplus(-signs * margin)) + 0.5 * gc.sum(weights ** 2)
    fun = gc.compile([theta, X, y], objective, backend=backend)
    jac = gc.compile([theta, X, y], gc.grad(objective, theta), backend=backend)
    hess = gc.compile([theta, X, y], gc.hessian(objective, theta), backend=backend)

    result = minimize(fun, np.zeros(d + 1), args=(features, labels), jac=jac, hess=hess,
                      method="trust-exact", options={"gtol": 1e-10})
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(features, labels)
    expected = np.concatenate([reference.coef_.ravel(), reference.intercept_])
    difference = float(np.max(np.abs(result.x - expected)))
    print(f"logistic regression on breast cancer ({n} x {d}): {result.nit} Newton iterations; "
          f"max |graphc - scikit-learn| coefficient difference {difference:.1e}")
    return difference


def main(argv: list[str] | None = None) -> dict[str, float]:
    backend = backend_from_args(__doc__.splitlines()[0], argv)
    errors = rosenbrock(size=5, backend=backend)
    errors["logistic"] = logistic_regression(backend)
    return errors


if __name__ == "__main__":
    main()
