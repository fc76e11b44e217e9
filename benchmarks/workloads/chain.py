"""Workload: a long chain of elementwise ops on 1000 float64 values, loss = sum(y), gradient wrt x.

The chain repeats a block of four ops, n_ops in all:

    y = sin(y);  y = y * 0.9;  y = y + x;  y = tanh(y)

x is added back every block, so values stay in (-1, 1) and the gradient stays
of order 1 (a plain chain of sin/tanh would shrink it to 1e-200). The point is
compile time: graphs of 1000 ops are where per-op compilation (PyTensor) and
one giant loop body (hand-written Numba: LLVM is super-linear in function
size) hurt. The compile-growth row builds chains of 10..10000 ops for graphc.

The hand Numba version is generated source (one fused loop, every forward value
a local, the backward sweep written out), written to a file so Numba can cache
it on disk. Imports: numpy; each framework lazily inside its function.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import adapters

NAME = "chain"
WRT = ("x",)
RTOL, ATOL = 1e-9, 1e-12
SIZE = 1000
n_ops = 1000  # set by configure(); the table row names it


def configure(ops: int) -> None:
    """Chain length for this process (1000 in the full run, 100 with --quick)."""
    global n_ops
    n_ops = ops


def title() -> str:
    return f"{n_ops}-op elementwise chain + grad, {SIZE} f64"


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(13).uniform(-2.0, 2.0, SIZE)}


def chain(x: Any, ops: int, sin: Any, tanh: Any) -> Any:
    """The chain in any array library that has sin, tanh, * and + (NumPy, graphc, JAX, torch, PyTensor)."""
    y = x
    for index in range(ops):
        step = index % 4
        if step == 0:
            y = sin(y)
        elif step == 1:
            y = y * 0.9
        elif step == 2:
            y = y + x
        else:
            y = tanh(y)
    return y


def hand_numpy(x):
    y, saved = x, []
    for index in range(n_ops):
        step = index % 4
        saved.append(y if step == 0 else None)
        y = np.sin(y) if step == 0 else y * 0.9 if step == 1 else y + x if step == 2 else np.tanh(y)
        if step == 3:
            saved[-1] = y
    gradient, d_x = np.ones_like(x), np.zeros_like(x)
    for index in reversed(range(n_ops)):
        step = index % 4
        if step == 0:
            gradient = gradient * np.cos(saved[index])
        elif step == 1:
            gradient = gradient * 0.9
        elif step == 2:
            d_x += gradient
        else:
            gradient = gradient * (1.0 - saved[index] ** 2)
    return y.sum(), d_x + gradient


def hand_numba_source(ops: int) -> str:
    """One @njit-able function: the forward chain as scalar locals, then the backward sweep."""
    forward, backward = [], []
    for index in range(ops):
        new, old = f"v{index + 1}", f"v{index}"
        step = index % 4
        forward.append(f"        {new} = " + (f"math.sin({old})", f"{old} * 0.9", f"{old} + v0",
                                              f"math.tanh({old})")[step])
        backward.append("        " + (f"g = g * math.cos({old})", "g = g * 0.9", "d = d + g",
                                      f"g = g * (1.0 - {new} * {new})")[step])
    lines = ["import math", "", "import numpy as np", "", "", "def hand_chain(x):",
             "    d_x = np.empty_like(x)", "    loss = 0.0", "    for i in range(x.shape[0]):",
             "        v0 = x[i]", *forward, f"        loss += v{ops}", "        g = 1.0", "        d = 0.0",
             *reversed(backward), "        d_x[i] = d + g", "    return loss, d_x", ""]
    return "\n".join(lines)


def build_hand_numba(inputs: dict[str, np.ndarray]) -> adapters.Prepared:
    """Write the generated source to a file (under NUMBA_CACHE_DIR when set, so a warm process finds it)."""
    directory = Path(os.environ.get("NUMBA_CACHE_DIR") or tempfile.mkdtemp(prefix="hand-chain-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"hand_chain_{n_ops}.py"
    source = hand_numba_source(n_ops)
    if not path.exists() or path.read_text() != source:
        path.write_text(source)
    name = f"hand_chain_{n_ops}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's disk cache finds the function's module by name
    spec.loader.exec_module(module)
    return adapters.numba_impl(module.hand_chain, inputs)


def graphc_graph():
    import graphc as gc

    x = gc.input("x", shape=(SIZE,))
    return [x], gc.sum(chain(x, n_ops, gc.sin, gc.tanh))


def jax_loss(x):
    import jax.numpy as jnp

    return chain(x, n_ops, jnp.sin, jnp.tanh).sum()


def torch_loss(x):
    import torch

    return chain(x, n_ops, torch.sin, torch.tanh).sum()


def pytensor_graph():
    import pytensor.tensor as pt

    x = pt.dvector("x")
    return [x], chain(x, n_ops, pt.sin, pt.tanh).sum()


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
IMPLEMENTATIONS["hand_numba"] = build_hand_numba
