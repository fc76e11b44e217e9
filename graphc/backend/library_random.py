"""The random ops' helpers for generated code: threefry-2x32 words, uniform and normal floats.

Owns the `HELPERS` list of the random family (graphc/backend/library.py
FAMILIES). The functions themselves live in graphc/threefry.py (layer L0):
elementwise code that the ops' NumPy `impl` runs on arrays and generated code
calls on scalars inside one loop, so both backends give the same bits for
the same key. Imports: graphc.threefry (layer L4).
"""

from __future__ import annotations

from ..threefry import normal_from_word, threefry_word, uniform_from_word

__all__ = ["normal_from_word", "threefry_word", "uniform_from_word"]
HELPERS = ("threefry_word", "uniform_from_word", "normal_from_word")
