"""exp, expm1, log and log1p, each written once for both precisions.

Owns: the reductions and polynomials of the exponential and the logarithm,
and the kernels built from them alone. Imports: numpy, precision.
activation.py composes these cores into tanh, sigmoid and softplus.

`P` (the constants), `FLOAT` and `INT` are read as module globals; as written
they are float64's, and generate.py specialises them per precision, so the
float32 kernels are this same code with F32's constants. The rules
that keep the kernels vectorizable are in transcendental/__init__.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .precision import F64

P = F64
FLOAT: Any = np.float64
INT: Any = np.int64


def poly(x: Any, coefficients: tuple[Any, ...]) -> Any:
    """Horner's rule, highest degree first; LLVM unrolls the constant-length loop."""
    q = coefficients[0]
    for c in coefficients[1:]:
        q = q * x + c
    return q


def round_ln2(x: Any) -> tuple[Any, Any]:
    """(k as a float, k as an int) for k = round(x / ln2), by the shift trick (no conversion)."""
    t = x * P.INV_LN2 + P.ROUND_SHIFT
    return t - P.ROUND_SHIFT, FLOAT(t).view(INT) - P.ROUND_SHIFT_BITS


def power2(k: Any) -> Any:
    """2**k for k in the normal exponent range, from the exponent bits."""
    return INT((k + P.EXP_BIAS) << P.MANT_BITS).view(FLOAT)


def exp_core(x: Any) -> Any:
    """e**x for |x| <= EXP_CLAMP: x = k*ln2 + r, e**r by Taylor, times 2**k.

    2**k is applied in two halves, 2**(k//2) * 2**(k - k//2), so that denormal
    results are rounded once and overflow gives inf.
    """
    kd, k = round_ln2(x)
    r = (x - kd * P.LN2_HI) - kd * P.LN2_LO  # Cody-Waite: kd*LN2_HI is exact
    p = P.ONE + (r + r * r * poly(r, P.EXP_POLY))
    k1 = k >> 1
    return (p * power2(k1)) * power2(k - k1)


def expm1_core(x: Any) -> tuple[Any, Any]:
    """(p, k) with e**x - 1 = 2**k * p + (2**k - 1), for clamped x.

    The polynomial keeps expm1(r) = r + r*r*(1/2 + r/6 + ...) without its
    leading 1 (no cancellation for small x), and the rounding error c of r
    is added back to first order.
    """
    kd, k = round_ln2(x)
    hi = x - kd * P.LN2_HI
    lo = kd * P.LN2_LO
    r = hi - lo
    c = (hi - r) - lo  # r + c = hi - lo to double-length accuracy
    p = r + r * r * poly(r, P.EXPM1_POLY)
    return p + (c + c * p), k  # expm1(r + c) ~ expm1(r) + c * e**r


def log_core(u: Any, c: Any, k0: Any) -> Any:
    """log(u) + c/u for normal positive u (c: a rounding error to add back).

    u = 2**k * m with m in [sqrt(2)/2, sqrt(2)) by integer arithmetic on the
    bits; f = m - 1, s = f/(2+f); log(1+f) = f - f*f/2 + s*(f*f/2 + R(s*s)).
    `k0` corrects k for a pre-scaled denormal.
    """
    iu = FLOAT(u).view(INT) + P.LOG_OFFSET_BITS
    k = (iu >> P.MANT_BITS) - P.EXP_BIAS + k0
    m = INT((iu & P.MANT_MASK) + P.SQRT_HALF_BITS).view(FLOAT)
    f = m - P.ONE
    s = np.divide(f, P.TWO + f)
    z = s * s
    w = z * z
    big_r = z * poly(w, P.LOG_ODD) + w * poly(w, P.LOG_EVEN)
    hfsq = P.HALF * f * f
    dk = FLOAT(k)
    return s * (hfsq + big_r) + (dk * P.LOG_LN2_LO + c) - hfsq + f + dk * P.LOG_LN2_HI


def log1p_correction(x: Any, u: Any) -> Any:
    """The rounding error of u = fl(1 + x), divided by u (0 once it cannot matter)."""
    k = ((FLOAT(u).view(INT) + P.LOG_OFFSET_BITS) >> P.MANT_BITS) - P.EXP_BIAS
    c = (P.ONE - (u - x)) if k >= 2 else (x - (u - P.ONE))
    c = np.divide(c, u)
    return P.ZERO if k >= P.LOG1P_BIG_K else c


def exp(x: Any) -> Any:
    """e**x, <= 1 ulp. The clamp lets NaN through (both comparisons are false)."""
    xc = P.EXP_CLAMP if x > P.EXP_CLAMP else x
    xc = -P.EXP_CLAMP if xc < -P.EXP_CLAMP else xc
    return exp_core(xc)


def expm1(x: Any) -> Any:
    """e**x - 1, a few ulp; 2**k - 1 is exact for every k that reaches the formula."""
    xc = P.EXPM1_CLAMP_HI if x > P.EXPM1_CLAMP_HI else x
    xc = P.EXPM1_CLAMP_LO if xc < P.EXPM1_CLAMP_LO else xc
    p, k = expm1_core(xc)
    big = k > P.EXPM1_BIG_K  # 2**k would overflow: use 2**(k-2) and multiply by 4
    kk = k - 2 if big else k
    g = P.FOUR if big else P.ONE
    one_over_g = P.QUARTER if big else P.ONE
    s = power2(kk)
    y = (p * s + (s - one_over_g)) * g
    return x if abs(x) < P.EXPM1_TINY else y


def log(x: Any) -> Any:
    """Natural log, < 1 ulp (fdlibm e_log.c / musl logf.c)."""
    sub = x < P.MIN_NORMAL  # denormals: scale into the normal range, exactly
    xs = x * P.DENORMAL_SCALE if sub else x
    k0 = P.DENORMAL_K if sub else P.K_ZERO
    y = log_core(xs, -P.ZERO, k0)  # adding -0 folds away
    # Special values as selects: inf and NaN map to themselves, negatives
    # (including -inf) to NaN, +-0 to -inf.
    y = y if x < P.INF else x
    y = P.NAN if x < P.ZERO else y
    return P.NEG_INF if x == P.ZERO else y


def log1p(x: Any) -> Any:
    """log(1 + x), ~1 ulp (musl s_log1p.c with its branches made selects)."""
    u = P.ONE + x
    y = log_core(u, log1p_correction(x, u), P.K_ZERO)
    y = x if abs(x) < P.LOG1P_TINY else y  # +-0, denormals, tiny: exact
    y = y if x < P.INF else x  # +inf, NaN
    y = P.NAN if x < P.NEG_ONE else y
    return P.NEG_INF if x == P.NEG_ONE else y
