"""`gc.special`: SciPy-named special functions on tensors (scipy.special semantics).

Owns nothing: re-exports the builders declared in graphc/ops, so `gc.special.erf`
is `gc.erf`. Imports: ops (layer L5 wiring).
"""

from .ops import erf

__all__ = ["erf"]
