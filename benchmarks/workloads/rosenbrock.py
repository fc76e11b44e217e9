"""Workload: the Rosenbrock function on 2 elements, value + gradient, per call.

    f(x) = sum(100 (x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)

Two numbers in, three out: almost all of a call is overhead, so this row is
the cost of calling each tool (graphc's input checks included). Imports:
numpy; each framework lazily inside its function.
"""

from __future__ import annotations

import sys

import numpy as np

from . import adapters

NAME = "rosenbrock"
TITLE = "Rosenbrock, 2 elements: value + grad"
WRT = ("x",)
RTOL, ATOL = 1e-12, 1e-14


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    return {"x": np.array([-1.2, 1.0])}


def hand_numpy(x):
    head, tail = x[:-1], x[1:]
    gap = tail - head**2
    value = np.sum(100.0 * gap**2 + (1.0 - head) ** 2)
    gradient = np.zeros_like(x)
    gradient[:-1] = -400.0 * gap * head - 2.0 * (1.0 - head)
    gradient[1:] += 200.0 * gap
    return value, gradient


def hand_numba(x):
    value = 0.0
    gradient = np.zeros_like(x)
    for i in range(x.shape[0] - 1):
        gap = x[i + 1] - x[i] * x[i]
        value += 100.0 * gap * gap + (1.0 - x[i]) ** 2
        gradient[i] += -400.0 * gap * x[i] - 2.0 * (1.0 - x[i])
        gradient[i + 1] += 200.0 * gap
    return value, gradient


def graphc_graph():
    import graphc as gc

    x = gc.input("x", shape=(2,))
    head, tail = x[:-1], x[1:]
    return [x], gc.sum(100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2)


def jax_loss(x):
    head, tail = x[:-1], x[1:]
    return (100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2).sum()


torch_loss = jax_loss  # the same expression is valid torch code


def pytensor_graph():
    import pytensor.tensor as pt

    x = pt.dvector("x")
    head, tail = x[:-1], x[1:]
    return [x], (100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2).sum()


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
