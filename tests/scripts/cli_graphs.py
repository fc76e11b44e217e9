"""Fixture for tests/test_cli.py: every kind of NAME the graphc command line accepts (and some it refuses)."""

import graphc as gc

x = gc.input("x", shape=(3,))
w = gc.input("w", shape=(3,))
b = gc.input("b")
prediction = gc.sum(x * w) + b
loss = gc.square(prediction - 1.0) * 1.0  # `* 1.0` gives the simplifier something to remove
dw, db = gc.grad(loss, [w, b])
outputs = [loss, dw, db]
step = gc.compile([x, w, b], outputs, backend="numpy")
values = {"x": [1.0, 2.0, 3.0], "w": [0.5, -1.0, 2.0], "b": 0.25}
not_a_graph = 42
empty = []

if __name__ == "__main__":
    raise SystemExit("the command line must not run the __main__ block")
