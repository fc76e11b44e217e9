"""Workload: autograd's HMM forward pass (examples/hmm_em.py), unrolled over T steps, float64.

    log_alpha = log_pi
    for y in sequence: log_alpha = logsumexp(log_alpha[:, None] + log_A, axis=0) + log_B[:, y]
    loss = logsumexp(log_alpha)

Outputs: the log partition function and its gradient for log_pi, log_A, log_B
(the E step of EM: the gradient is the expected sufficient statistics). 20
states, 101 symbols, one sequence of T = 100 symbols (a fixed draw, so the
graph is the same in every process). Unrolled, this is a *large* graph (~3,000
nodes after simplify) of small arrays: issue 17 found graphc's numba backend 4x
slower here than its own NumPy backend. Every step's work is a 20x20
broadcast add, a column logsumexp and a column of log_B; hand NumPy is the
textbook forward-backward recursion. Imports: numpy; each framework lazily.
"""

from __future__ import annotations

import sys

import numpy as np

from . import adapters

NAME = "hmm"
WRT = ("log_pi", "log_A", "log_B")
RTOL, ATOL = 1e-9, 1e-12
STATES, SYMBOLS = 20, 101
steps = 100  # set by configure(); make_inputs(quick=True) uses 20


def configure(count: int) -> None:
    """Sequence length T for this process (the graph is unrolled over it)."""
    global steps
    steps = count


def title() -> str:
    return f"HMM forward pass (autograd hmm_em), {STATES} states, T={steps} unrolled, f64: value + 3 grads"


def sequence() -> list[int]:
    """The observed symbols: a fixed draw, part of the graph (log_B[:, y] picks a static column)."""
    return [int(y) for y in np.random.default_rng(5).integers(0, SYMBOLS, steps)]


def make_inputs(quick: bool) -> dict[str, np.ndarray]:
    if quick:
        configure(20)
    rng = np.random.default_rng(3)

    def log_normalized(shape):
        values = rng.uniform(0.1, 1.0, shape)
        return np.log(values / values.sum(-1, keepdims=True))

    return {"log_pi": log_normalized(STATES), "log_A": log_normalized((STATES, STATES)),
            "log_B": log_normalized((STATES, SYMBOLS))}


def _logsumexp(values, axis):
    top = values.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(values - top).sum(axis=axis))


def _softmax(values, axis):
    exp = np.exp(values - values.max(axis=axis, keepdims=True))
    return exp / exp.sum(axis=axis, keepdims=True)


def hand_numpy(log_pi, log_A, log_B):
    """Forward recursion, then its reverse sweep written by hand (column softmaxes)."""
    log_alpha, pairs = log_pi, []
    for y in sequence():
        pair = log_alpha[:, None] + log_A
        pairs.append(pair)
        log_alpha = _logsumexp(pair, 0) + log_B[:, y]
    value = _logsumexp(log_alpha, 0)
    d_alpha = _softmax(log_alpha, 0)
    d_A, d_B = np.zeros_like(log_A), np.zeros_like(log_B)
    for y, pair in zip(reversed(sequence()), reversed(pairs)):
        d_B[:, y] += d_alpha
        d_pair = _softmax(pair, 0) * d_alpha[None, :]
        d_A += d_pair
        d_alpha = d_pair.sum(axis=1)
    return value, d_alpha, d_A, d_B


def graphc_graph():
    import graphc as gc

    log_pi = gc.input("log_pi", shape=(STATES,))
    log_A = gc.input("log_A", shape=(STATES, STATES))
    log_B = gc.input("log_B", shape=(STATES, SYMBOLS))
    log_alpha = log_pi
    for y in sequence():
        log_alpha = gc.logsumexp(log_alpha[:, None] + log_A, axis=0) + log_B[:, y]
    return [log_pi, log_A, log_B], gc.logsumexp(log_alpha)


def jax_loss(log_pi, log_A, log_B):
    from jax.scipy.special import logsumexp

    log_alpha = log_pi
    for y in sequence():
        log_alpha = logsumexp(log_alpha[:, None] + log_A, axis=0) + log_B[:, y]
    return logsumexp(log_alpha)


def torch_loss(log_pi, log_A, log_B):
    import torch

    log_alpha = log_pi
    for y in sequence():
        log_alpha = torch.logsumexp(log_alpha[:, None] + log_A, dim=0) + log_B[:, y]
    return torch.logsumexp(log_alpha, dim=0)


IMPLEMENTATIONS = adapters.standard(sys.modules[__name__])
