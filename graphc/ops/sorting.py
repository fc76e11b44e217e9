"""Scans and orderings: cumsum and sort, with the internal argsort sort uses.

Owns: `cumsum` (an op; its VJP is the reversed cumsum of the cotangent,
reversed back), `sort` (a composition: the stable argsort of the values,
then `take_along_axis` of the values in that order, both along the last
axis, with other axes moved there first), and the internal last-axis op
`argsort` (int64, no gradient). Sort's gradient is take_along_axis's: the
gather's transpose, the scatter-add under `add_at` (graphc/ops/indexing.py),
routes the cotangent back through the permutation; its JVP gathers the
tangent the same way, and the gradient of the scatter is a gather again:
sort is twice differentiable. Imports: ir, shapes, base, batching, shape and
indexing builders (layer L2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import ArgumentError, ShapeError
from ..ir import Node, Op, Sample, apply
from ..lowering import Kernel, Rows
from . import batching
from .base import as_tensor, function, register
from .indexing import take_along_axis
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
    vjp=_cumsum_vjp, lowering=Rows("cumsum_rows"), linear=True,
    samples=(Sample(((3, 4),), {"axis": (1,)}), Sample(((2, 3, 4),), {"axis": (0,)}),
             Sample(((5,),), {"axis": (0,)})),
    batch=batching.along_axes("cumsum"),
))


def _cumsum_dtype_of(x: Any) -> np.dtype:
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind == "f" else np.dtype("int64")


def _argsort_batch(args: Sequence[Node], batch_axes: Sequence[batching.Axis]
                   ) -> tuple[Node, batching.Axis]:
    """Apply the last-axis argsort as is, unless the batch axis is the last one (then move it first)."""
    (x,), (axis,) = args, batch_axes
    if axis is not None and axis < x.ndim - 1:
        return apply(ARGSORT, x), axis
    return apply(ARGSORT, batching.to_front(x, axis, batching.batch_size(args, batch_axes))), 0


ARGSORT = register(Op(
    "argsort", shape=lambda inputs: inputs[0].shape, dtype=lambda inputs: np.dtype("int64"),
    arity=1, label="argsort", impl=lambda x: np.argsort(x, axis=-1, kind="stable"),
    vjp=lambda g, out, x: (None,), lowering=Kernel("argsort_last({0})"), samples=LAST,
    batch=_argsort_batch, finite="always", nonnegative="always"))


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
    result = take_along_axis(moved, argsort(moved), axis=-1)
    return batching.moveaxis(result, x.ndim - 1, position)


def _prepare(a: Any, out: Any, name: str) -> Node:
    if out is not None:
        raise ArgumentError(f"{name}(..., out=...) is not supported: graphc tensors are immutable; "
                            "use the tensor the call returns")
    return as_tensor(a)


__all__ = ["argsort", "cumsum", "sort"]
