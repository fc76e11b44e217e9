"""The hand-written NumPy LSTM of benchmarks/lstm_numpy.py against graphc and finite differences.

Why: bench_lstm.py times it beside graphc, JAX and PyTorch, so its loss and
gradients must be right; here at a small size, against graphc's numpy
backend (the same model built with gc.scan) and central differences in
float64 (a reference independent of both).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import graphc as gc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))

import char_lstm  # noqa: E402
import lstm_numpy  # noqa: E402

STEPS, BATCH, FEATURES, HIDDEN, CLASSES = 5, 3, 4, 6, 5


def _values(dtype: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(1)
    shapes = [(FEATURES, 4 * HIDDEN), (HIDDEN, 4 * HIDDEN), (4 * HIDDEN,), (HIDDEN, CLASSES), (CLASSES,)]
    params = [(rng.normal(size=s) * 0.5).astype(dtype) for s in shapes]
    xs = rng.normal(size=(STEPS, BATCH, FEATURES)).astype(dtype)
    return xs, rng.integers(0, CLASSES, size=(STEPS, BATCH)), params


def _graphc_step(dtype: str) -> gc.Function:
    names = ["Wx", "Wh", "b", "Wy", "by"]
    shapes = [(FEATURES, 4 * HIDDEN), (HIDDEN, 4 * HIDDEN), (4 * HIDDEN,), (HIDDEN, CLASSES), (CLASSES,)]
    params = {n: gc.input(n, s, dtype=dtype) for n, s in zip(names, shapes)}
    xs = gc.input("xs", (STEPS, BATCH, FEATURES), dtype=dtype)
    targets = gc.input("targets", (STEPS, BATCH), dtype="int64")
    cell = char_lstm.lstm_cell(params)

    def step(carry, inputs):
        h, c = cell(*carry, inputs[0])
        log_p = gc.log_softmax(h @ params["Wy"] + params["by"], axis=-1)
        return (h, c), -gc.sum(gc.one_hot(inputs[1], CLASSES).astype(dtype) * log_p)

    zeros = gc.constant(np.zeros((BATCH, HIDDEN), dtype))
    _, losses = gc.scan(step, (zeros, zeros), (xs, targets))
    loss = gc.sum(losses) / (STEPS * BATCH)
    order = list(params.values())
    return gc.compile([xs, targets, *order], [loss, *gc.grad(loss, order)], backend="numpy")


def test_hand_numpy_lstm_matches_graphc_in_float32() -> None:
    xs, targets, params = _values("float32")
    expected = _graphc_step("float32")(xs, targets, *params)
    got = lstm_numpy.loss_and_grads(xs, targets, *params)
    assert len(got) == len(expected) == 6
    for g, e in zip(got, expected):
        assert g.dtype == np.float32 and g.shape == np.shape(e)
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


def test_hand_numpy_lstm_gradients_match_finite_differences() -> None:
    xs, targets, params = _values("float64")
    grads = lstm_numpy.loss_and_grads(xs, targets, *params)[1:]
    rng = np.random.default_rng(2)
    for k, grad in enumerate(grads):
        for index in [tuple(rng.integers(0, n) for n in grad.shape) for _ in range(3)]:
            losses = []
            for step in (1e-6, -1e-6):
                moved = [p.copy() for p in params]
                moved[k][index] += step
                losses.append(float(lstm_numpy.loss_and_grads(xs, targets, *moved)[0]))
            numeric = (losses[0] - losses[1]) / 2e-6
            assert abs(numeric - grad[index]) < 1e-6 + 1e-5 * abs(numeric), (k, index)
