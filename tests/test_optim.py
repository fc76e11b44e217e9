"""graphc.optim: the compiled update equals a hand-written NumPy optimizer step for step."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import optim


def _quadratic() -> tuple[gc.Tensor, gc.Tensor, gc.Tensor]:
    w = gc.input("w", (3,))
    target = gc.constant(np.array([3.0, -1.0, 0.5]))
    loss = gc.sum(gc.square(w - target))
    return w, loss, gc.grad(loss, w)


def _reference(kind: str, steps: int) -> np.ndarray:
    target = np.array([3.0, -1.0, 0.5])
    w, velocity, m, v = np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3)
    for t in range(1, steps + 1):
        g = 2 * (w - target)
        if kind == "sgd":
            w = w - 0.1 * g
        elif kind == "momentum":
            velocity = 0.9 * velocity + g
            w = w - 0.05 * velocity
        elif kind == "nesterov":
            velocity = 0.9 * velocity + g
            w = w - 0.05 * (g + 0.9 * velocity)
        else:
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w = w - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


@pytest.mark.parametrize("kind", ["sgd", "momentum", "nesterov", "adam"])
def test_update_matches_numpy_reference(kind: str) -> None:
    w, loss, grad = _quadratic()
    update = {
        "sgd": lambda: optim.sgd([w], [grad], lr=0.1),
        "momentum": lambda: optim.sgd([w], [grad], lr=0.05, momentum=0.9),
        "nesterov": lambda: optim.sgd([w], [grad], lr=0.05, momentum=0.9, nesterov=True),
        "adam": lambda: optim.adam([w], [grad], lr=0.1),
    }[kind]()
    step = gc.compile([w, *update.state], [loss, *update.new_params, *update.new_state],
                      backend="numpy")
    params, state = [np.zeros(3)], update.init_state([np.zeros(3)])
    for _ in range(30):
        _, *rest = step(*params, *state)
        params, state = update.split(rest)
    np.testing.assert_allclose(params[0], _reference(kind, 30), rtol=1e-12, atol=1e-12)


def test_state_is_named_after_parameters_and_starts_at_zero() -> None:
    w, _, grad = _quadratic()
    update = optim.adam([w], [grad])
    assert [s.name for s in update.state] == ["w_m", "w_v", "adam_step"]
    initial = update.init_state([np.ones(3)])
    assert [a.shape for a in initial] == [(3,), (3,), ()]
    assert all(not np.any(a) for a in initial)


def test_mismatched_gradients_are_rejected() -> None:
    w, _, grad = _quadratic()
    other = gc.input("other", (2,))
    with pytest.raises(gc.GraphcError, match="2 gradients"):
        optim.sgd([w], [grad, grad])
    with pytest.raises(gc.GraphcError, match="does not match parameter 'other'"):
        optim.sgd([other], [grad])
