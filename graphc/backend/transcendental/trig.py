"""sin and cos: one range reduction, one pair of polynomials, four kernels.

Owns: `sin_cos` (|x| = n*pi/2 + y, then sin y and cos y) and the kernels
built on it: `sin`, `cos` (full range: libm beyond SIN_COS_MAX) and
`sin_reduced`, `cos_reduced` (NaN beyond it, fully vectorizable; codegen
counts the arguments beyond and recomputes those calls exactly).
Imports: math, numpy, precision, exp_log's `poly`.

Both precisions reduce and evaluate in float64 and round once at the end.
They differ in the algorithm, which `FDLIBM_TRIG` selects (a compile-time
global, so Numba types only one branch):

* float64, fdlibm: a 33+33+33+53-bit split of pi/2 (n * PIO2[i] exact for
  n < 2**20); each subtraction's rounding error is kept with Knuth's TwoSum
  (fdlibm branches on the cancellation instead), giving y = y0 + y1 to ~150
  bits for |x| <= 2**19 * pi/2; then k_sin.c / k_cos.c with the tail y1.
* float32, musl sinf/cosf: a 25+53-bit pi/2 (exact for |x| < 2**28 * pi/2),
  short polynomials; a float32 reduction would need 4 parts and hold only to
  |x| ~ 1e5.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .exp_log import poly
from .precision import F64, f64_bits

P = F64
FLOAT: Any = np.float64
FDLIBM_TRIG = True
INV_PIO2 = f64_bits(0x3FE45F306DC9C883)  # 2/pi
SHIFT = 6755399441055744.0  # 1.5 * 2**52: round to an integer (see precision.py)
SHIFT_BITS = 0x4338000000000000


def reduce_fdlibm(ax: float, fn: float) -> tuple[float, float]:
    """y0 + y1 = ax - fn*pi/2 to ~150 bits (fdlibm's 'medium' case, branch-free)."""
    r1 = ax - fn * P.PIO2[0]  # exact
    w2 = fn * P.PIO2[1]
    r2 = r1 - w2
    bb = r2 - r1
    e2 = (r1 - (r2 - bb)) + (-w2 - bb)  # TwoSum: r1 - w2 = r2 + e2 exactly
    w3 = fn * P.PIO2[2]
    r3 = r2 - w3
    bb = r3 - r2
    e3 = (r2 - (r3 - bb)) + (-w3 - bb)
    tail = (e2 + e3) - fn * P.PIO2[3]
    y0 = r3 + tail
    return y0, (r3 - y0) + tail


def sin_cos(ax: float) -> tuple[Any, float, float]:
    """(n, sin y, cos y) with ax = n*pi/2 + y, |y| <= pi/4, for 0 <= ax <= SIN_COS_MAX."""
    t = ax * INV_PIO2 + SHIFT
    fn = t - SHIFT
    n = np.float64(t).view(np.int64) - SHIFT_BITS
    if FDLIBM_TRIG:
        y0, y1 = reduce_fdlibm(ax, fn)
        z = y0 * y0
        v = z * y0
        sin_y = y0 - ((z * (0.5 * y1 - v * poly(z, P.SIN_POLY[:-1])) - y1) - v * P.SIN_POLY[-1])
        hz = 0.5 * z
        one_m_hz = 1.0 - hz
        rc = z * poly(z, P.COS_POLY)
        cos_y = one_m_hz + (((1.0 - one_m_hz) - hz) + (z * rc - y0 * y1))
        return n, sin_y, cos_y
    y = (ax - fn * P.PIO2[0]) - fn * P.PIO2[1]
    z = y * y
    w = z * z
    sin_y = (y + z * y * poly(z, P.SIN_POLY[2:])) + z * y * w * poly(z, P.SIN_POLY[:2])
    cos_y = ((1.0 + z * P.COS_POLY[3]) + w * P.COS_POLY[2]) + (w * z) * poly(z, P.COS_POLY[:2])
    return n, sin_y, cos_y


def sin_in_range(xd: float, ax: float) -> float:
    """sin(xd) for |xd| = ax <= SIN_COS_MAX: sin(y + n*pi/2) = sin y, cos y, -sin y, -cos y."""
    n, sin_y, cos_y = sin_cos(ax)
    res = cos_y if (n & 1) != 0 else sin_y
    res = -res if (n & 2) != 0 else res
    res = -res if xd < 0.0 else res
    return xd if ax < P.SIN_TINY else res  # sin(x) rounds to x: keeps -0


def cos_in_range(ax: float) -> float:
    """cos(ax) for ax <= SIN_COS_MAX: cos(y + n*pi/2) = cos y, -sin y, -cos y, sin y."""
    n, sin_y, cos_y = sin_cos(ax)
    res = sin_y if (n & 1) != 0 else cos_y
    return -res if ((n + 1) & 2) != 0 else res


def sin(x: Any) -> Any:
    """sin, < 1 ulp over the whole range.

    Beyond SIN_COS_MAX (and for inf/NaN) libm's sin (Payne-Hanek). LLVM
    if-converts that branch and calls libm on *every* lane, so a loop over
    `sin` is no faster than math.sin: fast loops use `sin_reduced`.
    """
    xd = np.float64(x)
    ax = abs(xd)
    res = sin_in_range(xd, ax)
    if ax > P.SIN_COS_MAX:  # huge, inf or NaN
        res = math.sin(xd)
    return FLOAT(res)


def cos(x: Any) -> Any:
    """cos, < 1 ulp over the whole range (libm beyond SIN_COS_MAX, as `sin`)."""
    xd = np.float64(x)
    ax = abs(xd)
    res = cos_in_range(ax)
    if ax > P.SIN_COS_MAX:
        res = math.cos(xd)
    return FLOAT(res)


def sin_reduced(x: Any) -> Any:
    """`sin` for |x| <= SIN_COS_MAX, NaN beyond (so a missing fix-up fails loudly)."""
    xd = np.float64(x)
    ax = abs(xd)
    res = sin_in_range(xd, ax)
    return FLOAT(res if ax <= P.SIN_COS_MAX else math.nan)


def cos_reduced(x: Any) -> Any:
    """`cos` for |x| <= SIN_COS_MAX, NaN beyond."""
    ax = abs(np.float64(x))
    res = cos_in_range(ax)
    return FLOAT(res if ax <= P.SIN_COS_MAX else math.nan)
