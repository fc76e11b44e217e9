"""Seeing graphs: networkx export, DOT text through pydot, values and derivatives on the picture.

Owns `to_networkx`, `to_dot` and `render` (Graphviz's `dot` program, when it
is installed). A picture separates the forward graph from the backward graph
that `gc.grad` built: a node is *backward* when autodiff built it (its origin
says "backward of ..." or "gradient of ...") and no forward output needs it,
so common subexpressions shared with the forward pass stay forward.

With `values`, every node is evaluated by the reference interpreter and
annotated with its value; when the forward outputs include a float scalar
(the loss) each forward node also gets its gradient d loss / d node, and each
forward edge u -> v a red backward arrow labelled with the local derivative
d v / d u at those values -- the textbook backprop diagram, in which a
node's gradient is the sum over its outgoing edges of (local derivative x
gradient of the consumer).

Imports: autodiff, interpret, calling, printing, ir, ops and layer L0 (layer
L4); networkx and pydot only here, lazily, so `import graphc` stays fast.
Entry points: `to_networkx`, `to_dot`, `render`.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import dtypes, shapes
from .autodiff import grad, jacobian
from .calling import bind, coerce
from .errors import GraphcError
from .interpret import evaluate
from .ir import Node, apply, toposort
from .ops import input
from .printing import Namer, format_attrs, type_string

BACKWARD_ORIGINS = ("backward of ", "gradient of ")
SMALL_ARRAY = 6  # values with at most this many entries are shown in full
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
    """"forward" or "backward" for every node: backward = built by autodiff, unneeded forward.

    Forward outputs are the outputs autodiff did not build; everything they
    need is forward. Of the rest, autodiff-built nodes are backward, and so
    are constants only backward nodes use (the seed 1.0 of gc.grad).
    """
    order = toposort(outputs)
    forward_outputs = [o for o in outputs if not _is_backward_built(o)]
    needed = {id(n) for n in toposort(forward_outputs)}
    users: dict[Node, list[Node]] = {}
    for node in order:
        for source in node.inputs:
            users.setdefault(source, []).append(node)
    part: dict[Node, str] = {}
    for node in reversed(order):
        if id(node) in needed or node.op.name == "input":
            part[node] = "forward"
        elif _is_backward_built(node):
            part[node] = "backward"
        elif node.op.name == "constant" and all(part[u] == "backward" for u in users[node]):
            part[node] = "backward"
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


def _number(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value) + 0.0:.4g}"  # + 0.0 turns -0.0 into 0


def describe_value(value: Any) -> str:
    """Scalars and small arrays in full; larger arrays as shape + min/mean/max."""
    array = np.asarray(value)
    if array.size == 1:
        return _number(array.reshape(-1)[0])
    if array.size <= SMALL_ARRAY and array.ndim <= 2:
        rows = array if array.ndim == 2 else [array]
        text = "\n".join("[" + ", ".join(_number(v) for v in row) + "]" for row in rows)
        return f"[{text}]" if array.ndim == 2 else text
    summary = f"{array.shape}"
    if array.size and array.dtype.kind in "biuf":
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        if finite.size:
            summary += (f" min {_number(finite.min())} mean {_number(finite.mean())}"
                        f" max {_number(finite.max())}")
        if finite.size < array.size:
            summary += f" ({array.size - finite.size} not finite)"
    return summary


# ---------------------------------------------------------------- networkx

def _kind(node: Node) -> str:
    return node.op.name if node.op.name in ("input", "constant") else "op"


def _expression(node: Node, key: str, text_of: Mapping[Node, str]) -> str:
    """`t2 = y_true - t1`: the node's line of the printed graph, without its type."""
    if node.op.name == "input":
        return key
    if node.op.name == "constant":
        return text_of[node]
    arguments = [text_of[i] for i in node.inputs]
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


def to_networkx(outputs: Any, values: Mapping[Any, Any] | None = None,
                names: Mapping[Node, str] | None = None) -> Any:
    """The graph as a networkx.DiGraph; node keys are the printed graph's names (t0, x, ...).

    `outputs`: a tensor, a list of tensors or a compiled Function. Node
    attributes: op, shape, dtype, type, name, attrs, origin, output (bool),
    kind (input/constant/op), part (forward/backward), expression; with
    `values` also value, and for the loss's forward nodes gradient. Edges
    carry `positions` (argument indices at the consumer; `position` is the
    first) and, with values, `derivatives` (one local derivative or None per
    position). `names` gives intermediates readable names (e.g. the variable
    names of the script that built them) in place of t0, t1, ...
    """
    import networkx as nx

    inputs, roots = _roots(outputs, "to_networkx")
    order = toposort(roots)
    part = classify(roots)
    notes = annotate(inputs, roots, part, values) if values is not None else None
    namer = Namer(inline_literals=True)
    for leaf in list(inputs) + [n for n in order if n.op.name == "input"]:
        namer(leaf)  # inputs first, as the printer does, so t-numbers agree with it
    keys: dict[Node, str] = {}
    text_of: dict[Node, str] = {}
    for node in order:
        text_of[node] = namer(node)
        keys[node] = text_of[node] if node in namer.names else f"literal{len(keys)}"
    taken = set(keys.values())
    for node, name in (names or {}).items():  # the script's own names for intermediates
        if not (isinstance(name, str) and name.isidentifier()):
            raise GraphcError(f"to_dot names: {name!r} is not a Python identifier")
        if node in keys and node.op.name != "input" and name not in taken:
            taken.add(name)
            keys[node] = text_of[node] = name
    graph = nx.DiGraph(loss=keys[notes.loss] if notes and notes.loss is not None else None)
    for node in order:
        attributes: dict[str, Any] = dict(
            op=node.op.name, shape=tuple(str(s) if isinstance(s, shapes.Dim) else s
                                         for s in node.shape),
            dtype=str(node.dtype), type=type_string(node), name=node.name,
            attrs=format_attrs(node), origin=node.origin, output=node in roots,
            kind=_kind(node), part=part[node], commutative=node.op.commutative,
            arguments=len(node.inputs),
            expression=_expression(node, keys[node], text_of))
        if node.value is not None:
            attributes["constant"] = describe_value(node.value)
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


# ---------------------------------------------------------------- DOT

STYLE = {  # (shape, style, fill, border) per kind and part
    ("input", "forward"): ("box", "rounded,filled", "#dbeafe", "#1d4ed8"),
    ("constant", "forward"): ("box", "filled", "#f3f4f6", "#9ca3af"),
    ("constant", "backward"): ("box", "filled", "#f3f4f6", "#9ca3af"),
    ("op", "forward"): ("box", "rounded,filled", "#ffffff", "#374151"),
    ("op", "backward"): ("box", "rounded,filled", "#ffedd5", "#c2410c"),
}
GRADIENT_COLOUR = "#dc2626"


def _html_label(data: Mapping[str, Any]) -> str:
    """Name and expression in bold, type in grey, value and gradient below."""
    expression = html.escape(data["expression"])
    if data["kind"] == "constant":
        lines = [f"<b>{expression}</b>"]
        if data["shape"]:
            lines.append(f'<font point-size="10" color="#6b7280">constant {data["type"]}</font>')
            lines.append(html.escape(data["constant"]).replace("\n", "<br/>"))
    else:
        kind = "input " if data["kind"] == "input" else ""
        lines = [f"<b>{expression}</b>",
                 f'<font point-size="10" color="#6b7280">{kind}{html.escape(data["type"])}</font>']
    if "value" in data and data["kind"] != "constant":
        value = html.escape(describe_value(data["value"])).replace("\n", "<br/>")
        lines.append(f"value {value}")
    if "gradient" in data:
        gradient = html.escape(describe_value(data["gradient"])).replace("\n", "<br/>")
        lines.append(f'<font color="{GRADIENT_COLOUR}"><b>grad {gradient}</b></font>')
    return "<" + "<br/>".join(lines) + ">"


def _quoted(key: str) -> str:
    """Node ids always quoted: pydot leaves `node`, `edge` and `graph` bare, which DOT misreads."""
    return f'"{key}"'


def _dot_node(pydot: Any, key: str, data: Mapping[str, Any]) -> Any:
    shape, style, fill, border = STYLE[(data["kind"], data["part"])]
    attributes: dict[str, Any] = dict(label=_html_label(data), shape=shape, style=style,
                                      fillcolor=fill, color=border,
                                      tooltip=f'"{data["op"]} built at {data["origin"]}"')
    if data["output"]:
        attributes.update(peripheries=2, penwidth=1.6)
    if data["kind"] == "constant":
        attributes.update(fontsize=10, margin="0.05,0.02", height=0.3)
    return pydot.Node(_quoted(key), **attributes)


def _dot_edges(pydot: Any, graph: Any, source: str, target: str) -> list[Any]:
    data, consumer = graph.edges[source, target], graph.nodes[target]
    backward = consumer["part"] == "backward"
    labelled = not consumer["commutative"] and consumer["arguments"] > 1
    edges = []
    for index, position in enumerate(data["positions"]):
        attributes: dict[str, Any] = {"color": "#c2410c" if backward else "#374151"}
        if labelled:
            attributes.update(label=f'"{position}"', fontsize=9, fontcolor="#6b7280")
        edges.append(pydot.Edge(_quoted(source), _quoted(target), **attributes))
        derivative = data.get("derivatives", (None,) * (index + 1))[index]
        flow = data.get("flows", (None,) * (index + 1))[index]
        if derivative is not None and flow is not None:
            text, local = describe_value(flow), describe_value(derivative)
            edges.append(pydot.Edge(
                _quoted(source), _quoted(target), dir="back", style="dashed", color=GRADIENT_COLOUR,
                fontcolor=GRADIENT_COLOUR, fontsize=11, label=f'"{text}"',
                tooltip=f'"gradient along {source} -> {target}: {text} = grad({target}) x '
                        f'local derivative d {target} / d {source} ({local})"'))
    return edges


def _pydot_graph(graph: Any) -> Any:
    import pydot

    dot: Any = pydot.Dot("graphc", graph_type="digraph", rankdir="LR", fontname="Helvetica",
                    nodesep=0.3, ranksep=0.45)
    dot.set_node_defaults(fontname="Helvetica", fontsize=12, margin="0.12,0.06")
    dot.set_edge_defaults(fontname="Helvetica", arrowsize=0.7)
    parts = {data["part"] for _, data in graph.nodes(data=True)}
    holders: dict[str, Any] = {"forward": dot, "backward": dot}
    if "backward" in parts:
        for part, title, colour in (("forward", "forward", "#6b7280"),
                                    ("backward", "backward (built by gc.grad)", "#c2410c")):
            cluster = pydot.Cluster(part, label=f'"{title}"', color=colour, fontcolor=colour,
                                    style="rounded,dashed")
            dot.add_subgraph(cluster)
            holders[part] = cluster
    for key, data in graph.nodes(data=True):
        holders[data["part"]].add_node(_dot_node(pydot, key, data))
    for source, target in graph.edges:
        for edge in _dot_edges(pydot, graph, source, target):
            dot.add_edge(edge)
    if any("gradient" in data for _, data in graph.nodes(data=True)):
        dot.set("label", f'"value: the forward value    grad: ∂{graph.graph["loss"]}/∂node    '
                      'red dashed arrow from v back to u: the gradient flowing back, '
                      'grad(v) × ∂v/∂u\\n'
                      'chain rule: grad(u) = sum of the arrows into u"')
        dot.set("labelloc", "b")
        dot.set("fontsize", 11)
    return dot


def to_dot(outputs: Any, path: str | Path | None = None,
           values: Mapping[Any, Any] | None = None,
           names: Mapping[Node, str] | None = None) -> str:
    """DOT text (valid for Graphviz `dot`) of a tensor, a list of tensors or a compiled Function.

    A networkx graph from `to_networkx` (or `f.graph`) is accepted too. With
    `values` (input tensor or name -> array) nodes show values and gradients
    and edges local derivatives; `names` renames intermediates (see
    to_networkx). Writes the text to `path` when given.
    """
    if hasattr(outputs, "nodes") and hasattr(outputs, "edges") and not isinstance(outputs, Node):
        if values is not None:
            raise GraphcError("to_dot: values need the tensors, not an exported networkx graph")
        graph = outputs
    else:
        graph = to_networkx(outputs, values, names)
    text = _pydot_graph(graph).to_string()
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
