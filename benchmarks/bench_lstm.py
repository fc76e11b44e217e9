"""LSTM training step (loss + all gradients), graphc's scan vs JAX lax.scan vs PyTorch nn.LSTM.

Issue 15's benchmark: hidden 128, sequence 50, batch 32, float32, 64 input
features, a linear readout to 64 classes and the mean cross-entropy of every
step. One call = forward, loss and the gradients of all five parameter
tensors. The same weights go to every tool (PyTorch's gate order i, f, g, o
and its two biases are mapped from graphc's i, f, o, g), and the losses must
agree to float32 rounding before anything is timed. The hand-written NumPy
LSTM (benchmarks/lstm_numpy.py: forward and backward by hand, the input
product and the readout batched over all steps) is checked against graphc's
numpy-backend loss and gradients (all six arrays) before it is timed.

    /work/benchvenv/bin/python benchmarks/bench_lstm.py [--repeat 20] [--tools graphc,jax,torch,numpy]

On a shared machine give every tool one thread (docs/benchmarks.md): OPENBLAS_NUM_THREADS=1
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))
HIDDEN, STEPS, BATCH, FEATURES, CLASSES = 128, 50, 32, 64, 64


def weights(rng: np.random.Generator) -> list[np.ndarray]:
    h = HIDDEN
    return [(rng.normal(size=shape) * scale).astype(np.float32) for shape, scale in [
        ((FEATURES, 4 * h), 0.1), ((h, 4 * h), 1 / np.sqrt(h)), ((4 * h,), 0.1),
        ((h, CLASSES), 0.1), ((CLASSES,), 0.1)]]


def graphc_step(backend: str) -> Any:
    import graphc as gc

    inputs, outputs = graphc_graph()
    return gc.compile(inputs, outputs, backend=backend, verbose=False)


def graphc_graph() -> tuple[list[Any], list[Any]]:
    """The step's inputs (xs, targets, Wx, Wh, b, Wy, by) and outputs (loss, its five gradients)."""
    import char_lstm

    import graphc as gc

    names = ["Wx", "Wh", "b", "Wy", "by"]
    shapes = [(FEATURES, 4 * HIDDEN), (HIDDEN, 4 * HIDDEN), (4 * HIDDEN,), (HIDDEN, CLASSES), (CLASSES,)]
    params = {n: gc.input(n, s, dtype="float32") for n, s in zip(names, shapes)}
    xs = gc.input("xs", (STEPS, BATCH, FEATURES), dtype="float32")
    targets = gc.input("targets", (STEPS, BATCH), dtype="int64")
    cell = char_lstm.lstm_cell(params)

    def step(carry: Any, inputs: Any) -> Any:
        h, c = carry
        x, target = inputs
        h, c = cell(h, c, x)
        log_p = gc.log_softmax(h @ params["Wy"] + params["by"], axis=-1)
        return (h, c), -gc.sum(gc.one_hot(target, CLASSES).astype("float32") * log_p)

    zeros = gc.constant(np.zeros((BATCH, HIDDEN), np.float32))
    _, losses = gc.scan(step, (zeros, zeros), (xs, targets))
    loss = gc.sum(losses) / (STEPS * BATCH)
    order = list(params.values())
    return [xs, targets, *order], [loss, *gc.grad(loss, order)]


def jax_step() -> Any:
    import jax
    import jax.numpy as jnp

    def loss_fn(params: Any, xs: Any, targets: Any) -> Any:
        Wx, Wh, b, Wy, by = params
        h = HIDDEN

        def step(carry: Any, inputs: Any) -> Any:
            hh, cc = carry
            x, target = inputs
            z = x @ Wx + hh @ Wh + b
            i, f, o = (jax.nn.sigmoid(z[:, k * h:(k + 1) * h]) for k in range(3))
            cc = f * cc + i * jnp.tanh(z[:, 3 * h:])
            hh = o * jnp.tanh(cc)
            log_p = jax.nn.log_softmax(hh @ Wy + by, axis=-1)
            return (hh, cc), -jnp.sum(jax.nn.one_hot(target, CLASSES) * log_p)
        zeros = jnp.zeros((BATCH, HIDDEN), jnp.float32)
        _, losses = jax.lax.scan(step, (zeros, zeros), (xs, targets))
        return jnp.sum(losses) / (STEPS * BATCH)
    jitted = jax.jit(jax.value_and_grad(loss_fn))

    def call(xs: Any, targets: Any, *params: Any) -> Any:
        value, grads = jax.block_until_ready(jitted(params, xs, targets))
        return [value, *grads]
    return call


def torch_step(values: list[np.ndarray]) -> Any:
    import torch

    h = HIDDEN
    Wx, Wh, b, Wy, by = values
    order = np.concatenate([np.arange(0, 2 * h), np.arange(3 * h, 4 * h), np.arange(2 * h, 3 * h)])
    lstm = torch.nn.LSTM(FEATURES, h)
    readout = torch.nn.Linear(h, CLASSES)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(Wx.T[order].copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(Wh.T[order].copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b[order].copy()))
        lstm.bias_hh_l0.zero_()
        readout.weight.copy_(torch.from_numpy(Wy.T.copy()))
        readout.bias.copy_(torch.from_numpy(by.copy()))
    loss_fn = torch.nn.CrossEntropyLoss()

    def call(xs: Any, targets: Any, *params: Any) -> Any:
        lstm.zero_grad()
        readout.zero_grad()
        out, _ = lstm(torch.from_numpy(xs))
        loss = loss_fn(readout(out).reshape(-1, CLASSES), torch.from_numpy(targets).reshape(-1))
        loss.backward()
        return [loss.detach().numpy()]
    return call


def numpy_step(expected: list[np.ndarray]) -> Any:
    """The hand-written NumPy step, after checking its loss and gradients against graphc's."""
    import lstm_numpy

    def call(xs: Any, targets: Any, *params: Any) -> Any:
        return lstm_numpy.loss_and_grads(xs, targets, *params)

    def check(xs: Any, targets: Any, *params: Any) -> None:
        for name, got, want in zip(["loss", "dWx", "dWh", "db", "dWy", "dby"],
                                   call(xs, targets, *params), expected):
            error = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))
            if got.shape != want.shape or got.dtype != np.float32 or error > 1e-4:
                raise AssertionError(f"hand NumPy LSTM {name} differs from graphc's: {error:.1e}")
    call.check = check  # type: ignore[attr-defined]
    return call


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tools", default="graphc,jax,torch,numpy")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    values = weights(rng)
    xs = rng.normal(size=(STEPS, BATCH, FEATURES)).astype(np.float32)
    targets = rng.integers(0, CLASSES, size=(STEPS, BATCH))
    calls: dict[str, Any] = {}
    start = time.perf_counter()
    if "graphc" in args.tools:
        calls["graphc (numba)"] = graphc_step("numba")
        calls["graphc (numba)"](xs, targets, *values)
        print(f"graphc compile + first call: {time.perf_counter() - start:.1f} s")
    if "jax" in args.tools:
        calls["JAX jit(value_and_grad), lax.scan"] = jax_step()
    if "torch" in args.tools:
        calls["PyTorch eager nn.LSTM"] = torch_step(values)
    expected = [np.asarray(r) for r in graphc_step("numpy")(xs, targets, *values)]
    reference = float(expected[0])
    if "numpy" in args.tools:
        calls["hand NumPy (lstm_numpy.py)"] = numpy_step(expected)
    print(f"LSTM hidden {HIDDEN}, {STEPS} steps, batch {BATCH}, {FEATURES} features, {CLASSES} "
          f"classes, float32; loss + all gradients per call; threads: "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}")
    print("Calls are timed round-robin (one call of each tool per round), so load spikes hit every\n"
          "tool alike; the median and the best round are shown, and the median CPU time of the\n"
          "process per call (what a busy machine disturbs least, with one thread per tool).")
    print("| implementation | median per call | best | median CPU time | loss vs graphc numpy |\n"
          "|---|---|---|---|---|")
    if "hand NumPy (lstm_numpy.py)" in calls:
        calls["hand NumPy (lstm_numpy.py)"].check(xs, targets, *values)
    times: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    losses = {name: float(np.asarray(call(xs, targets, *values)[0])) for name, call in calls.items()}
    for _ in range(args.repeat):
        for name, call in calls.items():
            begin, begin_cpu = time.perf_counter(), time.process_time()
            call(xs, targets, *values)
            times[name].append(time.perf_counter() - begin)
            cpu[name].append(time.process_time() - begin_cpu)
    medians = {}
    for name in calls:
        medians[name] = float(np.median(times[name]))
        print(f"| {name} | {medians[name] * 1e3:.2f} ms | {min(times[name]) * 1e3:.2f} ms | "
              f"{np.median(cpu[name]) * 1e3:.2f} ms | {abs(losses[name] - reference) / reference:.1e} |")
    return medians


if __name__ == "__main__":
    main()
