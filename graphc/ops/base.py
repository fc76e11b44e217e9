"""Leaves (inputs, constants), tensor coercion, and the factories ops are declared with.

Owns: `input`, `constant`, `as_tensor` (Python numbers and arrays become
constants wherever a tensor is expected), the shared dtype rules, and the
`elementwise` factory that gives an op NumPy broadcasting and NumPy's own
result dtype. Imports: ir and layer L0.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import DTypeError, GraphcError, ShapeError, user_origin
from ..ir import FUNCTIONS, REAL, Interval, Node, Op, Sample, function, register
from ..lowering import Leaf, Pointwise
from . import batching


def _leaf_shape(inputs: Sequence[Node], **attrs: Any) -> shapes.Shape:
    raise AssertionError("leaves are built directly, not by apply()")


def _leaf_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    raise AssertionError("leaves are built directly, not by apply()")


def _no_impl(*arrays: Any, **attrs: Any) -> Any:
    raise AssertionError("leaves are bound by the interpreter, not computed")


INPUT = register(Op("input", shape=_leaf_shape, dtype=_leaf_dtype, impl=_no_impl,
                    arity=0, label="input", vjp=lambda g, out: (), lowering=Leaf()))
CONSTANT = register(Op("constant", shape=_leaf_shape, dtype=_leaf_dtype, impl=_no_impl,
                       arity=0, label="constant", vjp=lambda g, out: (),
                       lowering=Leaf()))


@function
def input(name: str, shape: Any = (), dtype: Any = "float64") -> Node:  # noqa: A001
    """A symbolic input. Dims: int (static), None (any size) or a name (shared size)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise GraphcError(
            f"input name must be a Python identifier, got {name!r} (at {user_origin()})")
    return Node(INPUT, (), (), shapes.input_shape(shape), dtypes.as_dtype(dtype),
                name=name, origin=user_origin())


@function
def constant(value: Any, dtype: Any = None, name: str | None = None) -> Node:
    """A constant tensor. A Python scalar is weakly typed (NEP 50) unless dtype is given."""
    weak = dtype is None and isinstance(value, (bool, int, float)) and not isinstance(value, np.generic)
    if isinstance(value, (list, tuple)) and _holds_tensor(value):
        raise GraphcError("a list holding symbolic tensors is not a constant; combine tensors "
                          f"with gc.stack or gc.concatenate (at {user_origin()})")
    try:
        if dtype is None:
            dtype = dtypes.scalar_dtype(value) if weak else np.asarray(value).dtype
        array = np.array(value, dtype=dtypes.as_dtype(dtype))
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, GraphcError):
            raise
        raise ShapeError(f"cannot make a constant of the {type(value).__name__} given: "
                         f"{_first_sentence(exc)}") from None
    if array.dtype.kind == "O":
        raise DTypeError(f"cannot make a constant of the {type(value).__name__} given: it holds "
                         "Python objects, not numbers")
    array.setflags(write=False)
    return Node(CONSTANT, (), (), tuple(array.shape), array.dtype, name=name,
                origin=user_origin(), value=array, weak=weak)


def _holds_tensor(value: Any) -> bool:
    return any(isinstance(v, Node) or (isinstance(v, (list, tuple)) and _holds_tensor(v))
               for v in value)


def _first_sentence(exc: Exception) -> str:
    """NumPy's reason without its advice about dtype=object (which graphc cannot use)."""
    text = str(exc)
    if "inhomogeneous" in text:
        return ("its nested lists have different lengths (NumPy: "
                + text[text.index("The requested"):].split(". The detected")[0].rstrip(".")
                + ")") if "The requested" in text else "its nested lists have different lengths"
    return text.split(". ")[0].rstrip(".")


def as_tensor(value: Any) -> Node:
    """Tensors pass through; Python numbers, arrays and symbolic sizes become tensors."""
    if isinstance(value, Node):
        return value
    if isinstance(value, shapes.Dim):
        return size_of(value)
    if isinstance(value, (bool, int, float, np.ndarray, np.generic, list, tuple)):
        return constant(value)
    raise GraphcError(
        f"expected a tensor, a number or an array, got {type(value).__name__} (at {user_origin()})"
    )


def size_of(size: shapes.Dim, like: Node | None = None) -> Node:
    """A symbolic size (`x.shape[0]`) as a rank-0 tensor holding its run-time value.

    Its dtype is what NumPy would give a Python int combined with `like`
    (NEP 50: `like`'s dtype for numbers, int64 for bool), or int64 alone, so
    `gc.sum(x) / x.shape[0]` stays float32 for a float32 x. The value is read
    off the shape of the tensor that first carried the size (Dim._witness)
    by the `size` op, which both backends compute from the inputs' shapes.
    """
    from .reduce import count  # the `size` op lives with the reductions that use it

    dtype = like.dtype if like is not None and like.dtype.kind in "iuf" else np.dtype("int64")
    witness = size._witness
    if witness is None:
        raise ShapeError(f"the symbolic size {size} belongs to no tensor; take it from "
                         "a tensor of the graph, as in x.shape[0]")
    return count(witness[0], (witness[1],), dtype)


def _dim_arithmetic(name: str, a: Any, b: Any) -> Node:
    """`x.shape[0] * 2` and friends: the size as a tensor, typed by the other operand."""
    other = b if isinstance(a, shapes.Dim) else a
    like = other if isinstance(other, Node) else None
    if not isinstance(other, (Node, bool, int, float, np.ndarray, np.generic, shapes.Dim)):
        return NotImplemented  # type: ignore[no-any-return]
    a = size_of(a, like) if isinstance(a, shapes.Dim) else a
    b = size_of(b, like) if isinstance(b, shapes.Dim) else b
    return FUNCTIONS[name](a, b)  # type: ignore[no-any-return]


FUNCTIONS["size_of"] = size_of
shapes._arithmetic[0] = _dim_arithmetic


def full_like_scalar(value: float, like: Node) -> Node:
    """A rank-0 constant of `like`'s dtype (strongly typed): for rules' literals."""
    return constant(value, dtype=like.dtype)


# ---------------------------------------------------------------- dtype rules

@lru_cache(maxsize=4096)
def _numpy_result_dtype(impl: Callable[..., Any], operands: tuple[tuple[np.dtype, bool], ...],
                        attrs: tuple[tuple[str, Any], ...]) -> np.dtype:
    args = [dtypes.weak_exemplar(d) if weak else np.ones((), d) for d, weak in operands]
    if all(weak for _, weak in operands):
        args = [np.ones((), d) for d, _ in operands]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = np.asarray(impl(*args, **dict(attrs))).dtype
        except TypeError as exc:
            raise DTypeError(
                "NumPy does not support dtypes " + ", ".join(str(d) for d, _ in operands)
                + f" here ({exc})"
            ) from None
    if result not in dtypes.SUPPORTED:
        raise DTypeError(f"result dtype {result} is not supported")
    return result


def numpy_dtype(impl: Callable[..., Any]) -> Callable[..., np.dtype]:
    """Dtype rule for elementwise ops: whatever NumPy's own ufunc gives (NEP 50 included)."""
    def rule(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
        operands = tuple((i.dtype, i.weak) for i in inputs)
        return _numpy_result_dtype(impl, operands, tuple(sorted(attrs.items())))
    return rule


def same_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    return inputs[0].dtype


def float_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    """Floats keep their precision; integers and bools compute in float64."""
    dtype = inputs[0].dtype
    return dtype if dtypes.is_float(dtype) else np.dtype("float64")


def bool_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    return np.dtype("bool")


def require_float(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    dtype = inputs[0].dtype
    if not dtypes.is_float(dtype):
        raise DTypeError(f"expected a float tensor, got {dtype}")
    return dtype


# ------------------------------------------------------------- shape rules

def broadcast_shape(inputs: Sequence[Node], **attrs: Any) -> shapes.Shape:
    return shapes.broadcast(*(i.shape for i in inputs))


def same_shape(inputs: Sequence[Node], **attrs: Any) -> shapes.Shape:
    return inputs[0].shape


# ------------------------------------------------------------------ factory

def elementwise(name: str, impl: Callable[..., Any], *, arity: int,
                scalar: str | Pointwise | None = None, kernel: str | None = None,
                vjp: Callable[..., Sequence[Any]] | None = None,
                dtype: Callable[..., np.dtype] | None = None,
                domain: tuple[Interval, ...] = (), label: str | None = None,
                infix: str | None = None, differentiable: bool = True,
                **properties: Any) -> Op:
    """Declare an elementwise op: NumPy broadcasting, NumPy's dtype, its Pointwise lowering.

    `scalar` is the per-element template (or a `Pointwise` record with more
    facts); `kernel="exp"` instead says the op is one call of graphc's kernel.

    The contract tests sample broadcasting shapes for every elementwise op,
    so declaring one here is all it takes to have it tested.
    """
    return register(Op(
        name, shape=broadcast_shape, dtype=dtype or numpy_dtype(impl), impl=impl, vjp=vjp,
        arity=arity, label=label or name, infix=infix, elementwise=True,
        lowering=Pointwise.calling(kernel) if kernel is not None else
        scalar if isinstance(scalar, Pointwise) else Pointwise(str(scalar)),
        differentiable=differentiable, domain=domain or (REAL,) * arity,
        batch=batching.elementwise(name), **properties,
    ))


def check_static_int(value: Any, what: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    raise ShapeError(f"{what} must be a static int, got {value!r}")


__all__ = [
    "CONSTANT", "FUNCTIONS", "INPUT", "Interval", "Node", "Op", "Sample", "as_tensor",
    "bool_dtype", "broadcast_shape", "check_static_int", "constant", "elementwise",
    "float_dtype", "full_like_scalar", "function", "input", "numpy_dtype", "register",
    "require_float", "same_dtype", "same_shape",
]
