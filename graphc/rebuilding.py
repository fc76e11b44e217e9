"""The bottom-up rebuild every rewrite pass uses: `rebuild(outputs, visit)` (layer L3).

Owns walking a graph once, inputs first, rebuilding each node on its
(possibly replaced) inputs with `ir.apply` (shape and dtype rules re-run,
a changed dtype or rank is an error naming the node) and handing it to
`visit`; unchanged subgraphs keep their identity. Iterative and linear.
Split off from rewrite.py, which re-exports these names. Imports: ir,
errors, shapes (layers L0-L1). Entry point: `rebuild`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from . import shapes
from .errors import GraphcError
from .ir import Node, apply


def toposort_until(outputs: Iterable[Node], stop: frozenset[Node] | set[Node]) -> list[Node]:
    """Like ir.toposort, but does not descend below nodes in `stop`. Iterative DFS."""
    order: list[Node] = []
    seen: set[Node] = set()
    for root in outputs:
        if root in seen:
            continue
        seen.add(root)
        stack: list[tuple[Node, int]] = [(root, 0)]
        while stack:
            node, next_input = stack[-1]
            inputs = () if node in stop else node.inputs
            if next_input < len(inputs):
                stack[-1] = (node, next_input + 1)
                child = inputs[next_input]
                if child not in seen:
                    seen.add(child)
                    stack.append((child, 0))
            else:
                stack.pop()
                order.append(node)
    return order


def rebuild_node(node: Node, inputs: Sequence[Node]) -> Node:
    """`node` on new inputs (itself if they are the same), with its shape and dtype rules re-run."""
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    new = apply(node.op, *inputs, name=node.name, origin=node.origin, scope=node.scope,
                **node.attr)
    if new.dtype != node.dtype or len(new.shape) != len(node.shape):
        raise GraphcError(f"rewriting changed {node.op.name} (built at {node.origin}) from "
                          f"{node.dtype}{shapes.format_shape(node.shape)} to "
                          f"{new.dtype}{shapes.format_shape(new.shape)}")
    if new.shape != node.shape:
        # A reshape's -1 gets a fresh anonymous size each time; keep the original one.
        for was, now in zip(node.shape, new.shape):
            if was != now and not (isinstance(was, shapes.Dim) and was.is_anonymous):
                raise GraphcError(f"rewriting changed the shape of {node.op.name} (built at "
                                  f"{node.origin}) from {shapes.format_shape(node.shape)} "
                                  f"to {shapes.format_shape(new.shape)}")
        new = replace(new, shape=node.shape)
    return new


def rebuild(outputs: Sequence[Node], visit: Callable[[Node], Node], *,
            keep: Iterable[Node] = ()) -> list[Node]:
    """Rebuild the graph inputs-first, passing each (re)built node through `visit`.

    Nodes in `keep` are left alone with everything below them. Leaves are
    visited too (CSE merges equal constants); inputs must come back as is.
    """
    kept = frozenset(keep)
    memo: dict[Node, Node] = {}
    for node in toposort_until(outputs, kept):
        if node in kept:
            memo[node] = node
            continue
        memo[node] = visit(rebuild_node(node, [memo[i] for i in node.inputs]))
    return [memo[o] for o in outputs]
