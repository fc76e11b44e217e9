"""Code generation: a schedule -> the source of ONE Python function for Numba.

Owns naming (inputs keep the user's names, outputs may be named by the caller,
e.g. `d_W`; others take the printed graph's names, printing.graph_namer), loop nests for
fusion groups, accumulators for fused reductions, broadcast and view index
arithmetic, and one statement per kernel. Every statement is followed by a
comment with the graph equation it computes (the printer's text form), so
`f.source` reads like the graph. Output is deterministic.

How an op is lowered is read from its declaration (graphc/ops): the type of
its lowering record (graphc/lowering.py: `Pointwise` templates, `Reduction`
accumulators, `View` index maps, `Rows` helpers, `Kernel` statements) and the
facts it holds, never the op's name or a template's text. Placeholders
(graphc/lowering.py): `{0}`, `{1}` (inputs), attribute names,
`{suffix}` (f64/f32), `{zero}`/`{one}` (typed literals of the output dtype),
`{out_dtype}`, `{out_shape}`, `{shape0}`.. (sizes of input 0..), `{count}`
(reduced element count), `{acc}` (accumulator), `{out}` (result variable of
a multi-statement kernel). See docs/codegen.md. Imports: ir, shapes, dtypes,
printing, schedule (layer L4); entry point `generate(schedule, ...)`.

The package, one job per module, in the order a unit passes through them:
text (constants, Generated, literals, Writer) <- emitter (names, sizes,
element access) <- loops (fused groups, accumulators) <- interpreted (groups
the block interpreter runs) <- statements (kernels, row helpers, view copies:
the Generator) <- this module (`generate`: the whole function) with parts
(splitting it into njit parts).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence, Set

import numpy as np

from ...ir import Node
from ...lowering import View
from ...printing import backward_note
from .. import library, policy, workspace
from ..runtime import REDUCED_KERNELS, SCALAR_KERNELS
from ..schedule import Group, Schedule, kind
from . import pyunits
from .forms import Forms
from .loops import reduction_layout
from .outline import Kernel, outline
from .parts import _names, _parts, _return, _split
from .reroll import reroll
from .statements import Generator
from .text import (
    OUTLINE_KERNEL_CALLS,
    RANGE_FLAG,
    RESERVED,
    SUM_BLOCK,
    Generated,
    fresh,
    literal,
    subscript,
    template_of,
)

__all__ = ["KERNEL_MODE_GROUPS", "OUTLINE_KERNEL_CALLS", "RANGE_FLAG", "REDUCED_KERNELS",
           "SCALAR_KERNELS", "SUM_BLOCK", "Generated", "Generator", "Kernel", "fresh", "generate",
           "kernel_calls", "kernel_mode", "literal", "reduction_layout", "subscript", "template_of"]

# A graph with at least this many fused loop nests is generated in kernel mode
# (codegen/outline.py): shared kernels called from a plain Python function.
# Below it one njit function is cheaper per call (no Python between the
# groups: ~1 us per call saved per unit) and compiles in about a second anyway.
KERNEL_MODE_GROUPS = 6
# Helpers the kernel-mode graph function (plain Python) calls as the NumPy functions they wrap:
# whole-array NumPy with no loop of their own, so NumPy runs them as fast, and a fresh
# installation compiles nothing for them (to_rows's np.transpose: ~2-3 s of Numba's first use).
NUMPY_LEVEL = ("blas_dot", "contiguous", "empty", "full", "zeros", "to_rows", "to_stack",
               *library.NUMPY_TWINS)  # these as their NumPy-level twins (library_*.NUMPY_TWINS)


def kernel_calls(plan: Schedule, skip: Sequence[Group] = ()) -> int:
    """Scalar-kernel call sites the generated loops of `plan` will contain (`skip`: interpreted)."""
    return policy.kernel_calls([node for unit in plan.units
                                if isinstance(unit, Group) and unit not in skip
                                for node in unit.members])


def kernel_mode(plan: Schedule, parallel: bool = False) -> bool:
    """Whether the graph is generated as shared kernels called from Python (see outline.py)."""
    return not parallel and sum(isinstance(u, Group) for u in plan.units) >= KERNEL_MODE_GROUPS


def _outlined(unit: Group | Node, in_python: Set[int] = frozenset()) -> bool:
    """Units that become kernels: loop nests (groups, copies of views), not whole-array statements
    nor the groups kernel mode computes in Python (`in_python`: their ids, pyunits.py)."""
    if isinstance(unit, Group):
        return id(unit) not in in_python
    return isinstance(unit.op.lowering, View) and unit.op.lowering.copy is None and unit.ndim > 0


Buffers = Mapping[Node, str]  # node -> the parameter it is written into (Generator.buffers)


def _generator(plan: Schedule, names: list[str | None], function_name: str, inline: bool,
               parallel: bool, into: Buffers | None) -> Generator:
    generator = Generator(plan, names, function_name, inline_kernels=inline, parallel=parallel)
    generator.buffers = dict(into or {})  # products written into extra parameters (scan_buffers.py)
    return generator


def generate(plan: Schedule, output_names: Sequence[str | None] | None = (),
             function_name: str = "graph", part_budget: int = 400,
             parallel: bool = False, kernels: bool | None = None, into: Buffers | None = None) -> Generated:
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
    interpreted = policy.choose(plan)
    shared = kernel_mode(plan, parallel) if kernels is None else kernels
    inline = shared or kernel_calls(plan, skip=list(interpreted)) <= OUTLINE_KERNEL_CALLS
    generator = _generator(plan, names, function_name, inline, parallel, into)
    while any(name.startswith(generator.size_prefix) for name in generator.used - RESERVED):
        generator.size_prefix += "_"  # a user's name must not look like a static size
    generator.bind_input_sizes()
    if shared:  # arrays a kernel-mode function may take from its per-thread workspace
        taken = {*generator.names.values(), *(n for n in names if n),
                 *(str(n.name) for n in plan.order if n.name)}
        generator.reusable = workspace.plan(plan, plan.outputs, taken)
    prologue = generator.writer.lines
    in_python = pyunits.choose([u for u in plan.units if u not in interpreted], plan) \
        if shared else set()
    forms = Forms(generator)  # an outlined unit's code once per form, renamed for other sites
    chunks_of_code = _emit_units(generator, plan, interpreted, in_python, shared, forms)
    results = [generator.variable(o) for o in plan.outputs]
    if generator.range_flag:
        prologue.append(f"    {RANGE_FLAG} = 0  # sin/cos arguments that need libm: "
                        "if any, the caller recomputes exactly")
        results.append(RANGE_FLAG)
    parameters = [generator.names[i] for i in plan.inputs] + \
        [generator.names[c] for c in generator.constants] + list(dict.fromkeys(generator.buffers.values()))
    if shared:
        return _kernel_mode(generator, plan, prologue, chunks_of_code, results, parameters,
                            len(interpreted), in_python, forms.same)
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


def _emit_units(generator: Generator, plan: Schedule, interpreted: dict[Group, np.dtype],
                in_python: Set[int], shared: bool, forms: Forms) -> list[list[str]]:
    """The code of each unit of the plan, one list of lines each (the prologue written apart):
    kept per unit so kernel mode can outline the loop nests and the one-function path can
    split them into parts. In kernel mode an outlined unit keeps symbolic sizes; the units
    in `in_python` become whole-array NumPy statements of the graph function."""
    chunks_of_code: list[list[str]] = []
    for number, unit in enumerate(plan.units):
        generator.writer.lines = []
        generator.symbolic_sizes = shared and _outlined(unit, in_python)
        if generator.symbolic_sizes and not (isinstance(unit, Group) and unit in interpreted):
            forms.emit(number, unit, functools.partial(generator.emit_group, unit)
                       if isinstance(unit, Group) else functools.partial(generator.emit_view_copy, unit))
        elif isinstance(unit, Group) and unit in interpreted:
            generator.emit_interpreted(unit, interpreted[unit])
        elif id(unit) in in_python and pyunits.emit(generator, unit):
            pass  # whole-array NumPy statements (a scalar group is written as its loop-free body)
        elif isinstance(unit, Group):
            generator.emit_group(unit)
            if id(unit) in in_python:  # its lines stay in Python: say what they read (steps.py)
                generator.writer.lines = pyunits.recorded(generator, unit, generator.writer.lines)
        elif kind(unit) == "view":
            generator.emit_view_copy(unit)
        else:
            generator.emit_kernel(unit)
        chunks_of_code.append(generator.writer.lines)
        generator.symbolic_sizes = False
    return chunks_of_code


def _imports(helpers: list[str], inline: bool) -> list[str]:
    """Import lines for the jitted kernels and helpers (graphc.backend.runtime makes them)
    and the block interpreter's entry points (graphc.backend.interpreter.link)."""
    interpreters = [h for h in helpers if h.startswith("interpret_")]
    called = [] if inline else [h for h in helpers if h in SCALAR_KERNELS]
    plain = [h for h in helpers if h not in called and h not in interpreters]
    lines = ["from graphc.backend.runtime import " + ", ".join(plain)] if plain else []
    if interpreters:
        lines.append("from graphc.backend.interpreter.link import " + ", ".join(interpreters))
    if called:
        lines.append("from graphc.backend.runtime import "
                     + ", ".join(f"{h}_call as {h}" for h in called)
                     + "  # calls, not inlined: faster compile")
    return lines


def _kernel_mode(generator: Generator, plan: Schedule, prologue: list[str],
                 chunks_of_code: list[list[str]], results: list[str], parameters: list[str],
                 interpreted: int, in_python: set[int],
                 same: Sequence[tuple[int, dict[str, str]] | None]) -> Generated:
    """The module of a graph in kernel mode: programs, a plain Python function calling kernels."""
    programs = {m.group(1) for line in generator.programs
                if (m := re.match(r"(\w+) = np\.array\(", line))}
    by_name = {name: node for node, name in generator.names.items()}

    def imports(code: str) -> list[str]:
        return _imports(_used(code, generator.helpers), True)

    def retype(name: str) -> str | None:
        node = by_name.get(name)
        if node is None or node.ndim or node.dtype.name in ("float64", "int64", "bool"):
            return None
        return f"np.{node.dtype.name}"

    def inline(code: str) -> bool:
        return sum(len(re.findall(rf"(?<![\w.]){k}\(", code))
                   for k in (*SCALAR_KERNELS, *REDUCED_KERNELS)) <= OUTLINE_KERNEL_CALLS

    sizes = {text for text in generator.sizes.values() if text.isidentifier()}
    # An op whose own lowering is a loop (gc.random's draws) runs compiled too: in plain
    # Python it would be slow and would follow Python's integer rules, not Numba's wrapping.
    units = [_outlined(u, in_python) or any(line.lstrip().startswith("for ") for line in chunk)
             for u, chunk in zip(plan.units, chunks_of_code)]
    chunks_of_code = [
        pyunits.wrapped(chunk, pyunits.scalar_arguments(generator, unit))
        if not outlined and id(unit) in in_python else chunk
        for unit, chunk, outlined in zip(plan.units, chunks_of_code, units)]
    outlined = outline(prologue, chunks_of_code, units,
                       set(parameters) | _names(prologue)[1] | programs, results, imports,
                       generator.size_prefix, sizes, set(generator.names.values()), inline, retype,
                       lambda name: backward_note(by_name[name]) if name in by_name else "", same)
    function_name = generator.function_name
    loops = reroll(outlined.body, results, parameters, _describer(by_name),
                   lambda helpers: _imports(sorted(helpers), True))
    lines, slots = workspace.place(loops.body)  # the workspace.Reusable lines still in Python
    body = [f"def {function_name}({', '.join(parameters)}):", *lines, _return(results)]
    top = "\n".join(body)
    called = _used(top, generator.helpers | {"empty", "full"})  # a loop's module imports its own
    numpy_level = [h for h in called if h in NUMPY_LEVEL]  # plain NumPy in Python: no dispatch
    header = ["import numpy as np", *_imports([h for h in called if h not in NUMPY_LEVEL], True)]
    for module in sorted({library.helper(h).__module__ for h in numpy_level}):
        names = ", ".join(f"{library.NUMPY_TWINS[h]} as {h}" if h in library.NUMPY_TWINS else h
                          for h in numpy_level if library.helper(h).__module__ == module)
        header.append(f"from {module} import {names}  # NumPy itself at this level")
    header.append("# fused kernels, one cached module each (shared by every graph that has them): "
                  + ", ".join(k.name for k in outlined.kernels))
    if loops.loops:
        header.append("# re-rolled loops, one cached module each (shared likewise): "
                      + ", ".join(loop.name for loop in loops.loops))
    header += ["", *workspace.header(slots), *generator.programs, *loops.constants]
    source = "\n".join(header + ["", top]) + "\n"
    constants = [np.ascontiguousarray(np.array(c.value, copy=True)) for c in generator.constants]
    return Generated(source, function_name, parameters, constants, sorted(generator.helpers),
                     parts=1, kernels_inlined=True, parallel=False,
                     range_flag=generator.range_flag, interpreted=interpreted,
                     instructions=generator.instructions, kernels=[*outlined.kernels, *loops.loops])


def _describer(by_name: dict[str, Node]) -> Callable[[str], tuple[tuple[int, ...], str] | None]:
    """(static shape, `np.<dtype>`) of a graph value by its name, for rerolled loops' buffers."""
    def describe(name: str) -> tuple[tuple[int, ...], str] | None:
        node = by_name.get(name)
        shape = tuple(d for d in node.shape if isinstance(d, int)) if node is not None else ()
        if node is None or len(shape) != node.ndim:
            return None
        return shape, f"np.{node.dtype.name}"
    return describe


def _used(code: str, helpers: set[str]) -> list[str]:
    """The helpers (and kernels) `code` calls."""
    return sorted(h for h in helpers if re.search(rf"(?<![\w.]){h}\(", code))
