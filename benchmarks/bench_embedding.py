"""Embedding lookup and its scatter-add gradient: graphc against JAX, PyTorch and NumPy (issue 16).

One table. The workload (float32): a table E of 10,000 x 64, token ids of
shape 256 x 20 (int64), an upstream gradient G of shape 256 x 20 x 64.

* lookup:           E[tokens]                                  (the gather)
* lookup + grad:    loss = sum(E[tokens] * G) and dloss/dE     (the gather and the scatter-add)

Tools: graphc (numba backend; `E[tokens]`, `gc.grad`), `jax.jit` of
`E[tokens]` and of `jax.value_and_grad` (inputs placed on the device once), PyTorch eager (`E[tokens]`,
`loss.backward()`, a dense gradient, `E.grad` reset every call) and hand
NumPy (`E[tokens]`, `np.add.at`). Every result is compared with hand NumPy's
before it is timed (a wrong one is reported, never timed). Timing: after a
warm-up, rounds that call every tool once in a rotating order; the median per
call is reported, with the ratio to graphc. A tool that is not installed only
empties its column. By default every tool runs on one thread (`--threads`),
which keeps numbers comparable on a shared machine.

    /work/benchvenv/bin/python benchmarks/bench_embedding.py        # PYTHONPATH=. for a checkout
    python benchmarks/bench_embedding.py --rounds 5 --tools graphc,numpy
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

VOCAB, DIM, BATCH, LENGTH = 10_000, 64, 256, 20
TOOLS = ["graphc", "jax", "torch", "numpy"]
TITLES = {"graphc": "graphc numba", "jax": "JAX jit", "torch": "PyTorch eager", "numpy": "hand NumPy"}
TASKS = {"lookup": "lookup E[tokens]", "grad": "lookup + scatter-add gradient"}


def inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    table = rng.standard_normal((VOCAB, DIM)).astype(np.float32)
    tokens = rng.integers(0, VOCAB, size=(BATCH, LENGTH)).astype(np.int64)
    upstream = rng.standard_normal((BATCH, LENGTH, DIM)).astype(np.float32)
    return table, tokens, upstream


def build_numpy(task: str) -> Callable[..., Any]:
    def lookup(table: np.ndarray, tokens: np.ndarray, upstream: np.ndarray) -> list[np.ndarray]:
        return [table[tokens]]

    def grad(table: np.ndarray, tokens: np.ndarray, upstream: np.ndarray) -> list[np.ndarray]:
        rows = table[tokens]
        d_table = np.zeros_like(table)
        np.add.at(d_table, tokens, upstream)
        return [np.sum(rows * upstream), d_table]

    return lookup if task == "lookup" else grad


def build_graphc(task: str) -> Callable[..., Any]:
    import graphc as gc

    E = gc.input("E", shape=("vocab", DIM), dtype="float32")
    tokens = gc.input("tokens", shape=("batch", "length"), dtype="int64")
    G = gc.input("G", shape=("batch", "length", DIM), dtype="float32")
    rows = E[tokens]
    if task == "lookup":
        f = gc.compile([E, tokens, G], [rows])
    else:
        loss = gc.sum(rows * G)
        f = gc.compile([E, tokens, G], [loss, gc.grad(loss, E)])
    return lambda *arrays: list(f(*arrays))


def build_jax(task: str) -> Callable[..., Any]:
    """The inputs go to the device once (as a training loop keeps them there); results stay JAX arrays."""
    import jax
    import jax.numpy as jnp

    placed: dict[int, Any] = {}

    def on_device(*arrays: np.ndarray) -> list[Any]:
        return [placed.setdefault(id(a), jax.device_put(a)) for a in arrays]

    if task == "lookup":
        lookup = jax.jit(lambda E, tokens: E[tokens])
        return lambda E, tokens, G: [lookup(*on_device(E, tokens)).block_until_ready()]
    step = jax.jit(jax.value_and_grad(lambda E, tokens, G: jnp.sum(E[tokens] * G)))

    def run(E: np.ndarray, tokens: np.ndarray, G: np.ndarray) -> list[Any]:
        loss, d_table = step(*on_device(E, tokens, G))
        return [loss, d_table.block_until_ready()]
    return run


def build_torch(task: str) -> Callable[..., Any]:
    import torch

    def run(E: np.ndarray, tokens: np.ndarray, G: np.ndarray) -> list[np.ndarray]:
        table = torch.from_numpy(E).requires_grad_(task == "grad")
        ids, upstream = torch.from_numpy(tokens), torch.from_numpy(G)
        if task == "lookup":
            with torch.no_grad():
                return [table[ids].numpy()]
        loss = (table[ids] * upstream).sum()
        loss.backward()
        return [loss.detach().numpy(), table.grad.numpy()]
    return run


BUILDERS = {"graphc": build_graphc, "jax": build_jax, "torch": build_torch, "numpy": build_numpy}


def limit_threads(threads: int) -> None:
    """One thread per tool (or `threads`): set before any tool is imported."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                               f"intra_op_parallelism_threads={threads}")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def prepare(tools: list[str], task: str, arrays: tuple[np.ndarray, ...],
            threads: int) -> dict[str, Callable[..., Any]]:
    """Build every tool, run it once, keep those whose outputs match hand NumPy's."""
    expected = build_numpy(task)(*arrays)
    ready: dict[str, Callable[..., Any]] = {}
    for tool in tools:
        try:
            if tool == "torch":
                import torch
                torch.set_num_threads(threads)
            run = BUILDERS[tool](task)
            got = run(*arrays)
        except ImportError as error:
            print(f"  {tool}: not installed ({error})", file=sys.stderr)
            continue
        wrong = [k for k, (a, b) in enumerate(zip(got, expected))
                 if np.shape(a) != np.shape(b) or not np.allclose(a, b, rtol=1e-4, atol=1e-3)]
        if wrong or len(got) != len(expected):
            print(f"  {tool} {task}: WRONG output {wrong}", file=sys.stderr)
            continue
        ready[tool] = run
    return ready


def time_round_robin(runs: dict[str, Callable[..., Any]], arrays: tuple[np.ndarray, ...],
                     rounds: int, repeat: int) -> dict[str, float]:
    """Median seconds per call; each round calls every tool `repeat` times, order rotating."""
    for run in runs.values():  # warm-up
        run(*arrays)
    samples: dict[str, list[float]] = {tool: [] for tool in runs}
    order = list(runs)
    for number in range(rounds):
        rotated = order[number % len(order):] + order[:number % len(order)]
        for tool in rotated:
            start = time.perf_counter()
            for _ in range(repeat):
                runs[tool](*arrays)
            samples[tool].append((time.perf_counter() - start) / repeat)
    return {tool: statistics.median(values) for tool, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    limit_threads(options.threads)
    tools = [t for t in options.tools.split(",") if t]
    arrays = inputs()
    print(f"vocab {VOCAB}, dim {DIM}, tokens {BATCH}x{LENGTH}, float32; {options.threads} thread(s) "
          f"per tool; median of {options.rounds} rounds x {options.repeat} calls")
    print("| task | " + " | ".join(TITLES[t] for t in tools) + " |")
    print("|---|" + "---|" * len(tools))
    for task, title in TASKS.items():
        runs = prepare(tools, task, arrays, options.threads)
        times = time_round_robin(runs, arrays, options.rounds, options.repeat)
        base = times.get("graphc")
        cells = []
        for tool in tools:
            if tool not in times:
                cells.append("—")
                continue
            ratio = f" ({times[tool] / base:.2f}x)" if base else ""
            cells.append(f"{times[tool] * 1e6:,.0f} µs{ratio}")
        print(f"| {title} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
