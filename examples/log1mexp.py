"""log(1 - exp(x)) for x < 0, stable everywhere, with a hand-written gradient: gc.custom_vjp and gc.Op.

`log(1 - exp(x))` written naively loses every digit near 0 (1 - exp(-1e-20)
is 0 in float64) and near -inf (exp(x) underflows relative to 1), and its
derivative `-exp(x) / (1 - exp(x))` does too. Maechler's recipe ("Accurately
computing log(1 - exp(-|a|))", 2012) picks log(-expm1(x)) above -ln 2 and
log1p(-exp(x)) below. Its derivative is -1 / expm1(-x), one stable
expression: this example gives graphc that rule twice,

- as `gc.custom_vjp`: the forward is graphc ops, the VJP is written by hand;
- as a user op record (`gc.Op` + `gc.apply`), declared the way graphc's own
  ops are: shape and dtype rules, a NumPy implementation, a scalar template
  for the numba backend, a VJP and a batching rule;

and checks both against mpmath at 50 digits and against central differences.
Run: python3 examples/log1mexp.py [--backend numpy|numba]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import graphc as gc

LN2 = math.log(2.0)


@gc.custom_vjp
def log1mexp(x: gc.Tensor) -> gc.Tensor:
    """log(1 - exp(x)) for x < 0 (Maechler 2012): two stable branches."""
    return gc.where(x > -LN2, gc.log(-gc.expm1(x)), gc.log1p(-gc.exp(x)))


def log1mexp_fwd(x: gc.Tensor) -> tuple[gc.Tensor, gc.Tensor]:
    return log1mexp(x), x  # the residual is x itself


def log1mexp_bwd(x: gc.Tensor, cotangent: gc.Tensor) -> tuple[gc.Tensor]:
    return (cotangent * (-1.0 / gc.expm1(-x)),)  # d/dx log(1 - e^x) = -1 / (e^-x - 1)


log1mexp.defvjp(log1mexp_fwd, log1mexp_bwd)


# The same function as an op record of its own: one declaration, read by every pass.
def _log1mexp_numpy(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(x > -LN2, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


LOG1MEXP = gc.Op(
    "log1mexp", label="log1mexp", arity=1, elementwise=True,
    shape=lambda inputs: inputs[0].shape, dtype=lambda inputs: inputs[0].dtype,
    impl=_log1mexp_numpy,
    scalar=f"(math.log(-math.expm1({{0}})) if {{0}} > {-LN2!r} else math.log1p(-math.exp({{0}})))",
    vjp=lambda g, out, x: (g * (-1.0 / gc.expm1(-x)),),
    batch=lambda args, batch_axes: (gc.apply(LOG1MEXP, args[0]), batch_axes[0]),
)


def log1mexp_op(x: gc.Tensor) -> gc.Tensor:
    return gc.apply(LOG1MEXP, x)


def reference(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(1 - exp(x)) and its derivative at 50 significant digits (mpmath)."""
    import mpmath

    mpmath.mp.dps = 50
    values = [float(mpmath.log(-mpmath.expm1(p)) if p > -1 else mpmath.log1p(-mpmath.exp(p)))
              for p in map(mpmath.mpf, points)]
    slopes = [float(-1 / mpmath.expm1(-mpmath.mpf(p))) for p in points]
    return np.array(values), np.array(slopes)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numba", choices=["numba", "numpy"])
    args = parser.parse_args(argv)
    points = -np.logspace(-20, 2.5, 200)
    x = gc.input("x", shape=("n",))
    rows = gc.input("rows", shape=("m", 2))  # the same points in pairs, for gc.vmap
    errors: dict[str, float] = {}
    expected, slopes = reference(points)
    for name, function in (("custom_vjp", log1mexp), ("op", log1mexp_op)):
        value = function(x)
        gradient = gc.grad(gc.sum(value), x)
        batched = gc.vmap(lambda row, fn=function: gc.grad(gc.sum(fn(row)), row))(rows)
        f = gc.compile([x, rows], [value, gradient, batched], backend=args.backend)
        got, got_slopes, got_batched = f(points, points.reshape(-1, 2))
        errors[f"{name}_value"] = float(np.max(np.abs(got - expected) / np.abs(expected)))
        errors[f"{name}_gradient"] = float(np.max(np.abs(got_slopes - slopes) / np.abs(slopes)))
        errors[f"{name}_vmap"] = float(np.max(np.abs(got_batched.reshape(-1) - got_slopes)))
        # central differences where they are meaningful (away from 0, where f is steep)
        middle = points[(points < -1e-3) & (points > -30)]
        gc.check_grad(gc.sum(function(x)), x, {x: middle}, rtol=1e-6)
        print(f"{name:10s}: max relative error {errors[f'{name}_value']:.1e} (value), "
              f"{errors[f'{name}_gradient']:.1e} (gradient) over x in [-316, -1e-20]")
    with np.errstate(all="ignore"):
        naive = -np.exp(points) / (1 - np.exp(points))
    print(f"the naive derivative -e^x/(1-e^x) is inf or nan at {int(np.sum(~np.isfinite(naive)))} "
          f"of these {points.size} points")
    return errors


if __name__ == "__main__":
    main()
