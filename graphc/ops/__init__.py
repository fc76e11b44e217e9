"""Every op graphc knows, one declaration each, grouped by family (layer L2).

Importing this package registers all ops in `ir.OPS` and all public builders
in `ir.FUNCTIONS`. Family modules: base (leaves, factories), elementwise,
shape, reduce, linalg, other.
"""

from . import custom_ops as custom_ops  # custom_call: gc.custom_vjp's node (graphc/custom.py)
from . import random_ops as random_ops  # the random family (gc.random): registers its ops
from .base import as_tensor as as_tensor  # internal: explicit imports only (not in PUBLIC)
from .base import constant, input
from .elementwise import (
    abs,
    add,
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
from .linalg import dot, matmul, outer
from .other import astype, one_hot, ones_like, stop_gradient, zeros_like
from .reduce import count as count  # internal
from .reduce import log_softmax, logsumexp, max, mean, min, softmax, sum
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

# The public builders, listed once (`__all__`, also as PUBLIC): graphc/__init__.py
# re-exports exactly these (`from .ops import *`), so a new op is one line here (tests/test_ops_contract.py
# checks that every registered builder is listed or named internal).
__all__ = [
    "abs", "add", "arctan", "astype", "broadcast_to", "clip", "concatenate", "constant", "cos",
    "divide", "dot", "equal", "erf", "exp", "expand_dims", "expm1", "greater", "greater_equal", "input",
    "less", "less_equal", "log", "log1p", "log_softmax", "logsumexp", "matmul", "max", "maximum",
    "mean", "min", "minimum", "multiply", "negative", "not_equal", "one_hot", "ones_like", "outer",
    "power", "relu", "reshape", "sigmoid", "sign", "sin", "softmax", "softplus", "sqrt", "square",
    "squeeze", "stack", "stop_gradient", "subtract", "sum", "tan", "tanh", "transpose", "where",
    "zeros_like",
]
PUBLIC = tuple(__all__)
INTERNAL = ("as_tensor", "count", "getitem", "size_of", "sum_to")  # builders graphc uses, users do not
