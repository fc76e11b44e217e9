"""The text form of a graph: one equation per line, types after a colon.

    x: f64[n,3]  W: f64[3,2]
    t0: f64[n,2] = matmul x W
    t1: f64[n,2] = sigmoid t0
    t2: f64[] = sum[axis=(0,1)] t1
    -> t2

Nodes built inside `gc.scope("layer1")` print as `layer1/t0`.

This is the form used by `print(tensor)`, docs, error messages and golden
tests. Imports: ir and layer L0 (layer L3).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import dtypes, shapes
from .ir import Node, set_formatter, toposort
from .ops.shape import index_source
from .subgraph import subgraphs_of


def type_string(node: Node) -> str:
    """`f64[n,2]`: the dtype's short name and the shape."""
    return dtypes.short_name(node.dtype) + shapes.format_shape(node.shape)


def format_number(value: Any, dtype: Any) -> str:
    """The shortest text that reads back as the same number in `dtype`.

    float32 0.003 is `0.003`, not the float64 expansion of the nearest float32
    (0.003000000026077032); float64 keeps every digit it needs.
    """
    return str(np.asarray(value).astype(np.dtype(dtype))[()])


def _literal(node: Node, consumer: Node | None = None) -> str | None:
    """Rank-0 constants print inline, as the number they are.

    A weak constant (a Python number) takes its consumer's dtype (NEP 50), so
    it is written in that dtype: `1 - 0.999` times a float32 tensor is 0.001.
    """
    if node.value is None or node.value.ndim != 0:
        return None
    if node.weak:
        dtype = node.dtype
        if consumer is not None and node.dtype.kind == "f" and consumer.dtype.kind == "f":
            dtype = consumer.dtype
        return format_number(node.value, dtype)
    return f"{format_number(node.value, node.dtype)}:{dtypes.short_name(node.dtype)}"


def _format_value(value: Any) -> str:
    if isinstance(value, tuple):
        inner = ",".join(_format_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return str(value)


def format_attrs(node: Node) -> str:
    if node.op.name in ("getitem", "scatter"):
        index = index_source(node.attr["index"], separator=",")
        rest = [f"shape={_format_value(v)}" for k, v in node.attrs if k == "shape"]
        return index + ("[" + " ".join(rest) + "]" if rest else "")
    items = [f"{k}={_format_value(v)}" for k, v in node.attrs if not (k == "keepdims" and not v)]
    return "[" + " ".join(items) + "]" if items else ""


class Namer:
    """Stable names for nodes: inputs by their names, others t0, t1, ... in order.

    A node built inside `gc.scope("layer1")` is named `layer1/t0` (when
    `scoped`): the printed graph and the pictures show where it came from.
    """

    def __init__(self, inline_literals: bool = True, reserved: Iterable[str] = (),
                 scoped: bool = True) -> None:
        self.inline_literals = inline_literals
        self.scoped = scoped
        self.names: dict[Node, str] = {}
        self._used: set[str] = set()
        # User names in the graph: a generated t3 must not read like the user's t3.
        self._reserved = set(reserved)
        self._counter = 0

    def __call__(self, node: Node, consumer: Node | None = None) -> str:
        if node in self.names:
            return self.names[node]
        literal = _literal(node, consumer) if self.inline_literals else None
        if literal is not None:
            return literal
        if node.name and node.name not in self._used:
            name = node.name
        else:
            prefix = "c" if node.op.name == "constant" else "t"
            name = f"{prefix}{self._counter}"
            self._counter += 1
            while name in self._used or name in self._reserved:
                name = f"{prefix}{self._counter}"
                self._counter += 1
            if self.scoped and node.scope:
                name = f"{node.scope}/{name}"
        self._used.add(name)
        self.names[node] = name
        return name


def graph_namer(outputs: Sequence[Node], inputs: Sequence[Node] = ()) -> Namer:
    """The one naming of a graph: the printer's and the code generator's.

    Inputs first (`inputs`, then any other leaf), then every other node in
    topological order; rank-0 constants stay literals (no name). `graphc
    show`, `format_graph` and `f.source` (backend/codegen) all take their
    names from here, so `t7` in the printed graph is `t7` in the source.
    """
    order = toposort(list(outputs))
    namer = Namer(reserved={n.name for n in order if n.name})
    given = set(inputs)
    for node in list(inputs) + [n for n in order if n.op.name == "input" and n not in given]:
        namer(node)
    for node in order:
        namer(node)
    return namer


def backward_note(node: Node) -> str:
    """`backward of sigmoid, model.py:10` for a node autodiff built, else "".

    Autodiff builds a rule's nodes under `errors.origin("backward of OP at
    FILE:LINE")`, so the origin says which forward node it differentiates.
    """
    text = node.origin
    if not text.startswith("backward of ") or " at " not in text:
        return ""
    what, where = text.removeprefix("backward of ").split(" at ", 1)
    if where.startswith("backward of ") or where.startswith("gradient of "):
        return f"backward of {what}"  # a derivative of a derivative: the op is what we know
    return f"backward of {what}, {os.path.basename(where)}"


def format_graph(outputs: Iterable[Node], inputs: Sequence[Node] = ()) -> str:
    """The program that computes `outputs`, one equation per line."""
    outputs = list(outputs)
    order = toposort(outputs)
    name = graph_namer(outputs, inputs)
    leaves = [n for n in order if n.op.name == "input"]
    declared = list(inputs) + [n for n in leaves if n not in inputs]
    lines: list[str] = []
    shown: set[int] = set()  # bodies already listed (a loop's output nodes share one)
    if declared:
        lines.append("  ".join(f"{name(n)}: {type_string(n)}" for n in declared))
    for node in order:
        if node.op.name == "input":
            continue
        if node.op.name == "constant":
            if _literal(node) is None:
                lines.append(f"{name(node)}: {type_string(node)} = constant "
                             + np.array2string(np.asarray(node.value), threshold=6, separator=",")
                             .replace("\n", ""))
            continue
        args = [name(i, node) for i in node.inputs]
        if node.op.infix and len(args) == 2:
            expression = f"{args[0]} {node.op.infix} {args[1]}"
        else:
            expression = " ".join([node.op.label + format_attrs(node)] + args)
        lines.append(f"{name(node)}: {type_string(node)} = {expression}")
        lines.extend(_bodies(node, shown))
    lines.append("-> " + ", ".join(name(o) for o in outputs))
    return "\n".join(lines)


def _bodies(node: Node, shown: set[int]) -> list[str]:
    """A loop's body, listed once under the first node that holds it, indented."""
    lines = []
    for body in subgraphs_of(node):
        if body.number in shown:
            continue
        shown.add(body.number)
        lines.append(f"  {body!r}: {body.carries} carries, {body.xs} per-step inputs, "
                     f"{body.consts} loop-invariant inputs {{")
        text = format_graph(body.outputs, body.inputs)
        lines.extend("    " + line for line in text.splitlines())
        lines.append("  }")
    return lines


def format_node(node: Node) -> str:
    return format_graph([node])


set_formatter(format_node)
