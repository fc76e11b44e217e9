"""A conv-net training step on scikit-learn's digits: graphc (numba, numpy) vs PyTorch eager vs JAX jit.

One table (issue 16). The net is examples/conv_digits.py's: conv(1->8, 3x3,
same) -> relu -> max_pool 2 -> conv(8->16, 3x3) -> relu -> flatten -> dense(64->10)
-> softmax cross-entropy, float32, batch 64. One step = forward, loss, the six
gradients and a plain SGD update of the parameters, for every tool:

* graphc: one `gc.compile` of the loss and the updated parameters (numba and numpy backends);
* PyTorch eager: `F.conv2d`/`F.max_pool2d`/`F.cross_entropy`, `loss.backward()`, an in-place update
  under `torch.no_grad()`;
* JAX: `jax.jit` of `value_and_grad` and the update (`lax.conv_general_dilated`, `lax.reduce_window`).

Every tool's loss and new parameters are checked against graphc's NumPy backend
before timing. Calls are timed round-robin (one call of each tool in turn,
`--rounds` times) and the median is reported, so a load spike on the shared
machine hits every tool alike. `--threads` (default 1) sets every tool's
thread count (BLAS, torch intra-op, XLA).

    PYTHONPATH=$PWD /work/benchvenv/bin/python benchmarks/bench_conv.py
    PYTHONPATH=$PWD python3 benchmarks/bench_conv.py --tools graphc_numba,graphc_numpy --rounds 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _threads_from_argv() -> str:
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "1"


THREADS = _threads_from_argv()
if THREADS != "default":  # before numpy, torch or jax start their thread pools
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[variable] = THREADS
    os.environ["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                               f"intra_op_parallelism_threads={THREADS}")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

TOOLS = ["graphc_numba", "graphc_numpy", "torch", "jax"]
TITLES = {"graphc_numba": "graphc numba", "graphc_numpy": "graphc numpy", "torch": "PyTorch eager",
          "jax": "JAX jit"}
LR = 0.05


def batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """64 digits as float32 (64, 1, 8, 8) images in [0, 1] and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))[:64]
    return (digits.images[order] / 16.0)[:, None].astype(np.float32), digits.target[order].astype(np.int64)


def graphc_step(backend: str) -> Callable[..., list[np.ndarray]]:
    import conv_digits

    import graphc as gc
    from graphc import optim

    model = conv_digits.build_model("float32")
    params = model["params"]
    update = optim.sgd(params, gc.grad(model["loss"], params), lr=LR)
    step = gc.compile([model["images"], model["labels"], *params],
                      [model["loss"], *update.new_params], backend=backend)
    return lambda images, labels, *values: [np.asarray(v) for v in step(images, labels, *values)]


def torch_step() -> Callable[..., list[np.ndarray]]:
    import torch
    import torch.nn.functional as F

    if THREADS != "default":
        torch.set_num_threads(int(THREADS))
    state: dict[str, Any] = {}

    def step(images: np.ndarray, labels: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
        if "params" not in state:  # parameters live in torch between calls, as in a training loop
            state["params"] = [torch.tensor(v, requires_grad=True) for v in values]
            state["x"], state["y"] = torch.from_numpy(images), torch.from_numpy(labels)
        K1, c1, K2, c2, W, b = state["params"]
        hidden = F.max_pool2d(F.relu(F.conv2d(state["x"], K1, c1, padding="same")), 2)
        hidden = F.relu(F.conv2d(hidden, K2, c2))
        loss = F.cross_entropy(hidden.reshape(-1, 64) @ W + b, state["y"])
        for p in state["params"]:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in state["params"]:
                p -= LR * p.grad
        return [loss.detach().numpy()] + [p.detach().numpy() for p in state["params"]]

    def fresh(images: np.ndarray, labels: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
        state.clear()
        return step(images, labels, *values)
    step.fresh = fresh  # type: ignore[attr-defined]
    return step


def jax_step() -> Callable[..., list[np.ndarray]]:
    import jax
    import jax.numpy as jnp
    from jax import lax

    def loss_of(params: list[Any], images: Any, labels: Any) -> Any:
        K1, c1, K2, c2, W, b = params
        dims = ("NCHW", "OIHW", "NCHW")
        hidden = lax.conv_general_dilated(images, K1, (1, 1), "SAME", dimension_numbers=dims)
        hidden = jax.nn.relu(hidden + c1[:, None, None])
        hidden = lax.reduce_window(hidden, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        hidden = lax.conv_general_dilated(hidden, K2, (1, 1), "VALID", dimension_numbers=dims)
        hidden = jax.nn.relu(hidden + c2[:, None, None])
        logits = hidden.reshape(-1, 64) @ W + b
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))

    @jax.jit
    def step(images: Any, labels: Any, *params: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_of)(list(params), images, labels)
        return [loss] + [p - LR * g for p, g in zip(params, grads)]

    return lambda images, labels, *values: [np.asarray(v) for v in step(images, labels, *values)]


def build(tool: str) -> Callable[..., list[np.ndarray]]:
    if tool.startswith("graphc_"):
        return graphc_step(tool.removeprefix("graphc_"))
    return {"torch": torch_step, "jax": jax_step}[tool]()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--threads", default="1", help="threads per tool, or 'default'")
    args = parser.parse_args(argv)
    import conv_digits

    images, labels = batch()
    params = conv_digits.init_params("float32", 0)
    reference = graphc_step("numpy")(images, labels, *params)
    steps: dict[str, Callable[..., list[np.ndarray]]] = {}
    for tool in args.tools.split(","):
        try:
            steps[tool] = build(tool)
        except ImportError as exc:
            print(f"{tool}: not installed ({exc})")
            continue
        got = getattr(steps[tool], "fresh", steps[tool])(images, labels, *params)
        for value, expected in zip(got, reference):
            np.testing.assert_allclose(value, expected, rtol=2e-4, atol=2e-5, err_msg=tool)
    samples: dict[str, list[float]] = {tool: [] for tool in steps}
    for _ in range(args.rounds):  # round-robin: every tool sees the same machine load
        for tool, step in steps.items():
            tick = time.perf_counter()
            step(images, labels, *params)
            samples[tool].append(time.perf_counter() - tick)
    medians = {tool: statistics.median(times) * 1e6 for tool, times in samples.items()}
    torch_time = medians.get("torch")
    print(f"conv net training step, digits, batch 64, float32; median of {args.rounds} round-robin "
          f"calls, {args.threads} thread(s) per tool")
    print("| tool | us per step | vs PyTorch eager |")
    print("|---|---:|---:|")
    for tool, median in medians.items():
        ratio = f"{median / torch_time:.2f}x" if torch_time else "-"
        print(f"| {TITLES[tool]} | {median:.0f} | {ratio} |")
    return medians


if __name__ == "__main__":
    main()
