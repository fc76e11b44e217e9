"""Nested functions and their derivatives, by the chain rule, checked against calculus.

    d/dx sigmoid(x**2)      = sigmoid'(x**2) * 2x
    d/dx sigmoid(x)**2      = 2 sigmoid(x) * sigmoid'(x)
    d/dx sin(exp(tanh(x)))  = cos(exp(tanh x)) * exp(tanh x) * (1 - tanh(x)**2)

gc.grad builds each derivative as graph nodes; we compile and evaluate it on
a grid and compare with the formulas above. With matplotlib installed the
curves are saved to chain_rule.png.
"""

from __future__ import annotations

import sys

import numpy as np

import graphc as gc

try:
    from _cli import backend_from_args
except ImportError:  # run from elsewhere
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _cli import backend_from_args


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def main(argv: list[str] | None = None) -> dict[str, float]:
    backend = backend_from_args(__doc__.splitlines()[0], argv)
    x = gc.input("x", shape=("n",))
    functions = {
        "sigmoid(x**2)": (gc.sigmoid(x ** 2),
                          lambda v: sigmoid(v**2) * (1 - sigmoid(v**2)) * 2 * v),
        "sigmoid(x)**2": (gc.sigmoid(x) ** 2,
                          lambda v: 2 * sigmoid(v) * sigmoid(v) * (1 - sigmoid(v))),
        "sin(exp(tanh(x)))": (gc.sin(gc.exp(gc.tanh(x))),
                              lambda v: np.cos(np.exp(np.tanh(v))) * np.exp(np.tanh(v))
                              * (1 - np.tanh(v) ** 2)),
    }
    grid = np.arange(-3, 3, 0.01)
    errors, curves = {}, {}
    for name, (y, analytic) in functions.items():
        # Summing makes a scalar whose gradient is the elementwise derivative.
        derivative = gc.grad(gc.sum(y), x)
        f = gc.compile([x], [y, derivative], backend=backend)
        values, slopes = f(grid)
        errors[name] = float(np.max(np.abs(slopes - analytic(grid))))
        curves[name] = (values, slopes)
        print(f"d/dx {name:<18} max |graphc - analytic| on [-3, 3): {errors[name]:.2e}")

    print("\nThe backward graph of sigmoid(x**2):")
    print(gc.format_graph([gc.grad(gc.sum(gc.sigmoid(x ** 2)), x)]))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(install matplotlib to get chain_rule.png)")
        return errors
    figure, axes = plt.subplots(1, len(curves), figsize=(12, 3.5))
    for axis, (name, (values, slopes)) in zip(axes, curves.items()):
        axis.plot(grid, values, label=name)
        axis.plot(grid, slopes, label="graphc derivative", linestyle="--")
        axis.set_title(name)
        axis.legend()
    figure.tight_layout()
    figure.savefig("chain_rule.png", dpi=100)
    print("\nsaved chain_rule.png")
    return errors


if __name__ == "__main__":
    main()
