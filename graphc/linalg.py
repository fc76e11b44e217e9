"""`gc.linalg`: NumPy/SciPy-named linear algebra on tensors (numpy.linalg and scipy.linalg semantics).

Owns nothing: re-exports the builders declared in graphc/ops/decompositions.py
(`solve_triangular` is SciPy's; the rest are numpy.linalg's). Imports: ops
(layer L5 wiring).
"""

from .ops.decompositions import cholesky, det, eigh, inv, norm, slogdet, solve, solve_triangular

__all__ = ["cholesky", "det", "eigh", "inv", "norm", "slogdet", "solve", "solve_triangular"]
