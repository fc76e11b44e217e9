"""Workload: logistic regression, X(32,10), float64: the mean cross-entropy and its gradients.

    z = X @ w + b;  loss = mean(softplus(z) - y * z)   (binary cross-entropy with logits)

Outputs: loss, d_w (10,), d_b (scalar). Small arrays: overhead plus a tiny
matrix-vector product. Imports: numpy; each framework lazily inside its function.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from . import adapters

NAME = "logistic"
TITLE = "logistic regression X(32,10): loss + 2 grads"
WRT = ("w", "b")
RTOL, ATOL = 1e-10, 1e-12


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"X": rng.standard_normal((32, 10)), "y": (rng.random(32) < 0.5).astype(np.float64),
            "w": 0.3 * rng.standard_normal(10), "b": np.array(0.1)}


def hand_numpy(X, y, w, b):
    z = X @ w + b
    loss = np.mean(np.logaddexp(0.0, z) - y * z)
    d_z = (1.0 / (1.0 + np.exp(-z)) - y) / z.shape[0]
    return loss, X.T @ d_z, np.sum(d_z)


def hand_numba(X, y, w, b):
    n, k = X.shape
    d_w = np.zeros(k)
    d_b = 0.0
    loss = 0.0
    bias = b.item()
    for i in range(n):
        z = bias
        for j in range(k):
            z += X[i, j] * w[j]
        loss += max(z, 0.0) + math.log1p(math.exp(-abs(z))) - y[i] * z
        d_z = (1.0 / (1.0 + math.exp(-z)) - y[i]) / n
        d_b += d_z
        for j in range(k):
            d_w[j] += X[i, j] * d_z
    return loss / n, d_w, d_b


def graphc_graph():
    import graphc as gc

    X, y = gc.input("X", shape=("n", 10)), gc.input("y", shape=("n",))
    w, b = gc.input("w", shape=(10,)), gc.input("b", shape=())
    z = X @ w + b
    return [X, y, w, b], gc.mean(gc.softplus(z) - y * z)


def jax_loss(X, y, w, b):
    import jax

    z = X @ w + b
    return (jax.nn.softplus(z) - y * z).mean()


def torch_loss(X, y, w, b):
    import torch

    z = X @ w + b
    return (torch.nn.functional.softplus(z) - y * z).mean()


def pytensor_graph():
    import pytensor.tensor as pt

    X, y, w, b = pt.dmatrix("X"), pt.dvector("y"), pt.dvector("w"), pt.dscalar("b")
    z = X @ w + b
    return [X, y, w, b], (pt.softplus(z) - y * z).mean()


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
