"""`Interpreted`: a fused group run by the block interpreter (see graphc/backend/policy.py).

Owns: the program listing at module level, the per-block loads, the call of
`interpret_f64`/`interpret_f32`, and the stores and sums of its results.
Imports: loops, text, interpreter.program. Entry point: subclassed by statements.Generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import dtypes, shapes
from ...ir import Node
from ..interpreter.opcodes import BLOCK
from ..interpreter.program import Program, build
from ..schedule import Group, kind
from .loops import Loops, _broadcast, _reduction
from .text import RANGE_FLAG, literal, subscript

# A register's row in the register file: BLOCK values and a cache line of padding.
# Rows exactly 4 KiB apart (512 float64) all map to one L1 cache set, so the
# per-element loads and stores, which touch one value in each of many rows,
# evicted each other: a group adding 100 arrays of 20x101 ran 16x slower than a
# loop (issue 17, the HMM's d_log_B). The interpreter only reads the first
# block_count values of a row.
ROW = BLOCK + 8


@dataclass(frozen=True)
class _Run:
    """One interpreted group's names: its program, register file, dtype, register column."""

    program: Program
    program_name: str
    registers: str
    dtype: np.dtype
    position: str  # the register column of the current element

    @property
    def suffix(self) -> str:
        return dtypes.short_name(self.dtype)


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

        program = build(group, dtype, kept=lambda node: node in materialized, invariant=invariant)
        number = self.program_count
        self.program_count += 1
        run = _Run(program, self._unique(f"program{number}"), self._unique(f"registers{number}"),
                   dtype, "i0 - block_start" if len(group.shape) == 1 else "flat - block_start")
        self._list_program(program, run.program_name)
        self.helpers.update({"empty", f"interpret_{run.suffix}"})
        for node in group.members:  # allocations and accumulator initial values
            if kind(node) == "reduction":
                self._init_accumulator(node)
            elif node in materialized and node.ndim > 0:
                self.allocate(node, "empty", f"{format(self.shape(node.shape))}, np.{node.dtype.name}")
        summed = [node for node in group.members if kind(node) == "reduction"
                  and node.ndim == 0 and node.dtype == dtype and node.inputs[0] in program.results
                  and _reduction(node).additive]
        stored = [node for node in group.members if node not in summed and (
            kind(node) == "reduction" or node in materialized and node.ndim > 0)]
        # Blocks may run on all cores if none accumulates into an array element
        # another block also writes; `+=` sums are prange reductions.
        parallel = self.parallel and not any(kind(node) == "reduction" for node in stored)
        self.in_prange = parallel  # read by _accumulate (always serial here, see above)
        self._open_blocks(group, run, parallel)
        self._load_block(group, run)
        self._run_program(run)
        self._store_results(group, run, stored, summed)
        self.writer.depth -= 1
        for node in group.members:
            self.locals.pop(node, None)
            if kind(node) == "reduction":
                self._finish(node)

    def _open_blocks(self, group: Group, run: _Run, parallel: bool) -> None:
        """The register file, the registers filled once, and the loop over blocks."""
        total = " * ".join(self.size(size) for size in group.shape)
        if parallel:
            self.used_prange = True
            self.writer.emit(f"for block_number in prange(({total} + {BLOCK - 1}) // {BLOCK}):")
            self.writer.depth += 1
            self.writer.emit(f"block_start = block_number * {BLOCK}")
        self.writer.emit(f"{run.registers} = empty(({run.program.registers}, {ROW}), "
                         f"np.{run.dtype.name})",
                         f"{run.program_name}'s registers, {BLOCK} values each")
        if run.program.fills:  # a loop, not `registers[r, :] = v`: Numba's slice stores are big
            self.writer.emit(f"for flat in range({BLOCK}):")
            for register, text, source in run.program.fills:
                self.writer.emit(f"    {run.registers}[{register}, flat] = {text}",
                                 f"r{register} = {self.text_of(source)}")
        if not parallel:
            self.writer.emit(f"for block_start in range(0, {total}, {BLOCK}):")
            self.writer.depth += 1
        self.writer.emit(f"block_count = min({BLOCK}, {total} - block_start)")

    def _load_block(self, group: Group, run: _Run) -> None:
        """Copy this block of each value read from an array into its register."""
        if not run.program.loads:  # none when every input is loop-invariant (a filled register)
            return
        index, _ = self._open_block_elements(group.shape)
        for register, source, reader in run.program.loads:
            value = self.access(source, _broadcast(source.shape, group.shape, index), reader)
            self.writer.emit(f"{run.registers}[{register}, {run.position}] = {value}",
                             f"r{register} = {self.text_of(source)}")
        self.writer.depth -= 1

    def _run_program(self, run: _Run) -> None:
        """The interpreter call; afterwards each member's value is its register's element."""
        call = f"interpret_{run.suffix}({run.program_name}, {run.registers}, block_count)"
        if run.program.range_checked:
            self.range_flag = True
            call = f"{RANGE_FLAG} += {call}"
        self.writer.emit(call, f"{len(run.program.rows)} instructions of {run.program_name}")
        for node, register in run.program.results.items():
            value = f"{run.registers}[{register}, {run.position}]"
            self.locals[node] = f"({value} != 0)" if node.dtype.kind == "b" else value

    def _store_results(self, group: Group, run: _Run, stored: list[Node],
                       summed: list[Node]) -> None:
        """Store members needed later, accumulate reductions, add whole-block sums."""
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
            row = run.program.results[node.inputs[0]]
            self.helpers.add("sum_block")
            self.writer.emit(f"{self.name(node)} += sum_block({run.registers}[{row}], block_count, "
                             f"{literal(0, run.dtype)})", self.describe(node))

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
