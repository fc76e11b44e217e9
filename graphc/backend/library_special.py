"""Scalar functions generated loops call: digamma, polygamma, log_ndtr, xlogy, logit, logaddexp.

Owns one plain-Python scalar function per SciPy function that Numba's `math`
module lacks or gets wrong at an edge (`gammaln` wraps `math.lgamma`; `erf`
and `erfc` use `math` directly).
Each computes in float64 whatever its argument's precision: a float32 caller
gets the float64 value rounded once (generated code wraps float32 results in
`np.float32(...)`), so the float32 results are as good as SciPy's, which
also computes these in double. They are array-library helpers in the sense of
graphc/backend/library.py (a family module listed in its FAMILIES, jitted
with cache=True by graphc.backend.runtime), not `kernels.py` polynomial
kernels: their argument reduction is a loop (recurrence up to the asymptotic
range, as Cephes does), so they could not vectorize anyway, and one function
per SciPy name serves both precisions.

Accuracy against SciPy over ~10^6 points each is tested in
tests/test_special.py (bounds stated there and in docs/api.md). Imports: math
and numpy only (layer L4); never numba.
"""

from __future__ import annotations

import math

import numpy as np

LOG_SQRT_2PI = 0.9189385332046728  # log(sqrt(2 pi))
LOG_2 = 0.6931471805599453
SQRT_HALF = 0.7071067811865476

# Cephes psi: B_2k / (2k) for k = 7..1 (highest power of 1/x^2 first), so that
# psi(x) ~ log(x) - 1/(2x) - sum_k B_2k / (2k x^2k) for x >= 10.
PSI_ASYMPTOTIC = (8.33333333333333333333e-2, -2.10927960927960927961e-2, 7.57575757575757575758e-3,
                  -4.16666666666666666667e-3, 3.96825396825396825397e-3, -8.33333333333333333333e-3,
                  8.33333333333333333333e-2)

# Near its positive root the usual recurrence cancels; SciPy sums the Taylor series
# psi(x) = psi(r) + sum_k (-1)^(k+1) zeta(k+1, r) (x - r)^k there (|x - r| < 0.5).
# r is the double nearest the root, PSI_AT_ROOT = psi(r); the coefficients were
# computed with scipy.special.zeta and are listed lowest order first.
POSITIVE_ROOT = 1.4616321449683622
PSI_AT_ROOT = -9.241265521729427e-17
ROOT_SERIES = (
    0.9676722454476214, -0.44276316898359214, 0.2584997609556512, -0.16394270544240658,
    0.10782405069126239, -0.07219956125645476, 0.048804288164143145, -0.033161126474847376,
    0.022597648232218125, -0.015424765904948968, 0.010538791616612182, -0.007204534386356875,
    0.004926781395729858, -0.0033698016554393317, 0.00230512632673493, -0.0015769367714301987,
    0.0010788252019162975, -0.000738070938996006, 0.0005049532658346026, -0.0003454680251063082,
    0.00023635601564027086, -0.00016170622091974825, 0.00011063372768747429,
    -7.569179582195077e-05, 5.17857579522209e-05, -3.543007094765967e-05, 2.424006611860136e-05,
    -1.658424227185416e-05, 1.1346384584663872e-05, -7.76281766846211e-06,
    5.3110609208898746e-06, -3.633650789801054e-06, 2.4860227331295433e-06,
    -1.7008538854332643e-06, 1.163667536354887e-06, -7.961425431241989e-07,
    5.446941930669458e-07, -3.726616128343833e-07, 2.549626552021561e-07,
    -1.7443695117727793e-07)

# B_2k / (2k)! for k = 1..13: the Euler-Maclaurin tail of polygamma's asymptotic series.
BERNOULLI_OVER_FACTORIAL = (
    0.08333333333333333, -0.001388888888888889, 3.306878306878307e-05, -8.267195767195768e-07,
    2.08767569878681e-08, -5.284190138687493e-10, 1.3382536530684679e-11,
    -3.3896802963225827e-13, 8.586062056277845e-15, -2.174868698558062e-16,
    5.5090028283602295e-18, -1.3954464685812522e-19, 3.534707039629467e-21)

# log_ndtr(x) for x < -20: -x^2/2 - log(-x) - log(sqrt(2 pi)) + log(1 + sum_k (-1)^k (2k-1)!! / x^2k)
ASYMPTOTIC_TERMS = 12


def digamma(value: float) -> float:
    """scipy.special.digamma: -inf at +0, +inf at -0, NaN at the negative integers and -inf.

    Negative x by reflection, psi(x) = psi(1 - x) - pi / tan(pi x), with
    pi x reduced to (-pi/2, pi/2] first; x >= 10 by Cephes' asymptotic
    series; smaller x by recurrence down (or up) to SciPy's Taylor series
    around the positive root. One function: Numba cannot call plain Python.
    """
    x = np.float64(value)
    reflection = 0.0
    if x <= 0.0:
        if x == 0.0:
            return -math.inf if not np.signbit(x) else math.inf
        p = np.floor(x)
        if p == x:  # the poles, and -inf
            return math.nan
        fraction = x - p
        if fraction != 0.5:
            if fraction > 0.5:
                fraction = x - (p + 1.0)
            reflection = math.pi / math.tan(math.pi * fraction)
        x = 1.0 - x
    if x < 10.0:
        # recurrence psi(x) = psi(y) + sum_{j < k} 1/(y + j) to y within 0.5 of the root,
        # where the Taylor series holds; every term then has one sign (no cancellation)
        # except the one step up from (0, 0.96), where -1/x dominates.
        step = 0.0
        if x < POSITIVE_ROOT - 0.5:
            step = -1.0 / x
            x += 1.0
        while x > POSITIVE_ROOT + 0.5:
            x -= 1.0
            step += 1.0 / x
        d = x - POSITIVE_ROOT  # exact (Sterbenz)
        total = 0.0
        for k in range(len(ROOT_SERIES) - 1, -1, -1):
            total = (total + ROOT_SERIES[k]) * d
        return ((PSI_AT_ROOT + total) + step) - reflection
    y = 0.0
    if x < 1.0e17:
        z = 1.0 / (x * x)
        poly = 0.0
        for c in PSI_ASYMPTOTIC:
            poly = poly * z + c
        y = z * poly
    return (math.log(x) - 0.5 / x - y) - reflection


def polygamma(n: int, value: float) -> float:
    """scipy.special.polygamma(n, x) for n >= 1: (-1)^(n+1) n! zeta(n+1, x).

    Sums 1/(x+k)^(n+1) until x+k >= n + 10, then the asymptotic series
    (n-1)!/x^n + n!/(2x^(n+1)) + sum_k B_2k (2k+n-1)! / ((2k)! x^(2k+n)),
    as SciPy's zeta does. Poles (x = 0, -1, ...) give (-1)^(n+1) inf, like SciPy.
    """
    x = np.float64(value)
    sign = 1.0 if n % 2 == 1 else -1.0
    if x <= 0.0 and x == np.floor(x):  # the poles, and -inf (as SciPy)
        return sign * math.inf
    factorial = 1.0
    for i in range(2, n + 1):
        factorial *= i
    power = n + 1
    threshold = n + 10.0
    head = 0.0
    while x < threshold:
        head += 1.0 / x ** power
        x += 1.0
    inverse = 1.0 / x
    inverse_square = inverse * inverse
    term = 1.0  # prod_{j < 2k} (n + j) / x^2k
    tail = 1.0 + 0.5 * n * inverse
    for k in range(len(BERNOULLI_OVER_FACTORIAL)):
        term *= (n + 2 * k) * (n + 2 * k + 1) * inverse_square
        tail += BERNOULLI_OVER_FACTORIAL[k] * term
    leading = (factorial / n) * inverse ** n  # (n-1)! / x^n
    return sign * (factorial * head + leading * tail)


def log_ndtr(value: float) -> float:
    """scipy.special.log_ndtr: log of the standard normal CDF, finite down to -1e150 and beyond."""
    x = np.float64(value)
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * SQRT_HALF))
    if x >= -20.0 or x != x:
        return math.log(0.5 * math.erfc(-x * SQRT_HALF))
    inverse_square = 1.0 / (x * x)
    term, total = 1.0, 0.0
    for k in range(1, ASYMPTOTIC_TERMS + 1):
        term *= -(2 * k - 1) * inverse_square
        total += term
    return -0.5 * x * x - math.log(-x) - LOG_SQRT_2PI + math.log1p(total)


def xlogy(x_value: float, y_value: float) -> float:
    """scipy.special.xlogy: x * log(y), and 0 where x == 0 (unless y is NaN)."""
    x, y = np.float64(x_value), np.float64(y_value)
    if x == 0.0 and y == y:
        return 0.0
    return x * math.log(y) if y > 0.0 else x * (-math.inf if y == 0.0 else math.nan)


def gammaln(value: float) -> float:
    """scipy.special.gammaln: libm's lgamma in float64, but -inf at -inf as SciPy (libm says +inf)."""
    x = np.float64(value)
    return -math.inf if x == -math.inf else math.lgamma(x)


def logaddexp(a_value: float, b_value: float) -> float:
    """np.logaddexp: max + log1p(exp(-|a - b|)); equal arguments give a + log(2) (inf stays inf)."""
    a, b = np.float64(a_value), np.float64(b_value)
    if a == b:
        return a + LOG_2
    if a != a or b != b:
        return math.nan
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def logit(value: float) -> float:
    """scipy.special.logit: log(p / (1 - p)), through log1p near p = 1/2 where the ratio is near 1."""
    p = np.float64(value)
    if 0.3 < p < 0.65:
        return math.log1p((2.0 * p - 1.0) / (1.0 - p))
    if p == 1.0:
        return math.inf
    if p == 0.0:
        return -math.inf
    if p < 0.0 or p > 1.0 or p != p:
        return math.nan
    return math.log(p / (1.0 - p))


HELPERS = ("digamma", "polygamma", "log_ndtr", "xlogy", "logit", "logaddexp", "gammaln")
