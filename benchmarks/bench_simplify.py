"""Simplifier benchmarks: op counts against hand-written NumPy, and linear-time scaling.

Run:  /work/venv/bin/python benchmarks/bench_simplify.py [--quick]

1. Op counts. For sum(sigmoid(X @ W)) with both gradients, and for an MLP
   training step (relu hidden layer, log_softmax cross-entropy, 4 gradients),
   it counts the op nodes (inputs and constants excluded) of the raw joint
   graph from gc.grad and of the simplified graph, and the NumPy/SciPy calls
   of a hand-written forward+backward of the same computation. The hand
   version runs through a counting wrapper, and its values are checked
   against the simplified graph's, so the count is of code that works.
2. Scaling. gc.simplify on chains and random DAGs of about 1k, 10k and 100k
   nodes (all nodes, constants included), printing seconds and microseconds
   per node. --quick stops at 10k.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special

import graphc as gc
from graphc.interpret import evaluate
from graphc.ir import toposort


class Counting:
    """Calls NumPy/SciPy functions by name and counts each call: the hand version's op count."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        function = getattr(special, name, None) if name in ("expit", "log_softmax") \
            else getattr(np, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return function(*args, **kwargs)
        return call


def op_count(outputs: list[gc.Tensor]) -> int:
    return sum(1 for node in toposort(outputs) if node.inputs)


# ------------------------------------------------------------------ sigmoid layer

def sigmoid_layer_hand(np_: Counting, X: np.ndarray, W: np.ndarray) -> list[np.ndarray]:
    s = np_.expit(np_.matmul(X, W))
    ds = np_.multiply(s, np_.subtract(1.0, s))
    return [np_.sum(s), np_.matmul(ds, np_.transpose(W)), np_.matmul(np_.transpose(X), ds)]


def sigmoid_layer_graph(n: Any) -> tuple[list[gc.Tensor], list[gc.Tensor]]:
    X, W = gc.input("X", shape=(n, 20)), gc.input("W", shape=(20, 10))
    y = gc.sum(gc.sigmoid(X @ W))
    return [X, W], [y, *gc.grad(y, [X, W])]


# ---------------------------------------------------------------------- MLP step

def mlp_hand(np_: Counting, X: np.ndarray, labels: np.ndarray, W1: np.ndarray, b1: np.ndarray,
             W2: np.ndarray, b2: np.ndarray) -> list[np.ndarray]:
    n, classes = X.shape[0], W2.shape[1]
    z1 = np_.add(np_.matmul(X, W1), b1)
    h = np_.maximum(z1, 0.0)
    scores = np_.log_softmax(np_.add(np_.matmul(h, W2), b2), axis=1)
    Y = np_.take(np_.eye(classes), labels, axis=0)
    loss = np_.negative(np_.mean(np_.sum(np_.multiply(Y, scores), axis=1)))
    d2 = np_.divide(np_.subtract(np_.exp(scores), Y), n)  # uses Σ_k Y = 1 per row
    dh = np_.matmul(d2, np_.transpose(W2))
    d1 = np_.multiply(dh, np_.greater(z1, 0))
    return [loss, np_.matmul(np_.transpose(X), d1), np_.sum(d1, axis=0),
            np_.matmul(np_.transpose(h), d2), np_.sum(d2, axis=0)]


def mlp_graph(n: Any) -> tuple[list[gc.Tensor], list[gc.Tensor]]:
    X, labels = gc.input("X", shape=(n, 20)), gc.input("labels", shape=(n,), dtype="int64")
    W1, b1 = gc.input("W1", shape=(20, 32)), gc.input("b1", shape=(32,))
    W2, b2 = gc.input("W2", shape=(32, 10)), gc.input("b2", shape=(10,))
    h = gc.relu(X @ W1 + b1)
    scores = gc.log_softmax(h @ W2 + b2, axis=1)
    loss = -gc.mean(gc.sum(gc.one_hot(labels, 10) * scores, axis=1))
    return [X, labels, W1, b1, W2, b2], [loss, *gc.grad(loss, [W1, b1, W2, b2])]


def compare_counts() -> None:
    rng = np.random.default_rng(0)
    n = 64
    values = {
        "X": rng.normal(size=(n, 20)), "labels": rng.integers(0, 10, size=n),
        "W": rng.normal(size=(20, 10)), "W1": rng.normal(size=(20, 32)) * 0.3,
        "b1": rng.normal(size=32), "W2": rng.normal(size=(32, 10)) * 0.3, "b2": rng.normal(size=10),
    }
    cases = [("sum(sigmoid(X @ W)) + 2 grads", sigmoid_layer_graph, sigmoid_layer_hand),
             ("MLP step + 4 grads", mlp_graph, mlp_hand)]
    print(f"{'graph':<32} {'batch':<9} {'raw ops':>8} {'simplified':>11} {'hand NumPy':>11}  goal")
    for title, build, hand in cases:
        for batch in ("n", n):
            inputs, outputs = build(batch)
            simplified = gc.simplify(outputs)
            counter = Counting()
            arrays = [values[str(i.name)] for i in inputs]
            expected = hand(counter, *arrays)
            got = evaluate(simplified, dict(zip(inputs, arrays)), {"n": n})
            for want, have in zip(expected, got):
                np.testing.assert_allclose(have, want, rtol=1e-9, atol=1e-12)
            ours, theirs = op_count(simplified), len(counter.calls)
            label = "symbolic" if batch == "n" else f"static {n}"
            print(f"{title:<32} {label:<9} {op_count(outputs):>8} {ours:>11} {theirs:>11}  "
                  f"{'met' if ours <= theirs else f'missed by {ours - theirs}'}")
    print("hand MLP calls:", " ".join(counter.calls))
    print("simplified MLP graph (static batch):")
    print(gc.format_graph(simplified))


# ----------------------------------------------------------------------- scaling

def chain(size: int) -> gc.Tensor:
    """x, then alternately + 0.5 and tanh(.) * 1: about `size` nodes with constants."""
    node = x = gc.input("x", shape=(4,))
    for i in range(size // 3):
        node = gc.tanh(node) * 1 if i % 2 else node + 0.5
    return node if node is not x else x + 0


def random_dag(size: int, seed: int = 0) -> list[gc.Tensor]:
    """Random binary/unary ops over recent nodes, with identities and duplicates to remove."""
    rng = np.random.default_rng(seed)
    pool = [gc.input(f"x{i}", shape=(4,)) for i in range(4)]
    makers: list[Callable[[gc.Tensor, gc.Tensor], gc.Tensor]] = [
        lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: gc.tanh(a),
        lambda a, b: a * 1, lambda a, b: gc.exp(a) + gc.exp(a), lambda a, b: gc.negative(gc.negative(a)) + b,
    ]
    while len(pool) < size // 2:
        a, b = (pool[-1 - int(rng.integers(0, min(len(pool), 50)))] for _ in range(2))
        pool.append(makers[int(rng.integers(0, len(makers)))](a, b))
    return pool[-8:]


def scaling(limit: int) -> None:
    print(f"\n{'graph':<12} {'nodes':>8} {'seconds':>9} {'us/node':>9}")
    for size in (1_000, 10_000, 100_000):
        if size > limit:
            break
        for kind, outputs in (("chain", [chain(size)]), ("random DAG", random_dag(size))):
            nodes = len(toposort(outputs))
            began = time.perf_counter()
            gc.simplify(outputs)
            seconds = time.perf_counter() - began
            print(f"{kind:<12} {nodes:>8} {seconds:>9.3f} {seconds / nodes * 1e6:>9.1f}")


if __name__ == "__main__":
    sys.setrecursionlimit(1000)  # Python's default: nothing may recurse over the graph
    compare_counts()
    scaling(10_000 if "--quick" in sys.argv else 100_000)
