"""Workload: Gaussian-process negative log marginal likelihood and its gradient, n = 500, float64.

    K = s2 exp(-|x_i - x_j|^2 / (2 l^2)) + noise I,  theta = log (s2, l, noise)
    L = cholesky(K);  alpha = L^-1 y
    loss = alpha.alpha / 2 + sum(log diag L) + n/2 log(2 pi)

Outputs: loss, d_theta (3,). The work is one n x n Cholesky factorisation
(n^3/3 flops), and in the gradient two triangular solves with n x n right-hand
sides and a few n x n products. hand NumPy is the textbook SciPy version
(cho_solve, the gradient 0.5 tr((alpha alpha^T - K^-1) dK/dtheta)).
Imports: numpy, scipy; each framework lazily inside its function.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import scipy.linalg

from . import adapters

NAME = "gaussian_process"
TITLE = "GP marginal likelihood n=500: loss + grad"
WRT = ("theta",)
RTOL, ATOL = 1e-8, 1e-10


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n = 100 if quick else 500
    x = rng.standard_normal((n, 3))
    y = np.sin(x @ np.array([1.0, -0.5, 0.3])) + 0.1 * rng.standard_normal(n)
    return {"x": x, "y": y, "theta": np.log(np.array([1.0, 1.5, 0.1]))}


def _distances(x):
    """Squared distances between the rows, as |a|^2 + |b|^2 - 2 a.b (clip at 0 after)."""
    squared = (x * x).sum(1)
    return squared[:, None] + squared[None, :] - 2.0 * (x @ x.T)


def hand_numpy(x, y, theta):
    signal, lengthscale, noise = np.exp(theta)
    distances = np.maximum(_distances(x), 0.0) / lengthscale ** 2
    smooth = signal * np.exp(-0.5 * distances)
    n = y.shape[0]
    factor = scipy.linalg.cholesky(smooth + noise * np.eye(n), lower=True)
    alpha = scipy.linalg.cho_solve((factor, True), y)
    loss = 0.5 * y @ alpha + np.log(np.diag(factor)).sum() + 0.5 * n * math.log(2 * math.pi)
    inner = scipy.linalg.cho_solve((factor, True), np.eye(n)) - np.outer(alpha, alpha)
    gradient = 0.5 * np.array([np.sum(inner * smooth), np.sum(inner * smooth * distances),
                               noise * np.trace(inner)])
    return loss, gradient


def graphc_graph():
    import graphc as gc

    x, y, theta = gc.input("x", shape=("n", 3)), gc.input("y", shape=("n",)), gc.input("theta", shape=(3,))
    scaled = x / gc.exp(theta[1])
    squared = gc.sum(scaled * scaled, axis=1)
    distances = gc.maximum(squared[:, None] + squared[None, :] - 2.0 * (scaled @ scaled.T), 0.0)
    kernel = gc.exp(theta[0]) * gc.exp(-0.5 * distances) + gc.diag(gc.exp(theta[2]) + 0.0 * y)
    factor = gc.linalg.cholesky(kernel)
    alpha = gc.linalg.solve_triangular(factor, y, lower=True)
    loss = 0.5 * gc.sum(alpha * alpha) + gc.sum(gc.log(gc.diagonal(factor))) \
        + 0.5 * math.log(2 * math.pi) * y.shape[0]
    return [x, y, theta], loss


def jax_loss(x, y, theta):
    import jax.numpy as jnp
    import jax.scipy.linalg

    scaled = x / jnp.exp(theta[1])
    kernel = jnp.exp(theta[0]) * jnp.exp(-0.5 * jnp.maximum(_distances(scaled), 0.0)) \
        + jnp.exp(theta[2]) * jnp.eye(y.shape[0])
    factor = jnp.linalg.cholesky(kernel)
    alpha = jax.scipy.linalg.solve_triangular(factor, y, lower=True)
    return 0.5 * alpha @ alpha + jnp.log(jnp.diag(factor)).sum() + 0.5 * y.shape[0] * math.log(2 * math.pi)


def torch_loss(x, y, theta):
    import torch

    scaled = x / torch.exp(theta[1])
    kernel = torch.exp(theta[0]) * torch.exp(-0.5 * torch.clamp(_distances(scaled), min=0.0)) \
        + torch.exp(theta[2]) * torch.eye(y.shape[0], dtype=y.dtype)
    factor = torch.linalg.cholesky(kernel)
    alpha = torch.linalg.solve_triangular(factor, y[:, None], upper=False)[:, 0]
    return 0.5 * alpha @ alpha + torch.log(torch.diagonal(factor)).sum() \
        + 0.5 * y.shape[0] * math.log(2 * math.pi)


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
