"""Workload: sum(sigmoid(X @ W)) with X(3,3), W(3,2) in float64: the value and both gradients.

Tiny arrays, so this measures per-call overhead (argument checks, dispatch)
more than arithmetic. Each implementation below computes the same three
outputs (loss, d_X, d_W); adapters.standard differentiates and compiles them.
Imports: numpy; each framework lazily inside its function.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from . import adapters

NAME = "sigmoid_matmul"
TITLE = "sum(sigmoid(X@W)) X(3,3) W(3,2): value + 2 grads"
WRT = ("X", "W")
RTOL, ATOL = 1e-10, 1e-12


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"X": rng.standard_normal((3, 3)), "W": rng.standard_normal((3, 2))}


def hand_numpy(X, W):
    s = 1.0 / (1.0 + np.exp(-(X @ W)))
    d_z = s * (1.0 - s)
    return s.sum(), d_z @ W.T, X.T @ d_z


def hand_numba(X, W):
    n, k = X.shape
    m = W.shape[1]
    d_z = np.empty((n, m))
    loss = 0.0
    for i in range(n):
        for j in range(m):
            z = 0.0
            for p in range(k):
                z += X[i, p] * W[p, j]
            s = 1.0 / (1.0 + math.exp(-z))
            loss += s
            d_z[i, j] = s * (1.0 - s)
    d_X = np.zeros((n, k))
    d_W = np.zeros((k, m))
    for i in range(n):
        for j in range(m):
            for p in range(k):
                d_X[i, p] += d_z[i, j] * W[p, j]
                d_W[p, j] += X[i, p] * d_z[i, j]
    return loss, d_X, d_W


def graphc_graph():
    import graphc as gc

    X = gc.input("X", shape=(3, 3))
    W = gc.input("W", shape=(3, 2))
    return [X, W], gc.sum(gc.sigmoid(X @ W))


def jax_loss(X, W):
    import jax

    return jax.nn.sigmoid(X @ W).sum()


def torch_loss(X, W):
    import torch

    return torch.sigmoid(X @ W).sum()


def pytensor_graph():
    import pytensor.tensor as pt

    X, W = pt.dmatrix("X"), pt.dmatrix("W")
    return [X, W], pt.sigmoid(X @ W).sum()


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
