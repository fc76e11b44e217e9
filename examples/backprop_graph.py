"""Backprop by hand, drawn by graphc: values, gradients and local derivatives on the graph.

The textbook example: x = 2, w = 3, b = 1, y_true = 4 and

    loss = |y_true - (x * w + b)|

Forward: prediction = 7, error = -3, loss = 3. Backward, edge by edge, each
local derivative times the gradient of the node it feeds: d loss/d w = 2 and
d loss/d b = 1. The names below are module-level on purpose, so the graphc
command line can show them:

    graphc show   examples/backprop_graph.py:loss
    graphc dot    examples/backprop_graph.py:loss --values values -o backprop.dot --format svg
    graphc dot    examples/backprop_graph.py:backprop --values values -o both.dot --format svg
    graphc source examples/backprop_graph.py:seed
    graphc stats  examples/backprop_graph.py:seed

`seed` is the seed example (L = sum(sigmoid(X @ W)) and its two gradients,
as in matrix_function.py). Run as a script, it writes backprop.dot (and backprop.svg when
Graphviz is installed) and prints the numbers.
"""

from __future__ import annotations

import sys

import graphc as gc

try:
    from _cli import backend_from_args
except ImportError:  # run from elsewhere
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _cli import backend_from_args

# The textbook example: scalars, named like the diagram in a course.
x = gc.input("x")
w = gc.input("w")
b = gc.input("b")
y_true = gc.input("y_true")
prediction = x * w + b
error = y_true - prediction
loss = abs(error)
dw, db = gc.grad(loss, [w, b])
backprop = [loss, dw, db]  # the forward graph and the backward graph gc.grad built
values = {"x": 2.0, "w": 3.0, "b": 1.0, "y_true": 4.0}

# The seed example: a matrix function and both of its gradients.
X = gc.input("X", shape=(3, 3))
W = gc.input("W", shape=(3, 2))
L = gc.sum(gc.sigmoid(X @ W))
dX, dW = gc.grad(L, [X, W])
seed = [L, dX, dW]


def main(argv: list[str] | None = None) -> dict[str, float]:
    backend = backend_from_args(__doc__.splitlines()[0], argv)
    step = gc.compile([x, w, b, y_true], [loss, dw, db], backend=backend)
    loss_value, dw_value, db_value = step(**values)
    print(f"loss = {float(loss_value):g}, d loss/d w = {float(dw_value):g}, "
          f"d loss/d b = {float(db_value):g}")
    names = {prediction: "prediction", error: "error", loss: "loss"}
    gc.to_dot(loss, "backprop.dot", values=values, names=names)
    from graphc.viz import INSTALL_HINT, render

    picture = render("backprop.dot", "svg")
    print(f"wrote backprop.dot and {picture}" if picture else f"wrote backprop.dot; {INSTALL_HINT}")
    return {"loss": float(loss_value), "dw": float(dw_value), "db": float(db_value)}


if __name__ == "__main__":
    main()
