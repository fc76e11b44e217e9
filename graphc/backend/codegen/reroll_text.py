"""Re-rolling, the text side: a kernel-mode line's parts, its step key, the search for runs.

Owns: `lines(body)` (parsed lines, views substituted into their uses),
`key(line)` (the statement with value names and integer literals blanked,
its tokens kept for the planner), `Runs(keys).find(start)` (the longest run
of a repeated block), `allocation(tree)`, `affine`. Why a module of its own: the planner
(codegen/reroll.py) decides what each token means; this module only reads
text, fast (no syntax tree per line: a 1,000-line body is scanned in ~0.05 s).
Imports: standard library, NumPy. Entry point: codegen.reroll.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .outline import TOKEN  # one definition of "a value name in generated text"

MIN_REPEATS = 4  # fewer steps than this: the loop's set-up costs about what it saves
# Statements a run must cover: each loop is one more Numba function in a cold compile (~0.3-0.7 s:
# Numba links and re-optimizes the kernels it calls), and saves ~1-2 us per statement per call.
# A shorter run (the T=27 HMM's 135-statement forward pass) stays unrolled.
MIN_STATEMENTS = 200
MAX_PERIOD = 64  # statements per step at most (the search is O(lines x MAX_PERIOD))


@dataclass(frozen=True)
class Token:
    """A value name or integer literal of a statement's text (what may differ between steps)."""

    start: int
    end: int
    value: str
    number: bool
    index: bool  # within a subscript (`log_B[:, 67]`): a literal here may differ between steps


def _scan(text: str) -> tuple[str, list[Token]]:
    """(the text with value names and integer literals blanked, those tokens in order).

    Call targets, attributes, keyword names, strings and other literals are
    kept: two statements with the same blanked text differ only in what they read.
    """
    pieces: list[str] = []
    tokens: list[Token] = []
    brackets: list[bool] = []  # open brackets: True for a subscript
    done = 0
    for match in _KEY.finditer(text):
        for bracket in _BRACKET.finditer(text, done, match.start()):
            char, position = bracket.group(0), bracket.start()
            if char in "([{":
                before = text[:position].rstrip()[-1:]
                brackets.append(char == "[" and bool(before) and (before.isalnum() or before in "_])"))
            elif char in ")]}" and brackets:
                brackets.pop()
        pieces.append(text[done:match.start()])
        done = match.end()
        string, name, number = match.groups()
        word = match.group(0)
        if string is None and name is not None:
            rest = text[match.end():].lstrip()
            if not (name in _KEEP or rest.startswith("(")
                    or (rest.startswith("=") and not rest.startswith("=="))):
                tokens.append(Token(match.start(), match.end(), name, False, any(brackets)))
                word = "_"
        elif string is None and number is not None and number.isdigit():
            tokens.append(Token(match.start(), match.end(), number, True, any(brackets)))
            word = "#"
        pieces.append(word)
    pieces.append(text[done:])
    return "".join(pieces), tokens


@dataclass
class Line:
    """One line of the graph function: code, comment, code with views substituted, assigned names."""

    code: str
    comment: str
    text: str | None  # None: not a step statement (a rebinding, a form this module does not know)
    targets: list[str]
    target_text: str = ""  # as written: `t5,` unpacks a kernel's 1-tuple
    view: bool = False
    tokens: list[Token] = field(default_factory=list)
    _tree: ast.stmt | None = None

    @property
    def tree(self) -> ast.stmt:
        """The substituted statement's syntax tree (parsed only for lines in a candidate run)."""
        if self._tree is None:
            code = f"{self.target_text} = {self.text}" if self.target_text else self.text
            self._tree = ast.parse(code or "").body[0]
        return self._tree


_STATEMENT = re.compile(r"\s*(?:(\w+(?:, \w+)*,?) = )?([A-Za-z_][\w.]*\(.*\)|\S.*)$")
_VIEW = re.compile(r"[A-Za-z_]\w*(?:\[(?:[\d\s:,\-]|None)*\])+$")
_KEY = re.compile(r"""('[^']*'|"[^"]*")"""  # strings, names, numbers (an int: `#`)
                  r"|(?<![\w.])([A-Za-z_]\w*)|(?<![\w.])(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w.])")
_BRACKET = re.compile(r"[()\[\]{}]")
BUFFER = re.compile(r"\s*\w+ = (?:empty|full|zeros)\(")
_KEEP = frozenset(("None", "True", "False", "and", "or", "not", "if", "else", "in", "is", "lambda"))


def _parse(line: str) -> Line:
    code, mark, comment = line.partition("  # ")
    match = _STATEMENT.match(code)
    if match is None or (match.group(1) is None and not match.group(2).endswith(")")):
        return Line(code, mark + comment, None, [])
    if match.group(1) is None and "=" in code.split("(", 1)[0]:
        return Line(code, mark + comment, None, [])  # `t[...] = ...`, `x += ...`
    targets = [t for t in (match.group(1) or "").replace(",", " ").split()]
    return Line(code, mark + comment, match.group(2), targets, match.group(1) or "")


def _substitute(text: str, views: dict[str, str]) -> str:
    return TOKEN.sub(lambda m: views.get(m.group(1), m.group(1)), text)


def lines(body: Sequence[str]) -> list[Line]:
    """Parsed lines, views substituted into their uses (a name assigned twice is left alone)."""
    lines = [_parse(line) for line in body]
    counts: dict[str, int] = {}
    for line in lines:
        for name in line.targets:
            counts[name] = counts.get(name, 0) + 1
    views: dict[str, str] = {}
    for line in lines:
        if line.text is None:
            continue
        if any(counts[name] > 1 for name in line.targets) or \
                any(counts.get(name, 0) > 1 for name in TOKEN.findall(line.text)):
            line.text = None  # rebinding (`t = np.float32(t)`): not a step statement
            continue
        line.text = _substitute(line.text, views)
        if len(line.targets) == 1 and _VIEW.match(line.text) and "(" not in line.text:
            views[line.targets[0]] = line.text
            line.view = True
    return lines


def key(line: Line) -> str | None:
    if line.text is None:
        return None
    blanked, line.tokens = _scan(line.text)
    return f"{len(line.targets)}=" + blanked


def affine(first: int, step: int, k: str) -> str:
    """`first + step * k` as a reader would write it: `k`, `k + 1`, `97 - k`, `3 + 2 * k`."""
    term = k if step == 1 else f"-{k}" if step == -1 else f"{step} * {k}"
    if first == 0:
        return term
    return f"{first} - {term[1:]}" if term.startswith("-") else f"{first} + {term}"


class Runs:
    """Where blocks of keys repeat: `find(start)` in O(MAX_PERIOD) after O(lines x MAX_PERIOD).

    Why: searching from every start by comparing blocks was quadratic in a
    long repeated region (each start re-counted its repeats); the 64-layer
    MLP's 700-line body took ~0.3 s. Here, per period P, `match[P-1, i]` is
    how many lines from i on equal the line P later (one NumPy pass each), so
    a block of P lines at `start` repeats `1 + match[P-1, start] // P` times.
    """

    def __init__(self, keys: Sequence[str | None]) -> None:
        numbers: dict[str, int] = {}
        ids = np.array([numbers.setdefault(k, len(numbers)) if k is not None else -1 - i
                        for i, k in enumerate(keys)], np.int64)  # None matches nothing
        self.size = len(ids)
        self.periods = np.arange(1, MAX_PERIOD + 1)
        self.match = np.zeros((MAX_PERIOD, self.size + 1), np.int64)
        positions = np.arange(self.size)
        for period in range(1, min(MAX_PERIOD, self.size - 1) + 1):
            count = self.size - period
            stops = np.where(ids[:count] == ids[period:], count, positions[:count])
            following = np.minimum.accumulate(stops[::-1])[::-1]  # first mismatch at or after i
            self.match[period - 1, :count] = following - positions[:count]

    def find(self, start: int) -> tuple[int, int] | None:
        """(period K, repeats R) of the best run starting at `start` (most statements covered;
        the shortest period among equals)."""
        longest = min(MAX_PERIOD, (self.size - start) // MIN_REPEATS)
        if longest < 1:
            return None
        periods = self.periods[:longest]
        repeats = 1 + self.match[:longest, start] // periods
        covered = np.where(repeats >= MIN_REPEATS, periods * repeats, 0)
        best = int(np.argmax(covered))
        return (best + 1, int(repeats[best])) if covered[best] else None


def find(keys: Sequence[str | None], start: int) -> tuple[int, int] | None:
    """(period K, repeats R) of the best run starting at `start` (most statements covered)."""
    return Runs(keys).find(start)


def allocation(tree: ast.stmt) -> tuple[tuple[int, ...], str, str | None] | None:
    """(shape, dtype text, fill text or None) of `t = empty((20, 20), np.float64)` / `full(...)`."""
    if not (isinstance(tree, ast.Assign) and isinstance(tree.value, ast.Call)
            and isinstance(tree.value.func, ast.Name) and tree.value.func.id in ("empty", "full")):
        return None
    call = tree.value
    wanted = 2 if call.func.id == "empty" else 3  # type: ignore[attr-defined]
    if len(call.args) != wanted or call.keywords or not isinstance(call.args[0], ast.Tuple):
        return None
    shape = call.args[0].elts
    if not shape or not all(isinstance(d, ast.Constant) and type(d.value) is int for d in shape):
        return None
    fill = ast.unparse(call.args[1]) if wanted == 3 else None
    if fill is not None and not isinstance(call.args[1], (ast.Constant, ast.UnaryOp)):
        return None
    return tuple(d.value for d in shape), ast.unparse(call.args[-1]), fill  # type: ignore[attr-defined]


def allocates(tree: ast.stmt | None) -> bool:
    return isinstance(tree, ast.Assign) and isinstance(tree.value, ast.Call) \
        and isinstance(tree.value.func, ast.Name) and tree.value.func.id in ("empty", "full")
