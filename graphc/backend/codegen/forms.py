"""Kernel mode: an outlined unit's code generated once per form, renamed for its other sites.

Owns `Forms` (codegen.generate makes one per run). Why: every layer of a deep
model has the same fused groups on other values, and the emitters (loop nests,
accumulators, the printer's equations in the comments) ran once per site
though outlining then found one kernel per form (outline.py). Here a unit's
form is keyed structurally, before anything is emitted: per node, in the
order the emitters reach them (members, and what they read through views),
its op, attributes, dtype, shape, how it is stored (materialized, reusable,
written into a caller's buffer) and, for a constant read as a literal, its
value; plus which of those nodes each member reads. Two units with one key
get the same text but for the value names, so the second site's lines are the
first site's with every value name replaced (`t12` -> `t19`, `t12_e` ->
`t19_e`), its records (steps.Statement, workspace.Reusable) renamed alike,
and the names claimed in the order the emitters would have claimed them.
A unit whose text names a value outside its key, holds a line type this does
not know, or whose names collide with a fixed word (an op's label) is emitted
each time. tests/test_codegen_forms.py compares whole modules and kernels
generated with and without the reuse (benchmark MLPs, mixed widths and
float32, reductions, values named like op labels).
Imports: ir, ops registry, schedule, workspace, steps, text. Entry point:
`Forms.emit(unit, emit)` from codegen._emit_units.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ...dims import Dim
from ...ir import OPS, Node
from ..interpreter.opcodes import uniform
from ..schedule import Group, is_constant, kind
from ..workspace import Reusable
from .steps import Statement, Step

TOKEN = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")  # a name, not an attribute (as outline.TOKEN)
SUFFIXES = ("_e", "_terms")  # names the loop emitters derive from a value's name
_PLAIN = (int, float, bool, str, type(None), np.dtype, Dim)


@dataclass
class _First:
    """What the first site of a form emitted and what it took from the generator."""

    nodes: list[Node]
    lines: list[str]
    tokens: frozenset[str]
    olds: list[str]  # the value names its text holds (with SUFFIXES), in a fixed order
    templates: list[str | None]  # per plain line: its text with olds[k] as {k}; None: a record
    claimed: list[int]  # indices (into nodes) of the names it claimed, in order
    named: list[int]  # indices of nodes named before it whose names its text holds
    helpers: frozenset[str]
    range_flag: bool
    used_prange: bool
    number: int  # its chunk (the unit's index in the schedule)


def _attribute_key(value: Any) -> Any:
    """The attribute as a key, or raise TypeError for one that is not plain data."""
    if isinstance(value, tuple):
        return tuple(_attribute_key(v) for v in value)
    if isinstance(value, float):  # by its text: 0.0 and -0.0 (equal as floats) are not one form
        return ("float", repr(value))
    if isinstance(value, _PLAIN):
        return (type(value).__name__, value)
    raise TypeError(type(value).__name__)


class Forms:
    """The forms seen in one generation run: key -> the first site (None: not reusable)."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator
        self.seen: dict[Any, _First | None] = {}
        self.reused = 0
        # per unit: (the unit it renames, the renaming) or None; outline.outline reads it
        self.same: list[tuple[int, dict[str, str]] | None] = []
        self.fixed = frozenset({op.label for op in OPS.values()} | set(OPS))

    def emit(self, number: int, unit: Group | Node, emit: Callable[[], None]) -> None:
        """`emit()` unit `number`, or, for a form seen before, its first site's lines renamed."""
        self.same += [None] * (number + 1 - len(self.same))
        found = self._key(unit)
        if found is None:
            emit()
            return
        key, nodes = found
        first = self.seen.get(key)
        renaming = self._reuse(first, nodes) if first is not None else None
        if renaming is not None:
            assert first is not None
            self.same[number] = (first.number, renaming)
            self.reused += 1
            return
        g = self.generator
        before, helpers = len(g.names), set(g.helpers)
        named_before = {node for node in nodes if node in g.names}
        flag, prange = g.range_flag, g.used_prange
        emit()
        if key not in self.seen:
            self.seen[key] = self._record(number, nodes, before, helpers, named_before, flag, prange)

    def _key(self, unit: Group | Node) -> tuple[Any, list[Node]] | None:
        g = self.generator
        members = list(unit.members) if isinstance(unit, Group) else [unit]
        inside = set(members)
        nodes: list[Node] = []
        index: dict[Node, int] = {}
        parts: list[Any] = []

        def ref(node: Node) -> int:
            if node in index:
                return index[node]
            reads = node in inside or (kind(node) == "view" and node not in g.plan.materialized)
            inputs = tuple(ref(i) for i in node.inputs) if reads else ()
            value = None
            if is_constant(node):
                assert node.value is not None
                value = repr(node.value.flat[0].item()) if node.value.ndim == 0 or uniform(node.value) \
                    else "array"
            parts.append((node.op, _attribute_key(node.attrs), node.dtype.str, node.weak, node.shape,
                          kind(node), node in inside, node in g.plan.materialized, node in g.reusable,
                          node in g.buffers, node in g.locals, value, inputs))
            index[node] = len(nodes)
            nodes.append(node)
            return index[node]

        try:
            for member in members:
                ref(member)
        except TypeError:  # an attribute that is not plain data: no key
            return None
        shape = unit.shape if isinstance(unit, Group) else ()
        return (type(unit).__name__, shape, tuple(index[m] for m in members), tuple(parts)), nodes

    def _record(self, number: int, nodes: list[Node], before: int, helpers: set[str], named_before: set[Node],
                flag: bool, prange: bool) -> _First | None:
        """The first site, or None when its text cannot be renamed safely."""
        g = self.generator
        lines = list(g.writer.lines)
        if any(type(line) not in (str, Statement, Reusable) for line in lines):
            return None
        position = {node: k for k, node in enumerate(nodes)}
        claimed_nodes = list(g.names)[before:]
        if any(node not in position for node in claimed_nodes):
            return None
        tokens = frozenset(t for line in lines for t in TOKEN.findall(line))
        ours = {g.names[node] for node in nodes if node in g.names}
        every = set(g.names.values())
        for token in tokens:  # every value name its text holds must be one of its nodes'
            stems = [token] + [token[:-len(s)] for s in SUFFIXES if token.endswith(s)]
            if any(stem in every and stem not in ours for stem in stems):
                return None
        if ours & self.fixed:
            return None
        named = [position[node] for node in named_before if g.names[node] in tokens
                 or any(g.names[node] + s in tokens for s in SUFFIXES)]
        olds = sorted(t for t in tokens if t in ours or any(
            t.endswith(s) and t[:-len(s)] in ours for s in SUFFIXES))
        slot = {old: "{" + str(k) + "}" for k, old in enumerate(olds)}
        templates = [None if type(line) is not str else TOKEN.sub(
            lambda m: slot.get(m.group(1), m.group(1)), line.replace("{", "{{").replace("}", "}}"))
            for line in lines]
        return _First(nodes, lines, tokens, olds, templates,
                      [position[n] for n in claimed_nodes], sorted(named),
                      frozenset(g.helpers - helpers), g.range_flag and not flag,
                      g.used_prange and not prange, number)

    def _reuse(self, first: _First | None, nodes: list[Node]) -> dict[str, str] | None:
        """Write the first site's lines renamed for `nodes`: the renaming; None (no lines) if unsafe."""
        g = self.generator
        if first is None or any(nodes[k] not in g.names for k in first.named):
            return None
        for k in first.claimed:  # in the emitters' order, as they would have claimed them
            g.name(nodes[k])
        mapping: dict[str, str] = {}
        for old, new in zip(first.nodes, nodes):
            if old in g.names and new not in g.names:
                return None  # named before the first site, and maybe by the emitters here: emit it
            if old in g.names:
                mapping[g.names[old]] = g.names[new]
                for suffix in SUFFIXES:
                    mapping[g.names[old] + suffix] = g.names[new] + suffix
        if set(mapping.values()) & ((first.tokens - set(mapping)) | self.fixed):
            return None  # a name meets a fixed word: emit it (the claims above are the emitters')
        if any(old not in mapping for old in first.olds):
            return None
        news = [mapping[old] for old in first.olds]
        g.writer.lines.extend(_renamed(line, mapping) if template is None else template.format(*news)
                              for line, template in zip(first.lines, first.templates))
        g.helpers |= first.helpers
        g.range_flag |= first.range_flag
        g.used_prange |= first.used_prange
        return mapping


def _renamed(line: str, mapping: dict[str, str]) -> str:
    def edit(text: str) -> str:
        return TOKEN.sub(lambda m: mapping.get(m.group(1), m.group(1)), text)

    def name(text: str) -> str:
        return mapping.get(text, text)

    def step(s: Step | None) -> Step | None:
        if s is None:
            return None
        form = None if s.form is None else tuple(p if isinstance(p, int) else edit(p) for p in s.form)
        return replace(s, targets=tuple(map(name, s.targets)), form=form,
                       operands=tuple(name(o) if isinstance(o, str) else o for o in s.operands),
                       reads=tuple(map(name, s.reads)), comment=edit(s.comment))

    if isinstance(line, Reusable):
        out = Reusable(edit(str(line)), name(line.name), line.call, edit(line.arguments),
                       None if line.then is None else edit(line.then))
        out.step = step(line.step)
        return out
    if isinstance(line, Statement):
        return Statement(edit(str(line)), step(line.step))  # type: ignore[arg-type]
    return edit(line)
