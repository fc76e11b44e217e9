"""A closed graph held as an attribute of a node: the body of a `scan` or `while_loop`.

Owns `Subgraph`: a frozen record of a body's own input placeholders (loop
carries, per-step slices, loop-invariant values) and its outputs (new
carries, per-step results). Closed means the body reads nothing from outside
except through its inputs, so every pass can treat it as an ordinary graph
and the outer node lists what the body reads as its own inputs.

Hashing and equality are identity (like `Node`), so a body is a valid,
cheap CSE key; pickling writes the body as plain records (op names, input
positions, attrs, shapes; serialize.py's format), so a graph holding a body
has a digest and can be cached. Imports: ir and layer L0 (layer L2, beside the ops).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ir import OPS, Node, toposort

_labels = itertools.count(1)


@dataclass(frozen=True, eq=False)
class Subgraph:
    """inputs = carries + xs + consts (placeholders); outputs = new carries + per-step ys."""

    inputs: tuple[Node, ...]
    outputs: tuple[Node, ...]
    carries: int  # how many of inputs (and of outputs) are loop carries
    xs: int  # how many inputs are per-step slices; the rest are loop-invariant values
    number: int = field(default_factory=lambda: next(_labels))
    # What passes derive from this body and reuse (control.run's step plans,
    # control.scan_batch's batched bodies): on the body, not in module dicts, so
    # it lives and dies with the body. Not pickled (__reduce__ rebuilds it empty).
    derived: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def consts(self) -> int:
        return len(self.inputs) - self.carries - self.xs

    @property
    def ys(self) -> int:
        return len(self.outputs) - self.carries

    def nodes(self) -> list[Node]:
        return toposort(self.outputs)

    def __repr__(self) -> str:
        return f"body#{self.number}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (_records(self), self.carries, self.xs, len(self.inputs)))


def _records(body: Subgraph) -> tuple[list[tuple[Any, ...]], list[int]]:
    """The body as (op name, input positions, attrs, shape, dtype, ...) records in order."""
    position: dict[Node, int] = {}
    records: list[tuple[Any, ...]] = []
    where_input = {node: k for k, node in enumerate(body.inputs)}
    for node in list(body.inputs) + [n for n in body.nodes() if n not in where_input]:
        if node in position:
            continue
        if node in where_input:
            record: tuple[Any, ...] = ("input", (), (), node.shape, node.dtype.str, node.name,
                                       node.origin, None, node.weak, (), node.scope)
        else:
            record = (node.op.name, tuple(position[i] for i in node.inputs), node.attrs,
                      node.shape, node.dtype.str, node.name, node.origin, node.value,
                      node.weak, node.constraints, node.scope)
        position[node] = len(records)
        records.append(record)
    return records, [position[o] for o in body.outputs]


def _rebuild(data: tuple[list[tuple[Any, ...]], list[int]], carries: int, xs: int,
             count: int) -> Subgraph:
    records, places = data
    nodes: list[Node] = []
    for op, sources, attrs, shape, dtype, name, origin, value, weak, constraints, scope in records:
        nodes.append(Node(OPS[op], tuple(nodes[i] for i in sources), attrs, shape, np.dtype(dtype),
                          name=name, origin=origin, value=value, weak=weak,
                          constraints=constraints, scope=scope))
    inputs = tuple(nodes[:count])
    return Subgraph(inputs, tuple(nodes[i] for i in places), carries, xs)


def subgraphs_of(node: Node) -> list[Subgraph]:
    """The bodies a node holds as attributes (a scan's body), for printers and passes."""
    return [value for _, value in node.attrs if isinstance(value, Subgraph)]


__all__ = ["Subgraph", "subgraphs_of"]
