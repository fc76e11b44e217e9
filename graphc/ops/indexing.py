"""Indexing with integer tensors: gather (`take`, `take_along_axis`, `x[idx]`) and scatter-add.

Owns two ops, each the other's transpose, and the builders on top of them:

    gather(x, idx; axis, batch)       out[p, i, t] = x[p, idx[p[:batch], i], t]
    scatter_add(v, idx; shape, axis, batch)
                                      out = zeros(shape); out[p, idx[p[:batch], i], t] += v[p, i, t]

`p` runs over x's axes before `axis`, `i` over idx's axes after its first
`batch` (which it shares with x), `t` over x's axes after `axis`. With
batch=0 gather is `np.take(x, idx, axis)`; batch dims are what
`take_along_axis`, several index tensors and vmap with a batched x *and* a
batched idx need (JAX's gather batching rule makes the same move). Indices
follow NumPy: negative ones count from the end, any other out-of-range one
raises `InputError` on every call (both backends; library_indexing.py on
numba), never a read or write out of bounds.

The builders: `take`, `take_along_axis`, `add_at` (np.add.at, functional),
and `advanced_getitem`, which `x[...]` calls when the index holds an integer
tensor (`add_at` walks that same chain of linear ops backwards, so it
accepts every index `x[...]` does). Imports: ir, layer L0, and the other
families' builders (shape ops) at call time through `ir.FUNCTIONS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import shapes
from ..errors import DTypeError, InputError, ShapeError
from ..ir import FUNCTIONS, Node, Op, Sample, apply
from ..lowering import Kernel
from . import batching
from .base import as_tensor, function, register

WHERE_ADVICE = ("graphc indexes with integer tensors only; for a boolean mask use "
                "gc.where(mask, x, 0) (or gather the indices of the mask with NumPy first)")


# ------------------------------------------------------------ shared checks

def checked_positions(idx: np.ndarray, size: int, op: str) -> np.ndarray:
    """idx with negative entries counted from the end (int64); any index outside raises InputError."""
    idx = np.asarray(idx)
    outside = (idx < -size) | (idx >= size)
    if outside.any():  # the numba backend raises the same in library_indexing.positions
        position = int(np.flatnonzero(outside)[0])
        raise InputError(f"{op}: index {int(idx.flat[position])} (at flat position {position} of "
                         f"the indices) is out of bounds for an axis of size {size}")
    wide = idx.astype(np.int64)
    return np.where(wide < 0, wide + size, wide)


def _index_dtype(idx: Node, what: str) -> None:
    if idx.dtype.kind == "b":
        raise DTypeError(f"{what}: boolean indices are not supported; {WHERE_ADVICE}")
    if idx.dtype.kind != "i":
        raise DTypeError(f"{what}: indices must be an integer tensor, got {idx.dtype}")


def _same_sizes(a: Sequence[Any], b: Sequence[Any], what: str) -> None:
    for k, (s, t) in enumerate(zip(a, b)):
        if isinstance(s, int) and isinstance(t, int) and s != t:
            raise ShapeError(f"{what}: sizes {s} and {t} differ on shared axis {k}")
        shapes.require_equal(s, t)


def _constant_in_bounds(idx: Node, size: Any, what: str) -> None:
    """Constant indices on an axis of static size are checked now, as a static x[5] is."""
    if idx.value is None or not isinstance(size, int) or not idx.value.size:
        return
    low, high = int(idx.value.min()), int(idx.value.max())
    if low < -size or high >= size:
        bad = high if high >= size else low
        raise ShapeError(f"{what}: index {bad} is out of bounds for an axis of size {size}")


def _layout(x_shape: Sequence[int], idx_shape: Sequence[int], axis: int,
            batch: int) -> tuple[int, int, int, int, int]:
    """(batches, outer, size, inner, count): the 4-D view both kernels work on."""
    prod = lambda sizes: int(np.prod(sizes, dtype=np.int64))  # noqa: E731
    return (prod(x_shape[:batch]), prod(x_shape[batch:axis]), int(x_shape[axis]),
            prod(x_shape[axis + 1:]), prod(idx_shape[batch:]))


def _grid(batches: int, outer: int, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """NumPy advanced index selecting [b, p, rows[b, i]] from a (B, P, n, T) array."""
    return (np.arange(batches)[:, None, None], np.arange(outer)[None, :, None], rows[:, None, :])


# -------------------------------------------------------------- gather op

def _gather_shape(inputs: Sequence[Node], axis: int, batch: int) -> shapes.Shape:
    x, idx = inputs
    if not 0 <= batch <= axis < x.ndim or idx.ndim < batch:
        raise ShapeError(f"gather: axis {axis} and batch {batch} do not fit ranks {x.ndim} and {idx.ndim}")
    _same_sizes(x.shape[:batch], idx.shape[:batch], "gather")
    _constant_in_bounds(idx, x.shape[axis], "take")
    return x.shape[:axis] + idx.shape[batch:] + x.shape[axis + 1:]


def _gather_dtype(inputs: Sequence[Node], axis: int, batch: int) -> np.dtype:
    _index_dtype(inputs[1], "take")
    return inputs[0].dtype


def _gather_impl(x: np.ndarray, idx: np.ndarray, axis: int, batch: int) -> np.ndarray:
    x, idx = np.asarray(x), np.asarray(idx)
    batches, outer, size, inner, count = _layout(x.shape, idx.shape, axis, batch)
    rows = checked_positions(idx, size, "take").reshape(batches, count)
    out = x.reshape(batches, outer, size, inner)[_grid(batches, outer, rows)]
    return out.reshape(x.shape[:axis] + idx.shape[batch:] + x.shape[axis + 1:])


def _sizes_text(node_shape: str, start: int, stop: int) -> str:
    """`(a * b)` of a shape placeholder's entries start..stop (1 when empty), for templates."""
    parts = [f"{{{node_shape}[{k}]}}" for k in range(start, stop)]
    return "(" + " * ".join(parts) + ")" if parts else "1"


def _gather_kernel(node: Node) -> str:
    x, idx = node.inputs
    axis, batch = node.attr["axis"], node.attr["batch"]
    four = ", ".join((_sizes_text("shape0", 0, batch), _sizes_text("shape0", batch, axis),
                      f"{{shape0[{axis}]}}", _sizes_text("shape0", axis + 1, x.ndim)))
    rows = (f"full((1, 1), {{1}}, np.{idx.dtype.name})" if idx.ndim == 0 else
            f"contiguous({{1}}).reshape(({_sizes_text('shape1', 0, batch)}, "
            f"{_sizes_text('shape1', batch, idx.ndim)}))")
    call = f"take_rows(contiguous({{0}}).reshape(({four})), positions({rows}, {{shape0[{axis}]}}, 'take'))"
    return f"{call}[0, 0, 0, 0]" if node.ndim == 0 else f"{call}.reshape({{out_shape}})"


def _gather_vjp(g: Node, out: Node, x: Node, idx: Node, axis: int, batch: int) -> tuple[Node, None]:
    return apply(SCATTER_ADD, g, idx, shape=x.shape, axis=axis, batch=batch), None


def _gather_batch(args: Sequence[Node], batch_axes: Sequence[batching.Axis], axis: int,
                  batch: int) -> tuple[Node, batching.Axis]:
    """x batched: its batch axis becomes a free axis before `axis`; idx batched: an index axis;
    both: a new shared leading axis (batch + 1), as JAX's gather batching rule does."""
    (x, idx), (bx, bi) = args, batch_axes
    if bi is None:
        assert bx is not None
        moved = batching.moveaxis(x, bx, batch)
        return apply(GATHER, moved, idx, axis=axis + 1, batch=batch), batch
    if bx is None:
        return apply(GATHER, x, batching.moveaxis(idx, bi, batch), axis=axis, batch=batch), axis
    return apply(GATHER, batching.moveaxis(x, bx, 0), batching.moveaxis(idx, bi, 0),
                 axis=axis + 1, batch=batch + 1), 0


GATHER = register(Op(
    "gather", shape=_gather_shape, dtype=_gather_dtype, arity=2, label="gather", linear=True,
    impl=_gather_impl, vjp=_gather_vjp, batch=_gather_batch, lowering=Kernel(_gather_kernel, allocates=True),
    samples=(Sample(((5, 3), (4,)), {"axis": 0, "batch": 0}, dtypes=("float64", "int64")),
             Sample(((2, 4, 3), (2, 3)), {"axis": 1, "batch": 0}, dtypes=("float32", "int32")),
             Sample(((2, 4, 3), (2, 5)), {"axis": 1, "batch": 1}, dtypes=("float64", "int64")),
             Sample(((4,), ()), {"axis": 0, "batch": 0}, dtypes=("float64", "int64"))),
))


# --------------------------------------------------------- scatter_add op

def _scatter_add_shape(inputs: Sequence[Node], shape: shapes.Shape, axis: int,
                       batch: int) -> shapes.Shape:
    values, idx = inputs
    if not 0 <= batch <= axis < len(shape) or idx.ndim < batch:
        raise ShapeError(f"scatter_add: axis {axis} and batch {batch} do not fit ranks "
                         f"{len(shape)} and {idx.ndim}")
    _same_sizes(shape[:batch], idx.shape[:batch], "scatter_add")
    expected = tuple(shape[:axis]) + idx.shape[batch:] + tuple(shape[axis + 1:])
    if len(expected) != values.ndim:
        raise ShapeError(f"scatter_add: values of rank {values.ndim}, expected "
                         f"{shapes.format_shape(expected)}")
    _same_sizes(values.shape, expected, "scatter_add")
    _constant_in_bounds(idx, shape[axis], "add_at")
    return tuple(shape)


def _scatter_add_dtype(inputs: Sequence[Node], **attrs: Any) -> np.dtype:
    _index_dtype(inputs[1], "add_at")
    return inputs[0].dtype


def _scatter_add_impl(values: np.ndarray, idx: np.ndarray, shape: tuple[int, ...], axis: int,
                      batch: int) -> np.ndarray:
    values, idx = np.asarray(values), np.asarray(idx)
    batches, outer, size, inner, count = _layout(shape, idx.shape, axis, batch)
    rows = checked_positions(idx, size, "add_at").reshape(batches, count)
    out = np.zeros((batches, outer, size, inner), dtype=values.dtype)
    np.add.at(out, _grid(batches, outer, rows), values.reshape(batches, outer, count, inner))
    return out.reshape(shape)


def _scatter_add_kernel(node: Node) -> str:
    values, idx = node.inputs
    axis, batch = node.attr["axis"], node.attr["batch"]
    four = ", ".join((_sizes_text("out_shape", 0, batch), _sizes_text("out_shape", batch, axis),
                      _sizes_text("shape1", batch, idx.ndim), _sizes_text("out_shape", axis + 1, node.ndim)))
    source = (f"full(({four}), {{0}}, {{out_dtype}})" if values.ndim == 0
              else f"contiguous({{0}}).reshape(({four}))")
    rows = (f"full((1, 1), {{1}}, np.{idx.dtype.name})" if idx.ndim == 0 else
            f"contiguous({{1}}).reshape(({_sizes_text('shape1', 0, batch)}, "
            f"{_sizes_text('shape1', batch, idx.ndim)}))")
    size = f"{{out_shape[{axis}]}}"
    return (f"scatter_add_rows({source}, positions({rows}, {size}, 'add_at'), {size})"
            ".reshape({out_shape})")


def _scatter_add_vjp(g: Node, out: Node, values: Node, idx: Node, shape: shapes.Shape, axis: int,
                     batch: int) -> tuple[Node, None]:
    return apply(GATHER, g, idx, axis=axis, batch=batch), None


def _scatter_add_batch(args: Sequence[Node], batch_axes: Sequence[batching.Axis],
                       shape: shapes.Shape, axis: int, batch: int) -> tuple[Node, batching.Axis]:
    """The transpose of gather's rule; a batched idx with unbatched values repeats the values."""
    (values, idx), (bv, bi) = args, batch_axes
    size = batching.batch_size(args, batch_axes)
    if bi is None:
        assert bv is not None
        moved = batching.moveaxis(values, bv, batch)
        wider = tuple(shape[:batch]) + (size,) + tuple(shape[batch:])
        return apply(SCATTER_ADD, moved, idx, shape=wider, axis=axis + 1, batch=batch), batch
    values = batching.to_front(values, bv, size)
    return apply(SCATTER_ADD, values, batching.moveaxis(idx, bi, 0), shape=(size,) + tuple(shape),
                 axis=axis + 1, batch=batch + 1), 0


SCATTER_ADD = register(Op(
    "scatter_add", shape=_scatter_add_shape, dtype=_scatter_add_dtype, arity=2, label="scatter_add",
    linear=True, impl=_scatter_add_impl, vjp=_scatter_add_vjp, batch=_scatter_add_batch,
    lowering=Kernel(_scatter_add_kernel, allocates=True),
    samples=(Sample(((6,), (6,)), {"shape": (4,), "axis": 0, "batch": 0}, dtypes=("float64", "int64")),
             Sample(((2, 3, 4), (3,)), {"shape": (2, 5, 4), "axis": 1, "batch": 0},
                    dtypes=("float32", "int32")),
             Sample(((2, 5), (2, 5)), {"shape": (2, 4), "axis": 1, "batch": 1},
                    dtypes=("float64", "int64")),
             Sample(((), ()), {"shape": (4,), "axis": 0, "batch": 0}, dtypes=("float64", "int64"))),
))


# --------------------------------------------------------------- builders

def as_index(value: Any, what: str) -> Node:
    """An index tensor: integer tensors pass; ints, lists and integer arrays become int64 constants."""
    if isinstance(value, Node):
        _index_dtype(value, what)
        return value
    array = np.asarray(value)
    if array.dtype.kind == "b":
        raise DTypeError(f"{what}: boolean indices are not supported; {WHERE_ADVICE}")
    if array.dtype.kind not in "iu" and array.size:
        raise DTypeError(f"{what}: indices must be integers, got {array.dtype}")
    return as_tensor(array.astype(np.int64))


@function
def take(a: Any, indices: Any, axis: Any = None, mode: str = "raise") -> Node:
    """Elements of `a` at integer `indices` along `axis` (numpy.take; axis=None: of a flattened)."""
    if mode != "raise":
        raise ShapeError(f"take: mode={mode!r} is not supported; graphc's indices are checked "
                         "(mode='raise': an index out of range raises gc.InputError when the "
                         "function runs)")
    x = as_tensor(a)
    idx = as_index(indices, "take")
    if axis is None:
        x, axis = FUNCTIONS["reshape"](x, (-1,)), 0
    if x.ndim == 0:
        raise ShapeError("take: cannot index a rank-0 tensor along an axis")
    axis = shapes.normalize_axis(axis, x.ndim)
    return apply(GATHER, x, idx, axis=axis, batch=0)


@function
def take_along_axis(arr: Any, indices: Any, axis: Any) -> Node:
    """Pick values along `axis` with indices of the same rank (numpy.take_along_axis)."""
    x = as_tensor(arr)
    idx = as_index(indices, "take_along_axis")
    if axis is None:
        x, axis = FUNCTIONS["reshape"](x, (-1,)), 0
        if idx.ndim != 1:
            raise ShapeError(f"take_along_axis with axis=None needs 1-D indices, got rank {idx.ndim}")
    if idx.ndim != x.ndim:
        raise ShapeError(f"take_along_axis: indices of rank {idx.ndim} do not match the "
                         f"array's rank {x.ndim}")
    axis = shapes.normalize_axis(axis, x.ndim)
    others = shapes.broadcast(*(tuple(1 if k == axis else s for k, s in enumerate(t.shape))
                                for t in (x, idx)))
    widen = FUNCTIONS["broadcast_to"]
    x = widen(x, tuple(x.shape[axis] if k == axis else s for k, s in enumerate(others)))
    idx = widen(idx, tuple(idx.shape[axis] if k == axis else s for k, s in enumerate(others)))
    last = x.ndim - 1
    out = apply(GATHER, batching.moveaxis(x, axis, last), batching.moveaxis(idx, axis, last),
                axis=last, batch=last)
    return batching.moveaxis(out, last, axis)


@function
def add_at(x: Any, indices: Any, values: Any) -> Node:
    """x with `values` added at `indices` (numpy.add.at without mutation; repeats accumulate).

    `indices` is anything `x[indices]` accepts; `values` broadcasts to the shape of `x[indices]`.
    """
    from .indexing_plan import index_chain, transpose_chain

    x = as_tensor(x)
    values = as_tensor(values)
    if not np.can_cast(values.dtype, x.dtype, casting="same_kind"):
        raise DTypeError(f"add_at: cannot add {values.dtype} values into a {x.dtype} tensor "
                         "(NumPy's same_kind casting)")
    chain = index_chain(x, indices)
    selected = chain[-1]
    spread = FUNCTIONS["broadcast_to"](FUNCTIONS["astype"](values, x.dtype), selected.shape)
    return FUNCTIONS["add"](x, transpose_chain(chain, spread))


__all__ = ["GATHER", "SCATTER_ADD", "WHERE_ADVICE", "add_at", "as_index", "checked_positions",
           "take", "take_along_axis"]
