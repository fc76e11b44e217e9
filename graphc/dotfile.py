"""DOT text for Graphviz, written here: quoting, HTML-like labels, nested clusters (layer L3).

Owns how a picture's graph (the networkx.DiGraph of graphc.viz.to_networkx)
becomes DOT text: node and edge styles, labels, and clusters -- one per part
(forward, backward built by gc.grad, update built by an optimizer) and,
inside a part, one per `gc.scope`. graphc writes DOT itself rather than
through a library so that `pip install graphc` alone can draw: every ID and
string is double-quoted with `\\` and `"` escaped and newlines as `\\n`, and
HTML-like labels go between `<` and `>` with their text escaped
(html.escape), which is all the DOT grammar asks of a writer.
Imports: numpy and the standard library only. Entry point: `write`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

SMALL_ARRAY = 6  # values with at most this many entries are shown in full
STYLE = {  # (shape, style, fill, border) per kind and part
    ("input", "forward"): ("box", "rounded,filled", "#dbeafe", "#1d4ed8"),
    ("input", "update"): ("box", "rounded,filled", "#dbeafe", "#1d4ed8"),
    ("constant", "forward"): ("box", "filled", "#f3f4f6", "#9ca3af"),
    ("constant", "backward"): ("box", "filled", "#f3f4f6", "#9ca3af"),
    ("constant", "update"): ("box", "filled", "#f3f4f6", "#9ca3af"),
    ("op", "forward"): ("box", "rounded,filled", "#ffffff", "#374151"),
    ("op", "backward"): ("box", "rounded,filled", "#ffedd5", "#c2410c"),
    ("op", "update"): ("box", "rounded,filled", "#dcfce7", "#15803d"),
}
PARTS = {  # part -> (cluster title, colour), in drawing order
    "forward": ("forward", "#6b7280"),
    "backward": ("backward (built by gc.grad)", "#c2410c"),
    "update": ("update (optimizer: new parameters and state)", "#15803d"),
}
GRADIENT_COLOUR = "#dc2626"
KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}  # never bare: DOT misreads them
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Html(str):
    """An HTML-like label: written between < and >, not quoted (its text escaped already)."""


def quote(value: Any) -> str:
    """A DOT value: HTML-like labels as <...>, numbers bare, everything else a quoted string."""
    if isinstance(value, Html):
        return f"<{value}>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    text = str(value)
    if _BARE.fullmatch(text) and text.lower() not in KEYWORDS:
        return text  # a plain identifier needs no quotes: rankdir=LR, dir=back
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def attributes(values: Mapping[str, Any]) -> str:
    return "[" + ", ".join(f"{key}={quote(value)}" for key, value in values.items()) + "]"


# ---------------------------------------------------------------- numbers

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


# ---------------------------------------------------------------- nodes and edges

def _html_label(data: Mapping[str, Any]) -> Html:
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
    return Html("<br/>".join(lines))


def _node(key: str, data: Mapping[str, Any]) -> str:
    shape, style, fill, border = STYLE[(data["kind"], data["part"])]
    values: dict[str, Any] = dict(label=_html_label(data), shape=shape, style=style,
                                  fillcolor=fill, color=border,
                                  tooltip=f'{data["op"]} built at {data["origin"]}')
    if data["output"]:
        values.update(peripheries=2, penwidth=1.6)
    if data["kind"] == "constant":
        values.update(fontsize=10, margin="0.05,0.02", height=0.3)
    return f"{quote(key)} {attributes(values)};"


def _edges(graph: Any, source: str, target: str) -> list[str]:
    data, consumer = graph.edges[source, target], graph.nodes[target]
    labelled = not consumer["commutative"] and consumer["arguments"] > 1
    colour = PARTS[consumer["part"]][1] if consumer["part"] != "forward" else "#374151"
    lines = []
    for index, position in enumerate(data["positions"]):
        values: dict[str, Any] = {"color": colour}
        if labelled:
            values.update(label=str(position), fontsize=9, fontcolor="#6b7280")
        lines.append(f"{quote(source)} -> {quote(target)} {attributes(values)};")
        derivative = data.get("derivatives", (None,) * (index + 1))[index]
        flow = data.get("flows", (None,) * (index + 1))[index]
        if derivative is not None and flow is not None:
            text, local = describe_value(flow), describe_value(derivative)
            lines.append(f"{quote(source)} -> {quote(target)} " + attributes(dict(
                dir="back", style="dashed", color=GRADIENT_COLOUR, fontcolor=GRADIENT_COLOUR,
                fontsize=11, label=text,
                tooltip=f"gradient along {source} -> {target}: {text} = grad({target}) x "
                        f"local derivative d {target} / d {source} ({local})")) + ";")
    return lines


# ---------------------------------------------------------------- clusters

class _Cluster:
    """A part or a scope: its own nodes and nested scopes, written as `subgraph cluster_*`."""

    def __init__(self, title: str, colour: str, style: str) -> None:
        self.title, self.colour, self.style = title, colour, style
        self.lines: list[str] = []
        self.children: dict[str, _Cluster] = {}

    def child(self, scope: str) -> _Cluster:
        holder = self
        for part in scope.split("/") if scope else ():
            if part not in holder.children:
                holder.children[part] = _Cluster(part, "#7c3aed", "rounded")
            holder = holder.children[part]
        return holder

    def write(self, out: list[str], ident: str, indent: str) -> None:
        out.append(f"{indent}subgraph {quote('cluster_' + ident)} {{")
        inner = indent + "  "
        out.append(f"{inner}label={quote(self.title)}; color={quote(self.colour)}; "
                   f"fontcolor={quote(self.colour)}; style={quote(self.style)};")
        self.contents(out, ident, inner)
        out.append(indent + "}")

    def contents(self, out: list[str], ident: str, indent: str) -> None:
        out.extend(indent + line for line in self.lines)
        for number, (_, child) in enumerate(self.children.items()):
            child.write(out, f"{ident}_{number}", indent)


def _body_cluster(owner: str, body: Mapping[str, Any]) -> list[str]:
    """A loop body (graphc.control) as its own cluster, tied to the loop node by a dotted edge."""
    ident = quote("cluster_" + body["title"].split(":")[0])
    lines = [f"  subgraph {ident} {{",
             f"    label={quote(body['title'])}; color=\"#7c3aed\"; style=\"rounded,dashed\";"]
    lines += [f"    {quote(key)} {attributes(dict(label=label, shape='box', style='rounded'))};"
              for key, label in body["nodes"]]
    lines.append("  }")
    lines += [f"  {quote(a)} -> {quote(b)};" for a, b in body["edges"]]
    lines += [f"  {quote(o)} -> {quote(owner)} {attributes(dict(style='dotted', color='#7c3aed'))};"
              for o in body["outputs"][:1]]
    return lines


def write(graph: Any) -> str:
    """The DOT text of a picture graph: parts and scopes as clusters, edges after them."""
    out = ['digraph "graphc" {',
           "  graph " + attributes(dict(rankdir="LR", fontname="Helvetica", nodesep=0.3,
                                         ranksep=0.45)) + ";",
           "  node " + attributes(dict(fontname="Helvetica", fontsize=12,
                                        margin="0.12,0.06")) + ";",
           "  edge " + attributes(dict(fontname="Helvetica", arrowsize=0.7)) + ";"]
    present = {data["part"] for _, data in graph.nodes(data=True)}
    top = _Cluster("", "", "")
    parts = {part: (_Cluster(title, colour, "rounded,dashed") if len(present) > 1 else top)
             for part, (title, colour) in PARTS.items()}
    for key, data in graph.nodes(data=True):
        parts[data["part"]].child(data.get("scope", "")).lines.append(_node(key, data))
    top.contents(out, "scope", "  ")
    for part in PARTS:
        if len(present) > 1 and part in present:
            parts[part].write(out, part, "  ")
    for source, target in graph.edges:
        out.extend("  " + line for line in _edges(graph, source, target))
    for key, data in graph.nodes(data=True):
        for body in data.get("bodies", ()):
            out.extend(_body_cluster(key, body))
    if any("gradient" in data for _, data in graph.nodes(data=True)):
        legend = (f"value: the forward value    grad: ∂{graph.graph['loss']}/∂node    "
                  "red dashed arrow from v back to u: the gradient flowing back, "
                  "grad(v) × ∂v/∂u\nchain rule: grad(u) = sum of the red arrows into u")
        out.append("  " + f"label={quote(legend)}; labelloc=\"b\"; fontsize=11;")
    out.append("}")
    return "\n".join(out) + "\n"
