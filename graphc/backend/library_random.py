"""The random ops' array helpers for generated code: threefry-2x32 bits, uniform and normal floats.

Owns the `HELPERS` list of the random family (graphc/backend/library.py
FAMILIES). The functions themselves live in graphc/threefry.py (layer L0), so
the ops' NumPy `impl` and the numba backend run the very same code and give
the same bits for the same key. Imports: graphc.threefry (layer L4).
"""

from __future__ import annotations

from ..threefry import normal_from_bits, random_bits, uniform_from_bits

__all__ = ["normal_from_bits", "random_bits", "uniform_from_bits"]
HELPERS = ("random_bits", "uniform_from_bits", "normal_from_bits")
