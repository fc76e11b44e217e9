"""`Emitter`: the state of one generation run and how it names and reads values.

Owns: node -> variable names (inputs keep the user's names, outputs may be
named by the caller, e.g. `d_W`, others take the printer's name from
printing.graph_namer, so t7 printed is t7 here), symbolic size
expressions (`size`, `shape`, `learn_sizes`, `bind_input_sizes`), the
comment of each statement (`describe`: the printer's equation), and element
access through views and broadcasts (`access`, `variable`). Imports: text.
Entry point: subclassed by loops.Loops.
"""

from __future__ import annotations

import functools
import keyword
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import dtypes, shapes
from ...errors import GraphcError
from ...ir import Node
from ...lowering import View
from ...printing import _format_value, backward_note, format_attrs, graph_namer, type_string
from ..interpreter.opcodes import uniform as _uniform
from ..library import HELPERS
from ..runtime import REDUCED_KERNELS, SCALAR_KERNELS
from ..schedule import Schedule, is_constant, kind
from ..workspace import Reusable
from . import steps
from .text import (
    RANGE_FLAG,
    RESERVED,
    ShapeText,
    Writer,
    _identifier,
    literal,
    subscript,
)

_CALL = re.compile(r"(?<![\w.])(\w+)\(")
_CALLABLE = frozenset((*HELPERS, *SCALAR_KERNELS, *REDUCED_KERNELS))


class Emitter:
    """One generation run: names, sizes, values; the emitters are in the subclasses."""

    def __init__(self, plan: Schedule, output_names: Sequence[str | None],
                 function_name: str, inline_kernels: bool = True,
                 parallel: bool = False) -> None:
        self.plan = plan
        self.function_name = function_name
        self.inline_kernels = inline_kernels
        self.parallel = parallel
        self.used_prange = False
        self.in_prange = False  # emitting the body of a prange loop
        self.range_flag = False
        self._checked: set[str] = set()  # arguments range-checked in the current loop
        self.names: dict[Node, str] = {}
        self.used: set[str] = (set(RESERVED) | set(SCALAR_KERNELS) | set(REDUCED_KERNELS)
                                | set(HELPERS) | {function_name, RANGE_FLAG}
                                | {"interpret_f64", "interpret_f32"})
        self.sizes: dict[str, str] = {}  # Dim factor -> expression
        self.constants: list[Node] = []
        self.helpers: set[str] = set()
        self.writer = Writer()
        self.locals: dict[Node, str] = {}  # values living in the current loop body
        self.programs: list[str] = []  # module-level lines: the interpreted groups' programs
        self.program_count = 0
        self.instructions = 0
        # Kernel mode (codegen/outline.py): static sizes inside a fused kernel are names
        # (`size_32`), so one kernel serves every width; the caller passes the numbers.
        self.symbolic_sizes = False
        self.size_prefix = "size_"
        # Kernel mode: nodes whose new array may come from the per-thread workspace
        # (workspace.plan); their allocations are emitted as workspace.Reusable statements.
        self.reusable: frozenset[Node] = frozenset()
        # The printer's names (printing.graph_namer): t7 in `graphc show` is t7 here.
        # A scope is a comment here (`[scope layer1]`), not part of the variable name.
        self.planned = {node: text.rsplit("/", 1)[-1] for node, text
                        in graph_namer(plan.outputs, plan.inputs).names.items()}
        self._planned_names = set(self.planned.values())
        for node in plan.inputs:
            self._claim(node, str(node.name))
        for node, wanted in zip(plan.outputs, output_names):
            if wanted and node not in self.names and kind(node) != "leaf":
                self._claim(node, wanted)
        self._counter = 0

    def _unique(self, wanted: str) -> str:
        base = _identifier(wanted)
        if keyword.iskeyword(base):
            base += "_"
        name, suffix = base, 1
        while name in self.used:
            name, suffix = f"{base}_{suffix}", suffix + 1
        self.used.add(name)
        return name

    def _claim(self, node: Node, wanted: str) -> str:
        self.names[node] = self._unique(wanted)
        return self.names[node]

    def name(self, node: Node) -> str:
        """The node's variable: the printer's name, else (a node the schedule made) a fresh one."""
        if node not in self.names:
            if is_constant(node):
                self.constants.append(node)
            planned = self.planned.get(node)
            if planned is not None and planned not in self.used:
                self._claim(node, planned)
            elif node.name and node.name not in self.used:
                self._claim(node, node.name)
            else:
                self._claim(node, self._fresh("c" if is_constant(node) else "t"))
        return self.names[node]

    def _fresh(self, prefix: str) -> str:
        """`t<N>` that neither the source nor the printed graph uses for another node."""
        while (f"{prefix}{self._counter}" in self.used
               or f"{prefix}{self._counter}" in self._planned_names):
            self._counter += 1
        return f"{prefix}{self._counter}"

    def describe(self, node: Node) -> str:
        """The printer's equation for the node: `t1: f64[n,2] = sigmoid t0`.

        Inside a shared kernel (symbolic sizes) the comment must not name a
        graph's sizes or scopes: shapes are the size names, `shape=` attributes too.
        """
        args = [self.text_of(i) for i in node.inputs]
        if node.op.infix and len(args) == 2:
            expression = f"{args[0]} {node.op.infix} {args[1]}"
        else:
            expression = " ".join([node.op.label + self._attributes_text(node)] + args)
        if self.symbolic_sizes:
            kind_of = type_string(node).split("[", 1)[0]
            return f"{self.name(node)}: {kind_of}[{','.join(self.shape(node.shape))}] = {expression}"
        scope = f"  [scope {node.scope}]" if node.scope else ""  # gc.scope, as in pictures
        # Not inside a shared kernel: its text must not depend on the user's file and line.
        note = backward_note(node)
        note = f"   ({note})" if note else ""
        return f"{self.name(node)}: {type_string(node)} = {expression}{scope}{note}"

    def _attributes_text(self, node: Node) -> str:
        """`[axis=(0,1)]`; in a shared kernel a `shape=` by its size names, not the graph's."""
        attributes = format_attrs(node)
        if self.symbolic_sizes and isinstance(node.attr.get("shape"), tuple):
            sizes = self.shape(node.attr["shape"])
            attributes = attributes.replace(
                "shape=" + _format_value(node.attr["shape"]),
                "shape=(" + ",".join(sizes) + ("," if len(sizes) == 1 else "") + ")")
        return attributes

    def text_of(self, node: Node) -> str:
        """How a statement's comment names an argument: a name the source defines.

        A view read through its index map (never stored) is shown as what it
        is, `(t9 = expand_dims[axis=(0,1)] t8)`, since no statement defines t9.
        """
        if (kind(node) == "view" and node not in self.plan.materialized
                and node not in self.locals and not is_constant(node)):
            inner = " ".join([node.op.label + self._attributes_text(node)]
                             + [self.text_of(i) for i in node.inputs])
            return f"({self.name(node)} = {inner})"
        if is_constant(node) and node.value is not None and node.value.ndim == 0:
            return repr(node.value.item())
        if is_constant(node) and _uniform(node.value):
            assert node.value is not None
            return repr(node.value.flat[0].item())  # broadcast like a scalar in the equation
        return self.name(node)

    def size(self, size: shapes.Size) -> str:
        if isinstance(size, int):
            return f"{self.size_prefix}{size}" if self.symbolic_sizes and size > 1 else str(size)
        factors = []
        for factor in size.factors:
            if factor not in self.sizes and factor in shapes.SLICES:
                length = shapes.SLICES[factor]
                self.sizes[factor] = "(" + length.source(self.size(length.base)) + ")"
            if factor not in self.sizes:
                raise GraphcError(f"size {size} is not determined by the inputs' shapes; "
                                  "the numba backend cannot allocate it")
            factors.append(self.sizes[factor])
        if size.coefficient != 1:
            factors.insert(0, str(size.coefficient))
        return " * ".join(factors)

    def shape(self, shape: shapes.Shape) -> ShapeText:
        return ShapeText(self.size(s) for s in shape)

    def learn_sizes(self, node: Node, variable: str) -> None:
        """Sizes first seen on this array (e.g. after a slice) are read from it at run time."""
        for axis, size in enumerate(node.shape):
            if isinstance(size, shapes.Dim) and len(size.factors) == 1 and size.coefficient == 1:
                self.sizes.setdefault(size.factors[0], f"{variable}.shape[{axis}]")

    def bind_input_sizes(self) -> None:
        for node in self.plan.inputs:
            for axis, size in enumerate(node.shape):
                if not isinstance(size, shapes.Dim) or size.factors[0] in self.sizes:
                    continue
                factor = size.factors[0]
                wanted = factor if not size.is_anonymous else f"{self.names[node]}_size{axis}"
                variable = self._unique(wanted)
                self.sizes[factor] = variable
                self.writer.emit(f"{variable} = {self.names[node]}.shape[{axis}]",
                                 f"size {size} of input {node.name}")
                self.writer.lines[-1] = steps.opaque(self.writer.lines[-1], [variable],
                                                     [self.names[node]])

    def attributes(self, node: Node) -> dict[str, Any]:
        formatted: dict[str, Any] = {}
        for key, value in node.attrs:
            formatted[key] = self._attribute(value)
        formatted.update(_dtype_placeholders(node.dtype), out_shape=self.shape(node.shape))
        for index, source in enumerate(node.inputs):
            formatted[f"shape{index}"] = self.shape(source.shape)
        return formatted

    def _attribute(self, value: Any) -> str:
        if isinstance(value, shapes.Dim):
            return self.size(value)
        if isinstance(value, tuple):
            items = [self._attribute(v) for v in value]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        return str(value)

    def constant_literal(self, node: Node, context: Node | None) -> str:
        """A rank-0 constant inline, typed like NumPy would use it in `context` (NEP 50)."""
        assert node.value is not None
        dtype = node.dtype
        if node.weak and context is not None:
            strong = [(i.dtype, False) for i in context.inputs if not i.weak]
            if strong:
                try:
                    dtype = dtypes.promote(strong + [(node.dtype, True)])
                except GraphcError:
                    dtype = node.dtype
        return literal(node.value.item(), dtype)

    def variable(self, node: Node, context: Node | None = None) -> str:
        """The variable (or literal) holding a whole materialized value."""
        if is_constant(node) and node.value is not None and node.value.ndim == 0:
            return self.constant_literal(node, context)
        if node in self.locals:
            return self.locals[node]
        return self.name(node)

    def access(self, node: Node, index: Sequence[str], context: Node | None = None) -> str:
        """One element of `node` at `index` (an expression per axis of node)."""
        if node in self.locals:
            return self.locals[node]
        if is_constant(node) and node.value is not None and node.value.ndim == 0:
            return self.constant_literal(node, context)
        if is_constant(node) and _uniform(node.value):
            assert node.value is not None  # an array of one repeated value: a literal in loops
            return literal(node.value.flat[0], node.dtype)
        if kind(node) == "view" and node not in self.plan.materialized:
            view = node.op.lowering
            assert isinstance(view, View)
            return self.access(node.inputs[0], view.index(node, tuple(index)), context)
        name = self.variable(node, context)
        return name if node.ndim == 0 else subscript(name, index)

    def allocate(self, node: Node, call: str, arguments: str, comment: str = "",
                 plain: str | None = None, then: str | None = None,
                 form: tuple[tuple[steps.Piece, ...], tuple[steps.Operand, ...]] | None = None,
                 fill: str | None = None) -> None:
        """`name = call(arguments)` (`empty`, `full` with `fill`): the node's new array, as a
        workspace.Reusable statement when the workspace plan has the node. A product
        passes its own statement as `plain` (`blas_dot(a, b)`) and its `form`
        (codegen/steps.py) and, as `then`, its record's `Kernel.into` statement that fills
        the array in the workspace form."""
        name = self.name(node)
        pad = "    " * self.writer.depth
        facts: dict[str, Any] = {}
        if plain is None:
            self.helpers.add(call)
            plain = f"{call}({arguments})"
            static = all(isinstance(d, int) for d in node.shape)
            form = (steps.pieces(plain), ()) if static else None
            shape = tuple(d for d in node.shape if isinstance(d, int))
            facts = {"allocates": True, "helpers": (call,), "allocation": steps.Allocation(
                shape, f"np.{node.dtype.name}", fill) if static and node.shape else None}
        elif form is not None:
            facts = {"helpers": self._helpers_in(plain), "math": "math." in plain}
        line = (steps.statement(pad, [name], *form, comment, **facts) if form is not None
                else steps.opaque(f"{pad}{name} = {plain}" + (f"  # {comment}" if comment else ""),
                                  [name], [], allocates=bool(facts)))
        if node not in self.reusable:
            self.writer.lines.append(line)
            return
        reusable = Reusable(str(line), name, call, arguments, then)
        reusable.step = line.step
        self.writer.lines.append(reusable)

    def _helpers_in(self, template: str) -> tuple[str, ...]:
        """The jitted helpers a template calls (`empty(`, not `np.empty(`)."""
        return tuple(sorted({h for h in _CALL.findall(template) if h in _CALLABLE}))

    def _note_helpers(self, template: str) -> None:
        for helper in _CALL.findall(template):  # `empty(`, not `np.empty(`
            if helper in _CALLABLE:
                self.helpers.add(helper)

    def _is_literal(self, node: Node) -> bool:
        return is_constant(node) and node.value is not None and node.value.ndim == 0


@functools.lru_cache(maxsize=64)
def _dtype_placeholders(dtype: np.dtype) -> dict[str, str]:
    """{suffix}, {zero}, {one} and {out_dtype} of a dtype: the same for every node of it
    (made once per dtype: ~650 nodes of a 64-layer MLP asked NumPy for its name each)."""
    return {"suffix": dtypes.short_name(dtype) if dtype.kind == "f" else "f64",
            "zero": literal(0, dtype), "one": literal(1, dtype), "out_dtype": "np." + dtype.name}
