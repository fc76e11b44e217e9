"""The scalar kernels fused loops call, GENERATED from graphc/backend/transcendental/.

Do not edit: change the algorithms there and run
`python3 -m graphc.backend.transcendental.generate` (tests/test_kernels.py
checks that this file is up to date). Each function is one algorithm for one
precision with its cores inlined, straight-line code that LLVM vectorizes;
graphc.backend.runtime jits it with `cache=True` (docs/kernels.md).
Source digest: 6d2650276c1bd22e
"""
# ruff: noqa: E501
# mypy: disable-error-code="assignment"

import math

import numpy as np

from .transcendental import KERNEL_NAMES, REDUCED_RANGE, SIN_COS_MAX, SIN_COS_MAX_F32
from .transcendental.precision import F32, F64
from .transcendental.trig import INV_PIO2, SHIFT, SHIFT_BITS

__all__ = ["KERNEL_NAMES", "REDUCED_RANGE", "SIN_COS_MAX", "SIN_COS_MAX_F32"]
# The constants the kernels read, as scalars (see generate.py's Inliner.constant)
F32_COS_POLY_0 = F32.COS_POLY[0]
F32_COS_POLY_1 = F32.COS_POLY[1]
F32_COS_POLY_2 = F32.COS_POLY[2]
F32_COS_POLY_3 = F32.COS_POLY[3]
F32_DENORMAL_K = F32.DENORMAL_K
F32_DENORMAL_SCALE = F32.DENORMAL_SCALE
F32_EXPM1_BIG_K = F32.EXPM1_BIG_K
F32_EXPM1_CLAMP_HI = F32.EXPM1_CLAMP_HI
F32_EXPM1_CLAMP_LO = F32.EXPM1_CLAMP_LO
F32_EXPM1_POLY_0 = F32.EXPM1_POLY[0]
F32_EXPM1_POLY_1 = F32.EXPM1_POLY[1]
F32_EXPM1_POLY_2 = F32.EXPM1_POLY[2]
F32_EXPM1_POLY_3 = F32.EXPM1_POLY[3]
F32_EXPM1_POLY_4 = F32.EXPM1_POLY[4]
F32_EXPM1_POLY_5 = F32.EXPM1_POLY[5]
F32_EXPM1_POLY_6 = F32.EXPM1_POLY[6]
F32_EXPM1_TINY = F32.EXPM1_TINY
F32_EXP_BIAS = F32.EXP_BIAS
F32_EXP_CLAMP = F32.EXP_CLAMP
F32_EXP_POLY_0 = F32.EXP_POLY[0]
F32_EXP_POLY_1 = F32.EXP_POLY[1]
F32_EXP_POLY_2 = F32.EXP_POLY[2]
F32_EXP_POLY_3 = F32.EXP_POLY[3]
F32_EXP_POLY_4 = F32.EXP_POLY[4]
F32_EXP_POLY_5 = F32.EXP_POLY[5]
F32_FOUR = F32.FOUR
F32_HALF = F32.HALF
F32_INF = F32.INF
F32_INV_LN2 = F32.INV_LN2
F32_K_ZERO = F32.K_ZERO
F32_LN2_HI = F32.LN2_HI
F32_LN2_LO = F32.LN2_LO
F32_LOG1P_BIG_K = F32.LOG1P_BIG_K
F32_LOG1P_TINY = F32.LOG1P_TINY
F32_LOG_EVEN_0 = F32.LOG_EVEN[0]
F32_LOG_EVEN_1 = F32.LOG_EVEN[1]
F32_LOG_LN2_HI = F32.LOG_LN2_HI
F32_LOG_LN2_LO = F32.LOG_LN2_LO
F32_LOG_ODD_0 = F32.LOG_ODD[0]
F32_LOG_ODD_1 = F32.LOG_ODD[1]
F32_LOG_OFFSET_BITS = F32.LOG_OFFSET_BITS
F32_MANT_BITS = F32.MANT_BITS
F32_MANT_MASK = F32.MANT_MASK
F32_MIN_NORMAL = F32.MIN_NORMAL
F32_NAN = F32.NAN
F32_NEG_INF = F32.NEG_INF
F32_NEG_ONE = F32.NEG_ONE
F32_ONE = F32.ONE
F32_PIO2_0 = F32.PIO2[0]
F32_PIO2_1 = F32.PIO2[1]
F32_QUARTER = F32.QUARTER
F32_ROUND_SHIFT = F32.ROUND_SHIFT
F32_ROUND_SHIFT_BITS = F32.ROUND_SHIFT_BITS
F32_SIN_COS_MAX = F32.SIN_COS_MAX
F32_SIN_POLY_0 = F32.SIN_POLY[0]
F32_SIN_POLY_1 = F32.SIN_POLY[1]
F32_SIN_POLY_2 = F32.SIN_POLY[2]
F32_SIN_POLY_3 = F32.SIN_POLY[3]
F32_SIN_TINY = F32.SIN_TINY
F32_SQRT_HALF_BITS = F32.SQRT_HALF_BITS
F32_TANH_SAT = F32.TANH_SAT
F32_TANH_TINY = F32.TANH_TINY
F32_TWO = F32.TWO
F32_ZERO = F32.ZERO
F64_COS_POLY_0 = F64.COS_POLY[0]
F64_COS_POLY_1 = F64.COS_POLY[1]
F64_COS_POLY_2 = F64.COS_POLY[2]
F64_COS_POLY_3 = F64.COS_POLY[3]
F64_COS_POLY_4 = F64.COS_POLY[4]
F64_COS_POLY_5 = F64.COS_POLY[5]
F64_DENORMAL_K = F64.DENORMAL_K
F64_DENORMAL_SCALE = F64.DENORMAL_SCALE
F64_EXPM1_BIG_K = F64.EXPM1_BIG_K
F64_EXPM1_CLAMP_HI = F64.EXPM1_CLAMP_HI
F64_EXPM1_CLAMP_LO = F64.EXPM1_CLAMP_LO
F64_EXPM1_POLY_0 = F64.EXPM1_POLY[0]
F64_EXPM1_POLY_1 = F64.EXPM1_POLY[1]
F64_EXPM1_POLY_10 = F64.EXPM1_POLY[10]
F64_EXPM1_POLY_11 = F64.EXPM1_POLY[11]
F64_EXPM1_POLY_2 = F64.EXPM1_POLY[2]
F64_EXPM1_POLY_3 = F64.EXPM1_POLY[3]
F64_EXPM1_POLY_4 = F64.EXPM1_POLY[4]
F64_EXPM1_POLY_5 = F64.EXPM1_POLY[5]
F64_EXPM1_POLY_6 = F64.EXPM1_POLY[6]
F64_EXPM1_POLY_7 = F64.EXPM1_POLY[7]
F64_EXPM1_POLY_8 = F64.EXPM1_POLY[8]
F64_EXPM1_POLY_9 = F64.EXPM1_POLY[9]
F64_EXPM1_TINY = F64.EXPM1_TINY
F64_EXP_BIAS = F64.EXP_BIAS
F64_EXP_CLAMP = F64.EXP_CLAMP
F64_EXP_POLY_0 = F64.EXP_POLY[0]
F64_EXP_POLY_1 = F64.EXP_POLY[1]
F64_EXP_POLY_10 = F64.EXP_POLY[10]
F64_EXP_POLY_11 = F64.EXP_POLY[11]
F64_EXP_POLY_2 = F64.EXP_POLY[2]
F64_EXP_POLY_3 = F64.EXP_POLY[3]
F64_EXP_POLY_4 = F64.EXP_POLY[4]
F64_EXP_POLY_5 = F64.EXP_POLY[5]
F64_EXP_POLY_6 = F64.EXP_POLY[6]
F64_EXP_POLY_7 = F64.EXP_POLY[7]
F64_EXP_POLY_8 = F64.EXP_POLY[8]
F64_EXP_POLY_9 = F64.EXP_POLY[9]
F64_FOUR = F64.FOUR
F64_HALF = F64.HALF
F64_INF = F64.INF
F64_INV_LN2 = F64.INV_LN2
F64_K_ZERO = F64.K_ZERO
F64_LN2_HI = F64.LN2_HI
F64_LN2_LO = F64.LN2_LO
F64_LOG1P_BIG_K = F64.LOG1P_BIG_K
F64_LOG1P_TINY = F64.LOG1P_TINY
F64_LOG_EVEN_0 = F64.LOG_EVEN[0]
F64_LOG_EVEN_1 = F64.LOG_EVEN[1]
F64_LOG_EVEN_2 = F64.LOG_EVEN[2]
F64_LOG_LN2_HI = F64.LOG_LN2_HI
F64_LOG_LN2_LO = F64.LOG_LN2_LO
F64_LOG_ODD_0 = F64.LOG_ODD[0]
F64_LOG_ODD_1 = F64.LOG_ODD[1]
F64_LOG_ODD_2 = F64.LOG_ODD[2]
F64_LOG_ODD_3 = F64.LOG_ODD[3]
F64_LOG_OFFSET_BITS = F64.LOG_OFFSET_BITS
F64_MANT_BITS = F64.MANT_BITS
F64_MANT_MASK = F64.MANT_MASK
F64_MIN_NORMAL = F64.MIN_NORMAL
F64_NAN = F64.NAN
F64_NEG_INF = F64.NEG_INF
F64_NEG_ONE = F64.NEG_ONE
F64_ONE = F64.ONE
F64_PIO2_0 = F64.PIO2[0]
F64_PIO2_1 = F64.PIO2[1]
F64_PIO2_2 = F64.PIO2[2]
F64_PIO2_3 = F64.PIO2[3]
F64_QUARTER = F64.QUARTER
F64_ROUND_SHIFT = F64.ROUND_SHIFT
F64_ROUND_SHIFT_BITS = F64.ROUND_SHIFT_BITS
F64_SIN_COS_MAX = F64.SIN_COS_MAX
F64_SIN_POLY = F64.SIN_POLY
F64_SIN_POLY_0 = F64.SIN_POLY[0]
F64_SIN_POLY_1 = F64.SIN_POLY[1]
F64_SIN_POLY_2 = F64.SIN_POLY[2]
F64_SIN_POLY_3 = F64.SIN_POLY[3]
F64_SIN_POLY_4 = F64.SIN_POLY[4]
F64_SIN_TINY = F64.SIN_TINY
F64_SQRT_HALF_BITS = F64.SQRT_HALF_BITS
F64_TANH_SAT = F64.TANH_SAT
F64_TANH_TINY = F64.TANH_TINY
F64_TWO = F64.TWO
F64_ZERO = F64.ZERO


def exp_f64(x):
    """e**x, <= 1 ulp. The clamp lets NaN through (both comparisons are false).

    `exp` of transcendental/exp_log.py for f64.
    """
    xc = F64_EXP_CLAMP if x > F64_EXP_CLAMP else x
    xc = -F64_EXP_CLAMP if xc < -F64_EXP_CLAMP else xc
    t_2 = xc * F64_INV_LN2 + F64_ROUND_SHIFT
    kd_1 = t_2 - F64_ROUND_SHIFT
    k_1 = np.float64(t_2).view(np.int64) - F64_ROUND_SHIFT_BITS
    r_1 = xc - kd_1 * F64_LN2_HI - kd_1 * F64_LN2_LO
    q_3 = F64_EXP_POLY_0
    q_3 = q_3 * r_1 + F64_EXP_POLY_1
    q_3 = q_3 * r_1 + F64_EXP_POLY_2
    q_3 = q_3 * r_1 + F64_EXP_POLY_3
    q_3 = q_3 * r_1 + F64_EXP_POLY_4
    q_3 = q_3 * r_1 + F64_EXP_POLY_5
    q_3 = q_3 * r_1 + F64_EXP_POLY_6
    q_3 = q_3 * r_1 + F64_EXP_POLY_7
    q_3 = q_3 * r_1 + F64_EXP_POLY_8
    q_3 = q_3 * r_1 + F64_EXP_POLY_9
    q_3 = q_3 * r_1 + F64_EXP_POLY_10
    q_3 = q_3 * r_1 + F64_EXP_POLY_11
    p_1 = F64_ONE + (r_1 + r_1 * r_1 * q_3)
    k1_1 = k_1 >> 1
    k_5 = k_1 - k1_1
    return p_1 * np.int64(k1_1 + F64_EXP_BIAS << F64_MANT_BITS).view(np.float64) * np.int64(k_5 + F64_EXP_BIAS << F64_MANT_BITS).view(np.float64)


def exp_f32(x):
    """e**x, <= 1 ulp. The clamp lets NaN through (both comparisons are false).

    `exp` of transcendental/exp_log.py for f32.
    """
    xc = F32_EXP_CLAMP if x > F32_EXP_CLAMP else x
    xc = -F32_EXP_CLAMP if xc < -F32_EXP_CLAMP else xc
    t_2 = xc * F32_INV_LN2 + F32_ROUND_SHIFT
    kd_1 = t_2 - F32_ROUND_SHIFT
    k_1 = np.float32(t_2).view(np.int32) - F32_ROUND_SHIFT_BITS
    r_1 = xc - kd_1 * F32_LN2_HI - kd_1 * F32_LN2_LO
    q_3 = F32_EXP_POLY_0
    q_3 = q_3 * r_1 + F32_EXP_POLY_1
    q_3 = q_3 * r_1 + F32_EXP_POLY_2
    q_3 = q_3 * r_1 + F32_EXP_POLY_3
    q_3 = q_3 * r_1 + F32_EXP_POLY_4
    q_3 = q_3 * r_1 + F32_EXP_POLY_5
    p_1 = F32_ONE + (r_1 + r_1 * r_1 * q_3)
    k1_1 = k_1 >> 1
    k_5 = k_1 - k1_1
    return p_1 * np.int32(k1_1 + F32_EXP_BIAS << F32_MANT_BITS).view(np.float32) * np.int32(k_5 + F32_EXP_BIAS << F32_MANT_BITS).view(np.float32)


def log_f64(x):
    """Natural log, < 1 ulp (fdlibm e_log.c / musl logf.c).

    `log` of transcendental/exp_log.py for f64.
    """
    sub = x < F64_MIN_NORMAL
    xs = x * F64_DENORMAL_SCALE if sub else x
    k0 = F64_DENORMAL_K if sub else F64_K_ZERO
    c_1 = -F64_ZERO
    iu_1 = np.float64(xs).view(np.int64) + F64_LOG_OFFSET_BITS
    k_1 = (iu_1 >> F64_MANT_BITS) - F64_EXP_BIAS + k0
    m_1 = np.int64((iu_1 & F64_MANT_MASK) + F64_SQRT_HALF_BITS).view(np.float64)
    f_1 = m_1 - F64_ONE
    s_1 = np.divide(f_1, F64_TWO + f_1)
    z_1 = s_1 * s_1
    w_1 = z_1 * z_1
    q_2 = F64_LOG_ODD_0
    q_2 = q_2 * w_1 + F64_LOG_ODD_1
    q_2 = q_2 * w_1 + F64_LOG_ODD_2
    q_2 = q_2 * w_1 + F64_LOG_ODD_3
    q_3 = F64_LOG_EVEN_0
    q_3 = q_3 * w_1 + F64_LOG_EVEN_1
    q_3 = q_3 * w_1 + F64_LOG_EVEN_2
    big_r_1 = z_1 * q_2 + w_1 * q_3
    hfsq_1 = F64_HALF * f_1 * f_1
    dk_1 = np.float64(k_1)
    y = s_1 * (hfsq_1 + big_r_1) + (dk_1 * F64_LOG_LN2_LO + c_1) - hfsq_1 + f_1 + dk_1 * F64_LOG_LN2_HI
    y = y if x < F64_INF else x
    y = F64_NAN if x < F64_ZERO else y
    return F64_NEG_INF if x == F64_ZERO else y


def log_f32(x):
    """Natural log, < 1 ulp (fdlibm e_log.c / musl logf.c).

    `log` of transcendental/exp_log.py for f32.
    """
    sub = x < F32_MIN_NORMAL
    xs = x * F32_DENORMAL_SCALE if sub else x
    k0 = F32_DENORMAL_K if sub else F32_K_ZERO
    c_1 = -F32_ZERO
    iu_1 = np.float32(xs).view(np.int32) + F32_LOG_OFFSET_BITS
    k_1 = (iu_1 >> F32_MANT_BITS) - F32_EXP_BIAS + k0
    m_1 = np.int32((iu_1 & F32_MANT_MASK) + F32_SQRT_HALF_BITS).view(np.float32)
    f_1 = m_1 - F32_ONE
    s_1 = np.divide(f_1, F32_TWO + f_1)
    z_1 = s_1 * s_1
    w_1 = z_1 * z_1
    q_2 = F32_LOG_ODD_0
    q_2 = q_2 * w_1 + F32_LOG_ODD_1
    q_3 = F32_LOG_EVEN_0
    q_3 = q_3 * w_1 + F32_LOG_EVEN_1
    big_r_1 = z_1 * q_2 + w_1 * q_3
    hfsq_1 = F32_HALF * f_1 * f_1
    dk_1 = np.float32(k_1)
    y = s_1 * (hfsq_1 + big_r_1) + (dk_1 * F32_LOG_LN2_LO + c_1) - hfsq_1 + f_1 + dk_1 * F32_LOG_LN2_HI
    y = y if x < F32_INF else x
    y = F32_NAN if x < F32_ZERO else y
    return F32_NEG_INF if x == F32_ZERO else y


def log1p_f64(x):
    """log(1 + x), ~1 ulp (musl s_log1p.c with its branches made selects).

    `log1p` of transcendental/exp_log.py for f64.
    """
    u = F64_ONE + x
    k_1 = (np.float64(u).view(np.int64) + F64_LOG_OFFSET_BITS >> F64_MANT_BITS) - F64_EXP_BIAS
    c_1 = F64_ONE - (u - x) if k_1 >= 2 else x - (u - F64_ONE)
    c_1 = np.divide(c_1, u)
    c_2 = F64_ZERO if k_1 >= F64_LOG1P_BIG_K else c_1
    iu_2 = np.float64(u).view(np.int64) + F64_LOG_OFFSET_BITS
    k_2 = (iu_2 >> F64_MANT_BITS) - F64_EXP_BIAS + F64_K_ZERO
    m_2 = np.int64((iu_2 & F64_MANT_MASK) + F64_SQRT_HALF_BITS).view(np.float64)
    f_2 = m_2 - F64_ONE
    s_2 = np.divide(f_2, F64_TWO + f_2)
    z_2 = s_2 * s_2
    w_2 = z_2 * z_2
    q_3 = F64_LOG_ODD_0
    q_3 = q_3 * w_2 + F64_LOG_ODD_1
    q_3 = q_3 * w_2 + F64_LOG_ODD_2
    q_3 = q_3 * w_2 + F64_LOG_ODD_3
    q_4 = F64_LOG_EVEN_0
    q_4 = q_4 * w_2 + F64_LOG_EVEN_1
    q_4 = q_4 * w_2 + F64_LOG_EVEN_2
    big_r_2 = z_2 * q_3 + w_2 * q_4
    hfsq_2 = F64_HALF * f_2 * f_2
    dk_2 = np.float64(k_2)
    y = s_2 * (hfsq_2 + big_r_2) + (dk_2 * F64_LOG_LN2_LO + c_2) - hfsq_2 + f_2 + dk_2 * F64_LOG_LN2_HI
    y = x if abs(x) < F64_LOG1P_TINY else y
    y = y if x < F64_INF else x
    y = F64_NAN if x < F64_NEG_ONE else y
    return F64_NEG_INF if x == F64_NEG_ONE else y


def log1p_f32(x):
    """log(1 + x), ~1 ulp (musl s_log1p.c with its branches made selects).

    `log1p` of transcendental/exp_log.py for f32.
    """
    u = F32_ONE + x
    k_1 = (np.float32(u).view(np.int32) + F32_LOG_OFFSET_BITS >> F32_MANT_BITS) - F32_EXP_BIAS
    c_1 = F32_ONE - (u - x) if k_1 >= 2 else x - (u - F32_ONE)
    c_1 = np.divide(c_1, u)
    c_2 = F32_ZERO if k_1 >= F32_LOG1P_BIG_K else c_1
    iu_2 = np.float32(u).view(np.int32) + F32_LOG_OFFSET_BITS
    k_2 = (iu_2 >> F32_MANT_BITS) - F32_EXP_BIAS + F32_K_ZERO
    m_2 = np.int32((iu_2 & F32_MANT_MASK) + F32_SQRT_HALF_BITS).view(np.float32)
    f_2 = m_2 - F32_ONE
    s_2 = np.divide(f_2, F32_TWO + f_2)
    z_2 = s_2 * s_2
    w_2 = z_2 * z_2
    q_3 = F32_LOG_ODD_0
    q_3 = q_3 * w_2 + F32_LOG_ODD_1
    q_4 = F32_LOG_EVEN_0
    q_4 = q_4 * w_2 + F32_LOG_EVEN_1
    big_r_2 = z_2 * q_3 + w_2 * q_4
    hfsq_2 = F32_HALF * f_2 * f_2
    dk_2 = np.float32(k_2)
    y = s_2 * (hfsq_2 + big_r_2) + (dk_2 * F32_LOG_LN2_LO + c_2) - hfsq_2 + f_2 + dk_2 * F32_LOG_LN2_HI
    y = x if abs(x) < F32_LOG1P_TINY else y
    y = y if x < F32_INF else x
    y = F32_NAN if x < F32_NEG_ONE else y
    return F32_NEG_INF if x == F32_NEG_ONE else y


def expm1_f64(x):
    """e**x - 1, a few ulp; 2**k - 1 is exact for every k that reaches the formula.

    `expm1` of transcendental/exp_log.py for f64.
    """
    xc = F64_EXPM1_CLAMP_HI if x > F64_EXPM1_CLAMP_HI else x
    xc = F64_EXPM1_CLAMP_LO if xc < F64_EXPM1_CLAMP_LO else xc
    t_2 = xc * F64_INV_LN2 + F64_ROUND_SHIFT
    kd_1 = t_2 - F64_ROUND_SHIFT
    k_1 = np.float64(t_2).view(np.int64) - F64_ROUND_SHIFT_BITS
    hi_1 = xc - kd_1 * F64_LN2_HI
    lo_1 = kd_1 * F64_LN2_LO
    r_1 = hi_1 - lo_1
    c_1 = hi_1 - r_1 - lo_1
    q_3 = F64_EXPM1_POLY_0
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_1
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_2
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_3
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_4
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_5
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_6
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_7
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_8
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_9
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_10
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_11
    p_1 = r_1 + r_1 * r_1 * q_3
    p = p_1 + (c_1 + c_1 * p_1)
    k = k_1
    big = k > F64_EXPM1_BIG_K
    kk = k - 2 if big else k
    g = F64_FOUR if big else F64_ONE
    one_over_g = F64_QUARTER if big else F64_ONE
    s = np.int64(kk + F64_EXP_BIAS << F64_MANT_BITS).view(np.float64)
    y = (p * s + (s - one_over_g)) * g
    return x if abs(x) < F64_EXPM1_TINY else y


def expm1_f32(x):
    """e**x - 1, a few ulp; 2**k - 1 is exact for every k that reaches the formula.

    `expm1` of transcendental/exp_log.py for f32.
    """
    xc = F32_EXPM1_CLAMP_HI if x > F32_EXPM1_CLAMP_HI else x
    xc = F32_EXPM1_CLAMP_LO if xc < F32_EXPM1_CLAMP_LO else xc
    t_2 = xc * F32_INV_LN2 + F32_ROUND_SHIFT
    kd_1 = t_2 - F32_ROUND_SHIFT
    k_1 = np.float32(t_2).view(np.int32) - F32_ROUND_SHIFT_BITS
    hi_1 = xc - kd_1 * F32_LN2_HI
    lo_1 = kd_1 * F32_LN2_LO
    r_1 = hi_1 - lo_1
    c_1 = hi_1 - r_1 - lo_1
    q_3 = F32_EXPM1_POLY_0
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_1
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_2
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_3
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_4
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_5
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_6
    p_1 = r_1 + r_1 * r_1 * q_3
    p = p_1 + (c_1 + c_1 * p_1)
    k = k_1
    big = k > F32_EXPM1_BIG_K
    kk = k - 2 if big else k
    g = F32_FOUR if big else F32_ONE
    one_over_g = F32_QUARTER if big else F32_ONE
    s = np.int32(kk + F32_EXP_BIAS << F32_MANT_BITS).view(np.float32)
    y = (p * s + (s - one_over_g)) * g
    return x if abs(x) < F32_EXPM1_TINY else y


def tanh_f64(x):
    """tanh, a few ulp (fdlibm s_tanh.c): one expm1 and one division.

    `tanh` of transcendental/activation.py for f64.
    """
    ax = abs(x)
    ax = F64_TANH_SAT if ax > F64_TANH_SAT else ax
    big = ax >= F64_ONE
    a = F64_TWO * ax if big else -F64_TWO * ax
    t_2 = a * F64_INV_LN2 + F64_ROUND_SHIFT
    kd_1 = t_2 - F64_ROUND_SHIFT
    k_1 = np.float64(t_2).view(np.int64) - F64_ROUND_SHIFT_BITS
    hi_1 = a - kd_1 * F64_LN2_HI
    lo_1 = kd_1 * F64_LN2_LO
    r_1 = hi_1 - lo_1
    c_1 = hi_1 - r_1 - lo_1
    q_3 = F64_EXPM1_POLY_0
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_1
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_2
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_3
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_4
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_5
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_6
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_7
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_8
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_9
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_10
    q_3 = q_3 * r_1 + F64_EXPM1_POLY_11
    p_1 = r_1 + r_1 * r_1 * q_3
    p = p_1 + (c_1 + c_1 * p_1)
    k = k_1
    s = np.int64(k + F64_EXP_BIAS << F64_MANT_BITS).view(np.float64)
    em1 = p * s + (s - F64_ONE)
    num = F64_TWO if big else -em1
    z = np.divide(num, em1 + F64_TWO)
    z = F64_ONE - z if big else z
    y = -z if x < F64_ZERO else z
    return x if ax < F64_TANH_TINY else y


def tanh_f32(x):
    """tanh, a few ulp (fdlibm s_tanh.c): one expm1 and one division.

    `tanh` of transcendental/activation.py for f32.
    """
    ax = abs(x)
    ax = F32_TANH_SAT if ax > F32_TANH_SAT else ax
    big = ax >= F32_ONE
    a = F32_TWO * ax if big else -F32_TWO * ax
    t_2 = a * F32_INV_LN2 + F32_ROUND_SHIFT
    kd_1 = t_2 - F32_ROUND_SHIFT
    k_1 = np.float32(t_2).view(np.int32) - F32_ROUND_SHIFT_BITS
    hi_1 = a - kd_1 * F32_LN2_HI
    lo_1 = kd_1 * F32_LN2_LO
    r_1 = hi_1 - lo_1
    c_1 = hi_1 - r_1 - lo_1
    q_3 = F32_EXPM1_POLY_0
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_1
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_2
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_3
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_4
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_5
    q_3 = q_3 * r_1 + F32_EXPM1_POLY_6
    p_1 = r_1 + r_1 * r_1 * q_3
    p = p_1 + (c_1 + c_1 * p_1)
    k = k_1
    s = np.int32(k + F32_EXP_BIAS << F32_MANT_BITS).view(np.float32)
    em1 = p * s + (s - F32_ONE)
    num = F32_TWO if big else -em1
    z = np.divide(num, em1 + F32_TWO)
    z = F32_ONE - z if big else z
    y = -z if x < F32_ZERO else z
    return x if ax < F32_TANH_TINY else y


def sigmoid_f64(x):
    """1/(1 + e**-x), stable for all x: 1/(1+e) for x >= 0, e/(1+e) below, e = e**-|x|.

    `sigmoid` of transcendental/activation.py for f64.
    """
    xc_1 = -abs(x)
    x_2 = -F64_EXP_CLAMP if xc_1 < -F64_EXP_CLAMP else xc_1
    t_3 = x_2 * F64_INV_LN2 + F64_ROUND_SHIFT
    kd_2 = t_3 - F64_ROUND_SHIFT
    k_2 = np.float64(t_3).view(np.int64) - F64_ROUND_SHIFT_BITS
    r_2 = x_2 - kd_2 * F64_LN2_HI - kd_2 * F64_LN2_LO
    q_4 = F64_EXP_POLY_0
    q_4 = q_4 * r_2 + F64_EXP_POLY_1
    q_4 = q_4 * r_2 + F64_EXP_POLY_2
    q_4 = q_4 * r_2 + F64_EXP_POLY_3
    q_4 = q_4 * r_2 + F64_EXP_POLY_4
    q_4 = q_4 * r_2 + F64_EXP_POLY_5
    q_4 = q_4 * r_2 + F64_EXP_POLY_6
    q_4 = q_4 * r_2 + F64_EXP_POLY_7
    q_4 = q_4 * r_2 + F64_EXP_POLY_8
    q_4 = q_4 * r_2 + F64_EXP_POLY_9
    q_4 = q_4 * r_2 + F64_EXP_POLY_10
    q_4 = q_4 * r_2 + F64_EXP_POLY_11
    p_2 = F64_ONE + (r_2 + r_2 * r_2 * q_4)
    k1_2 = k_2 >> 1
    k_6 = k_2 - k1_2
    e = p_2 * np.int64(k1_2 + F64_EXP_BIAS << F64_MANT_BITS).view(np.float64) * np.int64(k_6 + F64_EXP_BIAS << F64_MANT_BITS).view(np.float64)
    num = F64_ONE if x >= F64_ZERO else e
    return np.divide(num, F64_ONE + e)


def sigmoid_f32(x):
    """1/(1 + e**-x), stable for all x: 1/(1+e) for x >= 0, e/(1+e) below, e = e**-|x|.

    `sigmoid` of transcendental/activation.py for f32.
    """
    xc_1 = -abs(x)
    x_2 = -F32_EXP_CLAMP if xc_1 < -F32_EXP_CLAMP else xc_1
    t_3 = x_2 * F32_INV_LN2 + F32_ROUND_SHIFT
    kd_2 = t_3 - F32_ROUND_SHIFT
    k_2 = np.float32(t_3).view(np.int32) - F32_ROUND_SHIFT_BITS
    r_2 = x_2 - kd_2 * F32_LN2_HI - kd_2 * F32_LN2_LO
    q_4 = F32_EXP_POLY_0
    q_4 = q_4 * r_2 + F32_EXP_POLY_1
    q_4 = q_4 * r_2 + F32_EXP_POLY_2
    q_4 = q_4 * r_2 + F32_EXP_POLY_3
    q_4 = q_4 * r_2 + F32_EXP_POLY_4
    q_4 = q_4 * r_2 + F32_EXP_POLY_5
    p_2 = F32_ONE + (r_2 + r_2 * r_2 * q_4)
    k1_2 = k_2 >> 1
    k_6 = k_2 - k1_2
    e = p_2 * np.int32(k1_2 + F32_EXP_BIAS << F32_MANT_BITS).view(np.float32) * np.int32(k_6 + F32_EXP_BIAS << F32_MANT_BITS).view(np.float32)
    num = F32_ONE if x >= F32_ZERO else e
    return np.divide(num, F32_ONE + e)


def softplus_f64(x):
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|).

    `softplus` of transcendental/activation.py for f64.
    """
    xc_1 = -abs(x)
    x_2 = -F64_EXP_CLAMP if xc_1 < -F64_EXP_CLAMP else xc_1
    t_3 = x_2 * F64_INV_LN2 + F64_ROUND_SHIFT
    kd_2 = t_3 - F64_ROUND_SHIFT
    k_2 = np.float64(t_3).view(np.int64) - F64_ROUND_SHIFT_BITS
    r_2 = x_2 - kd_2 * F64_LN2_HI - kd_2 * F64_LN2_LO
    q_4 = F64_EXP_POLY_0
    q_4 = q_4 * r_2 + F64_EXP_POLY_1
    q_4 = q_4 * r_2 + F64_EXP_POLY_2
    q_4 = q_4 * r_2 + F64_EXP_POLY_3
    q_4 = q_4 * r_2 + F64_EXP_POLY_4
    q_4 = q_4 * r_2 + F64_EXP_POLY_5
    q_4 = q_4 * r_2 + F64_EXP_POLY_6
    q_4 = q_4 * r_2 + F64_EXP_POLY_7
    q_4 = q_4 * r_2 + F64_EXP_POLY_8
    q_4 = q_4 * r_2 + F64_EXP_POLY_9
    q_4 = q_4 * r_2 + F64_EXP_POLY_10
    q_4 = q_4 * r_2 + F64_EXP_POLY_11
    p_2 = F64_ONE + (r_2 + r_2 * r_2 * q_4)
    k1_2 = k_2 >> 1
    k_6 = k_2 - k1_2
    e = p_2 * np.int64(k1_2 + F64_EXP_BIAS << F64_MANT_BITS).view(np.float64) * np.int64(k_6 + F64_EXP_BIAS << F64_MANT_BITS).view(np.float64)
    u = F64_ONE + e
    c_7 = np.divide(e - (u - F64_ONE), u)
    iu_7 = np.float64(u).view(np.int64) + F64_LOG_OFFSET_BITS
    k_7 = (iu_7 >> F64_MANT_BITS) - F64_EXP_BIAS + F64_K_ZERO
    m_7 = np.int64((iu_7 & F64_MANT_MASK) + F64_SQRT_HALF_BITS).view(np.float64)
    f_7 = m_7 - F64_ONE
    s_7 = np.divide(f_7, F64_TWO + f_7)
    z_7 = s_7 * s_7
    w_7 = z_7 * z_7
    q_8 = F64_LOG_ODD_0
    q_8 = q_8 * w_7 + F64_LOG_ODD_1
    q_8 = q_8 * w_7 + F64_LOG_ODD_2
    q_8 = q_8 * w_7 + F64_LOG_ODD_3
    q_9 = F64_LOG_EVEN_0
    q_9 = q_9 * w_7 + F64_LOG_EVEN_1
    q_9 = q_9 * w_7 + F64_LOG_EVEN_2
    big_r_7 = z_7 * q_8 + w_7 * q_9
    hfsq_7 = F64_HALF * f_7 * f_7
    dk_7 = np.float64(k_7)
    lg = s_7 * (hfsq_7 + big_r_7) + (dk_7 * F64_LOG_LN2_LO + c_7) - hfsq_7 + f_7 + dk_7 * F64_LOG_LN2_HI
    pos = x if x > F64_ZERO else F64_ZERO
    return pos + lg


def softplus_f32(x):
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|).

    `softplus` of transcendental/activation.py for f32.
    """
    xc_1 = -abs(x)
    x_2 = -F32_EXP_CLAMP if xc_1 < -F32_EXP_CLAMP else xc_1
    t_3 = x_2 * F32_INV_LN2 + F32_ROUND_SHIFT
    kd_2 = t_3 - F32_ROUND_SHIFT
    k_2 = np.float32(t_3).view(np.int32) - F32_ROUND_SHIFT_BITS
    r_2 = x_2 - kd_2 * F32_LN2_HI - kd_2 * F32_LN2_LO
    q_4 = F32_EXP_POLY_0
    q_4 = q_4 * r_2 + F32_EXP_POLY_1
    q_4 = q_4 * r_2 + F32_EXP_POLY_2
    q_4 = q_4 * r_2 + F32_EXP_POLY_3
    q_4 = q_4 * r_2 + F32_EXP_POLY_4
    q_4 = q_4 * r_2 + F32_EXP_POLY_5
    p_2 = F32_ONE + (r_2 + r_2 * r_2 * q_4)
    k1_2 = k_2 >> 1
    k_6 = k_2 - k1_2
    e = p_2 * np.int32(k1_2 + F32_EXP_BIAS << F32_MANT_BITS).view(np.float32) * np.int32(k_6 + F32_EXP_BIAS << F32_MANT_BITS).view(np.float32)
    u = F32_ONE + e
    c_7 = np.divide(e - (u - F32_ONE), u)
    iu_7 = np.float32(u).view(np.int32) + F32_LOG_OFFSET_BITS
    k_7 = (iu_7 >> F32_MANT_BITS) - F32_EXP_BIAS + F32_K_ZERO
    m_7 = np.int32((iu_7 & F32_MANT_MASK) + F32_SQRT_HALF_BITS).view(np.float32)
    f_7 = m_7 - F32_ONE
    s_7 = np.divide(f_7, F32_TWO + f_7)
    z_7 = s_7 * s_7
    w_7 = z_7 * z_7
    q_8 = F32_LOG_ODD_0
    q_8 = q_8 * w_7 + F32_LOG_ODD_1
    q_9 = F32_LOG_EVEN_0
    q_9 = q_9 * w_7 + F32_LOG_EVEN_1
    big_r_7 = z_7 * q_8 + w_7 * q_9
    hfsq_7 = F32_HALF * f_7 * f_7
    dk_7 = np.float32(k_7)
    lg = s_7 * (hfsq_7 + big_r_7) + (dk_7 * F32_LOG_LN2_LO + c_7) - hfsq_7 + f_7 + dk_7 * F32_LOG_LN2_HI
    pos = x if x > F32_ZERO else F32_ZERO
    return pos + lg


def sin_f64(x):
    """sin, < 1 ulp over the whole range.

    `sin` of transcendental/trig.py for f64.
    """
    xd = np.float64(x)
    ax = abs(xd)
    t_2 = ax * INV_PIO2 + SHIFT
    fn_2 = t_2 - SHIFT
    n_2 = np.float64(t_2).view(np.int64) - SHIFT_BITS
    r1_3 = ax - fn_2 * F64_PIO2_0
    w2_3 = fn_2 * F64_PIO2_1
    r2_3 = r1_3 - w2_3
    bb_3 = r2_3 - r1_3
    e2_3 = r1_3 - (r2_3 - bb_3) + (-w2_3 - bb_3)
    w3_3 = fn_2 * F64_PIO2_2
    r3_3 = r2_3 - w3_3
    bb_3 = r3_3 - r2_3
    e3_3 = r2_3 - (r3_3 - bb_3) + (-w3_3 - bb_3)
    tail_3 = e2_3 + e3_3 - fn_2 * F64_PIO2_3
    y0_3 = r3_3 + tail_3
    y0_2 = y0_3
    y1_2 = r3_3 - y0_3 + tail_3
    z_2 = y0_2 * y0_2
    v_2 = z_2 * y0_2
    q_4 = F64_SIN_POLY_0
    q_4 = q_4 * z_2 + F64_SIN_POLY_1
    q_4 = q_4 * z_2 + F64_SIN_POLY_2
    q_4 = q_4 * z_2 + F64_SIN_POLY_3
    q_4 = q_4 * z_2 + F64_SIN_POLY_4
    sin_y_2 = y0_2 - (z_2 * (0.5 * y1_2 - v_2 * q_4) - y1_2 - v_2 * F64_SIN_POLY[-1])
    hz_2 = 0.5 * z_2
    one_m_hz_2 = 1.0 - hz_2
    q_5 = F64_COS_POLY_0
    q_5 = q_5 * z_2 + F64_COS_POLY_1
    q_5 = q_5 * z_2 + F64_COS_POLY_2
    q_5 = q_5 * z_2 + F64_COS_POLY_3
    q_5 = q_5 * z_2 + F64_COS_POLY_4
    q_5 = q_5 * z_2 + F64_COS_POLY_5
    rc_2 = z_2 * q_5
    cos_y_2 = one_m_hz_2 + (1.0 - one_m_hz_2 - hz_2 + (z_2 * rc_2 - y0_2 * y1_2))
    n_1 = n_2
    sin_y_1 = sin_y_2
    cos_y_1 = cos_y_2
    res_1 = cos_y_1 if n_1 & 1 != 0 else sin_y_1
    res_1 = -res_1 if n_1 & 2 != 0 else res_1
    res_1 = -res_1 if xd < 0.0 else res_1
    res = xd if ax < F64_SIN_TINY else res_1
    if ax > F64_SIN_COS_MAX:
        res = math.sin(xd)
    return np.float64(res)


def sin_f32(x):
    """sin, < 1 ulp over the whole range.

    `sin` of transcendental/trig.py for f32.
    """
    xd = np.float64(x)
    ax = abs(xd)
    t_2 = ax * INV_PIO2 + SHIFT
    fn_2 = t_2 - SHIFT
    n_2 = np.float64(t_2).view(np.int64) - SHIFT_BITS
    y_2 = ax - fn_2 * F32_PIO2_0 - fn_2 * F32_PIO2_1
    z_2 = y_2 * y_2
    w_2 = z_2 * z_2
    q_3 = F32_SIN_POLY_2
    q_3 = q_3 * z_2 + F32_SIN_POLY_3
    q_4 = F32_SIN_POLY_0
    q_4 = q_4 * z_2 + F32_SIN_POLY_1
    sin_y_2 = y_2 + z_2 * y_2 * q_3 + z_2 * y_2 * w_2 * q_4
    q_5 = F32_COS_POLY_0
    q_5 = q_5 * z_2 + F32_COS_POLY_1
    cos_y_2 = 1.0 + z_2 * F32_COS_POLY_3 + w_2 * F32_COS_POLY_2 + w_2 * z_2 * q_5
    n_1 = n_2
    sin_y_1 = sin_y_2
    cos_y_1 = cos_y_2
    res_1 = cos_y_1 if n_1 & 1 != 0 else sin_y_1
    res_1 = -res_1 if n_1 & 2 != 0 else res_1
    res_1 = -res_1 if xd < 0.0 else res_1
    res = xd if ax < F32_SIN_TINY else res_1
    if ax > F32_SIN_COS_MAX:
        res = math.sin(xd)
    return np.float32(res)


def cos_f64(x):
    """cos, < 1 ulp over the whole range (libm beyond SIN_COS_MAX, as `sin`).

    `cos` of transcendental/trig.py for f64.
    """
    xd = np.float64(x)
    ax = abs(xd)
    t_2 = ax * INV_PIO2 + SHIFT
    fn_2 = t_2 - SHIFT
    n_2 = np.float64(t_2).view(np.int64) - SHIFT_BITS
    r1_3 = ax - fn_2 * F64_PIO2_0
    w2_3 = fn_2 * F64_PIO2_1
    r2_3 = r1_3 - w2_3
    bb_3 = r2_3 - r1_3
    e2_3 = r1_3 - (r2_3 - bb_3) + (-w2_3 - bb_3)
    w3_3 = fn_2 * F64_PIO2_2
    r3_3 = r2_3 - w3_3
    bb_3 = r3_3 - r2_3
    e3_3 = r2_3 - (r3_3 - bb_3) + (-w3_3 - bb_3)
    tail_3 = e2_3 + e3_3 - fn_2 * F64_PIO2_3
    y0_3 = r3_3 + tail_3
    y0_2 = y0_3
    y1_2 = r3_3 - y0_3 + tail_3
    z_2 = y0_2 * y0_2
    v_2 = z_2 * y0_2
    q_4 = F64_SIN_POLY_0
    q_4 = q_4 * z_2 + F64_SIN_POLY_1
    q_4 = q_4 * z_2 + F64_SIN_POLY_2
    q_4 = q_4 * z_2 + F64_SIN_POLY_3
    q_4 = q_4 * z_2 + F64_SIN_POLY_4
    sin_y_2 = y0_2 - (z_2 * (0.5 * y1_2 - v_2 * q_4) - y1_2 - v_2 * F64_SIN_POLY[-1])
    hz_2 = 0.5 * z_2
    one_m_hz_2 = 1.0 - hz_2
    q_5 = F64_COS_POLY_0
    q_5 = q_5 * z_2 + F64_COS_POLY_1
    q_5 = q_5 * z_2 + F64_COS_POLY_2
    q_5 = q_5 * z_2 + F64_COS_POLY_3
    q_5 = q_5 * z_2 + F64_COS_POLY_4
    q_5 = q_5 * z_2 + F64_COS_POLY_5
    rc_2 = z_2 * q_5
    cos_y_2 = one_m_hz_2 + (1.0 - one_m_hz_2 - hz_2 + (z_2 * rc_2 - y0_2 * y1_2))
    n_1 = n_2
    sin_y_1 = sin_y_2
    cos_y_1 = cos_y_2
    res_1 = sin_y_1 if n_1 & 1 != 0 else cos_y_1
    res = -res_1 if n_1 + 1 & 2 != 0 else res_1
    if ax > F64_SIN_COS_MAX:
        res = math.cos(xd)
    return np.float64(res)


def cos_f32(x):
    """cos, < 1 ulp over the whole range (libm beyond SIN_COS_MAX, as `sin`).

    `cos` of transcendental/trig.py for f32.
    """
    xd = np.float64(x)
    ax = abs(xd)
    t_2 = ax * INV_PIO2 + SHIFT
    fn_2 = t_2 - SHIFT
    n_2 = np.float64(t_2).view(np.int64) - SHIFT_BITS
    y_2 = ax - fn_2 * F32_PIO2_0 - fn_2 * F32_PIO2_1
    z_2 = y_2 * y_2
    w_2 = z_2 * z_2
    q_3 = F32_SIN_POLY_2
    q_3 = q_3 * z_2 + F32_SIN_POLY_3
    q_4 = F32_SIN_POLY_0
    q_4 = q_4 * z_2 + F32_SIN_POLY_1
    sin_y_2 = y_2 + z_2 * y_2 * q_3 + z_2 * y_2 * w_2 * q_4
    q_5 = F32_COS_POLY_0
    q_5 = q_5 * z_2 + F32_COS_POLY_1
    cos_y_2 = 1.0 + z_2 * F32_COS_POLY_3 + w_2 * F32_COS_POLY_2 + w_2 * z_2 * q_5
    n_1 = n_2
    sin_y_1 = sin_y_2
    cos_y_1 = cos_y_2
    res_1 = sin_y_1 if n_1 & 1 != 0 else cos_y_1
    res = -res_1 if n_1 + 1 & 2 != 0 else res_1
    if ax > F32_SIN_COS_MAX:
        res = math.cos(xd)
    return np.float32(res)


def sin_reduced_f64(x):
    """`sin` for |x| <= SIN_COS_MAX, NaN beyond (so a missing fix-up fails loudly).

    `sin_reduced` of transcendental/trig.py for f64.
    """
    xd = np.float64(x)
    ax = abs(xd)
    t_2 = ax * INV_PIO2 + SHIFT
    fn_2 = t_2 - SHIFT
    n_2 = np.float64(t_2).view(np.int64) - SHIFT_BITS
    r1_3 = ax - fn_2 * F64_PIO2_0
    w2_3 = fn_2 * F64_PIO2_1
    r2_3 = r1_3 - w2_3
    bb_3 = r2_3 - r1_3
    e2_3 = r1_3 - (r2_3 - bb_3) + (-w2_3 - bb_3)
    w3_3 = fn_2 * F64_PIO2_2
    r3_3 = r2_3 - w3_3
    bb_3 = r3_3 - r2_3
    e3_3 = r2_3 - (r3_3 - bb_3) + (-w3_3 - bb_3)
    tail_3 = e2_3 + e3_3 - fn_2 * F64_PIO2_3
    y0_3 = r3_3 + tail_3
    y0_2 = y0_3
    y1_2 = r3_3 - y0_3 + tail_3
    z_2 = y0_2 * y0_2
    v_2 = z_2 * y0_2
    q_4 = F64_SIN_POLY_0
    q_4 = q_4 * z_2 + F64_SIN_POLY_1
    q_4 = q_4 * z_2 + F64_SIN_POLY_2
    q_4 = q_4 * z_2 + F64_SIN_POLY_3
    q_4 = q_4 * z_2 + F64_SIN_POLY_4
    sin_y_2 = y0_2 - (z_2 * (0.5 * y1_2 - v_2 * q_4) - y1_2 - v_2 * F64_SIN_POLY[-1])
    hz_2 = 0.5 * z_2
    one_m_hz_2 = 1.0 - hz_2
    q_5 = F64_COS_POLY_0
    q_5 = q_5 * z_2 + F64_COS_POLY_1
    q_5 = q_5 * z_2 + F64_COS_POLY_2
    q_5 = q_5 * z_2 + F64_COS_POLY_3
    q_5 = q_5 * z_2 + F64_COS_POLY_4
    q_5 = q_5 * z_2 + F64_COS_POLY_5
    rc_2 = z_2 * q_5
    cos_y_2 = one_m_hz_2 + (1.0 - one_m_hz_2 - hz_2 + (z_2 * rc_2 - y0_2 * y1_2))
    n_1 = n_2
    sin_y_1 = sin_y_2
    cos_y_1 = cos_y_2
    res_1 = cos_y_1 if n_1 & 1 != 0 else sin_y_1
    res_1 = -res_1 if n_1 & 2 != 0 else res_1
    res_1 = -res_1 if xd < 0.0 else res_1
    res = xd if ax < F64_SIN_TINY else res_1
    return np.float64(res if ax <= F64_SIN_COS_MAX else math.nan)


def sin_reduced_f32(x):
    """`sin` for |x| <= SIN_COS_MAX, NaN beyond (so a missing fix-up fails loudly).

    `sin_reduced` of transcendental/trig.py for f32.
    """
    xd = np.float64(x)
    ax = abs(xd)
    t_2 = ax * INV_PIO2 + SHIFT
    fn_2 = t_2 - SHIFT
    n_2 = np.float64(t_2).view(np.int64) - SHIFT_BITS
    y_2 = ax - fn_2 * F32_PIO2_0 - fn_2 * F32_PIO2_1
    z_2 = y_2 * y_2
    w_2 = z_2 * z_2
    q_3 = F32_SIN_POLY_2
    q_3 = q_3 * z_2 + F32_SIN_POLY_3
    q_4 = F32_SIN_POLY_0
    q_4 = q_4 * z_2 + F32_SIN_POLY_1
    sin_y_2 = y_2 + z_2 * y_2 * q_3 + z_2 * y_2 * w_2 * q_4
    q_5 = F32_COS_POLY_0
    q_5 = q_5 * z_2 + F32_COS_POLY_1
    cos_y_2 = 1.0 + z_2 * F32_COS_POLY_3 + w_2 * F32_COS_POLY_2 + w_2 * z_2 * q_5
    n_1 = n_2
    sin_y_1 = sin_y_2
    cos_y_1 = cos_y_2
    res_1 = cos_y_1 if n_1 & 1 != 0 else sin_y_1
    res_1 = -res_1 if n_1 & 2 != 0 else res_1
    res_1 = -res_1 if xd < 0.0 else res_1
    res = xd if ax < F32_SIN_TINY else res_1
    return np.float32(res if ax <= F32_SIN_COS_MAX else math.nan)


def cos_reduced_f64(x):
    """`cos` for |x| <= SIN_COS_MAX, NaN beyond.

    `cos_reduced` of transcendental/trig.py for f64.
    """
    ax = abs(np.float64(x))
    t_2 = ax * INV_PIO2 + SHIFT
    fn_2 = t_2 - SHIFT
    n_2 = np.float64(t_2).view(np.int64) - SHIFT_BITS
    r1_3 = ax - fn_2 * F64_PIO2_0
    w2_3 = fn_2 * F64_PIO2_1
    r2_3 = r1_3 - w2_3
    bb_3 = r2_3 - r1_3
    e2_3 = r1_3 - (r2_3 - bb_3) + (-w2_3 - bb_3)
    w3_3 = fn_2 * F64_PIO2_2
    r3_3 = r2_3 - w3_3
    bb_3 = r3_3 - r2_3
    e3_3 = r2_3 - (r3_3 - bb_3) + (-w3_3 - bb_3)
    tail_3 = e2_3 + e3_3 - fn_2 * F64_PIO2_3
    y0_3 = r3_3 + tail_3
    y0_2 = y0_3
    y1_2 = r3_3 - y0_3 + tail_3
    z_2 = y0_2 * y0_2
    v_2 = z_2 * y0_2
    q_4 = F64_SIN_POLY_0
    q_4 = q_4 * z_2 + F64_SIN_POLY_1
    q_4 = q_4 * z_2 + F64_SIN_POLY_2
    q_4 = q_4 * z_2 + F64_SIN_POLY_3
    q_4 = q_4 * z_2 + F64_SIN_POLY_4
    sin_y_2 = y0_2 - (z_2 * (0.5 * y1_2 - v_2 * q_4) - y1_2 - v_2 * F64_SIN_POLY[-1])
    hz_2 = 0.5 * z_2
    one_m_hz_2 = 1.0 - hz_2
    q_5 = F64_COS_POLY_0
    q_5 = q_5 * z_2 + F64_COS_POLY_1
    q_5 = q_5 * z_2 + F64_COS_POLY_2
    q_5 = q_5 * z_2 + F64_COS_POLY_3
    q_5 = q_5 * z_2 + F64_COS_POLY_4
    q_5 = q_5 * z_2 + F64_COS_POLY_5
    rc_2 = z_2 * q_5
    cos_y_2 = one_m_hz_2 + (1.0 - one_m_hz_2 - hz_2 + (z_2 * rc_2 - y0_2 * y1_2))
    n_1 = n_2
    sin_y_1 = sin_y_2
    cos_y_1 = cos_y_2
    res_1 = sin_y_1 if n_1 & 1 != 0 else cos_y_1
    res = -res_1 if n_1 + 1 & 2 != 0 else res_1
    return np.float64(res if ax <= F64_SIN_COS_MAX else math.nan)


def cos_reduced_f32(x):
    """`cos` for |x| <= SIN_COS_MAX, NaN beyond.

    `cos_reduced` of transcendental/trig.py for f32.
    """
    ax = abs(np.float64(x))
    t_2 = ax * INV_PIO2 + SHIFT
    fn_2 = t_2 - SHIFT
    n_2 = np.float64(t_2).view(np.int64) - SHIFT_BITS
    y_2 = ax - fn_2 * F32_PIO2_0 - fn_2 * F32_PIO2_1
    z_2 = y_2 * y_2
    w_2 = z_2 * z_2
    q_3 = F32_SIN_POLY_2
    q_3 = q_3 * z_2 + F32_SIN_POLY_3
    q_4 = F32_SIN_POLY_0
    q_4 = q_4 * z_2 + F32_SIN_POLY_1
    sin_y_2 = y_2 + z_2 * y_2 * q_3 + z_2 * y_2 * w_2 * q_4
    q_5 = F32_COS_POLY_0
    q_5 = q_5 * z_2 + F32_COS_POLY_1
    cos_y_2 = 1.0 + z_2 * F32_COS_POLY_3 + w_2 * F32_COS_POLY_2 + w_2 * z_2 * q_5
    n_1 = n_2
    sin_y_1 = sin_y_2
    cos_y_1 = cos_y_2
    res_1 = sin_y_1 if n_1 & 1 != 0 else cos_y_1
    res = -res_1 if n_1 + 1 & 2 != 0 else res_1
    return np.float32(res if ax <= F32_SIN_COS_MAX else math.nan)
