"""Graphs as plain records: a digest that names a graph, and bytes that load it back.

Why: simplifying a large graph costs ~0.2 s per 3000 nodes in every process
that compiles it, which is most of a warm start's budget. `graphc.api.compile`
keeps the simplified graph in the cache directory under the digest of the
graph as the user built it, so a fresh process that builds the same graph
loads the result instead of simplifying again (docs/codegen.md, "Warm
start").

A record is (op name, input positions, attrs, shape, dtype, name, origin,
value, weak, constraints, scope, gradient name); the graph's inputs are referred to by their
position in the compile call, so a loaded graph is built on the caller's own
input nodes. Loading creates Nodes directly (no shape rules run: the records
hold their results), re-registering the sliced sizes (`n[1:]`) they mention.
Imports: ir, shapes (layer L3, beside the other consumers of a finished graph).
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import shapes
from .ir import OPS, Node, toposort

Record = tuple[Any, ...]


def _records(inputs: Sequence[Node], outputs: Sequence[Node]) -> tuple[list[Record], list[int]]:
    """The graph as records in topological order, and the positions of the outputs."""
    where_input = {node: position for position, node in enumerate(inputs)}
    position: dict[Node, int] = {}
    records: list[Record] = []
    for node in toposort(outputs):
        if node in where_input:
            record: Record = ("input", where_input[node], node.name, node.shape, node.dtype.str)
        else:
            record = (node.op.name, tuple(position[i] for i in node.inputs), node.attrs,
                      node.shape, node.dtype.str, node.name, node.origin, node.value,
                      node.weak, node.constraints, node.scope, node.gradient_name)
        position[node] = len(records)
        records.append(record)
    return records, [position[node] for node in outputs]


@functools.cache
def code_version() -> str:
    """graphc's source and NumPy's version (read once per process): a simplified graph, and
    the code generated from it, depend on both."""
    version = hashlib.sha256(np.__version__.encode())
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        version.update(path.read_bytes())
    return version.hexdigest()[:16]


def digest(inputs: Sequence[Node], outputs: Sequence[Node], context: str = "") -> str:
    """A name for the graph: equal for graphs built alike (same ops, values, names, lines)."""
    records, places = _records(inputs, outputs)
    data = pickle.dumps((records, places, context), protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.sha256(data).hexdigest()[:24]


def value_digest(inputs: Sequence[Node], outputs: Sequence[Node], context: str = "") -> str:
    """`digest` of the graph's values alone, not of which of its objects are one object.

    `digest` pickles the records with pickle's memo, so a shape tuple shared by two
    nodes is written once and referred back to: equal for graphs built alike, but a
    graph equal in every value that was simplified in this process, or loaded back
    from the cache, shares its objects differently. The memo is off here (each
    object written in full), so such graphs get one name (backend/lowered_cache.py).
    """
    records, places = _records(inputs, outputs)
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True  # no memo: no back-references; records hold no cycles
    pickler.dump((records, places, context))
    return hashlib.sha256(buffer.getvalue()).hexdigest()[:24]


def dumps(inputs: Sequence[Node], outputs: Sequence[Node], extra: Any = None) -> bytes:
    """The graph (and any picklable `extra`) as bytes for `loads`."""
    records, places = _records(inputs, outputs)
    factors = {factor for record in records for size in record[3]
               if isinstance(size, shapes.Dim) for factor in size.factors}
    slices = {factor: shapes.SLICES[factor] for factor in factors if factor in shapes.SLICES}
    return pickle.dumps((records, places, slices, extra), protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes, inputs: Sequence[Node]) -> tuple[list[Node], Any]:
    """(outputs, extra) of a graph saved by `dumps`, built on the caller's `inputs`.

    Raises ValueError if the bytes do not describe a graph on these inputs.
    """
    records, places, slices, extra = pickle.loads(data)  # noqa: S301 - our own cache file
    for factor, length in slices.items():
        shapes.SLICES.setdefault(factor, length)
    nodes: list[Node] = []
    for record in records:
        if record[0] == "input":
            _, number, name, shape, dtype = record
            node = inputs[number] if number < len(inputs) else None
            if node is None or (node.name, node.shape, node.dtype.str) != (name, shape, dtype):
                raise ValueError(f"input {number} ({name}) does not match the saved graph")
        else:
            (op, sources, attrs, shape, dtype, name, origin, value, weak, constraints, scope,
             gradient) = record
            node = Node(OPS[op], tuple(nodes[i] for i in sources), attrs, shape,
                        np.dtype(dtype), name=name, origin=origin, value=value, weak=weak,
                        constraints=constraints, scope=scope, gradient_name=gradient)
        nodes.append(node)
    return [nodes[i] for i in places], extra
