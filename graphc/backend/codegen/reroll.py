"""Kernel mode: runs of structurally identical statements become one compiled loop (re-rolling).

Owns: `reroll(body, ...)` -> the graph function's lines with every long run
of repeated steps replaced by one call of a Numba-compiled loop function, and
those loops (`Loop`: `reroll_<hash>` in a cached module of its own, its text
canonical, so another graph with the same steps, e.g. one more layer or time
step, shares its machine code). Why: a model unrolled in Python (an HMM over T steps, an RNN, a chain
of identical layers) is a *large* graph, so it runs in kernel mode: plain
Python calling the shared kernels, ~10 statements per step at ~1-2 us each
(allocations, the Numba dispatcher's type resolution, views). The steps are
the same kernel calls on other buffers, so they can be one loop that Numba
compiles once (its size does not depend on T) and that calls the kernels
without Python in between.

How (structural, nothing model-specific, no generated text read): every
statement carries its record (codegen/steps.py: the code as literal pieces and
operand slots, the value names and index integers in the slots, whether it
is a view or an allocation), written by the emitter that made it. Views
(`t5 = t4[:, None]`, `t3 = log_B[:, 67]`) are substituted into their uses,
slots into slots; each other statement's key is its pieces and the kinds of its
operands (so `log_B[:, 67]` and `log_B[:, 81]` match: an index integer is an
operand); a run is a block of K keys repeated R times (reroll_runs.Runs).
Each name a step reads is then classified by where it was defined: in the
same step (a local), in the previous step (carried: a
stacked buffer with the initial value in slot 0), before the run with the
same name in every step (invariant, passed as is) or another name in each
step (gathered: a previous run's stacked buffer at an affine index, or
`np.stack` of the values); index integers that differ become an int64
array. A value used outside its step is stacked: allocated once as
`(R, *shape)` before the loop (the step's `empty`/`full` becomes a view of
slot k, so the kernel writes in place), and a later statement that needs it
binds `t = stack[r]`. Anything that does not fit leaves the run unrolled,
and so does a step that stacks more than MAX_BYTES_PER_STATEMENT per
statement (its loop would be slower than the Python it replaces).
Imports: reroll_lines (the body as records), reroll_runs (the search),
reroll_module (a loop's module), steps, NumPy.
Entry point: codegen._kernel_mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import reroll_runs as runs_
from .reroll_lines import Context, Describe
from .reroll_module import Loop, canonical, module, prose, summary
from .reroll_runs import MIN_REPEATS, affine
from .steps import Allocation, render

Imports = Callable[[Sequence[str]], list[str]]


@dataclass
class Rerolled:
    """The new body lines, module-level constants for the graph module, and the loops."""

    body: list[str]
    functions: list[str] = field(default_factory=list)  # each loop's `def` (its module's body)
    loops: list[Loop] = field(default_factory=list)
    constants: list[str] = field(default_factory=list)  # `rr0_c0 = np.array([...], np.int64)`
    runs: list[tuple[int, int]] = field(default_factory=list)  # (statements per step, steps)


# What a step may move through stacked buffers (fresh each call: no workspace reuse, page
# faults) and `np.stack` copies, per statement it saves (~1-2 us of Python each). The HMM's
# steps move 0.7-1.6 KB per statement and their loop halves the call; the 64-layer tanh MLP's
# (width 32, batch 64: a product and one kernel per step) move 5-10 KB and their loops made
# the call 1.6x slower (docs/benchmarks.md, table 27), so they stay unrolled.
MAX_BYTES_PER_STATEMENT = 4096


def _bytes(shape: tuple[int, ...], dtype: str) -> int:
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype.removeprefix("np.")).itemsize


class _Unfit(Exception):
    """This run cannot be one loop (the reason is the message)."""


@dataclass
class _Stack:
    name: str
    parameter: str  # the loop's name for it (a0, ...)
    shape: tuple[int, ...]
    dtype: str
    fill: str | None  # an allocation's fill value (`full`), else None
    offset: int  # 1: carried (slot 0 holds the initial value)
    initial: str | None = None
    allocation: bool = False


class _Run:
    """One run: `period` core statements repeated `repeats` times from core index `start`.

    The loop's code is written in its canonical names at once: the trip index
    `k`, parameters a0.. (in the order `argument` meets them), the first step's
    values r0.. (in statement order); reroll_module names the loop by its text.
    """

    def __init__(self, context: Context, start: int, period: int, repeats: int, prefix: str) -> None:
        self.c, self.start, self.period, self.repeats, self.prefix = \
            context, start, period, repeats, prefix
        self.first = context.core[start]
        self.last = context.core[start + period * repeats - 1]
        self.steps = [[context.lines[context.core[start + r * period + j]] for j in range(period)]
                      for r in range(repeats)]
        targets = [name for line in self.steps[0] for name in line.targets]
        self.local = {name: f"r{i}" for i, name in enumerate(targets)}
        self.stacks: dict[tuple[int, int], _Stack] = {}
        self.arguments: list[str] = []  # the loop function's parameters after `count`
        self.values: list[str] = []  # what Python passes for them
        self.before: list[str] = []  # Python lines before the call
        self.module: list[str] = []  # module-level constants
        self.copied = 0  # bytes per step that `np.stack` copies before the loop (gathered values)
        self.gathers = 0  # values gathered by `np.stack` so far

    def site(self, name: str) -> tuple[int, int, int] | None:
        """(step, statement, target) of a name assigned within the run, else None."""
        at = self.c.defined_at.get(name)
        if at is None or not self.first <= at <= self.last:
            return None
        index = self.c.core_at[at] - self.start
        line = self.c.lines[at]
        return index // self.period, index % self.period, line.targets.index(name)

    def argument(self, parameter: str, value: str) -> str:
        """The loop's name (a0, ...) of a parameter, Python passing `value` for it."""
        if parameter not in self.arguments:
            self.arguments.append(parameter)
            self.values.append(value)
        return f"a{self.arguments.index(parameter)}"

    def stack(self, j: int, m: int) -> _Stack:
        if (j, m) in self.stacks:
            return self.stacks[(j, m)]
        line = self.steps[0][j]
        assert line.step is not None
        allocation = line.step.allocation if len(line.targets) == 1 else None
        if allocation is None and line.step.allocates:
            raise _Unfit("a rank-0 allocation")
        if allocation is None:
            described = self.c.describe(line.targets[m])
            if described is None:
                raise _Unfit(f"no static shape for {line.targets[m]}")
            allocation = Allocation(described[0], described[1])
        name = f"{self.prefix}_s{len(self.stacks)}"
        self.stacks[(j, m)] = _Stack(name, self.argument(name, name), allocation.shape,
                                     allocation.dtype, allocation.fill, 0,
                                     allocation=line.step.allocation is not None)
        return self.stacks[(j, m)]

    def plan(self) -> list[tuple[str, str]]:
        """The loop function's body (code, comment); fills stacks, arguments and Python lines."""
        statements = self.planned()
        moved = self.copied + sum(_bytes(s.shape, s.dtype) for s in self.stacks.values())
        if moved > MAX_BYTES_PER_STATEMENT * self.period:
            raise _Unfit(f"{moved} bytes stacked per step of {self.period} statements")
        return statements

    def planned(self) -> list[tuple[str, str]]:
        carried: dict[tuple[int, int], str] = {}
        replaced: list[dict[int, str]] = []
        for j in range(self.period):
            replaced.append(self.positions(j, carried))
        for (j, m), initial in carried.items():
            stack = self.stack(j, m)
            stack.offset, stack.initial = 1, initial
            described = self.c.describe(initial)
            if described is None or described != (stack.shape, stack.dtype):
                raise _Unfit(f"initial value {initial} differs from the step's {stack.shape}")
        for j, line in enumerate(self.steps[0]):
            for m in range(len(line.targets)):
                if any(self.c.used_after(step[j].targets[m], self.last) for step in self.steps):
                    self.stack(j, m)
        return self.statements(replaced)

    def positions(self, j: int, carried: dict[tuple[int, int], str]) -> dict[int, str]:
        """How statement j reads each operand (value name, index integer): slot -> loop code."""
        per_step = [step[j].operands for step in self.steps]
        out: dict[int, str] = {}
        for index, operand in enumerate(per_step[0]):
            values = [p[index] for p in per_step]
            if isinstance(operand, int):
                if len(set(values)) > 1:  # an index that differs per step: a module-level array
                    name = f"{self.prefix}_c{len(self.module)}"
                    self.module.append(f"{name} = np.array([{', '.join(map(str, values))}], np.int64)")
                    out[index] = f"{self.argument(name, name)}[k]"
                continue
            names = [str(v) for v in values]
            sites = [self.site(n) for n in names]
            if all(s is None for s in sites):
                out[index] = self.outside(names)
            elif all(s is not None and s[0] == r and s[1:] == sites[0][1:]  # type: ignore[index]
                     and s[1] < j for r, s in enumerate(sites)):
                out[index] = self.local[names[0]]  # a value of this step
            elif sites[0] is None and all(
                    s is not None and s[0] == r and s[1:] == sites[1][1:]  # type: ignore[index]
                    for r, s in enumerate(sites[1:])):
                key = sites[1][1:]  # type: ignore[index]
                if carried.setdefault(key, names[0]) != names[0]:
                    raise _Unfit("two initial values for one carried value")
                out[index] = f"{self.stack(*key).parameter}[k]"
            else:
                raise _Unfit(f"{names[:3]}... come from other steps")
        return out

    def outside(self, names: list[str]) -> str:
        """A value defined before the run: one name (invariant) or one per step (gathered)."""
        if len(set(names)) == 1:
            name = names[0]
            if name in self.c.stacked and name in self.c.env:
                self.before += self.c.bindings([name])
            return self.argument(name, name)
        slots = [self.c.stacked.get(n) for n in names]
        if all(s is not None and s[0] == slots[0][0] for s in slots):  # type: ignore[index]
            first, step = slots[0][1], slots[1][1] - slots[0][1]  # type: ignore[index]
            if all(s[1] == first + step * r for r, s in enumerate(slots)):  # type: ignore[index]
                stack = slots[0][0]  # type: ignore[index]
                if step < 0:  # read backwards from the end: the offset depends on the trip count
                    offset = self.argument(f"{self.prefix}_o{len(self.arguments)}", str(first))
                    return f"{self.argument(stack, stack)}[{offset} - {affine(0, -step, 'k')}]"
                return f"{self.argument(stack, stack)}[{affine(first, step, 'k')}]"
        if any(self.c.lines[self.c.defined_at[n]].step.allocates  # type: ignore[union-attr]
               for n in names if n in self.c.defined_at and self.c.lines[self.c.defined_at[n]].step):
            raise _Unfit("a step may write into its buffer: a stacked copy would lose it")
        described = {self.c.describe(n) for n in names}
        if len(described) != 1 or None in described:
            raise _Unfit("gathered values of different shapes")
        shape, dtype = described.pop()  # type: ignore[misc]
        self.copied += _bytes(shape, dtype)
        values = [f"{s[0]}[{s[1]}]" if (s := self.c.stacked.get(n)) else n for n in names]
        name = f"{self.prefix}_g{self.gathers}"
        self.gathers += 1
        if shape:
            self.before.append(f"    {name} = np.stack(({', '.join(values)},))")
        else:
            self.before.append(f"    {name} = np.array([{', '.join(values)}], {dtype})")
        return f"{self.argument(name, name)}[k]"

    def statements(self, replaced: list[dict[int, str]]) -> list[tuple[str, str]]:
        """The loop body in canonical names: each statement, then the stores of stacked values."""
        out: list[tuple[str, str]] = []
        stores: list[tuple[str, str]] = []
        for j, line in enumerate(self.steps[0]):
            stack = self.stacks.get((j, 0))
            targets = [self.local[t] for t in line.targets]
            if stack is not None and stack.allocation:
                out.append((f"{targets[0]} = {stack.parameter}[{affine(stack.offset, 1, 'k')}]",
                            line.comment))
                continue
            operands = [replaced[j].get(i, str(o)) for i, o in enumerate(line.operands)]
            assert line.step is not None
            out.append((render(line.form or (), operands, targets, line.step.unpack), line.comment))
            for m, name in enumerate(targets):
                if (j, m) in self.stacks:  # at the step's end: a later statement may write into it
                    s = self.stacks[(j, m)]
                    stores.append((f"{s.parameter}[{affine(s.offset, 1, 'k')}] = {name}", ""))
        return out + stores

    def python(self, function: str) -> list[str]:
        """The graph function's lines for the run: stacks, initial values, the call."""
        lines: list[str] = []
        for stack in self.stacks.values():
            size = self.repeats + stack.offset
            shape = ", ".join(str(d) for d in (size, *stack.shape))
            if stack.fill is not None:
                lines.append(f"    {stack.name} = np.full(({shape}), {stack.fill}, {stack.dtype})")
            else:
                lines.append(f"    {stack.name} = np.empty(({shape}), {stack.dtype})")
            if stack.initial is not None:
                lines += self.c.bindings([stack.initial])
                lines.append(f"    {stack.name}[0] = {stack.initial}")
        lines += self.before
        lines.append(f"    {function}({self.repeats}, {', '.join(self.values)})  "
                     f"# {self.repeats} steps of {self.period} statements, rerolled: "
                     + summary([line.comment for line in self.steps[0]]))
        return lines

    def loop(self, body: list[tuple[str, str]], imports: Imports) -> Loop:
        """The shared loop module of the planned body (its comments' names made canonical)."""
        renamed = {name: f"a{i}" for i, name in enumerate(self.arguments)} | self.local
        comments = prose([comment for _, comment in body], renamed, self.c.local | set(self.c.views))
        rendered = [(code, comment) for (code, _), comment in zip(body, comments)]
        shown = [line for j, line in enumerate(self.steps[0])
                 if not ((stack := self.stacks.get((j, 0))) is not None and stack.allocation)]
        calls = list(dict.fromkeys(c for line in shown if line.step for c in line.step.calls))
        helpers = sorted({h for line in shown if line.step for h in line.step.helpers})
        return module(canonical(rendered, len(self.arguments)), calls, helpers,
                      any(line.step.math for line in shown if line.step), imports)

    def publish(self) -> None:
        """After the run: later Python lines read its stacked values and views through `env`."""
        for (j, m), stack in self.stacks.items():
            for r, step in enumerate(self.steps):
                name = step[j].targets[m]
                self.c.stacked[name] = (stack.name, r + stack.offset)
                self.c.env[name] = f"{stack.name}[{r + stack.offset}]"
        for line in self.c.lines[self.first:self.last + 1]:
            if line.view:
                self.c.env[line.targets[0]] = line.right()


def reroll(body: Sequence[str], results: Sequence[str], parameters: Sequence[str],
           describe: Describe, imports: Imports = lambda helpers: []) -> Rerolled:
    """The graph function's body with its long runs of repeated steps as calls of loop functions.

    `body`: lines whose records (codegen/steps.py) say what each statement is;
    `describe(name)`: (static shape, dtype text `np.float64`) of a graph value
    or None; `imports(helpers)`: the import lines of the jitted helpers a loop calls.
    """
    context = Context(body, results, parameters, describe)
    names = set(context.local) | {n for line in context.lines for n in line.names()}
    base = "rr"
    while any(name.startswith(base) for name in names):
        base += "_"
    out = Rerolled([])
    done, core = 0, 0
    runs = runs_.Runs(context.keys)
    failed: dict[tuple[int, int], int] = {}  # (period, phase) -> end of a region no plan fitted
    while core < len(context.core):
        found = runs.find(core)
        if found is None or failed.get((found[0], core % found[0]), -1) >= core:
            core += 1  # a phase of a region that did not fit: planning every start was quadratic
            continue  # (0.26 s for the 64-layer MLP's 700 lines, a named batch size: no fit)
        run = _first_fit(context, core, found, f"{base}{len(out.runs)}")
        if run is None:
            failed[(found[0], core % found[0])] = core + found[0] * found[1]
            core += 1
            continue
        loop, run_body = run
        for line in context.lines[done:loop.first]:
            out.body += context.python(line)
        shared = loop.loop(run_body, imports)
        out.body += loop.python(shared.name)
        done = loop.last + 1
        loop.publish()
        out.constants += loop.module
        if shared.name not in {known.name for known in out.loops}:
            out.loops.append(shared)
            out.functions.append(shared.source[shared.source.index("def "):])
        out.runs.append((loop.period, loop.repeats))
        core = loop.start + loop.period * loop.repeats
    for line in context.lines[done:]:
        out.body += context.python(line)
    out.body += context.bindings(list(results))
    return out


def _first_fit(context: Context, core: int, found: tuple[int, int],
               prefix: str) -> tuple[_Run, list[tuple[str, str]]] | None:
    """The run `found` (period, repeats) at `core` (or one step later), planned; None if none
    fits (the caller then plans each other phase of the region once, not every start)."""
    period, repeats = found
    for start, count in ((core, repeats), (core + period, repeats - 1)):
        if count < MIN_REPEATS or count * period < runs_.MIN_STATEMENTS:
            continue
        run = _Run(context, start, period, count, prefix)
        saved = dict(context.env)
        try:
            return run, run.plan()
        except _Unfit:
            context.env.clear()
            context.env.update(saved)  # bindings a failed plan made are not emitted
    return None
