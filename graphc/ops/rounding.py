"""NumPy's remaining elementwise math: floor, ceil, round, mod, logaddexp, logaddexp2.

Owns their declarations and builders. The rounding ops have a zero gradient
(their derivative is 0 wherever it exists); `mod` follows NumPy's sign
convention (the result has the divisor's sign, Python's `%`), so `x % y` on
tensors is `gc.mod`; `logaddexp` is computed as max + log1p(exp(-|a - b|))
with NumPy's special case for equal arguments (inf + inf stays inf), by a
float64 scalar helper (graphc/backend/library_special.py).
Imports: ir, errors, the base factories and elementwise builders (layer L2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import DTypeError
from ..ir import Interval, Node, apply
from .base import as_tensor, check_static_int, elementwise, function
from .elementwise import exp, times

NONZERO = Interval(-3.0, 3.0, avoid=0.0)


def _no_gradient(g: Node, out: Node, x: Node) -> tuple[None]:
    return (None,)


FLOOR = elementwise("floor", np.floor, arity=1, scalar="np.floor({0})", finite="if_inputs",
                    vjp=_no_gradient)
CEIL = elementwise("ceil", np.ceil, arity=1, scalar="np.ceil({0})", finite="if_inputs",
                   vjp=_no_gradient)
# np.rint rounds half to even, as np.round does; `round` with decimals composes it.
ROUND = elementwise("round", np.round, arity=1, scalar="np.rint({0})", finite="if_inputs",
                    vjp=_no_gradient)


def _mod_vjp(g: Node, out: Node, a: Node, b: Node) -> tuple[Node, Node]:
    """mod(a, b) = a - floor(a / b) * b: d/da = 1, d/db = -floor(a / b), read off the result."""
    quotient = round_((a - out) / b)
    return g, times(g, -quotient)


MOD = elementwise("mod", np.mod, arity=2, scalar="({0} % {1})", vjp=_mod_vjp,
                  domain=(Interval(-3.0, 3.0), NONZERO))
LOGADDEXP = elementwise(
    "logaddexp", np.logaddexp, arity=2, commutative=True, expensive=True, scalar="logaddexp({0}, {1})",
    vjp=lambda g, out, a, b: (times(g, exp(a - out)), times(g, exp(b - out))))


def _unary(op: Any, doc: str) -> Any:
    def build(x: Any) -> Node:
        x = as_tensor(x)
        if x.dtype.kind in "iu":  # NumPy 2 keeps integers (and their dtype) unchanged
            return x
        return apply(op, x)
    build.__name__ = op.name
    build.__doc__ = doc
    return function(build)


floor = _unary(FLOOR, "Largest integer <= x, elementwise (numpy.floor); zero gradient.")
ceil = _unary(CEIL, "Smallest integer >= x, elementwise (numpy.ceil); zero gradient.")


@function
def round_(x: Any, decimals: int = 0) -> Node:
    """Round to `decimals` places, halves to even (numpy.round); zero gradient."""
    x = as_tensor(x)
    places = check_static_int(decimals, "round's decimals")
    if x.dtype.kind in "iu":
        if places < 0:
            raise DTypeError("round of integers to negative decimals is not supported; "
                             "cast to a float first, e.g. x.astype('float64')")
        return x
    if places == 0:
        return apply(ROUND, x)
    # NumPy's own recipe: scale, round half to even, unscale (same rounding of the result)
    scale = 10.0 ** abs(places)
    if places > 0:
        return apply(ROUND, x * scale) / scale
    return apply(ROUND, x / scale) * scale


@function
def mod(x1: Any, x2: Any) -> Node:
    """Remainder with the divisor's sign, like Python's % (numpy.mod / numpy.remainder)."""
    return apply(MOD, as_tensor(x1), as_tensor(x2))


@function
def logaddexp(x1: Any, x2: Any) -> Node:
    """log(exp(x1) + exp(x2)) without overflow (numpy.logaddexp)."""
    return apply(LOGADDEXP, as_tensor(x1), as_tensor(x2))


@function
def logaddexp2(x1: Any, x2: Any) -> Node:
    """log2(2**x1 + 2**x2) without overflow (numpy.logaddexp2), through logaddexp."""
    a, b = as_tensor(x1), as_tensor(x2)
    return logaddexp(a * math.log(2), b * math.log(2)) / math.log(2)


round = round_  # noqa: A001 - NumPy's name

__all__ = ["ceil", "floor", "logaddexp", "logaddexp2", "mod", "round"]
