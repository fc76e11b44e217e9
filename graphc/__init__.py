"""graphc: a static-graph symbolic differentiation compiler.

Build a graph with NumPy-named ops on symbolic inputs, differentiate it with
`grad` (the backward graph is ordinary graph nodes), and `compile` it into
one function that returns the loss and every gradient.
"""

from . import optim
from . import printing as _printing  # noqa: F401 - installs the text form of tensors
from .api import Function, compile
from .autodiff import grad, hessian, hvp, jacobian, jvp, vjp
from .errors import (
    DTypeError,
    GradientCheckError,
    GraphcError,
    InputError,
    NotDifferentiableError,
    ShapeError,
)
from .gradcheck import check_grad, check_node_grads
from .ir import Node as Tensor
from .ops import (
    abs,
    add,
    arctan,
    astype,
    broadcast_to,
    clip,
    concatenate,
    constant,
    cos,
    divide,
    dot,
    equal,
    exp,
    expand_dims,
    expm1,
    greater,
    greater_equal,
    input,
    less,
    less_equal,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    not_equal,
    one_hot,
    ones_like,
    outer,
    power,
    relu,
    reshape,
    sigmoid,
    sign,
    sin,
    softmax,
    softplus,
    sqrt,
    square,
    squeeze,
    stack,
    stop_gradient,
    subtract,
    sum,
    tan,
    tanh,
    transpose,
    where,
    zeros_like,
)
from .printing import format_graph
from .scope import scope
from .simplify import simplify
from .viz import to_dot, to_networkx

__version__ = "0.1.0"

__all__ = [
    "DTypeError", "Function", "GradientCheckError", "GraphcError", "InputError",
    "NotDifferentiableError", "ShapeError", "Tensor", "__version__", "abs", "add", "arctan",
    "astype", "broadcast_to", "check_grad", "check_node_grads", "clip", "compile", "concatenate",
    "constant", "cos", "divide", "dot", "equal", "exp", "expand_dims", "expm1", "format_graph",
    "grad", "greater", "greater_equal", "hessian", "hvp", "input", "jacobian", "jvp", "less",
    "less_equal", "log", "log1p", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean",
    "min", "minimum", "multiply", "negative", "not_equal", "one_hot", "ones_like", "optim", "outer", "power",
    "relu", "reshape", "scope", "sigmoid", "sign", "simplify", "sin", "softmax", "softplus", "sqrt", "square",
    "squeeze", "stack", "stop_gradient", "subtract", "sum", "tan", "tanh", "to_dot", "to_networkx",
    "transpose", "vjp", "where", "zeros_like",
]
