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
from ..schedule import kind
from . import steps
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
        record = kernel_of(node)
        into = record.into_text(node) if node in self.reusable else None
        form = None if assigns(template) or "\n" in template else \
            self._form(node, template, arguments, values)
        if into is not None and record.into_product_for(node):  # workspace form: Workspace.dot
            self.allocate(node, "dot", ", ".join(arguments), self.describe(node),
                          plain=template.format(*arguments, **values), form=form)
        elif into is not None and not assigns(template):  # its workspace form writes into the array
            self._note_helpers(into)
            self.allocate(node, "empty", f"{format(self.shape(node.shape))}, np.{node.dtype.name}",
                          self.describe(node), plain=template.format(*arguments, **values),
                          then=into.format(*arguments, out=name, **values), form=form)
        elif assigns(template):  # several lines writing {out}: re-rolling leaves them in Python
            reads = [a for a, i in zip(arguments, node.inputs) if not self._is_literal(i)]
            start = len(self.writer.lines)
            self.writer.emit(template.format(*arguments, out=name, **values), self.describe(node))
            for index in range(start, len(self.writer.lines)):
                first = index == start
                self.writer.lines[index] = steps.opaque(
                    self.writer.lines[index], [name] if first else [], reads if first else [*reads, name],
                    allocates=first)
        elif form is not None:
            self.writer.lines.append(steps.statement("    " * self.writer.depth, [name], *form,
                                                     self.describe(node), **self._facts(node, template)))
        else:  # a size that is not a number: never moved into a loop (its reads recorded)
            start = len(self.writer.lines)
            self.writer.emit(f"{name} = " + template.format(*arguments, **values), self.describe(node))
            reads = [a for a, i in zip(arguments, node.inputs) if not self._is_literal(i)]
            for index in range(start, len(self.writer.lines)):
                self.writer.lines[index] = steps.opaque(self.writer.lines[index],
                                                        [name] if index == start else [], reads)
        self.learn_sizes(node, name)

    def _form(self, node: Node, template: str, arguments: list[str],
              values: dict[str, Any]) -> tuple[tuple[steps.Piece, ...], tuple[steps.Operand, ...]] | None:
        """The statement's pieces and operands (codegen/steps.py), or None where re-rolling must
        not move it: a size that is not a number (its name would be a free variable of the loop)."""
        if not all(isinstance(d, int) for n in (node, *node.inputs) for d in n.shape):
            return None
        names = [not self._is_literal(i) for i in node.inputs]
        entries = kernel_of(node).entries
        if entries is None:
            return steps.marked(template, arguments, names, values)
        form: list[steps.Piece] = [0, "["] if names[0] else [arguments[0], "["]
        operands: list[steps.Operand] = [arguments[0]] if names[0] else []
        for index, entry in enumerate(entries(node)):
            form.append(", " if index else "")
            if isinstance(entry, int):
                form.append(len(operands))
                operands.append(entry)
            else:
                form.append(entry)
        form.append("]")
        return tuple(p for p in form if p != ""), tuple(operands)

    def _facts(self, node: Node, template: str) -> dict[str, Any]:
        """What a Step says besides its code: a view, the helpers it calls."""
        return {"view": kernel_of(node).entries is not None,
                "helpers": self._helpers_in(template),
                "math": "math." in template}

    def emit_rows(self, node: Node, helper: str, reduces: bool) -> None:
        """A `Rows` helper on a 2-D (rows, columns) copy of the input with `axis` last."""
        self.helpers.update((helper, "to_rows"))
        source = node.inputs[0]
        if source.ndim == 0:  # logsumexp of a scalar: a table of one row and one column
            self.writer.emit(f"{self.name(node)} = {helper}(np.full((1, 1), "
                             f"{self.variable(source, node)}, np.{node.dtype.name}))[0, 0]",
                             self.describe(node))
            self.writer.lines[-1] = steps.opaque(self.writer.lines[-1], [self.name(node)],
                                                 [] if self._is_literal(source) else [self.variable(source)])
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
        call = f"{helper}(to_rows({steps.slot(0)}, {order_text}, {rows}, {columns}))"
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
        form = steps.pieces(statement)
        if all(isinstance(d, int) for d in source.shape):
            self.writer.lines.append(steps.statement(
                "    " * self.writer.depth, [name], form, [argument], self.describe(node),
                helpers=(helper, "to_rows")))
        else:
            self.writer.emit(f"{name} = " + steps.Step((), form, (argument,)).code(),
                             self.describe(node))
            self.writer.lines[-1] = steps.opaque(self.writer.lines[-1], [name],
                                                 [self.variable(source, node)])

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
            base = node.inputs[0]
            while kind(base) == "view" and base not in self.plan.materialized and base.inputs:
                base = base.inputs[0]  # read through views, as `access` does
            reads = [] if self._is_literal(base) or base in self.locals else [self.variable(base)]
            self.writer.lines[-1] = steps.opaque(self.writer.lines[-1], [name], reads)
            return
        self.allocate(node, "empty", f"{format(self.shape(node.shape))}, np.{node.dtype.name}",
                      self.describe(node))
        self._open_loops(node.shape)
        value = self.access(node.inputs[0], view.index(node, tuple(index)))
        self.writer.emit(f"{name}[{', '.join(index)}] = {value}")
        self.writer.depth -= node.ndim
