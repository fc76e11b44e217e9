"""Train a small convolutional net on scikit-learn's 8x8 digits with ONE compiled graphc step.

    conv(1->8, 3x3, same) -> relu -> max_pool 2 -> conv(8->16, 3x3) -> relu -> flatten
    -> dense(64->10) -> softmax cross-entropy

Forward pass, loss, the six gradients (convolutions differentiated into
transposed convolutions and weight gradients, max pooling into a scatter to
each window's maximum) and the Adam update are one graphc function; Python
only slices batches and carries arrays from one call to the next.

    python examples/conv_digits.py --epochs 30
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphc as gc
from graphc import optim

try:  # the training loop is train_digits.py's
    from train_digits import train
except ImportError:  # run from elsewhere
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from train_digits import train

SHAPES = {"K1": (8, 1, 3, 3), "c1": (8,), "K2": (16, 8, 3, 3), "c2": (16,), "W": (64, 10), "b": (10,)}


def build_model(dtype: str) -> dict:
    """Symbolic inputs, parameters, loss and logits of the conv net."""
    images = gc.input("images", shape=("n", 1, 8, 8), dtype=dtype)
    labels = gc.input("labels", shape=("n",), dtype="int64")
    params = [gc.input(name, shape=shape, dtype=dtype) for name, shape in SHAPES.items()]
    K1, c1, K2, c2, W, b = params
    with gc.scope("conv1"):
        hidden = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(images, K1, c1, padding="same")), 2)  # n,8,4,4
    with gc.scope("conv2"):
        hidden = gc.relu(gc.nn.conv2d(hidden, K2, c2))  # n,16,2,2
    with gc.scope("dense"):
        logits = gc.reshape(hidden, (-1, 64)) @ W + b
    with gc.scope("loss"):
        targets = gc.one_hot(labels, 10, dtype=dtype)
        loss = -gc.mean(gc.sum(targets * gc.log_softmax(logits, axis=1), axis=1))
    return {"images": images, "labels": labels, "params": params, "loss": loss, "logits": logits}


def init_params(dtype: str, seed: int) -> list[np.ndarray]:
    """He-initialised kernels and weights (fan-in = inputs per output), zero biases."""
    rng = np.random.default_rng(seed)
    values = []
    for shape in SHAPES.values():
        if len(shape) == 1:
            values.append(np.zeros(shape, dtype))
            continue
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        values.append((rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(dtype))
    return values


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits as (n, 1, 8, 8) images in [0, 1], split 75/25 stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0)[:, None, :, :]
    return train_test_split(images, digits.target.astype(np.int64), test_size=0.25,
                            random_state=seed, stratify=digits.target)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    x_train, x_test = x_train.astype(args.dtype), x_test.astype(args.dtype)
    model = build_model(args.dtype)
    params = model["params"]

    start = time.perf_counter()
    update = optim.adam(params, gc.grad(model["loss"], params), lr=args.lr)
    train_step = gc.compile([model["images"], model["labels"], *params, *update.state],
                            [model["loss"], *update.new_params, *update.new_state],
                            backend=args.backend)
    predict = gc.compile([model["images"], *params], model["logits"], backend=args.backend)
    print(f"built and compiled the training step in {time.perf_counter() - start:.2f} s "
          f"(backend={args.backend})")

    accuracy = 0.0

    def report(epoch: int, loss: float, values: list) -> None:
        nonlocal accuracy
        accuracy = float(np.mean(np.argmax(predict(x_test, *values), axis=1) == y_test))
        print(f"epoch {epoch + 1:2d}: loss {loss:.4f}, test accuracy {accuracy:.4f}")

    values = init_params(args.dtype, args.seed)  # trained by train_digits.py's loop:
    values, steps, train_time = train(train_step, update, values, x_train, y_train, epochs=range(args.epochs),
                                      batch_size=args.batch_size, seed=args.seed, after_epoch=report)
    print(f"test accuracy {accuracy:.4f} on {len(y_test)} held-out digits")
    print(f"total {time.perf_counter() - start:.2f} s; {steps} steps, "
          f"{1e6 * train_time / max(steps, 1):.1f} us per step")
    return accuracy


if __name__ == "__main__":
    main()
