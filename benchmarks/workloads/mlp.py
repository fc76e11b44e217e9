"""Workload: one MLP training step, 784-512-10, relu, log_softmax cross-entropy, batch 128, float32.

    h = relu(x @ W1 + b1);  z = h @ W2 + b2;  loss = -mean(log_softmax(z)[i, labels[i]])

Outputs: loss, d_W1, d_b1, d_W2, d_b2. Three of the four matrix products
dominate (BLAS-bound), so the gap between tools is glue: bias adds, relu,
softmax, the reductions and copies. The same step is what the cold- and
warm-start rows run in a fresh process. Imports: numpy; each framework lazily
inside its function.
"""

from __future__ import annotations

import sys

import numpy as np

from . import adapters

NAME = "mlp"
TITLE = "MLP 784-512-10 relu, log_softmax CE, batch 128, f32: loss + 4 grads"
WRT = ("W1", "b1", "W2", "b2")
RTOL, ATOL = 2e-3, 2e-5  # float32, BLAS sums in different orders


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    f32 = np.float32
    return {
        "x": rng.random((128, 784), dtype=f32),
        "labels": rng.integers(0, 10, 128).astype(np.int64),
        "W1": (rng.standard_normal((784, 512)) * 0.05).astype(f32),
        "b1": (rng.standard_normal(512) * 0.1).astype(f32),
        "W2": (rng.standard_normal((512, 10)) * 0.05).astype(f32),
        "b2": (rng.standard_normal(10) * 0.1).astype(f32),
    }


def hand_numpy(x, labels, W1, b1, W2, b2):
    n = x.shape[0]
    pre = x @ W1 + b1
    h = np.maximum(pre, 0)
    z = h @ W2 + b2
    shifted = z - z.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = -np.mean(shifted[rows, labels] - np.log(total[:, 0]))
    d_z = exp / total
    d_z[rows, labels] -= 1
    d_z /= n
    d_h = (d_z @ W2.T) * (pre > 0)
    return loss, x.T @ d_h, d_h.sum(axis=0), h.T @ d_z, d_z.sum(axis=0)


def hand_numba(x, labels, W1, b1, W2, b2):
    n, hidden, classes = x.shape[0], W1.shape[1], W2.shape[1]
    h = np.dot(x, W1)
    for i in range(n):
        for j in range(hidden):
            h[i, j] = max(h[i, j] + b1[j], np.float32(0.0))
    z = np.dot(h, W2)
    loss = 0.0
    scale = np.float32(1.0 / n)
    for i in range(n):
        top = z[i, 0] + b2[0]
        for k in range(classes):
            z[i, k] += b2[k]
            top = max(top, z[i, k])
        picked = z[i, labels[i]] - top
        total = np.float32(0.0)
        for k in range(classes):
            z[i, k] = np.exp(z[i, k] - top)
            total += z[i, k]
        loss += np.log(total) - picked
        for k in range(classes):
            z[i, k] = z[i, k] / total * scale
        z[i, labels[i]] -= scale
    d_W2 = np.dot(h.T, z)
    d_b2 = z.sum(axis=0)
    d_h = np.dot(z, W2.T)
    for i in range(n):
        for j in range(hidden):
            if h[i, j] <= 0:
                d_h[i, j] = 0
    d_W1 = np.dot(x.T, d_h)
    d_b1 = d_h.sum(axis=0)
    return np.float32(loss / n), d_W1, d_b1, d_W2, d_b2


def graphc_graph():
    import graphc as gc

    x = gc.input("x", shape=("n", 784), dtype="float32")
    labels = gc.input("labels", shape=("n",), dtype="int64")
    W1 = gc.input("W1", shape=(784, 512), dtype="float32")
    b1 = gc.input("b1", shape=(512,), dtype="float32")
    W2 = gc.input("W2", shape=(512, 10), dtype="float32")
    b2 = gc.input("b2", shape=(10,), dtype="float32")
    z = gc.relu(x @ W1 + b1) @ W2 + b2
    picked = gc.sum(gc.log_softmax(z, axis=1) * gc.one_hot(labels, 10, dtype="float32"), axis=1)
    return [x, labels, W1, b1, W2, b2], -gc.mean(picked)


def jax_loss(x, labels, W1, b1, W2, b2):
    import jax
    import jax.numpy as jnp

    z = jax.nn.relu(x @ W1 + b1) @ W2 + b2
    picked = jnp.take_along_axis(jax.nn.log_softmax(z, axis=1), labels[:, None], axis=1)
    return -jnp.mean(picked)


def torch_loss(x, labels, W1, b1, W2, b2):
    import torch

    z = torch.relu(x @ W1 + b1) @ W2 + b2
    return torch.nn.functional.cross_entropy(z, labels)


def pytensor_graph():
    import pytensor.tensor as pt
    from pytensor.tensor.special import log_softmax

    x, labels = pt.fmatrix("x"), pt.lvector("labels")
    W1, b1, W2, b2 = pt.fmatrix("W1"), pt.fvector("b1"), pt.fmatrix("W2"), pt.fvector("b2")
    z = pt.maximum(x @ W1 + b1, 0) @ W2 + b2
    picked = log_softmax(z, axis=1)[pt.arange(x.shape[0]), labels]
    return [x, labels, W1, b1, W2, b2], -picked.mean()


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
