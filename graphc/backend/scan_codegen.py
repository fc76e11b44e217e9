"""A scan inside the generated function: its body and a `for` loop driver emitted into the same module.

Owns `emit_scan(generator, node)`, the code generator's statement for a
`scan` node (its lowering record is a `Loop`: codegen.statements.NESTED). At the first node of a loop family
in the schedule it

- generates the body like any graph (one function, kernels=False) as the
  module-level function `<graph>_loop<n>_body`;
- emits a driver `<graph>_loop<n>(count, carries..., xs..., consts..., ys
  buffers..., saved buffers...)` whose `for` loop slices xs, calls the body,
  passes the carries on and writes each step's outputs into the buffers;
- emits, in the graph function, the buffers' allocation (once, before the
  loop) and one call of the driver, binding every member of the family.

jit.py compiles the module's `<graph>_loop*` functions with Numba before the
graph function (they are module globals it calls), so the whole graph, the
code around its loops included, is one compiled function (or, in kernel
mode, plain Python calling the jitted loops). Nothing depends on the number
of steps. A loop this cannot emit (a size known only by running, a body with
a loop or block-interpreter programs of its own) raises `Unsupported`, and
backend/scan_loops.py compiles the graph the other way.
Imports: ir, subgraph, control.scan (family_key), backend.policy, codegen (layer L4).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import GraphcError
from ..ir import Node, toposort
from ..ops import constant
from ..subgraph import Subgraph, subgraphs_of
from .scan_buffers import BodyBuffers, plan_buffers

LOOP_FUNCTION = r"{name}_(?:loop|reroll)\d+(_body)?"  # module functions jit.py compiles before the graph's


class Unsupported(GraphcError):
    """This loop cannot be part of the generated function (the caller compiles it apart)."""


def loop_functions(function_name: str, names: Any) -> list[str]:
    """The generated loop functions among a module's names, bodies first."""
    pattern = re.compile(LOOP_FUNCTION.format(name=re.escape(function_name)))
    found = [n for n in names if pattern.fullmatch(n)]
    return sorted(found, key=lambda n: (not n.endswith("_body"), n))


def loop_names(body: Subgraph, history: bool, constants: int) -> tuple[list[str], ...]:
    """A driver's argument names: carries, per-step inputs, constants, stacked outputs, saved carries."""
    carries = [f"c{i}" for i in range(body.carries)]
    xs = [f"x{i}" for i in range(body.xs)]
    consts = [f"k{i}" for i in range(body.consts)] + [f"const{i}" for i in range(constants)]
    ys = [f"ys{j}" for j in range(body.ys)]
    saved = [f"h{i}" for i in range(body.carries)] if history else []
    return carries, xs, consts, ys, saved


def body_step(function: str, body: Subgraph, names: tuple[list[str], ...], flag: bool,
              buffers: BodyBuffers | None = None) -> list[str]:
    """One step of a driver (at data index t): call the body, pass the carries on, store the ys.

    With `buffers` (scan_buffers.plan_buffers) the body writes its results into the
    driver's arrays: carry i into `n<i>`, swapped with `c<i>` after the step
    (double buffering), per-step output j straight into the row `ys<j>[t]`;
    a carry it could not write is copied into `n<i>`, so no step allocates."""
    carries, xs, consts, ys = names
    nc = len(carries)
    written = buffers.written if buffers is not None else []
    outs = [f"n{k}" if k < nc else f"{ys[k - nc]}[t]" for k in written]
    work = [f"w{m}" for m in range(len(buffers.work))] if buffers is not None else []
    call = ", ".join(carries + [f"{x}[t]" for x in xs] + consts + outs + work)
    step = [f"r = {function}({call})"]
    for i, (c, node) in enumerate(zip(carries, body.outputs)):
        if not node.ndim:
            step.append(f"{c} = r[{i}]")
        elif buffers is None:
            step.append(f"{c} = np.ascontiguousarray(r[{i}])")
        else:
            if i not in written:
                step.append(f"loop_copy_into(n{i}, r[{i}])")
            step.append(f"{c}, n{i} = n{i}, {c}")
    step += [f"{y}[t] = r[{nc + j}]" for j, y in enumerate(ys) if nc + j not in written]
    if flag:
        step.append(f"flag += r[{len(body.outputs)}]")
    return step


def _driver(name: str, body: Subgraph, history: bool, every: int, reverse: bool,
            constants: int, flag: bool, unroll: int = 1, buffers: BodyBuffers | None = None) -> list[str]:
    """The driver's source. `unroll=u` repeats the step u times per iteration of the main
    loop (jax.lax.scan's meaning), then runs the count % u steps left one at a time.
    Its buffers (the carries' two, the body's work arrays) are allocated before the loop."""
    carries, xs, consts, ys, saved = loop_names(body, history, constants)
    step = ["t = count - 1 - s" if reverse else "t = s"]
    if saved and every == 1:
        step += [f"{h}[t] = {c}" for h, c in zip(saved, carries)]
    elif saved:  # checkpoint=every: each every-th carry in the loop's order
        step.append(f"if s % {every} == 0:")
        step += [f"    {h}[s // {every}] = {c}" for h, c in zip(saved, carries)]
    step += body_step(f"{name}_body", body, (carries, xs, consts, ys), flag, buffers)
    lines = [f"def {name}({', '.join(['count'] + carries + xs + consts + ys + saved)}):",
             f"    # the loop of {name}_body: carries passed on, per-step outputs written in place",
             "    flag = 0"]
    arrays = [(i, c) for i, (c, node) in enumerate(zip(carries, body.inputs)) if node.ndim]
    if buffers is not None:  # allocated once per call, never per step
        lines += [f"    {c} = {c}.copy()  # carry {i}: this buffer and n{i}, swapped each step"
                  for i, c in arrays]
        lines += [f"    n{i} = np.empty_like({c})" for i, c in arrays]
        lines += [f"    w{m} = {allocation}  # work array of the body, reused each step"
                  for m, allocation in enumerate(buffers.work)]
    if unroll > 1:
        lines.append(f"    for first in range(0, count - count % {unroll}, {unroll}):")
        for k in range(unroll):
            lines.append(f"        s = first + {k}" if k else "        s = first")
            lines += [f"        {line}" for line in step]
        lines.append(f"    for s in range(count - count % {unroll}, count):")
    else:
        lines.append("    for s in range(count):")
    lines += [f"        {line}" for line in step]
    copies = [f"        {c} = {c}.copy()" for _, c in arrays]
    if copies and buffers is None:
        lines += ["    if count == 0:  # the final carries must not be the caller's arrays", *copies]
    lines.append(f"    return ({', '.join(carries + ['flag'])},)")
    return lines + ["", ""]


def _body_function(name: str, body: Subgraph) -> tuple[Any, list[str], BodyBuffers]:
    """The body as one generated function named `name` (codegen.generate, kernels off), its
    products written into buffers the driver passes (scan_buffers.plan_buffers)."""
    from . import policy
    from .codegen import generate

    if any(subgraphs_of(node) for node in body.nodes()):
        raise Unsupported("a loop body holding a loop of its own")
    plan = policy.schedule_for(body.inputs, body.outputs)
    buffers = plan_buffers(plan, body.outputs)
    generated = generate(plan, (), function_name=name, part_budget=10 ** 9, kernels=False,
                         into=buffers.buffers)
    if generated.interpreted or generated.parts > 1:
        raise Unsupported("a loop body the block interpreter runs")
    lines = generated.source.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"def {name}("))
    # Its own imports again, beside it: in kernel mode the module's header imports only what
    # the plain-Python graph function calls (some of it NumPy itself, which Numba cannot call).
    # Helpers that module imports as NumPy itself are renamed in the body (loop_empty) so
    # the graph function keeps calling NumPy and the body calls the jitted helper.
    imports = [line for line in lines[:start] if line.startswith(("from graphc.", "import math"))]
    function = lines[start:]
    from .codegen import NUMPY_LEVEL  # not at import: jit.py imports this module

    for helper in sorted(set(generated.helpers) & set(NUMPY_LEVEL)):
        pattern = re.compile(rf"(?<![\w.]){helper}\(")
        function = [pattern.sub(f"loop_{helper}(", line) for line in function]
        imports = [_without(line, helper) for line in imports]
        imports.append(f"from graphc.backend.runtime import {helper} as loop_{helper}")
    imports.append("from graphc.backend.runtime import copy_into as loop_copy_into")
    return generated, [line for line in imports if line] + function, buffers


def _without(line: str, helper: str) -> str:
    """An import line without `helper` ("" when nothing is left)."""
    if not line.startswith("from graphc.backend.runtime import "):
        return line
    head, names = line.split(" import ", 1)
    names, _, comment = names.partition("  #")
    kept = [n for n in names.split(", ") if n.strip() != helper]
    return f"{head} import {', '.join(kept)}" + (f"  #{comment}" if comment else "") if kept else ""


def emit_scan(generator: Any, node: Node) -> None:
    """The statements for `node`'s loop at its family's first node; nothing for the others."""
    from ..control.scan import family_key

    emitted: dict[Any, bool] = generator.__dict__.setdefault("scan_families", {})
    key = family_key(node)
    if key in emitted:
        return
    emitted[key] = True
    attrs = node.attr
    if attrs.get("recompute") is not None:
        raise Unsupported("a loop rebuilding carries from checkpoints")
    body: Subgraph = attrs["body"]
    members = [n for n in generator.plan.order if n.op is node.op and family_key(n) == key]
    number = len(emitted) - 1
    name = f"{generator.function_name}_loop{number}"
    generated, function, buffers = _body_function(f"{name}_body", body)
    generator.helpers.update(generated.helpers)
    every = attrs.get("checkpoint", 1)
    history = any(m.attr["output"][0] == "history" for m in members)
    lines = function + ["", ""] + _driver(name, body, history, every, bool(attrs["reverse"]),
                                          len(generated.constants), generated.range_flag,
                                          int(attrs.get("unroll", 1)), buffers)
    generator.programs.extend(lines)
    _call(generator, node, members, body, generated, name, history, every)


def drivers(outputs: Any) -> int:
    """How many loop drivers `emit_scan` writes for a graph: one per loop family (the key
    it emits by), counted from the graph, not from the generated text (backend/scan_loops.py)."""
    from ..control.scan import family_key
    from ..lowering import Loop

    return len({family_key(n) for n in toposort(outputs) if isinstance(n.op.lowering, Loop)})


def _call(generator: Any, node: Node, members: list[Node], body: Subgraph, generated: Any,
          name: str, history: bool, every: int) -> None:
    """Buffers, the driver call and the members' variables, in the graph function."""
    nc, nx = body.carries, body.xs
    inputs = node.inputs
    by_output = {m.attr["output"]: m for m in members}
    if nx:
        count = f"{generator.variable(inputs[nc], node)}.shape[0]"
    else:
        count = generator.size(node.attr["length"])
    generator.helpers.add("empty")
    write = generator.writer.emit
    buffers = []
    try:
        for j, y in enumerate(body.outputs[nc:]):
            member = by_output.get(("ys", j))
            buffer = generator.name(member) if member is not None else generator._unique(f"{name}_ys{j}")
            write(f"{buffer} = empty(({count},) + {format(generator.shape(y.shape))}, np.{y.dtype.name})",
                  f"per-step output {j} of {name}_body")
            buffers.append(buffer)
        for i, c in enumerate(body.inputs[:nc] if history else ()):
            member = by_output.get(("history", i))
            buffer = generator.name(member) if member is not None else generator._unique(f"{name}_saved{i}")
            rows = count if every == 1 else f"-(-{count} // {every})"
            write(f"{buffer} = empty(({rows},) + {format(generator.shape(c.shape))}, np.{c.dtype.name})",
                  f"carry {i} each step received (for the reverse pass)")
            buffers.append(buffer)
    except GraphcError as exc:
        raise Unsupported(f"a loop output size known only by running: {exc}") from None
    arguments = []
    for k, source in enumerate(inputs):
        value = generator.variable(source, node)
        arguments.append(f"np.ascontiguousarray({value})" if k < nc and source.ndim else value)
    for array in generated.constants:
        arguments.append(generator.variable(constant(np.array(array)), node))
    finals = [generator.name(by_output[("carry", i)]) if ("carry", i) in by_output
              else generator._unique(f"{name}_carry{i}") for i in range(nc)]
    flag = generator._unique(f"{name}_flag")
    # The comment names the body by its function, not by body#<n>: that number counts the
    # subgraphs the process built before, and the source is the cache key (a rebuild of the
    # same graph after another loop would compile again).
    write(f"{', '.join(finals + [flag])}, = {name}({count}, {', '.join(arguments + buffers)})",
          generator.describe(node).replace(f"body={body!r}", f"body={name}_body"))
    if generated.range_flag:
        from .codegen.text import RANGE_FLAG

        generator.range_flag = True
        write(f"{RANGE_FLAG} += {flag}")
    for member in members:
        generator.learn_sizes(member, generator.name(member))


__all__ = ["LOOP_FUNCTION", "Unsupported", "drivers", "emit_scan", "loop_functions"]


def _register() -> None:
    from ..lowering import Loop
    from .codegen.statements import NESTED

    NESTED[Loop] = emit_scan


_register()
