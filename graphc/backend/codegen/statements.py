"""`Generator`: the single-statement units (kernels, row helpers, view copies) on top of the rest.

Owns: `emit_kernel` (one templated statement, e.g. a BLAS call), `emit_rows`
(row-wise helpers such as log_softmax), `emit_view_copy` (a view some kernel
needs as an array). Imports: interpreted, text. Entry point: `Generator`,
used by codegen.generate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...ir import Node
from .interpreted import Interpreted
from .text import template_of

# Statements of ops that hold a body (op name -> emitter(generator, node)): graphc.backend.scan_codegen
# registers the scan's (its body and a `for` loop driver in the same module).
NESTED: dict[str, Callable[[Any, Node], None]] = {}


class Generator(Interpreted):
    """One generation run: every emitter (see emitter, loops, interpreted)."""

    def emit_kernel(self, node: Node) -> None:
        if node.op.name in NESTED:
            NESTED[node.op.name](self, node)
            return
        if node.op.rows is not None:
            self.emit_rows(node)
            return
        template = template_of(node)
        arguments = [self.variable(i, node) for i in node.inputs]
        values = self.attributes(node)
        self._note_helpers(template)
        name = self.name(node)
        if "{out}" in template:
            statement = template.format(*arguments, out=name, **values)
        else:
            statement = f"{name} = " + template.format(*arguments, **values)
        self.writer.emit(statement, self.describe(node))
        self.learn_sizes(node, name)

    def emit_rows(self, node: Node) -> None:
        assert node.op.rows is not None
        helper, reduces = node.op.rows
        self.helpers.update((helper, "to_rows"))
        source = node.inputs[0]
        if source.ndim == 0:  # logsumexp of a scalar: a table of one row and one column
            self.writer.emit(f"{self.name(node)} = {helper}(np.full((1, 1), "
                             f"{self.variable(source, node)}, np.{node.dtype.name}))[0, 0]",
                             self.describe(node))
            return
        axis = tuple(node.attr["axis"])
        kept = tuple(a for a in range(source.ndim) if a not in axis)
        order = kept + axis
        rows = " * ".join(self.size(source.shape[a]) for a in kept) or "1"
        columns = " * ".join(self.size(source.shape[a]) for a in axis) or "1"
        argument = self.variable(source, node)
        if source.dtype != node.dtype:
            argument = f"{argument}.astype(np.{node.dtype.name})"
        order_text = "(" + ", ".join(map(str, order)) + ("," if len(order) == 1 else "") + ")"
        call = f"{helper}(to_rows({argument}, {order_text}, {rows}, {columns}))"
        name = self.name(node)
        if reduces:
            statement = f"{call}[0, 0]" if node.ndim == 0 else \
                f"{call}.reshape({format(self.shape(node.shape))})"
        elif order == tuple(range(source.ndim)):
            statement = f"{call}.reshape({format(self.shape(node.shape))})"
        else:
            permuted = format(self.shape(tuple(source.shape[a] for a in order)))
            inverse = tuple(int(i) for i in np.argsort(order))
            statement = f"np.transpose({call}.reshape({permuted}), {inverse})"
        self.writer.emit(f"{name} = {statement}", self.describe(node))

    def emit_view_copy(self, node: Node) -> None:
        """A view some kernel needs as an array: its own template, or a copy loop."""
        if node.op.kernel is not None:
            self.emit_kernel(node)
            return
        name = self.name(node)
        index = [f"i{axis}" for axis in range(node.ndim)]
        assert node.op.index is not None
        if node.ndim == 0:  # a rank-0 value is a scalar variable: no array, no loop
            value = self.access(node.inputs[0], node.op.index(node, ()))
            self.writer.emit(f"{name} = {value}", self.describe(node))
            return
        self.helpers.add("empty")
        self.writer.emit(f"{name} = empty({format(self.shape(node.shape))}, "
                         f"np.{node.dtype.name})", self.describe(node))
        self._open_loops(node.shape)
        value = self.access(node.inputs[0], node.op.index(node, tuple(index)))
        self.writer.emit(f"{name}[{', '.join(index)}] = {value}")
        self.writer.depth -= node.ndim
