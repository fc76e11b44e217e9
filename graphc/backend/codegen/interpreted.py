"""`Interpreted`: a fused group run by the block interpreter (see graphc/backend/policy.py).

Owns: the program listing at module level, the per-block loads, the call of
`interpret_f64`/`interpret_f32`, and the stores and sums of its results.
Imports: loops, text, interpreter.program. Entry point: subclassed by statements.Generator.
"""

from __future__ import annotations

import numpy as np

from ... import dtypes, shapes
from ...ir import Node
from ..interpreter.opcodes import BLOCK
from ..interpreter.program import Program, build
from ..schedule import Group, kind
from .loops import Loops, _broadcast
from .text import RANGE_FLAG, literal, subscript


class Interpreted(Loops):
    """The emitter of interpreted groups."""

    def emit_interpreted(self, group: Group, dtype: np.dtype) -> None:
        """A group run by the block interpreter (policy.py): per block, load, run, store.

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

        program = build(group, dtype, kept=lambda node: node in materialized,
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
            self.writer.emit(f"for block_number in prange(({total} + {BLOCK - 1}) "
                             f"// {BLOCK}):")
            self.writer.depth += 1
            self.writer.emit(f"block_start = block_number * {BLOCK}")
        self.writer.emit(f"{registers} = empty(({program.registers}, {BLOCK}), "
                         f"np.{dtype.name})",
                         f"{program_name}'s registers, {BLOCK} values each")
        if program.fills:  # a loop, not `registers[r, :] = v`: Numba's slice stores are big
            self.writer.emit(f"for flat in range({BLOCK}):")
            for register, text, source in program.fills:
                self.writer.emit(f"    {registers}[{register}, flat] = {text}",
                                 f"r{register} = {self.text_of(source)}")
        if not parallel:
            self.writer.emit(f"for block_start in range(0, {total}, {BLOCK}):")
            self.writer.depth += 1
        self.writer.emit(f"block_count = min({BLOCK}, {total} - block_start)")
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
                    self.writer.emit(f"{subscript(self.name(node), index)} = "
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

    def _list_program(self, program: Program, name: str) -> None:
        """The program as a module-level array, each instruction with the node it computes."""
        self.instructions += len(program.rows)
        lines = [f"{name} = np.array([  # block program: opcode, output, inputs (registers)"]
        for number, (row, node) in enumerate(zip(program.rows, program.computes)):
            reads = ", ".join(f"r{r}" for r in program.operands(number))
            lines.append(f"    ({', '.join(map(str, row))}),  # r{row[1]} = {node.op.name} "
                         f"{reads}: {self.describe(node)}")
        self.programs += [*lines, "], np.int32)", ""]
