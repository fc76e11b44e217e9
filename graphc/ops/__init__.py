"""Every op graphc knows, one declaration each, grouped by family (layer L2).

Importing this package registers all ops in `ir.OPS` and all public builders
in `ir.FUNCTIONS`. Family modules: base (leaves, factories), elementwise,
shape, reduce, linalg, other, matrix, decompositions, einsum, special_ops,
statistics, sorting, rounding, construct, indexing, conv, pool, nn.
"""

from . import custom_ops as custom_ops  # custom_call: gc.custom_vjp's node (graphc/custom.py)
from . import decompositions as decompositions  # registers gc.linalg's ops (graphc/linalg.py)
from . import random_ops as random_ops  # the random family (gc.random): registers its ops
from .base import as_tensor as as_tensor  # internal: explicit imports only (not in PUBLIC)
from .base import constant, input
from .construct import arange, pad, roll
from .einsum import einsum
from .elementwise import (
    abs,
    add,
    arcsinh,
    arctan,
    clip,
    cos,
    divide,
    equal,
    erf,
    exp,
    expm1,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    relu,
    sigmoid,
    sign,
    sin,
    softplus,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    where,
)
from .indexing import add_at, take, take_along_axis
from .linalg import dot, matmul, outer
from .matrix import diag, diagonal, eye, trace, tril, triu
from .nn import avg_pool2d as avg_pool2d  # gc.nn only (see NN below)
from .nn import conv1d as conv1d
from .nn import conv2d as conv2d
from .nn import convolve as convolve
from .nn import correlate as correlate
from .nn import max_pool2d as max_pool2d
from .other import astype, one_hot, ones_like, stop_gradient, zeros_like
from .reduce import count as count  # internal
from .reduce import log_softmax, logsumexp, max, mean, min, softmax, sum
from .rounding import ceil, floor, logaddexp, logaddexp2, mod, round
from .shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    reshape,
    squeeze,
    stack,
    transpose,
)
from .shape import getitem as getitem  # internal: x[...] calls it
from .shape import sum_to as sum_to  # internal: autodiff's un-broadcast
from .sorting import argsort as argsort  # internal: sort's permutation
from .sorting import cumsum, sort
from .special_ops import digamma, erfc, gammaln, log_ndtr, logit, polygamma, xlogy
from .statistics import argmax, argmin, prod, std, var

# The public builders, listed once (`__all__`, also as PUBLIC): graphc/__init__.py
# re-exports exactly these (`from .ops import *`), so a new op is one line here (tests/test_ops_contract.py
# checks that every registered builder is listed or named internal).
__all__ = [
    "abs", "add", "arcsinh", "arctan", "astype", "broadcast_to", "clip", "concatenate", "constant", "cos",
    "divide", "dot", "equal", "erf", "exp", "expand_dims", "expm1", "greater", "greater_equal", "input",
    "less", "less_equal", "log", "log1p", "log_softmax", "logsumexp", "matmul", "max", "maximum",
    "mean", "min", "minimum", "multiply", "negative", "not_equal", "one_hot", "ones_like", "outer",
    "power", "relu", "reshape", "sigmoid", "sign", "sin", "softmax", "softplus", "sqrt", "square",
    "squeeze", "stack", "stop_gradient", "subtract", "sum", "tan", "tanh", "transpose", "where",
    "zeros_like",
    "diag", "diagonal", "einsum", "eye", "trace", "tril", "triu",  # matrix structure, einsum
    # second version: special functions (also gc.special), statistics, scans, rounding, building
    "arange", "argmax", "argmin", "ceil", "cumsum", "digamma", "erfc", "floor", "gammaln",
    "log_ndtr", "logaddexp", "logaddexp2", "logit", "mod", "pad", "polygamma", "prod", "roll",
    "round", "sort", "std", "var", "xlogy",
    "take", "take_along_axis", "add_at",
]
PUBLIC = tuple(__all__)
# gc.linalg's builders (graphc/linalg.py re-exports them), not top-level names, as in NumPy
LINALG = ("cholesky", "det", "eigh", "inv", "norm", "slogdet", "solve", "solve_triangular")
# Builders reached as gc.nn.<name> only (convolve/correlate have SciPy's semantics, not NumPy's
# np.convolve/np.correlate, so they are not top-level names that np.<name> would dispatch to).
NN = ("avg_pool2d", "conv1d", "conv2d", "convolve", "correlate", "max_pool2d")
# builders graphc uses, users do not, and those reached only as gc.linalg.<name> / gc.nn.<name>
INTERNAL = ("argsort", "as_tensor", "count", "getitem", "size_of", "sum_to") + LINALG + NN
