"""tanh, sigmoid and softplus, composed from exp_log's cores.

Owns: the three activation kernels, written once for both precisions.
Imports: numpy, precision, exp_log. `P`, `FLOAT` and `INT` are re-bound per
precision by generate.py, as in exp_log.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .exp_log import exp_core, expm1_core, log_core, power2
from .precision import F64

P = F64
FLOAT: Any = np.float64
INT: Any = np.int64


def tanh(x: Any) -> Any:
    """tanh, a few ulp (fdlibm s_tanh.c): one expm1 and one division.

    With a = |x|: tanh(a) = -t/(t+2), t = expm1(-2a) for a < 1 (no
    cancellation), and 1 - 2/(t+2), t = expm1(2a) for a >= 1.
    """
    ax = abs(x)
    ax = P.TANH_SAT if ax > P.TANH_SAT else ax
    big = ax >= P.ONE
    a = P.TWO * ax if big else -P.TWO * ax  # small enough for expm1's formula unclamped
    p, k = expm1_core(a)
    s = power2(k)
    em1 = p * s + (s - P.ONE)
    num = P.TWO if big else -em1
    z = np.divide(num, em1 + P.TWO)
    z = P.ONE - z if big else z
    y = -z if x < P.ZERO else z
    return x if ax < P.TANH_TINY else y  # +-0, denormals, tiny


def exp_minus_abs(x: Any) -> Any:
    """e**-|x| in [0, 1]: never overflows; NaN passes the one-sided clamp."""
    xc = -abs(x)
    return exp_core(-P.EXP_CLAMP if xc < -P.EXP_CLAMP else xc)


def sigmoid(x: Any) -> Any:
    """1/(1 + e**-x), stable for all x: 1/(1+e) for x >= 0, e/(1+e) below, e = e**-|x|."""
    e = exp_minus_abs(x)
    num = P.ONE if x >= P.ZERO else e
    return np.divide(num, P.ONE + e)


def softplus(x: Any) -> Any:
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|).

    log1p only sees u = 1 + e in [1, 2] (k is 0 or 1), so the rounding error
    of u is simply e - (u - 1); NaN propagates through e.
    """
    e = exp_minus_abs(x)
    u = P.ONE + e
    lg = log_core(u, np.divide(e - (u - P.ONE), u), P.K_ZERO)
    pos = x if x > P.ZERO else P.ZERO  # max(x, 0) with NaN giving 0 here and NaN via lg
    return pos + lg
