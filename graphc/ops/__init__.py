"""Every op graphc knows, one declaration each, grouped by family (layer L2).

Importing this package registers all ops in `ir.OPS` and all public builders
in `ir.FUNCTIONS`. Family modules: base (leaves, factories), elementwise,
shape, reduce, linalg, other.
"""

from .base import as_tensor, constant, input
from .elementwise import (
    abs,
    add,
    arctan,
    clip,
    cos,
    divide,
    equal,
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
from .reduce import count, log_softmax, logsumexp, max, mean, min, softmax, sum
from .shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    reshape,
    squeeze,
    stack,
    sum_to,
    transpose,
)

__all__ = [
    "abs", "add", "arctan", "as_tensor", "astype", "broadcast_to", "clip", "concatenate",
    "constant", "cos", "count", "divide", "dot", "equal", "exp", "expand_dims", "expm1",
    "getitem", "greater", "greater_equal", "input", "less", "less_equal", "log", "log1p",
    "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum",
    "multiply", "negative", "not_equal", "one_hot", "ones_like", "outer", "power", "relu",
    "reshape", "sigmoid", "sign", "sin", "softmax", "softplus", "sqrt", "square", "squeeze",
    "stack", "stop_gradient", "subtract", "sum", "sum_to", "tan", "tanh", "transpose",
    "where", "zeros_like",
]
