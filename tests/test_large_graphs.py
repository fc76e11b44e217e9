"""Large graphs (issue 17): the numba backend in large-graph mode equals the NumPy backend.

The workload is autograd's HMM forward pass (examples/hmm_em.py) unrolled over
T steps, the model of benchmarks/workloads/hmm.py; its gradient for log_B is
one scatter_add of T columns (graphc/accumulate.py), or with merging off a sum
of T scattered columns, which large-graph mode runs in the block interpreter.
T is small so the test is fast, and the policy's thresholds are lowered so
the small graph takes the large-graph path. References: the NumPy
backend, and the forward-backward recursion written by hand in NumPy.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc import accumulate
from graphc.backend import policy
from graphc.backend.codegen.interpreted import ROW
from graphc.backend.interpreter.opcodes import BLOCK

STATES, SYMBOLS = 5, 7


@pytest.fixture
def large_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every graph counts as large, so its big groups run in the block interpreter."""
    monkeypatch.setattr(policy, "LARGE_KERNEL_CALLS", -1)
    monkeypatch.setattr(policy, "LARGE_POINTWISE", -1)


def _hmm(sequence: list[int]) -> tuple[list[gc.Tensor], list[gc.Tensor]]:
    log_pi = gc.input("log_pi", shape=(STATES,))
    log_A = gc.input("log_A", shape=(STATES, STATES))
    log_B = gc.input("log_B", shape=(STATES, SYMBOLS))
    log_alpha = log_pi
    for y in sequence:
        log_alpha = gc.logsumexp(log_alpha[:, None] + log_A, axis=0) + log_B[:, y]
    loss = gc.logsumexp(log_alpha)
    inputs = [log_pi, log_A, log_B]
    return inputs, [loss, *gc.grad(loss, inputs)]


def _softmax(values: np.ndarray, axis: int) -> np.ndarray:
    exp = np.exp(values - values.max(axis=axis, keepdims=True))
    return exp / exp.sum(axis=axis, keepdims=True)


def _forward_backward(sequence: list[int], log_pi: np.ndarray, log_A: np.ndarray,
                      log_B: np.ndarray) -> list[np.ndarray]:
    """The log partition function and its gradients by the hand-written reverse recursion."""
    log_alpha, pairs = log_pi, []
    for y in sequence:
        pair = log_alpha[:, None] + log_A
        pairs.append(pair)
        top = pair.max(axis=0)
        log_alpha = top + np.log(np.exp(pair - top).sum(axis=0)) + log_B[:, y]
    value = log_alpha.max() + np.log(np.exp(log_alpha - log_alpha.max()).sum())
    d_alpha = _softmax(log_alpha, 0)
    d_A, d_B = np.zeros_like(log_A), np.zeros_like(log_B)
    for y, pair in zip(reversed(sequence), reversed(pairs)):
        d_B[:, y] += d_alpha
        d_pair = _softmax(pair, 0) * d_alpha[None, :]
        d_A += d_pair
        d_alpha = d_pair.sum(axis=1)
    return [np.asarray(value), d_alpha, d_A, d_B]


def _values(rng: np.random.Generator) -> list[np.ndarray]:
    def log_normalized(shape: tuple[int, ...]) -> np.ndarray:
        values = rng.uniform(0.1, 1.0, shape)
        return np.log(values / values.sum(-1, keepdims=True))

    return [log_normalized((STATES,)), log_normalized((STATES, STATES)),
            log_normalized((STATES, SYMBOLS))]


@pytest.mark.parametrize("merged", [True, False], ids=["scatter_add", "sum_of_scatters"])
def test_hmm_in_large_graph_mode_equals_numpy_backend_and_forward_backward(
        large_mode: None, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, merged: bool) -> None:
    """d_log_B as one scatter_add (graphc/accumulate.py), and, with merging off, as the sum of
    12 scattered columns, which large-graph mode runs in the block interpreter."""
    if not merged:
        monkeypatch.setattr(accumulate, "MIN_PIECES", 10**9)
    sequence = [int(y) for y in rng.integers(0, SYMBOLS, 12)]
    inputs, outputs = _hmm(sequence)
    values = _values(rng)
    compiled = gc.compile(inputs, outputs, verbose=False)
    assert ("scatter_add_rows(" in compiled.source) == merged
    if not merged:
        assert compiled.stats["interpreted_groups"] >= 1
    got = compiled(*values)
    numpy = gc.compile(inputs, outputs, backend="numpy")(*values)
    want = _forward_backward(sequence, *values)
    for mine, theirs, reference in zip(got, numpy, want):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(mine, reference, rtol=1e-10, atol=1e-13)


def test_sum_of_many_arrays_over_several_blocks_runs_in_padded_registers(
        large_mode: None, rng: np.random.Generator) -> None:
    """Many loads per element, three blocks (the last partial): rows are ROW apart, not BLOCK."""
    shape = (23, 61)  # 1403 values: blocks of 512, 512, 379
    terms = [gc.input(f"a{k}", shape=shape) for k in range(12)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term * 0.5
    compiled = gc.compile(terms, [total], verbose=False)
    assert compiled.stats["interpreted_groups"] == 1
    assert ROW > BLOCK and re.search(rf"registers0 = empty\(\(\d+, {ROW}\), np\.float64\)",
                                     compiled.source)
    values = [rng.standard_normal(shape) for _ in terms]
    want = values[0] + sum(0.5 * value for value in values[1:])
    np.testing.assert_allclose(compiled(*values)[0], want, rtol=1e-13, atol=1e-13)
