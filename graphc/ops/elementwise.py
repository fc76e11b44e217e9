"""Elementwise ops: arithmetic, transcendental, activation, selection, comparison.

Owns one declaration per elementwise op (NumPy reference, scalar template for
fused loops, VJP rule, input domain, algebraic properties) and its public
builder. VJP rules return cotangents in the *output's* shape; summing them
back to a broadcast input's shape happens once, in the autodiff pass.

Selections (`where`, `maximum`, `abs`, `relu`, `clip`) route the cotangent
with `where`, never by multiplying with a 0/1 mask, so an inf or NaN in the
branch not taken cannot leak into the gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir import Interval, Node, apply
from ..lowering import Pointwise
from .base import as_tensor, bool_dtype, elementwise, float_dtype, function
from .checks import check_exponent

POSITIVE = Interval(0.1, 3.0)
NONZERO = Interval(-3.0, 3.0, avoid=0.0)


def _as_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _special() -> Any:
    """scipy.special, imported on first use: `import graphc` stays fast."""
    import scipy.special

    return scipy.special


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic: exp of a non-positive number only."""
    x = _as_float(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow."""
    return np.logaddexp(0, _as_float(x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


# ------------------------------------------------------------- arithmetic

def _multiply_no_nan(g: np.ndarray, d: np.ndarray) -> np.ndarray:
    """where(g == 0, 0, g * d), element for element, in about a quarter of np.where's time on
    n x n operands (a Hessian's NumPy tier at n = 1000: 2 ms, not 8, per product): the
    product is fixed up in place, and only when g holds a zero at all."""
    product = np.asarray(np.multiply(g, d))
    zero = np.equal(g, 0)
    if np.any(zero):
        np.copyto(product, np.zeros((), product.dtype), where=zero)
    return product


# g * d, but exactly 0 where the cotangent g is 0 even if d is inf or NaN. Rules
# whose local derivative d can be non-finite (sqrt at 0, log at 0, exp overflow,
# a dead where-branch's NaN) use it, so a branch not taken cannot leak NaN.
MULTIPLY_NO_NAN = elementwise(
    "multiply_no_nan", _multiply_no_nan, arity=2, scalar="select({0} == 0, {zero}, {0} * {1})",
    vjp=lambda g, out, a, b: (times(g, b), times(g, a)))


def times(cotangent: Node, derivative: Any) -> Node:
    """cotangent * derivative, 0 wherever the cotangent is 0 (NaN-safe chain rule)."""
    return apply(MULTIPLY_NO_NAN, as_tensor(cotangent), as_tensor(derivative))


ADD = elementwise("add", np.add, nonnegative="if_inputs", arity=2, infix="+",
                  scalar=Pointwise("({0} + {1})", ufunc="np.add", operators_only=True),
                  vjp=lambda g, out, a, b: (g, g), commutative=True, identity=0.0, linear=True)
SUBTRACT = elementwise("subtract", np.subtract, arity=2, infix="-",
                       scalar=Pointwise("({0} - {1})", ufunc="np.subtract", operators_only=True),
                       vjp=lambda g, out, a, b: (g, negative(g)), identity=0.0, linear=True)
MULTIPLY = elementwise("multiply", np.multiply, nonnegative="if_inputs", arity=2,
                       scalar=Pointwise("({0} * {1})", ufunc="np.multiply", operators_only=True), infix="*",
                       vjp=lambda g, out, a, b: (times(g, b), times(g, a)), commutative=True,
                       identity=1.0, absorbing=0.0)
DIVIDE = elementwise("divide", np.true_divide, nonnegative="if_inputs", arity=2,
                     scalar=Pointwise("({0} / {1})", ufunc="np.divide", operators_only=True), infix="/",
                     vjp=lambda g, out, a, b: (times(g, 1 / b), times(g, negative(out / b))),
                     domain=(Interval(), NONZERO), identity=1.0)
NEGATIVE = elementwise("negative", np.negative, arity=1, label="neg",
                       scalar=Pointwise("(-{0})", operators_only=True),
                       vjp=lambda g, out, a: (negative(g),), involution=True, linear=True)


def _power_vjp(g: Node, out: Node, a: Node, b: Node) -> tuple[Node, Node]:
    # d/db a**b = a**b * log(a); log of a replaced 0 keeps 0**b's b-gradient finite.
    safe_base = where(equal(a, 0), 1, a)
    return times(g, b * power(a, b - 1)), times(g, out * log(safe_base))


POWER = elementwise("power", np.power, arity=2, infix="**",
                    scalar=Pointwise("({0} ** {1})", operators_only=True),
                    vjp=_power_vjp, domain=(POSITIVE, Interval(-2.0, 2.0)))
SQUARE = elementwise("square", np.square, nonnegative="always", arity=1,
                     scalar=Pointwise("({0} * {0})", operators_only=True),
                     vjp=lambda g, out, a: (times(g, 2 * a),))
SQRT = elementwise("sqrt", np.sqrt, nonnegative="always", arity=1, scalar="math.sqrt({0})",
                   vjp=lambda g, out, a: (times(g, 0.5 / out),), domain=(POSITIVE,))

# ---------------------------------------------------------- transcendental

EXP = elementwise("exp", np.exp, nonnegative="always", arity=1, expensive=True, kernel="exp",
                  vjp=lambda g, out, a: (times(g, out),))
LOG = elementwise("log", np.log, arity=1, expensive=True, kernel="log",
                  vjp=lambda g, out, a: (times(g, 1 / a),), domain=(POSITIVE,))
LOG1P = elementwise("log1p", np.log1p, arity=1, expensive=True, kernel="log1p",
                    vjp=lambda g, out, a: (times(g, 1 / (1 + a)),),
                    domain=(Interval(-0.9, 3.0),))
EXPM1 = elementwise("expm1", np.expm1, arity=1, expensive=True, kernel="expm1",
                    vjp=lambda g, out, a: (times(g, out + 1),))
SIN = elementwise("sin", np.sin, finite="if_inputs", arity=1, expensive=True, kernel="sin",
                  vjp=lambda g, out, a: (times(g, cos(a)),))
COS = elementwise("cos", np.cos, finite="if_inputs", arity=1, expensive=True, kernel="cos",
                  vjp=lambda g, out, a: (times(g, negative(sin(a))),))
TAN = elementwise("tan", np.tan, arity=1, expensive=True, scalar="math.tan({0})",
                  vjp=lambda g, out, a: (times(g, 1 + square(out)),),
                  domain=(Interval(-1.2, 1.2),))
TANH = elementwise("tanh", np.tanh, finite="if_inputs", arity=1, expensive=True, kernel="tanh",
                   vjp=lambda g, out, a: (times(g, 1 - square(out)),))
ARCTAN = elementwise("arctan", np.arctan, finite="if_inputs", arity=1, expensive=True,
                     scalar="math.atan({0})",
                     vjp=lambda g, out, a: (times(g, 1 / (1 + square(a))),))
ARCSINH = elementwise("arcsinh", np.arcsinh, finite="if_inputs", arity=1, expensive=True,
                      scalar="math.asinh({0})",
                      # d/dx arcsinh(x) = 1 / sqrt(1 + x^2)
                      vjp=lambda g, out, a: (times(g, 1 / sqrt(1 + square(a))),))
ERF = elementwise("erf", lambda x: _special().erf(x), finite="if_inputs", arity=1, expensive=True,
                  scalar="math.erf({0})", dtype=float_dtype,
                  # d/dx erf(x) = 2/sqrt(pi) exp(-x^2)
                  vjp=lambda g, out, a: (times(g, 1.1283791670955126 * exp(negative(square(a)))),))

# --------------------------------------------------------------- activations

SIGMOID = elementwise("sigmoid", _sigmoid, nonnegative="always", finite="if_inputs",
                      arity=1, expensive=True, kernel="sigmoid", dtype=float_dtype,
                      vjp=lambda g, out, a: (times(g, out * (1 - out)),))
RELU = elementwise("relu", _relu, nonnegative="always", arity=1, scalar="maximum({0}, {zero})",
                   vjp=lambda g, out, a: (where(greater(a, 0), g, 0),))
SOFTPLUS = elementwise("softplus", _softplus, nonnegative="always", arity=1, expensive=True,
                       kernel="softplus", dtype=float_dtype, vjp=lambda g, out, a: (times(g, sigmoid(a)),))

# ----------------------------------------------------------------- selection

ABS = elementwise("abs", np.abs, nonnegative="always", arity=1, scalar="abs({0})",
                  vjp=lambda g, out, a: (where(greater_equal(a, 0), g, negative(g)),),
                  domain=(NONZERO,))
SIGN = elementwise("sign", np.sign, finite="if_inputs", arity=1, scalar="np.sign({0})",
                   vjp=lambda g, out, a: (None,), domain=(NONZERO,))
MAXIMUM = elementwise("maximum", np.maximum, nonnegative="if_inputs", arity=2, scalar="maximum({0}, {1})",
                      vjp=lambda g, out, a, b: (where(greater_equal(a, b), g, 0),
                                                where(greater_equal(a, b), 0, g)),
                      commutative=True)
MINIMUM = elementwise("minimum", np.minimum, arity=2, scalar="minimum({0}, {1})",
                      vjp=lambda g, out, a, b: (where(less_equal(a, b), g, 0),
                                                where(less_equal(a, b), 0, g)),
                      commutative=True)
WHERE = elementwise("where", np.where, arity=3, scalar=Pointwise("select({0}, {1}, {2})", conditions=(0,)),
                    vjp=lambda g, out, c, a, b: (None, where(c, g, 0), where(c, 0, g)),
                    domain=(Interval(-1, 1), Interval(), Interval()))


def _clip_impl(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, low), high)


def _clip_vjp(g: Node, out: Node, x: Node, low: Node, high: Node) -> tuple[Node, Node, Node]:
    """Route g to whichever operand the output came from, as _clip_impl picks it.

    minimum(maximum(x, low), high) takes `high` whenever maximum(x, low) exceeds it,
    which includes every x when low > high (NumPy's clip then gives high everywhere).
    """
    capped = greater(maximum(x, low), high)
    raised = less(x, low)
    return (where(capped, 0, where(raised, 0, g)),
            where(capped, 0, where(raised, g, 0)),
            where(capped, g, 0))


CLIP = elementwise("clip", _clip_impl, arity=3, scalar="minimum(maximum({0}, {1}), {2})",
                   vjp=_clip_vjp,
                   domain=(Interval(-3, 3), Interval(-2, -0.5), Interval(0.5, 2)))

# ---------------------------------------------------------------- comparison

EQUAL = elementwise("equal", np.equal, arity=2, scalar="({0} == {1})", dtype=bool_dtype,
                    infix="==", commutative=True)
NOT_EQUAL = elementwise("not_equal", np.not_equal, arity=2, scalar="({0} != {1})",
                        dtype=bool_dtype, infix="!=", commutative=True)
LESS = elementwise("less", np.less, arity=2, scalar="({0} < {1})", dtype=bool_dtype, infix="<")
LESS_EQUAL = elementwise("less_equal", np.less_equal, arity=2, scalar="({0} <= {1})",
                         dtype=bool_dtype, infix="<=")
GREATER = elementwise("greater", np.greater, arity=2, scalar="({0} > {1})",
                      dtype=bool_dtype, infix=">")
GREATER_EQUAL = elementwise("greater_equal", np.greater_equal, arity=2,
                            scalar="({0} >= {1})", dtype=bool_dtype, infix=">=")


# ----------------------------------------------------------------- builders

def _unary(op: Any) -> Any:
    def build(x: Any) -> Node:
        return apply(op, as_tensor(x))
    build.__name__ = op.name
    build.__doc__ = f"Elementwise {op.name}, as numpy.{op.name if op.name != 'sigmoid' else 'expit'}."
    return function(build)


def _binary(op: Any) -> Any:
    def build(x: Any, y: Any) -> Node:
        return apply(op, as_tensor(x), as_tensor(y))
    build.__name__ = op.name
    build.__doc__ = f"Elementwise {op.name} with NumPy broadcasting."
    return function(build)


negative = _unary(NEGATIVE)
square = _unary(SQUARE)
sqrt = _unary(SQRT)
exp = _unary(EXP)
log = _unary(LOG)
log1p = _unary(LOG1P)
expm1 = _unary(EXPM1)
sin = _unary(SIN)
cos = _unary(COS)
tan = _unary(TAN)
tanh = _unary(TANH)
arctan = _unary(ARCTAN)
arcsinh = _unary(ARCSINH)
erf = _unary(ERF)
erf.__doc__ = "Elementwise erf, as scipy.special.erf."
sigmoid = _unary(SIGMOID)
relu = _unary(RELU)
softplus = _unary(SOFTPLUS)
abs = _unary(ABS)  # noqa: A001 - NumPy's name
sign = _unary(SIGN)

add = _binary(ADD)
subtract = _binary(SUBTRACT)
multiply = _binary(MULTIPLY)
divide = _binary(DIVIDE)


@function
def power(x: Any, y: Any) -> Node:
    """Elementwise power with NumPy broadcasting (numpy.power)."""
    base, exponent = as_tensor(x), as_tensor(y)
    if exponent.value is not None and base.dtype.kind in "iu" and exponent.dtype.kind in "iu" \
            and bool(np.any(exponent.value < 0)):
        # NumPy raises at run time; generated code would silently give 0. Say so while building.
        raise DTypeError("integers to negative integer powers are not allowed (as in NumPy); "
                         "make the base a float, e.g. x.astype('float64') ** -1")
    if exponent.value is None and base.dtype.kind in "iu" and exponent.dtype.kind in "iu":
        exponent = check_exponent(exponent)  # known only at run time: checked on every call
    return apply(POWER, base, exponent)


maximum = _binary(MAXIMUM)
minimum = _binary(MINIMUM)
equal = _binary(EQUAL)
not_equal = _binary(NOT_EQUAL)
less = _binary(LESS)
less_equal = _binary(LESS_EQUAL)
greater = _binary(GREATER)
greater_equal = _binary(GREATER_EQUAL)


@function
def where(condition: Any, x: Any, y: Any) -> Node:
    """Elementwise choice: x where condition is true, else y (numpy.where)."""
    condition = as_tensor(condition)
    if condition.dtype != np.dtype("bool"):
        condition = not_equal(condition, 0)
    return apply(WHERE, condition, as_tensor(x), as_tensor(y))


@function
def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Node:
    """Limit values to [a_min, a_max] (numpy.clip); None means unbounded on that side."""
    x = as_tensor(x)
    if a_min is None and a_max is None:
        raise ShapeError("clip needs a_min or a_max (both are None)")
    if a_min is None:
        a_min = float("-inf") if x.dtype.kind == "f" else int(np.iinfo(x.dtype).min)
    if a_max is None:
        a_max = float("inf") if x.dtype.kind == "f" else int(np.iinfo(x.dtype).max)
    return apply(CLIP, x, as_tensor(a_min), as_tensor(a_max))
