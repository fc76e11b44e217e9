"""Batching rules: how each op runs on a batch of examples at once (the `batch` field of an Op).

A batching rule answers one question for `gc.vmap` (graphc/vmap.py): given the
op's inputs, some of which carry an extra batch axis, which single node
computes the op for every example, and where is the batch axis of its result?

    rule(args, batch_axes, **attrs) -> (output, axis)

`batch_axes[i]` is the position of the batch axis in `args[i]`, or None when that
input is the same for every example. The rule returns the batched output and
the position of its batch axis (None if the output is the same for every
example). vmap calls a rule only when at least one input is batched. Rules
move a batch axis only where the op needs it somewhere else (JAX's
`broadcast_batcher` does the same), so batching adds no transposes to
elementwise chains or reductions.

Owns: the rule factories shared by op families (`elementwise`, `keeps_axis`,
`reduction`, `along_axes`, `same_everywhere`), the rules of the shape and
linear-algebra ops, and the axis helpers rules use. Imports: ir and layer L0;
builders are reached through `ir.FUNCTIONS`, so every family module can
import this one (layer L2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import shapes
from ..errors import GraphcError
from ..ir import FUNCTIONS, OPS, Node, apply

Axis = int | None
Rule = Callable[..., tuple[Node, Axis]]
FULL = ("slice", None, None, None)


# ------------------------------------------------------------------ helpers

def batch_size(args: Sequence[Node], batch_axes: Sequence[Axis]) -> shapes.Size:
    """The batch size, read from the first batched input."""
    return next(x.shape[a] for x, a in zip(args, batch_axes) if a is not None)


def moveaxis(x: Node, source: int, destination: int) -> Node:
    """numpy.moveaxis for one axis; no node when nothing moves."""
    if source == destination:
        return x
    order = [i for i in range(x.ndim) if i != source]
    order.insert(destination, source)
    return FUNCTIONS["transpose"](x, tuple(order))


def to_front(x: Node, axis: Axis, size: shapes.Size) -> Node:
    """x with its batch axis first; an unbatched x is repeated `size` times along a new axis 0."""
    if axis is not None:
        return moveaxis(x, axis, 0)
    return FUNCTIONS["broadcast_to"](FUNCTIONS["expand_dims"](x, 0), (size,) + x.shape)


def _pad_after_front(x: Node, count: int) -> Node:
    """Insert `count` size-1 axes right after the batch axis (aligns ranks for broadcasting)."""
    if count <= 0:
        return x
    return FUNCTIONS["expand_dims"](x, tuple(range(1, 1 + count)))


# ---------------------------------------------------------------- factories

def elementwise(name: str) -> Rule:
    """Rule of a broadcasting op: apply it as is when the batch axes line up, else move them first.

    With per-example output rank r, a batched input of per-example rank k whose
    batch axis is at b lands at output axis r - k + b under NumPy's right-aligned
    broadcasting; if that is the same axis p for every batched input and no
    unbatched input reaches axis p, the op is applied unchanged.
    """
    def rule(args: Sequence[Node], batch_axes: Sequence[Axis], **attrs: Any) -> tuple[Node, Axis]:
        op = OPS[name]
        ranks = [x.ndim - (a is not None) for x, a in zip(args, batch_axes)]
        rank = max(ranks)
        landing = {rank - k + a for k, a in zip(ranks, batch_axes) if a is not None}
        if len(landing) == 1:
            p = landing.pop()
            if all(k <= rank - p for k, a in zip(ranks, batch_axes) if a is None):
                return apply(op, *args, **attrs), p
        moved = [x if a is None else _pad_after_front(moveaxis(x, a, 0), rank - k)
                 for x, a, k in zip(args, batch_axes, ranks)]
        return apply(op, *moved, **attrs), 0
    return rule


def keeps_axis(name: str) -> Rule:
    """Rule of a one-input op that keeps every axis where it is (casts, fills, one_hot)."""
    def rule(args: Sequence[Node], batch_axes: Sequence[Axis], **attrs: Any) -> tuple[Node, Axis]:
        return apply(OPS[name], args[0], **attrs), batch_axes[0]
    return rule


def _shift(axis: tuple[int, ...], batch: int) -> tuple[int, ...]:
    """Per-example axes -> the same axes of the batched tensor (batch axis at `batch`)."""
    return tuple(a + (a >= batch) for a in axis)


def reduction(name: str) -> Rule:
    """Rule of a reduction over `axis` (sum, max, ...): reduce the shifted axes, never the batch."""
    def rule(args: Sequence[Node], batch_axes: Sequence[Axis], axis: tuple[int, ...],
             keepdims: bool) -> tuple[Node, Axis]:
        b = batch_axes[0]
        assert b is not None
        out_axis = b if keepdims else b - sum(1 for a in axis if a < b)
        return apply(OPS[name], args[0], axis=_shift(axis, b), keepdims=keepdims), out_axis
    return rule


def along_axes(name: str, batched_result: bool = True) -> Rule:
    """Rule of an op working along `axis` (softmax, log_softmax): shift the axes past the
    batch axis. `batched_result=False`: the op reads only sizes (size), so one unbatched
    result serves every example."""
    def rule(args: Sequence[Node], batch_axes: Sequence[Axis], axis: tuple[int, ...],
             **attrs: Any) -> tuple[Node, Axis]:
        b = batch_axes[0]
        assert b is not None
        return apply(OPS[name], args[0], axis=_shift(axis, b), **attrs), b if batched_result else None
    return rule


def same_everywhere(name: str) -> Rule:
    """Rule of an op reading only sizes over `axis` (size): one unbatched result for all examples."""
    return along_axes(name, batched_result=False)


def unbatchable(reason: str) -> Rule:
    """Rule of an op that cannot be batched: vmap stops with `reason` instead of guessing.

    The registry test accepts such an op only if vmap raises this error.
    """
    def rule(args: Sequence[Node], batch_axes: Sequence[Axis], **attrs: Any) -> tuple[Node, Axis]:
        raise GraphcError(f"cannot be batched: {reason}")
    rule.unbatchable_reason = reason  # type: ignore[attr-defined]
    return rule


# --------------------------------------------------------------- shape ops

def reshape(args: Sequence[Node], batch_axes: Sequence[Axis], shape: shapes.Shape) -> tuple[Node, Axis]:
    """Reshape with the batch axis first and kept whole: (B,) + shape."""
    size = batch_size(args, batch_axes)
    x = moveaxis(args[0], batch_axes[0] or 0, 0)
    return FUNCTIONS["reshape"](x, (size,) + tuple(shape)), 0


def transpose(args: Sequence[Node], batch_axes: Sequence[Axis],
              axes: tuple[int, ...]) -> tuple[Node, Axis]:
    """Permute the per-example axes; the batch axis stays where it is."""
    b = batch_axes[0]
    assert b is not None
    order = list(_shift(axes, b))
    order.insert(b, b)
    return apply(OPS["transpose"], args[0], axes=tuple(order)), b


def broadcast_to(args: Sequence[Node], batch_axes: Sequence[Axis],
                 shape: shapes.Shape) -> tuple[Node, Axis]:
    """Broadcast to `shape` with the batch size inserted where x's batch axis lands (right-aligned)."""
    x, b = args[0], batch_axes[0]
    assert b is not None
    landing = len(shape) - (x.ndim - 1) + b
    target = tuple(shape[:landing]) + (x.shape[b],) + tuple(shape[landing:])
    return apply(OPS["broadcast_to"], x, shape=target), landing


def sum_to(args: Sequence[Node], batch_axes: Sequence[Axis], shape: shapes.Shape) -> tuple[Node, Axis]:
    """Sum to `shape` plus the batch axis; the batch axis is first moved out of the summed lead."""
    x, b = args[0], batch_axes[0]
    assert b is not None
    lead = x.ndim - 1 - len(shape)
    if b < lead:
        x, b = moveaxis(x, b, lead), lead
    target = tuple(shape[:b - lead]) + (x.shape[b],) + tuple(shape[b - lead:])
    if target == x.shape:
        return x, b - lead
    return apply(OPS["sum_to"], x, shape=target), b - lead


def expand_dims(args: Sequence[Node], batch_axes: Sequence[Axis],
                axis: tuple[int, ...]) -> tuple[Node, Axis]:
    """New axes at the per-example positions; the batch axis stays before the same input axis."""
    b = batch_axes[0]
    assert b is not None
    rank = args[0].ndim - 1
    sources = iter(range(rank))
    labels: list[Any] = ["new" if p in axis else next(sources) for p in range(rank + len(axis))]
    where = labels.index(b) if b < rank else len(labels)
    labels.insert(where, "batch")
    new_axes = tuple(i for i, label in enumerate(labels) if label == "new")
    return apply(OPS["expand_dims"], args[0], axis=new_axes), where


def squeeze(args: Sequence[Node], batch_axes: Sequence[Axis], axis: tuple[int, ...]) -> tuple[Node, Axis]:
    """Remove the per-example size-1 axes; the batch axis keeps its place among the rest."""
    b = batch_axes[0]
    assert b is not None
    shifted = _shift(axis, b)
    return apply(OPS["squeeze"], args[0], axis=shifted), b - sum(1 for a in axis if a < b)


def concatenate(args: Sequence[Node], batch_axes: Sequence[Axis], axis: int) -> tuple[Node, Axis]:
    """Join along the shifted axis; unbatched pieces are repeated over the batch first."""
    if len(set(batch_axes)) == 1 and batch_axes[0] is not None:
        b = batch_axes[0]
        return apply(OPS["concatenate"], *args, axis=axis + (axis >= b)), b
    size = batch_size(args, batch_axes)
    pieces = [to_front(x, a, size) for x, a in zip(args, batch_axes)]
    return apply(OPS["concatenate"], *pieces, axis=axis + 1), 0


def _complete(index: tuple[Any, ...], rank: int) -> tuple[Any, ...]:
    """The index with full slices for the trailing axes it leaves out (NumPy keeps them whole)."""
    read = sum(1 for part in index if part[0] != "new")
    return tuple(index) + (FULL,) * (rank - read)


def getitem(args: Sequence[Node], batch_axes: Sequence[Axis], index: tuple[Any, ...]) -> tuple[Node, Axis]:
    """Index with a full slice inserted for the batch axis, before the part that reads axis b."""
    b = batch_axes[0]
    assert b is not None
    index = _complete(index, args[0].ndim - 1)
    consumed = produced = 0
    at = len(index)
    for i, part in enumerate(index):
        if part[0] != "new":
            if consumed == b:
                at = i
                break
            consumed += 1
        if part[0] != "int":
            produced += 1
    new_index = tuple(index[:at]) + (FULL,) + tuple(index[at:])
    return apply(OPS["getitem"], args[0], index=new_index), produced


def scatter(args: Sequence[Node], batch_axes: Sequence[Axis], shape: shapes.Shape,
            index: tuple[Any, ...]) -> tuple[Node, Axis]:
    """The transpose of getitem's rule: a full slice where the indexed result has its batch axis."""
    g, b = args[0], batch_axes[0]
    assert b is not None
    index = _complete(index, len(shape))
    consumed = produced = 0
    at = len(index)
    for i, part in enumerate(index):
        if produced == b:
            at = i
            break
        produced += part[0] != "int"
        consumed += part[0] != "new"
    new_index = tuple(index[:at]) + (FULL,) + tuple(index[at:])
    new_shape = tuple(shape[:consumed]) + (g.shape[b],) + tuple(shape[consumed:])
    return apply(OPS["scatter"], g, shape=new_shape, index=new_index), consumed


# ------------------------------------------------------------------- matmul

def matmul(args: Sequence[Node], batch_axes: Sequence[Axis]) -> tuple[Node, Axis]:
    """Batched products as single BLAS calls where the shapes allow, else a broadcast matmul."""
    fast = _matmul_as_one_product(args, batch_axes)
    if fast is not None:
        return fast
    (a, b), (ia, ib) = args, batch_axes
    ka, kb = a.ndim - (ia is not None), b.ndim - (ib is not None)
    left = a if ia is None else moveaxis(a, ia, 0)
    right = b if ib is None else moveaxis(b, ib, 0)
    if ka == 1:  # a vector is a one-row matrix; the row axis is squeezed at the end
        left = FUNCTIONS["expand_dims"](left, left.ndim - 1)
    if kb == 1:
        right = FUNCTIONS["expand_dims"](right, right.ndim)
    stacked = max(ka, kb, 2) - 2  # per-example batch axes of the product
    if ia is not None:
        left = _pad_after_front(left, stacked - (max(ka, 2) - 2))
    if ib is not None:
        right = _pad_after_front(right, stacked - (max(kb, 2) - 2))
    out = FUNCTIONS["matmul"](left, right)
    lifted = tuple(out.ndim - 2 + i for i, k in enumerate((ka, kb)) if k == 1)
    if lifted:
        out = FUNCTIONS["squeeze"](out, lifted)
    return out, 0


def _is_identity(x: Node) -> bool:
    """A constant identity matrix: the basis jacrev/jacfwd batch over (the product is skipped)."""
    value = x.value
    if x.op.name != "constant" or value is None or value.ndim != 2 or value.shape[0] != value.shape[1]:
        return False
    return bool(np.array_equal(value, np.eye(value.shape[0])))


def _cast(x: Node, args: Sequence[Node]) -> Node:
    """x in the dtype matmul of `args` would have."""
    return FUNCTIONS["astype"](x, OPS["matmul"].dtype(args))


def _matmul_as_one_product(args: Sequence[Node], batch_axes: Sequence[Axis]) -> tuple[Node, Axis] | None:
    """The common Jacobian/per-example shapes as one 2-D product (one BLAS call), or None."""
    (a, b), (ia, ib) = args, batch_axes
    ka, kb = a.ndim - (ia is not None), b.ndim - (ib is not None)
    mm, reshape_ = FUNCTIONS["matmul"], FUNCTIONS["reshape"]
    if ib is None and ka in (1, 2) and kb in (1, 2):
        rows = moveaxis(a, ia, 0)  # type: ignore[arg-type]
        if ka == 1 and kb == 2 and _is_identity(a):  # the basis of a Jacobian: I @ b = b
            return _cast(b, args), 0
        if ka == 1:  # (B, k) @ (k[, n])
            return mm(rows, b), 0
        flat = reshape_(rows, (-1, rows.shape[2]))  # (B*m, k) @ (k[, n])
        return reshape_(mm(flat, b), rows.shape[:2] + b.shape[1:]), 0
    if ia is None and kb in (1, 2) and ka in (1, 2):
        if kb == 1:  # (B, k) @ (k, m) or (B, k) @ (k): batch first, so users need no transpose
            rows = moveaxis(b, ib, 0)  # type: ignore[arg-type]
            if ka == 2 and _is_identity(b):
                return _cast(FUNCTIONS["transpose"](a), args), 0
            return mm(rows, FUNCTIONS["transpose"](a) if ka == 2 else a), 0
        cols = moveaxis(b, ib, 1)  # type: ignore[arg-type]  # (k, B, n) -> (k, B*n)
        flat = mm(a, reshape_(cols, (cols.shape[0], -1)))
        return reshape_(flat, a.shape[:-1] + cols.shape[1:]), a.ndim - 1
    if ka == 1 and kb == 1:  # both batched vectors: a dot product per example
        assert ia is not None and ib is not None
        product = FUNCTIONS["multiply"](moveaxis(a, ia, 0), moveaxis(b, ib, 0))
        return FUNCTIONS["astype"](FUNCTIONS["sum"](product, axis=1), OPS["matmul"].dtype(args)), 0
    return None


__all__ = ["Axis", "Rule", "along_axes", "batch_size", "broadcast_to", "concatenate",
           "elementwise", "expand_dims", "getitem", "keeps_axis", "matmul", "moveaxis",
           "reduction", "reshape", "same_everywhere", "scatter", "squeeze", "sum_to", "to_front",
           "transpose", "unbatchable"]
