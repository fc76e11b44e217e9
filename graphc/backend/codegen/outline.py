"""Kernel mode: each fused loop nest becomes a named kernel function, shared by identical groups.

Owns: `outline(...)` -> (the graph function's lines, its kernels), the
canonical form of a kernel (`canonical`), and `Kernel`. Why: Numba types,
lowers and LLVM-compiles every fused group of the one big graph function
anew, though the groups of a deep model are the same code on other buffers
(every layer of an MLP); that cost grew ~0.3 s per layer. Here a group's code
(generated with its static sizes as names, `size_32`) is renamed canonically:
parameters a0, a1, ... and sizes n0, n1, ... in order of first use, locals
r0, r1, ... (not t0: in f.source tN is always the printed graph's
name); identical groups then have identical text, hence one kernel
named by its hash (`fused_<hash>`), compiled once and cached on disk in its
own module, so another graph (another depth, width or batch size) that
contains it loads its machine code instead of compiling it. The graph
function itself is plain Python: a sequence of kernel calls and whole-array
statements (BLAS products, views), which costs no Numba compile at all.
Imports: parts (`_names`), steps (each call's record), text, workspace (`Reusable`).
Entry point: codegen.generate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..workspace import Reusable
from .parts import _names
from .steps import Piece, Statement, Step, opaque
from .text import RESERVED

TOKEN = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")  # a name, not an attribute
Form = tuple[str, tuple[str, ...], tuple[str, ...]]  # a kernel's canonical code, parameters, returns


@dataclass(frozen=True)
class Kernel:
    """One shared kernel: its module's source, whether its scalar kernels may be inlined, and
    how many scalars it returns (what a stand-in returns in backend/fork_compile.py)."""

    name: str
    source: str
    inline: bool
    returns: int = 0


@dataclass
class Outlined:
    """The graph function's body lines and the kernels it calls (each listed once)."""

    body: list[str]
    kernels: list[Kernel]


def _split_comment(line: str) -> tuple[str, str]:
    code, mark, comment = line.partition("  # ")
    return code, (mark + comment if mark else "")


def _first_use(lines: Sequence[str], wanted: set[str]) -> list[str]:
    """The names of `wanted` in order of first appearance in the code (comments ignored)."""
    seen: list[str] = []
    for line in lines:
        for token in TOKEN.findall(_split_comment(line)[0]):
            if token in wanted and token not in seen:
                seen.append(token)
    return seen


def canonical(lines: Sequence[str], parameters: Sequence[str], returns: Sequence[str],
              is_size: Callable[[str], bool], named: set[str],
              stored: set[str]) -> tuple[list[str], list[str], list[str]]:
    """The group's lines with every graph-specific name replaced: (lines, parameters, returns).

    Parameters become a0.. (arrays, scalars) or n0.. (sizes), assigned names
    r0.. (tN stays the printed graph's name), names only mentioned in comments
    (`named`: the graph's value names) v0...
    `stored`: the names the lines assign (parts._names).
    """
    renamed: dict[str, str] = {}
    counts = {"a": 0, "n": 0, "r": 0, "v": 0}

    def claim(name: str, prefix: str) -> None:
        if name not in renamed:
            renamed[name] = f"{prefix}{counts[prefix]}"
            counts[prefix] += 1

    for name in parameters:
        claim(name, "n" if is_size(name) else "a")
    for name in _first_use(lines, stored - set(RESERVED)):
        claim(name, "r")

    def rename(text: str, extra: bool) -> str:
        def one(match: re.Match[str]) -> str:
            token = match.group(1)
            if token not in renamed and extra and token in named:
                claim(token, "v")
            return renamed.get(token, token)
        return TOKEN.sub(one, text)

    out = []
    for line in lines:
        code, comment = _split_comment(line)
        out.append(rename(code, False) + rename(comment, True))
    return out, [renamed[p] for p in parameters], [renamed[r] for r in returns]


def kernel_source(name: str, lines: Sequence[str], parameters: Sequence[str],
                  returns: Sequence[str], imports: Sequence[str]) -> str:
    result = "    return (" + ", ".join(returns) + ("," if len(returns) == 1 else "") + ")"
    header = ["import numpy as np", *imports]
    if any("math." in _split_comment(line)[0] for line in lines):
        header[:0] = ["import math"]
    return "\n".join([*header, "", "", f"def {name}({', '.join(parameters)}):", *lines,
                      result]) + "\n"


def outline(prologue: list[str], chunks: list[list[str]], kernel_units: list[bool],
            defined: set[str], results: list[str], imports: Callable[[str], list[str]],
            size_prefix: str, size_names: set[str], named: set[str], inline: Callable[[str], bool],
            retype: Callable[[str], str | None],
            note: Callable[[str], str] = lambda name: "",
            same: Sequence[tuple[int, dict[str, str]] | None] = ()) -> Outlined:
    """The graph function's body: kernel units become calls of shared kernels.

    `defined`: names the graph function has before the first unit (parameters,
    the prologue's sizes, module-level programs); `size_names`: the variables
    holding symbolic sizes (`n`); `named`: every value name of the graph
    (renamed where a comment mentions them); `imports(code)` gives a
    kernel's import lines; `retype(name)` wraps a rank-0 result that Python
    would widen (float32 comes back from Numba as a Python float) or None;
    `note(name)`: "backward of OP, file:line" for a backward value (printing.backward_note),
    said on the call's line, since a shared kernel's text cannot hold the user's lines.
    `same[k]`: (j, renaming) when chunk k is chunk j renamed (codegen/forms.py): j's work, renamed.
    """
    size_literal = re.compile(rf"{re.escape(size_prefix)}(\d+)$")
    size_text = re.compile(rf"(?<![\w.]){re.escape(size_prefix)}(\d+)\b")
    same = list(same) + [None] * (len(chunks) - len(same))
    summaries = _summaries(chunks, same)
    done: dict[int, _Done] = {}  # chunk -> its outlining, for the chunks renamed from it
    needed_later = _needed_later(summaries, results)
    known = set(defined)
    body = list(prologue)
    kernels: dict[str, Kernel] = {}
    named_by_text: dict[Form, str] = {}  # one per form
    for number, (chunk, outlined, (loaded, stored), wanted) in enumerate(
            zip(chunks, kernel_units, summaries, needed_later)):
        if not outlined:
            body += chunk
            known |= stored
            continue
        hoisted, chunk = _hoist(chunk, wanted)
        for line in hoisted:  # NumPy allocates the kernel's output arrays: no allocation code in it
            body.append(_python_level(line, lambda text: size_text.sub(r"\1", text)))
        allocated = {_ALLOCATION.match(line).group(1) for line in hoisted}  # type: ignore[union-attr]
        known |= allocated
        readable = {n for n in loaded | allocated if n in known or size_literal.match(n)}
        wanted = wanted - allocated
        stored = stored - allocated
        hint = same[number]
        first = done.get(hint[0]) if hint is not None else None
        if first is not None and hint is not None and first.matches(readable, wanted, hint[1]):
            parameters, returns, form = first.renamed(hint[1])
        else:
            parameters, returns, form = _canonical_call(
                chunk, readable, wanted, stored, named,
                lambda p: bool(size_literal.match(p)) or p in size_names)
            if hint is None:
                done[number] = _Done(readable, wanted, parameters, returns, form)
        name = named_by_text.get(form, "")
        if not name:  # a form seen before is the same kernel: its source is made once
            name = named_by_text[form] = _kernel(form, kernels, imports, inline)
        arguments = [str(int(m.group(1))) if (m := size_literal.match(p)) else p for p in parameters]
        comment = "  # " + size_text.sub(r"\1", "; ".join(_describe(chunk, note)))
        body += _call(name, arguments, returns, comment, retype)
        known |= stored
    return Outlined(body, list(kernels.values()))


def _summaries(chunks: list[list[str]], same: Sequence[tuple[int, dict[str, str]] | None],
               ) -> list[tuple[set[str], set[str]]]:
    """Per chunk, (names read before assigned, names assigned): parts._names, or for a chunk
    that is another renamed (`same`), that one's renamed."""
    summaries: list[tuple[set[str], set[str]]] = []
    for chunk, hint in zip(chunks, same):
        if hint is None:
            summaries.append(_names(chunk) if chunk else (set(), set()))
        else:
            (loaded, stored), renaming = summaries[hint[0]], hint[1]
            summaries.append(({renaming.get(n, n) for n in loaded}, {renaming.get(n, n) for n in stored}))
    return summaries


def _kernel(form: Form, kernels: dict[str, Kernel],
            imports: Callable[[str], list[str]], inline: Callable[[str], bool]) -> str:
    """The kernel of a canonical form (added to `kernels`), named by its text's hash."""
    code, formal, formal_returns = form
    text = kernel_source("KERNEL", code.split("\n"), formal, formal_returns, imports(code))
    name = "fused_" + hashlib.sha256(text.encode()).hexdigest()[:12]
    if name not in kernels:
        kernels[name] = Kernel(name, text.replace("def KERNEL(", f"def {name}(", 1), inline(code),
                               len(formal_returns))
    return name


@dataclass
class _Done:
    """One outlined chunk's parameters, returns and canonical form, for the chunks that are
    it renamed: theirs are these renamed when they read and return its names' counterparts."""

    readable: set[str]
    wanted: set[str]
    parameters: list[str]
    returns: list[str]
    form: Form

    def matches(self, readable: set[str], wanted: set[str], renaming: dict[str, str]) -> bool:
        return ({renaming.get(n, n) for n in self.readable} == readable
                and {renaming.get(n, n) for n in self.wanted} == wanted)

    def renamed(self, renaming: dict[str, str]) -> tuple[list[str], list[str], Form]:
        return ([renaming.get(n, n) for n in self.parameters],
                [renaming.get(n, n) for n in self.returns], self.form)


def _canonical_call(chunk: list[str], readable: set[str], wanted: set[str], stored: set[str],
                    named: set[str], is_size: Callable[[str], bool]) -> tuple[list[str], list[str], Form]:
    """(the call's arguments, its returns, the kernel's canonical form) of one chunk."""
    parameters = _first_use(chunk, readable)
    returns = _first_use(chunk, wanted)
    lines, formal, formal_returns = canonical(chunk, parameters, returns, is_size, named, stored)
    return parameters, returns, ("\n".join(lines), tuple(formal), tuple(formal_returns))


def _python_level(line: str, sizes: Callable[[str], str]) -> str:
    """A hoisted allocation with its static sizes as numbers; a workspace.Reusable stays one
    (codegen gives it its workspace form once the Python function's lines are final)."""
    return line.retext(sizes) if isinstance(line, (Reusable, Statement)) else sizes(line)


def _needed_later(summaries: list[tuple[set[str], set[str]]], results: list[str]) -> list[set[str]]:
    """Per unit, the names it stores that a later unit (or the return) reads: what a kernel
    must return. (Each unit's own stores, not all later reads: a copy of those per unit
    made this quadratic in the number of units.)"""
    needed_later: list[set[str]] = []
    later = set(results)
    for loaded, stored in reversed(summaries):
        needed_later.append(stored & later)
        later |= loaded
    needed_later.reverse()
    return needed_later


def _call(name: str, arguments: list[str], returns: list[str], comment: str,
          retype: Callable[[str], str | None]) -> list[str]:
    """The graph function's lines that call kernel `name`: `r0, r1 = fused_..(..)  # what`,
    then a rank-0 result Python would widen wrapped back in its dtype (`retype`)."""
    form: list[Piece] = [f"{name}("]
    operands: list[str] = []
    for index, argument in enumerate(arguments):  # sizes are numbers, or names like values
        form.append(", " if index else "")
        if argument.isdigit():
            form.append(argument)
        else:
            form.append(len(operands))
            operands.append(argument)
    form.append(")")
    step = Step(tuple(returns), tuple(p for p in form if p != ""), tuple(operands),
                comment=comment.removeprefix("  # "), unpack=len(returns) == 1, calls=(name,))
    lines: list[str] = [Statement(f"    {step.code()}{comment}", step)]
    for name_ in returns:
        wrapped = retype(name_)
        if wrapped:
            lines.append(opaque(f"    {name_} = {wrapped}({name_})  # keep its dtype", [name_], [name_]))
    return lines


_ALLOCATION = re.compile(r"    (\w+) = (?:empty|full)\(")
_SCALAR_START = re.compile(r"    \w+ = np\.\w+\([\d.eE+-]+\)(  #.*)?$")  # an accumulator's start, a literal
_REBINDING = re.compile(r"\s*(\w+) = ")  # e.g. `t3 = t3 / (n)`, a mean's finish: a new array


def _hoist(chunk: list[str], outputs: set[str]) -> tuple[list[str], list[str]]:
    """(allocations of the kernel's output arrays, the other lines).

    They stand before the loops, at the function's level, so moving them out
    changes nothing but who allocates (the caller, with NumPy). An array the
    kernel binds to a new value later (a mean's finish, `t = t / (n)`) stays.
    """
    rebound = {m.group(1) for line in chunk if not _ALLOCATION.match(line)
               and (m := _REBINDING.match(line))}
    hoisted: list[str] = []
    # Only the allocations before the chunk's first other statement (an accumulator's literal
    # start aside) can move: a later one may size itself by a local (gc.random's `keys.shape[0]`)
    leading = True
    rest: list[str] = []
    for line in chunk:
        match = _ALLOCATION.match(line)
        if leading and match and match.group(1) in outputs and match.group(1) not in rebound:
            hoisted.append(line)
            continue
        leading = leading and bool(match or _SCALAR_START.match(line))
        rest.append(line)
    return hoisted, rest


def _describe(chunk: Sequence[str], note: Callable[[str], str] = lambda name: "") -> list[str]:
    """The equations a kernel call computes (its statements' comments, shortened),
    then where the backward ones come from: `(backward of tanh, model.py:10)`."""
    notes = []
    origins: list[str] = []
    for line in chunk:
        _, comment = _split_comment(line)
        text = comment.removeprefix("  # ")
        if ": " in text and " = " in text:
            name = text.split(": ", 1)[0]
            notes.append(name + " = " + text.split(" = ", 1)[1])
            where = note(name)
            if where and where not in origins:
                origins.append(where)
    shown = notes[:3] + (["..."] if len(notes) > 3 else [])
    if origins:
        shown[-1] += "   (" + "; ".join(origins) + ")"
    return shown
