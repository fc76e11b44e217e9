"""The graph IR: immutable nodes, construction, toposort.

Owns: `Node` (a tensor: an immutable graph node with identity equality),
`apply` (the only way nodes are built: runs the op's shape and dtype rules,
the memory check and records the user's line), `toposort` (iterative, so
10^5-node chains are fine), `Graph` and `FUNCTIONS`. The op record (`Op`,
`OPS`, `register`) lives in graphc.oprecord and the memory check in
graphc.memory; both are re-exported here. Imports: layer L0 and those two.

Tensor operators (`x + y`, `x.sum()`, `x[0]`) dispatch by name through
`FUNCTIONS`, which the ops package fills, so this layer needs no op code.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import dtypes, shapes
from .errors import (
    ArgumentError,
    ConcretizationError,
    DTypeError,
    GraphcError,
    ShapeError,
    api_boundary,
    argument_error,
    user_origin,
)
from .memory import check_memory, memory_limit
from .oprecord import OPS, REAL, Attrs, DTypeRule, Interval, Op, Sample, ShapeRule, register
from .scope import current as current_scope

FUNCTIONS: dict[str, Callable[..., Any]] = {}


def function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register a public builder so tensor methods/operators can reach it by name.

    The builder presents its public name (`sum`, not the internal `sum_`) and
    signature to `help()` and `inspect`. Wrong arguments become an
    `ArgumentError` in that name with a did-you-mean for a misspelt keyword;
    shape and dtype errors raised by the builder's own argument checks (an
    axis out of range, an unknown dtype) get the builder's name and the
    user's line, like the errors of the op rules that apply() reports. Either
    way the traceback ends at the user's line (errors.api_boundary).
    """
    public_name = fn.__name__.rstrip("_")
    try:
        signature = inspect.signature(fn, eval_str=True)
    except NameError:  # an annotation naming something only a type checker sees
        signature = inspect.signature(fn)

    def translate(exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Exception | None:
        if isinstance(exc, (ShapeError, DTypeError)) and not getattr(exc, "located", False):
            return _located(exc, public_name, args)
        if type(exc) is TypeError:  # Python's own complaint: maybe about the call itself
            return argument_error(public_name, signature, args, kwargs)
        return None

    builder = api_boundary(fn, translate)
    builder.__name__ = builder.__qualname__ = public_name
    builder.__signature__ = signature  # type: ignore[attr-defined]
    FUNCTIONS[public_name] = builder
    return builder


def _located(exc: ShapeError | DTypeError, public_name: str, args: tuple[Any, ...]) -> Exception:
    tensors = [a for arg in args for a in (arg if isinstance(arg, (list, tuple)) else [arg])
               if isinstance(a, Node)]
    described = ", ".join(
        f"{dtypes.short_name(t.dtype)}{shapes.format_shape(t.shape)}" for t in tensors)
    signature = f"{public_name}({described})" if tensors else public_name
    located = type(exc)(f"{signature}: {exc} (at {user_origin()})")
    located.located = True  # type: ignore[attr-defined,union-attr]
    return located


# Per-process: the printer installs itself once on import (a hook, not graph data).
_formatter: list[Callable[[Node], str]] = []


def set_formatter(fn: Callable[[Node], str]) -> None:
    """Installed by graphc.printing so `str(tensor)` shows the program text."""
    _formatter[:] = [fn]


_node_ids = itertools.count()


@dataclass(frozen=True, eq=False)
class Node:
    """A symbolic tensor: one immutable node of the graph.

    Equality and hashing are identity (nodes are dict keys everywhere, and a
    recursive `__eq__` would be quadratic); elementwise equality is `gc.equal`.
    """

    op: Op
    inputs: tuple[Node, ...]
    attrs: Attrs
    shape: shapes.Shape
    dtype: np.dtype
    name: str | None = None
    origin: str = "<unknown>"
    value: np.ndarray | None = None  # constants only
    weak: bool = False  # a Python scalar: does not widen other operands (NEP 50)
    constraints: tuple[shapes.Constraint, ...] = ()
    id: int = field(default_factory=lambda: next(_node_ids))
    scope: str = field(default_factory=current_scope)  # gc.scope's name, for pictures
    # `d_W` when gc.grad/gc.vjp made this node as the gradient of input W: the
    # name compiled code gives the output. On the node, so it pickles, is
    # serialized with the graph and is never shared between threads.
    gradient_name: str | None = None

    __eq__ = object.__eq__  # type: ignore[assignment]
    __hash__ = object.__hash__  # type: ignore[assignment]
    __array_priority__ = 1000  # older NumPy: defer `ndarray + tensor` to us

    def __post_init__(self) -> None:
        # A symbolic size remembers a tensor that carries it, so `x.shape[0]`
        # can become the run-time size in arithmetic (shapes.Dim).
        for axis, size in enumerate(self.shape):
            if type(size) is shapes.Dim and size._witness is None:
                object.__setattr__(size, "_witness", (self, axis))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def attr(self) -> dict[str, Any]:
        return dict(self.attrs)

    @property
    def T(self) -> Node:
        return FUNCTIONS["transpose"](self)

    def __str__(self) -> str:
        if _formatter:
            return _formatter[0](self)
        return repr(self)

    def __repr__(self) -> str:
        label = self.name or f"{self.op.name}#{self.id}"
        return f"<tensor {label}: {dtypes.short_name(self.dtype)}{shapes.format_shape(self.shape)}>"

    def __bool__(self) -> bool:
        raise ConcretizationError(
            "the truth value of a symbolic tensor is unknown until it runs; "
            f"use gc.where for a data-dependent choice (at {user_origin()})"
        )

    def __len__(self) -> int:
        if not self.shape:
            raise ConcretizationError(f"len() of a rank-0 tensor (at {user_origin()})")
        first = self.shape[0]
        if isinstance(first, shapes.Dim):
            raise ConcretizationError(f"len() of a tensor whose first size {first} is symbolic; "
                                      f"use x.shape[0] (at {user_origin()})")
        return first

    def __iter__(self) -> Any:
        raise ConcretizationError(
            "symbolic tensors are not iterable: a loop over one would unroll into the graph; "
            f"index them with x[i] or use a vectorized op (at {user_origin()})")

    def __float__(self) -> float:
        raise ConcretizationError(
            f"float() of a symbolic tensor: its value exists only when the compiled function "
            f"runs; return it as an output instead (at {user_origin()})")

    def __int__(self) -> int:
        raise ConcretizationError(
            f"int() of a symbolic tensor: its value exists only when the compiled function "
            f"runs; return it as an output instead (at {user_origin()})")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise ConcretizationError(
            f"a symbolic tensor ({self!r}) has no values until the compiled function runs, "
            "so NumPy cannot make an array of it; use graphc functions (or the NumPy functions "
            f"listed in docs/api.md) to build the graph (at {user_origin()})")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _numpy_dispatch[0].ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return _numpy_dispatch[0].function(func, types, args, kwargs)

    # Operators and methods mirror NumPy; the builders live in graphc/ops/.
    # A symbolic size operand (x.shape[0]) is the run-time size in this tensor's
    # dtype, as NumPy treats a Python int (NEP 50).
    def __add__(self, other: Any) -> Node: return FUNCTIONS["add"](self, _size(other, self))
    def __radd__(self, other: Any) -> Node: return FUNCTIONS["add"](_size(other, self), self)
    def __sub__(self, other: Any) -> Node: return FUNCTIONS["subtract"](self, _size(other, self))
    def __rsub__(self, other: Any) -> Node: return FUNCTIONS["subtract"](_size(other, self), self)
    def __mul__(self, other: Any) -> Node: return FUNCTIONS["multiply"](self, _size(other, self))
    def __rmul__(self, other: Any) -> Node: return FUNCTIONS["multiply"](_size(other, self), self)
    def __truediv__(self, other: Any) -> Node: return FUNCTIONS["divide"](self, _size(other, self))
    def __rtruediv__(self, other: Any) -> Node: return FUNCTIONS["divide"](_size(other, self), self)
    def __pow__(self, other: Any) -> Node: return FUNCTIONS["power"](self, _size(other, self))
    def __rpow__(self, other: Any) -> Node: return FUNCTIONS["power"](_size(other, self), self)
    def __matmul__(self, other: Any) -> Node: return FUNCTIONS["matmul"](self, other)
    def __mod__(self, other: Any) -> Node: return FUNCTIONS["mod"](self, _size(other, self))
    def __rmod__(self, other: Any) -> Node: return FUNCTIONS["mod"](_size(other, self), self)
    def __rmatmul__(self, other: Any) -> Node: return FUNCTIONS["matmul"](other, self)
    def __neg__(self) -> Node: return FUNCTIONS["negative"](self)
    def __pos__(self) -> Node: return self
    def __abs__(self) -> Node: return FUNCTIONS["abs"](self)
    def __lt__(self, other: Any) -> Node: return FUNCTIONS["less"](self, _size(other, self))
    def __le__(self, other: Any) -> Node: return FUNCTIONS["less_equal"](self, _size(other, self))
    def __gt__(self, other: Any) -> Node: return FUNCTIONS["greater"](self, _size(other, self))
    def __ge__(self, other: Any) -> Node: return FUNCTIONS["greater_equal"](self, _size(other, self))
    def __getitem__(self, index: Any) -> Node: return FUNCTIONS["getitem"](self, index)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Node:
        return FUNCTIONS["sum"](self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Node:
        return FUNCTIONS["mean"](self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Node:
        return FUNCTIONS["max"](self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Node:
        return FUNCTIONS["min"](self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Node:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return FUNCTIONS["reshape"](self, shape)

    def transpose(self, *axes: Any) -> Node:
        order: Any = axes
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            order = axes[0]
        return FUNCTIONS["transpose"](self, order if order else None)

    def astype(self, dtype: Any) -> Node:
        return FUNCTIONS["astype"](self, dtype)


def _size(value: Any, like: Node) -> Any:
    """A symbolic size as a tensor in `like`'s dtype (weak-int promotion); other values as given."""
    if isinstance(value, shapes.Dim):
        return FUNCTIONS["size_of"](value, like)
    return value


# Every operator and method is an API boundary: a graphc error raised below it
# reaches the user with only the user's frames (errors.api_boundary).
def _method_arguments(name: str, method: Callable[..., Any]) -> Callable[..., Exception | None]:
    """`x.sum(axes=1)`: an ArgumentError naming `Tensor.sum`, with a did-you-mean."""
    signature = inspect.signature(method, eval_str=True)

    def translate(exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Exception | None:
        return argument_error(f"Tensor.{name}", signature, args, kwargs) \
            if type(exc) is TypeError else None
    return translate


for _method in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
                "__truediv__", "__rtruediv__", "__pow__", "__rpow__", "__matmul__",
                "__rmatmul__", "__mod__", "__rmod__",
                "__neg__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__",
                "__getitem__", "__bool__", "__len__", "__iter__", "__float__", "__int__",
                "__array__", "__array_ufunc__", "__array_function__"):
    setattr(Node, _method, api_boundary(getattr(Node, _method)))
for _method in ("sum", "mean", "max", "min", "reshape", "transpose", "astype"):
    setattr(Node, _method, api_boundary(getattr(Node, _method),
                                        _method_arguments(_method, getattr(Node, _method))))
Node.T = property(api_boundary(Node.__dict__["T"].fget))  # type: ignore[assignment,method-assign]


class _NoNumpyDispatch:
    """Until graphc.numpy_dispatch installs itself: NumPy functions refuse tensors."""

    def ufunc(self, ufunc: Any, method: str, inputs: Any, kwargs: Any) -> Any:
        raise ArgumentError(f"np.{ufunc.__name__} on graphc tensors needs graphc.numpy_dispatch")

    def function(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        raise ArgumentError(f"np.{func.__name__} on graphc tensors needs graphc.numpy_dispatch")


# The NumPy protocol handlers; graphc.numpy_dispatch replaces the entry on import.
# Per-process: installed once on import, the same for every graph and thread.
_numpy_dispatch: list[Any] = [_NoNumpyDispatch()]


def freeze_attrs(attrs: dict[str, Any]) -> Attrs:
    """Sorted tuple of (name, value): hashable, order-independent, CSE-ready."""
    return tuple(sorted(attrs.items()))


def apply(op: Op, *inputs: Node, name: str | None = None, origin: str | None = None,
          scope: str | None = None, **attrs: Any) -> Node:
    """Build a node: check arity, run the shape and dtype rules, record the user's line.

    Rule errors are re-raised with the op and the user's file:line prepended.
    """
    where = origin if origin is not None else user_origin()
    if op.arity is not None and len(inputs) != op.arity:
        raise GraphcError(f"{op.name} takes {op.arity} inputs, got {len(inputs)} (at {where})")
    try:
        with shapes.collect_constraints() as constraints:
            shape = op.shape(inputs, **attrs)
        dtype = op.dtype(inputs, **attrs)
    except (ShapeError, DTypeError) as exc:
        described = ", ".join(
            f"{dtypes.short_name(i.dtype)}{shapes.format_shape(i.shape)}" for i in inputs
        )
        located = type(exc)(f"{op.name}({described}): {exc} (at {where})")
        located.located = True  # type: ignore[attr-defined,union-attr]
        raise located from None
    check_memory(op, inputs, shape, np.dtype(dtype), where)
    return Node(op, tuple(inputs), freeze_attrs(attrs), tuple(shape), np.dtype(dtype),
                name=name, origin=where, constraints=tuple(constraints),
                scope=current_scope() if scope is None else scope)


def toposort(outputs: Iterable[Node]) -> list[Node]:
    """Every node the outputs depend on, inputs before users. Iterative DFS."""
    order: list[Node] = []
    seen: set[int] = set()
    for root in outputs:
        if id(root) in seen:
            continue
        stack: list[tuple[Node, int]] = [(root, 0)]
        seen.add(id(root))
        while stack:
            node, next_input = stack[-1]
            if next_input < len(node.inputs):
                stack[-1] = (node, next_input + 1)
                child = node.inputs[next_input]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                stack.pop()
                order.append(node)
    return order


@dataclass(frozen=True)
class Graph:
    """The unit passes consume and return: declared inputs and ordered outputs."""

    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]

    def nodes(self) -> list[Node]:
        return toposort(self.outputs)

    def users(self) -> dict[Node, list[Node]]:
        result: dict[Node, list[Node]] = {}
        for node in self.nodes():
            for source in node.inputs:
                result.setdefault(source, []).append(node)
        return result


def substitute(outputs: Sequence[Node], replacements: dict[Node, Node]) -> list[Node]:
    """Rebuild `outputs` with some nodes replaced; untouched subgraphs keep their identity.

    Rebuilt nodes go through apply(), so shape and dtype rules run again.
    """
    memo: dict[Node, Node] = dict(replacements)
    for node in toposort(outputs):
        if node in memo:
            continue
        new_inputs = tuple(memo.get(i, i) for i in node.inputs)
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            memo[node] = node
        else:
            memo[node] = apply(node.op, *new_inputs, name=node.name, origin=node.origin,
                               scope=node.scope,
                               **node.attr)
    return [memo[o] for o in outputs]


# Names re-exported from graphc.oprecord and graphc.memory (split out of this
# module) so `from graphc.ir import Op, OPS, register, ...` keeps working.
__all__ = ["FUNCTIONS", "OPS", "REAL", "Attrs", "DTypeRule", "Graph", "Interval", "Node", "Op",
           "Sample", "ShapeRule", "apply", "freeze_attrs", "function", "memory_limit", "register",
           "set_formatter", "substitute", "toposort"]
