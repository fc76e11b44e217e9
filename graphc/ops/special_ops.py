"""SciPy's special functions: erfc, gammaln, digamma, polygamma, logit, xlogy, log_ndtr.

Owns their declarations (NumPy reference: scipy.special; scalar template for
fused loops: Numba's `math.erfc`, or the float64 scalar helpers
of graphc/backend/library_special.py; VJP rules) and builders. `erf` lives
with the other transcendental ops (graphc/ops/elementwise.py), `expit` is
`sigmoid`; graphc/special.py gathers them all as `gc.special`.

Integers compute in float64 and floats keep their precision, as SciPy's
ufuncs do (`xlogy` promotes like `np.true_divide`, so a Python scalar does not
widen a float32 tensor: NEP 50). Imports: ir, errors, the base factories and
elementwise builders (layer L2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..ir import Interval, Node, Sample, apply
from .base import as_tensor, check_static_int, elementwise, float_dtype, function, numpy_dtype
from .elementwise import equal, exp, log, negative, square, times, where

POSITIVE = Interval(0.1, 3.0)
PROBABILITY = Interval(0.05, 0.95)
TWO_OVER_SQRT_PI = 1.1283791670955126
INV_SQRT_2PI = 0.3989422804014327


def _scipy() -> Any:
    """scipy.special, imported on first use: `import graphc` stays fast."""
    import scipy.special

    return scipy.special


def _in_float(function_name: str) -> Callable[..., np.ndarray]:
    """The SciPy function, its result in the dtype graphc gives (floats keep their precision)."""
    def impl(x: Any, **attrs: Any) -> np.ndarray:
        x = np.asarray(x)
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype("float64")
        if function_name == "polygamma":
            return np.asarray(_scipy().polygamma(attrs["n"], x)).astype(dtype)
        return np.asarray(getattr(_scipy(), function_name)(x)).astype(dtype)
    impl.__name__ = function_name
    return impl


def _xlogy_impl(x: Any, y: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        dtype = np.asarray(np.true_divide(x, y)).dtype
    return np.asarray(_scipy().xlogy(x, y)).astype(dtype)


ERFC = elementwise(
    "erfc", _in_float("erfc"), arity=1, expensive=True, scalar="math.erfc({0})", dtype=float_dtype,
    finite="if_inputs", nonnegative="always",
    # d/dx erfc(x) = -2/sqrt(pi) exp(-x^2)
    vjp=lambda g, out, x: (times(g, -TWO_OVER_SQRT_PI * exp(negative(square(x)))),))
GAMMALN = elementwise(
    "gammaln", _in_float("gammaln"), arity=1, expensive=True, scalar="gammaln({0})", dtype=float_dtype,
    domain=(POSITIVE,),
    # d/dx log|Gamma(x)| = digamma(x), for negative x too
    vjp=lambda g, out, x: (times(g, digamma(x)),))
DIGAMMA = elementwise(
    "digamma", _in_float("digamma"), arity=1, expensive=True, scalar="digamma({0})", dtype=float_dtype,
    domain=(POSITIVE,), vjp=lambda g, out, x: (times(g, polygamma(1, x)),))


def _polygamma_dtype(inputs: Any, n: int) -> np.dtype:
    return float_dtype(inputs)


# polygamma(n, x) for a static n >= 1 (the builder sends n = 0 to digamma).
POLYGAMMA = elementwise(
    "polygamma", _in_float("polygamma"), arity=1, expensive=True, scalar="polygamma({n}, {0})",
    dtype=_polygamma_dtype, domain=(POSITIVE,),
    vjp=lambda g, out, x, n: (times(g, polygamma(n + 1, x)),),
    samples=(Sample(((3, 4),), {"n": 1}), Sample(((2, 3),), {"n": 2}), Sample(((5,),), {"n": 3})))
LOGIT = elementwise(
    "logit", _in_float("logit"), arity=1, expensive=True, scalar="logit({0})", dtype=float_dtype,
    domain=(PROBABILITY,),
    # d/dp log(p / (1 - p)) = 1 / (p (1 - p))
    vjp=lambda g, out, p: (times(g, 1 / (p * (1 - p))),))


def _xlogy_vjp(g: Node, out: Node, x: Node, y: Node) -> tuple[Node, Node]:
    """d/dx = log(y); d/dy = x / y, which is 0 where x == 0 (y == 0 included), as the value is."""
    zero = equal(x, 0)
    safe_y = where(zero, 1, y)
    return times(g, log(y)), where(zero, 0, times(g, x / safe_y))


XLOGY = elementwise(
    "xlogy", _xlogy_impl, arity=2, expensive=True, scalar="xlogy({0}, {1})",
    dtype=numpy_dtype(np.true_divide), domain=(Interval(), POSITIVE), vjp=_xlogy_vjp)
# (-1)^k (2k-1)!! for k = 0..10: Phi(x) ~ phi(x) / -x * sum_k c_k / x^2k for x < -20
MILLS_SERIES = (1.0, -1.0, 3.0, -15.0, 105.0, -945.0, 10395.0, -135135.0, 2027025.0, -34459425.0,
                654729075.0)


def _log_ndtr_vjp(g: Node, out: Node, x: Node) -> tuple[Node]:
    """d/dx log Phi(x) = phi(x) / Phi(x): exp(-x^2/2 - log_ndtr(x)) / sqrt(2 pi) down to -20,
    below that -x / sum_k c_k / x^2k (the asymptotic series; no x^2 to overflow or cancel)."""
    tail = x < -20
    far = where(tail, x, -20.0)
    inverse_square = 1 / square(far)
    series: Any = MILLS_SERIES[-1]
    for c in reversed(MILLS_SERIES[:-1]):
        series = series * inverse_square + c
    near = where(tail, 0.0, x)
    direct = INV_SQRT_2PI * exp(-0.5 * square(near) - where(tail, 0.0, out))
    return (times(g, where(tail, negative(far) / series, direct)),)


LOG_NDTR = elementwise(
    "log_ndtr", _in_float("log_ndtr"), arity=1, expensive=True, scalar="log_ndtr({0})", dtype=float_dtype,
    vjp=_log_ndtr_vjp, domain=(Interval(-30.0, 5.0),))


def _unary(op: Any, doc: str) -> Any:
    def build(x: Any) -> Node:
        return apply(op, as_tensor(x))
    build.__name__ = op.name
    build.__doc__ = doc
    return function(build)


erfc = _unary(ERFC, "Complementary error function 1 - erf(x), accurate where erf(x) is near 1 "
              "(scipy.special.erfc).")
gammaln = _unary(GAMMALN, "log|Gamma(x)| without overflow (scipy.special.gammaln); its gradient "
                 "is digamma.")
digamma = _unary(DIGAMMA, "The logarithmic derivative of Gamma (scipy.special.digamma); its "
                 "gradient is polygamma(1, x).")
logit = _unary(LOGIT, "log(p / (1 - p)), the inverse of expit (scipy.special.logit).")
log_ndtr = _unary(LOG_NDTR, "log of the standard normal CDF, finite for large negative x "
                  "(scipy.special.log_ndtr).")


@function
def polygamma(n: Any, x: Any) -> Node:
    """The n-th derivative of digamma (scipy.special.polygamma), n a static int >= 0."""
    order = check_static_int(n, "polygamma's order n")
    if order < 0:
        raise ShapeError(f"polygamma's order n must be >= 0, got {order}")
    if order == 0:
        return digamma(x)
    return apply(POLYGAMMA, as_tensor(x), n=order)


@function
def xlogy(x: Any, y: Any) -> Node:
    """x * log(y), 0 where x == 0 even at y == 0 (scipy.special.xlogy); broadcasts."""
    return apply(XLOGY, as_tensor(x), as_tensor(y))


__all__ = ["digamma", "erfc", "gammaln", "log_ndtr", "logit", "polygamma", "xlogy"]
