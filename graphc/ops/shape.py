"""Shape ops: reshape, transpose, broadcasting, axes, joining.

Owns their declarations and builders, plus an op the autodiff pass emits:
`sum_to` (the un-broadcast: sum a cotangent back to an input's shape).
Basic indexing (`getitem` and its transpose `scatter`) is declared in
basic_indexing.py and re-exported here. Shape attributes may hold symbolic
sizes (`Dim`); executors resolve them from the inputs' sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import shapes
from ..errors import ShapeError
from ..ir import Node, Op, Sample, apply
from ..lowering import Kernel, View, summing
from . import batching
from .base import as_tensor, check_static_int, function, register, same_dtype

Shape = shapes.Shape


def _target_shape(spec: Any, allow_unknown: bool = True) -> tuple[Any, ...]:
    """User shape spec -> tuple of int / -1 / Dim (names become named Dims)."""
    if isinstance(spec, (int, np.integer, str, shapes.Dim)):
        spec = (spec,)
    out: list[Any] = []
    for entry in spec:
        if isinstance(entry, str):
            out.append(shapes.input_shape((entry,))[0])  # checks the name
        elif isinstance(entry, shapes.Dim):
            out.append(entry)
        else:
            size = check_static_int(entry, "a reshape size")
            if size < -1 or (size == -1 and not allow_unknown):
                raise ShapeError(f"bad size {size} in shape {tuple(spec)!r}")
            out.append(size)
    return tuple(out)


# ------------------------------------------------------------------ reshape

def _reshape_shape(inputs: Sequence[Node], shape: Shape) -> Shape:
    total = shapes.product(inputs[0].shape)
    unknown = [i for i, s in enumerate(shape) if isinstance(s, int) and s == -1]
    if len(unknown) > 1:
        raise ShapeError("can only specify one unknown dimension (-1)")
    known = shapes.product([s for s in shape if not (isinstance(s, int) and s == -1)])
    if unknown:
        size = shapes.quotient(total, known)
        if size is None:
            if isinstance(total, int) and isinstance(known, int):
                raise ShapeError(f"cannot reshape {total} elements into shape {_fmt(shape)}")
            size = shapes.Dim.anonymous()
        return tuple(size if i == unknown[0] else s for i, s in enumerate(shape))
    if isinstance(total, int) and isinstance(known, int) and total != known:
        raise ShapeError(f"cannot reshape {total} elements into shape {_fmt(shape)}")
    shapes.require_equal(total, known)
    return tuple(shape)


def _fmt(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


RESHAPE = register(Op(
    "reshape", rearranges=True, shape=_reshape_shape, dtype=same_dtype, arity=1, label="reshape", linear=True,
    impl=lambda x, shape: np.reshape(x, shape),
    vjp=lambda g, out, x, shape: (reshape(g, x.shape),),
    batch=batching.reshape,
    lowering=Kernel(lambda node: ("full({out_shape}, {0}, {out_dtype})" if node.inputs[0].ndim == 0
                         else "contiguous({0}).flat[0]" if node.ndim == 0 else
                         "contiguous({0}).reshape({shape})"),
                    allocates=lambda node: node.inputs[0].ndim == 0),  # full(...): a new array
    samples=(Sample(((2, 3),), {"shape": (3, 2)}), Sample(((2, 3, 4),), {"shape": (-1, 4)}),
             Sample(((6,),), {"shape": (1, 2, 3)}), Sample(((),), {"shape": (1, 1)})),
))


@function
def reshape(x: Any, shape: Any) -> Node:
    """Same elements, new shape (numpy.reshape); one size may be -1."""
    x = as_tensor(x)
    target = _target_shape(shape)
    resolved = _reshape_shape_for_attr(x, target)
    if resolved == x.shape:
        return x
    return apply(RESHAPE, x, shape=resolved)


def _reshape_shape_for_attr(x: Node, target: tuple[Any, ...]) -> tuple[Any, ...]:
    """Replace -1 by its exact size when it is known, so the attribute is explicit."""
    try:
        full = _reshape_shape((x,), target)
    except ShapeError:
        return target  # apply() re-raises it with the op and the user's line
    return tuple(s if not (isinstance(s, shapes.Dim) and s.is_anonymous and t == -1) else -1
                 for s, t in zip(full, target))


# ---------------------------------------------------------------- transpose

def _transpose_shape(inputs: Sequence[Node], axes: tuple[int, ...]) -> Shape:
    x = inputs[0]
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"axes {axes} are not a permutation of the {x.ndim} axes")
    return tuple(x.shape[a] for a in axes)


TRANSPOSE = register(Op(
    "transpose", rearranges=True, shape=_transpose_shape, dtype=same_dtype, arity=1, linear=True,
    label="transpose", impl=lambda x, axes: np.transpose(x, axes),
    vjp=lambda g, out, x, axes: (transpose(g, tuple(int(i) for i in np.argsort(axes))),),
    batch=batching.transpose,
    lowering=View(lambda node, out: tuple(out[node.attr["axes"].index(k)] for k in range(len(out))),
                  copy=Kernel(lambda node: "{0}.T" if node.attr["axes"] == tuple(
                      reversed(range(node.ndim))) else "np.transpose({0}, {axes})")),
    samples=(Sample(((2, 3),), {"axes": (1, 0)}), Sample(((2, 3, 4),), {"axes": (2, 0, 1)})),
))


@function
def transpose(x: Any, axes: Any = None) -> Node:
    """Permute axes (numpy.transpose); reverses them when axes is None."""
    x = as_tensor(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    else:
        if not isinstance(axes, (tuple, list)):
            axes = (axes,)
        axes = tuple(shapes.normalize_axis(a, x.ndim) for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return apply(TRANSPOSE, x, axes=tuple(axes))


# ------------------------------------------------------ broadcast / sum_to

def _broadcast_to_shape(inputs: Sequence[Node], shape: Shape) -> Shape:
    x = inputs[0]
    if len(shape) < x.ndim:
        raise ShapeError(f"cannot broadcast rank {x.ndim} to the smaller rank {len(shape)}")
    for size, target in zip(x.shape, shape[len(shape) - x.ndim:]):
        if not (isinstance(size, int) and size == 1):
            if isinstance(size, int) and isinstance(target, int) and size != target:
                raise ShapeError(f"cannot broadcast {shapes.format_shape(x.shape)} "
                                 f"to {shapes.format_shape(shape)}")
            shapes.require_equal(size, target)
    return tuple(shape)


def _broadcast_index(source: Shape, target: Shape, out: Sequence[str]) -> tuple[str, ...]:
    """Index of a broadcast input: trailing axes, 0 on its static size-1 axes (codegen)."""
    lead = len(target) - len(source)
    return tuple("0" if size == 1 and target[lead + a] != 1 else out[lead + a]
                 for a, size in enumerate(source))


def _squeeze_index(axis: tuple[int, ...], out: Sequence[str]) -> tuple[str, ...]:
    """Index of a squeezed input: 0 on the removed size-1 axes (codegen)."""
    rest = iter(out)
    return tuple("0" if a in axis else next(rest) for a in range(len(out) + len(axis)))


def _sum_to_impl(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and x.shape[lead + i] != 1)
    total = np.sum(x, axis=axes, keepdims=True, dtype=x.dtype) if axes else x
    return np.reshape(total, shape)


def _sum_to_shape(inputs: Sequence[Node], shape: Shape) -> Shape:
    _broadcast_to_shape((_ShapeOnly(shape),), inputs[0].shape)  # type: ignore[arg-type]
    return tuple(shape)


class _ShapeOnly:
    """Stand-in with just a shape, to reuse the broadcast check the other way round."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.ndim = len(shape)


BROADCAST_TO = register(Op(
    "broadcast_to", rearranges=True, shape=_broadcast_to_shape, dtype=same_dtype, arity=1, linear=True,
    label="broadcast_to", impl=lambda x, shape: np.broadcast_to(x, shape),
    vjp=lambda g, out, x, shape: (sum_to(g, x.shape),),
    batch=batching.broadcast_to,
    lowering=View(lambda node, out: _broadcast_index(node.inputs[0].shape, node.shape, out),
                  copy=Kernel(lambda node: "full({shape}, {0}, {out_dtype})"
                              if node.inputs[0].ndim == 0 else "np.broadcast_to({0}, {shape})")),
    samples=(Sample(((3,),), {"shape": (2, 3)}), Sample(((2, 1),), {"shape": (4, 2, 5)}),
             Sample(((),), {"shape": (3,)})),
))
SUM_TO = register(Op(
    "sum_to", shape=_sum_to_shape, dtype=same_dtype, arity=1, linear=True, label="sum_to",
    impl=_sum_to_impl, vjp=lambda g, out, x, shape: (broadcast_to(g, x.shape),),
    batch=batching.sum_to,
    lowering=summing(),
    samples=(Sample(((2, 3),), {"shape": (3,)}), Sample(((4, 2, 5),), {"shape": (2, 1)}),
             Sample(((3,),), {"shape": ()})),
))


@function
def broadcast_to(x: Any, shape: Any) -> Node:
    """A read-only broadcast view of x with the given shape (numpy.broadcast_to)."""
    x = as_tensor(x)
    target = _target_shape(shape, allow_unknown=False)
    if target == x.shape:
        return x
    return apply(BROADCAST_TO, x, shape=target)


def sum_to(x: Node, shape: Shape) -> Node:
    """Sum x down to `shape`, undoing broadcasting: the un-broadcast of autodiff."""
    if tuple(shape) == x.shape:
        return x
    return apply(SUM_TO, x, shape=tuple(shape))


# --------------------------------------------------------- expand / squeeze

def _expand_dims_shape(inputs: Sequence[Node], axis: tuple[int, ...]) -> Shape:
    result: list[Any] = list(inputs[0].shape)
    for a in axis:
        result.insert(a, 1)
    return tuple(result)


EXPAND_DIMS = register(Op(
    "expand_dims", rearranges=True, shape=_expand_dims_shape, dtype=same_dtype, arity=1, linear=True,
    label="expand_dims", impl=lambda x, axis: np.expand_dims(x, axis),
    vjp=lambda g, out, x, axis: (squeeze(g, axis),),
    batch=batching.expand_dims,
    lowering=View(lambda node, out: tuple(i for a, i in enumerate(out) if a not in node.attr["axis"])),
    samples=(Sample(((3,),), {"axis": (0,)}), Sample(((2, 3),), {"axis": (1, 3)})),
))


def _squeeze_shape(inputs: Sequence[Node], axis: tuple[int, ...]) -> Shape:
    x = inputs[0]
    for a in axis:
        if x.shape[a] != 1:
            raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]} (must be 1)")
    return tuple(s for i, s in enumerate(x.shape) if i not in axis)


SQUEEZE = register(Op(
    "squeeze", rearranges=True, shape=_squeeze_shape, dtype=same_dtype, arity=1, linear=True, label="squeeze",
    impl=lambda x, axis: np.squeeze(x, axis),
    vjp=lambda g, out, x, axis: (expand_dims(g, axis),),
    batch=batching.squeeze,
    lowering=View(lambda node, out: _squeeze_index(node.attr["axis"], out)),
    samples=(Sample(((1, 3),), {"axis": (0,)}), Sample(((2, 1, 3, 1),), {"axis": (1, 3)})),
))


@function
def expand_dims(x: Any, axis: Any) -> Node:
    """Insert size-1 axes at the given positions of the result (numpy.expand_dims)."""
    x = as_tensor(x)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = x.ndim + len(axes)
    normalized = shapes.normalize_axes(tuple(axes), ndim)
    return apply(EXPAND_DIMS, x, axis=normalized)


@function
def squeeze(x: Any, axis: Any = None) -> Node:
    """Remove size-1 axes (numpy.squeeze); with axis=None, every static size-1 axis."""
    x = as_tensor(x)
    if axis is None:
        normalized = tuple(i for i, s in enumerate(x.shape) if isinstance(s, int) and s == 1)
    else:
        normalized = shapes.normalize_axes(axis, x.ndim)
    if not normalized:
        return x
    return apply(SQUEEZE, x, axis=normalized)


# ------------------------------------------------------ concatenate / stack

def _concatenate_shape(inputs: Sequence[Node], axis: int) -> Shape:
    first = inputs[0]
    total = 0
    for item in inputs:
        if item.ndim != first.ndim:
            raise ShapeError("all inputs must have the same rank")
        size = item.shape[axis]
        if not isinstance(size, int):
            raise ShapeError(f"concatenating along a symbolic size ({size}) is not supported")
        total += size
        for a, (s, t) in enumerate(zip(item.shape, first.shape)):
            if a != axis:
                if isinstance(s, int) and isinstance(t, int) and s != t:
                    raise ShapeError(f"sizes {s} and {t} differ on axis {a}")
                shapes.require_equal(s, t)
    return tuple(total if a == axis else s for a, s in enumerate(first.shape))


def _concatenate_vjp(g: Node, out: Node, *inputs: Node, axis: int) -> list[Node]:
    pieces, start = [], 0
    for item in inputs:
        size = item.shape[axis]
        assert isinstance(size, int), "concatenate's shape rule refuses symbolic sizes on its axis"
        index = (slice(None),) * axis + (slice(start, start + size),)
        pieces.append(getitem(g, index))
        start += size
    return pieces


CONCATENATE = register(Op(
    "concatenate", shape=_concatenate_shape, dtype=lambda inputs, axis: np.result_type(
        *(i.dtype for i in inputs)), arity=None, linear=True, label="concatenate",
    impl=lambda *arrays, axis: np.concatenate(arrays, axis=axis), vjp=_concatenate_vjp,
    batch=batching.concatenate,
    lowering=Kernel(lambda node: "np.concatenate((" + "".join(
        f"{{{i}}}" + ("" if item.dtype == node.dtype else ".astype({out_dtype})") + ", "
        for i, item in enumerate(node.inputs)) + "), axis={axis})", allocates=True),
    samples=(Sample(((2, 3), (4, 3)), {"axis": 0}), Sample(((2, 1), (2, 3), (2, 2)), {"axis": 1})),
))


@function
def concatenate(tensors: Sequence[Any], axis: int = 0) -> Node:
    """Join tensors along an existing axis (numpy.concatenate)."""
    items = [as_tensor(t) for t in tensors]
    if not items:
        raise ShapeError("concatenate needs at least one tensor")
    if items[0].ndim == 0:
        raise ShapeError("zero-dimensional tensors cannot be concatenated")
    normalized = shapes.normalize_axis(axis, items[0].ndim)
    return apply(CONCATENATE, *items, axis=normalized)


@function
def stack(tensors: Sequence[Any], axis: int = 0) -> Node:
    """Join tensors along a new axis (numpy.stack)."""
    items = [as_tensor(t) for t in tensors]
    if not items:
        raise ShapeError("stack needs at least one tensor")
    normalized = shapes.normalize_axis(axis, items[0].ndim + 1)
    return concatenate([expand_dims(t, normalized) for t in items], axis=normalized)


# Basic indexing (getitem, scatter) lives in basic_indexing.py; re-exported here.
from .basic_indexing import GETITEM as GETITEM  # noqa: E402
from .basic_indexing import SCATTER as SCATTER  # noqa: E402
from .basic_indexing import IndexPart as IndexPart  # noqa: E402
from .basic_indexing import getitem as getitem  # noqa: E402
from .basic_indexing import index_source as index_source  # noqa: E402

__all__ = ["broadcast_to", "concatenate", "expand_dims", "getitem", "reshape",
           "squeeze", "stack", "sum_to", "transpose"]
