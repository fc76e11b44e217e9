"""An independent reference for gc.random: threefry-2x32-20 on Python ints, one counter at a time.

Written from the Random123 paper's description (Salmon et al., SC 2011, and
its reference threefry.h: rotations R_32x2 = 13 15 26 6 17 29 16 24, key
schedule parity 0x1BD11BDA, a key injection every four rounds), not from
graphc/threefry.py, whose vectorized uint64 code it checks. The float
transforms are JAX's uniform (the top mantissa bits) and SciPy's inverse
normal CDF (`ndtri`) of the cell midpoint graphc documents.
"""

from __future__ import annotations

import numpy as np
import scipy.special

M32 = 0xFFFFFFFF
R = (13, 15, 26, 6, 17, 29, 16, 24)


def rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & M32


def threefry2x32(key: tuple[int, int], counter: tuple[int, int], rounds: int = 20) -> tuple[int, int]:
    ks = [key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDA]
    x0, x1 = (counter[0] + ks[0]) & M32, (counter[1] + ks[1]) & M32
    for r in range(rounds):
        x0 = (x0 + x1) & M32
        x1 = rotl(x1, R[r % 8]) ^ x0
        if r % 4 == 3:
            s = r // 4 + 1
            x0 = (x0 + ks[s % 3]) & M32
            x1 = (x1 + ks[(s + 1) % 3] + s) & M32
    return x0, x1


def words(key: int) -> tuple[int, int]:
    unsigned = int(key) % 2**64
    return unsigned >> 32, unsigned & M32


def bits64(key: int, count: int) -> list[int]:
    """The 64-bit words of draws 0..count-1 under `key`: (hash high << 32) | hash low."""
    out = []
    for i in range(count):
        high, low = threefry2x32(words(key), (i >> 32, i & M32))
        out.append((high << 32) | low)
    return out


def split(keys: np.ndarray, n: int) -> np.ndarray:
    keys = np.asarray(keys)
    rows = [np.array(bits64(k, n), dtype=np.uint64).view(np.int64) for k in keys.reshape(-1)]
    return np.array(rows, dtype=np.int64).reshape(keys.shape + (n,))


def _unit(word: int, wide: bool, midpoint: bool) -> float:
    shift = 0.5 if midpoint else 0.0
    if wide:
        return ((word >> 12) + shift) * 2.0 ** -52
    folded = (word >> 32) ^ (word & M32)
    return ((folded >> 9) + shift) * 2.0 ** -23


def draw(keys: np.ndarray, shape: tuple[int, ...], dtype: str, normal: bool) -> np.ndarray:
    keys = np.asarray(keys)
    count = int(np.prod(shape, dtype=np.int64))
    wide = dtype == "float64"
    rows = []
    for k in keys.reshape(-1):
        units = np.array([_unit(w, wide, normal) for w in bits64(k, count)])
        rows.append(scipy.special.ndtri(units) if normal else units)
    return np.array(rows, dtype=np.float64).astype(dtype).reshape(keys.shape + tuple(shape))


def uniform(keys: np.ndarray, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return draw(keys, shape, dtype, normal=False)


def normal(keys: np.ndarray, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return draw(keys, shape, dtype, normal=True)
