"""`gc.special`: SciPy-named special functions on tensors (scipy.special semantics).

Owns nothing: re-exports the builders declared in graphc/ops, so `gc.special.erf`
is `gc.erf` and `gc.special.expit` is `gc.sigmoid`. Imports: ops (layer L5 wiring).
"""

from .ops import digamma, erf, erfc, gammaln, log_ndtr, logit, polygamma, sigmoid, xlogy

expit = sigmoid  # SciPy's name for the logistic function

__all__ = ["digamma", "erf", "erfc", "expit", "gammaln", "log_ndtr", "logit", "polygamma", "xlogy"]
