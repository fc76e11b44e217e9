"""Adding up the cotangent contributions of one node, with many gathered pieces merged (layer L3).

Owns `sum_contributions`, which the reverse sweep (graphc/autodiff.py) calls
for every node that received more than one cotangent. The common case is a
plain sum. The case this module exists for: a tensor read piece by piece,
`log_B[:, y]` at each of T unrolled steps, receives T contributions
`scatter(g_t)` (zeros with g_t written into column y_t). Summed one by one
they are T zero-filled arrays and T-1 adds, which fuse into one kernel with
T+2 array parameters: a graph and a kernel that grow with T and differ for
every T (issue 17 measured 17 s to compile at T=27 and 366 s at T=270).

Here those pieces are merged as JAX transposes a gather (into one
scatter-add) and PyTensor merges `inc_subtensor`s: the values g_t are joined
into one array (a concatenate, a reshape and a transpose) and written by one
`scatter_add` whose index is the constant vector (y_1, ..., y_T), so the
accumulation costs O(1) nodes whatever T is (repeated y_t add up, as
np.add.at does). Integers on a run of adjacent axes (`L[i, j]`) count as one
flat axis (a reshape before and after the scatter_add). Pieces that do not
fit (a slice that is not whole, a new axis, integers on axes that are not
adjacent, a symbolic size under a negative index or in a run) are summed as
before. Merging needs at least MIN_PIECES pieces on the same axes, so small
graphs (x[0] + x[1]) keep their scatters.

The other case: a tensor cut into slices along one axis that together cover
it (an LSTM's pre-activation z cut into its four gates, z[:, :H], ...,
z[:, 3H:]) receives one `scatter` per slice. Added up they are k zero-filled
arrays, k copies and k-1 additions per backward step; here they become one
`concatenate` of the slices' cotangents in the order of the axis (issue 15:
the LSTM's backward loop body did this at every step).

Imports: ir, ops and layer L0. Entry point: `sum_contributions`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from . import shapes
from .ir import Node, apply
from .ops import add, concatenate, constant, reshape, transpose
from .ops.indexing import SCATTER_ADD

MIN_PIECES = 4  # below this, scatters + adds are as small as the merged form

_WHOLE = ("slice", None, None, None)


def _picked_axes(piece: Node, target: Node) -> tuple[tuple[int, int], int] | None:
    """((first axis, count), flat position) if `piece` is `scatter(g)` writing g at integer
    indices of a run of adjacent axes of a tensor shaped like target (statically sized when more
    than one, or when an index is negative), every other axis whole; else None."""
    if piece.op.name != "scatter" or piece.shape != target.shape or piece.dtype != target.dtype:
        return None
    index = piece.attr["index"]
    ints = [a for a, part in enumerate(index) if part[0] == "int"]
    if not ints or len(index) != len(target.shape) or ints != list(range(ints[0], ints[-1] + 1)):
        return None
    if any(part != _WHOLE for a, part in enumerate(index) if a not in ints):
        return None
    position = 0
    for axis in ints:
        size, at = target.shape[axis], index[axis][1]
        if not isinstance(size, int):
            if len(ints) > 1 or at < 0:
                return None
            return (axis, 1), at
        position = position * size + (at + size if at < 0 else at)
    return (ints[0], len(ints)), position


def _stacked(values: Sequence[Node], axis: int) -> Node:
    """The values (each of one shape) joined along a new axis at `axis`: O(1) nodes."""
    first = values[0]
    if first.ndim == 0:
        joined = concatenate([reshape(v, (1,)) for v in values])
        return joined
    joined = reshape(concatenate(list(values), axis=0), (len(values),) + tuple(first.shape))
    if axis == 0:
        return joined
    order = tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, first.ndim + 1))
    return transpose(joined, order)


def _merged(pieces: list[tuple[int, Node]], target: Node, axis: int, count: int) -> Node:
    """One scatter_add of the joined values at the constant positions; `count` adjacent integer
    axes are one flat axis for it (a reshape before and after)."""
    values = [piece.inputs[0] for _, piece in pieces]
    positions = constant(np.array([p for p, _ in pieces], dtype=np.int64))
    shape = tuple(target.shape)
    flat = shape if count == 1 else (  # sizes of a run are static (_picked_axes)
        shape[:axis] + (shapes.product(shape[axis:axis + count]),) + shape[axis + count:])
    total = apply(SCATTER_ADD, _stacked(values, axis), positions, shape=flat, axis=axis, batch=0)
    return total if count == 1 else reshape(total, shape)


def _slice_of(piece: Node, target: Node) -> tuple[int, int, int] | None:
    """(axis, start, stop) if `piece` is `scatter(g)` writing g into a step-1 slice of one
    statically sized axis of a tensor shaped like target, every other axis whole; else None."""
    if piece.op.name != "scatter" or piece.shape != target.shape or piece.dtype != target.dtype:
        return None
    index = piece.attr["index"]
    cut = [a for a, part in enumerate(index) if part != _WHOLE]
    if len(index) != len(target.shape) or len(cut) != 1 or index[cut[0]][0] != "slice":
        return None
    axis = cut[0]
    _, start, stop, step = index[axis]
    size = target.shape[axis]
    if step not in (None, 1) or not isinstance(size, int):
        return None
    first, last, _ = slice(start, stop).indices(size)
    return (axis, first, last) if last > first else None


def _tiled(parts: list[Node], target: Node) -> list[Node]:
    """`parts` with scatters into slices that tile one axis exactly replaced by one concatenate."""
    found = [(_slice_of(part, target), part) for part in parts]
    axes = {where[0] for where, _ in found if where is not None}
    if len(axes) != 1:
        return parts
    axis = axes.pop()
    pieces = sorted(((where[1:], part) for where, part in found if where is not None
                     and where[0] == axis), key=lambda piece: piece[0])  # never compare tensors
    bounds = [b for b, _ in pieces]
    covers = bounds[0][0] == 0 and bounds[-1][1] == target.shape[axis] and all(
        bounds[k][1] == bounds[k + 1][0] for k in range(len(bounds) - 1))
    if len(pieces) < 2 or not covers:
        return parts
    joined = concatenate([part.inputs[0] for _, part in pieces], axis=axis)
    tiles = {id(part) for _, part in pieces}
    return [joined] + [part for part in parts if id(part) not in tiles]


def sum_contributions(parts: list[Node], target: Node | None = None) -> Node:
    """The total cotangent of `target` from its contributions `parts` (see the module docstring)."""
    if target is not None and len(parts) >= 2:
        parts = _tiled(parts, target)
    if target is None or len(parts) < MIN_PIECES:
        return functools.reduce(add, parts)
    by_axes: dict[tuple[int, int], list[tuple[int, Node]]] = {}
    rest: list[Node] = []
    for part in parts:
        picked = _picked_axes(part, target)
        if picked is None:
            rest.append(part)
        else:
            by_axes.setdefault(picked[0], []).append((picked[1], part))
    for (axis, count), pieces in by_axes.items():
        if len(pieces) >= MIN_PIECES:
            rest.append(_merged(pieces, target, axis, count))
        else:
            rest.extend(piece for _, piece in pieces)
    return functools.reduce(add, rest)


__all__ = ["MIN_PIECES", "sum_contributions"]
