"""A fixed point found by iteration, differentiated implicitly with gc.custom_vjp.

JAX's autodiff cookbook example ("Implicit function differentiation of
iterative implementations"), in graphc: `fixed_point(f, a, x_guess, steps)`
iterates x <- f(a, x) a fixed number of steps (unrolled in the graph). Its
derivative is not taken through the iterations: at the fixed point
x* = f(a, x*), the implicit function theorem gives

    a_bar = (df/da)^T u   with   u = x*_bar + (df/dx)^T u,

and u is found by the same kind of iteration. So the backward pass reads
only x*, not every iterate the forward made, and it is right even when the
iterations themselves are not differentiable (a clamp, a stopping rule).
Checked here against calculus (Newton's iteration for sqrt(a), first and
second derivatives) and central differences (an equilibrium
x* = tanh(W x* + a)).
Run: python3 examples/fixed_point.py [--backend numpy|numba]
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable

import numpy as np

import graphc as gc

Step = Callable[[gc.Tensor, gc.Tensor], gc.Tensor]


def iterate(step: Callable[[gc.Tensor], gc.Tensor], x: gc.Tensor, steps: int) -> gc.Tensor:
    for _ in range(steps):
        x = step(x)
    return x


@functools.partial(gc.custom_vjp, nondiff_argnums=(0, 3))
def fixed_point(f: Step, a: gc.Tensor, x_guess: gc.Tensor, steps: int) -> gc.Tensor:
    """x* with x* = f(a, x*), by `steps` iterations from x_guess."""
    return iterate(lambda x: f(a, x), x_guess, steps)


def fixed_point_fwd(f: Step, a: gc.Tensor, x_guess: gc.Tensor,
                    steps: int) -> tuple[gc.Tensor, tuple[gc.Tensor, gc.Tensor]]:
    x_star = fixed_point(f, a, x_guess, steps)
    return x_star, (a, x_star)


def fixed_point_bwd(f: Step, steps: int, residuals: tuple[gc.Tensor, gc.Tensor],
                    x_star_bar: gc.Tensor) -> tuple[gc.Tensor, gc.Tensor]:
    a, x_star = residuals  # independent values here: gc.vjp differentiates only what it is asked
    out = f(a, x_star)
    u = iterate(lambda u: x_star_bar + gc.vjp(out, x_star, u), x_star_bar, steps)
    return gc.vjp(out, a, u), gc.zeros_like(x_star)  # the guess does not move the fixed point


fixed_point.defvjp(fixed_point_fwd, fixed_point_bwd)


def newton_sqrt(a: gc.Tensor, x: gc.Tensor) -> gc.Tensor:
    return 0.5 * (x + a / x)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba", choices=["numba", "numpy"])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)
    errors: dict[str, float] = {}

    # 1. sqrt(a) as the fixed point of Newton's step: d/da = 1/(2 sqrt a), d2/da2 = -a^(-3/2)/4
    a = gc.input("a", shape=("n",))
    root = fixed_point(newton_sqrt, a, gc.ones_like(a), args.steps)
    slope = gc.grad(gc.sum(root), a)
    curvature = gc.grad(gc.sum(slope), a)
    f = gc.compile([a], [root, slope, curvature], backend=args.backend)
    values = np.array([0.25, 2.0, 9.0, 100.0])
    got_root, got_slope, got_curvature = f(values)
    errors["sqrt"] = float(np.max(np.abs(got_root - np.sqrt(values))))
    errors["sqrt_gradient"] = float(np.max(np.abs(got_slope - 0.5 / np.sqrt(values))))
    errors["sqrt_second"] = float(np.max(np.abs(got_curvature + 0.25 * values ** -1.5)))

    # 2. an equilibrium x* = tanh(W x* + a) (W a contraction), against central differences
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 5))
    W = gc.constant(0.5 * W / np.linalg.norm(W, 2))
    bias = gc.input("bias", shape=(5,))
    state = fixed_point(lambda b, x: gc.tanh(W @ x + b), bias, gc.zeros_like(bias), args.steps)
    loss = gc.sum(state * gc.constant(np.arange(1.0, 6.0)))
    gc.check_grad(loss, bias, {bias: rng.standard_normal(5)}, rtol=1e-7)
    implicit = gc.grad(loss, bias)
    unrolled_state = iterate(lambda x: gc.tanh(W @ x + bias), gc.zeros_like(bias), args.steps)
    unrolled = gc.grad(gc.sum(unrolled_state * gc.constant(np.arange(1.0, 6.0))), bias)
    g = gc.compile([bias], [implicit, unrolled], backend=args.backend)
    point = rng.standard_normal(5)
    got_implicit, got_unrolled = g(point)
    errors["equilibrium_vs_unrolled"] = float(np.max(np.abs(got_implicit - got_unrolled)))
    for name, value in errors.items():
        print(f"{name:24s} max error {value:.1e}")
    return errors


if __name__ == "__main__":
    main()
