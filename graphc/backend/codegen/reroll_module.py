"""Re-rolling, a loop's module: its canonical text and name, shared by every graph that has it.

Owns `Loop`, `canonical(body, ...)` (the loop's `def` with graph-specific
names replaced) and `module(...)` (its module text and `reroll_<hash>` name).
Why a module of its own: the planner (codegen/reroll.py) decides what the
loop does; this decides what it is called, so that the 64- and 65-layer
chain, or the HMM over 100 and 101 steps, share one cached module whose
machine code a warm cache loads (a graph-specific name or comment would make
each graph compile its loops anew, and Numba re-optimizes the kernels linked
into each). Imports: reroll_text (TOKEN). Entry point: codegen.reroll.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .reroll_text import TOKEN


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


HELPER_PREFIX = "rr"  # a loop module imports the jitted twin of helper h as `rr_h`
_KERNEL = re.compile(r"(?<![\w.])(fused_[0-9a-f]{12})\(")
_VALUE = re.compile(r"t\d+$")  # a graph value's default name (a kernel's locals in a comment)
_NOTE = re.compile(r"\s+\((?:backward of|from) [^()]*\)$")  # the user's file:line: graph-specific


def canonical(body: Sequence[str], index: str, arguments: Sequence[str], targets: Sequence[str],
              mentioned: set[str]) -> tuple[str, list[str]]:
    """(the loop's `def LOOP(count, ...)` with graph-specific names replaced, the kernels it calls).

    `index` becomes k, `arguments` a0.., the step's own values (`targets`)
    r0.., names only a comment mentions (`mentioned`: the graph's values, or a
    kernel's `tN`) v0..; the user's file:line notes are dropped (the call's
    line in the graph function keeps them).
    """
    renamed = {index: "k", **{name: f"a{i}" for i, name in enumerate(arguments)}}
    for name in targets:
        renamed.setdefault(name, f"r{len(renamed) - 1 - len(arguments)}")
    shown: list[str] = []

    def rename(text: str, comment: bool) -> str:
        def one(match: re.Match[str]) -> str:
            token = match.group(1)
            if comment and token not in renamed and (token in mentioned or _VALUE.match(token)):
                renamed[token] = f"v{len(shown)}"
                shown.append(token)
            return renamed.get(token, token)
        return TOKEN.sub(one, text)

    lines: list[str] = []
    calls: list[str] = []
    for text in body:
        code, mark, comment = text.partition("  # ")
        lines.append(rename(code, False) + (mark + rename(_NOTE.sub("", comment), True) if mark else ""))
        calls += [name for name in _KERNEL.findall(code) if name not in calls]
    parameters = ", ".join(["count", *(renamed[a] for a in arguments)])
    return "\n".join([f"def LOOP({parameters}):", "    for k in range(count):",
                      *lines, "    return 0", ""]), calls


def module(function: str, calls: list[str], helpers: list[str],
            imports: Callable[[str], list[str]]) -> Loop:
    """The loop's module, named by the hash of its text (another graph with this loop shares it)."""
    header = ["import math"] if "math." in function else []
    header += ["import numpy as np", *imports(function)]
    if helpers:
        header.append("from graphc.backend.runtime import " + ", ".join(
            f"{h} as {HELPER_PREFIX}_{h}" for h in helpers) + "  # jitted twins of NumPy-level helpers")
    if calls:
        header.append("# calls the shared kernels " + ", ".join(calls) + " (jit.py links them here)")
    text = "\n".join([*header, "", "", function])
    name = "reroll_" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return Loop(name, text.replace("def LOOP(", f"def {name}(", 1), tuple(calls))


