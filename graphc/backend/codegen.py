"""Code generation: a schedule -> the source of ONE Python function for Numba.

Owns naming (inputs keep the user's names, outputs may be named by the caller,
e.g. `d_W`; others are t0, t1, ... in topological order), loop nests for
fusion groups, accumulators for fused reductions, broadcast and view index
arithmetic, and one statement per kernel. Every statement is followed by a
comment with the graph equation it computes (the printer's text form), so
`f.source` reads like the graph. Output is deterministic.

How an op is lowered is read from its declaration (graphc/ops): `scalar`
templates, `reduction` accumulators, `index` maps of views, `rows` helpers,
`kernel` templates. Placeholders: `{0}`, `{1}` (inputs), attribute names,
`{suffix}` (f64/f32), `{zero}`/`{one}` (typed literals of the output dtype),
`{out_dtype}`, `{out_shape}`, `{shape0}`.. (sizes of input 0..), `{count}`
(reduced element count), `{acc}` (accumulator), `{out}` (result variable of
a multi-statement kernel). See docs/codegen.md. Imports: ir, shapes, dtypes,
printing, schedule (layer L4); entry point `generate(schedule, ...)`.
"""

from __future__ import annotations

import ast
import keyword
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import dtypes, shapes
from ..errors import GraphcError
from ..ir import Node
from ..printing import format_attrs, type_string
from . import blocks
from .blocks import uniform as _uniform
from .kernels import KERNEL_NAMES, REDUCED_RANGE
from .library import HELPERS
from .schedule import Group, Schedule, kind

RESERVED = {"np", "math", "range", "prange", "len", "max", "min", "abs", "float", "int", "bool",
            *(f"i{axis}" for axis in range(32)),  # i0, i1, ...: loop indices
            *(f"block{axis}" for axis in range(32)),  # block starts (SUM_BLOCK)
            *(f"block_index{axis}" for axis in range(32)),
            "block_start", "block_count", "block_number", "flat", "rest"}  # interpreted groups
SCALAR_KERNELS = tuple(f"{name}_{suffix}" for name in KERNEL_NAMES for suffix in ("f64", "f32"))
REDUCED_KERNELS = tuple(REDUCED_RANGE)  # sin_reduced_f64, ...: no libm branch, so loops vectorize
# Above this many kernel call sites the kernels are called, not inlined: Numba and
# LLVM time grows with the inlined code (docs/codegen.md, "Compile time").
OUTLINE_KERNEL_CALLS = 48
SUM_BLOCK = 1024  # terms per block of a vectorized float sum (8 KB in float64: L1)
RANGE_FLAG = "sin_cos_far"  # counts arguments beyond a reduced sin/cos's range


@dataclass
class Generated:
    """The function's source and what the caller must pass it."""

    source: str
    function_name: str
    parameters: list[str]  # input names, then constant-array names
    constants: list[np.ndarray]  # values for the constant parameters, in order
    helpers: list[str] = field(default_factory=list)  # jitted helpers the source imports
    parts: int = 1  # functions the body is split into (each jitted on its own)
    kernels_inlined: bool = True  # False: kernels are calls (a graph with many call sites)
    parallel: bool = False  # some loops are `prange`: jit with parallel=True
    range_flag: bool = False  # the function returns one more value: RANGE_FLAG
    interpreted: int = 0  # groups run by the block interpreter (blocks.py)
    instructions: int = 0  # their program rows, in all


class ShapeText(list):  # type: ignore[type-arg]
    """Size expressions that format as a Python tuple and index as a list ({out_shape[0]})."""

    def __format__(self, spec: str) -> str:
        return "(" + ", ".join(self) + ("," if len(self) == 1 else "") + ")"


# Calls that always return a new array: a kernel whose template starts with one
# cannot hand the caller a view of an argument (no defensive copy needed).
ALLOCATING = ("blas_dot(", "np.concatenate(", "zeros(", "full(", "one_hot_flat(",
              "matmul_batched(", "matmul_small(", "{out} = zeros(")


def fresh(node: Node) -> bool:
    """Whether the node's value is always a new array (never a view of an argument)."""
    op = node.op
    if op.scalar is not None or op.reduction is not None or op.rows is not None:
        return True
    if op.index is not None or op.kernel is None:
        return False
    return template_of(node).startswith(ALLOCATING)


def template_of(node: Node) -> str:
    """The op's kernel template for this node (ops may choose it per node)."""
    kernel = node.op.kernel
    if kernel is None:
        raise GraphcError(f"the numba backend has no lowering for op {node.op.name!r} "
                          f"(node built at {node.origin}): declare a kernel template for it")
    return kernel(node) if callable(kernel) else kernel


def literal(value: Any, dtype: np.dtype) -> str:
    """A Python literal of `value` typed as `dtype` in Numba (np.float32(0.5), 3, True)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return str(bool(value))
    if dtype.kind in "iu":
        text = str(int(value))
    else:
        number = float(value)
        if np.isnan(number):
            text = "np.nan"
        elif np.isinf(number):
            text = "np.inf" if number > 0 else "-np.inf"
        else:
            text = repr(number)
    if dtype in (np.dtype("float64"), np.dtype("int64")):
        return text
    return f"np.{dtype.name}({text})"


def _identifier(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in text) or "t"
    if cleaned[0].isdigit():
        cleaned = "t" + cleaned
    return cleaned


class Writer:
    """Indented lines, each statement with the comment of the node(s) it computes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1

    def emit(self, statement: str, comment: str = "") -> None:
        pad = "    " * self.depth
        for index, line in enumerate(statement.split("\n")):
            note = f"  # {comment}" if comment and index == 0 else ""
            self.lines.append(pad + line + note)


class Generator:
    """One generation run: names, sizes, and the emitters for each kind of unit."""

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
        for node in plan.inputs:
            self._claim(node, str(node.name))
        for node, wanted in zip(plan.outputs, output_names):
            if wanted and node not in self.names and node.op.name not in ("input", "constant"):
                self._claim(node, wanted)
        self._counter = 0

    # ------------------------------------------------------------- names
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
        if node not in self.names:
            if node.op.name == "constant":
                self.constants.append(node)
                self._claim(node, f"c{len(self.constants) - 1}")
            else:
                while f"t{self._counter}" in self.used:
                    self._counter += 1
                self._claim(node, node.name if node.name and node.name not in self.used
                            else f"t{self._counter}")
        return self.names[node]

    def describe(self, node: Node) -> str:
        """The printer's equation for the node: `t1: f64[n,2] = sigmoid t0`."""
        args = [self.text_of(i) for i in node.inputs]
        if node.op.infix and len(args) == 2:
            expression = f"{args[0]} {node.op.infix} {args[1]}"
        else:
            expression = " ".join([node.op.label + format_attrs(node)] + args)
        scope = f"  [scope {node.scope}]" if node.scope else ""  # gc.scope, as in pictures
        return f"{self.name(node)}: {type_string(node)} = {expression}{scope}"

    def text_of(self, node: Node) -> str:
        if node.op.name == "constant" and node.value is not None and node.value.ndim == 0:
            return repr(node.value.item())
        if node.op.name == "constant" and _uniform(node.value):
            assert node.value is not None
            return repr(node.value.flat[0].item())  # broadcast like a scalar in the equation
        return self.name(node)

    # ------------------------------------------------------------- sizes
    def size(self, size: shapes.Size) -> str:
        if isinstance(size, int):
            return str(size)
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

    # ------------------------------------------------------------ values
    def attributes(self, node: Node) -> dict[str, Any]:
        formatted: dict[str, Any] = {}
        for key, value in node.attrs:
            formatted[key] = self._attribute(value)
        dtype = node.dtype
        formatted.update(
            suffix=dtypes.short_name(dtype) if dtype.kind == "f" else "f64",
            zero=literal(0, dtype), one=literal(1, dtype),
            out_dtype="np." + dtype.name, out_shape=self.shape(node.shape))
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
        if node.op.name == "constant" and node.value is not None and node.value.ndim == 0:
            return self.constant_literal(node, context)
        if node in self.locals:
            return self.locals[node]
        return self.name(node)

    def access(self, node: Node, index: Sequence[str], context: Node | None = None) -> str:
        """One element of `node` at `index` (an expression per axis of node)."""
        if node in self.locals:
            return self.locals[node]
        if node.op.name == "constant" and node.value is not None and node.value.ndim == 0:
            return self.constant_literal(node, context)
        if node.op.name == "constant" and _uniform(node.value):
            assert node.value is not None  # an array of one repeated value: a literal in loops
            return literal(node.value.flat[0], node.dtype)
        if kind(node) == "view" and node not in self.plan.materialized:
            assert node.op.index is not None
            return self.access(node.inputs[0], node.op.index(node, tuple(index)), context)
        name = self.variable(node, context)
        if node.ndim == 0:
            return name
        return f"{name}[{', '.join(index)}]"

    # ----------------------------------------------------------- emitters
    def emit_kernel(self, node: Node) -> None:
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
        if source.ndim == 0:
            raise GraphcError(f"{node.op.name} of a rank-0 tensor is not supported by the numba "
                              f"backend (node built at {node.origin})")
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
        self.helpers.add("empty")
        self.writer.emit(f"{name} = empty({format(self.shape(node.shape))}, "
                         f"np.{node.dtype.name})", self.describe(node))
        self._open_loops(node.shape)
        assert node.op.index is not None
        value = self.access(node.inputs[0], node.op.index(node, tuple(index)))
        self.writer.emit(f"{name}[{', '.join(index)}] = {value}")
        self.writer.depth -= node.ndim

    def _open_loops(self, shape: shapes.Shape, blocked: Sequence[Node] = (),
                    parallel: bool = False) -> None:
        """One loop per axis; `blocked` sums walk the last axis in blocks of SUM_BLOCK.

        `parallel` makes the outermost loop a `prange` (over blocks, when the
        group has one axis and blocked sums), with the blocks' term buffers
        allocated inside it so that threads do not share them.
        """
        for axis, size in enumerate(shape):
            extent = self.size(size)
            loop = "prange" if parallel and axis == 0 else "range"
            if blocked and axis == len(shape) - 1:
                if loop == "prange":  # prange takes no step
                    self.writer.emit(f"for block_index{axis} in prange(({extent} + "
                                     f"{SUM_BLOCK - 1}) // {SUM_BLOCK}):")
                    self.writer.depth += 1
                    self.writer.emit(f"block{axis} = block_index{axis} * {SUM_BLOCK}")
                else:
                    self.writer.emit(f"for block{axis} in range(0, {extent}, {SUM_BLOCK}):")
                    self.writer.depth += 1
                if parallel and axis == 0:
                    self._allocate_terms(blocked)
                self.writer.emit(f"for i{axis} in range(block{axis}, "
                                 f"min(block{axis} + {SUM_BLOCK}, {extent})):")
            else:
                self.writer.emit(f"for i{axis} in {loop}({extent}):")
                if parallel and axis == 0 and blocked:
                    self.writer.depth += 1
                    self._allocate_terms(blocked)
                    self.writer.depth -= 1
            self.writer.depth += 1

    def emit_group(self, group: Group) -> None:
        members = group.members
        index = [f"i{axis}" for axis in range(len(group.shape))]
        materialized = self.plan.materialized
        blocked = self._blocked_sums(group)
        parallel = self.parallel and self._parallel_safe(group)
        self.used_prange |= parallel
        self.in_prange = parallel
        for node in members:  # allocations and accumulator initial values
            if kind(node) == "reduction":
                self._init_accumulator(node)
            elif node in materialized and node.ndim > 0:
                self.helpers.add("empty")
                self.writer.emit(f"{self.name(node)} = empty("
                                 f"{format(self.shape(node.shape))}, np.{node.dtype.name})")
        if not parallel:  # one buffer; a parallel loop gives each iteration its own
            self._allocate_terms(blocked)
        self._open_loops(group.shape, blocked=blocked, parallel=parallel)
        self._checked = set()
        for node in members:
            if node in blocked:
                last = len(group.shape) - 1
                self.writer.emit(f"{self.name(node)}_terms[i{last} - block{last}] = "
                                 f"{self.access(node.inputs[0], index, node)}",
                                 self.describe(node))
            elif kind(node) == "reduction":
                self._accumulate(node, index)
                continue
            else:
                self._emit_pointwise(node, index)
        if blocked:
            self.writer.depth -= 1
            self._add_blocks(group, blocked, index)
        self.writer.depth -= len(group.shape)
        for node in members:
            self.locals.pop(node, None)
            if kind(node) == "reduction":
                self._finish(node)

    def emit_interpreted(self, group: Group, dtype: np.dtype) -> None:
        """A group run by the block interpreter (blocks.py): per block, load, run, store.

        The values the program reads from arrays are copied into their
        registers with the same index arithmetic a loop would use (broadcasts
        and views included); after the run, members needed outside the group
        are stored from their registers and reductions accumulate from them.
        """
        materialized = self.plan.materialized
        index = [f"i{axis}" for axis in range(len(group.shape))]

        def invariant(source: Node, reader: Node) -> str | None:
            value = self.access(source, _broadcast(source.shape, group.shape, index), reader)
            return None if "[" in value else value  # a literal, or a rank-0 variable

        program = blocks.build(group, dtype, kept=lambda node: node in materialized,
                               invariant=invariant)
        number = self.program_count
        self.program_count += 1
        program_name = self._unique(f"program{number}")
        registers = self._unique(f"registers{number}")
        suffix = dtypes.short_name(dtype)
        self._list_program(program, program_name)
        self.helpers.update({"empty", f"interpret_{suffix}"})
        for node in group.members:  # allocations and accumulator initial values
            if kind(node) == "reduction":
                self._init_accumulator(node)
            elif node in materialized and node.ndim > 0:
                self.writer.emit(f"{self.name(node)} = empty("
                                 f"{format(self.shape(node.shape))}, np.{node.dtype.name})")
        summed = [node for node in group.members if kind(node) == "reduction"
                  and node.ndim == 0 and node.dtype == dtype and node.inputs[0] in program.results
                  and node.op.reduction is not None and node.op.reduction[1] == "{acc} + {0}"]
        stored = [node for node in group.members if node not in summed and (
            kind(node) == "reduction" or node in materialized and node.ndim > 0)]
        # Blocks may run on all cores if none accumulates into an array element
        # another block also writes; `+=` sums are prange reductions.
        parallel = self.parallel and not any(kind(node) == "reduction" for node in stored)
        self.in_prange = parallel  # read by _accumulate (always serial here, see above)
        total = " * ".join(self.size(size) for size in group.shape)
        if parallel:
            self.used_prange = True
            self.writer.emit(f"for block_number in prange(({total} + {blocks.BLOCK - 1}) "
                             f"// {blocks.BLOCK}):")
            self.writer.depth += 1
            self.writer.emit(f"block_start = block_number * {blocks.BLOCK}")
        self.writer.emit(f"{registers} = empty(({program.registers}, {blocks.BLOCK}), "
                         f"np.{dtype.name})",
                         f"{program_name}'s registers, {blocks.BLOCK} values each")
        if program.fills:  # a loop, not `registers[r, :] = v`: Numba's slice stores are big
            self.writer.emit(f"for flat in range({blocks.BLOCK}):")
            for register, text, source in program.fills:
                self.writer.emit(f"    {registers}[{register}, flat] = {text}",
                                 f"r{register} = {self.text_of(source)}")
        if not parallel:
            self.writer.emit(f"for block_start in range(0, {total}, {blocks.BLOCK}):")
            self.writer.depth += 1
        self.writer.emit(f"block_count = min({blocks.BLOCK}, {total} - block_start)")
        position = "i0 - block_start" if len(group.shape) == 1 else "flat - block_start"
        if program.loads:  # none when every input is loop-invariant (a filled register)
            index, _ = self._open_block_elements(group.shape)
            for register, source, reader in program.loads:
                value = self.access(source, _broadcast(source.shape, group.shape, index),
                                    reader)
                self.writer.emit(f"{registers}[{register}, {position}] = {value}",
                                 f"r{register} = {self.text_of(source)}")
            self.writer.depth -= 1
        call = f"interpret_{suffix}({program_name}, {registers}, block_count)"
        if program.range_checked:
            self.range_flag = True
            call = f"{RANGE_FLAG} += {call}"
        self.writer.emit(call, f"{len(program.rows)} instructions of {program_name}")
        for node, register in program.results.items():
            value = f"{registers}[{register}, {position}]"
            self.locals[node] = f"({value} != 0)" if node.dtype.kind == "b" else value
        if stored:
            index, _ = self._open_block_elements(group.shape)
            for node in stored:
                if kind(node) == "reduction":
                    self._accumulate(node, index)
                else:
                    self.writer.emit(f"{self.name(node)}[{', '.join(index)}] = "
                                     f"{self.locals[node]}", self.describe(node))
            self.writer.depth -= 1
        for node in summed:
            row = program.results[node.inputs[0]]
            self.helpers.add("sum_block")
            self.writer.emit(f"{self.name(node)} += sum_block({registers}[{row}], block_count, "
                             f"{literal(0, dtype)})", self.describe(node))
        self.writer.depth -= 1
        for node in group.members:
            self.locals.pop(node, None)
            if kind(node) == "reduction":
                self._finish(node)

    def _open_block_elements(self, shape: shapes.Shape) -> tuple[list[str], str]:
        """A loop over the current block's elements: (their index per axis, register column)."""
        if len(shape) == 1:
            self.writer.emit("for i0 in range(block_start, block_start + block_count):")
            self.writer.depth += 1
            return ["i0"], "i0 - block_start"
        self.writer.emit("for flat in range(block_start, block_start + block_count):")
        self.writer.depth += 1
        self.writer.emit("rest = flat")
        last = len(shape) - 1
        for axis in range(last, 0, -1):
            extent = self.size(shape[axis])
            self.writer.emit(f"i{axis} = rest % {extent}")
            self.writer.emit(f"rest = rest // {extent}")
        self.writer.emit("i0 = rest")
        return [f"i{axis}" for axis in range(len(shape))], "flat - block_start"

    def _list_program(self, program: blocks.Program, name: str) -> None:
        """The program as a module-level array, each instruction with the node it computes."""
        self.instructions += len(program.rows)
        lines = [f"{name} = np.array([  # block program: opcode, output, inputs (registers)"]
        for number, (row, node) in enumerate(zip(program.rows, program.computes)):
            reads = ", ".join(f"r{r}" for r in program.operands(number))
            lines.append(f"    ({', '.join(map(str, row))}),  # r{row[1]} = {node.op.name} "
                         f"{reads}: {self.describe(node)}")
        self.programs += [*lines, "], np.int32)", ""]

    def _emit_pointwise(self, node: Node, index: Sequence[str]) -> None:
        value = self._pointwise(node, index)
        materialized = node in self.plan.materialized
        if node.ndim == 0:
            local = self.name(node)
        elif materialized:
            local = self.name(node) + "_e"
        else:
            local = self.name(node)
        self.writer.emit(f"{local} = {value}", self.describe(node))
        self.locals[node] = local
        if materialized and node.ndim > 0:
            self.writer.emit(f"{self.name(node)}[{', '.join(index)}] = {local}")

    def _allocate_terms(self, blocked: Sequence[Node]) -> None:
        for node in blocked:
            self.helpers.add("empty")
            self.writer.emit(f"{self.name(node)}_terms = empty({SUM_BLOCK}, "
                             f"np.{node.dtype.name})",
                             f"terms of {self.name(node)}, added a block at a time")

    def _parallel_safe(self, group: Group) -> bool:
        """Whether the group's outermost loop may be a `prange`.

        Iterations must not write the same element: each reduction either keeps
        axis 0 (iteration i0 owns its row of the result) or is a rank-0 sum,
        which Numba combines across threads (max/min of a scalar it cannot).
        """
        if not group.shape:
            return False
        for node in group.members:
            if kind(node) != "reduction":
                continue
            assert node.op.reduction is not None
            if node.ndim == 0:
                if node.op.reduction[1] != "{acc} + {0}":
                    return False
            elif "i0" not in reduction_layout(node, [f"i{a}" for a in range(len(group.shape))])[0]:
                return False
        return True

    def _blocked_sums(self, group: Group) -> list[Node]:
        """Float sums along the group's last axis, when that axis may be long.

        They are written to a block of terms and added by `sum_block`, so that
        the loop has no float accumulator and vectorizes; a short static axis
        keeps the plain running sum (and the worked examples stay simple).
        """
        if not group.shape:
            return []
        last = len(group.shape) - 1
        extent = group.shape[last]
        if isinstance(extent, int) and extent < 2 * SUM_BLOCK:
            return []
        found = []
        for node in group.members:
            if kind(node) != "reduction" or node.dtype.kind != "f":
                continue
            assert node.op.reduction is not None
            if node.op.reduction[1] != "{acc} + {0}" or node.inputs[0].shape != group.shape:
                continue
            if last in reduction_layout(node, [])[1]:
                found.append(node)
        return found

    def _add_blocks(self, group: Group, blocked: list[Node], index: Sequence[str]) -> None:
        last = len(group.shape) - 1
        extent = self.size(group.shape[last])
        count = f"min({SUM_BLOCK}, {extent} - block{last})"
        for node in blocked:
            target_index, _ = reduction_layout(node, index)
            name = self.name(node)
            target = name if node.ndim == 0 else f"{name}[{', '.join(target_index)}]"
            self.writer.emit(f"{target} += sum_block({name}_terms, {count}, "
                             f"{literal(0, node.dtype)})", f"block of {name}")
        self.helpers.add("sum_block")

    def _pointwise(self, node: Node, index: Sequence[str]) -> str:
        assert node.op.scalar is not None
        template = node.op.scalar
        arguments = []
        for position, source in enumerate(node.inputs):
            value = self.access(source, _broadcast(source.shape, node.shape, index), node)
            condition = f"select({{{position}}}," in template
            if node.dtype.kind == "f" and source.dtype.kind in "iub" and not condition \
                    and not self._is_literal(source):
                value = f"np.{node.dtype.name}({value})"
            arguments.append(value)
        expression = template.format(*arguments, **self.attributes(node))
        suffix = dtypes.short_name(node.dtype) if node.dtype.kind == "f" else "f64"
        kernel = template.replace("{suffix}", suffix)
        reduced = kernel.replace("_" + suffix + "({0})", "_reduced_" + suffix)
        if self.inline_kernels and reduced in REDUCED_RANGE:
            expression = f"{reduced}({arguments[0]})"
            kernel = reduced + "("
            self._check_range(arguments[0], REDUCED_RANGE[reduced])
        self._note_helpers(kernel)
        typed = "{suffix}" in template or template.startswith("np.{dtype}")
        if node.dtype in (np.dtype("float32"), np.dtype("int32")) and not typed:
            expression = f"np.{node.dtype.name}({expression})"
        return expression

    def _check_range(self, argument: str, limit: float) -> None:
        """Flag arguments a reduced sin/cos cannot take: the caller then recomputes exactly.

        The reduced kernels return NaN beyond `limit` (|x| > ~8e5 in float64),
        where the exact ones would branch to libm on every vector lane.
        """
        self.range_flag = True
        if argument in self._checked:
            return
        self._checked.add(argument)
        self.writer.emit(f"{RANGE_FLAG} += abs({argument}) > {limit!r}",
                         f"sin/cos of {argument} beyond the reduced range?")

    def _is_literal(self, node: Node) -> bool:
        return node.op.name == "constant" and node.value is not None and node.value.ndim == 0

    def _init_accumulator(self, node: Node) -> None:
        assert node.op.reduction is not None
        init = node.op.reduction[0].format(lowest=_extreme(node.dtype, low=True),
                                           highest=_extreme(node.dtype, low=False))
        name = self.name(node)
        if node.ndim == 0:
            self.writer.emit(f"{name} = np.{node.dtype.name}({init})")
        else:
            self.helpers.add("full")
            self.writer.emit(f"{name} = full({format(self.shape(node.shape))}, {init}, "
                             f"np.{node.dtype.name})")

    def _accumulate(self, node: Node, index: Sequence[str]) -> None:
        assert node.op.reduction is not None
        source = node.inputs[0]
        value = self.access(source, index, node)
        if node.dtype.kind == "f" and source.dtype.kind in "iub":
            value = f"np.{node.dtype.name}({value})"
        target_index, _ = reduction_layout(node, index)
        name = self.name(node)
        target = name if node.ndim == 0 else f"{name}[{', '.join(target_index)}]"
        update = node.op.reduction[1].format(value, acc=target)
        self._note_helpers(node.op.reduction[1])  # maximum(...) of max
        if node.dtype in (np.dtype("float32"), np.dtype("int32")):
            update = f"np.{node.dtype.name}({update})"
        if self.in_prange and node.ndim == 0:  # the form Numba parallelizes as a reduction
            assert node.op.reduction[1] == "{acc} + {0}"
            self.writer.emit(f"{target} += np.{node.dtype.name}({value})"
                             if node.dtype in (np.dtype("float32"), np.dtype("int32"))
                             else f"{target} += {value}", self.describe(node))
            return
        self.writer.emit(f"{target} = {update}", self.describe(node))

    def _finish(self, node: Node) -> None:
        assert node.op.reduction is not None
        finish = node.op.reduction[2]
        if finish == "{acc}":
            return
        _, reduced = reduction_layout(node, [])
        count = "(" + (" * ".join(self.size(node.inputs[0].shape[a]) for a in reduced) or "1") + ")"
        name = self.name(node)
        expression = finish.format(acc=name, count=count)
        if node.ndim == 0:
            expression = f"np.{node.dtype.name}({expression})"
        self.writer.emit(f"{name} = {expression}", f"finish {node.op.name} {name}")

    def _note_helpers(self, template: str) -> None:
        for helper in (*HELPERS, *SCALAR_KERNELS, *REDUCED_KERNELS):
            if re.search(rf"(?<![\w.]){helper}\(", template):  # `empty(`, not `np.empty(`
                self.helpers.add(helper)


def _broadcast(source: shapes.Shape, target: shapes.Shape, index: Sequence[str]) -> list[str]:
    """Index of an input broadcast to `target`: trailing axes, 0 on its size-1 axes."""
    lead = len(target) - len(source)
    return ["0" if size == 1 and target[lead + a] != 1 else index[lead + a]
            for a, size in enumerate(source)]


def reduction_layout(node: Node, index: Sequence[str]) -> tuple[list[str], tuple[int, ...]]:
    """(output index for an input `index`, the reduced input axes).

    Reductions carry `axis`/`keepdims`; an un-broadcast (`sum_to`) reduces the
    leading axes and those where its target shape has a static 1.
    """
    source = node.inputs[0].shape
    attrs = node.attr
    if "axis" in attrs:
        axes = tuple(attrs["axis"])
        if attrs.get("keepdims", False):
            out = ["0" if a in axes else i for a, i in enumerate(index)]
        else:
            out = [i for a, i in enumerate(index) if a not in axes]
        return out, axes
    lead = len(source) - node.ndim
    reduced = tuple(range(lead)) + tuple(
        lead + j for j, size in enumerate(node.shape) if size == 1 and source[lead + j] != 1)
    out = ["0" if lead + j in reduced else index[lead + j] for j in range(node.ndim)] \
        if index else []
    return out, reduced


def _extreme(dtype: np.dtype, low: bool) -> str:
    if dtype.kind == "f":
        return "-np.inf" if low else "np.inf"
    if dtype.kind == "b":
        return "False" if low else "True"
    info = np.iinfo(dtype)
    return str(info.min if low else info.max)


def kernel_calls(plan: Schedule, skip: Sequence[Group] = ()) -> int:
    """Scalar-kernel call sites the generated loops of `plan` will contain (`skip`: interpreted)."""
    return blocks.kernel_calls([node for unit in plan.units
                                if isinstance(unit, Group) and unit not in skip
                                for node in unit.members])


def generate(plan: Schedule, output_names: Sequence[str | None] | None = (),
             function_name: str = "graph", part_budget: int = 400,
             parallel: bool = False) -> Generated:
    """The source of one function computing every output of the scheduled graph.

    A graph whose code exceeds `part_budget` lines is split into parts (one njit
    function each, called in order by the main function), because Numba's and
    LLVM's time grows faster than linearly in the size of one function. For
    the same reason a graph with more than OUTLINE_KERNEL_CALLS kernel call
    sites calls the kernels (`exp_f64_call as exp_f64`) instead of inlining
    them; inlined kernels let LLVM vectorize the loops. `parallel` turns the
    outer loop of each group that allows it into a `prange`.
    """
    names = list(output_names or ()) + [None] * (len(plan.outputs) - len(output_names or ()))
    interpreted = blocks.choose(plan)
    inline = kernel_calls(plan, skip=list(interpreted)) <= OUTLINE_KERNEL_CALLS
    generator = Generator(plan, names, function_name, inline_kernels=inline, parallel=parallel)
    generator.bind_input_sizes()
    prologue = generator.writer.lines
    chunks_of_code: list[list[str]] = []
    for unit in plan.units:
        generator.writer.lines = []
        if isinstance(unit, Group) and unit in interpreted:
            generator.emit_interpreted(unit, interpreted[unit])
        elif isinstance(unit, Group):
            generator.emit_group(unit)
        elif kind(unit) == "view":
            generator.emit_view_copy(unit)
        else:
            generator.emit_kernel(unit)
        chunks_of_code.append(generator.writer.lines)
    results = [generator.variable(o) for o in plan.outputs]
    if generator.range_flag:
        prologue.append(f"    {RANGE_FLAG} = 0  # sin/cos arguments that need libm: "
                        "if any, the caller recomputes exactly")
        results.append(RANGE_FLAG)
    parameters = [generator.names[i] for i in plan.inputs] + \
        [generator.names[c] for c in generator.constants]
    chunks = _split(chunks_of_code, part_budget)
    if len(chunks) <= 1:
        body = [f"def {function_name}({', '.join(parameters)}):", *prologue,
                *[line for block in chunks_of_code for line in block], _return(results)]
    else:
        body = _parts(function_name, parameters, prologue, chunks, results)
    header = ["import numpy as np", "", *generator.programs]
    header[1:1] = _imports(sorted(generator.helpers), inline)
    if generator.used_prange:
        header[1:1] = ["from numba import prange"]
    if any("math." in line for line in body):
        header[:0] = ["import math", ""]
    source = "\n".join(header + ["", *body]) + "\n"
    constants = [np.ascontiguousarray(np.array(c.value, copy=True)) for c in generator.constants]
    return Generated(source, function_name, parameters, constants, sorted(generator.helpers),
                     parts=max(len(chunks), 1), kernels_inlined=inline,
                     parallel=generator.used_prange,
                     range_flag=generator.range_flag, interpreted=len(interpreted),
                     instructions=generator.instructions)


def _imports(helpers: list[str], inline: bool) -> list[str]:
    """Import lines for the jitted kernels and helpers (graphc.backend.compile makes them)."""
    called = [] if inline else [h for h in helpers if h in SCALAR_KERNELS]
    plain = [h for h in helpers if h not in called]
    lines = ["from graphc.backend.compile import " + ", ".join(plain)] if plain else []
    if called:
        lines.append("from graphc.backend.compile import "
                     + ", ".join(f"{h}_call as {h}" for h in called)
                     + "  # calls, not inlined: faster compile")
    return lines


def _return(results: Sequence[str]) -> str:
    return "    return (" + ", ".join(results) + ("," if len(results) == 1 else "") + ")"


def _split(blocks: list[list[str]], budget: int) -> list[list[list[str]]]:
    chunks: list[list[list[str]]] = []
    size = budget
    for block in blocks:
        if size + len(block) > budget and size > 0:
            chunks.append([])
            size = 0
        chunks[-1].append(block)
        size += len(block)
    return chunks


def _names(lines: list[str]) -> tuple[set[str], set[str]]:
    """(names read before being assigned, names assigned) by a run of statements.

    Statements are scanned in execution order, a statement's reads before its
    writes, so a loop-carried value (`flag += ...` inside a loop) counts as read
    from outside while a temporary set and used in one iteration does not.
    """
    loaded: set[str] = set()
    stored: set[str] = set()

    def names(node: ast.AST, context: type) -> set[str]:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                and isinstance(n.ctx, context)}

    def scan(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.For):
                loaded.update(names(statement.iter, ast.Load) - stored)
                stored.update(names(statement.target, ast.Store))
                scan(statement.body)
                continue
            reads = names(statement, ast.Load)
            if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
                reads.add(statement.target.id)
            loaded.update(reads - stored)
            stored.update(names(statement, ast.Store))

    scan(ast.parse(textwrap.dedent("\n".join(lines))).body)
    return loaded, stored


def _parts(function_name: str, parameters: list[str], prologue: list[str],
           chunks: list[list[list[str]]], results: list[str]) -> list[str]:
    """The main function calling one njit function per chunk, passing live values along."""
    defined = set(parameters) | _names(prologue)[1]
    summaries = [_names([line for block in chunk for line in block]) for chunk in chunks]
    needed_later: list[set[str]] = []
    later = {r for r in results}
    for loaded, _ in reversed(summaries):
        needed_later.append(set(later))
        later |= loaded
    needed_later.reverse()
    main = [f"def {function_name}({', '.join(parameters)}):", *prologue]
    parts: list[str] = []
    for number, (chunk, (loaded, stored)) in enumerate(zip(chunks, summaries)):
        arguments = sorted(loaded & defined)
        returned = sorted(stored & needed_later[number])
        part = f"{function_name}_part{number}"
        parts += [f"def {part}({', '.join(arguments)}):",
                  *[line for block in chunk for line in block], _return(returned), "", ""]
        target = ", ".join(returned) + ("," if len(returned) == 1 else "")
        main.append(f"    {target} = {part}({', '.join(arguments)})" if returned
                    else f"    {part}({', '.join(arguments)})")
        defined |= stored
    return parts + main + [_return(results)]
