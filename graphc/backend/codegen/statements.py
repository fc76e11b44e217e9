"""`Generator`: the single-statement units (kernels, row helpers, view copies) on top of the rest.

Owns: `emit_kernel` (one statement per node: a `Kernel` record's template,
e.g. a BLAS call; a `Rows` helper such as log_softmax; a `Loop`), `emit_rows`,
`emit_view_copy` (a `View` some kernel needs as an array). Imports:
interpreted, text, lowering. Entry point: `Generator`, used by codegen.generate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from ...ir import Node
from ...lowering import Loop, Rows, View, assigns
from ..workspace import DOT_INTO
from .interpreted import Interpreted
from .text import kernel_of

# Statements of ops that hold a body (lowering record type -> emitter(generator, node)):
# graphc.backend.scan_codegen registers the `Loop`'s (its body and a `for` loop driver in
# the same module); imported the other way round it would be an import cycle.
NESTED: dict[type, Callable[[Any, Node], None]] = {}


class Generator(Interpreted):
    """One generation run: every emitter (see emitter, loops, interpreted).

    `buffers`: node -> the name of an array its `Kernel.into` statement writes
    the node's value into instead of allocating it; codegen.generate(into=) adds the
    names as extra parameters, in the mapping's order (a scan body's products:
    backend/scan_buffers.py); empty for a graph.
    """

    buffers: Mapping[Node, str] = MappingProxyType({})

    def emit_kernel(self, node: Node) -> None:
        lowering = node.op.lowering
        if isinstance(lowering, Loop) and lowering.steps_known and Loop in NESTED:
            NESTED[type(lowering)](self, node)
            return
        if isinstance(lowering, Rows):
            self.emit_rows(node, lowering.helper, lowering.reduces)
            return
        arguments = [self.variable(i, node) for i in node.inputs]
        values = self.attributes(node)
        into = kernel_of(node).into_text(node) if node in self.buffers else None
        if into is not None:  # the value written into a buffer its caller allocated
            self._note_helpers(into)
            name = self.name(node)
            self.writer.emit(f"{name} = {self.buffers[node]}", self.describe(node))
            self.writer.emit(into.format(*arguments, out=name, **values))
            self.learn_sizes(node, name)
            return
        template = kernel_of(node).text(node)
        self._note_helpers(template)
        name = self.name(node)
        into = kernel_of(node).into_text(node) if node in self.reusable else None
        if into == DOT_INTO:  # its workspace form: Workspace.dot, the same statement into a slot
            self.allocate(node, "dot", ", ".join(arguments), self.describe(node),
                          plain=template.format(*arguments, **values))
        elif into is not None and not assigns(template):  # its workspace form writes into the array
            self._note_helpers(into)
            self.allocate(node, "empty", f"{format(self.shape(node.shape))}, np.{node.dtype.name}",
                          self.describe(node), plain=template.format(*arguments, **values),
                          then=into.format(*arguments, out=name, **values))
        elif assigns(template):
            self.writer.emit(template.format(*arguments, out=name, **values), self.describe(node))
        else:
            self.writer.emit(f"{name} = " + template.format(*arguments, **values), self.describe(node))
        self.learn_sizes(node, name)

    def emit_rows(self, node: Node, helper: str, reduces: bool) -> None:
        """A `Rows` helper on a 2-D (rows, columns) copy of the input with `axis` last."""
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
        view = node.op.lowering
        assert isinstance(view, View)
        if view.copy is not None:
            self.emit_kernel(node)
            return
        name = self.name(node)
        index = [f"i{axis}" for axis in range(node.ndim)]
        if node.ndim == 0:  # a rank-0 value is a scalar variable: no array, no loop
            value = self.access(node.inputs[0], view.index(node, ()))
            self.writer.emit(f"{name} = {value}", self.describe(node))
            return
        self.allocate(node, "empty", f"{format(self.shape(node.shape))}, np.{node.dtype.name}",
                      self.describe(node))
        self._open_loops(node.shape)
        value = self.access(node.inputs[0], view.index(node, tuple(index)))
        self.writer.emit(f"{name}[{', '.join(index)}] = {value}")
        self.writer.depth -= node.ndim
