"""A hand-written NumPy LSTM training step (forward, loss, backward) for bench_lstm.py.

Owns `loss_and_grads(xs, targets, Wx, Wh, b, Wy, by)`: the model of
bench_lstm.py (gates i, f, o, g from z = x Wx + h Wh + b, a linear readout,
the mean cross-entropy of every step) with its backward pass written by hand
the way a NumPy user would: the input product for all steps as one matrix
product before the loop, the readout, softmax and their gradients for all
steps at once after it, and only the recurrent part (one product and the
gate arithmetic per step) in the Python loops. Why: issue 15 asks for a hand
NumPy column; bench_lstm.py checks its loss and gradients against graphc's
before timing it. Imports: numpy.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5  # no overflow warning for large |x|, same value


def loss_and_grads(xs: np.ndarray, targets: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                   b: np.ndarray, Wy: np.ndarray, by: np.ndarray) -> list[np.ndarray]:
    """[loss, dWx, dWh, db, dWy, dby] for inputs xs (T, B, F) and integer targets (T, B)."""
    steps, batch, features = xs.shape
    hidden = Wh.shape[0]
    dtype = xs.dtype
    z_x = (xs.reshape(-1, features) @ Wx + b).reshape(steps, batch, 4 * hidden)
    hs = np.zeros((steps + 1, batch, hidden), dtype)  # hs[t] is the h step t receives
    cs = np.zeros((steps + 1, batch, hidden), dtype)
    gates = np.empty((steps, batch, 4 * hidden), dtype)  # i, f, o after sigmoid, g after tanh
    tanh_c = np.empty((steps, batch, hidden), dtype)
    for t in range(steps):
        z = z_x[t] + hs[t] @ Wh
        gate = gates[t]
        gate[:, :3 * hidden] = _sigmoid(z[:, :3 * hidden])
        gate[:, 3 * hidden:] = np.tanh(z[:, 3 * hidden:])
        i, f, o, g = (gate[:, k * hidden:(k + 1) * hidden] for k in range(4))
        cs[t + 1] = f * cs[t] + i * g
        tanh_c[t] = np.tanh(cs[t + 1])
        hs[t + 1] = o * tanh_c[t]
    h_all = hs[1:].reshape(-1, hidden)
    logits = h_all @ Wy + by
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(steps * batch)
    flat_targets = targets.reshape(-1)
    count = steps * batch
    loss = -log_p[rows, flat_targets].sum(dtype=dtype) / dtype.type(count)
    d_logits = np.exp(log_p)
    d_logits[rows, flat_targets] -= 1
    d_logits /= dtype.type(count)
    dWy = h_all.T @ d_logits
    dby = d_logits.sum(axis=0)
    dh_out = (d_logits @ Wy.T).reshape(steps, batch, hidden)
    d_z = np.empty_like(gates)
    dh = np.zeros((batch, hidden), dtype)
    dc = np.zeros((batch, hidden), dtype)
    for t in range(steps - 1, -1, -1):
        gate = gates[t]
        i, f, o, g = (gate[:, k * hidden:(k + 1) * hidden] for k in range(4))
        dh = dh + dh_out[t]
        dc = dc + dh * o * (1 - tanh_c[t] * tanh_c[t])
        dz = d_z[t]
        dz[:, :hidden] = dc * g * i * (1 - i)
        dz[:, hidden:2 * hidden] = dc * cs[t] * f * (1 - f)
        dz[:, 2 * hidden:3 * hidden] = dh * tanh_c[t] * o * (1 - o)
        dz[:, 3 * hidden:] = dc * i * (1 - g * g)
        dc = dc * f
        dh = dz @ Wh.T
    d_z_flat = d_z.reshape(-1, 4 * hidden)
    dWx = xs.reshape(-1, features).T @ d_z_flat
    dWh = hs[:-1].reshape(-1, hidden).T @ d_z_flat
    db = d_z_flat.sum(axis=0)
    return [np.asarray(loss, dtype), dWx, dWh, db, dWy, dby]
