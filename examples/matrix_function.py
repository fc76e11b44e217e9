"""A matrix function and its gradient: L = sum(sigmoid(X @ W)).

By the chain rule, with S = sigmoid(X @ W):
    dL/dX = (S * (1 - S)) @ W.T        dL/dW = X.T @ (S * (1 - S))
We print L and dL/dX, check one entry by nudging X[0, 0] by 0.001 as you
would by hand, and print the generated gradient code.
"""

from __future__ import annotations

import sys

import numpy as np

import graphc as gc

try:
    from _cli import backend_from_args
except ImportError:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _cli import backend_from_args


def main(argv: list[str] | None = None) -> dict[str, np.ndarray]:
    backend = backend_from_args(__doc__.splitlines()[0], argv)
    np.random.seed(190204)
    X_value = np.random.randn(3, 3)
    W_value = np.random.randn(3, 2)

    X = gc.input("X", shape=(3, 3))
    W = gc.input("W", shape=(3, 2))
    L = gc.sum(gc.sigmoid(X @ W))
    dX, dW = gc.grad(L, [X, W])
    f = gc.compile([X, W], [L, dX, dW], backend=backend)
    loss, grad_X, grad_W = f(X_value, W_value)
    print(f"L = {float(loss):.4f}")
    print("dL/dX =")
    print(np.array2string(grad_X, precision=4))

    nudged = X_value.copy()
    nudged[0, 0] += 0.001
    loss_nudged = f(nudged, W_value)[0]
    estimate = (loss_nudged - loss) / 0.001
    print(f"\nnudging X[0,0] by 0.001 changes L by {float(loss_nudged - loss):.6f}: "
          f"slope {float(estimate):.4f}, graphc says {grad_X[0, 0]:.4f}")

    print("\nThe generated code (forward and backward in one function):")
    print(f.source)
    return {"L": loss, "dX": grad_X, "dW": grad_W, "estimate": estimate}


if __name__ == "__main__":
    main()
