"""NumPy's advanced indexing (`x[idx]`, `x[:, idx]`, `x[i, j]`) as a chain of linear ops, and its transpose.

Owns `index_chain` (the nodes x -> getitem -> [transpose] -> gather... ->
[transpose] that compute `x[index]`, each built from the one before as its
first input), `advanced_getitem` (its last node: what `x[...]` returns when
the index holds an integer tensor) and `transpose_chain` (the chain's VJP
rules applied backwards: what `gc.add_at` adds). Imports: indexing (the
gather op), shape, ir, layer L0.

NumPy's rules, followed here: basic entries (ints, slices, None, ...) are
applied first; the integer tensors broadcast together to one shape S; S
replaces the indexed axes where the first of them was if all advanced
entries (tensors and ints) are next to each other, and goes first
otherwise. Several tensors are one gather along the first axis and then
one per further axis with the earlier axes as shared `batch` axes, so every
index is bounds-checked against its own axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import shapes
from ..errors import ShapeError
from ..ir import Node, apply
from .indexing import GATHER, as_index
from .shape import broadcast_to, getitem, sum_to, transpose


def _is_basic(item: Any) -> bool:
    if item is None or item is Ellipsis or isinstance(item, slice):
        return True
    return isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_))


def is_advanced(index: Any) -> bool:
    """Whether `x[index]` needs a gather: the index holds a tensor, an array, a list or a bool.

    Anything else that is not basic (a float, a string) stays with basic indexing's error.
    """
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(item, (Node, list, np.ndarray, bool, np.bool_)) for item in items)


def _entries(x: Node, index: Any) -> list[Any]:
    """The index as one entry per position: Ellipsis expanded, trailing full slices added."""
    items = index if isinstance(index, tuple) else (index,)
    entries = [item if _is_basic(item) else as_index(item, "indexing") for item in items]
    if sum(1 for e in entries if e is Ellipsis) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for e in entries if e is not None and e is not Ellipsis)
    if consumed > x.ndim:
        raise ShapeError(f"too many indices ({consumed}) for a tensor of rank {x.ndim}")
    if Ellipsis in [e for e in entries if not isinstance(e, Node)]:
        at = next(k for k, e in enumerate(entries) if e is Ellipsis)
        entries[at:at + 1] = [slice(None)] * (x.ndim - consumed)
    else:
        entries.extend([slice(None)] * (x.ndim - consumed))
    return entries


def _moved(y: Node, order: Sequence[int]) -> Node:
    return transpose(y, tuple(order))


def index_chain(x: Node, index: Any) -> list[Node]:
    """[x, ..., x[index]]: each node computed from the previous one (its first input)."""
    entries = _entries(x, index)
    chain = [x]

    def step(node: Node) -> Node:
        if node is not chain[-1]:
            chain.append(node)
        return node

    basic = tuple(slice(None) if isinstance(e, Node) else e for e in entries)
    y = step(getitem(x, basic))
    tensors: list[tuple[int, Node]] = []  # (axis of y, index tensor)
    produced, first_advanced = 0, None
    for e in entries:
        advanced = isinstance(e, Node) or (e is not None and not isinstance(e, slice))
        if advanced and first_advanced is None:
            first_advanced = produced
        if isinstance(e, Node):
            tensors.append((produced, e))
        if e is None or isinstance(e, (slice, Node)):
            produced += 1
    if not tensors:
        return chain
    positions = [k for k, e in enumerate(entries) if not _is_basic(e) or
                 (e is not None and not isinstance(e, slice) and e is not Ellipsis)]
    adjacent = positions[-1] - positions[0] + 1 == len(positions)
    if len(tensors) == 1:
        axis, idx = tensors[0]
        y = step(apply(GATHER, y, idx, axis=axis, batch=0))
        count = idx.ndim
        if not adjacent and axis:
            order = list(range(axis, axis + count)) + [k for k in range(y.ndim)
                                                       if not axis <= k < axis + count]
            y = step(_moved(y, order))
        return chain
    common = shapes.broadcast(*(t.shape for _, t in tensors))
    spread = [broadcast_to(t, common) for _, t in tensors]
    axes = [a for a, _ in tensors]
    others = [k for k in range(y.ndim) if k not in axes]
    y = step(_moved(y, axes + others))
    y = step(apply(GATHER, y, spread[0], axis=0, batch=0))
    rank = len(common)
    for idx in spread[1:]:
        y = step(apply(GATHER, y, idx, axis=rank, batch=rank))
    if adjacent and first_advanced:
        lead = list(range(rank, rank + first_advanced))
        order = lead + list(range(rank)) + list(range(rank + first_advanced, y.ndim))
        y = step(_moved(y, order))
    return chain


def advanced_getitem(x: Node, index: Any) -> Node:
    """x[index] for an index holding integer tensors (NumPy's advanced indexing)."""
    return index_chain(x, index)[-1]


def transpose_chain(chain: Sequence[Node], cotangent: Node) -> Node:
    """The chain's VJP, rule by rule from the end: a tensor of chain[0]'s shape."""
    g = cotangent
    for before, node in zip(reversed(chain[:-1]), reversed(chain[1:])):
        assert node.op.vjp is not None and node.inputs[0] is before
        g = node.op.vjp(g, node, *node.inputs, **dict(node.attrs))[0]
        if g.shape != before.shape:
            g = sum_to(g, before.shape)
    return g


__all__ = ["advanced_getitem", "index_chain", "is_advanced", "transpose_chain"]
