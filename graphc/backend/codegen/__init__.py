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

The package, one job per module, in the order a unit passes through them:
text (constants, Generated, literals, Writer) <- emitter (names, sizes,
element access) <- loops (fused groups, accumulators) <- interpreted (groups
the block interpreter runs) <- statements (kernels, row helpers, view copies:
the Generator) <- this module (`generate`: the whole function) with parts
(splitting it into njit parts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import policy
from ..runtime import REDUCED_KERNELS, SCALAR_KERNELS
from ..schedule import Group, Schedule, kind
from .loops import reduction_layout
from .parts import _parts, _return, _split
from .statements import Generator
from .text import (
    OUTLINE_KERNEL_CALLS,
    RANGE_FLAG,
    SUM_BLOCK,
    Generated,
    fresh,
    literal,
    subscript,
    template_of,
)

__all__ = ["OUTLINE_KERNEL_CALLS", "RANGE_FLAG", "REDUCED_KERNELS", "SCALAR_KERNELS", "SUM_BLOCK",
           "Generated", "Generator", "fresh", "generate", "kernel_calls", "literal",
           "reduction_layout", "subscript", "template_of"]


def kernel_calls(plan: Schedule, skip: Sequence[Group] = ()) -> int:
    """Scalar-kernel call sites the generated loops of `plan` will contain (`skip`: interpreted)."""
    return policy.kernel_calls([node for unit in plan.units
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
    interpreted = policy.choose(plan)
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
