"""Fixture for tests/test_cli.py: a program that builds and compiles its graphs inside main()."""

import argparse

import numpy as np

import graphc as gc


def build(width: int) -> dict:
    x = gc.input("x", shape=("n", width))
    w = gc.input("w", shape=(width,))
    with gc.scope("model"):
        prediction = gc.tanh(x @ w)
    loss = gc.mean(prediction ** 2)
    return {"x": x, "w": w, "loss": loss, "prediction": prediction}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=3)
    parser.add_argument("--fail", action="store_true")
    args = parser.parse_args()
    model = build(args.width)
    gradient = gc.grad(model["loss"], model["w"])
    step = gc.compile([model["x"], model["w"]], [model["loss"], gradient], names=["loss", None])
    value_only = gc.compile([model["x"], model["w"]], model["prediction"])
    print("compiled; training now")  # stdout of the script: not graphc's output
    if args.fail:
        raise ValueError("failing after compile on purpose")
    for _ in range(3):
        step(np.ones((2, args.width)), np.ones(args.width))
    raise SystemExit("the command line stops at the first call: this line never runs")


if __name__ == "__main__":
    main()
