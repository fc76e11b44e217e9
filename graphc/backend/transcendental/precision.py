"""The constants of every kernel, one record per precision.

Owns: `Precision` (a NamedTuple of numbers and coefficient tuples, which Numba
freezes as compile-time constants), `F64` and `F32`, and `SPECIALISED`, the
per-precision globals the kernels are specialised with.
Imports: numpy only. The algorithms in exp_log.py, activation.py and trig.py
read `P.NAME`; generate.py binds `P` to F64 or F32.

Every float32 value is an `np.float32`: a Python float would make Numba
promote the whole expression to float64. Bit patterns are given as integers
where the constant must be exact (fdlibm / musl publish them that way).
"""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

import numpy as np


def f64_bits(bits: int) -> float:
    """The float64 whose IEEE-754 bit pattern is `bits` (exact constants)."""
    return float(struct.unpack("<d", struct.pack("<Q", bits))[0])


def f32_bits(bits: int) -> Any:
    """The float32 whose IEEE-754 bit pattern is `bits`."""
    return np.float32(struct.unpack("<f", struct.pack("<I", bits))[0])


class Precision(NamedTuple):
    """What differs between the float64 and the float32 kernels: data only."""

    ZERO: Any
    HALF: Any
    ONE: Any
    TWO: Any
    QUARTER: Any
    FOUR: Any
    NEG_ONE: Any
    INF: Any
    NEG_INF: Any
    NAN: Any
    # exp's reduction x = k*ln2 + r (Cody-Waite: k*LN2_HI is exact)
    INV_LN2: Any
    LN2_HI: Any
    LN2_LO: Any
    # Adding ROUND_SHIFT = 1.5 * 2**mantissa rounds t to an integer left in the
    # low mantissa bits: bits(t + SHIFT) - bits(SHIFT) *is* round(t).
    ROUND_SHIFT: Any
    ROUND_SHIFT_BITS: Any
    EXP_BIAS: Any
    MANT_BITS: Any
    EXP_CLAMP: Any  # keeps |k| small enough that 2**(k//2), 2**(k-k//2) are normal
    # Polynomial coefficients are listed highest degree first (Horner order).
    EXP_POLY: tuple[Any, ...]  # Taylor 1/n! down to 1/2
    EXPM1_POLY: tuple[Any, ...]
    EXPM1_TINY: Any  # below: expm1(x) rounds to x (keeps -0)
    EXPM1_CLAMP_LO: Any  # expm1 rounds to -1 below
    EXPM1_CLAMP_HI: Any  # overflows to inf above
    EXPM1_BIG_K: Any  # above: scale by 2**(k-2) * 4 (2**(k) itself would be inf)
    TANH_TINY: Any  # tanh(x) rounds to x below
    TANH_SAT: Any  # tanh(x) rounds to 1 above
    # log's reduction x = 2**k * m, m in [sqrt(2)/2, sqrt(2)) (musl): adding
    # LOG_OFFSET_BITS makes the exponent field roll over at sqrt(2)/2.
    MIN_NORMAL: Any
    DENORMAL_SCALE: Any  # denormals are scaled by this exact power of two
    DENORMAL_K: Any  # ... and k corrected by its exponent
    K_ZERO: Any
    LOG_OFFSET_BITS: Any
    SQRT_HALF_BITS: Any
    MANT_MASK: Any
    LOG_LN2_HI: Any
    LOG_LN2_LO: Any
    LOG_EVEN: tuple[Any, ...]  # R(z) = w*even(w) + z*odd(w), w = z*z (fdlibm / musl)
    LOG_ODD: tuple[Any, ...]
    LOG1P_TINY: Any  # below: log1p(x) rounds to x
    LOG1P_BIG_K: Any  # from 2**this on, 1 + x loses x's rounding error entirely
    # sin/cos: computed in float64 for both precisions (see trig.py)
    PIO2: tuple[float, ...]  # pi/2 split so that n * PIO2[i] is exact
    SIN_POLY: tuple[float, ...]
    COS_POLY: tuple[float, ...]
    SIN_TINY: float  # sin(x) rounds to x below
    SIN_COS_MAX: float  # the reduction is exact up to here; libm beyond


# fdlibm e_log.c / k_sin.c / k_cos.c and musl's float32 counterparts; the
# errors of the polynomials are in docs/kernels.md.
F64 = Precision(
    ZERO=0.0, HALF=0.5, ONE=1.0, TWO=2.0, QUARTER=0.25, FOUR=4.0, NEG_ONE=-1.0,
    INF=math.inf, NEG_INF=-math.inf, NAN=math.nan,
    INV_LN2=1.4426950408889634,
    LN2_HI=f64_bits(0x3FE62E42FEE00000),  # 32 significant bits: exact for |k| < 2**21
    LN2_LO=f64_bits(0x3DEA39EF35793C76),
    ROUND_SHIFT=6755399441055744.0, ROUND_SHIFT_BITS=0x4338000000000000,  # 1.5 * 2**52
    EXP_BIAS=1023, MANT_BITS=52,
    EXP_CLAMP=1000.0,  # exp overflows above 709.78, is 0 below -745.13; |k| <= 1443
    EXP_POLY=tuple(1.0 / math.factorial(n) for n in range(13, 1, -1)),  # r**14/14! < 0.02 ulp
    EXPM1_POLY=tuple(1.0 / math.factorial(n) for n in range(13, 1, -1)),
    EXPM1_TINY=2.0**-54, EXPM1_CLAMP_LO=-45.0, EXPM1_CLAMP_HI=710.0, EXPM1_BIG_K=1000,
    TANH_TINY=2.0**-28, TANH_SAT=20.0,  # tanh rounds to 1 above 19.06
    MIN_NORMAL=2.2250738585072014e-308, DENORMAL_SCALE=18014398509481984.0, DENORMAL_K=-54,
    K_ZERO=0,
    LOG_OFFSET_BITS=0x3FF0000000000000 - 0x3FE6A09E00000000,
    SQRT_HALF_BITS=0x3FE6A09E00000000,  # high word of sqrt(2)/2
    MANT_MASK=0x000FFFFFFFFFFFFF,
    LOG_LN2_HI=f64_bits(0x3FE62E42FEE00000), LOG_LN2_LO=f64_bits(0x3DEA39EF35793C76),
    LOG_EVEN=(f64_bits(0x3FC39A09D078C69F), f64_bits(0x3FCC71C51D8E78AF),
              f64_bits(0x3FD999999997FA04)),  # LG6, LG4, LG2
    LOG_ODD=(f64_bits(0x3FC2F112DF3E5244), f64_bits(0x3FC7466496CB03DE),
             f64_bits(0x3FD2492494229359), f64_bits(0x3FE5555555555593)),  # LG7, LG5, LG3, LG1
    LOG1P_TINY=2.0**-54, LOG1P_BIG_K=54,
    PIO2=(f64_bits(0x3FF921FB54400000), f64_bits(0x3DD0B4611A600000),  # 33 bits each,
          f64_bits(0x3BA3198A2E000000), f64_bits(0x397B839A252049C1)),  # then the tail
    SIN_POLY=(f64_bits(0x3DE5D93A5ACFD57C), f64_bits(0xBE5AE5E68A2B9CEB),
              f64_bits(0x3EC71DE357B1FE7D), f64_bits(0xBF2A01A019C161D5),
              f64_bits(0x3F8111111110F8A6), f64_bits(0xBFC5555555555549)),  # S6..S1
    COS_POLY=(f64_bits(0xBDA8FAE9BE8838D4), f64_bits(0x3E21EE9EBDB4B1C4),
              f64_bits(0xBE927E4F809C52AD), f64_bits(0x3EFA01A019CB1590),
              f64_bits(0xBF56C16C16C15177), f64_bits(0x3FA555555555554C)),  # C6..C1
    SIN_TINY=2.0**-27,
    SIN_COS_MAX=823549.0,  # just below 2**19 * pi/2
)

_f = np.float32
F32 = Precision(
    ZERO=_f(0.0), HALF=_f(0.5), ONE=_f(1.0), TWO=_f(2.0), QUARTER=_f(0.25), FOUR=_f(4.0),
    NEG_ONE=_f(-1.0), INF=_f(np.inf), NEG_INF=_f(-np.inf), NAN=_f(np.nan),
    INV_LN2=_f(1.4426950408889634),
    LN2_HI=f32_bits(0x3F317200),  # 15 significant bits: exact for |k| < 2**9
    LN2_LO=f32_bits(0x35BFBE8E),
    ROUND_SHIFT=_f(12582912.0), ROUND_SHIFT_BITS=np.int32(0x4B400000),  # 1.5 * 2**23
    EXP_BIAS=np.int32(127), MANT_BITS=np.int32(23),
    EXP_CLAMP=_f(150.0),  # overflow above 88.72, 0 below -103.97; |k| <= 217
    EXP_POLY=tuple(_f(1.0 / math.factorial(n)) for n in range(7, 1, -1)),  # r**8/8! < 0.09 ulp
    EXPM1_POLY=tuple(_f(1.0 / math.factorial(n)) for n in range(8, 1, -1)),
    EXPM1_TINY=_f(2.0**-25), EXPM1_CLAMP_LO=_f(-30.0), EXPM1_CLAMP_HI=_f(89.0), EXPM1_BIG_K=64,
    TANH_TINY=_f(2.0**-13), TANH_SAT=_f(10.0),  # tanh rounds to 1 above 9.01
    MIN_NORMAL=_f(1.1754943508222875e-38), DENORMAL_SCALE=_f(33554432.0),
    DENORMAL_K=np.int32(-25), K_ZERO=np.int32(0),
    LOG_OFFSET_BITS=np.int32(0x3F800000 - 0x3F3504F3),
    SQRT_HALF_BITS=np.int32(0x3F3504F3),
    MANT_MASK=np.int32(0x007FFFFF),
    LOG_LN2_HI=f32_bits(0x3F317180), LOG_LN2_LO=f32_bits(0x3717F7D1),  # musl logf's split
    LOG_EVEN=(_f(0xF89E26 * 2.0**-26), _f(0xCCCE13 * 2.0**-25)),  # LG4, LG2
    LOG_ODD=(_f(0x91E9EE * 2.0**-25), _f(0xAAAAAA * 2.0**-24)),  # LG3, LG1
    LOG1P_TINY=_f(2.0**-25), LOG1P_BIG_K=25,
    PIO2=(f64_bits(0x3FF921FB50000000), f64_bits(0x3E5110B4611A6263)),  # 25 bits, tail
    SIN_POLY=(0x16CD878C3B46A7 * 2.0**-71, -0x1A00F9E2CAE774 * 2.0**-65,
              0x111110896EFBB2 * 2.0**-59, -0x15555554CBAC77 * 2.0**-55),  # musl __sindf S4..S1
    COS_POLY=(0x199342E0EE5069 * 2.0**-68, -0x16C087E80F1E27 * 2.0**-62,
              0x155553E1053A42 * 2.0**-57, -0x1FFFFFFD0C5E81 * 2.0**-54),  # musl __cosdf C3..C0
    SIN_TINY=2.0**-12,
    SIN_COS_MAX=421657428.0,  # ~ 2**28 * pi/2
)

# suffix -> the globals the algorithms read: the constants, the float type and
# the int type of its width, and which sin/cos algorithm (trig.py; a global
# rather than a field of P so that Numba drops the other branch before typing).
SPECIALISED: dict[str, dict[str, Any]] = {
    "f64": {"P": F64, "FLOAT": np.float64, "INT": np.int64, "FDLIBM_TRIG": True},
    "f32": {"P": F32, "FLOAT": np.float32, "INT": np.int32, "FDLIBM_TRIG": False},
}
