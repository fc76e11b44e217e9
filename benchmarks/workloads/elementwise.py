"""Workload: a transcendental-heavy elementwise loss on 1e6 float64 values, and its gradient.

    loss = sum(tanh(x) * sigmoid(x) + exp(-x*x) * sin(x) + log1p(x*x))

Memory- and math-bound: what counts is fusing the ops into one pass and how
fast exp/tanh/sin/log1p run (vectorized or scalar libm). Outputs: loss, d_x.
torch.compile gets its own column here. Imports: numpy; each framework
lazily inside its function.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from . import adapters

NAME = "elementwise"
TITLE = "elementwise 1e6 f64: sum(tanh*sigmoid + exp(-x^2)*sin + log1p(x^2)), grad"
WRT = ("x",)
RTOL, ATOL = 1e-9, 1e-12
TORCH_COMPILE = True
PARALLEL = True  # large arrays: also time gc.compile(parallel=True)


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {"x": rng.uniform(-4.0, 4.0, 100_000 if quick else 1_000_000)}


def hand_numpy(x):
    t = np.tanh(x)
    s = 1.0 / (1.0 + np.exp(-x))
    x2 = x * x
    e = np.exp(-x2)
    sin_x = np.sin(x)
    loss = np.sum(t * s + e * sin_x + np.log1p(x2))
    d_x = (1.0 - t * t) * s + t * s * (1.0 - s) + e * (np.cos(x) - 2.0 * x * sin_x) + 2.0 * x / (1.0 + x2)
    return loss, d_x


def hand_numba(x):
    d_x = np.empty_like(x)
    loss = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        t = math.tanh(v)
        s = 1.0 / (1.0 + math.exp(-v))
        v2 = v * v
        e = math.exp(-v2)
        sin_v = math.sin(v)
        loss += t * s + e * sin_v + math.log1p(v2)
        d_x[i] = ((1.0 - t * t) * s + t * s * (1.0 - s) + e * (math.cos(v) - 2.0 * v * sin_v)
                  + 2.0 * v / (1.0 + v2))
    return loss, d_x


def graphc_graph():
    import graphc as gc

    x = gc.input("x", shape=("n",))
    return [x], gc.sum(gc.tanh(x) * gc.sigmoid(x) + gc.exp(-x * x) * gc.sin(x) + gc.log1p(x * x))


def jax_loss(x):
    import jax
    import jax.numpy as jnp

    return jnp.sum(jnp.tanh(x) * jax.nn.sigmoid(x) + jnp.exp(-x * x) * jnp.sin(x) + jnp.log1p(x * x))


def torch_loss(x):
    import torch

    return torch.sum(torch.tanh(x) * torch.sigmoid(x) + torch.exp(-x * x) * torch.sin(x) + torch.log1p(x * x))


def pytensor_graph():
    import pytensor.tensor as pt

    x = pt.dvector("x")
    return [x], pt.sum(pt.tanh(x) * pt.sigmoid(x) + pt.exp(-x * x) * pt.sin(x) + pt.log1p(x * x))


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
