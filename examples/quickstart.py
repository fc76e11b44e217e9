"""graphc in one screen: build a loss, differentiate it, compile, run, look at the graph.

A logistic-regression loss on a small random problem: its gradient is built by
the chain rule as ordinary graph nodes, checked against finite differences,
and compiled together with the loss into one function.

    python examples/quickstart.py [--backend numba|numpy]
"""

from __future__ import annotations

import argparse

import numpy as np

import graphc as gc


def build() -> tuple[list[gc.Tensor], gc.Tensor, list[gc.Tensor]]:
    """Inputs, the mean cross-entropy of a linear classifier, and its gradients."""
    x = gc.input("x", shape=("n", 3))            # a batch of n samples, 3 features
    y = gc.input("y", shape=("n",))              # labels in {0, 1}
    W = gc.input("W", shape=(3,))
    b = gc.input("b")
    logits = x @ W + b
    # log(sigmoid(z)) and log(1 - sigmoid(z)) written plainly; graphc rewrites them
    # into the stable softplus form before differentiating.
    loss = -gc.mean(y * gc.log(gc.sigmoid(logits)) + (1 - y) * gc.log(1 - gc.sigmoid(logits)))
    dW, db = gc.grad(loss, [W, b])
    return [x, y, W, b], loss, [dW, db]


def main(argv: list[str] | None = None) -> dict[str, np.ndarray]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba", choices=["numba", "numpy"])
    args = parser.parse_args(argv)

    inputs, loss, (dW, db) = build()
    f = gc.compile(inputs, [loss, dW, db], backend=args.backend)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.float64)
    W, b = np.zeros(3), np.array(0.0)

    loss_value, dW_value, db_value = f(x, y, W, b)
    print(f"loss at W=0: {loss_value:.6f} (log 2 = {np.log(2):.6f})")
    print(f"dloss/dW = {dW_value}\ndloss/db = {db_value:.6f}")
    gc.check_grad(loss, [inputs[2], inputs[3]], {"x": x, "y": y, "W": W, "b": b})
    print("check_grad: the symbolic gradient agrees with central differences")

    for _ in range(200):  # plain gradient descent with the compiled step
        loss_value, dW_value, db_value = f(x, y, W, b)
        W, b = W - 1.0 * dW_value, b - 1.0 * db_value
    print(f"loss after 200 steps: {loss_value:.6f}")

    print("\nThe loss as built:")
    print(loss)
    print("\nWhat the compiled function computes (loss and both gradients):")
    print(f.source)
    return {"loss": loss_value, "W": W, "b": b}


if __name__ == "__main__":
    main()
