"""Stacked elementwise work on a loop's per-step outputs that the loop already stacks: reused.

Owns `reuse_stacked(graph, options, fired)`, a pass of the simplifier's
nested step (run before the loop pass of control/optimize.py, which would
prune a per-step output nobody reads yet). Why: the
reverse pass of a scan recomputes cheap elementwise values from the saved
residuals (scan_vjp saves costly nodes and recomputes the rest, JAX's
`checkpoint_dots`), and the loop pass then moves per-step work no carry
needs out of the reverse loop, as one op over the stacked rows
(scan_hoist.hoist_after). An LSTM's `h = o * tanh(c)` is such a value: the
weight gradient of its readout becomes `multiply(ys_o, ys_tanh_c)` after
the loop, a pass over T*B*H elements, although the forward loop already
stacks `h` (its per-step output). Elementwise ops commute with stacking, so
`op(ys_a, ys_b)` equals the stacked `op(a, b)`; when the loop's body
computes exactly that node and returns it as per-step output j, the stacked
op is the loop's output ("ys", j).

Only pointwise ops whose inputs are all per-step outputs of one loop, of
the op's own shape (no broadcasting across the step axis), and a body node
with the same op, attributes and inputs in the same order. Results are the
same values (the same op on the same elements). Imports: ir, lowering,
rebuilding (the one bottom-up rebuild), control.scan (layer L3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..ir import Graph, Node, apply, toposort
from ..lowering import Pointwise
from ..rebuilding import rebuild
from .scan import BUILT, SCAN, family_key


def _stacked_inputs(node: Node, inputs: Sequence[Node]) -> bool:
    """A pointwise node reading only per-step outputs of one loop, all of its own shape."""
    if not isinstance(node.op.lowering, Pointwise) or not inputs:
        return False
    if not all(i.op is SCAN and i.attr["output"][0] == "ys" and tuple(i.shape) == tuple(node.shape)
               for i in inputs):
        return False
    first = family_key(inputs[0])
    return all(family_key(i) == first for i in inputs[1:])


def _as_output(node: Node, inputs: Sequence[Node], members: dict[Any, dict[Any, Node]]) -> Node | None:
    """The loop's stacked output equal to `node`, when its body returns the same node per step."""
    body = inputs[0].attr["body"]
    nc = body.carries
    wanted = tuple(body.outputs[nc + i.attr["output"][1]] for i in inputs)
    found = next((m for m in body.nodes() if m.op is node.op and m.inputs == wanted
                  and m.attrs == node.attrs), None)
    if found is None or found.dtype != node.dtype:
        return None
    j = next((j for j in range(body.ys) if body.outputs[nc + j] is found), None)
    if j is None:
        return None
    key = family_key(inputs[0])
    family = members.setdefault(key, {})
    if ("ys", j) not in family:
        attrs = {k: v for k, v in inputs[0].attrs if k != "output"}
        family[("ys", j)] = apply(SCAN, *inputs[0].inputs, output=("ys", j), name=node.name,
                                  origin=node.origin, scope=node.scope, **attrs)
    return family[("ys", j)]


def reuse_stacked(graph: Graph, options: Any, fired: Counter[str]) -> Graph:
    """The pass (see the module docstring)."""
    if not BUILT[0]:
        return graph
    order = toposort(graph.outputs)
    members: dict[Any, dict[Any, Node]] = {}
    for node in order:
        if node.op is SCAN:
            members.setdefault(family_key(node), {})[node.attr["output"]] = node
    if not members:
        return graph

    def visit(node: Node) -> Node:  # `node` already rebuilt on its (possibly reused) inputs
        reused = _as_output(node, node.inputs, members) if _stacked_inputs(node, node.inputs) else None
        if reused is None:
            return node
        fired["loops_outputs_reused"] += 1
        return reused

    outputs = rebuild(graph.outputs, visit)
    if all(a is b for a, b in zip(outputs, graph.outputs)):
        return graph
    return Graph(graph.inputs, tuple(outputs))


__all__ = ["reuse_stacked"]


def _register() -> None:
    from ..simplify.passes import NESTED

    if reuse_stacked not in NESTED:  # before the loop pass, which prunes outputs nobody reads
        NESTED.insert(0, reuse_stacked)


_register()
