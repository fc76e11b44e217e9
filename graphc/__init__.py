"""graphc: a static-graph symbolic differentiation compiler.

Build a graph with NumPy-named ops on symbolic inputs, differentiate it with
`grad` (the backward graph is ordinary graph nodes), and `compile` it into
one function that returns the loss and every gradient.
"""

from . import (
    dask,
    linalg,
    nn,
    optim,
    random,  # noqa: A004 - gc.random, as numpy.random and jax.random
    special,
)
from . import numpy_dispatch as _numpy_dispatch  # noqa: F401 - np.exp(tensor) builds gc.exp
from . import printing as _printing  # noqa: F401 - installs the text form of tensors
from .api import Function, compile
from .autodiff import grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, vjp
from .backend import concurrency as _concurrency  # noqa: F401 - fork handlers, before any fork
from .control import scan, while_loop
from .custom import custom_jvp, custom_vjp, register_op
from .errors import (
    ArgumentError,
    CacheWarning,
    ConcretizationError,
    DTypeError,
    GradientCheckError,
    GraphcError,
    GraphcWarning,
    InputError,
    NotDifferentiableError,
    ShapeError,
)
from .gradcheck import check_grad, check_node_grads
from .ir import Node as Tensor
from .ir import Op, apply
from .ops import *  # noqa: F403 - the public builders, listed once in ops.PUBLIC
from .ops import PUBLIC as _PUBLIC
from .printing import format_graph
from .scope import scope
from .simplify import simplify
from .viz import to_dot, to_networkx
from .vmap import vmap

__version__ = "0.1.0"

__all__ = [
    "ArgumentError", "CacheWarning", "ConcretizationError", "DTypeError", "Function", "GradientCheckError",
    "GraphcError", "GraphcWarning", "InputError", "NotDifferentiableError", "ShapeError", "Tensor",
    "__version__",
    "Op", "apply", "check_grad", "check_node_grads", "compile", "custom_jvp", "custom_vjp", "dask",
    "format_graph", "grad", "hessian", "hvp", "jacfwd", "jacobian", "jacrev", "jvp", "linalg", "nn",
    "optim", "random", "register_op", "scan", "scope", "simplify", "special", "to_dot", "to_networkx",
    "vjp", "vmap", "while_loop", *_PUBLIC,
]
