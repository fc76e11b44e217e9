"""Re-rolling, the search: where blocks of statement keys repeat, in linear time.

Owns `Runs(keys).find(start)` (the longest run of a repeated block of keys
starting at a statement), the limits that decide whether a run is worth a
loop (MIN_REPEATS, MIN_STATEMENTS, MAX_PERIOD) and `affine` (how a loop
writes `first + step * k`). A key is any hashable value, equal for
statements that differ only in the values and index integers they read:
codegen/reroll.py makes it from each statement's recorded structure
(codegen/steps.py), never from its text. Imports: NumPy. Entry point:
codegen.reroll.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

MIN_REPEATS = 4  # fewer steps than this: the loop's set-up costs about what it saves
# Statements a run must cover: each loop is one more Numba function in a cold compile (~0.3-0.7 s:
# Numba links and re-optimizes the kernels it calls), and saves ~1-2 us per statement per call.
# A shorter run (the T=27 HMM's 135-statement forward pass) stays unrolled.
MIN_STATEMENTS = 200
MAX_PERIOD = 64  # statements per step at most (the search is O(lines x MAX_PERIOD))


def affine(first: int, step: int, k: str) -> str:
    """`first + step * k` as a reader would write it: `k`, `k + 1`, `97 - k`, `3 + 2 * k`."""
    term = k if abs(step) == 1 else f"{abs(step)} * {k}"
    if first == 0:
        return term if step > 0 else f"-{term}"
    return f"{first} - {term}" if step < 0 else f"{first} + {term}"


class Runs:
    """Where blocks of keys repeat: `find(start)` in O(MAX_PERIOD) after O(lines x MAX_PERIOD).

    Why: searching from every start by comparing blocks was quadratic in a
    long repeated region (each start re-counted its repeats); the 64-layer
    MLP's 700-line body took ~0.3 s. Here, per period P, `match[P-1, i]` is
    how many lines from i on equal the line P later (one NumPy pass each), so
    a block of P lines at `start` repeats `1 + match[P-1, start] // P` times.
    """

    def __init__(self, keys: Sequence[Hashable | None]) -> None:
        numbers: dict[Hashable, int] = {}
        ids = np.array([numbers.setdefault(k, len(numbers)) if k is not None else -1 - i
                        for i, k in enumerate(keys)], np.int64)  # None matches nothing
        self.size = len(ids)
        self.periods = np.arange(1, MAX_PERIOD + 1)
        self.match = np.zeros((MAX_PERIOD, self.size + 1), np.int64)
        positions = np.arange(self.size)
        for period in range(1, min(MAX_PERIOD, self.size - 1) + 1):
            count = self.size - period
            stops = np.where(ids[:count] == ids[period:], count, positions[:count])
            following = np.minimum.accumulate(stops[::-1])[::-1]  # first mismatch at or after i
            self.match[period - 1, :count] = following - positions[:count]

    def find(self, start: int) -> tuple[int, int] | None:
        """(period K, repeats R) of the best run starting at `start` (most statements covered;
        the shortest period among equals)."""
        longest = min(MAX_PERIOD, (self.size - start) // MIN_REPEATS)
        if longest < 1:
            return None
        periods = self.periods[:longest]
        repeats = 1 + self.match[:longest, start] // periods
        covered = np.where(repeats >= MIN_REPEATS, periods * repeats, 0)
        best = int(np.argmax(covered))
        return (best + 1, int(repeats[best])) if covered[best] else None


def find(keys: Sequence[Hashable | None], start: int) -> tuple[int, int] | None:
    """(period K, repeats R) of the best run starting at `start` (most statements covered)."""
    return Runs(keys).find(start)
