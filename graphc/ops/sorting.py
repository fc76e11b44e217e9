"""Scans and orderings: cumsum and sort, with the internal argsort / gather / scatter they use.

Owns: `cumsum` (an op; its VJP is the reversed cumsum of the cotangent,
reversed back), `sort` (a composition: the stable argsort of the values,
then a gather of the values in that order, both along the last axis, with
other axes moved there first), and three internal last-axis ops:
`argsort` (int64, no gradient), `gather_last` (`np.take_along_axis(v, i, -1)`)
and `scatter_last` (its transpose, an additive scatter). The gradient of
`sort` is therefore the cotangent routed back through the permutation, and
the gradient of that is a gather again: sort is twice differentiable.
Imports: ir, shapes, base, batching, shape builders (layer L2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import ArgumentError, DTypeError, ShapeError
from ..ir import Node, Op, Sample, apply
from . import batching
from .base import as_tensor, function, register
from .other import astype
from .shape import getitem, reshape

LAST = (Sample(((3, 4),)), Sample(((5,),)), Sample(((2, 3, 4),)))


def _flip(x: Node, axis: int) -> Node:
    index = [slice(None)] * x.ndim
    index[axis] = slice(None, None, -1)
    return getitem(x, tuple(index))


def _cumsum_dtype(inputs: Sequence[Node], axis: tuple[int, ...]) -> np.dtype:
    dtype = inputs[0].dtype
    return dtype if dtypes.is_float(dtype) else np.dtype("int64")


def _cumsum_vjp(g: Node, out: Node, x: Node, axis: tuple[int, ...]) -> tuple[Node]:
    """Each input feeds every later partial sum: the cotangent summed from the end."""
    return (_flip(apply(CUMSUM, _flip(g, axis[0]), axis=axis), axis[0]),)


CUMSUM = register(Op(
    "cumsum", shape=lambda inputs, axis: inputs[0].shape, dtype=_cumsum_dtype, arity=1,
    label="cumsum", impl=lambda x, axis: np.cumsum(x, axis=axis[0], dtype=_cumsum_dtype_of(x)),
    vjp=_cumsum_vjp, rows=("cumsum_rows", False), linear=True,
    samples=(Sample(((3, 4),), {"axis": (1,)}), Sample(((2, 3, 4),), {"axis": (0,)}),
             Sample(((5,),), {"axis": (0,)})),
    batch=batching.along_axes("cumsum"),
))


def _cumsum_dtype_of(x: Any) -> np.dtype:
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else np.dtype("int64")


def _last_axis_rule(name: str) -> batching.Rule:
    """Batch a last-axis op: apply as is unless the batch axis is the last one (then move it first)."""
    def rule(args: Sequence[Node], batch_axes: Sequence[batching.Axis], **attrs: Any
             ) -> tuple[Node, batching.Axis]:
        if len(args) == 1 and batch_axes[0] is not None and batch_axes[0] < args[0].ndim - 1:
            return apply(_OPS[name], args[0], **attrs), batch_axes[0]
        size = batching.batch_size(args, batch_axes)
        front = [batching.to_front(x, a, size) for x, a in zip(args, batch_axes)]
        return apply(_OPS[name], *front, **attrs), 0
    return rule


def _same_shapes(inputs: Sequence[Node]) -> shapes.Shape:
    values, index = inputs
    if values.ndim != index.ndim or values.ndim == 0:
        raise ShapeError(f"values {shapes.format_shape(values.shape)} and indices "
                         f"{shapes.format_shape(index.shape)} must have one shape of rank >= 1")
    for a, b in zip(values.shape, index.shape):
        shapes.require_equal(a, b)
    if index.dtype.kind not in "iu":
        raise DTypeError(f"indices must be integers, got {index.dtype}")
    return values.shape


ARGSORT = register(Op(
    "argsort", shape=lambda inputs: inputs[0].shape, dtype=lambda inputs: np.dtype("int64"),
    arity=1, label="argsort", impl=lambda x: np.argsort(x, axis=-1, kind="stable"),
    vjp=lambda g, out, x: (None,), kernel="argsort_last({0})", samples=LAST,
    batch=_last_axis_rule("argsort"), finite="always", nonnegative="always"))
GATHER_LAST = register(Op(
    "gather_last", shape=lambda inputs: _same_shapes(inputs), dtype=lambda inputs: inputs[0].dtype,
    arity=2, label="gather_last", impl=lambda v, i: np.take_along_axis(v, i, axis=-1),
    vjp=lambda g, out, v, i: (apply(SCATTER_LAST, g, i), None), kernel="gather_last({0}, {1})",
    samples=(Sample(((3, 4), (3, 4)), dtypes=("float64", "int64")),
             Sample(((2, 2, 4), (2, 2, 4)), dtypes=("float32", "int64"))),
    batch=_last_axis_rule("gather_last"), rearranges=True))


def _scatter_last_impl(g: np.ndarray, index: np.ndarray) -> np.ndarray:
    out = np.zeros_like(g)
    rows = np.indices(index.shape)[:-1]
    np.add.at(out, (*rows, index), g)
    return out


SCATTER_LAST = register(Op(
    "scatter_last", shape=lambda inputs: _same_shapes(inputs), dtype=lambda inputs: inputs[0].dtype,
    arity=2, label="scatter_last", impl=_scatter_last_impl, linear=True,
    vjp=lambda g, out, c, i: (apply(GATHER_LAST, g, i), None), kernel="scatter_last({0}, {1})",
    samples=(Sample(((3, 4), (3, 4)), dtypes=("float64", "int64")),),
    batch=_last_axis_rule("scatter_last")))
_OPS = {"argsort": ARGSORT, "gather_last": GATHER_LAST, "scatter_last": SCATTER_LAST}


@function
def cumsum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Node:
    """Running sums along axis (numpy.cumsum; axis=None: of the flattened tensor)."""
    x = _prepare(a, out, "cumsum")
    if dtype is not None:
        x = astype(x, dtype)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if x.ndim == 0:
        raise ShapeError("cumsum of a rank-0 tensor needs axis=None")
    return apply(CUMSUM, x, axis=(shapes.normalize_axis(axis, x.ndim),))


@function
def argsort(x: Any) -> Node:
    """Stable argsort along the last axis (internal: sort's permutation)."""
    return apply(ARGSORT, as_tensor(x))


@function
def sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, *, stable: Any = None) -> Node:
    """Sorted copy along axis (numpy.sort; NaN last); the gradient follows the permutation."""
    x = _prepare(a, None, "sort")
    if order is not None:
        raise ArgumentError("sort(..., order=...) needs structured arrays, which graphc has not")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if x.ndim == 0:
        raise ShapeError("sort of a rank-0 tensor needs axis=None")
    position = shapes.normalize_axis(axis, x.ndim)
    moved = batching.moveaxis(x, position, x.ndim - 1)
    result = apply(GATHER_LAST, moved, argsort(moved))
    return batching.moveaxis(result, x.ndim - 1, position)


def _prepare(a: Any, out: Any, name: str) -> Node:
    if out is not None:
        raise ArgumentError(f"{name}(..., out=...) is not supported: graphc tensors are immutable; "
                            "use the tensor the call returns")
    return as_tensor(a)


__all__ = ["argsort", "cumsum", "sort"]
