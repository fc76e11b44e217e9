"""vmap of a scan: the same loop over a batched body (the scan op's batching rule).

Owns `scan_batch`. Every carry is batched (an unbatched init is repeated
over the batch: a step may mix it with batched values), at axis 0; a batched
xs entry has its batch axis moved to 1, so its per-step slice is batched at 0;
loop-invariant inputs keep their batch axis at 0 or stay unbatched. The body
is batched once by graphc.vmap's walk (batch_graph). Sibling outputs of one
loop get the same batched loop (memoized in body.derived), so the family still runs once.
Imports: vmap, ops, subgraph, control.scan/trace (layer L3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import GraphcError
from ..ir import Node
from ..ops.batching import batch_size, moveaxis, to_front
from ..subgraph import Subgraph
from ..vmap import batch_graph
from .scan import scan_outputs


def _batched_body(body: Subgraph, batched: Sequence[bool],
                  size: Any) -> tuple[Subgraph, list[int | None]]:
    """The body with batched inputs where `batched` says; ys batch axes (0 or None)."""
    mapping: dict[Node, tuple[Node, int | None]] = {}
    inputs = []
    for old, flag in zip(body.inputs, batched):
        if flag:
            stand_in = Node(old.op, (), (), (size,) + tuple(old.shape), old.dtype,
                            name=old.name, origin=old.origin)
            mapping[old] = (stand_in, 0)
            inputs.append(stand_in)
        else:
            inputs.append(old)
    results = batch_graph(list(body.outputs), mapping)
    outputs, ys_axes = [], []
    for k, (node, axis) in enumerate(results):
        if k < body.carries:
            outputs.append(to_front(node, axis, size))
        else:
            outputs.append(node if axis is None else moveaxis(node, axis, 0))
            ys_axes.append(None if axis is None else 0)
    return Subgraph(tuple(inputs), tuple(outputs), body.carries, body.xs), ys_axes


def _batched_loop(args: Sequence[Node], axes: Sequence[int | None],
                  body: Subgraph) -> tuple[list[Node], Subgraph, list[int | None]]:
    key = ("batch", tuple(id(a) for a in args), tuple(axes))
    if key in body.derived:
        return body.derived[key][1:]  # type: ignore[no-any-return]
    size = batch_size(args, axes)
    nc, nx = body.carries, body.xs
    inputs = [to_front(a, axis, size) for a, axis in zip(args[:nc], axes[:nc])]
    inputs += [a if axis is None else moveaxis(a, axis, 1) for a, axis in zip(args[nc:nc + nx],
                                                                           axes[nc:nc + nx])]
    inputs += [a if axis is None else moveaxis(a, axis, 0) for a, axis in zip(args[nc + nx:],
                                                                           axes[nc + nx:])]
    flags = [True] * nc + [axis is not None for axis in axes[nc:]]
    new_body, ys_axes = _batched_body(body, flags, size)
    body.derived[key] = (list(args), inputs, new_body, ys_axes)  # args kept: their ids stay theirs
    return inputs, new_body, ys_axes


def scan_batch(args: Sequence[Node], axes: Sequence[int | None], *, body: Subgraph,
               output: tuple[str, int], **attrs: Any) -> tuple[Node, int | None]:
    """The batching rule of the scan op: (batched node, its batch axis)."""
    if attrs.get("recompute") is not None:
        raise GraphcError("the reverse pass of a checkpointed scan cannot be vmapped; vmap the "
                          "function before differentiating it, or use checkpoint=None")
    inputs, new_body, ys_axes = _batched_loop(args, axes, body)
    node = scan_outputs(new_body, inputs, [output], **attrs)[0]
    kind, index = output
    if kind == "carry":
        return node, 0
    if kind == "history":
        return node, 1
    return node, None if ys_axes[index] is None else 1


__all__ = ["scan_batch"]
