"""Re-rolling, the body: each line's record with views substituted, definitions, last uses.

Owns `Context` (what the whole kernel-mode body knows: its lines as records
with the views they read spliced in slot by slot, where each name is defined
and last read, the names a loop left for later Python lines to bind) and the
key of a statement (`Line.key`: its pieces and the kinds of its operands).
Why a module of its own: the planner (codegen/reroll.py) decides what a run
becomes; this says what the body is, from the records alone (codegen/steps.py:
a line no emitter described is taken to read every value). Imports: steps.
Entry point: codegen.reroll.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence

from .steps import Operand, Piece, Step, render, step_of

Describe = Callable[[str], "tuple[tuple[int, ...], str] | None"]


class Line:
    """A body line and its record with the views it reads substituted (`form` None: it matches
    nothing; `step` None: a line no emitter described, which may read any value)."""

    __slots__ = ("text", "step", "targets", "comment", "form", "operands", "view", "read")

    def __init__(self, text: str, step: Step | None) -> None:
        self.text, self.step = text, step
        self.targets: tuple[str, ...] = step.targets if step is not None else ()
        self.comment = step.comment if step is not None else ""
        self.form: tuple[Piece, ...] | None = None
        self.operands: tuple[Operand, ...] = ()
        self.view = False
        self.read: list[str] = [*self.targets, *step.names] if step is not None else []

    def names(self) -> list[str]:
        """What the line reads as written and after substitution (its last-use facts)."""
        return self.read

    def right(self) -> str:
        """Its value's code in the graph's names (a view bound again after its run)."""
        return render(self.form or (), [str(o) for o in self.operands])

    def key(self) -> Hashable | None:
        if self.form is None or self.step is None:
            return None
        return (len(self.targets), self.step.unpack, self.form,
                tuple([isinstance(o, int) for o in self.operands]))


def _substitute(step: Step, views: dict[str, Line]) -> tuple[tuple[Piece, ...], tuple[Operand, ...]]:
    """The step's form and operands with each view it reads spliced in, slot by slot."""
    assert step.form is not None
    form: list[Piece] = []
    operands: list[Operand] = []
    for piece in step.form:
        operand = piece if isinstance(piece, str) else step.operands[piece]
        if isinstance(piece, str):
            form.append(piece)
        elif isinstance(operand, str) and operand in views:
            view = views[operand]
            form += [p if isinstance(p, str) else p + len(operands) for p in view.form or ()]
            operands += view.operands
        else:
            form.append(len(operands))
            operands.append(operand)
    return tuple(form), tuple(operands)


def _lines(body: Sequence[str]) -> tuple[list[Line], dict[str, Line]]:
    """The lines with views substituted, and the views (a name assigned twice is left alone)."""
    lines = [Line(text, step_of(text)) for text in body]
    counts = Counter(name for line in lines for name in line.targets)
    views: dict[str, Line] = {}
    for line in lines:
        step = line.step
        if step is None or step.form is None or any(counts[n] > 1 for n in step.targets) or \
                any(counts.get(n, 0) > 1 for n in step.names):
            continue  # rebinding (`t = np.float32(t)`), an opaque line: not a step statement
        line.form, line.operands = _substitute(step, views)
        line.read += [o for o in line.operands if isinstance(o, str)]
        if step.view and len(step.targets) == 1:
            views[step.targets[0]] = line
            line.view = True
    return lines, views


class Context:
    """What the whole body knows: lines, definitions, last uses, names bound in Python."""

    def __init__(self, body: Sequence[str], results: Sequence[str], parameters: Sequence[str],
                 describe: Describe) -> None:
        self.lines, self.views = _lines(body)
        self.describe = describe
        self.core = [i for i, line in enumerate(self.lines) if not line.view]
        self.core_at = {line: position for position, line in enumerate(self.core)}
        self.keys = [self.lines[i].key() for i in self.core]
        self.defined_at = {name: i for i, line in enumerate(self.lines) for name in line.targets}
        self.local = set(parameters) | set(self.defined_at)
        self.last_use: dict[str, int] = {}
        self.unknown = [i for i, line in enumerate(self.lines) if line.step is None]
        for index, line in enumerate(self.lines):
            self._use(line.names(), index)
        self._use(list(results), len(self.lines))
        self.env: dict[str, str] = {}  # name -> how Python reads it after its run (`rr0_s1[5]`)
        self.stacked: dict[str, tuple[str, int]] = {}  # name -> (stack, slot)

    def _use(self, names: Sequence[str], index: int) -> None:
        for name in names:
            self.last_use[name] = max(self.last_use.get(name, -1), index)
            if name in self.views:
                for base in self.views[name].names():
                    self.last_use[base] = max(self.last_use.get(base, -1), index)

    def used_after(self, name: str, last: int) -> bool:
        """Whether a line after `last` reads the name (a line no emitter described may)."""
        return self.last_use.get(name, -1) > last or any(i > last for i in self.unknown)

    def bindings(self, names: Sequence[str]) -> list[str]:
        """`t = rr0_s1[5]` lines for the names a Python line is about to read (once each)."""
        out: list[str] = []
        for name in names:
            if name in self.env:
                text = self.env.pop(name)
                if name in self.views:
                    out += self.bindings([o for o in self.views[name].operands if isinstance(o, str)])
                out.append(f"    {name} = {text}  # a value of a rerolled loop")
        return out

    def python(self, line: Line) -> list[str]:
        """A line kept in Python, after the bindings of the rerolled values it reads."""
        reads = line.names() if line.step is not None else list(self.env)
        return self.bindings(reads) + [line.text]
