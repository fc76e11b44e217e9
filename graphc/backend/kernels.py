"""Vectorizable elementary-function kernels for graphc's fused Numba loops.

What this module owns
---------------------
Scalar implementations of exp, log, log1p, expm1, tanh, sigmoid, softplus,
sin and cos, one plain Python function per (function, precision):
``exp_f64``, ``exp_f32``, ... ``cos_f32``.  The generated code calls them from
inside fused loops after wrapping them with ``numba.njit(inline="always")`` (or
plain ``numba.njit``).  This module deliberately does not import numba.

Why it exists
-------------
Numba lowers ``math.exp`` and friends to scalar libm calls (6-29 ns per
element; ``fastmath`` does not help, and the registry's llvmlite is not SVML
patched), while NumPy's SIMD ufuncs need 1-2 ns.  LLVM's loop vectorizer can
only vectorize a loop whose body is straight-line arithmetic.  So every kernel
here is written as:

* range reduction (Cody-Waite: subtract ``k * C`` with ``C`` split into a
  short "hi" part, whose products with ``k`` are exact, and a "lo" part),
* a fixed polynomial (Taylor, or the fdlibm/musl minimax coefficients),
* reconstruction by integer arithmetic on the IEEE-754 bit pattern
  (``np.float64(x).view(np.int64)`` on scalars compiles to a bitcast),
* special cases (inf, NaN, 0, denormals, overflow) handled by *selects*
  (``a if cond else b`` with cheap operands), never by early returns, calls
  or loops.

Rules every kernel follows so that it vectorizes and types correctly:

* No calls to other functions of this module (numba cannot call plain Python
  functions), so composite kernels (tanh, sigmoid, softplus) repeat the core
  of exp/expm1/log1p inline.
* Division goes through ``np.divide``: under Numba's default
  ``error_model="python"`` the ``/`` operator inserts a ZeroDivisionError
  check whose branch stops vectorization.
* ``*_f32`` kernels use only ``np.float32`` constants (a Python float literal
  would promote the whole expression to float64) and return float32.
* Clamps are written as ``C if x > C else x`` so that NaN (all comparisons
  false) passes through unchanged.

Accuracy (max error over the whole float range, measured by
``tests/test_kernels.py`` against long double / float64 references) and speed
are recorded in ``docs/kernels.md``.  The one exception to "no calls": sin/cos
of arguments beyond the Cody-Waite range (|x| > 2**19 * pi/2 for float64,
|x| > 2**28 * pi/2 for float32) fall back to libm.  LLVM then calls libm on
every vector lane, so fast loops should use ``sin_reduced_*``/``cos_reduced_*``
(NaN beyond the range) plus a scalar fix-up pass; see ``sin_f64``.
"""

from __future__ import annotations

import math
import struct

import numpy as np


def _f64_from_bits(bits: int) -> float:
    """The float64 whose IEEE-754 bit pattern is ``bits`` (exact constants)."""
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def _f32_from_bits(bits: int) -> np.float32:
    """The float32 whose IEEE-754 bit pattern is ``bits``."""
    return np.float32(struct.unpack("<f", struct.pack("<I", bits))[0])


# ---------------------------------------------------------------------------
# float64 constants
# ---------------------------------------------------------------------------
INF = math.inf
NEG_INF = -math.inf
NAN = math.nan

INV_LN2 = 1.4426950408889634  # 1/ln(2) rounded to double
# ln(2) split for Cody-Waite (fdlibm): LN2_HI has 32 significant bits, so
# k * LN2_HI is exact for |k| < 2**21.
LN2_HI = _f64_from_bits(0x3FE62E42FEE00000)  # 6.93147180369123816490e-01
LN2_LO = _f64_from_bits(0x3DEA39EF35793C76)  # 1.90821492927058770002e-10

# Adding 1.5 * 2**52 to |t| < 2**51 rounds t to an integer (round-to-nearest
# mode) and leaves that integer in the low mantissa bits: the bit pattern of
# (t + SHIFT) minus the bit pattern of SHIFT *is* round(t) as an int64.
ROUND_SHIFT = 6755399441055744.0  # 1.5 * 2**52
ROUND_SHIFT_BITS = 0x4338000000000000  # bits of ROUND_SHIFT
EXP_BIAS = 1023
MANT_BITS = 52
TWO54 = 18014398509481984.0  # 2**54, scales denormals into the normal range
MIN_NORMAL = 2.2250738585072014e-308  # 2**-1022

# exp clamp: exp(x) overflows for x > 709.78 and underflows to 0 for
# x < -745.13; clamping to +-1000 keeps |k| <= 1443 so 2**k can be built as
# 2**(k//2) * 2**(k - k//2) from two normal numbers.
EXP_CLAMP = 1000.0

# Taylor coefficients 1/n! of exp, n = 2..13.  On |r| <= ln(2)/2 the
# truncation error r**14/14! < 4.2e-18 (0.02 ulp of 1).
EXP_C2 = 1.0 / 2.0
EXP_C3 = 1.0 / 6.0
EXP_C4 = 1.0 / 24.0
EXP_C5 = 1.0 / 120.0
EXP_C6 = 1.0 / 720.0
EXP_C7 = 1.0 / 5040.0
EXP_C8 = 1.0 / 40320.0
EXP_C9 = 1.0 / 362880.0
EXP_C10 = 1.0 / 3628800.0
EXP_C11 = 1.0 / 39916800.0
EXP_C12 = 1.0 / 479001600.0
EXP_C13 = 1.0 / 6227020800.0

# log: fdlibm e_log.c minimax coefficients of
#   R(z) ~ (log(1+f) - 2s)/s - s*s, s = f/(2+f), z = s*s,  |error| < 2**-58.45
LG1 = _f64_from_bits(0x3FE5555555555593)  # 6.666666666666735130e-01
LG2 = _f64_from_bits(0x3FD999999997FA04)  # 3.999999999940941908e-01
LG3 = _f64_from_bits(0x3FD2492494229359)  # 2.857142874366239149e-01
LG4 = _f64_from_bits(0x3FCC71C51D8E78AF)  # 2.222219843214978396e-01
LG5 = _f64_from_bits(0x3FC7466496CB03DE)  # 1.818357216161805012e-01
LG6 = _f64_from_bits(0x3FC39A09D078C69F)  # 1.531383769920937332e-01
LG7 = _f64_from_bits(0x3FC2F112DF3E5244)  # 1.479819860511658591e-01
# Reducing x = 2**k * m with m in [sqrt(2)/2, sqrt(2)) (musl trick): add
# (bits(1.0) - bits(sqrt(2)/2)) so that the exponent field rolls over at
# sqrt(2)/2 instead of at 1.0, read k, then put the mantissa back.
SQRT_HALF_HI_BITS = 0x3FE6A09E00000000  # high word of sqrt(2)/2, as int64
LOG_OFFSET_BITS = 0x3FF0000000000000 - SQRT_HALF_HI_BITS
MANT_MASK = 0x000FFFFFFFFFFFFF

# ---------------------------------------------------------------------------
# float32 constants (all np.float32 so Numba keeps the arithmetic in float32)
# ---------------------------------------------------------------------------
F32_ZERO = np.float32(0.0)
F32_HALF = np.float32(0.5)
F32_ONE = np.float32(1.0)
F32_TWO = np.float32(2.0)
F32_INF = np.float32(np.inf)
F32_NEG_INF = np.float32(-np.inf)
F32_NAN = np.float32(np.nan)

INV_LN2_F32 = np.float32(1.4426950408889634)
# ln(2) split for float32 (musl expf/logf): LN2_HI_F32 = 0x3f317200 has 15
# significant bits, so k * LN2_HI_F32 is exact for |k| < 2**9.
LN2_HI_F32 = _f32_from_bits(0x3F317200)  # 6.9314575195e-01
LN2_LO_F32 = _f32_from_bits(0x35BFBE8E)  # 1.4286067653e-06
ROUND_SHIFT_F32 = np.float32(12582912.0)  # 1.5 * 2**23
ROUND_SHIFT_BITS_F32 = np.int32(0x4B400000)
EXP_BIAS_F32 = np.int32(127)
MANT_BITS_F32 = np.int32(23)
TWO25_F32 = np.float32(33554432.0)  # 2**25
MIN_NORMAL_F32 = np.float32(1.1754943508222875e-38)  # 2**-126
# expf clamp: overflow above 88.72, zero below -103.97; +-150 keeps
# |k| <= 217 so 2**(k//2) and 2**(k - k//2) stay normal.
EXP_CLAMP_F32 = np.float32(150.0)
# Taylor 1/n!, n = 2..7: truncation error r**8/8! < 5.2e-9 (0.09 ulp of 1).
EXP_C2_F32 = np.float32(1.0 / 2.0)
EXP_C3_F32 = np.float32(1.0 / 6.0)
EXP_C4_F32 = np.float32(1.0 / 24.0)
EXP_C5_F32 = np.float32(1.0 / 120.0)
EXP_C6_F32 = np.float32(1.0 / 720.0)
EXP_C7_F32 = np.float32(1.0 / 5040.0)

# logf: musl logf.c minimax coefficients, |error| < 2**-34.24
LG1_F32 = np.float32(0xAAAAAA * 2.0**-24)  # 0.66666662693
LG2_F32 = np.float32(0xCCCE13 * 2.0**-25)  # 0.40000972152
LG3_F32 = np.float32(0x91E9EE * 2.0**-25)  # 0.28498786688
LG4_F32 = np.float32(0xF89E26 * 2.0**-26)  # 0.24279078841
# musl logf's ln(2) split (hi has 16 significant bits; |k| <= 150)
LOG_LN2_HI_F32 = _f32_from_bits(0x3F317180)  # 6.9313812256e-01
LOG_LN2_LO_F32 = _f32_from_bits(0x3717F7D1)  # 9.0580006145e-06
SQRT_HALF_BITS_F32 = np.int32(0x3F3504F3)  # sqrt(2)/2 as float32 bits
LOG_OFFSET_BITS_F32 = np.int32(0x3F800000 - 0x3F3504F3)
MANT_MASK_F32 = np.int32(0x007FFFFF)


# ===========================================================================
# exp
# ===========================================================================
def exp_f64(x: float) -> float:
    """e**x for float64, <= 1 ulp, vectorizable.

    exp(x) = 2**k * exp(r),  k = round(x/ln2),  r = x - k*ln2 in [-ln2/2, ln2/2]
    with Cody-Waite reduction and a degree-13 Taylor polynomial.  2**k is
    built from the exponent bits in two halves so that denormal results are
    rounded only once and overflow yields inf.
    """
    # Clamp; NaN fails both comparisons and flows through to the result.
    xc = EXP_CLAMP if x > EXP_CLAMP else x
    xc = -EXP_CLAMP if xc < -EXP_CLAMP else xc
    # k = round(x / ln2), both as a float (kd) and as an int (k).
    t = xc * INV_LN2 + ROUND_SHIFT
    kd = t - ROUND_SHIFT
    k = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    # Cody-Waite: kd*LN2_HI is exact and so is the subtraction.
    r = (xc - kd * LN2_HI) - kd * LN2_LO
    q = EXP_C13
    q = q * r + EXP_C12
    q = q * r + EXP_C11
    q = q * r + EXP_C10
    q = q * r + EXP_C9
    q = q * r + EXP_C8
    q = q * r + EXP_C7
    q = q * r + EXP_C6
    q = q * r + EXP_C5
    q = q * r + EXP_C4
    q = q * r + EXP_C3
    q = q * r + EXP_C2
    p = 1.0 + (r + r * r * q)
    # Scale by 2**k = 2**k1 * 2**k2; the first product is exact.
    k1 = k >> 1
    k2 = k - k1
    s1 = np.int64((k1 + EXP_BIAS) << MANT_BITS).view(np.float64)
    s2 = np.int64((k2 + EXP_BIAS) << MANT_BITS).view(np.float64)
    return (p * s1) * s2


def exp_f32(x: np.float32) -> np.float32:
    """e**x for float32, computed in float32 (same method as exp_f64)."""
    xc = EXP_CLAMP_F32 if x > EXP_CLAMP_F32 else x
    xc = -EXP_CLAMP_F32 if xc < -EXP_CLAMP_F32 else xc
    t = xc * INV_LN2_F32 + ROUND_SHIFT_F32
    kd = t - ROUND_SHIFT_F32
    k = np.float32(t).view(np.int32) - ROUND_SHIFT_BITS_F32
    r = (xc - kd * LN2_HI_F32) - kd * LN2_LO_F32
    q = EXP_C7_F32
    q = q * r + EXP_C6_F32
    q = q * r + EXP_C5_F32
    q = q * r + EXP_C4_F32
    q = q * r + EXP_C3_F32
    q = q * r + EXP_C2_F32
    p = F32_ONE + (r + r * r * q)
    k1 = k >> 1
    k2 = k - k1
    s1 = np.int32((k1 + EXP_BIAS_F32) << MANT_BITS_F32).view(np.float32)
    s2 = np.int32((k2 + EXP_BIAS_F32) << MANT_BITS_F32).view(np.float32)
    return (p * s1) * s2


# ===========================================================================
# log
# ===========================================================================
def log_f64(x: float) -> float:
    """Natural log for float64, < 1 ulp (fdlibm/musl e_log.c), vectorizable.

    x = 2**k * m, m in [sqrt(2)/2, sqrt(2)), f = m - 1, s = f/(2+f):
    log(1+f) = f - f*f/2 + s*(f*f/2 + R(s*s)) with the fdlibm minimax R.
    """
    # Denormals: scale into the normal range first (exact), fix k later.
    sub = x < MIN_NORMAL
    xs = x * TWO54 if sub else x
    k0 = -54 if sub else 0
    ix = np.float64(xs).view(np.int64) + LOG_OFFSET_BITS
    k = (ix >> MANT_BITS) - EXP_BIAS + k0
    m = np.int64((ix & MANT_MASK) + SQRT_HALF_HI_BITS).view(np.float64)
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = np.divide(f, 2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    big_r = t2 + t1
    dk = np.float64(k)
    y = s * (hfsq + big_r) + dk * LN2_LO - hfsq + f + dk * LN2_HI
    # Special values, as selects: inf and NaN map to themselves, negatives
    # (including -inf) to NaN, +-0 to -inf.
    y = y if x < INF else x
    y = NAN if x < 0.0 else y
    y = NEG_INF if x == 0.0 else y
    return y


def log_f32(x: np.float32) -> np.float32:
    """Natural log for float32, computed in float32 (musl logf.c)."""
    sub = x < MIN_NORMAL_F32
    xs = x * TWO25_F32 if sub else x
    k0 = np.int32(-25) if sub else np.int32(0)
    ix = np.float32(xs).view(np.int32) + LOG_OFFSET_BITS_F32
    k = (ix >> MANT_BITS_F32) - EXP_BIAS_F32 + k0
    m = np.int32((ix & MANT_MASK_F32) + SQRT_HALF_BITS_F32).view(np.float32)
    f = m - F32_ONE
    s = np.divide(f, F32_TWO + f)
    z = s * s
    w = z * z
    t1 = w * (LG2_F32 + w * LG4_F32)
    t2 = z * (LG1_F32 + w * LG3_F32)
    big_r = t2 + t1
    hfsq = F32_HALF * f * f
    dk = np.float32(k)
    y = s * (hfsq + big_r) + dk * LOG_LN2_LO_F32 - hfsq + f + dk * LOG_LN2_HI_F32
    y = y if x < F32_INF else x
    y = F32_NAN if x < F32_ZERO else y
    y = F32_NEG_INF if x == F32_ZERO else y
    return y


# ===========================================================================
# log1p
# ===========================================================================
LOG1P_TINY = 2.0**-54  # |x| below this: log1p(x) rounds to x (keeps -0)
LOG1P_TINY_F32 = np.float32(2.0**-25)
NEG_ONE_F32 = np.float32(-1.0)


def log1p_f64(x: float) -> float:
    """log(1 + x) for float64, ~1 ulp, vectorizable (fdlibm/musl s_log1p.c).

    u = fl(1 + x) is reduced like log_f64; the rounding error of 1 + x is
    recovered exactly as c = x - (u - 1) (or 1 - (u - x) when u >= 4) and
    added back to first order as c/u.  musl's branches are replaced by
    selects: every element takes the same path.
    """
    u = 1.0 + x
    iu = np.float64(u).view(np.int64) + LOG_OFFSET_BITS
    k = (iu >> MANT_BITS) - EXP_BIAS
    # correction term ~ log(1+x) - log(u); irrelevant once u >= 2**54
    c = (1.0 - (u - x)) if k >= 2 else (x - (u - 1.0))
    c = np.divide(c, u)
    c = 0.0 if k >= 54 else c
    m = np.int64((iu & MANT_MASK) + SQRT_HALF_HI_BITS).view(np.float64)
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = np.divide(f, 2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    big_r = t2 + t1
    dk = np.float64(k)
    y = s * (hfsq + big_r) + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI
    y = x if abs(x) < LOG1P_TINY else y  # +-0, denormals, tiny: exact
    y = y if x < INF else x  # +inf, NaN
    y = NAN if x < -1.0 else y
    y = NEG_INF if x == -1.0 else y
    return y


def log1p_f32(x: np.float32) -> np.float32:
    """log(1 + x) for float32, computed in float32 (musl log1pf.c)."""
    u = F32_ONE + x
    iu = np.float32(u).view(np.int32) + LOG_OFFSET_BITS_F32
    k = (iu >> MANT_BITS_F32) - EXP_BIAS_F32
    c = (F32_ONE - (u - x)) if k >= 2 else (x - (u - F32_ONE))
    c = np.divide(c, u)
    c = F32_ZERO if k >= 25 else c
    m = np.int32((iu & MANT_MASK_F32) + SQRT_HALF_BITS_F32).view(np.float32)
    f = m - F32_ONE
    s = np.divide(f, F32_TWO + f)
    z = s * s
    w = z * z
    t1 = w * (LG2_F32 + w * LG4_F32)
    t2 = z * (LG1_F32 + w * LG3_F32)
    big_r = t2 + t1
    hfsq = F32_HALF * f * f
    dk = np.float32(k)
    y = s * (hfsq + big_r) + (dk * LOG_LN2_LO_F32 + c) - hfsq + f + dk * LOG_LN2_HI_F32
    y = x if abs(x) < LOG1P_TINY_F32 else y
    y = y if x < F32_INF else x
    y = F32_NAN if x < NEG_ONE_F32 else y
    y = F32_NEG_INF if x == NEG_ONE_F32 else y
    return y


# ===========================================================================
# expm1
# ===========================================================================
EXPM1_TINY = 2.0**-54  # |x| below this: expm1(x) rounds to x (keeps -0)
EXPM1_CLAMP_LO = -45.0  # exp(-45) < 2**-64: expm1 rounds to -1 below
EXPM1_CLAMP_HI = 710.0  # overflows to inf above 709.78
EXPM1_BIG_K = 1000  # for k > this, scale by 2**(k-2) * 4 (2**1024 is inf)
EXPM1_TINY_F32 = np.float32(2.0**-25)
EXPM1_CLAMP_LO_F32 = np.float32(-30.0)
EXPM1_CLAMP_HI_F32 = np.float32(89.0)  # k <= 128
EXPM1_BIG_K_F32 = 64
F32_QUARTER = np.float32(0.25)
F32_FOUR = np.float32(4.0)
# Taylor 1/n!, n = 2..8 for the float32 expm1 polynomial (r**8/9! < 6e-10)
EXP_C8_F32 = np.float32(1.0 / 40320.0)


def expm1_f64(x: float) -> float:
    """e**x - 1 for float64, a few ulp, vectorizable.

    Same reduction as exp_f64, x = k*ln2 + r, but the polynomial keeps
    expm1(r) = r + r*r*(1/2 + r/6 + ...) without its leading 1 (no
    cancellation for small x), the rounding error of r (fdlibm's "c") is added
    back to first order, and expm1(x) = 2**k * expm1(r) + (2**k - 1), where
    2**k - 1 is exact for the k (> -54) that reach this formula.
    """
    xc = EXPM1_CLAMP_HI if x > EXPM1_CLAMP_HI else x
    xc = EXPM1_CLAMP_LO if xc < EXPM1_CLAMP_LO else xc
    t = xc * INV_LN2 + ROUND_SHIFT
    kd = t - ROUND_SHIFT
    k = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    hi = xc - kd * LN2_HI
    lo = kd * LN2_LO
    r = hi - lo
    c = (hi - r) - lo  # r + c = hi - lo to double-double accuracy
    q = EXP_C13
    q = q * r + EXP_C12
    q = q * r + EXP_C11
    q = q * r + EXP_C10
    q = q * r + EXP_C9
    q = q * r + EXP_C8
    q = q * r + EXP_C7
    q = q * r + EXP_C6
    q = q * r + EXP_C5
    q = q * r + EXP_C4
    q = q * r + EXP_C3
    q = q * r + EXP_C2
    p = r + r * r * q
    p = p + (c + c * p)  # expm1(r + c) ~ expm1(r) + c * exp(r)
    # 2**k would overflow for k = 1024: use 2**(k-2) and multiply by 4.
    big = k > EXPM1_BIG_K
    kk = k - 2 if big else k
    g = 4.0 if big else 1.0
    one_over_g = 0.25 if big else 1.0
    s = np.int64((kk + EXP_BIAS) << MANT_BITS).view(np.float64)
    y: float = (p * s + (s - one_over_g)) * g
    y = x if abs(x) < EXPM1_TINY else y
    return y


def expm1_f32(x: np.float32) -> np.float32:
    """e**x - 1 for float32, computed in float32 (method of expm1_f64)."""
    xc = EXPM1_CLAMP_HI_F32 if x > EXPM1_CLAMP_HI_F32 else x
    xc = EXPM1_CLAMP_LO_F32 if xc < EXPM1_CLAMP_LO_F32 else xc
    t = xc * INV_LN2_F32 + ROUND_SHIFT_F32
    kd = t - ROUND_SHIFT_F32
    k = np.float32(t).view(np.int32) - ROUND_SHIFT_BITS_F32
    hi = xc - kd * LN2_HI_F32
    lo = kd * LN2_LO_F32
    r = hi - lo
    c = (hi - r) - lo
    q = EXP_C8_F32
    q = q * r + EXP_C7_F32
    q = q * r + EXP_C6_F32
    q = q * r + EXP_C5_F32
    q = q * r + EXP_C4_F32
    q = q * r + EXP_C3_F32
    q = q * r + EXP_C2_F32
    p = r + r * r * q
    p = p + (c + c * p)
    big = k > EXPM1_BIG_K_F32
    kk = k - 2 if big else k
    g = F32_FOUR if big else F32_ONE
    one_over_g = F32_QUARTER if big else F32_ONE
    s = np.int32((kk + EXP_BIAS_F32) << MANT_BITS_F32).view(np.float32)
    y = (p * s + (s - one_over_g)) * g
    y = x if abs(x) < EXPM1_TINY_F32 else y
    return y


# ===========================================================================
# tanh, sigmoid, softplus: built on the exp/expm1/log1p cores above, which
# are repeated inline (see "Rules" in the module docstring).
# ===========================================================================
TANH_TINY = 2.0**-28  # tanh(x) rounds to x below (x**3/3 < half an ulp)
TANH_SAT = 20.0  # tanh(x) rounds to 1 above 19.06
TANH_TINY_F32 = np.float32(2.0**-13)
TANH_SAT_F32 = np.float32(10.0)  # tanh(x) rounds to 1 above 9.01


def tanh_f64(x: float) -> float:
    """tanh for float64, a few ulp, vectorizable (fdlibm s_tanh.c method).

    With a = |x| and t = expm1(+-2a):  tanh(a) = -t/(t+2), t = expm1(-2a)
    for a < 1 (no cancellation), and 1 - 2/(t+2), t = expm1(2a) for a >= 1.
    Both cases share one expm1 evaluation (inlined) and one division.
    """
    ax = abs(x)
    ax = TANH_SAT if ax > TANH_SAT else ax
    big = ax >= 1.0
    a = 2.0 * ax if big else -2.0 * ax  # in [-2, 40]: no clamp needed
    # --- expm1(a), as in expm1_f64 (k in [-3, 58]) ---
    t = a * INV_LN2 + ROUND_SHIFT
    kd = t - ROUND_SHIFT
    k = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    hi = a - kd * LN2_HI
    lo = kd * LN2_LO
    r = hi - lo
    c = (hi - r) - lo
    q = EXP_C13
    q = q * r + EXP_C12
    q = q * r + EXP_C11
    q = q * r + EXP_C10
    q = q * r + EXP_C9
    q = q * r + EXP_C8
    q = q * r + EXP_C7
    q = q * r + EXP_C6
    q = q * r + EXP_C5
    q = q * r + EXP_C4
    q = q * r + EXP_C3
    q = q * r + EXP_C2
    p = r + r * r * q
    p = p + (c + c * p)
    s = np.int64((k + EXP_BIAS) << MANT_BITS).view(np.float64)
    em1 = p * s + (s - 1.0)
    # --- tanh from expm1 ---
    num = 2.0 if big else -em1
    z = np.divide(num, em1 + 2.0)
    z = 1.0 - z if big else z
    y = -z if x < 0.0 else z
    y = x if ax < TANH_TINY else y  # +-0, denormals, tiny
    return y


def tanh_f32(x: np.float32) -> np.float32:
    """tanh for float32, computed in float32 (method of tanh_f64)."""
    ax = abs(x)
    ax = TANH_SAT_F32 if ax > TANH_SAT_F32 else ax
    big = ax >= F32_ONE
    a = F32_TWO * ax if big else -F32_TWO * ax
    t = a * INV_LN2_F32 + ROUND_SHIFT_F32
    kd = t - ROUND_SHIFT_F32
    k = np.float32(t).view(np.int32) - ROUND_SHIFT_BITS_F32
    hi = a - kd * LN2_HI_F32
    lo = kd * LN2_LO_F32
    r = hi - lo
    c = (hi - r) - lo
    q = EXP_C8_F32
    q = q * r + EXP_C7_F32
    q = q * r + EXP_C6_F32
    q = q * r + EXP_C5_F32
    q = q * r + EXP_C4_F32
    q = q * r + EXP_C3_F32
    q = q * r + EXP_C2_F32
    p = r + r * r * q
    p = p + (c + c * p)
    s = np.int32((k + EXP_BIAS_F32) << MANT_BITS_F32).view(np.float32)
    em1 = p * s + (s - F32_ONE)
    num = F32_TWO if big else -em1
    z = np.divide(num, em1 + F32_TWO)
    z = F32_ONE - z if big else z
    y = -z if x < F32_ZERO else z
    y = x if ax < TANH_TINY_F32 else y
    return y


def sigmoid_f64(x: float) -> float:
    """1/(1 + exp(-x)) for float64, stable for all x, vectorizable.

    With e = exp(-|x|) in [0, 1] (never overflows): 1/(1+e) for x >= 0 and
    e/(1+e) for x < 0, so tiny results keep full relative accuracy.
    """
    # --- e = exp(-|x|), as in exp_f64 ---
    xc = -abs(x)
    xc = -EXP_CLAMP if xc < -EXP_CLAMP else xc
    t = xc * INV_LN2 + ROUND_SHIFT
    kd = t - ROUND_SHIFT
    k = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    r = (xc - kd * LN2_HI) - kd * LN2_LO
    q = EXP_C13
    q = q * r + EXP_C12
    q = q * r + EXP_C11
    q = q * r + EXP_C10
    q = q * r + EXP_C9
    q = q * r + EXP_C8
    q = q * r + EXP_C7
    q = q * r + EXP_C6
    q = q * r + EXP_C5
    q = q * r + EXP_C4
    q = q * r + EXP_C3
    q = q * r + EXP_C2
    p = 1.0 + (r + r * r * q)
    k1 = k >> 1
    k2 = k - k1
    s1 = np.int64((k1 + EXP_BIAS) << MANT_BITS).view(np.float64)
    s2 = np.int64((k2 + EXP_BIAS) << MANT_BITS).view(np.float64)
    e = (p * s1) * s2
    # --- sigmoid ---
    num = 1.0 if x >= 0.0 else e
    return np.divide(num, 1.0 + e)


def sigmoid_f32(x: np.float32) -> np.float32:
    """1/(1 + exp(-x)) for float32, computed in float32 (as sigmoid_f64)."""
    xc = -abs(x)
    xc = -EXP_CLAMP_F32 if xc < -EXP_CLAMP_F32 else xc
    t = xc * INV_LN2_F32 + ROUND_SHIFT_F32
    kd = t - ROUND_SHIFT_F32
    k = np.float32(t).view(np.int32) - ROUND_SHIFT_BITS_F32
    r = (xc - kd * LN2_HI_F32) - kd * LN2_LO_F32
    q = EXP_C7_F32
    q = q * r + EXP_C6_F32
    q = q * r + EXP_C5_F32
    q = q * r + EXP_C4_F32
    q = q * r + EXP_C3_F32
    q = q * r + EXP_C2_F32
    p = F32_ONE + (r + r * r * q)
    k1 = k >> 1
    k2 = k - k1
    s1 = np.int32((k1 + EXP_BIAS_F32) << MANT_BITS_F32).view(np.float32)
    s2 = np.int32((k2 + EXP_BIAS_F32) << MANT_BITS_F32).view(np.float32)
    e = (p * s1) * s2
    num = F32_ONE if x >= F32_ZERO else e
    return np.divide(num, F32_ONE + e)


def softplus_f64(x: float) -> float:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)) for float64.

    exp(-|x|) is in [0, 1], so it never overflows and log1p only sees
    u = 1 + e in [1, 2] (k is 0 or 1); NaN propagates through e.
    """
    # --- e = exp(-|x|), as in exp_f64 ---
    xc = -abs(x)
    xc = -EXP_CLAMP if xc < -EXP_CLAMP else xc
    t = xc * INV_LN2 + ROUND_SHIFT
    kd = t - ROUND_SHIFT
    ke = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    r = (xc - kd * LN2_HI) - kd * LN2_LO
    q = EXP_C13
    q = q * r + EXP_C12
    q = q * r + EXP_C11
    q = q * r + EXP_C10
    q = q * r + EXP_C9
    q = q * r + EXP_C8
    q = q * r + EXP_C7
    q = q * r + EXP_C6
    q = q * r + EXP_C5
    q = q * r + EXP_C4
    q = q * r + EXP_C3
    q = q * r + EXP_C2
    p = 1.0 + (r + r * r * q)
    k1 = ke >> 1
    k2 = ke - k1
    s1 = np.int64((k1 + EXP_BIAS) << MANT_BITS).view(np.float64)
    s2 = np.int64((k2 + EXP_BIAS) << MANT_BITS).view(np.float64)
    e = (p * s1) * s2
    # --- log1p(e), as in log1p_f64 (k in {0, 1}, so c = e - (u - 1)) ---
    u = 1.0 + e
    iu = np.float64(u).view(np.int64) + LOG_OFFSET_BITS
    k = (iu >> MANT_BITS) - EXP_BIAS
    c = np.divide(e - (u - 1.0), u)
    m = np.int64((iu & MANT_MASK) + SQRT_HALF_HI_BITS).view(np.float64)
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = np.divide(f, 2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    big_r = t2 + t1
    dk = np.float64(k)
    lg = s * (hfsq + big_r) + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI
    # max(x, 0) written so that NaN gives 0 here and NaN via lg
    pos = x if x > 0.0 else 0.0
    return pos + lg


def softplus_f32(x: np.float32) -> np.float32:
    """log(1 + exp(x)) for float32, computed in float32 (as softplus_f64)."""
    xc = -abs(x)
    xc = -EXP_CLAMP_F32 if xc < -EXP_CLAMP_F32 else xc
    t = xc * INV_LN2_F32 + ROUND_SHIFT_F32
    kd = t - ROUND_SHIFT_F32
    ke = np.float32(t).view(np.int32) - ROUND_SHIFT_BITS_F32
    r = (xc - kd * LN2_HI_F32) - kd * LN2_LO_F32
    q = EXP_C7_F32
    q = q * r + EXP_C6_F32
    q = q * r + EXP_C5_F32
    q = q * r + EXP_C4_F32
    q = q * r + EXP_C3_F32
    q = q * r + EXP_C2_F32
    p = F32_ONE + (r + r * r * q)
    k1 = ke >> 1
    k2 = ke - k1
    s1 = np.int32((k1 + EXP_BIAS_F32) << MANT_BITS_F32).view(np.float32)
    s2 = np.int32((k2 + EXP_BIAS_F32) << MANT_BITS_F32).view(np.float32)
    e = (p * s1) * s2
    u = F32_ONE + e
    iu = np.float32(u).view(np.int32) + LOG_OFFSET_BITS_F32
    k = (iu >> MANT_BITS_F32) - EXP_BIAS_F32
    c = np.divide(e - (u - F32_ONE), u)
    m = np.int32((iu & MANT_MASK_F32) + SQRT_HALF_BITS_F32).view(np.float32)
    f = m - F32_ONE
    s = np.divide(f, F32_TWO + f)
    z = s * s
    w = z * z
    t1 = w * (LG2_F32 + w * LG4_F32)
    t2 = z * (LG1_F32 + w * LG3_F32)
    big_r = t2 + t1
    hfsq = F32_HALF * f * f
    dk = np.float32(k)
    lg = s * (hfsq + big_r) + (dk * LOG_LN2_LO_F32 + c) - hfsq + f + dk * LOG_LN2_HI_F32
    pos = x if x > F32_ZERO else F32_ZERO
    return pos + lg


# ===========================================================================
# sin, cos
# ===========================================================================
# float64: Cody-Waite reduction with fdlibm's __rem_pio2 split of pi/2 into
# PIO2_1 + PIO2_2 + PIO2_3 (33 bits each, so n*PIO2_i is exact for
# n < 2**20) + PIO2_3T, good to ~150 bits as fdlibm's "medium" case for
# |x| <= 2**19 * pi/2; then fdlibm's __kernel_sin/__kernel_cos minimax
# polynomials on [-pi/4, pi/4].
INV_PIO2 = _f64_from_bits(0x3FE45F306DC9C883)  # 6.36619772367581382433e-01
PIO2_1 = _f64_from_bits(0x3FF921FB54400000)  # first 33 bits of pi/2
PIO2_2 = _f64_from_bits(0x3DD0B4611A600000)  # second 33 bits
PIO2_3 = _f64_from_bits(0x3BA3198A2E000000)  # third 33 bits
PIO2_3T = _f64_from_bits(0x397B839A252049C1)  # pi/2 - (PIO2_1+PIO2_2+PIO2_3)
# Beyond this the reduction above is not exact; sin/cos call libm instead.
SIN_TINY = 2.0**-27  # sin(x) rounds to x below (x**3/6 < half an ulp)
SIN_TINY_F32 = 2.0**-12
SIN_COS_MAX = 823549.0  # just below 2**19 * pi/2 = 823549.66
# fdlibm k_sin.c: |sin(x)/x - (1 + S1 x^2 + ... + S6 x^12)| < 2**-58
KS1 = _f64_from_bits(0xBFC5555555555549)  # -1.66666666666666324348e-01
KS2 = _f64_from_bits(0x3F8111111110F8A6)  # 8.33333333332248946124e-03
KS3 = _f64_from_bits(0xBF2A01A019C161D5)  # -1.98412698298579493134e-04
KS4 = _f64_from_bits(0x3EC71DE357B1FE7D)  # 2.75573137070700676789e-06
KS5 = _f64_from_bits(0xBE5AE5E68A2B9CEB)  # -2.50507602534068634195e-08
KS6 = _f64_from_bits(0x3DE5D93A5ACFD57C)  # 1.58969099521155010221e-10
# fdlibm k_cos.c: |cos(x) - (1 - x^2/2 + C1 x^4 + ... + C6 x^14)| < 2**-58
KC1 = _f64_from_bits(0x3FA555555555554C)  # 4.16666666666666019037e-02
KC2 = _f64_from_bits(0xBF56C16C16C15177)  # -1.38888888888741095749e-03
KC3 = _f64_from_bits(0x3EFA01A019CB1590)  # 2.48015872894767294178e-05
KC4 = _f64_from_bits(0xBE927E4F809C52AD)  # -2.75573143513906633035e-07
KC5 = _f64_from_bits(0x3E21EE9EBDB4B1C4)  # 2.08757232129817482790e-09
KC6 = _f64_from_bits(0xBDA8FAE9BE8838D4)  # -1.13596475577881948265e-11

# float32 (musl sinf/cosf): reduce in *float64* with a 25+53-bit pi/2
# (exact products for |x| < 2**28 * pi/2), then short float64 polynomials;
# the single rounding to float32 at the end gives < 1 ulp.  This is the one
# deliberate use of float64 inside an _f32 kernel: a pure float32 Cody-Waite
# reduction needs 4 parts and is only good to |x| ~ 1e5.
PIO2_1_F = _f64_from_bits(0x3FF921FB50000000)  # first 25 bits of pi/2
PIO2_1T_F = _f64_from_bits(0x3E5110B4611A6263)  # pi/2 - PIO2_1_F
SIN_COS_MAX_F32 = 421657428.0  # ~ 2**28 * pi/2
# musl __sindf.c: |sin(x)/x - s(x)| < 2**-37.5 on [-pi/4, pi/4]
KS1_F = -0x15555554CBAC77 * 2.0**-55  # -0.166666666416265235595
KS2_F = 0x111110896EFBB2 * 2.0**-59  # 0.0083333293858894631756
KS3_F = -0x1A00F9E2CAE774 * 2.0**-65  # -0.000198393348360966317347
KS4_F = 0x16CD878C3B46A7 * 2.0**-71  # 0.0000027183114939898219064
# musl __cosdf.c: |cos(x) - c(x)| < 2**-34.1 on [-pi/4, pi/4]
KC0_F = -0x1FFFFFFD0C5E81 * 2.0**-54  # -0.499999997251031003120
KC1_F = 0x155553E1053A42 * 2.0**-57  # 0.0416666233237390631894
KC2_F = -0x16C087E80F1E27 * 2.0**-62  # -0.00138867637746099294692
KC3_F = 0x199342E0EE5069 * 2.0**-68  # 0.0000243904487962774090654


def sin_f64(x: float) -> float:
    """sin for float64, < 1 ulp over the whole range.

    |x| = n*pi/2 + (y0 + y1) by Cody-Waite; both kernel polynomials are
    evaluated and the quadrant n mod 4 selects +-sin(y) / +-cos(y).
    Arguments beyond SIN_COS_MAX (and inf/NaN) take libm's sin (Payne-Hanek).
    That branch keeps the kernel correct but LLVM if-converts it, calling
    libm for *every* lane of the vector loop, so a loop over sin_f64 is no
    faster than math.sin.  Fast loops use sin_reduced_f64 plus a fix-up pass
    (see docs/kernels.md).
    """
    ax = abs(x)
    t = ax * INV_PIO2 + ROUND_SHIFT
    fn = t - ROUND_SHIFT
    n = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    # --- Cody-Waite with a 33+33+33+53-bit pi/2 (fdlibm's constants) ---
    # fn*PIO2_i are exact; each subtraction's rounding error is kept with
    # Knuth's TwoSum (fdlibm instead branches on the amount of cancellation).
    r1 = ax - fn * PIO2_1  # exact
    w2 = fn * PIO2_2
    r2 = r1 - w2
    bb = r2 - r1
    e2 = (r1 - (r2 - bb)) + (-w2 - bb)
    w3 = fn * PIO2_3
    r3 = r2 - w3
    bb = r3 - r2
    e3 = (r2 - (r3 - bb)) + (-w3 - bb)
    tail = (e2 + e3) - fn * PIO2_3T
    y0 = r3 + tail  # |x| - n*pi/2 = y0 + y1 to ~150 bits
    y1 = (r3 - y0) + tail
    # --- kernels on [-pi/4, pi/4] (fdlibm k_sin.c / k_cos.c) ---
    z = y0 * y0
    v = z * y0
    rs = KS2 + z * (KS3 + z * (KS4 + z * (KS5 + z * KS6)))
    sin_y = y0 - ((z * (0.5 * y1 - v * rs) - y1) - v * KS1)
    rc = z * (KC1 + z * (KC2 + z * (KC3 + z * (KC4 + z * (KC5 + z * KC6)))))
    hz = 0.5 * z
    one_m_hz = 1.0 - hz
    cos_y = one_m_hz + (((1.0 - one_m_hz) - hz) + (z * rc - y0 * y1))
    # --- quadrant: sin(y + n*pi/2) = sin y, cos y, -sin y, -cos y ---
    res = cos_y if (n & 1) != 0 else sin_y
    res = -res if (n & 2) != 0 else res
    res = -res if x < 0.0 else res
    res = x if ax < SIN_TINY else res  # sin(x) rounds to x: keeps -0
    if ax > SIN_COS_MAX:  # huge, inf or NaN
        res = math.sin(x)
    return res


def cos_f64(x: float) -> float:
    """cos for float64, < 1 ulp over the whole range (method of sin_f64).

    cos(y + n*pi/2) = cos y, -sin y, -cos y, sin y.  Same libm branch for
    |x| > SIN_COS_MAX as sin_f64, with the same cost caveat.
    """
    ax = abs(x)
    t = ax * INV_PIO2 + ROUND_SHIFT
    fn = t - ROUND_SHIFT
    n = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    r1 = ax - fn * PIO2_1
    w2 = fn * PIO2_2
    r2 = r1 - w2
    bb = r2 - r1
    e2 = (r1 - (r2 - bb)) + (-w2 - bb)
    w3 = fn * PIO2_3
    r3 = r2 - w3
    bb = r3 - r2
    e3 = (r2 - (r3 - bb)) + (-w3 - bb)
    tail = (e2 + e3) - fn * PIO2_3T
    y0 = r3 + tail
    y1 = (r3 - y0) + tail
    z = y0 * y0
    v = z * y0
    rs = KS2 + z * (KS3 + z * (KS4 + z * (KS5 + z * KS6)))
    sin_y = y0 - ((z * (0.5 * y1 - v * rs) - y1) - v * KS1)
    rc = z * (KC1 + z * (KC2 + z * (KC3 + z * (KC4 + z * (KC5 + z * KC6)))))
    hz = 0.5 * z
    one_m_hz = 1.0 - hz
    cos_y = one_m_hz + (((1.0 - one_m_hz) - hz) + (z * rc - y0 * y1))
    res = sin_y if (n & 1) != 0 else cos_y
    res = -res if ((n + 1) & 2) != 0 else res
    if ax > SIN_COS_MAX:
        res = math.cos(x)
    return res


def sin_f32(x: np.float32) -> np.float32:
    """sin for float32, < 1 ulp over the whole range (musl sinf method).

    Reduction and polynomials in float64 (see PIO2_1_F), one rounding to
    float32 at the end.  |x| > SIN_COS_MAX_F32, inf and NaN go to libm, with
    the cost caveat of sin_f64; fast loops use sin_reduced_f32.
    """
    xd = np.float64(x)
    ax = abs(xd)
    t = ax * INV_PIO2 + ROUND_SHIFT
    fn = t - ROUND_SHIFT
    n = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    y = (ax - fn * PIO2_1_F) - fn * PIO2_1T_F
    z = y * y
    w = z * z
    sin_y = (y + z * y * (KS1_F + z * KS2_F)) + z * y * w * (KS3_F + z * KS4_F)
    cos_y = ((1.0 + z * KC0_F) + w * KC1_F) + (w * z) * (KC2_F + z * KC3_F)
    res: float = cos_y if (n & 1) != 0 else sin_y
    res = -res if (n & 2) != 0 else res
    res = -res if xd < 0.0 else res
    res = xd if ax < SIN_TINY_F32 else res  # keeps -0
    if ax > SIN_COS_MAX_F32:
        res = math.sin(xd)
    return np.float32(res)


def cos_f32(x: np.float32) -> np.float32:
    """cos for float32, < 1 ulp over the whole range (musl cosf method)."""
    xd = np.float64(x)
    ax = abs(xd)
    t = ax * INV_PIO2 + ROUND_SHIFT
    fn = t - ROUND_SHIFT
    n = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    y = (ax - fn * PIO2_1_F) - fn * PIO2_1T_F
    z = y * y
    w = z * z
    sin_y = (y + z * y * (KS1_F + z * KS2_F)) + z * y * w * (KS3_F + z * KS4_F)
    cos_y = ((1.0 + z * KC0_F) + w * KC1_F) + (w * z) * (KC2_F + z * KC3_F)
    res: float = sin_y if (n & 1) != 0 else cos_y
    res = -res if ((n + 1) & 2) != 0 else res
    if ax > SIN_COS_MAX_F32:
        res = math.cos(xd)
    return np.float32(res)


# ---------------------------------------------------------------------------
# Reduced-range sin/cos: the same code without the libm branch, so loops over
# them vectorize fully.  Valid for |x| <= SIN_COS_MAX (f64) /
# SIN_COS_MAX_F32 (f32); they return NaN beyond (and for inf/NaN), so that a
# caller that skips the fix-up pass fails loudly instead of silently.  The
# intended use in a fused loop: compute with sin_reduced_*, count
# |x| > SIN_COS_MAX (a vectorizable reduction), and when the count is nonzero
# recompute those elements with math.sin / math.cos in a second, scalar pass.
# ---------------------------------------------------------------------------
def sin_reduced_f64(x: float) -> float:
    """sin_f64 for |x| <= SIN_COS_MAX, NaN beyond; fully vectorizable."""
    ax = abs(x)
    t = ax * INV_PIO2 + ROUND_SHIFT
    fn = t - ROUND_SHIFT
    n = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    r1 = ax - fn * PIO2_1
    w2 = fn * PIO2_2
    r2 = r1 - w2
    bb = r2 - r1
    e2 = (r1 - (r2 - bb)) + (-w2 - bb)
    w3 = fn * PIO2_3
    r3 = r2 - w3
    bb = r3 - r2
    e3 = (r2 - (r3 - bb)) + (-w3 - bb)
    tail = (e2 + e3) - fn * PIO2_3T
    y0 = r3 + tail
    y1 = (r3 - y0) + tail
    z = y0 * y0
    v = z * y0
    rs = KS2 + z * (KS3 + z * (KS4 + z * (KS5 + z * KS6)))
    sin_y = y0 - ((z * (0.5 * y1 - v * rs) - y1) - v * KS1)
    rc = z * (KC1 + z * (KC2 + z * (KC3 + z * (KC4 + z * (KC5 + z * KC6)))))
    hz = 0.5 * z
    one_m_hz = 1.0 - hz
    cos_y = one_m_hz + (((1.0 - one_m_hz) - hz) + (z * rc - y0 * y1))
    res = cos_y if (n & 1) != 0 else sin_y
    res = -res if (n & 2) != 0 else res
    res = -res if x < 0.0 else res
    res = x if ax < SIN_TINY else res  # sin(x) rounds to x: keeps -0
    res = res if ax <= SIN_COS_MAX else NAN
    return res


def cos_reduced_f64(x: float) -> float:
    """cos_f64 for |x| <= SIN_COS_MAX, NaN beyond; fully vectorizable."""
    ax = abs(x)
    t = ax * INV_PIO2 + ROUND_SHIFT
    fn = t - ROUND_SHIFT
    n = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    r1 = ax - fn * PIO2_1
    w2 = fn * PIO2_2
    r2 = r1 - w2
    bb = r2 - r1
    e2 = (r1 - (r2 - bb)) + (-w2 - bb)
    w3 = fn * PIO2_3
    r3 = r2 - w3
    bb = r3 - r2
    e3 = (r2 - (r3 - bb)) + (-w3 - bb)
    tail = (e2 + e3) - fn * PIO2_3T
    y0 = r3 + tail
    y1 = (r3 - y0) + tail
    z = y0 * y0
    v = z * y0
    rs = KS2 + z * (KS3 + z * (KS4 + z * (KS5 + z * KS6)))
    sin_y = y0 - ((z * (0.5 * y1 - v * rs) - y1) - v * KS1)
    rc = z * (KC1 + z * (KC2 + z * (KC3 + z * (KC4 + z * (KC5 + z * KC6)))))
    hz = 0.5 * z
    one_m_hz = 1.0 - hz
    cos_y = one_m_hz + (((1.0 - one_m_hz) - hz) + (z * rc - y0 * y1))
    res = sin_y if (n & 1) != 0 else cos_y
    res = -res if ((n + 1) & 2) != 0 else res
    res = res if ax <= SIN_COS_MAX else NAN
    return res


def sin_reduced_f32(x: np.float32) -> np.float32:
    """sin_f32 for |x| <= SIN_COS_MAX_F32, NaN beyond; fully vectorizable."""
    xd = np.float64(x)
    ax = abs(xd)
    t = ax * INV_PIO2 + ROUND_SHIFT
    fn = t - ROUND_SHIFT
    n = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    y = (ax - fn * PIO2_1_F) - fn * PIO2_1T_F
    z = y * y
    w = z * z
    sin_y = (y + z * y * (KS1_F + z * KS2_F)) + z * y * w * (KS3_F + z * KS4_F)
    cos_y = ((1.0 + z * KC0_F) + w * KC1_F) + (w * z) * (KC2_F + z * KC3_F)
    res: float = cos_y if (n & 1) != 0 else sin_y
    res = -res if (n & 2) != 0 else res
    res = -res if xd < 0.0 else res
    res = xd if ax < SIN_TINY_F32 else res  # keeps -0
    res = res if ax <= SIN_COS_MAX_F32 else NAN
    return np.float32(res)


def cos_reduced_f32(x: np.float32) -> np.float32:
    """cos_f32 for |x| <= SIN_COS_MAX_F32, NaN beyond; fully vectorizable."""
    xd = np.float64(x)
    ax = abs(xd)
    t = ax * INV_PIO2 + ROUND_SHIFT
    fn = t - ROUND_SHIFT
    n = np.float64(t).view(np.int64) - ROUND_SHIFT_BITS
    y = (ax - fn * PIO2_1_F) - fn * PIO2_1T_F
    z = y * y
    w = z * z
    sin_y = (y + z * y * (KS1_F + z * KS2_F)) + z * y * w * (KS3_F + z * KS4_F)
    cos_y = ((1.0 + z * KC0_F) + w * KC1_F) + (w * z) * (KC2_F + z * KC3_F)
    res: float = sin_y if (n & 1) != 0 else cos_y
    res = -res if ((n + 1) & 2) != 0 else res
    res = res if ax <= SIN_COS_MAX_F32 else NAN
    return np.float32(res)


# The reduced kernels generated loops use, with the largest |x| each is exact
# for: codegen flags larger arguments and the caller recomputes those calls
# exactly (docs/codegen.md, "sin and cos").
# The kernels fused loops call as `<name>_f64` / `<name>_f32` (op templates: `exp_{suffix}`).
KERNEL_NAMES = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "sin", "cos")
REDUCED_RANGE = {
    "sin_reduced_f64": SIN_COS_MAX, "cos_reduced_f64": SIN_COS_MAX,
    "sin_reduced_f32": SIN_COS_MAX_F32, "cos_reduced_f32": SIN_COS_MAX_F32,
}
