"""A fused group as an interpreter program: instructions over a small register file.

Owns: `Program` and `build()` (instruction selection and register
allocation). Imports: opcodes, schedule. Entry point: `build`, called by
codegen's interpreted emitter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...ir import Node
from ..schedule import Group, kind
from .opcodes import COLUMNS, _reduced, opcodes


@dataclass
class Program:
    """One group as interpreter instructions over a register file of `registers` rows.

    `loads` are read from arrays into their register before each block,
    `fills` (expressions the same for every element) written once; `results`
    says where each member's value is after the run (the caller stores or
    reduces it from there).
    """

    dtype: np.dtype
    rows: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    computes: list[Node] = field(default_factory=list)  # the member of each row
    registers: int = 0
    loads: list[tuple[int, Node, Node]] = field(default_factory=list)  # register, value, reader
    fills: list[tuple[int, str, Node]] = field(default_factory=list)  # register, text, value
    results: dict[Node, int] = field(default_factory=dict)
    range_checked: bool = False  # some instruction counts sin/cos arguments beyond range

    def operands(self, row: int) -> list[int]:
        """The input registers instruction `row` reads."""
        arity = self.computes[row].op.arity or 0
        return list(self.rows[row][2:2 + arity])


def build(group: Group, dtype: np.dtype, kept: Callable[[Node], bool],
          invariant: Callable[[Node, Node], str | None] = lambda source, reader: None,
          ) -> Program:
    """The program of an interpretable group; `kept(member)`: its value is needed after the run.

    Registers: one per value read from outside, then one per member, reused
    once the member's last reader ran. A value the same for every element
    (`invariant(source, reader)` gives its expression: a literal, a rank-0
    input) is filled once, one register per distinct expression; the others
    are loaded every block. An instruction never writes a register it reads:
    in place, the loop's stores could alias its loads and LLVM would not
    vectorize it.
    """
    table = opcodes()
    program = Program(dtype=dtype)
    pointwise = [n for n in group.members if kind(n) == "pointwise"]
    members = set(pointwise)
    needed = {n for n in pointwise if kept(n)}
    needed |= {r.inputs[0] for r in group.members if kind(r) == "reduction"
               and r.inputs[0] in members}
    last_read: dict[Node, int] = {}
    for position, node in enumerate(pointwise):
        for source in node.inputs:
            last_read[source] = position
    register = _outside_registers(program, pointwise, members, invariant)
    top = len(set(register.values()))
    free: list[int] = []
    for position, node in enumerate(pointwise):
        if free:
            out = free.pop()
        else:
            out, top = top, top + 1
        operands = [register[s] for s in node.inputs]
        program.rows.append(tuple([table[node.op.name], out]  # type: ignore[arg-type]
                                  + operands + [0] * (COLUMNS - 2 - len(operands))))
        program.computes.append(node)
        program.range_checked |= _reduced(node.op, "f64") is not None
        for source in dict.fromkeys(node.inputs):
            if source in members and last_read[source] == position and source not in needed:
                free.append(register[source])
        register[node] = out
        if node in needed:
            program.results[node] = out
        elif node not in last_read:
            free.append(out)  # never read (an output of the group only through a view)
    program.registers = top
    return program


def _outside_registers(program: Program, pointwise: list[Node], members: set[Node],
                       invariant: Callable[[Node, Node], str | None]) -> dict[Node, int]:
    """Registers 0, 1, ... for the values the group reads from outside, in order of first use.

    Each is loaded every block (`program.loads`) unless `invariant` gives it an
    expression, which is filled once (`program.fills`): sources with the same
    expression share one register. Split out of `build`, which numbers the
    members' registers after these.
    """
    register: dict[Node, int] = {}
    filled: dict[str, int] = {}
    top = 0
    for node in pointwise:
        for source in node.inputs:
            if source in members or source in register:
                continue
            text = invariant(source, node)
            if text is not None and text in filled:
                register[source] = filled[text]
                continue
            register[source], top = top, top + 1
            if text is not None:
                filled[text] = register[source]
                program.fills.append((register[source], text, source))
            else:
                program.loads.append((register[source], source, node))
    return register
