"""Optimizers as graph builders: the update rule becomes part of the compiled step (layer L3).

An optimizer here is not an object that mutates arrays in Python. It builds
graph nodes for the new parameters and the new optimizer state from the old
ones, so forward, loss, gradients and the update compile into ONE function:

    grads = gc.grad(loss, params)
    update = gc.optim.adam(params, grads, lr=1e-3)
    step = gc.compile([x, y, *params, *update.state],
                      [loss, *update.new_params, *update.new_state])
    state = update.init_state(param_values)
    loss_v, *rest = step(xb, yb, *param_values, *state)
    param_values, state = update.split(rest)

The state is explicit inputs and outputs: nothing is hidden between calls.
Imports: ops, ir and layer L0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import GraphcError
from .ir import Node
from .ops import as_tensor, astype, constant, input, power, sqrt


@dataclass(frozen=True)
class Update:
    """New parameters and state as graph nodes, plus the state inputs they read."""

    params: tuple[Node, ...]
    new_params: tuple[Node, ...]
    state: tuple[Node, ...]  # inputs: pass them to gc.compile after the params
    new_state: tuple[Node, ...]  # outputs: the state for the next call
    initial: tuple[tuple[str, float], ...]  # how each state input starts: ("zeros_like", param) etc.

    def init_state(self, param_values: Sequence[Any]) -> list[np.ndarray]:
        """Initial values of the state inputs for the given parameter values."""
        values = {p: np.asarray(v, dtype=p.dtype) for p, v in zip(self.params, param_values)}
        arrays = []
        for node, (kind, fill) in zip(self.state, self.initial):
            if kind == "scalar":
                arrays.append(np.array(fill, dtype=node.dtype))
            else:
                source = values[self.params[int(kind)]]
                arrays.append(np.full_like(source, fill))
        return arrays

    def split(self, outputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Outputs (new params then new state, as compiled) -> (params, state)."""
        count = len(self.new_params)
        return list(outputs[:count]), list(outputs[count:count + len(self.new_state)])


def _check(params: Sequence[Node], grads: Sequence[Node]) -> None:
    if len(params) != len(grads):
        raise GraphcError(f"got {len(params)} parameters but {len(grads)} gradients")
    for p, g in zip(params, grads):
        if p.op.name != "input":
            raise GraphcError(f"parameters must be gc.input tensors, got {p!r}")
        if p.shape != g.shape:
            raise GraphcError(f"gradient shape {g.shape} does not match parameter {p.name!r} {p.shape}")


def _state_input(param: Node, role: str) -> Node:
    """A state input shaped like its parameter, named after it (W1_velocity)."""
    like = input(f"{param.name}_{role}", dtype=param.dtype)
    return Node(like.op, (), (), param.shape, param.dtype, name=like.name, origin=like.origin)


def _rate(lr: Any, like: Node) -> Node:
    rate = as_tensor(lr)
    return rate if rate.dtype == like.dtype else astype(rate, like.dtype)


def sgd(params: Sequence[Node], grads: Sequence[Node], lr: Any = 0.01,
        momentum: float = 0.0, nesterov: bool = False) -> Update:
    """Stochastic gradient descent, with (Nesterov) momentum when momentum > 0.

    velocity' = momentum * velocity + grad;  param' = param - lr * velocity'
    (Nesterov: param' = param - lr * (grad + momentum * velocity')), as in PyTorch.
    """
    params, grads = tuple(params), tuple(grads)
    _check(params, grads)
    if momentum == 0.0:
        new = tuple(p - _rate(lr, p) * g for p, g in zip(params, grads))
        return Update(params, new, (), (), ())
    velocities = tuple(_state_input(p, "velocity") for p in params)
    new_velocities = tuple(momentum * v + g for v, g in zip(velocities, grads))
    steps = tuple(g + momentum * v if nesterov else v
                  for g, v in zip(grads, new_velocities))
    new = tuple(p - _rate(lr, p) * s for p, s in zip(params, steps))
    initial = tuple((str(i), 0.0) for i in range(len(params)))
    return Update(params, new, velocities, new_velocities, initial)


def adam(params: Sequence[Node], grads: Sequence[Node], lr: Any = 1e-3, beta1: float = 0.9,
         beta2: float = 0.999, eps: float = 1e-8, step_name: str = "adam_step") -> Update:
    """Adam (Kingma & Ba, 2015) with bias correction; the step count is state too.

    The step count is an input named `step_name`: give two Adam updates in one
    compiled function different names.
    """
    params, grads = tuple(params), tuple(grads)
    _check(params, grads)
    first = tuple(_state_input(p, "m") for p in params)
    second = tuple(_state_input(p, "v") for p in params)
    step = input(step_name, dtype="float64")
    new_step = step + 1
    new_first = tuple(beta1 * m + (1 - beta1) * g for m, g in zip(first, grads))
    new_second = tuple(beta2 * v + (1 - beta2) * (g * g) for v, g in zip(second, grads))
    correction1 = 1 - power(constant(beta1), new_step)
    correction2 = 1 - power(constant(beta2), new_step)
    new = []
    for p, m, v in zip(params, new_first, new_second):
        m_hat = m / astype(correction1, p.dtype)
        v_hat = v / astype(correction2, p.dtype)
        new.append(p - _rate(lr, p) * m_hat / (sqrt(v_hat) + eps))
    initial = tuple((str(i), 0.0) for i in range(len(params))) * 2 + (("scalar", 0.0),)
    return Update(params, tuple(new), first + second + (step,),
                  new_first + new_second + (new_step,), initial)
