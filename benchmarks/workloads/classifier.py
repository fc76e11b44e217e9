"""Workload: autograd's neural-net classifier, 64-200-100-10 tanh, float64, batch 256 (a NAMED size).

    for W, b in layers: z = h @ W + b; h = tanh(z)       (the last layer keeps z)
    log_posterior = -L2 * sum(p**2 for every W, b) + sum((z - logsumexp(z, axis=1)) * targets)

Outputs: the log posterior and its gradient for all six parameters. The
example programs of autograd and JAX are written like this; issue 17 found
graphc's numba backend at 2.7x JAX here, slower than graphc's own NumPy
backend, while the float32 benchmark MLP ran at hand NumPy's speed. Small
and medium matrix products (256x64x200, 256x200x100, 256x100x10) and the
glue around them are the whole cost. Imports: numpy; each framework lazily.
"""

from __future__ import annotations

import sys

import numpy as np

from . import adapters

NAME = "classifier"
TITLE = "MLP classifier 64-200-100-10 tanh, L2 prior, logsumexp, batch 256 (named), f64: value + 6 grads"
WRT = ("W1", "b1", "W2", "b2", "W3", "b3")
RTOL, ATOL = 1e-9, 1e-9
L2 = 1.0
SIZES = (64, 200, 100, 10)


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(17)
    batch = 64 if quick else 256
    values = {"x": rng.standard_normal((batch, SIZES[0])),
              "targets": np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], batch)]}
    for layer, (m, n) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        values[f"W{layer}"] = rng.standard_normal((m, n)) * 0.1
        values[f"b{layer}"] = rng.standard_normal(n) * 0.1
    return values


def hand_numpy(x, targets, W1, b1, W2, b2, W3, b3):
    params = [W1, b1, W2, b2, W3, b3]
    h1 = np.tanh(x @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    z = h2 @ W3 + b3
    top = z.max(axis=1, keepdims=True)
    exp = np.exp(z - top)
    total = exp.sum(axis=1, keepdims=True)
    log_probs = z - (top + np.log(total))
    value = -L2 * sum(np.sum(p ** 2) for p in params) + np.sum(log_probs * targets)
    d_z = targets - exp / total * targets.sum(axis=1, keepdims=True)
    d_h2 = (d_z @ W3.T) * (1 - h2 ** 2)
    d_h1 = (d_h2 @ W2.T) * (1 - h1 ** 2)
    grads = [x.T @ d_h1, d_h1.sum(axis=0), h1.T @ d_h2, d_h2.sum(axis=0), h2.T @ d_z, d_z.sum(axis=0)]
    return (value, *[g - 2 * L2 * p for g, p in zip(grads, params)])


def hand_numba(x, targets, W1, b1, W2, b2, W3, b3):
    n = x.shape[0]
    h1 = np.tanh(np.dot(x, W1) + b1)
    h2 = np.tanh(np.dot(h1, W2) + b2)
    z = np.dot(h2, W3) + b3
    value = 0.0
    d_z = np.empty_like(z)
    for i in range(n):
        top = z[i].max()
        total = 0.0
        for k in range(z.shape[1]):
            d_z[i, k] = np.exp(z[i, k] - top)
            total += d_z[i, k]
        log_total = top + np.log(total)
        weight = 0.0
        for k in range(z.shape[1]):
            value += (z[i, k] - log_total) * targets[i, k]
            weight += targets[i, k]
        for k in range(z.shape[1]):
            d_z[i, k] = targets[i, k] - d_z[i, k] / total * weight
    d_h2 = np.dot(d_z, W3.T) * (1 - h2 * h2)
    d_h1 = np.dot(d_h2, W2.T) * (1 - h1 * h1)
    prior = (W1 ** 2).sum() + (b1 ** 2).sum() + (W2 ** 2).sum() + (b2 ** 2).sum() \
        + (W3 ** 2).sum() + (b3 ** 2).sum()
    return (value - L2 * prior,
            np.dot(x.T, d_h1) - 2 * L2 * W1, d_h1.sum(axis=0) - 2 * L2 * b1,
            np.dot(h1.T, d_h2) - 2 * L2 * W2, d_h2.sum(axis=0) - 2 * L2 * b2,
            np.dot(h2.T, d_z) - 2 * L2 * W3, d_z.sum(axis=0) - 2 * L2 * b3)


def graphc_graph():
    import graphc as gc

    x = gc.input("x", shape=("batch", SIZES[0]))
    targets = gc.input("targets", shape=("batch", SIZES[-1]))
    params = []
    for layer, (m, n) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        params += [gc.input(f"W{layer}", shape=(m, n)), gc.input(f"b{layer}", shape=(n,))]
    h = x
    for W, b in zip(params[::2], params[1::2]):
        z = h @ W + b
        h = gc.tanh(z)
    log_probs = z - gc.logsumexp(z, axis=1, keepdims=True)
    prior = -L2 * sum(gc.sum(p ** 2) for p in params)
    return [x, targets, *params], prior + gc.sum(log_probs * targets)


def jax_loss(x, targets, W1, b1, W2, b2, W3, b3):
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    params = [W1, b1, W2, b2, W3, b3]
    h = x
    for W, b in zip(params[::2], params[1::2]):
        z = h @ W + b
        h = jnp.tanh(z)
    log_probs = z - logsumexp(z, axis=1, keepdims=True)
    return -L2 * sum(jnp.sum(p ** 2) for p in params) + jnp.sum(log_probs * targets)


def torch_loss(x, targets, W1, b1, W2, b2, W3, b3):
    import torch

    params = [W1, b1, W2, b2, W3, b3]
    h = x
    for W, b in zip(params[::2], params[1::2]):
        z = h @ W + b
        h = torch.tanh(z)
    log_probs = z - torch.logsumexp(z, dim=1, keepdim=True)
    return -L2 * sum((p ** 2).sum() for p in params) + (log_probs * targets).sum()


def pytensor_graph():
    import pytensor.tensor as pt
    from pytensor.tensor.math import logsumexp

    x, targets = pt.dmatrix("x"), pt.dmatrix("targets")
    params = []
    for layer in range(1, len(SIZES)):
        params += [pt.dmatrix(f"W{layer}"), pt.dvector(f"b{layer}")]
    h = x
    for W, b in zip(params[::2], params[1::2]):
        z = h @ W + b
        h = pt.tanh(z)
    log_probs = z - logsumexp(z, axis=1, keepdims=True)
    return [x, targets, *params], -L2 * sum((p ** 2).sum() for p in params) + (log_probs * targets).sum()


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
