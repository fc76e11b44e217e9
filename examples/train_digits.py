"""Train an MLP on scikit-learn's bundled handwritten digits with ONE compiled graphc step.

The whole training step -- forward pass, softmax cross-entropy, the four
gradients and the optimizer update -- is a single graphc function. Python
only slices batches and carries arrays from one call to the next.

    python examples/train_digits.py --epochs 40 --hidden 64 --optimizer adam
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable

import numpy as np

import graphc as gc
from graphc import optim


def build_model(n_features: int, hidden: int, n_classes: int, dtype: str) -> dict:
    """Symbolic inputs, parameters, loss and logits of a one-hidden-layer relu MLP."""
    x = gc.input("x", shape=("n", n_features), dtype=dtype)
    labels = gc.input("labels", shape=("n",), dtype="int64")
    W1 = gc.input("W1", shape=(n_features, hidden), dtype=dtype)
    b1 = gc.input("b1", shape=(hidden,), dtype=dtype)
    W2 = gc.input("W2", shape=(hidden, n_classes), dtype=dtype)
    b2 = gc.input("b2", shape=(n_classes,), dtype=dtype)
    with gc.scope("layer1"):  # scopes only label nodes: clusters in `graphc dot`
        hidden_layer = gc.relu(x @ W1 + b1)
    with gc.scope("layer2"):
        logits = hidden_layer @ W2 + b2
    with gc.scope("loss"):
        targets = gc.one_hot(labels, n_classes, dtype=dtype)
        loss = -gc.mean(gc.sum(targets * gc.log_softmax(logits, axis=1), axis=1))
    return {"x": x, "labels": labels, "params": [W1, b1, W2, b2], "loss": loss, "logits": logits}


def init_params(n_features: int, hidden: int, n_classes: int, dtype: str, seed: int) -> list:
    """He-initialised weights, zero biases."""
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((n_features, hidden)) * np.sqrt(2 / n_features)).astype(dtype),
        np.zeros(hidden, dtype),
        (rng.standard_normal((hidden, n_classes)) * np.sqrt(2 / hidden)).astype(dtype),
        np.zeros(n_classes, dtype),
    ]


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    features = (digits.data / 16.0).astype(np.float64)
    return train_test_split(features, digits.target.astype(np.int64), test_size=0.25,
                            random_state=seed, stratify=digits.target)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: 3e-3 for adam, 0.1 for sgd)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> float:
    args = parse_args(argv)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    n_features, n_classes = x_train.shape[1], 10
    model = build_model(n_features, args.hidden, n_classes, args.dtype)
    params = model["params"]

    start = time.perf_counter()
    grads = gc.grad(model["loss"], params)
    if args.optimizer == "adam":
        update = optim.adam(params, grads, lr=args.lr or 3e-3)
    else:
        update = optim.sgd(params, grads, lr=args.lr or 0.1, momentum=0.9)
    train_step = gc.compile([model["x"], model["labels"], *params, *update.state],
                            [model["loss"], *update.new_params, *update.new_state],
                            backend=args.backend)
    predict = gc.compile([model["x"], *params], model["logits"], backend=args.backend)
    print(f"built and compiled the training step in {time.perf_counter() - start:.2f} s "
          f"(backend={args.backend})")

    values = init_params(n_features, args.hidden, n_classes, args.dtype, args.seed)
    epochs = range(args.epochs)
    progress = None
    if not args.quiet:
        try:
            from tqdm import tqdm

            progress = tqdm(epochs, desc="training", unit="epoch")
            epochs = progress
        except ImportError:
            pass

    def report(epoch: int, loss: float, values: list) -> None:
        if progress is not None:
            progress.set_postfix(loss=f"{loss:.4f}")
        elif not args.quiet:
            print(f"epoch {epoch + 1}: loss {loss:.4f}")

    values, steps, train_time = train(train_step, update, values, x_train, y_train, epochs=epochs,
                                      batch_size=args.batch_size, seed=args.seed, after_epoch=report)

    accuracy = float(np.mean(np.argmax(predict(x_test, *values), axis=1) == y_test))
    print(f"test accuracy {accuracy:.4f} on {len(y_test)} held-out digits")
    print(f"total {time.perf_counter() - start:.2f} s; {steps} steps, "
          f"{1e6 * train_time / max(steps, 1):.1f} us per step")
    return accuracy


def train(train_step: Callable, update: optim.Update, values: list, x: np.ndarray, y: np.ndarray, *,
          epochs: Iterable[int], batch_size: int, seed: int,
          after_epoch: Callable[[int, float, list], None]) -> tuple[list, int, float]:
    """Epochs of shuffled mini-batches through the compiled step (examples/conv_digits.py too).

    `train_step(x, labels, *params, *optimizer state)` returns the loss, the new
    parameters and the new state; `after_epoch(epoch, mean loss, params)` reports.
    Returns the trained parameters, the number of steps and the seconds spent in steps.
    """
    state = update.init_state(values)
    rng = np.random.default_rng(seed)
    steps, train_time = 0, 0.0
    for epoch in epochs:
        order = rng.permutation(len(x))
        total = 0.0
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            tick = time.perf_counter()
            loss, *rest = train_step(x[batch], y[batch], *values, *state)
            train_time += time.perf_counter() - tick
            values, state = update.split(rest)
            total += float(loss) * len(batch)
            steps += 1
        after_epoch(epoch, total / len(order), values)
    return values, steps, train_time


if __name__ == "__main__":
    main()
