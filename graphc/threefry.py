"""Counter-based random numbers: threefry-2x32 words and their uniform and normal floats.

Owns the bit generator behind `gc.random` and the transforms of its words into
floats, written ONCE as elementwise plain Python over NumPy uint64/float64
values: every function below computes one element from its arguments with
operations that mean the same on NumPy arrays and on scalars. The random ops'
NumPy `impl` (graphc/ops/random_ops.py, the numpy backend) calls them on
arrays, vectorized (`words`, `draw` below drive them CHUNK elements at a
time); graphc/backend/library_random.py lists the same functions as helpers
that `graphc.backend.runtime` wraps with `numba.njit`, and the generated code
calls them on scalars inside one loop. So both backends give the same bits,
and the same floats, for the same key. Layer L0 (numpy only): the ops (L2)
and the backend (L4) both need it. Only integer operations, +, -, *, / and
sqrt are used (no libm `log`, whose last bit differs between NumPy's SIMD
loops and libm): the logarithm the normal transform needs is fdlibm's,
written out.

The generator is JAX's threefry-2x32 (20 rounds, Salmon et al., "Parallel
random numbers: as easy as 1, 2, 3", SC 2011) in JAX's "partitionable" layout:
a key is one int64 holding the two 32-bit key words (high, low), as
`jax.random.PRNGKey(seed)` makes them from a 64-bit seed; element i of a draw
hashes the counter (high, low word of i); `split` hashes the counters 0..n-1
into new keys. Uniform floats are JAX's (the top mantissa bits of the word,
[0, 1)); normals are the inverse normal CDF (Wichura's AS 241, relative error
~1e-16) of a uniform at the midpoint of its cell, so never 0 or 1.

No helper calls another (numba cannot call plain Python functions); the
generated code nests the calls instead. Imports: numpy (layer L0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

MASK32 = np.uint64(0xFFFFFFFF)
PARITY = np.uint64(0x1BD11BDA)  # threefry's key schedule constant
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))  # alternate groups of four rounds
CHUNK = 4096  # elements per NumPy pass: temporaries of 32 KB stay in cache


def threefry_word(key: Any, counter: Any) -> Any:
    """threefry-2x32-20 of the 64-bit counter under the 64-bit key, as (high << 32) | low.

    Both arguments are uint64 (scalars or arrays of one shape); so is the result.
    """
    key0 = key >> np.uint64(32)
    key1 = key & MASK32
    schedule = (key0, key1, (key0 ^ key1 ^ PARITY) & MASK32)
    x0 = ((counter >> np.uint64(32)) + key0) & MASK32
    x1 = ((counter & MASK32) + key1) & MASK32
    for block in range(5):
        for r in ROTATIONS[block % 2]:
            x0 = (x0 + x1) & MASK32
            x1 = (((x1 << np.uint64(r)) | (x1 >> np.uint64(32 - r))) & MASK32) ^ x0
        x0 = (x0 + schedule[(block + 1) % 3]) & MASK32
        x1 = (x1 + schedule[(block + 2) % 3] + np.uint64(block + 1)) & MASK32
    return (x0 << np.uint64(32)) | x1


def uniform_from_word(word: Any, wide: bool) -> Any:
    """A float in [0, 1) as float64: the top 52 bits (wide) or 23 bits of the 32-bit fold.

    Exactly JAX's uniform: k * 2**-52 for float64, k * 2**-23 for float32 (exact
    in float32, so the caller's cast does not round).
    """
    if wide:
        return np.float64(word >> np.uint64(12)) * (2.0 ** -52)
    folded = (word >> np.uint64(32)) ^ (word & MASK32)
    return np.float64(folded >> np.uint64(9)) * (2.0 ** -23)


# Wichura's AS 241 (PPND16) rational approximations, highest power first, for Horner loops.
CENTRAL = ((2509.0809287301226727, 33430.575583588128105, 67265.770927008700853,
            45921.953931549871457, 13731.693765509461125, 1971.5909503065514427,
            133.14166789178437745, 3.387132872796366608),
           (5226.495278852854561, 28729.085735721942674, 39307.89580009271061,
            21213.794301586595867, 5394.1960214247511077, 687.1870074920579083,
            42.313330701600911252, 1.0))
MIDDLE = ((7.7454501427834140764e-4, 0.0227238449892691845833, 0.24178072517745061177,
           1.27045825245236838258, 3.64784832476320460504, 5.7694972214606914055,
           4.6303378461565452959, 1.42343711074968357734),
          (1.05075007164441684324e-9, 5.475938084995344946e-4, 0.0151986665636164571966,
           0.14810397642748007459, 0.68976733498510000455, 1.6763848301838038494,
           2.05319162663775882187, 1.0))
EXTREME = ((2.01033439929228813265e-7, 2.71155556874348757815e-5, 0.0012426609473880784386,
            0.026532189526576123093, 0.29656057182850489123, 1.7848265399172913358,
            5.4637849111641143699, 6.6579046435011037772),
           (2.04426310338993978564e-15, 1.4215117583164458887e-7, 1.8463183175100546818e-5,
            7.868691311456132591e-4, 0.0148753612908506148525, 0.13692988092273580531,
            0.59983220655588793769, 1.0))
LOG = (1.479819860511658591e-01, 1.531383769920937332e-01, 1.818357216161805012e-01,
       2.222219843214978396e-01, 2.857142874366239149e-01, 3.999999999940941908e-01,
       6.666666666666735130e-01)  # fdlibm's Lg7 .. Lg1


def normal_from_word(word: Any, wide: bool) -> Any:
    """Standard normal float64: Wichura's AS 241 inverse CDF of (k + 1/2) / 2**m, m = 52 or 23.

    Straight-line code (Horner written out, selections as exact arithmetic:
    x * 1 + y * 0 == x for the finite, nonzero values here), so the same text
    is vectorized NumPy on arrays and a loop body numba vectorizes on scalars.
    """
    if wide:
        p = (np.float64(word >> np.uint64(12)) + 0.5) * (2.0 ** -52)
    else:
        folded = (word >> np.uint64(32)) ^ (word & MASK32)
        p = (np.float64(folded >> np.uint64(9)) + 0.5) * (2.0 ** -23)
    q = p - 0.5
    r = np.maximum(0.180625 - q * q, 0.0)  # each branch is evaluated everywhere: keep it finite
    a, b = CENTRAL
    top = (((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]
    bottom = (((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]
    central = q * (((top * r + a[5]) * r + a[6]) * r + a[7]) / (((bottom * r + b[5]) * r + b[6]) * r + b[7])
    # the tails: s = sqrt(-log(min(p, 1 - p))), with fdlibm's log for the same bits everywhere
    bits = np.float64(np.minimum(p, 1.0 - p)).view(np.uint64)
    high = (bits >> np.uint64(32)) & np.uint64(0x000FFFFF)
    carry = (high + np.uint64(0x95F64)) & np.uint64(0x100000)
    k = np.float64(np.int64(bits >> np.uint64(52)) - 1023 + np.int64(carry >> np.uint64(20)))
    f = np.uint64(((high | (carry ^ np.uint64(0x3FF00000))) << np.uint64(32))
                  | (bits & MASK32)).view(np.float64) - 1.0  # mantissa in [sqrt(2)/2, sqrt(2)), - 1
    s = f / (2.0 + f)
    z = s * s
    series = (((LOG[0] * z + LOG[1]) * z + LOG[2]) * z + LOG[3]) * z + LOG[4]
    series = (series * z + LOG[5]) * z + LOG[6]
    half_square = 0.5 * f * f
    log_tail = k * 6.93147180369123816490e-01 - (
        (half_square - (s * (half_square + z * series) + k * 1.90821492927058770002e-10)) - f)
    root = np.sqrt(-log_tail)
    x = np.maximum(root - 1.6, 0.0)
    a, b = MIDDLE
    top = (((a[0] * x + a[1]) * x + a[2]) * x + a[3]) * x + a[4]
    bottom = (((b[0] * x + b[1]) * x + b[2]) * x + b[3]) * x + b[4]
    middle = (((top * x + a[5]) * x + a[6]) * x + a[7]) / (((bottom * x + b[5]) * x + b[6]) * x + b[7])
    x = np.maximum(root - 5.0, 0.0)
    a, b = EXTREME
    top = (((a[0] * x + a[1]) * x + a[2]) * x + a[3]) * x + a[4]
    bottom = (((b[0] * x + b[1]) * x + b[2]) * x + b[3]) * x + b[4]
    extreme = (((top * x + a[5]) * x + a[6]) * x + a[7]) / (((bottom * x + b[5]) * x + b[6]) * x + b[7])
    nearer = (root <= 5.0) * 1.0
    magnitude = middle * nearer + extreme * (1.0 - nearer)
    signed = magnitude * (1.0 - 2.0 * (q < 0.0))
    inside = (np.abs(q) <= 0.425) * 1.0
    return central * inside + signed * (1.0 - inside)


# ------------------------------------------------------- the NumPy drivers (not numba helpers)

def words(keys: Any, count: int, first: Any = 0) -> Any:
    """uint64 words (len(keys) * count,): word i*count + j is threefry_word(keys[i], first + j).

    `keys` is a 1-D int64 array: JAX's random_bits for 64 bits (partitionable)
    when first is 0, and the published known-answer vectors for one counter.
    """
    total = keys.shape[0] * count
    key_words = np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64)
    out = np.empty(total, np.uint64)
    for start in range(0, total, CHUNK):
        index = np.arange(start, min(start + CHUNK, total))
        counter = (index % count).astype(np.uint64) + np.uint64(first)
        out[start:start + index.shape[0]] = threefry_word(key_words[index // count], counter)
    return out


def draw(keys: Any, count: int, transform: Callable[[Any, bool], Any], wide: bool) -> Any:
    """float64 values (len(keys) * count,): `transform` of each word, CHUNK at a time."""
    bits = words(keys, count)
    out = np.empty(bits.shape[0], np.float64)
    for start in range(0, bits.shape[0], CHUNK):
        chunk = bits[start:start + CHUNK]
        out[start:start + chunk.shape[0]] = transform(chunk, wide)
    return out
