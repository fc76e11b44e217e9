"""Bayesian linear regression by stochastic variational inference, noise drawn in the graph.

The posterior over the weights w of y = X w + noise (scikit-learn's diabetes
data, standardized; prior w ~ N(0, I / alpha), noise N(0, 1 / beta)) is
approximated by q(w) = N(mu, diag(sigma^2)), sigma = softplus(rho). Each
step draws w = mu + sigma * eps with eps = gc.random.normal(key, ...) -- the
reparameterisation trick, so the gradient of the ELBO estimate flows into
mu and sigma -- and the Adam update, the loss and the next key are ONE
compiled function: the key is part of the state, split in the graph
(`key, subkey = split(key)` in JAX's style).

For this model the best Gaussian q is known exactly: its mean is the
posterior mean (alpha I + beta X^T X)^-1 beta X^T y and its variances are
1 / diag(alpha I + beta X^T X). The example trains, then compares.
Run: python3 examples/bayesian_regression.py [--backend numpy|numba] [--steps N]
"""

from __future__ import annotations

import argparse

import numpy as np

import graphc as gc

ALPHA, BETA = 1.0, 2.0  # prior precision, noise precision


def load() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    return np.hstack([X, np.ones((X.shape[0], 1))]), y


def build(samples: int, lr: float, backend: str) -> tuple[gc.Function, gc.optim.Update]:
    X, y = gc.input("X", shape=("n", "d")), gc.input("y", shape=("n",))
    mu, rho = gc.input("mu", shape=("d",)), gc.input("rho", shape=("d",))
    key = gc.input("key", dtype="int64")
    keys = gc.random.split(key)
    sigma = gc.softplus(rho)
    eps = gc.random.normal(keys[1], (samples, mu.shape[0]))
    w = mu + sigma * eps  # (samples, d): reparameterised draws from q
    residual = y - w @ X.T  # (samples, n)
    expected_log_likelihood = -0.5 * BETA * gc.sum(gc.square(residual)) / samples
    kl = 0.5 * gc.sum(ALPHA * (gc.square(sigma) + gc.square(mu)) - 1.0 - gc.log(ALPHA * gc.square(sigma)))
    loss = (kl - expected_log_likelihood) / X.shape[0]  # negative ELBO per data point
    update = gc.optim.adam([mu, rho], gc.grad(loss, [mu, rho]), lr=lr)
    step = gc.compile([X, y, key, mu, rho, *update.state],
                      [loss, keys[0], *update.new_params, *update.new_state], backend=backend)
    return step, update


def exact(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The optimal mean-field Gaussian's mean and standard deviations, in closed form."""
    precision = ALPHA * np.eye(X.shape[1]) + BETA * X.T @ X
    return np.linalg.solve(precision, BETA * X.T @ y), 1 / np.sqrt(np.diag(precision))


def train(step: gc.Function, update: gc.optim.Update, X: np.ndarray, y: np.ndarray,
          steps: int, seed: int) -> tuple[list[float], np.ndarray, np.ndarray]:
    d = X.shape[1]
    params = [np.zeros(d), np.full(d, -2.0)]
    state = update.init_state(params)
    key = np.int64(seed)
    losses = []
    for _ in range(steps):
        loss, key, *rest = step(X, y, key, *params, *state)
        params, state = update.split(rest)
        losses.append(float(loss))
    return losses, params[0], np.logaddexp(0.0, params[1])


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba", choices=["numba", "numpy"])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    X, y = load()
    step, update = build(args.samples, lr=0.02, backend=args.backend)
    losses, mean, std = train(step, update, X, y, args.steps, args.seed)
    best_mean, best_std = exact(X, y)
    window = max(1, min(50, args.steps // 10))
    result = {"first_loss": float(np.mean(losses[:window])), "last_loss": float(np.mean(losses[-window:])),
              "mean_error": float(np.max(np.abs(mean - best_mean))),
              "std_error": float(np.max(np.abs(std / best_std - 1)))}
    print(f"negative ELBO per point: {result['first_loss']:.3f} (first {window} steps) -> "
          f"{result['last_loss']:.3f} (last {window})")
    print(f"posterior mean: max |mu - exact| = {result['mean_error']:.3f} "
          f"(weights up to {np.max(np.abs(best_mean)):.2f}); "
          f"std: max relative error {result['std_error']:.2f}")
    return result


if __name__ == "__main__":
    main()
