"""Seeing graphs: networkx export, DOT text, values and derivatives on the picture.

Owns `to_networkx`, `to_dot` and `render` (Graphviz's `dot` program, when it
is installed); the DOT text itself is written by graphc.dotfile, so drawing
needs no library beyond networkx. A picture separates three parts: the
*backward* graph that `gc.grad` built (a node whose origin says "backward
of ..." or "gradient of ...", that no forward output needs, so common
subexpressions shared with the forward pass stay forward), the *update* an
optimizer built from the gradients (nodes downstream of the backward graph
that autodiff did not build: new parameters and state), and the *forward*
graph (the rest). Inside a part, nodes built under `gc.scope` are grouped.

With `values`, every node is evaluated by the reference interpreter and
annotated with its value; when the forward outputs include a float scalar
(the loss) each forward node also gets its gradient d loss / d node, and each
forward edge u -> v a red backward arrow labelled with the local derivative
d v / d u at those values -- the textbook backprop diagram, in which a
node's gradient is the sum over its outgoing edges of (local derivative x
gradient of the consumer).

Imports: autodiff, interpret, calling, printing, ir, ops and layer L0 (layer
L4); networkx only here, lazily, so `import graphc` stays fast.
Entry points: `to_networkx`, `to_dot`, `render`.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import dotfile, dtypes, shapes
from .autodiff import grad, jacobian
from .calling import bind, coerce
from .dotfile import describe_value
from .errors import GraphcError
from .interpret import evaluate
from .ir import Node, apply, toposort
from .ops import input
from .printing import Namer, format_attrs, type_string
from .subgraph import Subgraph, subgraphs_of

BACKWARD_ORIGINS = ("backward of ", "gradient of ")
__all__ = ["classify", "describe_value", "render", "to_dot", "to_networkx"]
SMALL_JACOBIAN = 16  # local derivatives with at most this many entries are shown
INSTALL_HINT = ("Graphviz's `dot` program is not installed, so only the DOT file was written; "
                "install it with `apt-get install graphviz` (Debian/Ubuntu) or from graphviz.org")


# ---------------------------------------------------------------- what to draw

def _roots(source: Any, caller: str) -> tuple[list[Node], list[Node]]:
    """(declared inputs, outputs) of a tensor, a list of tensors or a compiled Function."""
    if isinstance(source, Node):
        return [], [source]
    if hasattr(source, "outputs") and hasattr(source, "inputs"):  # a compiled gc.Function
        return list(source.inputs), list(source.outputs)
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, Node) for s in source):
        return [], list(source)
    raise GraphcError(f"{caller} expects a tensor, a non-empty list of tensors or a compiled "
                      f"function, got {type(source).__name__}")


def _is_backward_built(node: Node) -> bool:
    return node.origin.startswith(BACKWARD_ORIGINS)


def classify(outputs: Sequence[Node]) -> dict[Node, str]:
    """"forward", "backward" or "update" for every node (see the module docstring).

    Decided from the users down (a node's users are classified first):
    autodiff-built nodes are backward unless a forward node uses them (a
    subexpression shared with the forward pass); nodes computed from backward
    ones, and nodes (inputs included) that only the update uses, are the
    update -- an optimizer's state and step counter too; the rest is forward,
    and a constant goes with its users when they agree.
    """
    order = toposort(outputs)
    downstream: set[int] = set()  # computed from an autodiff-built node
    users: dict[Node, list[Node]] = {}
    for node in order:
        if any(_is_backward_built(i) or id(i) in downstream for i in node.inputs):
            if not _is_backward_built(node):
                downstream.add(id(node))
        for source in node.inputs:
            users.setdefault(source, []).append(node)
    part: dict[Node, str] = {}
    for node in reversed(order):
        kinds = {part[u] for u in users.get(node, ())}
        if _is_backward_built(node):
            part[node] = "forward" if "forward" in kinds else "backward"
        elif id(node) in downstream or kinds == {"update"}:
            part[node] = "update"
        elif node.op.name == "constant" and len(kinds) == 1:
            part[node] = kinds.pop()
        else:
            part[node] = "forward"
    return part


# ---------------------------------------------------------------- values

@dataclass
class Annotations:
    """Numbers for the picture: node values, d loss / d node, local derivatives per edge."""

    values: dict[Node, np.ndarray] = field(default_factory=dict)
    gradients: dict[Node, np.ndarray] = field(default_factory=dict)
    derivatives: dict[tuple[Node, int], np.ndarray] = field(default_factory=dict)  # (v, position)
    flows: dict[tuple[Node, int], np.ndarray] = field(default_factory=dict)  # grad along the edge
    loss: Node | None = None


def _feed(order: Sequence[Node], values: Mapping[Any, Any]) -> dict[Node, np.ndarray]:
    """values keyed by input tensor or input name -> {input node: array of its dtype}."""
    leaves = [n for n in order if n.op.name == "input"]
    by_name = {str(n.name): n for n in leaves}
    feed: dict[Node, np.ndarray] = {}
    for key, value in values.items():
        node = by_name.get(key) if isinstance(key, str) else key
        if not isinstance(node, Node) or node not in leaves:
            raise GraphcError(f"to_dot values: {key!r} is not an input of the graph "
                              f"(inputs: {', '.join(sorted(by_name))})")
        feed[node] = coerce(node, value)
    missing = sorted(str(n.name) for n in leaves if n not in feed)
    if missing:
        raise GraphcError(f"to_dot values: no value for input(s) {', '.join(missing)}")
    return feed


def _local_derivative(node: Node, position: int, env: Mapping[Node, np.ndarray],
                      binding: Mapping[str, int]) -> np.ndarray | None:
    """d node / d node.inputs[position] at the values, when both are float and it is small."""
    source = node.inputs[position]
    if (source.op.name == "constant" or node.op.vjp is None
            or not (dtypes.is_float(node.dtype) and dtypes.is_float(source.dtype))
            or env[node].size * env[source].size > SMALL_JACOBIAN):
        return None
    arguments, feed = [], {}
    for index, argument in enumerate(node.inputs):
        if argument.op.name == "constant":
            arguments.append(argument)
            continue
        placeholder = input(f"argument{index}", shape=env[argument].shape, dtype=argument.dtype)
        arguments.append(placeholder)
        feed[placeholder] = env[argument]
    attrs = {k: shapes.resolve_attr(v, dict(binding)) for k, v in node.attrs}
    try:
        local = apply(node.op, *arguments, origin=node.origin, **attrs)
        return evaluate([jacobian(local, arguments[position])], feed)[0]
    except GraphcError:  # a rule that needs symbolic sizes: leave the edge unlabelled
        return None


def annotate(inputs: Sequence[Node], outputs: Sequence[Node], part: Mapping[Node, str],
             values: Mapping[Any, Any]) -> Annotations:
    """Evaluate every node, and the loss's gradients and local derivatives of the forward graph."""
    order = toposort(outputs)
    feed = _feed(order, values)
    binding = bind(list(feed), list(feed.values()), [])
    result = Annotations(values=dict(zip(order, evaluate(order, feed, binding))))
    scalars = [o for o in outputs if part[o] == "forward" and o.ndim == 0
               and dtypes.is_float(o.dtype) and o.inputs]
    if not scalars:
        return result
    result.loss = loss = scalars[0]
    wrt = [n for n in toposort([loss]) if n.op.name != "constant" and dtypes.is_float(n.dtype)]
    try:
        gradients = evaluate(grad(loss, wrt), feed, binding)
    except GraphcError:  # an op without a derivative rule: values only
        return result
    result.gradients = dict(zip(wrt, gradients))
    for node in wrt:
        for position in range(len(node.inputs)):
            derivative = _local_derivative(node, position, result.values, binding)
            if derivative is not None:
                result.derivatives[(node, position)] = derivative
                # What travels back along u -> v: grad(v) contracted with dv/du. The
                # textbook diagram writes this number on the edge; grad(u) is their sum.
                result.flows[(node, position)] = np.tensordot(
                    result.gradients[node], derivative, axes=node.ndim)
    return result


# ---------------------------------------------------------------- networkx

def _kind(node: Node) -> str:
    return node.op.name if node.op.name in ("input", "constant") else "op"


def _expression(node: Node, key: str, text_of: Mapping[Node, str], namer: Namer) -> str:
    """`t2 = y_true - t1`: the node's line of the printed graph, without its type."""
    if node.op.name == "input":
        return key
    if node.op.name == "constant":
        return text_of[node]
    arguments = [text_of[i] if i in namer.names else namer(i, node) for i in node.inputs]
    if node.op.infix and len(arguments) == 2:
        return f"{key} = {arguments[0]} {node.op.infix} {arguments[1]}"
    if node.op.name in ("getitem", "scatter"):
        return f"{key} = {node.op.label}{format_attrs(node)}({', '.join(arguments)})"
    keywords = [f"{k}={_attribute(v)}" for k, v in node.attrs if not (k == "keepdims" and not v)]
    return f"{key} = {node.op.label}({', '.join(arguments + keywords)})"


def _attribute(value: Any) -> str:
    """An attribute as Python would write it, symbolic sizes by name: (0, 1), 'n'."""
    if isinstance(value, tuple):
        inner = ", ".join(_attribute(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return str(value)


def _output_names(source: Any, roots: Sequence[Node],
                  names: Mapping[Node, str] | None) -> dict[Node, str]:
    """Names for nodes: `names`, then a compiled function's output names (compile(names=...))."""
    named = dict(names or {})
    stats = getattr(source, "stats", None)
    given = stats.get("output_names") if isinstance(stats, dict) else None
    for node, name in zip(roots, given or ()):
        if name and node not in named:
            named[node] = name
    return named


def to_networkx(outputs: Any, values: Mapping[Any, Any] | None = None,
                names: Mapping[Node, str] | None = None, simplified: bool = False) -> Any:
    """The graph as a networkx.DiGraph; node keys are the printed graph's names (t0, x, ...).

    `outputs`: a tensor, a list of tensors or a compiled Function. Node
    attributes: op, shape, dtype, type, name, attrs, origin, scope (gc.scope's
    name, "" outside any), output (bool), kind (input/constant/op), part
    (forward/backward/update), expression; with `values` also value, and for
    the loss's forward nodes gradient. Edges carry `positions` (argument
    indices at the consumer; `position` is the first) and, with values,
    `derivatives` (one local derivative or None per position). `names` gives
    nodes readable names (e.g. the variable names of the script that built
    them, or output names) in place of t0, t1, ...; a compiled function's
    output names (compile(names=...), d_W by default) are used too.
    `simplified=True` draws tensors after gc.simplify, the graph compile
    runs; by default tensors are drawn as built (a compiled function keeps
    only its simplified graph).
    """
    import networkx as nx

    inputs, roots = _roots(outputs, "to_networkx")
    named = _output_names(outputs, roots, names)
    if simplified and not inputs:
        from .simplify import simplify

        before = roots
        roots = simplify(list(roots))
        named.update({new: named[old] for old, new in zip(before, roots) if old in named})
    order = toposort(roots)
    part = classify(roots)
    notes = annotate(inputs, roots, part, values) if values is not None else None
    namer = Namer(inline_literals=True)
    for leaf in list(inputs) + [n for n in order if n.op.name == "input"]:
        namer(leaf)  # inputs first, as the printer does, so t-numbers agree with it
    first_user: dict[Node, Node] = {}
    for node in order:
        for source in node.inputs:
            first_user.setdefault(source, node)
    keys: dict[Node, str] = {}
    text_of: dict[Node, str] = {}
    for node in order:
        text_of[node] = namer(node, first_user.get(node))
        keys[node] = text_of[node] if node in namer.names else f"literal{len(keys)}"
    taken = set(keys.values())
    for node, name in named.items():  # the script's own names for intermediates
        if not (isinstance(name, str) and name.isidentifier()):
            raise GraphcError(f"to_dot names: {name!r} is not a Python identifier")
        if node in keys and node.op.name not in ("input", "constant") and name not in taken:
            taken.add(name)
            keys[node] = text_of[node] = name
    graph = nx.DiGraph(loss=keys[notes.loss] if notes and notes.loss is not None else None)
    drawn: set[int] = set()  # a loop body is drawn once, beside its first output node
    for node in order:
        attributes: dict[str, Any] = dict(
            op=node.op.name, shape=tuple(str(s) if isinstance(s, shapes.Dim) else s
                                         for s in node.shape),
            dtype=str(node.dtype), type=type_string(node), name=node.name, scope=node.scope,
            attrs=format_attrs(node), origin=node.origin, output=node in roots,
            kind=_kind(node), part=part[node], commutative=node.op.commutative,
            arguments=len(node.inputs),
            expression=_expression(node, keys[node], text_of, namer))
        if node.value is not None:
            attributes["constant"] = describe_value(node.value)
        bodies = [body_picture(body) for body in subgraphs_of(node) if body.number not in drawn]
        drawn.update(body.number for body in subgraphs_of(node))
        if bodies:
            attributes["bodies"] = bodies
        if notes is not None:
            attributes["value"] = notes.values[node]
            if node in notes.gradients:
                attributes["gradient"] = notes.gradients[node]
        graph.add_node(keys[node], **attributes)
        for position, source in enumerate(node.inputs):
            edge = (keys[source], keys[node])
            data: dict[str, Any] = (dict(graph.edges[edge]) if graph.has_edge(*edge)
                                    else {"positions": ()})
            data["positions"] = (*data["positions"], position)
            if notes is not None:
                data["derivatives"] = (*data.get("derivatives", ()),
                                       notes.derivatives.get((node, position)))
                data["flows"] = (*data.get("flows", ()), notes.flows.get((node, position)))
            data["position"] = data["positions"][0]
            graph.add_edge(*edge, **data)
    return graph


def body_picture(body: Subgraph) -> dict[str, Any]:
    """A loop body for a DOT cluster: its title, nodes (key, label) and edges."""
    namer = Namer(inline_literals=False, scoped=False)
    order = [n for n in body.inputs] + [n for n in toposort(body.outputs) if n not in body.inputs]
    prefix = f"{body!r}/"
    nodes = []
    for node in order:
        label = namer(node) + ("" if node.op.name in ("input", "constant") else f" = {node.op.label}")
        nodes.append((prefix + namer(node), f"{label}\n{type_string(node)}"))
    edges = [(prefix + namer(source), prefix + namer(node)) for node in order for source in node.inputs]
    title = f"{body!r}: loop body ({body.carries} carries, {body.xs} per-step inputs)"
    return {"title": title, "nodes": nodes, "edges": edges,
            "outputs": [prefix + namer(o) for o in body.outputs]}


# ---------------------------------------------------------------- DOT

def to_dot(outputs: Any, path: str | Path | None = None,
           values: Mapping[Any, Any] | None = None,
           names: Mapping[Node, str] | None = None, simplified: bool = False) -> str:
    """DOT text (valid for Graphviz `dot`) of a tensor, a list of tensors or a compiled Function.

    A networkx graph from `to_networkx` (or `f.graph`) is accepted too. With
    `values` (input tensor or name -> array) nodes show values and gradients
    and edges local derivatives; `names` renames nodes (see to_networkx).
    Tensors are drawn as built, or after gc.simplify with `simplified=True`;
    a compiled function is its simplified graph. Parts (forward, backward,
    update) and gc.scope blocks are clusters. Writes the text to `path`
    when given.
    """
    if hasattr(outputs, "nodes") and hasattr(outputs, "edges") and not isinstance(outputs, Node):
        if values is not None:
            raise GraphcError("to_dot: values need the tensors, not an exported networkx graph")
        graph = outputs
    else:
        graph = to_networkx(outputs, values, names, simplified)
    text = dotfile.write(graph)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def render(dot_path: str | Path, format: str, output: str | Path | None = None) -> Path | None:  # noqa: A002
    """Render a DOT file with Graphviz's `dot` to svg/png; None when `dot` is not installed."""
    if format not in ("svg", "png", "pdf"):
        raise GraphcError(f"render: format must be svg, png or pdf, got {format!r}")
    program = shutil.which("dot")
    if program is None:
        return None
    target = Path(output) if output is not None else Path(dot_path).with_suffix("." + format)
    done = subprocess.run([program, f"-T{format}", str(dot_path), "-o", str(target)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GraphcError(f"Graphviz dot failed on {dot_path}: {done.stderr.strip()}")
    return target
