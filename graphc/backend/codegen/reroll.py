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

How (structural, nothing model-specific): views (`t5 = t4[:, None]`,
`t3 = log_B[:, 67]`) are substituted into their uses; each other statement
gets a key (its syntax tree with value names blanked, literal indices
blanked: `log_B[:, 67]` and `log_B[:, 81]` match); a run is a block of K
keys repeated R times. Each name a step reads is then classified by where it
was defined: in the same step (a local), in the previous step (carried: a
stacked buffer with the initial value in slot 0), before the run with the
same name in every step (invariant, passed as is) or another name in each
step (gathered: a previous run's stacked buffer at an affine index, or
`np.stack` of the values); literal indices that differ become an int64
array. A value used outside its step is stacked: allocated once as
`(R, *shape)` before the loop (the step's `empty`/`full` becomes a view of
slot k, so the kernel writes in place), and a later statement that needs it
binds `t = stack[r]`. Anything that does not fit leaves the run unrolled,
and so does a step that stacks more than MAX_BYTES_PER_STATEMENT per
statement (its loop would be slower than the Python it replaces).
Imports: reroll_text (the text side), reroll_module (a loop's module), NumPy.
Entry point: codegen._kernel_mode.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import reroll_text as scan
from .reroll_module import HELPER_PREFIX, Loop, canonical, module
from .reroll_text import MIN_REPEATS

Describe = Callable[[str], "tuple[tuple[int, ...], str] | None"]

@dataclass
class Rerolled:
    """The new body lines, module-level constants for the graph module, and the loops."""

    body: list[str]
    functions: list[str] = field(default_factory=list)  # each loop's `def` (its module's body)
    loops: list[Loop] = field(default_factory=list)
    constants: list[str] = field(default_factory=list)  # `rr0_c0 = np.array([...], np.int64)`
    helpers: set[str] = field(default_factory=set)  # NumPy-level helpers the loops call jitted
    runs: list[tuple[int, int]] = field(default_factory=list)  # (statements per step, steps)


# What a step may move through stacked buffers (fresh each call: no workspace reuse, page
# faults) and `np.stack` copies, per statement it saves (~1-2 us of Python each). The HMM's
# steps move 0.7-1.6 KB per statement and their loop halves the call; the 64-layer tanh MLP's
# (width 32, batch 64: a product and one kernel per step) move 5-10 KB and their loops made
# the call 1.6x slower (docs/benchmarks.md, table 27), so they stay unrolled.
MAX_BYTES_PER_STATEMENT = 4096


def _bytes(shape: tuple[int, ...], dtype: str) -> int:
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype.removeprefix("np.")).itemsize


class _Context:
    """What the whole body knows: parsed lines, definitions, last uses, names bound in Python."""

    def __init__(self, body: Sequence[str], results: Sequence[str], parameters: Sequence[str],
                 describe: Describe) -> None:
        self.lines = scan.lines(body)
        self.describe = describe
        self.core = [i for i, line in enumerate(self.lines) if not line.view]
        self.keys = [scan.key(self.lines[i]) for i in self.core]
        self.defined_at = {name: i for i, line in enumerate(self.lines) for name in line.targets}
        self.local = set(parameters) | set(self.defined_at)
        self.views = {line.targets[0]: line.text or "" for line in self.lines if line.view}
        self.last_use: dict[str, int] = {}
        for index, line in enumerate(self.lines):
            self._use(scan.TOKEN.findall(line.code) + scan.TOKEN.findall(line.text or ""),
                      index)
        self._use(list(results), len(self.lines))
        self.env: dict[str, str] = {}  # name -> how Python reads it after its run (`rr0_s1[5]`)
        self.stacked: dict[str, tuple[str, int]] = {}  # name -> (stack, slot)

    def _use(self, names: Sequence[str], index: int) -> None:
        for name in names:
            self.last_use[name] = max(self.last_use.get(name, -1), index)
            if name in self.views:
                for base in scan.TOKEN.findall(self.views[name]):
                    self.last_use[base] = max(self.last_use.get(base, -1), index)

    def bindings(self, names: Sequence[str]) -> list[str]:
        """`t = rr0_s1[5]` lines for the names a Python line is about to read (once each)."""
        out: list[str] = []
        for name in names:
            if name in self.env:
                text = self.env.pop(name)
                if name in self.views:
                    out += self.bindings(scan.TOKEN.findall(self.views[name]))
                out.append(f"    {name} = {text}  # a value of a rerolled loop")
        return out


class _Unfit(Exception):
    """This run cannot be one loop (the caller leaves it unrolled)."""


@dataclass
class _Stack:
    name: str
    shape: tuple[int, ...]
    dtype: str
    fill: str | None  # an allocation's fill value (`full`), else None
    offset: int  # 1: carried (slot 0 holds the initial value)
    initial: str | None = None
    allocation: bool = False


class _Run:
    """One run: `period` core statements repeated `repeats` times from core index `start`."""

    def __init__(self, context: _Context, start: int, period: int, repeats: int, prefix: str) -> None:
        self.c, self.start, self.period, self.repeats, self.prefix = \
            context, start, period, repeats, prefix
        self.first = context.core[start]
        self.last = context.core[start + period * repeats - 1]
        self.steps = [[context.lines[context.core[start + r * period + j]] for j in range(period)]
                      for r in range(repeats)]
        self.stacks: dict[tuple[int, int], _Stack] = {}
        self.arguments: list[str] = []  # the loop function's parameters after `count`
        self.values: list[str] = []  # what Python passes for them
        self.before: list[str] = []  # Python lines before the call
        self.module: list[str] = []  # module-level constants
        self.copied = 0  # bytes per step that `np.stack` copies before the loop (gathered values)

    def site(self, name: str) -> tuple[int, int, int] | None:
        """(step, statement, target) of a name assigned within the run, else None."""
        at = self.c.defined_at.get(name)
        if at is None or not self.first <= at <= self.last:
            return None
        index = self.c.core.index(at) - self.start
        line = self.c.lines[at]
        return index // self.period, index % self.period, line.targets.index(name)

    def argument(self, parameter: str, value: str) -> str:
        if parameter not in self.arguments:
            self.arguments.append(parameter)
            self.values.append(value)
        return parameter

    def stack(self, j: int, m: int) -> _Stack:
        if (j, m) in self.stacks:
            return self.stacks[(j, m)]
        line = self.steps[0][j]
        allocation = scan.allocation(line.tree) if len(line.targets) == 1 else None  # type: ignore[arg-type]
        if allocation is not None:
            shape, dtype, fill = allocation
        elif scan.allocates(line.tree):
            raise _Unfit("a rank-0 allocation")
        else:
            described = self.c.describe(line.targets[m])
            if described is None:
                raise _Unfit(f"no static shape for {line.targets[m]}")
            shape, dtype, fill = described[0], described[1], None
        name = f"{self.prefix}_s{len(self.stacks)}"
        self.stacks[(j, m)] = _Stack(name, shape, dtype, fill, 0, allocation=allocation is not None)
        self.argument(name, name)
        return self.stacks[(j, m)]

    def plan(self) -> list[str]:
        """The loop function's body statements; fills stacks, arguments and Python lines."""
        statements = self.planned()
        moved = self.copied + sum(_bytes(s.shape, s.dtype) for s in self.stacks.values())
        if moved > MAX_BYTES_PER_STATEMENT * self.period:
            raise _Unfit(f"{moved} bytes stacked per step of {self.period} statements")
        return statements

    def planned(self) -> list[str]:
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
                if any(self.c.last_use.get(step[j].targets[m], -1) > self.last
                       for step in self.steps):
                    self.stack(j, m)
        return self.statements(replaced)

    def positions(self, j: int, carried: dict[tuple[int, int], str]) -> dict[int, str]:
        """How statement j reads each value name and literal index: token number -> text."""
        per_step = [step[j].tokens for step in self.steps]
        out: dict[int, str] = {}
        k = f"{self.prefix}k"
        for index, token in enumerate(per_step[0]):
            values = [p[index].value for p in per_step]
            if token.number:
                if len(set(values)) > 1 and not token.index:
                    raise _Unfit("literals that differ outside an index")
                if len(set(values)) > 1:
                    name = f"{self.prefix}_c{len(self.module)}"
                    self.module.append(f"{name} = np.array([{', '.join(values)}], np.int64)")
                    out[index] = f"{self.argument(name, name)}[{k}]"
                continue
            sites = [self.site(n) for n in values]
            if all(s is None for s in sites):
                out[index] = self.outside(values)
            elif all(s is not None and s[0] == r and s[1:] == sites[0][1:]  # type: ignore[index]
                     and s[1] < j for r, s in enumerate(sites)):
                pass  # a value of this step: its step-0 name
            elif sites[0] is None and all(
                    s is not None and s[0] == r and s[1:] == sites[1][1:]  # type: ignore[index]
                    for r, s in enumerate(sites[1:])):
                key = sites[1][1:]  # type: ignore[index]
                if carried.setdefault(key, values[0]) != values[0]:
                    raise _Unfit("two initial values for one carried value")
                out[index] = f"{self.stack(*key).name}[{k}]"
            else:
                raise _Unfit(f"{values[:3]}... come from other steps")
        return out

    def outside(self, names: list[str]) -> str:
        """A value defined before the run: one name (invariant) or one per step (gathered)."""
        if len(set(names)) == 1:
            name = names[0]
            if name in ("np", "math"):
                return name  # the loop module imports them too
            if name in self.c.stacked and name in self.c.env:
                self.before += self.c.bindings([name])
            return self.argument(name, name)
        k = f"{self.prefix}k"
        slots = [self.c.stacked.get(n) for n in names]
        if all(s is not None and s[0] == slots[0][0] for s in slots):  # type: ignore[index]
            first, step = slots[0][1], slots[1][1] - slots[0][1]  # type: ignore[index]
            if all(s[1] == first + step * r for r, s in enumerate(slots)):  # type: ignore[index]
                stack = slots[0][0]  # type: ignore[index]
                if step < 0:  # read backwards from the end: the offset depends on the trip count
                    offset = self.argument(f"{self.prefix}_o{len(self.arguments)}", str(first))
                    return f"{self.argument(stack, stack)}[{offset} - {scan.affine(0, -step, k)}]"
                return f"{self.argument(stack, stack)}[{scan.affine(first, step, k)}]"
        if any(scan.BUFFER.match(self.c.lines[self.c.defined_at[n]].code) for n in names
               if n in self.c.defined_at):
            raise _Unfit("a step may write into its buffer: a stacked copy would lose it")
        described = {self.c.describe(n) for n in names}
        if len(described) != 1 or None in described:
            raise _Unfit("gathered values of different shapes")
        shape, dtype = described.pop()  # type: ignore[misc]
        self.copied += _bytes(shape, dtype)
        values = [f"{s[0]}[{s[1]}]" if (s := self.c.stacked.get(n)) else n for n in names]
        name = f"{self.prefix}_g{sum(1 for a in self.arguments if a.startswith(self.prefix + '_g'))}"
        if shape:
            self.before.append(f"    {name} = np.stack(({', '.join(values)},))")
        else:
            self.before.append(f"    {name} = np.array([{', '.join(values)}], {dtype})")
        return f"{self.argument(name, name)}[{k}]"

    def statements(self, replaced: list[dict[int, str]]) -> list[str]:
        k = f"{self.prefix}k"
        out: list[str] = []
        stores: list[str] = []
        for j, line in enumerate(self.steps[0]):
            stack = self.stacks.get((j, 0))
            comment = line.comment
            if stack is not None and stack.allocation:
                slot = scan.affine(stack.offset, 1, k)
                out.append(f"        {line.targets[0]} = {stack.name}[{slot}]{comment}")
                continue
            text = line.text or ""
            for index in sorted(replaced[j], reverse=True):
                token = line.tokens[index]
                text = text[:token.start] + replaced[j][index] + text[token.end:]
            target = f"{line.target_text} = " if line.target_text else ""
            out.append(f"        {target}{text}{comment}")
            for m, name in enumerate(line.targets):
                if (j, m) in self.stacks:  # at the step's end: a later statement may write into it
                    s = self.stacks[(j, m)]
                    stores.append(f"        {s.name}[{scan.affine(s.offset, 1, k)}] = {name}")
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
        comments = "; ".join(line.comment.removeprefix("  # ").split(" = ")[0]
                             for line in self.steps[0] if line.comment)[:120]
        lines.append(f"    {function}({self.repeats}, {', '.join(self.values)})  "
                     f"# {self.repeats} steps of {self.period} statements, rerolled: {comments}")
        return lines

    def canonical(self, body: list[str]) -> tuple[str, list[str]]:
        targets = [name for line in self.steps[0] for name in line.targets]
        return canonical(body, f"{self.prefix}k", self.arguments, targets, self.c.local | set(self.c.views))

    def publish(self) -> None:
        """After the run: later Python lines read its stacked values and views through `env`."""
        for (j, m), stack in self.stacks.items():
            for r, step in enumerate(self.steps):
                name = step[j].targets[m]
                self.c.stacked[name] = (stack.name, r + stack.offset)
                self.c.env[name] = f"{stack.name}[{r + stack.offset}]"
        for line in self.c.lines[self.first:self.last + 1]:
            if line.view:
                self.c.env[line.targets[0]] = line.text or ""


def reroll(body: Sequence[str], results: Sequence[str], parameters: Sequence[str],
           describe: Describe, numpy_level: Sequence[str],
           imports: Callable[[str], list[str]] = lambda code: []) -> Rerolled:
    """The graph function's body with its long runs of repeated steps as calls of loop functions.

    `describe(name)`: (static shape, dtype text `np.float64`) of a graph value
    or None; `numpy_level`: helpers the Python body calls as NumPy functions
    (the loops call their jitted versions, imported as `rr_<helper>`);
    `imports(code)`: the import lines of the jitted helpers `code` calls.
    """
    context = _Context(body, results, parameters, describe)
    tokens = {t for line in context.lines for t in scan.TOKEN.findall(line.code)} | set(parameters)
    base = "rr"
    while any(t.startswith(base) for t in tokens):
        base += "_"
    out = Rerolled([])
    done, core = 0, 0
    runs = scan.Runs(context.keys)
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
        for line, text in zip(context.lines[done:loop.first], body[done:loop.first]):
            out.body += context.bindings(scan.TOKEN.findall(line.code)) + [text]
        helpers = []
        for helper in numpy_level:
            pattern = re.compile(rf"(?<![\w.]){helper}\(")
            if any(pattern.search(line) for line in run_body):
                helpers.append(helper)
                run_body = [pattern.sub(f"{HELPER_PREFIX}_{helper}(", line) for line in run_body]
        shared = module(*loop.canonical(run_body), helpers, imports)
        out.body += loop.python(shared.name)
        done = loop.last + 1
        loop.publish()
        out.helpers.update(helpers)
        out.constants += loop.module
        if shared.name not in {known.name for known in out.loops}:
            out.loops.append(shared)
            out.functions.append(shared.source[shared.source.index("def "):])
        out.runs.append((loop.period, loop.repeats))
        core = loop.start + loop.period * loop.repeats
    for line, text in zip(context.lines[done:], body[done:]):
        out.body += context.bindings(scan.TOKEN.findall(line.code)) + [text]
    out.body += context.bindings(list(results))
    return out


def _first_fit(context: _Context, core: int, found: tuple[int, int],
               prefix: str) -> tuple[_Run, list[str]] | None:
    """The run `found` (period, repeats) at `core` (or one step later), planned; None if none
    fits (the caller then plans each other phase of the region once, not every start)."""
    period, repeats = found
    for start, count in ((core, repeats), (core + period, repeats - 1)):
        if count < MIN_REPEATS or count * period < scan.MIN_STATEMENTS:
            continue
        run = _Run(context, start, period, count, prefix)
        saved = dict(context.env)
        try:
            return run, run.plan()
        except _Unfit:
            context.env.clear()
            context.env.update(saved)  # bindings a failed plan made are not emitted
    return None
