"""The block interpreter: large fused groups run as a program, not as generated loops.

Why: Numba's and LLVM's time grows with the code they compile, faster than
linearly in one loop body, so a graph of a thousand elementwise ops took
35-50 s to compile as generated loops. A group lowered here costs a few lines
of generated code whatever its size: its pointwise members become rows of an
int32 *program* (opcode, output register, input registers) that one
precompiled interpreter (graphc/backend/interpreter.py) runs on blocks of
BLOCK values. Every instruction is a loop over one block, so the interpreter's
loops vectorize with the kernels inlined; values live in a small register
file that stays in cache, not in arrays of the group's size.

The interpreter is generated from the ops' own `scalar` templates by
`interpreter_source()` and committed (`python -m graphc.backend.blocks`
rewrites it; a test fails when it is stale), so an op is still declared in
one place and the interpreter's machine code is cached once per installation.

Owns: which ops the interpreter runs (opcodes), which groups it runs, the
programs and their register allocation, and the interpreter's source.
Imports: ir, ops, schedule, kernels (layer L4); never numba.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import ops as _ops  # noqa: F401 - registers every op, so the opcode table is complete
from ..ir import OPS, Node, Op, toposort
from .kernels import KERNEL_NAMES, REDUCED_RANGE
from .library import HELPERS
from .schedule import Group, Schedule, kind, schedule

BLOCK = 512  # values per register: 258 registers of float64 are ~1 MB, streamed through L2
COLUMNS = 5  # opcode, output register, up to three input registers
# A graph is "large" above either figure; its groups of at least MIN_MEMBERS
# interpretable members then run in the interpreter (docs/codegen.md, "Large graphs").
LARGE_KERNEL_CALLS = 48
LARGE_POINTWISE = 384
MIN_MEMBERS = 8
GROUP_LIMIT = 64  # members of one generated loop body (the scheduler's cap)
INTERPRETER_PATH = Path(__file__).parent / "interpreter" / "run.py"
FLOAT_SUFFIXES: dict[str, np.dtype] = {"f64": np.dtype("float64"), "f32": np.dtype("float32")}
_PLACEHOLDERS = {"0", "1", "2", "suffix", "zero", "one"}


# --------------------------------------------------------------- opcodes

def _runs(op: Op) -> bool:
    """Whether the interpreter can run the op: a scalar template of its inputs only."""
    if op.scalar is None or op.arity is None or not 1 <= op.arity <= 3:
        return False
    fields = {name for _, name, _, _ in string.Formatter().parse(op.scalar) if name is not None}
    return fields <= _PLACEHOLDERS


def registry_opcodes() -> dict[str, int]:
    """Op name -> opcode for every registered op the interpreter could run (sorted by name).

    This numbers the interpreter's source when it is generated. Code
    generation uses `opcodes()` instead: the table compiled into the
    interpreter.
    """
    names = sorted(name for name, op in OPS.items() if _runs(op))
    return {name: code for code, name in enumerate(names)}


_committed: list[dict[str, int]] = []


def opcodes() -> dict[str, int]:
    """Op name -> opcode as compiled into graphc/backend/interpreter.py.

    The table is read from the file's text (importing it would import numba).
    An op registered later, at run time, is not in it: its nodes stay
    generated loops, and its arrival cannot renumber what the interpreter runs.
    """
    if not _committed:
        tree = ast.parse(INTERPRETER_PATH.read_text())
        table = next(ast.literal_eval(statement.value) for statement in tree.body
                     if isinstance(statement, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == "OPCODES"
                             for t in statement.targets))
        _committed.append({str(name): int(code) for name, code in table.items()})
    return _committed[0]


_bool_results: dict[str, bool] = {}


def _returns_bool(op: Op) -> bool:
    """Comparisons: their value is kept in a register as 1.0 or 0.0.

    Ops whose dtype is an attribute (zeros_like) need it to run; their
    register value is the same either way ({zero}: False and 0.0 are both 0).
    """
    if op.name not in _bool_results:
        arguments = [np.float64(0.5)] * (op.arity or 1)
        try:
            value = op.impl(*arguments)
        except TypeError:
            _bool_results[op.name] = False
        else:
            _bool_results[op.name] = bool(np.asarray(value).dtype == np.dtype("bool"))
    return _bool_results[op.name]


def kernel_calls(nodes: Sequence[Node]) -> int:
    """Scalar-kernel call sites (exp_{suffix}(...), ...) that generated loops of `nodes` contain."""
    return sum(node.op.scalar.count(name + "_{suffix}(")
               for node in nodes if node.op.scalar is not None for name in KERNEL_NAMES)


# ------------------------------------------------- which groups it runs

def is_literal(node: Node) -> bool:
    """A constant that is one value everywhere: a rank-0 constant, or a uniform array."""
    if node.op.name != "constant" or node.value is None:
        return False
    return node.value.ndim == 0 or uniform(node.value)


def uniform(value: np.ndarray | None) -> bool:
    """Whether an array constant is one value repeated (0.0 and -0.0 count as different).

    Folding `broadcast_to(100.0, (1,))` gives such arrays; read in a loop they
    are a literal, not one more argument for the call to pass and check.
    """
    if value is None or value.size == 0:
        return False
    first = value.flat[0]
    same = value == first
    if value.dtype.kind == "f":
        same &= np.signbit(value) == np.signbit(first)
    return bool(np.all(same))


def interpretable(group: Group) -> np.dtype | None:
    """The float dtype of the group's registers, or None if the interpreter cannot run it.

    Every pointwise member must be in one interpreter domain (`domain`).
    """
    if not group.shape:
        return None
    kinds = {domain(n) for n in group.members if kind(n) == "pointwise"}
    if len(kinds) != 1:
        return None
    name = kinds.pop()
    return None if name is None else np.dtype(name)


def _pointwise_count(group: Group) -> int:
    return sum(1 for n in group.members if kind(n) == "pointwise")


def is_large(nodes: Sequence[Node]) -> bool:
    """Whether generated loops for these nodes would compile slowly enough to interpret."""
    pointwise = [n for n in nodes if kind(n) == "pointwise"]
    return kernel_calls(pointwise) > LARGE_KERNEL_CALLS or len(pointwise) > LARGE_POINTWISE


def choose(plan: Schedule) -> dict[Group, np.dtype]:
    """The groups of `plan` the interpreter runs, with their register dtype."""
    groups = [u for u in plan.units if isinstance(u, Group)]
    if not is_large([n for g in groups for n in g.members]):
        return {}
    chosen: dict[Group, np.dtype] = {}
    for group in groups:
        if _pointwise_count(group) >= MIN_MEMBERS:
            dtype = interpretable(group)
            if dtype is not None:
                chosen[group] = dtype
    return chosen


def domain(node: Node) -> str | None:
    """The register dtype ("float64"/"float32") the interpreter would run `node` in, or None.

    Registers hold one float dtype, and a bool as 1.0/0.0. So the node must
    read values of that dtype, bools or literals, and be of that dtype itself,
    or be a comparison (its bool is exactly 1.0 or 0.0; `add` of two bools
    would give 2.0 where NumPy gives True). The scheduler keeps nodes of
    different domains in different groups and does not cap groups of an
    interpreter domain (schedule.py, "Domains"): a long chain becomes one
    program, and the int arithmetic or casts next to it stay in capped loops
    of their own. A string, not a dtype: `np.dtype("float64") == None` is True.
    """
    if kind(node) != "pointwise" or node.op.name not in opcodes():
        return None
    floats = {i.dtype for i in node.inputs if i.dtype.kind == "f" and not is_literal(i)}
    if node.dtype.kind == "b":
        if not _returns_bool(node.op):
            return None
    else:
        floats.add(node.dtype)
    if len(floats) != 1:
        return None
    dtype = floats.pop()
    for source in node.inputs:
        if source.dtype not in (dtype, np.dtype("bool")) and not is_literal(source):
            return None
    return dtype.name if dtype in FLOAT_SUFFIXES.values() else None


def schedule_for(inputs: Sequence[Node], outputs: Sequence[Node]) -> Schedule:
    """The schedule: in a large graph, uncapped groups of what the interpreter runs."""
    if not is_large(toposort(outputs)):
        return schedule(inputs, outputs, max_group_size=GROUP_LIMIT)
    return schedule(inputs, outputs, max_group_size=GROUP_LIMIT, domain=domain)


# -------------------------------------------------------------- programs

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


# --------------------------------------------------- interpreter source

def _reduced(op: Op, suffix: str) -> tuple[str, float] | None:
    """(sin_reduced_f64, limit) for ops whose kernel has a reduced-range form."""
    assert op.scalar is not None
    kernel = op.scalar.replace("{suffix}", suffix)
    reduced = kernel.replace("_" + suffix + "({0})", "_reduced_" + suffix)
    return (reduced, REDUCED_RANGE[reduced]) if reduced in REDUCED_RANGE else None


def _literal(value: int, dtype: np.dtype) -> str:
    return repr(float(value)) if dtype == np.dtype("float64") else f"np.{dtype.name}({float(value)!r})"


def _case(op: Op, suffix: str) -> list[str]:
    """The loop of one opcode: `out[j] = <the op's scalar template>` over the block."""
    assert op.scalar is not None
    dtype = FLOAT_SUFFIXES[suffix]
    zero, one = _literal(0, dtype), _literal(1, dtype)
    operands = []
    for position, register in enumerate("abc"[:op.arity]):
        condition = f"select({{{position}}}," in op.scalar
        operands.append(f"({register}[j] != {zero})" if condition else f"{register}[j]")
    body = []
    reduced = _reduced(op, suffix)
    if reduced is not None:
        name, limit = reduced
        body.append(f"far += abs(a[j]) > {limit!r}")
        expression = f"{name}(a[j])"
    else:
        expression = op.scalar.format(*operands, suffix=suffix, zero=zero, one=one)
    if _returns_bool(op):
        expression = f"select({expression}, {one}, {zero})"
    body.append(f"out[j] = {expression}")
    return ["for j in range(count):", *("    " + line for line in body)]


def _helpers(text: str) -> list[str]:
    """The jitted kernels and helpers `text` calls (`maximum(`, not `np.maximum(`)."""
    kernels = [f"{n}_{s}" for n in KERNEL_NAMES for s in FLOAT_SUFFIXES] + list(REDUCED_RANGE)
    return sorted(h for h in (*HELPERS, *kernels) if re.search(rf"(?<![\w.]){h}\(", text))


def interpreter_source() -> str:
    """The source of graphc/backend/interpreter/run.py, from the ops' scalar templates."""
    table = registry_opcodes()
    functions: list[str] = []
    for suffix in FLOAT_SUFFIXES:
        lines = [
            f"def run_{suffix}(program, registers, count):",
            f'    """Run `program` on the first `count` values of each {suffix} register; '
            'return the\n    number of sin/cos arguments beyond the reduced kernels\' range."""',
            "    far = 0",
            "    for k in range(program.shape[0]):",
            "        code = program[k, 0]",
            "        out = registers[program[k, 1]]",
            "        a = registers[program[k, 2]]",
            "        b = registers[program[k, 3]]",
            "        c = registers[program[k, 4]]",
        ]
        for position, (name, code) in enumerate(table.items()):
            lines.append(f"        {'if' if position == 0 else 'elif'} code == {code}:  # {name}")
            lines += ["            " + line for line in _case(OPS[name], suffix)]
        lines += ["    return far", "", "",
                  f"def entry_{suffix}(program, instructions, registers, rows, width, count):",
                  '    """The C entry point (graphc_interpret_' + suffix + '): pointers '
                  'and sizes in, no Python objects."""',
                  f"    return run_{suffix}(carray(program, (instructions, {COLUMNS})), "
                  "carray(registers, (rows, width)), count)"]
        functions.append("\n".join(lines))
    body = "\n\n\n".join(functions)
    header = [
        "# mypy: ignore-errors",
        '"""The block interpreter. GENERATED by `python -m graphc.backend.blocks`: do not edit.',
        "",
        "One loop per opcode, each `out[j] = <the op's scalar template>` over a block",
        "of values, so LLVM vectorizes it with the kernels inlined. graphc.backend.interpreter.link",
        "jits `run_f64`/`run_f32` and exports `entry_f64`/`entry_f32` as C functions that",
        "generated code calls (see graphc/backend/blocks.py for why).",
        '"""',
        "",
    ]
    imports = ["carray", *_helpers(body)]
    if "math." in body:
        header.append("import math")
        header.append("")
    header += ["import numpy as np  # noqa: F401 - np.float32 literals, np.sign", "",
               "from graphc.backend.runtime import (",
               *(f"    {name}," for name in imports), ")", "",
               "OPCODES = {", *(f"    {name!r}: {code}," for name, code in table.items()),
               "}", "", ""]
    return "\n".join(header) + body + "\n"


def main() -> None:
    """Rewrite graphc/backend/interpreter/run.py after adding or changing an elementwise op."""
    INTERPRETER_PATH.write_text(interpreter_source())
    _committed.clear()
    print(f"wrote {INTERPRETER_PATH} ({len(registry_opcodes())} opcodes)")


if __name__ == "__main__":
    main()
