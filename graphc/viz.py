"""Graph export: networkx DiGraph (and, with the inspection issue, DOT).

networkx is imported lazily so `import graphc` stays fast (layer L4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import dtypes, shapes
from .ir import Node, toposort
from .printing import Namer, format_attrs


def to_networkx(outputs: Node | Sequence[Node]) -> Any:
    """The graph as a networkx.DiGraph; node keys are printer names (t0, x, ...).

    Node attributes: op, shape, dtype, name, attrs, origin, output (bool).
    Edges carry `position`, the argument index at the consumer.
    """
    import networkx as nx

    roots = [outputs] if isinstance(outputs, Node) else list(outputs)
    graph = nx.DiGraph()
    name = Namer(inline_literals=False)
    for node in toposort(roots):
        key = name(node)
        graph.add_node(key, op=node.op.name, shape=tuple(str(s) if isinstance(s, shapes.Dim) else s
                                                        for s in node.shape),
                       dtype=str(node.dtype), type=dtypes.short_name(node.dtype),
                       name=node.name, attrs=format_attrs(node), origin=node.origin,
                       output=node in roots)
        for position, source in enumerate(node.inputs):
            graph.add_edge(name(source), key, position=position)
    return graph
