"""Re-rolling, a loop's module: its canonical text and name, shared by every graph that has it.

Owns `Loop`, `canonical(lines, ...)` (the loop's `def` from statements the
planner rendered in canonical names) and `module(...)` (its module text and
`reroll_<hash>` name). Why a module of its own: the planner
(codegen/reroll.py) decides what the loop does; this decides what it is
called, so that the 64- and 65-layer chain, or the HMM over 100 and 101
steps, share one cached module whose machine code a warm cache loads (a
graph-specific name or comment would make each graph compile its loops anew,
and Numba re-optimizes the kernels linked into each).

The code of each line comes already canonical (the planner puts a0.., r0..,
k in the operand slots of each statement's record); only the comments are
prose (the printer's equations), in which `prose` renames the graph's value
names and drops the user's file:line notes. Nothing is decided from them.
Imports: outline (TOKEN, what a name in prose is). Entry point: codegen.reroll.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .outline import TOKEN


@dataclass(frozen=True)
class Loop:
    """One loop function in a cached module of its own, shared by every graph that has it.

    Its text is canonical (parameters a0.., step locals r0.., the trip count
    and reversed offsets are arguments), so the 64- and 65-layer MLP, or the
    HMM over 100 and 101 steps, call the same `reroll_<hash>` and a warm cache
    loads its machine code. jit.py links it like a fused kernel (`calls`: the
    kernels it calls, put in its module first) and guards it (reroll_guard).
    """

    name: str
    source: str
    calls: tuple[str, ...]
    inline: bool = True  # as Kernel.inline: its kernels' scalar kernels are linked as they are


_VALUE = re.compile(r"t\d+$")  # a graph value's default name (a kernel's locals in a comment)
_NOTE = re.compile(r"\s+\((?:backward of|from) [^()]*\)$")  # the user's file:line: graph-specific


def prose(comments: Sequence[str], renamed: dict[str, str], mentioned: set[str]) -> list[str]:
    """The comments with graph-specific names replaced, in order: the loop's own names
    (`renamed`: arguments a0.., step values r0..), then other values (`mentioned`: the graph's
    value names, or a kernel's `tN`) v0..; the user's file:line notes dropped (the call's
    line in the graph function keeps them)."""
    names = dict(renamed)
    shown = 0

    def one(match: re.Match[str]) -> str:
        nonlocal shown
        token = match.group(1)
        if token not in names and (token in mentioned or _VALUE.match(token)):
            names[token] = f"v{shown}"
            shown += 1
        return names.get(token, token)

    return [TOKEN.sub(one, _NOTE.sub("", comment)) if comment else "" for comment in comments]


def canonical(lines: Sequence[tuple[str, str]], arguments: int) -> str:
    """The loop's `def LOOP(count, a0, ..)`: `lines` are (code, comment) in canonical names."""
    parameters = ", ".join(["count", *(f"a{i}" for i in range(arguments))])
    body = [f"        {code}" + (f"  # {comment}" if comment else "") for code, comment in lines]
    return "\n".join([f"def LOOP({parameters}):", "    for k in range(count):", *body,
                      "    return 0", ""])


def module(function: str, calls: Sequence[str], helpers: Sequence[str], math: bool,
           imports: Callable[[Sequence[str]], list[str]]) -> Loop:
    """The loop's module, named by the hash of its text (another graph with this loop shares it).
    `helpers`: the jitted helpers its statements call (their jitted forms, by their own names)."""
    header = ["import math"] if math else []
    header += ["import numpy as np", *imports(helpers)]
    if calls:
        header.append("# calls the shared kernels " + ", ".join(calls) + " (jit.py links them here)")
    text = "\n".join([*header, "", "", function])
    name = "reroll_" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return Loop(name, text.replace("def LOOP(", f"def {name}(", 1), tuple(calls))


def summary(comments: Sequence[str]) -> str:
    """The call's comment in the graph function: what the first step computes, by name."""
    return "; ".join(comment.split(" = ")[0] for comment in comments if comment)[:120]
